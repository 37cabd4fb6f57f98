/* cnf_commands.c — `varflow sample` and `varflow logprob` on continuous-flow model files
 * (format varflow.cnf, vf_cnf_model.h). cmd_sample.c and cmd_logprob.c hand over here when the
 * --model file is one; the options they share with the flow commands mean the same. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cnf_commands.h"
#include "fit_cnf.h"
#include "progress.h"

/* The progress line of a solve (vf_ode_options.progress): percentage of the time span, elapsed time
 * and the time left. */
typedef struct solve_progress {
    cli_progress pg;
    const char *what;   /* "sampling", "log-density" */
    double t0;
} solve_progress;

static void on_solve_progress(void *ctx, double fraction)
{
    solve_progress *p = ctx;
    if (!cli_progress_due(&p->pg, fraction >= 1)) return;
    double el = cli_now_seconds() - p->t0;
    char line[160];
    int k = snprintf(line, sizeof line, "%s: %.0f%%  %.1f s  ETA ", p->what, 100 * fraction, el);
    if (fraction > 0) snprintf(line + k, sizeof line - (size_t)k, "%.0f s", el * (1 - fraction) / fraction);
    else snprintf(line + k, sizeof line - (size_t)k, "-");
    cli_progress_draw(&p->pg, line);
}

/* Shows the solve's progress on a terminal (not with --quiet or --json's silence rules of cli_show_progress). */
static void watch_solve(solve_progress *p, const cli_common *c, const char *what, vf_ode_options *ode)
{
    p->pg = (cli_progress){cli_show_progress(c), 0, 0, 0.0};
    p->what = what;
    p->t0 = cli_now_seconds();
    if (p->pg.on) {
        ode->progress = on_solve_progress;
        ode->progress_ctx = p;
    }
}

const char *cnf_model_option(int argc, char **argv)
{
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
        else if (strncmp(argv[i], "--model=", 8) == 0) model = argv[i] + 8;
    }
    return model;
}

void cnf_sample_help(FILE *out)
{
    fputs("\nContinuous-flow models (varflow fit --model cfm|otcfm|sbcfm|fm|rf|si|meanflow):\n"
          "  varflow sample --model MODEL -n N -o FILE [--solver S] [--steps K] [--rtol R] [--atol A]\n"
          "                 [--label L | --labels FILE] [--guidance W] [--log-prob FILE] [--source FILE]\n"
          "  --solver S      euler, midpoint, heun, rk4, rk4_38 or dopri5 (default rk4); models with a\n"
          "                  score (sbcfm, si) also em and sheun: dx = [v + sigma^2/2 s] dt + sigma dW\n"
          "  --sigma S       the SDE's diffusion (default: the model's path sigma)\n"
          "  --steps K       fixed-step solvers: steps from t = 0 to 1, >= 1 (default 100; MeanFlow: jumps,\n"
          "                  default 1)\n"
          "  --rtol, --atol  dopri5's tolerances (default 1e-5 each)\n"
          "  --label L       class-conditional models: every sample of class L (one of the training\n"
          "                  labels); --labels FILE gives one label per sample; without either the\n"
          "                  unconditional (null-label) field is used\n"
          "  --guidance W    classifier-free guidance (1 + W) v(x, t, L) - W v(x, t, null) (needs a label)\n"
          "  --log-prob FILE also write each sample's log-density, [N, 1], from the same ODE solve\n"
          "                  (divergence integrated along; --hutchinson K for K-probe estimates instead)\n"
          "  --source FILE   models trained with --source: the rows to transport (N = its rows)\n"
          "  --path-energy   also report the kinetic energy of the sampling path, the mean over samples\n"
          "                  of sum_k |x_k+1 - x_k|^2 / dt_k (Euler: E int |v|^2 dt; fixed-step solvers)\n"
          "  With --json: {\"n\", \"dim\", \"seed\", \"model\", \"path\", \"solver\", \"steps\", \"nfe\",\n"
          "  \"log_prob_path\" with --log-prob, \"path_energy\" with --path-energy}\n",
          out);
}

void cnf_logprob_help(FILE *out)
{
    fputs("\nContinuous-flow models: log p(x) by solving the ODE from the data back to the source with the\n"
          "divergence integrated along (exact: d forward-mode passes per evaluation). Options:\n"
          "  --solver S, --steps K, --rtol R, --atol A   as varflow sample (default rk4, 100 steps)\n"
          "  --hutchinson K  Hutchinson's estimate with K Rademacher probes per row (fixed along the path,\n"
          "                  drawn from --seed) instead of the exact divergence\n"
          "  --label L | --labels FILE, --guidance W    the class-conditional (guided) density\n"
          "  MeanFlow models: the density of the ODE of their instantaneous velocity u(x, t, t).\n"
          "  With --json the object also has \"nfe\".\n",
          out);
}

/* Options shared by sample and logprob. */
typedef struct cnf_opts {
    const char *model, *out, *log_prob, *source, *labels_file, *data;
    int64_t n, label, steps, hutchinson;
    int have_label, have_steps, have_solver, path_energy;
    vf_cnf_sample_options so;
    cli_common common;
} cnf_opts;

/* The options with a value that every continuous-flow sample and logprob takes. */
static const char *const valued[] = {"--solver", "--steps", "--rtol", "--atol", "--guidance", "--label",
                                     "--hutchinson", "--sigma", NULL};

int cnf_only_option(const char *cmd, const char *arg)
{
    static const char *const sample_only[] = {"--path-energy", "--log-prob", "--source", "--labels", NULL};
    static const char *const logprob_only[] = {"--labels", NULL};
    for (int k = 0; valued[k]; k++)
        if (cli_is_option(arg, valued[k])) return 1;
    const char *const *more = strcmp(cmd, "sample") == 0 ? sample_only : logprob_only;
    for (int k = 0; more[k]; k++)
        if (cli_is_option(arg, more[k])) return 1;
    return 0;
}

/* One option at argv[*i]: 1 consumed, 0 not ours, -1 after a usage error. */
static int cnf_option(const char *cmd, int argc, char **argv, int *i, cnf_opts *o)
{
    const char *arg = argv[*i];
    const char *name = NULL;
    for (int k = 0; !name && valued[k]; k++)
        if (cli_is_option(arg, valued[k])) name = valued[k];
    if (!name) return 0;
    const char *v = cli_option_value(cmd, argc, argv, i);
    if (!v) return -1;
    double x;
    int64_t iv;
    if (strcmp(name, "--solver") == 0) {
        int s = vf_solver_from_name(v);
        if (s < 0) {
            cli_usage_error(cmd, "--solver: unknown solver '%s' (euler, midpoint, heun, rk4, rk4_38, dopri5%s)", v,
                            strcmp(cmd, "sample") == 0 ? "; SDE: em, sheun" : "");
            return -1;
        }
        if (vf_solver_is_stochastic((vf_solver)s) && strcmp(cmd, "sample") != 0) {
            cli_usage_error(cmd, "--solver %s: log-densities need an ODE solver", v);
            return -1;
        }
        o->so.ode.solver = (vf_solver)s;
        o->have_solver = 1;
    } else if (strcmp(name, "--steps") == 0 || strcmp(name, "--hutchinson") == 0) {
        if (cli_parse_i64(v, 1, INT64_C(1) << 30, &iv)) {
            cli_usage_error(cmd, "%s: '%s' is not a whole number >= 1", name, v);
            return -1;
        }
        if (name[2] == 's') o->steps = iv, o->have_steps = 1;
        else o->hutchinson = iv;
    } else if (strcmp(name, "--label") == 0) {
        if (cli_parse_i64(v, 0, INT64_C(1) << 40, &iv)) {
            cli_usage_error(cmd, "--label: '%s' is not a whole number >= 0", v);
            return -1;
        }
        o->label = iv;
        o->have_label = 1;
    } else {
        if (cli_parse_double(v, &x) || !isfinite(x) || (name[2] != 'g' && !(x > 0))) {
            cli_usage_error(cmd, "%s: '%s' is not a %s number", name, v, name[2] == 'g' ? "finite" : "positive");
            return -1;
        }
        if (name[2] == 'g') o->so.guidance = x;
        else if (name[2] == 's') o->so.ode.sigma = x;
        else if (name[2] == 'r') o->so.ode.rtol = x;
        else o->so.ode.atol = x;
    }
    return 1;
}

static int parse(const char *cmd, int argc, char **argv, cnf_opts *o)
{
    memset(o, 0, sizeof *o);
    o->so = vf_cnf_sample_default_options();
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int k = cli_common_option(cmd, argc, argv, &i, &o->common);
        if (k < 0) return 2;
        if (k > 0) continue;
        if ((k = cnf_option(cmd, argc, argv, &i, o)) < 0) return 2;
        if (k > 0) continue;
        if (strcmp(cmd, "sample") == 0 && strcmp(arg, "--path-energy") == 0) {
            o->path_energy = 1;
            continue;
        }
        if (strcmp(cmd, "sample") == 0 && (strcmp(arg, "-n") == 0 || cli_is_option(arg, "--n"))) {
            const char *v = cli_option_value(cmd, argc, argv, &i);
            if (!v) return 2;
            if (cli_parse_i64(v, 1, INT64_C(1) << 40, &o->n))
                return cli_usage_error(cmd, "-n: '%s' is not a positive whole number", v);
            continue;
        }
        const cli_file_opt sample_files[] = {{"--model", &o->model}, {"-o", &o->out}, {"--log-prob", &o->log_prob},
                                             {"--source", &o->source}, {"--labels", &o->labels_file}, {NULL, NULL}};
        const cli_file_opt logprob_files[] = {{"--model", &o->model}, {"-o", &o->out}, {"--data", &o->data},
                                              {"--labels", &o->labels_file}, {NULL, NULL}};
        int f = cli_file_option(cmd, argc, argv, &i, strcmp(cmd, "sample") == 0 ? sample_files : logprob_files);
        if (f < 0) return 2;
        if (f > 0) continue;
        if (cli_looks_like_option(arg)) return cli_usage_error(cmd, "unknown option '%s'", arg);
        return cli_usage_error(cmd, "unexpected argument '%s'", arg);
    }
    if (!o->model) return cli_usage_error(cmd, "missing --model MODEL");
    if (o->have_label && o->labels_file) return cli_usage_error(cmd, "give --label or --labels, not both");
    if (o->hutchinson > 0) {
        o->so.density.divergence = VF_DIVERGENCE_HUTCHINSON;
        o->so.density.probes = (int)o->hutchinson;
        o->so.density.seed = o->common.seed;
    }
    return 0;
}

/* Model-dependent checks and the labels array ([n], malloc'd into *labels or NULL); 0 or an exit code. */
static int prepare(const char *cmd, const cnf_opts *o, const vf_cnf_model *m, int64_t n, int64_t **labels)
{
    int64_t k = m->spec.field.classes;
    *labels = NULL;
    if ((o->have_label || o->labels_file) && k < 1)
        return cli_usage_error(cmd, "%s is not a class-conditional model: --label/--labels is not accepted", o->model);
    if (o->so.guidance != 0 && k < 1)
        return cli_usage_error(cmd, "--guidance: %s is not a class-conditional model (trained without --labels)",
                               o->model);
    if (o->so.guidance != 0 && !o->have_label && !o->labels_file)
        return cli_usage_error(cmd, "--guidance needs --label L or --labels FILE");
    if (o->have_label && o->label >= k)
        return cli_usage_error(cmd, "--label %lld: %s was trained with labels 0..%lld", (long long)o->label, o->model,
                               (long long)(k - 1));
    if (m->spec.objective == VF_CNF_MEANFLOW && o->so.guidance != 0)
        return cli_usage_error(cmd, "--guidance: MeanFlow models sample without guidance");
    int sde = vf_solver_is_stochastic(o->so.ode.solver);
    if (sde && !m->score)
        return cli_usage_error(cmd, "--solver %s: an SDE solver needs a learned score; %s has none (fit sbcfm or si, "
                               "or use an ODE solver)", vf_solver_name(o->so.ode.solver), o->model);
    if (sde && (o->so.guidance != 0 || o->log_prob))
        return cli_usage_error(cmd, "--solver %s: an SDE solve takes no --guidance and gives no --log-prob",
                               vf_solver_name(o->so.ode.solver));
    if (!sde && o->so.ode.sigma > 0) return cli_usage_error(cmd, "--sigma is the diffusion of the SDE solvers em and sheun");
    if (o->have_label) {
        if (!(*labels = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1)))) return cli_runtime_error(cmd, "out of memory");
        for (int64_t i = 0; i < n; i++) (*labels)[i] = o->label;
    } else if (o->labels_file) {
        if (cli_read_labels(cmd, o->labels_file, n, labels)) return 1;
        for (int64_t i = 0; i < n; i++)
            if ((*labels)[i] >= k) {
                int rc = cli_runtime_error(cmd, "%s: row %lld: label %lld is not among %s's labels 0..%lld",
                                           o->labels_file, (long long)(i + 1), (long long)(*labels)[i], o->model,
                                           (long long)(k - 1));
                free(*labels);
                *labels = NULL;
                return rc;
            }
    }
    return 0;
}

static int write_table(const char *cmd, const char *path, const vf_tensor *t)
{
    return vf_write_table(path, t) == VF_OK ? 0 : cli_write_error(cmd, path);
}

static int read_rows(const char *cmd, const char *path, int64_t d, const char *what, vf_tensor *x)
{
    if (vf_read_table(path, x) != VF_OK) return cli_runtime_error(cmd, "%s", vf_last_error());
    int64_t cols = x->ndim > 1 ? x->shape[1] : 1;
    if (cols != d) {
        int rc = cli_runtime_error(cmd, "%s has %lld columns but the model's dimension is %lld (%s)", path,
                                   (long long)cols, (long long)d, what);
        vf_tensor_free(x);
        return rc;
    }
    return 0;
}

int cnf_sample_run(int argc, char **argv)
{
    const char *cmd = "sample";
    cnf_opts o;
    int rc = parse(cmd, argc, argv, &o);
    if (rc) return rc;
    if (!o.out) return cli_usage_error(cmd, "missing -o FILE");
    if (cli_check_table_name(cmd, "-o", o.out) || (o.log_prob && cli_check_table_name(cmd, "--log-prob", o.log_prob)))
        return 2;
    if (o.common.threads > 0) vf_set_num_threads(o.common.threads);
    vf_cnf_model *m = NULL;
    vf_model_meta meta;
    if (vf_cnf_model_load(o.model, &m, &meta) != VF_OK) return cli_runtime_error(cmd, "%s", vf_last_error());
    /* a one-step (distilled) model records its sampler: the defaults when the options are not given */
    const char *msolver = vf_model_meta_get(&meta, "sample.solver"), *msteps = vf_model_meta_get(&meta, "sample.steps");
    if (!o.have_solver && msolver && vf_solver_from_name(msolver) >= 0 &&
        !vf_solver_is_stochastic((vf_solver)vf_solver_from_name(msolver)))
        o.so.ode.solver = (vf_solver)vf_solver_from_name(msolver);
    int64_t mk;
    if (!o.have_steps && msteps && cli_parse_i64(msteps, 1, INT64_C(1) << 30, &mk) == 0) o.steps = mk, o.have_steps = 1;
    vf_model_meta_free(&meta);
    int64_t d = m->spec.field.dim, *labels = NULL;
    int data_source = m->spec.source.kind == VF_CNF_SOURCE_DATA, mf = m->spec.objective == VF_CNF_MEANFLOW;
    vf_tensor src = {0}, x = {0}, lp = {0};
    rc = 0;
    if (data_source && !o.source)
        rc = cli_usage_error(cmd, "%s transports data (trained with --source): give --source FILE", o.model);
    else if (!data_source && o.source)
        rc = cli_usage_error(cmd, "--source: %s was trained from a %s source, not from data", o.model,
                             m->spec.source.kind == VF_CNF_SOURCE_GAUSSIAN ? "Gaussian" : "Student-t");
    else if (o.log_prob && (data_source || mf))
        rc = cli_usage_error(cmd, data_source ? "--log-prob: a data-to-data model has no log-density"
                                              : "--log-prob: MeanFlow's jump sampler gives no log-densities "
                                                "(varflow logprob gives the density of its ODE)");
    else if (!o.source && o.n == 0)
        rc = cli_usage_error(cmd, "missing -n N");
    else if (o.path_energy && (o.log_prob || mf || o.so.ode.solver == VF_SOLVER_DOPRI5 ||
                               vf_solver_is_stochastic(o.so.ode.solver)))
        rc = cli_usage_error(cmd, "--path-energy needs a fixed-step ODE solver, no --log-prob and no MeanFlow model");
    if (rc) goto done;
    if (o.source) {
        if ((rc = read_rows(cmd, o.source, d, "--source must match the data the model was trained on", &src)) != 0) goto done;
        if (o.n > 0 && o.n != src.shape[0]) {
            rc = cli_usage_error(cmd, "-n %lld but --source %s has %lld rows", (long long)o.n, o.source,
                                 (long long)src.shape[0]);
            goto done;
        }
        o.n = src.shape[0];
    }
    if (!o.have_steps) o.steps = mf ? 1 : o.so.ode.steps;
    o.so.ode.steps = o.steps;
    if ((rc = prepare(cmd, &o, m, o.n, &labels)) != 0) goto done;
    if (vf_tensor_alloc(&x, 2, (int64_t[]){o.n, d}) != VF_OK ||
        (o.log_prob && vf_tensor_alloc(&lp, 2, (int64_t[]){o.n, 1}) != VF_OK)) {
        rc = cli_runtime_error(cmd, "out of memory");
        goto done;
    }
    vf_rng rng;
    vf_rng_init(&rng, o.common.seed, 0);
    vf_ode_stats st;
    double energy = 0;
    solve_progress sp;
    watch_solve(&sp, &o.common, "sampling", &o.so.ode);
    vf_status s = o.path_energy ? vf_cnf_model_sample_energy(m, o.n, o.source ? src.data : NULL, labels, &rng, &o.so,
                                                             x.data, &energy, &st)
                                : vf_cnf_model_sample(m, o.n, o.source ? src.data : NULL, labels, &rng, &o.so, x.data,
                                                      o.log_prob ? lp.data : NULL, &st);
    cli_progress_end(&sp.pg);
    if (s != VF_OK) {
        rc = cli_runtime_error(cmd, "%s", vf_last_error());
        goto done;
    }
    if ((rc = write_table(cmd, o.out, &x)) != 0 || (o.log_prob && (rc = write_table(cmd, o.log_prob, &lp)) != 0)) goto done;
    const char *solver = mf ? "meanflow" : vf_solver_name(o.so.ode.solver);
    if (o.common.json) {
        printf("{\"n\":%lld,\"dim\":%lld,\"seed\":%llu,\"model\":", (long long)o.n, (long long)d,
               (unsigned long long)o.common.seed);
        cli_json_string(stdout, o.model);
        fputs(",\"path\":", stdout);
        cli_json_string(stdout, o.out);
        printf(",\"solver\":\"%s\",\"steps\":%lld,\"nfe\":%lld", solver, (long long)st.steps, (long long)st.nfe);
        if (o.log_prob) {
            fputs(",\"log_prob_path\":", stdout);
            cli_json_string(stdout, o.log_prob);
        }
        if (o.path_energy) printf(",\"path_energy\":%.17g", energy);
        fputs("}\n", stdout);
    } else if (!o.common.quiet) {
        printf("wrote %lld samples of dimension %lld from %s to %s (%s, %lld steps, %lld field evaluations)\n",
               (long long)o.n, (long long)d, o.model, o.out, solver, (long long)st.steps, (long long)st.nfe);
        if (o.log_prob) printf("wrote their log-densities to %s\n", o.log_prob);
        if (o.path_energy) printf("path energy (mean over samples of sum |dx|^2 / dt): %.10g\n", energy);
    }
done:
    free(labels);
    vf_tensor_free(&src);
    vf_tensor_free(&x);
    vf_tensor_free(&lp);
    vf_cnf_model_free(m);
    return rc;
}

int cnf_logprob_run(int argc, char **argv)
{
    const char *cmd = "logprob";
    cnf_opts o;
    int rc = parse(cmd, argc, argv, &o);
    if (rc) return rc;
    if (!o.data) return cli_usage_error(cmd, "missing --data FILE");
    if (o.out && cli_check_table_name(cmd, "-o", o.out)) return 2;
    if (o.common.threads > 0) vf_set_num_threads(o.common.threads);
    vf_cnf_model *m = NULL;
    if (vf_cnf_model_load(o.model, &m, NULL) != VF_OK) return cli_runtime_error(cmd, "%s", vf_last_error());
    int64_t d = m->spec.field.dim, *labels = NULL;
    vf_tensor x = {0}, lp = {0};
    rc = 0;
    if (m->spec.source.kind == VF_CNF_SOURCE_DATA) {
        rc = cli_usage_error(cmd, "%s is a data-to-data model: it has no log-density", o.model);
        goto done;
    }
    if (o.have_steps) o.so.ode.steps = o.steps;
    if ((rc = read_rows(cmd, o.data, d, "data", &x)) != 0) goto done;
    int64_t n = x.shape[0];
    if ((rc = prepare(cmd, &o, m, n, &labels)) != 0) goto done;
    if (vf_tensor_alloc(&lp, 2, (int64_t[]){n, 1}) != VF_OK) {
        rc = cli_runtime_error(cmd, "out of memory");
        goto done;
    }
    vf_ode_stats st;
    solve_progress sp;
    watch_solve(&sp, &o.common, "log-density", &o.so.ode);
    vf_status ls = vf_cnf_model_log_prob(m, n, x.data, labels, &o.so, lp.data, &st);
    cli_progress_end(&sp.pg);
    if (ls != VF_OK) {
        rc = cli_runtime_error(cmd, "%s", vf_last_error());
        goto done;
    }
    if (o.out && (rc = write_table(cmd, o.out, &lp)) != 0) goto done;
    cli_lp_summary sum = cli_lp_summarize(lp.data, n);
    if (o.common.json) {
        fputs("{", stdout);
        cli_lp_print_json(&sum);
        printf(",\"n\":%lld,\"dim\":%lld", (long long)n, (long long)d);
        printf(",\"nfe\":%lld,\"model\":", (long long)st.nfe);
        cli_json_string(stdout, o.model);
        fputs(",\"data\":", stdout);
        cli_json_string(stdout, o.data);
        if (o.out) {
            fputs(",\"path\":", stdout);
            cli_json_string(stdout, o.out);
        }
        fputs("}\n", stdout);
    } else if (!o.common.quiet) {
        printf("%s under %s: %lld rows, dim %lld (%lld field evaluations)\n", o.data, o.model, (long long)n,
               (long long)d, (long long)st.nfe);
        cli_lp_print_text(&sum);
        if (o.out) printf("wrote %lld log-densities to %s\n", (long long)n, o.out);
    }
done:
    free(labels);
    vf_tensor_free(&x);
    vf_tensor_free(&lp);
    vf_cnf_model_free(m);
    return rc;
}
