/* cmd_reflow.c — `varflow reflow`: rectified flow's reflow (Liu et al. 2023) and one-step
 * distillation of a continuous-flow model file. Each round draws N source points, carries them
 * through the current model's ODE, and retrains the field (starting from its parameters) on those
 * fixed pairs along straight lines (linear path, sigma 0, no re-coupling), which straightens the
 * flow; --distill then trains the field at t = 0 only, so that one Euler step x0 + v(x0, 0) lands
 * where the ODE did. The loop is cnf_fit.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "fit_options.h"
#include "progress.h"

#define CMD "reflow"
#define PROBES 500
#define REFLOW_EPOCHS 50 /* training epochs per stage, unless --epochs or --train-steps */

static void reflow_help(FILE *out)
{
    fprintf(out,
            "Usage: varflow reflow --model MODEL -n N -o NEW [--rounds R] [--steps K] [--solver S] [--distill]\n"
            "                      [--epochs E | --train-steps T] [--batch B] [--lr LR] [--patience P]\n"
            "                      [--valid-fraction F] [--log FILE] [--seed S] [--json] [--quiet]\n"
            "\n"
            "Straightens a continuous flow (varflow fit --model rf|cfm|otcfm|...) by reflow: each round draws N\n"
            "source points, carries them through the current model's ODE (--solver, default rk4, with --steps\n"
            "K, default 100) and retrains the field, starting from its parameters, on these fixed pairs along\n"
            "straight lines (the rf objective: linear path, sigma 0, pairs kept). With --distill a last stage\n"
            "trains the field at t = 0 only, so that one Euler step x0 + v(x0, 0) reproduces the ODE's\n"
            "endpoint: a one-step model (its file records sample.solver = euler and sample.steps = 1, which\n"
            "varflow sample then uses by default). Class-conditional models draw their pairs' labels\n"
            "uniformly.\n"
            "\n"
            "Options:\n"
            "  --model MODEL        continuous-flow model file with a noise source (not MeanFlow) (required)\n"
            "  -n N                 pairs per round, >= 10 (required)\n"
            "  -o, --output NEW     the new model file (required)\n"
            "  --rounds R           reflow rounds, >= 0 (default 1; 0 with --distill: distill only)\n"
            "  --steps K            ODE steps for the pairs, >= 1 (default 100)\n"
            "  --solver S           euler, midpoint, heun, rk4, rk4_38, dopri5 (default rk4)\n"
            "  --distill            finish with one-step distillation\n"
            "  --epochs E           training epochs per stage (default %lld) or --train-steps T\n"
            "  --batch B, --lr LR, --weight-decay W, --clip C, --patience P, --valid-fraction F, --log FILE\n"
            "                       as varflow fit (the pairs are split into training and validation)\n",
            (long long)REFLOW_EPOCHS);
    cli_print_common_help(out);
    fputs("\n"
          "The straightness measure: PROBE = 500 fixed source points go through the original model's ODE\n"
          "(K steps) and through one Euler step of the original and of the new model; w2_one_step_before and\n"
          "w2_one_step_after are the exact W2 distances (optimal transport, squared Euclidean cost, data\n"
          "units) between the one-step samples and the ODE samples. A straighter flow has a smaller\n"
          "one-step error.\n"
          "\n"
          "With --json: {\"rounds\", \"n\", \"distill\", \"w2_one_step_before\", \"w2_one_step_after\", \"train_loss\",\n"
          "\"valid_loss\", \"steps\" (training steps, all stages), \"seconds\", \"params\", \"model\"}.\n"
          "\n"
          "Example:\n"
          "  varflow fit --data moons.npy --model rf -o rf.safetensors\n"
          "  varflow reflow --model rf.safetensors -n 20000 --distill -o rf1.safetensors\n"
          "  varflow sample --model rf1.safetensors -n 1000 -o one_step.npy     # euler, 1 step\n",
          out);
}

typedef struct reflow_args {
    const char *model, *output, *log;
    int64_t n, rounds, steps;
    int distill, have_train_steps;
    vf_solver solver;
    double valid_fraction;
    vf_fit_options o;
    cli_common common;
    cli_progress pg;
} reflow_args;

static int parse_args(int argc, char **argv, reflow_args *a)
{
    memset(a, 0, sizeof *a);
    a->rounds = 1;
    a->steps = 100;
    a->solver = VF_SOLVER_RK4;
    a->valid_fraction = 0.1;
    a->o = vf_fit_default_options();
    a->o.epochs = REFLOW_EPOCHS;
    int have_epochs = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        int c = cli_common_option(CMD, argc, argv, &i, &a->common);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (strcmp(arg, "--distill") == 0) {
            a->distill = 1;
            continue;
        }
        static const char *const valued[] = {"--model", "--output", "-n", "--rounds", "--steps", "--solver", "--epochs",
                                             "--train-steps", "--batch", "--lr", "--weight-decay", "--clip",
                                             "--patience", "--valid-fraction", "--log", NULL};
        const char *name;
        if (cli_take_valued(CMD, argc, argv, &i, valued, &name, &v)) return 2;
        int64_t iv;
        double dv;
        if (strcmp(name, "--model") == 0) a->model = v;
        else if (strcmp(name, "--output") == 0) a->output = v;
        else if (strcmp(name, "--log") == 0) a->log = v;
        else if (strcmp(name, "--solver") == 0) {
            int s = vf_solver_from_name(v);
            if (s < 0 || vf_solver_is_stochastic((vf_solver)s))
                return cli_usage_error(CMD, "--solver: '%s' is not an ODE solver (euler, midpoint, heun, rk4, rk4_38, "
                                       "dopri5)", v);
            a->solver = (vf_solver)s;
        } else if (strcmp(name, "--lr") == 0 || strcmp(name, "--weight-decay") == 0 || strcmp(name, "--clip") == 0 ||
                   strcmp(name, "--valid-fraction") == 0) {
            int wd = name[2] == 'w', vf = name[2] == 'v';
            if (cli_parse_double(v, &dv) || !isfinite(dv) || dv < 0 || (!wd && !vf && dv == 0) || (vf && dv >= 1))
                return cli_usage_error(CMD, "%s: '%s' is out of range", name, v);
            if (wd) a->o.weight_decay = dv;
            else if (vf) a->valid_fraction = dv;
            else if (name[2] == 'l') a->o.lr = dv;
            else a->o.clip = dv;
        } else {
            int64_t lo = strcmp(name, "--rounds") == 0 || strcmp(name, "--patience") == 0 ? 0 : 1;
            if (strcmp(name, "-n") == 0) lo = 10;
            if (cli_parse_i64(v, lo, INT64_C(1) << 40, &iv))
                return cli_usage_error(CMD, "%s: '%s' is not a whole number >= %lld", name, v, (long long)lo);
            if (strcmp(name, "-n") == 0) a->n = iv;
            else if (strcmp(name, "--rounds") == 0) a->rounds = iv;
            else if (strcmp(name, "--steps") == 0) a->steps = iv;
            else if (strcmp(name, "--epochs") == 0) a->o.epochs = iv, have_epochs = 1;
            else if (strcmp(name, "--train-steps") == 0) a->o.steps = iv, a->have_train_steps = 1;
            else if (strcmp(name, "--batch") == 0) a->o.batch = iv;
            else a->o.patience = iv;
        }
    }
    if (!a->model) return cli_usage_error(CMD, "missing --model MODEL");
    if (!a->n) return cli_usage_error(CMD, "missing -n N");
    if (!a->output || !*a->output) return cli_usage_error(CMD, "missing -o NEW");
    if (have_epochs && a->have_train_steps) return cli_usage_error(CMD, "give --epochs or --train-steps, not both");
    if (a->rounds == 0 && !a->distill) return cli_usage_error(CMD, "--rounds 0 without --distill does nothing");
    a->o.seed = a->common.seed;
    a->pg.on = cli_show_progress(&a->common);
    a->o.progress = a->pg.on ? cli_progress_loss : NULL;
    a->o.progress_ctx = &a->pg; /* a is not copied after parsing */
    return 0;
}

/* x [n, d] in original units -> the field's coordinates (the box's logits, standardized), in place. */
static vf_status standardize(const vf_cnf_model *m, int64_t n, vf_real *x)
{
    int64_t d = m->spec.field.dim;
    vf_status s = vf_cnf_model_box_logits(m, n, x, x);
    for (int64_t i = 0; s == VF_OK && i < n; i++)
        for (int64_t j = 0; j < d; j++) x[i * d + j] = (x[i * d + j] - m->mean[j]) / m->std[j];
    return s;
}

/* W2 between one Euler step of m from x0 [P, d] and the reference samples ref [P, d]. */
static vf_status one_step_w2(const vf_cnf_model *m, const vf_real *x0, const vf_real *ref, double *w2)
{
    int64_t d = m->spec.field.dim;
    vf_real *x = malloc(sizeof(vf_real) * (size_t)(PROBES * d));
    int64_t *perm = malloc(sizeof(int64_t) * PROBES);
    vf_status s = x && perm ? VF_OK : VF_ERR_NOMEM;
    vf_cnf_sample_options so = vf_cnf_sample_default_options();
    so.ode.solver = VF_SOLVER_EULER;
    so.ode.steps = 1;
    double cost = 0;
    if (s == VF_OK) s = vf_cnf_model_sample(m, PROBES, x0, NULL, NULL, &so, x, NULL, NULL);
    if (s == VF_OK) s = vf_ot_pairs_sqeuclidean(PROBES, d, x, ref, perm, &cost);
    free(x);
    free(perm);
    *w2 = sqrt(cost);
    return s;
}

/* A copy of m as an rf model (linear path, sigma 0, independent pairs) with the same field values. */
static vf_status as_rf(const vf_cnf_model *m, vf_cnf_model **out)
{
    vf_cnf_spec spec = m->spec;
    spec.objective = VF_CNF_RF;
    spec.path = vf_path_default(VF_PATH_LINEAR);
    spec.coupling = vf_coupling_default(VF_COUPLING_INDEPENDENT);
    spec.field = *vf_vfield_get_params(m->field);
    vf_status s = vf_cnf_model_new(&spec, 0, out);
    if (s == VF_OK) s = vf_cnf_model_set_standardization(*out, m->mean, m->std);
    if (s == VF_OK && m->box.hi > m->box.lo) s = vf_cnf_model_set_box(*out, m->box.lo, m->box.hi, m->box.alpha);
    if (s == VF_OK)
        memcpy(vf_params_values((*out)->params), vf_params_values(m->params),
               sizeof(vf_real) * (size_t)vf_cnf_model_param_count(m));
    return s;
}

/* One stage: N pairs from `cur` (sources drawn with rng), a new rf model trained on them. */
static int stage(const reflow_args *a, const vf_cnf_model *cur, int distill, vf_rng *rng, FILE *log,
                 vf_cnf_model **out, vf_cnf_fit_result *r)
{
    int64_t n = a->n, d = cur->spec.field.dim, k = cur->spec.field.classes;
    int64_t nv = a->valid_fraction > 0 ? (int64_t)floor(a->valid_fraction * (double)n + 0.5) : 0;
    if (a->valid_fraction > 0 && nv < 1) nv = 1;
    int64_t nt = n - nv;
    vf_real *x0 = malloc(sizeof(vf_real) * (size_t)(n * d)), *x1 = malloc(sizeof(vf_real) * (size_t)(n * d));
    int64_t *labels = k > 0 ? malloc(sizeof(int64_t) * (size_t)n) : NULL;
    vf_cnf_model *m = NULL;
    int rc = 1;
    if (!x0 || !x1 || (k > 0 && !labels)) {
        cli_runtime_error(CMD, "out of memory");
        goto done;
    }
    for (int64_t i = 0; labels && i < n; i++) labels[i] = (int64_t)vf_rng_below(rng, (uint64_t)k);
    vf_cnf_sample_options so = vf_cnf_sample_default_options();
    so.ode.solver = a->solver;
    so.ode.steps = a->steps;
    if (vf_cnf_model_source_sample(cur, n, rng, x0) != VF_OK ||
        vf_cnf_model_sample(cur, n, x0, labels, NULL, &so, x1, NULL, NULL) != VF_OK || as_rf(cur, &m) != VF_OK ||
        standardize(cur, n, x1) != VF_OK) {
        cli_runtime_error(CMD, "%s", vf_last_error());
        goto done;
    }
    vf_cnf_fit_data data = {x1, nt, labels, nv > 0 ? x1 + nt * d : NULL, nv, labels && nv > 0 ? labels + nt : NULL,
                         NULL, 0, x0, nv > 0 ? x0 + nt * d : NULL, distill, NULL};
    if (vf_cnf_fit(m, &data, &a->o, log, r) != VF_OK) {
        cli_runtime_error(CMD, "%s", r->error);
        goto done;
    }
    *out = m;
    m = NULL;
    rc = 0;
done:
    vf_cnf_model_free(m);
    free(x0);
    free(x1);
    free(labels);
    return rc;
}

static int reflow_run(int argc, char **argv)
{
    reflow_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    if (a.common.threads > 0) vf_set_num_threads(a.common.threads);
    vf_cnf_model *orig = NULL, *cur = NULL;
    vf_real *probe = NULL, *ref = NULL;
    FILE *log = NULL;
    if (vf_cnf_model_load(a.model, &orig, NULL) != VF_OK) return cli_runtime_error(CMD, "%s", vf_last_error());
    int64_t d = orig->spec.field.dim;
    rc = 1;
    if (orig->spec.objective == VF_CNF_MEANFLOW || orig->spec.source.kind == VF_CNF_SOURCE_DATA) {
        rc = cli_usage_error(CMD, "%s: reflow needs an ODE model with a noise source (not %s)", a.model,
                             orig->spec.objective == VF_CNF_MEANFLOW ? "MeanFlow" : "a data-to-data model");
        goto done;
    }
    if (a.log && !(log = fopen(a.log, "w"))) {
        cli_runtime_error(CMD, "cannot write %s", a.log);
        goto done;
    }
    /* the probe: fixed sources and the original model's ODE endpoints */
    probe = malloc(sizeof(vf_real) * (size_t)(PROBES * d));
    ref = malloc(sizeof(vf_real) * (size_t)(PROBES * d));
    if (!probe || !ref) {
        cli_runtime_error(CMD, "out of memory");
        goto done;
    }
    vf_rng prng, rng;
    vf_rng_init(&prng, a.common.seed, 99);
    vf_rng_init(&rng, a.common.seed, 5);
    vf_cnf_sample_options so = vf_cnf_sample_default_options();
    so.ode.solver = a.solver;
    so.ode.steps = a.steps;
    double before = NAN, after = NAN;
    if (vf_cnf_model_source_sample(orig, PROBES, &prng, probe) != VF_OK ||
        vf_cnf_model_sample(orig, PROBES, probe, NULL, NULL, &so, ref, NULL, NULL) != VF_OK ||
        one_step_w2(orig, probe, ref, &before) != VF_OK) {
        cli_runtime_error(CMD, "%s", vf_last_error());
        goto done;
    }
    vf_cnf_fit_result r;
    memset(&r, 0, sizeof r);
    int64_t total_steps = 0;
    double seconds = 0;
    const vf_cnf_model *from = orig;
    for (int64_t round = 0; round < a.rounds + (a.distill ? 1 : 0); round++) {
        vf_cnf_model *next = NULL;
        if (stage(&a, from, a.distill && round == a.rounds, &rng, log, &next, &r)) goto done;
        vf_cnf_model_free(cur);
        from = cur = next;
        total_steps += r.steps;
        seconds += r.seconds;
        if (!a.common.quiet && !a.common.json)
            fprintf(stderr, "%s %lld: train loss %.5f, valid loss %.5f, %lld steps\n",
                    a.distill && round == a.rounds ? "distillation" : "reflow round", (long long)(round + 1),
                    r.train_loss, r.valid_loss, (long long)r.steps);
    }
    if (one_step_w2(cur, probe, ref, &after) != VF_OK) {
        cli_runtime_error(CMD, "%s", vf_last_error());
        goto done;
    }
    char rounds[32], n[32], steps[32], wb[40], wa[40], tl[40], vl[40];
    snprintf(rounds, sizeof rounds, "%lld", (long long)a.rounds);
    snprintf(n, sizeof n, "%lld", (long long)a.n);
    snprintf(steps, sizeof steps, "%lld", (long long)a.steps);
    snprintf(wb, sizeof wb, "%.9g", before);
    snprintf(wa, sizeof wa, "%.9g", after);
    snprintf(tl, sizeof tl, "%.9g", r.train_loss);
    snprintf(vl, sizeof vl, isfinite(r.valid_loss) ? "%.9g" : "null", r.valid_loss);
    const char *keys[] = {"reflow.from", "reflow.rounds", "reflow.n", "reflow.ode", "reflow.w2_one_step_before",
                          "reflow.w2_one_step_after", "fit.train_loss", "fit.valid_loss", "varflow_version",
                          "sample.solver", "sample.steps"};
    char ode[64];
    snprintf(ode, sizeof ode, "%s:%s", vf_solver_name(a.solver), steps);
    const char *values[] = {a.model, rounds, n, ode, wb, wa, tl, vl, vf_version(), "euler", "1"};
    int64_t nkeys = (int64_t)(sizeof keys / sizeof keys[0]) - (a.distill ? 0 : 2);
    if (vf_cnf_model_save(cur, a.output, nkeys, keys, values, 0, NULL) != VF_OK) {
        cli_runtime_error(CMD, "%s", vf_last_error());
        goto done;
    }
    if (a.common.json) {
        printf("{\"rounds\":%lld,\"n\":%lld,\"distill\":%s,\"w2_one_step_before\":%s,\"w2_one_step_after\":%s,"
               "\"train_loss\":%s,\"valid_loss\":%s,\"steps\":%lld,\"seconds\":%.3f,\"params\":%lld,\"model\":",
               (long long)a.rounds, (long long)a.n, a.distill ? "true" : "false", wb, wa, tl, vl,
               (long long)total_steps, seconds, (long long)vf_cnf_model_param_count(cur));
        cli_json_string(stdout, a.output);
        fputs("}\n", stdout);
    } else if (!a.common.quiet) {
        printf("one-step W2 to %s's %s ODE samples: %.4f before, %.4f after\nwrote %s\n", a.model, ode, before, after,
               a.output);
    }
    rc = 0;
done:
    if (log) fclose(log);
    free(probe);
    free(ref);
    vf_cnf_model_free(orig);
    vf_cnf_model_free(cur);
    return rc;
}

const cli_command cli_cmd_reflow = {
    "reflow",
    "straighten a continuous flow by reflow, optionally distilled to one step",
    reflow_run,
    reflow_help,
};
