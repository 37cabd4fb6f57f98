/* cmd_particles.c — `varflow particles`: move particles from N(0, I) (or a file) toward data or a
 * target by SVGD, the MMD flow or the sliced-Wasserstein flow (vf_particles_run), and write the final
 * particles and optionally a trajectory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cli.h"
#include "progress.h"

#define PARTICLES_DEFAULT_N 500
#define PARTICLES_DEFAULT_DATA_N 5000
#define PARTICLES_DEFAULT_EVERY 10
#define PARTICLES_EXACT_ED_PAIRS 5e7 /* above n m this, the energy distance is sliced */
#define PARTICLES_ED_SLICES 256
#define PARTICLES_DEFAULT_LOG_EVERY 10
#define PARTICLES_LOG_ED_SLICES 64 /* the energy distance of the log and the progress line: sliced
                                    * when n m is above PARTICLES_EXACT_ED_PAIRS */

static void particles_help(FILE *out)
{
    fputs("Usage: varflow particles --method svgd|mmd|swf (--data FILE | --target SPEC) -o PARTICLES\n"
          "                         [-n N] [--steps K] [--step-size S] [--init gaussian|FILE]\n"
          "                         [--trajectory FILE [--every K]] [--log FILE [--log-every K]]\n"
          "                         [--seed S] [--json]\n"
          "\n"
          "Moves N particles, drawn from N(0, I) or read from a file, toward a distribution:\n"
          "  svgd  Stein variational gradient descent toward --target (its score; RBF kernel, median\n"
          "        bandwidth). --data, when also given, is only used to report the energy distance.\n"
          "  mmd   the MMD gradient flow with the negative distance kernel toward --data (sliced, by\n"
          "        sorting), or toward exact samples of --target when it has them.\n"
          "  swf   the sliced-Wasserstein flow toward --data (or exact samples of --target).\n"
          "Writes the final particles to PARTICLES (.csv or .npy) and, with --trajectory, the particles\n"
          "at steps 0, K, 2K, ... and the last step: .npy of shape [frames, N, dim], or .csv rows\n"
          "`step, x1, ..., xdim`.\n"
          "\n"
          "Options:\n"
          "  --method M          svgd, mmd or swf (required)\n"
          "  --data FILE         target samples (.csv, .npy, ...)\n"
          "  --target SPEC       a target NAME[:key=value,...] or plugin:PATH[:ARG] (list below)\n"
          "  -n N                number of particles (default 500; with --init FILE: its rows)\n"
          "  --steps K           number of steps, >= 1 (default 500)\n"
          "  --step-size S       first step size (default svgd 0.02, mmd 1, swf 0.5)\n"
          "  --schedule NAME     constant (default) or exp: geometric decay to S * F at the last step\n"
          "  --final-fraction F  for --schedule exp, in (0, 1] (default 0.01)\n"
          "  --slices L          mmd, swf: random directions per step (default 16; mmd: 0 = exact)\n"
          "  --bandwidth H       svgd: RBF kernel sigma (default: median heuristic)\n"
          "  --adagrad           svgd: per-coordinate normalized steps (Liu & Wang's code)\n"
          "  --init I            gaussian (default, N(0, I) from --seed) or a file of starting particles\n"
          "  --data-n M          mmd, swf with --target: exact target samples drawn (default 5000)\n"
          "  -o, --output F      final particles, .csv or .npy (required)\n"
          "  --trajectory F      also write the trajectory (.npy or .csv)\n"
          "  --every K           trajectory frame every K steps (default 10)\n"
          "  --log FILE          one JSON line every --log-every steps (and the last): step, seconds,\n"
          "                      energy_distance (to --data or the target's exact samples) or ksd\n"
          "                      (KSD^2 to the target, svgd without --data)\n"
          "  --log-every K       steps between log lines (default 10)\n"
          "On a terminal (without --quiet) a progress line shows the step, the rate, the time left and\n"
          "the current energy distance or KSD^2.\n",
          out);
    cli_print_common_help(out);
    fputs("\nTargets (key=default):\n", out);
    for (const char *const *p = vf_target_names(); *p; p++) fprintf(out, "  %-13s %s\n", *p, vf_target_defaults(*p));
    fputs("  plugin:PATH[:ARG]  a shared library with varflow_target_dim / varflow_target_log_prob\n"
          "\n"
          "Examples:\n"
          "  varflow particles --method svgd --target 8gaussians -o svgd.npy --trajectory traj.npy\n"
          "  varflow data 8gaussians -n 5000 --seed 1 -o data.npy\n"
          "  varflow particles --method mmd --data data.npy --steps 200 -o mmd.csv --json\n"
          "\n"
          "With --json, prints {\"method\", \"n\", \"dim\", \"steps\", \"seconds\", \"energy_distance\" (with\n"
          "--data: to the data), \"ksd\" (with a --target: KSD^2, IMQ kernel, V-statistic), \"particles\",\n"
          "\"trajectory\"}. docs/particles.md describes the methods and their defaults.\n",
          out);
}

typedef struct particles_args {
    const char *method_name, *data, *target, *init, *output, *trajectory, *schedule, *log;
    int64_t n, data_n, every, log_every;
    int have_n;
    vf_particle_options o;
    int have_step_size, have_slices;
    cli_common common;
} particles_args;

/* The trajectory: frames of [n, d] collected by the callback. */
typedef struct trajectory {
    int64_t every, steps, frames, cap;
    vf_real *data;
    int64_t *step_of;
    int failed;
} trajectory;

static int record(int64_t step, int64_t n, int64_t d, const vf_real *x, void *user)
{
    trajectory *t = user;
    if (step % t->every != 0 && step != t->steps) return 0;
    if (t->frames == t->cap) {
        t->failed = 1;
        return 1;
    }
    memcpy(t->data + t->frames * n * d, x, (size_t)(n * d) * sizeof *x);
    t->step_of[t->frames++] = step;
    return 0;
}

/* What the run's callback does after each step: the trajectory frame, the progress line, the log. */
typedef struct observer {
    trajectory *traj;           /* NULL without --trajectory */
    cli_progress progress;
    FILE *log;                  /* NULL without --log (and on MPI ranks other than 0) */
    int logging;                /* --log given: the metric is computed every log_every steps (on every
                                 * MPI process, so that their target batches stay in step) */
    int64_t log_every, steps;
    const vf_target *target;    /* for KSD^2 (svgd without data), or NULL */
    const vf_real *data;        /* [m, d] samples the energy distance is measured to, or NULL */
    int64_t m;
    uint64_t seed;
    double t0;
    double *scores;             /* [n, d] scratch for KSD^2 */
    int failed;                 /* 1: the metric failed (vf_last_error says why) */
} observer;

/* The current distance of the particles x [n, d]: the energy distance to the data, else KSD^2. */
static int particle_metric(observer *ob, int64_t n, int64_t d, const vf_real *x, double *value)
{
    if (ob->data) {
        int64_t slices = (double)n * (double)ob->m > PARTICLES_EXACT_ED_PAIRS ? PARTICLES_LOG_ED_SLICES : 0;
        return vf_energy_distance(n, ob->m, d, x, ob->data, slices, ob->seed, value) == VF_OK ? 0 : -1;
    }
    if (vf_target_scores(ob->target, n, x, NULL, ob->scores) != VF_OK) return -1;
    return vf_ksd(n, d, x, ob->scores, NULL, value, NULL) == VF_OK ? 0 : -1;
}

static const char *metric_name(const observer *ob) { return ob->data ? "energy_distance" : "ksd"; }

static int observe(int64_t step, int64_t n, int64_t d, const vf_real *x, void *user)
{
    observer *ob = user;
    if (ob->traj && record(step, n, d, x, ob->traj)) return 1;
    int last = step == ob->steps;
    int want_log = ob->logging && (step % ob->log_every == 0 || last);
    int want_line = cli_progress_due(&ob->progress, last);
    if (!want_log && !want_line) return 0;
    double value, seconds = cli_now_seconds() - ob->t0;
    if (particle_metric(ob, n, d, x, &value)) {
        ob->failed = 1;
        return 1;
    }
    if (want_log && ob->log) {
        fprintf(ob->log, "{\"step\":%lld,\"seconds\":%.6g,\"%s\":%.9g}\n", (long long)step, seconds, metric_name(ob),
                value);
        fflush(ob->log);
    }
    if (want_line) {
        char line[160];
        double rate = step > 0 && seconds > 0 ? (double)step / seconds : 0;
        snprintf(line, sizeof line, "step %lld/%lld (%.0f%%)  %.1f steps/s  ETA %.0f s  %s %.4g", (long long)step,
                 (long long)ob->steps, 100.0 * (double)step / (double)ob->steps, rate,
                 rate > 0 ? (double)(ob->steps - step) / rate : 0.0, ob->data ? "energy" : "KSD^2", value);
        cli_progress_draw(&ob->progress, line);
    }
    return 0;
}

static int read_rows(const char *cmd, const char *what, const char *path, vf_tensor *x)
{
    if (vf_read_table(path, x) != VF_OK) {
        const char *msg = vf_last_error();
        if (strstr(msg, path)) return cli_runtime_error(cmd, "%s %s", what, msg);
        return cli_runtime_error(cmd, "%s: cannot read %s: %s", what, path, msg);
    }
    if (x->ndim != 2 || x->shape[0] < 1) {
        vf_tensor_free(x);
        return cli_runtime_error(cmd, "%s: %s has no rows", what, path);
    }
    return 0;
}

static int write_rows(const char *cmd, const char *path, const vf_tensor *x)
{
    return vf_write_table(path, x) == VF_OK ? 0 : cli_write_error(cmd, path);
}

static int write_trajectory(const char *cmd, const char *path, const trajectory *t, int64_t n, int64_t d)
{
    vf_tensor x;
    if (strcasecmp(cli_extension(path), "npy") == 0) {
        int64_t shape[3] = {t->frames, n, d};
        if (vf_tensor_alloc(&x, 3, shape) != VF_OK) return cli_runtime_error(cmd, "out of memory");
        memcpy(x.data, t->data, (size_t)(t->frames * n * d) * sizeof *x.data);
        vf_status s = vf_npy_write(path, &x);
        vf_tensor_free(&x);
        if (s == VF_OK) return 0;
        return cli_write_error(cmd, path);
    }
    int64_t shape[2] = {t->frames * n, d + 1};
    if (vf_tensor_alloc(&x, 2, shape) != VF_OK) return cli_runtime_error(cmd, "out of memory");
    for (int64_t f = 0; f < t->frames; f++)
        for (int64_t i = 0; i < n; i++) {
            vf_real *row = x.data + (f * n + i) * (d + 1);
            row[0] = (vf_real)t->step_of[f];
            memcpy(row + 1, t->data + (f * n + i) * d, (size_t)d * sizeof *row);
        }
    int rc = write_rows(cmd, path, &x);
    vf_tensor_free(&x);
    return rc;
}

static int parse_args(const char *cmd, int argc, char **argv, particles_args *a)
{
    const cli_file_opt files[] = {{"--data", &a->data},           {"--output", &a->output}, {"-o", &a->output},
                                  {"--trajectory", &a->trajectory}, {"--init", &a->init},     {"--log", &a->log},
                                  {NULL, NULL}};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int c = cli_common_option(cmd, argc, argv, &i, &a->common);
        if (c < 0) return 2;
        if (c > 0) continue;
        c = cli_file_option(cmd, argc, argv, &i, files);
        if (c < 0) return 2;
        if (c > 0) continue;
        const char *v = NULL;
        if (strcmp(arg, "--adagrad") == 0) {
            a->o.adagrad = 1;
            continue;
        }
        if (!cli_looks_like_option(arg)) return cli_usage_error(cmd, "unexpected argument '%s'", arg);
        static const char *const valued[] = {"--method", "--target", "-n", "--steps", "--step-size", "--schedule",
                                             "--final-fraction", "--slices", "--bandwidth", "--data-n", "--every",
                                             "--log-every", NULL};
        int k = -1;
        for (int j = 0; valued[j]; j++)
            if (strcmp(arg, valued[j]) == 0 || (valued[j][1] == '-' && cli_is_option(arg, valued[j]))) k = j;
        if (k < 0) return cli_usage_error(cmd, "unknown option '%s'", arg);
        v = cli_option_value(cmd, argc, argv, &i);
        if (!v) return 2;
        double dv;
        switch (k) {
        case 0: a->method_name = v; break;
        case 1: a->target = v; break;
        case 2:
            if (cli_parse_i64(v, 1, INT64_C(1) << 31, &a->n)) return cli_usage_error(cmd, "-n: '%s' is not a positive whole number", v);
            a->have_n = 1;
            break;
        case 3:
            if (cli_parse_i64(v, 1, INT64_C(1) << 40, &a->o.steps))
                return cli_usage_error(cmd, "--steps: '%s' is not a whole number >= 1", v);
            break;
        case 4:
            if (cli_parse_double(v, &dv) || !(dv > 0) || !isfinite(dv))
                return cli_usage_error(cmd, "--step-size: '%s' is not a positive number", v);
            a->o.step_size = dv;
            a->have_step_size = 1;
            break;
        case 5: a->schedule = v; break;
        case 6:
            if (cli_parse_double(v, &dv) || !(dv > 0 && dv <= 1))
                return cli_usage_error(cmd, "--final-fraction: '%s' is not a number in (0, 1]", v);
            a->o.final_fraction = dv;
            break;
        case 7:
            if (cli_parse_i64(v, 0, INT64_C(1) << 30, &a->o.slices))
                return cli_usage_error(cmd, "--slices: '%s' is not a whole number >= 0", v);
            a->have_slices = 1;
            break;
        case 8:
            if (cli_parse_double(v, &dv) || !(dv > 0) || !isfinite(dv))
                return cli_usage_error(cmd, "--bandwidth: '%s' is not a positive number", v);
            a->o.bandwidth = dv;
            break;
        case 9:
            if (cli_parse_i64(v, 1, INT64_C(1) << 31, &a->data_n))
                return cli_usage_error(cmd, "--data-n: '%s' is not a positive whole number", v);
            break;
        case 10:
            if (cli_parse_i64(v, 1, INT64_C(1) << 40, &a->every))
                return cli_usage_error(cmd, "--every: '%s' is not a positive whole number", v);
            break;
        default:
            if (cli_parse_i64(v, 1, INT64_C(1) << 40, &a->log_every))
                return cli_usage_error(cmd, "--log-every: '%s' is not a positive whole number", v);
            break;
        }
    }
    return 0;
}

/* Checks what parse_args cannot: the method and its sources, the file names. */
static int check_args(const char *cmd, particles_args *a)
{
    if (!a->method_name) return cli_usage_error(cmd, "missing --method (svgd, mmd or swf)");
    int m = vf_particle_method_from_name(a->method_name);
    if (m < 0) return cli_usage_error(cmd, "--method: unknown method '%s' (valid: svgd, mmd, swf)", a->method_name);
    vf_particle_options keep = a->o;
    a->o = vf_particle_default_options((vf_particle_method)m);
    a->o.steps = keep.steps;
    a->o.adagrad = keep.adagrad;
    a->o.bandwidth = keep.bandwidth;
    a->o.final_fraction = keep.final_fraction;
    if (a->have_step_size) a->o.step_size = keep.step_size;
    if (a->have_slices) a->o.slices = keep.slices;
    if (a->schedule) {
        if (strcmp(a->schedule, "constant") == 0) a->o.schedule = VF_STEP_CONSTANT;
        else if (strcmp(a->schedule, "exp") == 0) a->o.schedule = VF_STEP_EXP;
        else return cli_usage_error(cmd, "--schedule: unknown schedule '%s' (valid: constant, exp)", a->schedule);
    }
    if (m == VF_PARTICLES_SVGD && !a->target)
        return cli_usage_error(cmd, "svgd needs --target SPEC (it follows the target's score)%s",
                               a->data ? "; --data alone is not enough" : "");
    if (m != VF_PARTICLES_SVGD && !a->data && !a->target)
        return cli_usage_error(cmd, "%s needs --data FILE (or a --target with exact samples)", a->method_name);
    if (m == VF_PARTICLES_SWF && a->o.slices < 1) return cli_usage_error(cmd, "--slices: swf needs at least 1");
    if (!a->output) return cli_usage_error(cmd, "missing -o PARTICLES");
    if (cli_check_table_name(cmd, "-o", a->output)) return 2;
    if (a->trajectory) {
        const char *ext = cli_extension(a->trajectory);
        if (strcasecmp(ext, "csv") != 0 && strcasecmp(ext, "npy") != 0)
            return cli_usage_error(cmd, "--trajectory %s: the file name must end in .csv or .npy", a->trajectory);
    }
    if (a->init && strcmp(a->init, "gaussian") == 0) a->init = NULL;
    if (a->init && a->have_n) return cli_usage_error(cmd, "-n and --init FILE: the file gives the number of particles");
    return 0;
}

static void print_json(const particles_args *a, int64_t n, int64_t d, double seconds, double ed, int have_ed, double ksd,
                       int have_ksd)
{
    fputs("{\"method\":", stdout);
    cli_json_string(stdout, vf_particle_method_name(a->o.method));
    printf(",\"n\":%lld,\"dim\":%lld,\"steps\":%lld,\"step_size\":%.9g,\"seconds\":%.3f", (long long)n, (long long)d,
           (long long)a->o.steps, a->o.step_size, seconds);
    if (have_ed) printf(",\"energy_distance\":%.9g", ed);
    if (have_ksd) printf(",\"ksd\":%.9g", ksd);
    fputs(",\"particles\":", stdout);
    cli_json_string(stdout, a->output);
    fputs(",\"trajectory\":", stdout);
    if (a->trajectory) cli_json_string(stdout, a->trajectory);
    else fputs("null", stdout);
    fputs("}\n", stdout);
}

static int particles_run(int argc, char **argv)
{
    const char *cmd = "particles";
    particles_args a;
    memset(&a, 0, sizeof a);
    a.n = PARTICLES_DEFAULT_N;
    a.data_n = PARTICLES_DEFAULT_DATA_N;
    a.every = PARTICLES_DEFAULT_EVERY;
    a.log_every = PARTICLES_DEFAULT_LOG_EVERY;
    a.o = vf_particle_default_options(VF_PARTICLES_SVGD);
    a.o.adagrad = 0;
    int rc = parse_args(cmd, argc, argv, &a);
    if (rc) return rc;
    rc = check_args(cmd, &a);
    if (rc) return rc;
    if (a.common.threads > 0) vf_set_num_threads(a.common.threads);
    a.o.seed = a.common.seed;

    vf_target target;
    memset(&target, 0, sizeof target);
    vf_tensor data = {0}, x = {0};
    trajectory traj = {0};
    int have_target = 0;
    if (a.target) {
        if ((rc = cli_target_open(cmd, a.target, &target)) != 0) return rc;
        have_target = 1;
    }
    /* On several MPI processes (shared target batches) every process must ask for the same batches:
     * no progress line (its timing differs per process); rank 0 alone writes files. */
    int writer = cli_mpi_rank() == 0, shared = cli_mpi_size() > 1;
    int64_t d = have_target ? target.dim : 0;
    if (a.data) {
        if ((rc = read_rows(cmd, "--data", a.data, &data))) goto done;
        if (d && data.shape[1] != d) {
            rc = cli_runtime_error(cmd, "--data %s has %lld columns but the target %s has dimension %lld", a.data,
                                   (long long)data.shape[1], a.target, (long long)d);
            goto done;
        }
        d = data.shape[1];
    } else if (a.o.method != VF_PARTICLES_SVGD) { /* exact samples of the target */
        if (!target.sample) {
            rc = cli_usage_error(cmd, "%s needs --data FILE: the target %s has no exact samples", a.method_name, a.target);
            goto done;
        }
        int64_t shape[2] = {a.data_n, d};
        vf_rng r;
        vf_rng_init(&r, a.common.seed, 1);
        if (vf_tensor_alloc(&data, 2, shape) != VF_OK || vf_target_sample(&target, a.data_n, &r, data.data) != VF_OK) {
            rc = cli_runtime_error(cmd, "%s", vf_last_error());
            goto done;
        }
    }
    if (a.init) {
        if ((rc = read_rows(cmd, "--init", a.init, &x))) goto done;
        if (x.shape[1] != d) {
            rc = cli_runtime_error(cmd, "--init %s has %lld columns but the %s has dimension %lld", a.init,
                                   (long long)x.shape[1], a.data ? "data" : "target", (long long)d);
            goto done;
        }
    } else {
        int64_t shape[2] = {a.n, d};
        if (vf_tensor_alloc(&x, 2, shape) != VF_OK) {
            rc = cli_runtime_error(cmd, "%s", vf_last_error());
            goto done;
        }
        vf_rng r;
        vf_rng_init(&r, a.common.seed, 0);
        vf_rng_normal_fill(&r, x.data, (size_t)(a.n * d), 0.0, 1.0);
    }
    int64_t n = x.shape[0];
    if (a.trajectory) {
        traj.every = a.every;
        traj.steps = a.o.steps;
        traj.cap = a.o.steps / a.every + 2;
        size_t bytes;
        if (traj.cap > (INT64_C(1) << 40) / (n * d) || (bytes = (size_t)(traj.cap * n * d) * sizeof(vf_real)) > ((size_t)1 << 34)) {
            rc = cli_usage_error(cmd, "--trajectory: %lld frames of %lld x %lld are too many (raise --every)",
                                 (long long)traj.cap, (long long)n, (long long)d);
            goto done;
        }
        traj.data = malloc(bytes);
        traj.step_of = malloc((size_t)traj.cap * sizeof *traj.step_of);
        if (!traj.data || !traj.step_of) {
            rc = cli_runtime_error(cmd, "out of memory for the trajectory (raise --every)");
            goto done;
        }
    }

    observer ob = {a.trajectory ? &traj : NULL, {!shared && cli_show_progress(&a.common), 0, 0, 0.0}, NULL,
                   a.log != NULL, a.log_every,
                   a.o.steps, have_target ? &target : NULL, data.data, data.data ? data.shape[0] : 0, a.common.seed,
                   0.0, NULL, 0};
    if (!ob.data && (ob.progress.on || a.log) && !(ob.scores = malloc((size_t)(n * d) * sizeof *ob.scores))) {
        rc = cli_runtime_error(cmd, "out of memory");
        goto done;
    }
    if (a.log && writer && !(ob.log = fopen(a.log, "w"))) {
        rc = cli_runtime_error(cmd, "--log %s: cannot open for writing", a.log);
        free(ob.scores);
        goto done;
    }
    int observed = a.trajectory || a.log || ob.progress.on;
    ob.t0 = cli_now_seconds();
    vf_status s = vf_particles_run(&a.o, have_target ? &target : NULL, data.data ? data.shape[0] : 0, data.data, n, d,
                                   x.data, observed ? observe : NULL, &ob);
    double seconds = cli_now_seconds() - ob.t0;
    cli_progress_end(&ob.progress);
    free(ob.scores);
    if (ob.log && fclose(ob.log) != 0 && s == VF_OK) {
        rc = cli_runtime_error(cmd, "--log %s: write failed", a.log);
        goto done;
    }
    if (s != VF_OK || traj.failed || ob.failed) {
        rc = cli_runtime_error(cmd, "%s", traj.failed ? "internal error: trajectory overflow" : vf_last_error());
        goto done;
    }
    if (writer && (rc = write_rows(cmd, a.output, &x))) goto done;
    if (writer && a.trajectory && (rc = write_trajectory(cmd, a.trajectory, &traj, n, d))) goto done;

    double ed = 0, ksd = 0;
    int have_ed = 0, have_ksd = 0;
    if (a.data) {
        int64_t m = data.shape[0];
        int64_t slices = (double)n * (double)m > PARTICLES_EXACT_ED_PAIRS ? PARTICLES_ED_SLICES : 0;
        have_ed = vf_energy_distance(n, m, d, x.data, data.data, slices, a.common.seed, &ed) == VF_OK;
    }
    if (have_target) {
        double *scores = malloc((size_t)(n * d) * sizeof *scores);
        if (scores && vf_target_scores(&target, n, x.data, NULL, scores) == VF_OK)
            have_ksd = vf_ksd(n, d, x.data, scores, NULL, &ksd, NULL) == VF_OK;
        free(scores);
    }
    if (a.common.json) {
        print_json(&a, n, d, seconds, ed, have_ed, ksd, have_ksd);
    } else if (!a.common.quiet) {
        printf("%s: %lld particles in %lld dimensions, %lld steps in %.2f s; wrote %s", vf_particle_method_name(a.o.method),
               (long long)n, (long long)d, (long long)a.o.steps, seconds, a.output);
        if (a.trajectory) printf(" and %s (%lld frames)", a.trajectory, (long long)traj.frames);
        printf("\n");
        if (have_ed) printf("energy distance to the data: %.6g\n", ed);
        if (have_ksd) printf("KSD^2 to the target (IMQ, V-statistic): %.6g\n", ksd);
    }
done:
    free(traj.data);
    free(traj.step_of);
    vf_tensor_free(&x);
    vf_tensor_free(&data);
    cli_target_close(&target);
    return rc;
}

const cli_command cli_cmd_particles = {
    "particles",
    "move particles toward data or a target (SVGD, MMD flow, sliced-Wasserstein flow)",
    particles_run,
    particles_help,
};
