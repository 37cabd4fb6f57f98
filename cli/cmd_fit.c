/* cmd_fit.c — `varflow fit`: maximum-likelihood training of a normalizing flow on a data table, saved
 * as a model file (vf_model.h). The loop itself is in fit_loop.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "fit_checkpoint.h"
#include "fit_cnf.h"
#include "fit_loop.h"

#define FIT_DEFAULT_MODEL "maf"
#define FIT_INIT_ROWS 4096

static void fit_help(FILE *out)
{
    fit_options o = fit_default_options();
    fprintf(out,
            "Usage: varflow fit --data FILE [--valid FILE] [--model SPEC] -o MODEL [options]\n"
            "\n"
            "Fits a normalizing flow to the rows of FILE (.csv, .npy, IDX; d = its columns) by minibatch\n"
            "maximum likelihood and writes it to MODEL (.safetensors, written atomically). Adam (AdamW when\n"
            "--weight-decay > 0), cosine learning rate with linear warm-up, gradient-norm clipping. After\n"
            "every epoch the validation NLL is measured; the parameters of the best epoch are saved.\n"
            "\n"
            "Options:\n"
            "  --data FILE          training data (required)\n"
            "  -o, --output MODEL   model file to write (required)\n"
            "  --model SPEC         flow preset NAME[:key=value,...] (default %s; list below)\n"
            "  --valid FILE         validation data (default: hold out --valid-fraction of FILE)\n"
            "  --valid-fraction F   rows of FILE held out for validation, 0 <= F < 1 (default 0.1;\n"
            "                       0: no validation, the last epoch's parameters are kept)\n"
            "  --epochs E           passes over the training rows (default %lld)\n"
            "  --steps K            stop after K optimizer steps instead of counting epochs\n"
            "  --batch B            rows per step (default %lld; a last batch of one row joins the one\n"
            "                       before it)\n"
            "  --lr LR              peak learning rate (default %g)\n"
            "  --weight-decay W     AdamW decoupled weight decay (default 0: Adam)\n"
            "  --warmup W           warm-up steps (default min(100, total steps / 10))\n"
            "  --clip C             gradient-norm clipping threshold (default %g)\n"
            "  --patience P         stop after P epochs without a better validation NLL (default %lld;\n"
            "                       0: never stop early)\n"
            "  --log FILE           one JSON line per epoch: epoch, step, train_nll, valid_nll, lr, seconds\n"
            "  --dequantize         integer data: add fresh U(0, 1) noise to every value of every batch and\n"
            "                       evaluation, so the flow's density integrates over each unit cell to the\n"
            "                       probability of that integer vector (non-integer data is an error)\n"
            "  --no-standardize     do not standardize: by default the flow's first transform maps each\n"
            "                       column to (x - mean) / std (statistics of the training rows; a constant\n"
            "                       column gets std 1; with --dequantize those of the noisy values: mean + 0.5,\n"
            "                       sqrt(var + 1/12)). It is part of the saved model, so logprob, sample and\n"
            "                       vf_flow_load work on the original scale and every log-density includes\n"
            "                       its Jacobian, -sum(log std)\n"
            "  --checkpoint FILE    after every epoch (or every --checkpoint-every N epochs) write FILE\n"
            "                       atomically: a model file of the current parameters (logprob, sample\n"
            "                       and vf_flow_load accept it) that also holds the optimizer state, the\n"
            "                       generators, the best parameters and validation NLL and the patience\n"
            "                       counter. After a divergence (NaN or infinite loss) the last good\n"
            "                       checkpoint is left as it was\n"
            "  --checkpoint-every N checkpoint after every N-th epoch (default 1)\n"
            "  --resume FILE        continue from checkpoint FILE exactly as the uninterrupted run would\n"
            "                       (same parameters bit for bit): give the same data and options (--model\n"
            "                       may be left out; a different one, another data dimension, row count,\n"
            "                       --seed, --batch, --dequantize or --no-standardize is an error). --epochs\n"
            "                       or --lr may change. --log FILE is appended to\n"
            "  --stop-after N       end this run after N epochs, writing the checkpoint and MODEL (the best\n"
            "                       so far); the schedule still spans --epochs, so a later --resume run\n"
            "                       finishes the training as if never interrupted (needs --checkpoint)\n",
            FIT_DEFAULT_MODEL, (long long)o.epochs, (long long)o.batch, o.lr, o.clip, (long long)o.patience);
    cli_print_common_help(out);
    fputs("\nFlow presets (--model NAME[:key=value,...]; keys common to all: transforms, hidden, act,\n"
          "base, seed; docs/flows.md describes them):\n",
          out);
    for (const char *const *n = vf_preset_names(); *n; n++) fprintf(out, "  %-13s %s\n", *n, vf_preset_help(*n));
    fit_cnf_help(out);
    fputs("\n"
          "--seed S seeds the initialization, the validation split, the shuffling and the dequantization\n"
          "noise. On a terminal (without --quiet) a progress line is shown on stderr.\n"
          "The model file records the training in its metadata (fit.spec, fit.data, fit.epochs, fit.steps,\n"
          "fit.train_nll, fit.valid_nll, fit.standardize, ...; fit.dequantize with --dequantize).\n"
          "\n"
          "Example:\n"
          "  varflow data 8gaussians -n 20000 -o 8g.npy\n"
          "  varflow fit --data 8g.npy --model nsf:transforms=5,hidden=64x2 --epochs 50 -o 8g.safetensors\n"
          "\n"
          "With --json, prints {\"train_nll\", \"valid_nll\" (nats per row, mean; null without validation),\n"
          "\"steps\", \"epochs\", \"best_epoch\", \"stopped_early\", \"paused\", \"seconds\", \"params\", \"model\"}.\n",
          out);
}

typedef struct fit_args {
    const char *data, *valid, *model, *output, *log, *checkpoint, *resume;
    double valid_fraction;
    int no_standardize, have_model;
    fit_options o;
    cli_common common;
} fit_args;

/* Parses argv into a; returns 0, or the exit code of a usage error already printed. */
static int parse_args(int argc, char **argv, fit_args *a)
{
    const char *cmd = "fit";
    int have_epochs = 0;
    memset(a, 0, sizeof *a);
    a->model = FIT_DEFAULT_MODEL;
    a->valid_fraction = 0.1;
    a->o = fit_default_options();
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = NULL;
        int c = cli_common_option(cmd, argc, argv, &i, &a->common);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (strcmp(arg, "--dequantize") == 0) {
            a->o.dequantize = 1;
            continue;
        }
        if (strcmp(arg, "--no-standardize") == 0) {
            a->no_standardize = 1;
            continue;
        }
        static const char *const valued[] = {"--data", "--valid", "--model", "--output", "--log", "--valid-fraction",
                                             "--epochs", "--steps", "--batch", "--lr", "--weight-decay", "--warmup",
                                             "--clip", "--patience", "--checkpoint", "--resume", "--checkpoint-every",
                                             "--stop-after", NULL};
        const char *name = cli_valued_option(arg, valued);
        if (!name) {
            if (cli_looks_like_option(arg)) return cli_usage_error(cmd, "unknown option '%s'", arg);
            return cli_usage_error(cmd, "unexpected argument '%s'", arg);
        }
        if (!(v = cli_option_value(cmd, argc, argv, &i))) return 2;
        int t = fit_parse_option(cmd, name, v, &a->o, &have_epochs);
        if (t < 0) return 2;
        if (t > 0) continue;
        double dv;
        if (strcmp(name, "--data") == 0) a->data = v;
        else if (strcmp(name, "--valid") == 0) a->valid = v;
        else if (strcmp(name, "--model") == 0) {
            a->model = v;
            a->have_model = 1;
        } else if (strcmp(name, "--checkpoint") == 0) a->checkpoint = v;
        else if (strcmp(name, "--resume") == 0) a->resume = v;
        else if (strcmp(name, "--output") == 0) a->output = v;
        else if (strcmp(name, "--log") == 0) a->log = v;
        else if (strcmp(name, "--valid-fraction") == 0) {
            if (cli_parse_double(v, &dv) || !(dv >= 0.0 && dv < 1.0))
                return cli_usage_error(cmd, "--valid-fraction: '%s' is not a number in [0, 1)", v);
            a->valid_fraction = dv;
        }
    }
    if (!a->data) return cli_usage_error(cmd, "missing --data FILE");
    if (!a->output) return cli_usage_error(cmd, "missing -o MODEL");
    if (!*a->output) return cli_usage_error(cmd, "-o: empty file name");
    if (have_epochs && a->o.steps > 0) return cli_usage_error(cmd, "give --epochs or --steps, not both");
    if (!a->checkpoint && (a->o.stop_after > 0 || a->o.checkpoint_every != 1))
        return cli_usage_error(cmd, "--stop-after and --checkpoint-every need --checkpoint FILE");
    if (a->checkpoint && !*a->checkpoint) return cli_usage_error(cmd, "--checkpoint: empty file name");
    if (a->o.warmup >= 0 && a->o.steps > 0 && a->o.warmup >= a->o.steps)
        return cli_usage_error(cmd, "--warmup %lld must be smaller than --steps %lld", (long long)a->o.warmup,
                               (long long)a->o.steps);
    a->o.seed = a->common.seed;
    a->o.progress = cli_show_progress(&a->common);
    return 0;
}

/* A contiguous [n, d] copy of table x (rows permuted by perm when not NULL). */
static vf_real *copy_rows(const vf_tensor *x, const size_t *perm, int64_t first, int64_t n)
{
    int64_t d = x->shape[1];
    vf_real *out = malloc(sizeof(vf_real) * (size_t)(n * d > 0 ? n * d : 1));
    if (!out) return NULL;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = perm ? (int64_t)perm[first + i] : first + i;
        for (int64_t j = 0; j < d; j++) out[i * d + j] = x->data[r * x->stride[0] + j * x->stride[1]];
    }
    return out;
}

/* 1 when the folder that would hold path is writable. */
static int output_dir_writable(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) return access(".", W_OK) == 0;
    size_t len = (size_t)(slash - path);
    if (len == 0) len = 1;
    if (len >= sizeof dir) return 0;
    memcpy(dir, path, len);
    dir[len] = '\0';
    return access(dir, W_OK) == 0;
}

static int read_data(const char *path, vf_tensor *x)
{
    if (vf_read_table(path, x) != VF_OK) {
        const char *msg = vf_last_error();
        if (strstr(msg, path)) return cli_runtime_error("fit", "%s", msg);
        return cli_runtime_error("fit", "cannot read %s: %s", path, msg);
    }
    if (x->ndim != 2 || x->shape[0] < 1 || x->shape[1] < 1) {
        vf_tensor_free(x);
        return cli_runtime_error("fit", "%s: no data rows", path);
    }
    return 0;
}

/* With --dequantize every value must be an integer: 0, or the exit code of the error already printed. */
static int check_integers(const char *path, const vf_tensor *x)
{
    for (int64_t i = 0; i < x->shape[0]; i++)
        for (int64_t j = 0; j < x->shape[1]; j++) {
            double v = (double)x->data[i * x->stride[0] + j * x->stride[1]];
            if (!(floor(v) == v))
                return cli_runtime_error("fit", "--dequantize needs integer data; row %lld column %lld of %s is %.9g",
                                         (long long)(i + 1), (long long)(j + 1), path, v);
        }
    return 0;
}

/* The run's settings as metadata keys/values (n_meta entries); text holds the formatted values. */
typedef struct run_meta {
    const char *keys[16], *values[16];
    int64_t n;
    char seed[32], batch[32], lr[40], valid[4200];
} run_meta;

static void settings_meta(const fit_args *a, run_meta *m)
{
    snprintf(m->seed, sizeof m->seed, "%llu", (unsigned long long)a->o.seed);
    snprintf(m->batch, sizeof m->batch, "%lld", (long long)a->o.batch);
    snprintf(m->lr, sizeof m->lr, "%g", a->o.lr);
    if (a->valid) snprintf(m->valid, sizeof m->valid, "%s", a->valid);
    else snprintf(m->valid, sizeof m->valid, "fraction %g of fit.data", a->valid_fraction);
    const char *keys[] = {"fit.spec", "fit.data", "fit.valid", "fit.seed", "fit.batch", "fit.lr", "varflow_version",
                          "fit.standardize", "fit.dequantize"};
    const char *values[] = {a->model, a->data, m->valid, m->seed, m->batch, m->lr, vf_version(),
                            a->no_standardize ? "0" : "1", "1"};
    m->n = (int64_t)(sizeof keys / sizeof keys[0]) - (a->o.dequantize ? 0 : 1);
    for (int64_t i = 0; i < m->n; i++) {
        m->keys[i] = keys[i];
        m->values[i] = values[i];
    }
}

static int save(const fit_args *a, vf_flow *flow, vf_params *p, const fit_result *r)
{
    char epochs[32], steps[32], tn[40], vn[40];
    snprintf(epochs, sizeof epochs, "%lld", (long long)r->epochs);
    snprintf(steps, sizeof steps, "%lld", (long long)r->steps);
    snprintf(tn, sizeof tn, "%.9g", r->train_nll);
    if (isfinite(r->valid_nll)) snprintf(vn, sizeof vn, "%.9g", r->valid_nll);
    else snprintf(vn, sizeof vn, "null");
    run_meta m;
    settings_meta(a, &m);
    const char *rk[] = {"fit.epochs", "fit.steps", "fit.train_nll", "fit.valid_nll"}, *rv[] = {epochs, steps, tn, vn};
    for (int i = 0; i < 4; i++) {
        m.keys[m.n] = rk[i];
        m.values[m.n++] = rv[i];
    }
    if (vf_flow_save(flow, p, a->output, m.n, m.keys, m.values) != VF_OK) {
        const char *msg = vf_last_error();
        if (strstr(msg, a->output)) return cli_runtime_error("fit", "%s", msg);
        return cli_runtime_error("fit", "cannot write %s: %s", a->output, msg);
    }
    return 0;
}

/* --resume: the flow, its store and the state from the checkpoint, checked against this run. 0, or
 * the exit code of the error already printed. */
static int load_resume(fit_args *a, int64_t nt, int64_t d, vf_params **p, vf_flow **flow, vf_model_meta *meta,
                       fit_state *st)
{
    if (vf_flow_load(a->resume, p, flow, meta) != VF_OK) return cli_runtime_error("fit", "--resume: %s", vf_last_error());
    if (fit_checkpoint_read(a->resume, meta, *p, st) != VF_OK) return cli_runtime_error("fit", "--resume: %s", vf_last_error());
    const char *spec = vf_model_meta_get(meta, "fit.spec"), *stdz = vf_model_meta_get(meta, "fit.standardize");
    const char *seed = vf_model_meta_get(meta, "fit.seed"), *batch = vf_model_meta_get(meta, "fit.batch");
    const char *rows = vf_model_meta_get(meta, "fit.resume.train_rows");
    char want[32];
    if (!spec) return cli_runtime_error("fit", "--resume %s: no fit.spec in the checkpoint", a->resume);
    if (a->have_model && strcmp(spec, a->model) != 0)
        return cli_runtime_error("fit", "--resume %s: the checkpoint is a '%s' model, not --model %s", a->resume, spec,
                                 a->model);
    a->model = spec;
    if (vf_flow_dim(*flow) != d)
        return cli_runtime_error("fit", "--resume %s: the checkpoint's model has dimension %lld but %s has %lld columns",
                                 a->resume, (long long)vf_flow_dim(*flow), a->data, (long long)d);
    snprintf(want, sizeof want, "%lld", (long long)nt);
    if (!rows || strcmp(rows, want) != 0)
        return cli_runtime_error("fit", "--resume %s: the checkpoint was trained on %s rows, this run has %lld (same data "
                                 "and --valid-fraction needed)", a->resume, rows ? rows : "?", (long long)nt);
    if (!stdz || strcmp(stdz, a->no_standardize ? "0" : "1") != 0)
        return cli_runtime_error("fit", "--resume %s: the checkpoint was made %s --no-standardize", a->resume,
                                 a->no_standardize ? "without" : "with");
    if ((vf_model_meta_get(meta, "fit.dequantize") != NULL) != (a->o.dequantize != 0))
        return cli_runtime_error("fit", "--resume %s: the checkpoint was made %s --dequantize", a->resume,
                                 a->o.dequantize ? "without" : "with");
    snprintf(want, sizeof want, "%llu", (unsigned long long)a->o.seed);
    if (!seed || strcmp(seed, want) != 0)
        return cli_runtime_error("fit", "--resume %s: the checkpoint was made with --seed %s, this run has %s (the split, "
                                 "shuffling and noise depend on it)", a->resume, seed ? seed : "?", want);
    snprintf(want, sizeof want, "%lld", (long long)a->o.batch);
    if (!batch || strcmp(batch, want) != 0)
        return cli_runtime_error("fit", "--resume %s: the checkpoint was made with --batch %s, this run has %s", a->resume,
                                 batch ? batch : "?", want);
    return 0;
}

/* The flow of --model for d columns, behind a standardize transform with loc = stats [d] and
 * scale = stats + d [d] when stats is not NULL. */
static vf_status build_flow(const char *model, const double *stats, int64_t d, vf_params *p, vf_flow **flow)
{
    if (!stats) return vf_flow_from_spec(model, d, 0, p, flow);
    vf_transform *lead = NULL;
    vf_standardize_params sp = vf_standardize_default_params(d);
    sp.loc = stats;
    sp.scale = stats + d;
    vf_status s = vf_standardize_new(p, "transforms.0", &sp, &lead);
    if (s != VF_OK) return s == VF_ERR_ARG ? VF_ERR_NUMERIC : s; /* bad data, not a bad --model */
    return vf_flow_from_spec_after(model, d, 0, 1, &lead, p, flow);
}

/* A new flow of --model for the training rows: standardization statistics, construction, finalize,
 * data-dependent initialization. 0, or the exit code of the error already printed. */
static int new_flow(const fit_args *ap, const vf_real *train, int64_t nt, int64_t d, vf_params **pp, vf_flow **fp)
{
    fit_args a = *ap;
    double *stats = NULL;
    vf_params *p = NULL;
    vf_flow *flow = NULL;
    vf_rng rng;
    int rc = 1;
    if (!a.no_standardize) { /* statistics of the training rows (of the noisy values with --dequantize) */
        if (!(stats = malloc(sizeof(double) * (size_t)(2 * d)))) goto nomem;
        if (vf_standardize_stats(train, nt, d, a.o.dequantize, stats, stats + d) != VF_OK) {
            cli_runtime_error("fit", "cannot standardize %s: %s (--no-standardize turns it off)", a.data,
                              vf_last_error());
            goto fail;
        }
    }
    if (!(p = vf_params_new())) goto nomem;
    vf_status s = build_flow(a.model, stats, d, p, &flow);
    if (s == VF_ERR_ARG) {
        rc = cli_usage_error("fit", "--model %s: %s", a.model, vf_last_error());
        goto fail;
    }
    if (s != VF_OK || (s = vf_params_finalize(p, a.o.seed)) != VF_OK) {
        cli_runtime_error("fit", "%s", vf_last_error());
        goto fail;
    }
    vf_tape *t = vf_tape_new();
    if (!t) goto nomem;
    int64_t m = nt < FIT_INIT_ROWS ? nt : FIT_INIT_ROWS;
    vf_real *init = NULL;
    if (a.o.dequantize) { /* initialize on the same dequantized values the training sees */
        if (!(init = malloc(sizeof(vf_real) * (size_t)(m * d)))) {
            vf_tape_free(t);
            goto nomem;
        }
        vf_rng_init(&rng, a.o.seed, 13);
        for (int64_t k = 0; k < m * d; k++) init[k] = (vf_real)((double)train[k] + vf_rng_uniform(&rng));
    }
    s = vf_flow_data_init(flow, p, t, vf_input(t, init ? init : train, 2, (int64_t[]){m, d}), VF_NOVAR);
    vf_tape_free(t);
    free(init);
    if (s != VF_OK) {
        cli_runtime_error("fit", "data-dependent initialization failed: %s", vf_last_error());
        goto fail;
    }
    *pp = p;
    *fp = flow;
    free(stats);
    return 0;
nomem:
    cli_runtime_error("fit", "out of memory");
fail:
    free(stats);
    vf_flow_free(flow);
    vf_params_free(p);
    return rc;
}

/* The value of --model in argv (NULL when absent). */
static const char *model_option(int argc, char **argv)
{
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
        else if (strncmp(argv[i], "--model=", 8) == 0) model = argv[i] + 8;
    }
    return model;
}

static int fit_run(int argc, char **argv)
{
    if (fit_cnf_is_spec(model_option(argc, argv))) return fit_cnf_run(argc, argv); /* continuous flows: fit_cnf.c */
    fit_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    if (a.common.threads > 0) vf_set_num_threads(a.common.threads);
    if (!output_dir_writable(a.output)) return cli_runtime_error("fit", "cannot write %s: its folder is not writable", a.output);

    vf_tensor x = {0}, xv = {0};
    vf_params *p = NULL;
    vf_flow *flow = NULL;
    vf_real *train = NULL, *valid = NULL;
    size_t *perm = NULL;
    FILE *log = NULL;
    vf_model_meta meta = {0, NULL, NULL};
    fit_state state;
    memset(&state, 0, sizeof state);
    if ((rc = read_data(a.data, &x)) != 0) return rc;
    if (a.o.dequantize && (rc = check_integers(a.data, &x)) != 0) {
        vf_tensor_free(&x);
        return rc;
    }
    int64_t n = x.shape[0], d = x.shape[1], nt = n, nv = 0;
    rc = 1;
    if (a.valid) {
        if (read_data(a.valid, &xv) != 0 || (a.o.dequantize && check_integers(a.valid, &xv) != 0)) goto done;
        if (xv.shape[1] != d) {
            cli_runtime_error("fit", "%s has %lld columns but %s has %lld", a.valid, (long long)xv.shape[1], a.data,
                              (long long)d);
            goto done;
        }
        nv = xv.shape[0];
    } else if (a.valid_fraction > 0) {
        nv = (int64_t)floor(a.valid_fraction * (double)n + 0.5);
        if (nv < 1) nv = 1;
        nt = n - nv;
        if (nt < 1) {
            cli_runtime_error("fit", "%s: %lld rows are too few to hold out a validation split", a.data, (long long)n);
            goto done;
        }
    }
    if (!(perm = malloc(sizeof(size_t) * (size_t)n))) goto nomem;
    vf_rng rng;
    vf_rng_init(&rng, a.o.seed, 3);
    vf_rng_permutation(&rng, (size_t)n, perm);
    if (!(train = copy_rows(&x, perm, 0, nt))) goto nomem;
    if (nv > 0 && !(valid = a.valid ? copy_rows(&xv, NULL, 0, nv) : copy_rows(&x, perm, nt, nv))) goto nomem;

    rc = a.resume ? load_resume(&a, nt, d, &p, &flow, &meta, &state) : new_flow(&a, train, nt, d, &p, &flow);
    if (rc) goto done;
    rc = 1;
    if (a.resume) a.o.resume = &state;
    run_meta rm;
    settings_meta(&a, &rm);
    fit_ckpt ck = {a.checkpoint, flow, p, rm.n, rm.keys, rm.values, nt, d};
    if (a.checkpoint) {
        a.o.checkpoint = fit_checkpoint_write;
        a.o.checkpoint_ctx = &ck;
    }
    if (a.log && !(log = fopen(a.log, a.resume ? "a" : "w"))) {
        cli_runtime_error("fit", "cannot write %s", a.log);
        goto done;
    }
    fit_result r;
    if (fit_flow(flow, p, train, nt, valid, nv, d, &a.o, log, &r) != VF_OK) {
        if (a.checkpoint && strstr(r.error, "diverged"))
            cli_runtime_error("fit", "%s; the last good checkpoint %s is unchanged (resume it with --resume and a smaller "
                              "--lr)", r.error, a.checkpoint);
        else cli_runtime_error("fit", "%s", r.error);
        goto done;
    }
    if (log) {
        int bad = ferror(log);
        bad |= fclose(log) != 0;
        log = NULL;
        if (bad) {
            cli_runtime_error("fit", "cannot write %s", a.log);
            goto done;
        }
    }
    if ((rc = save(&a, flow, p, &r)) != 0) goto done;
    if (a.common.json) {
        printf("{\"train_nll\":%.9g,\"valid_nll\":", r.train_nll);
        if (nv > 0) printf("%.9g", r.valid_nll);
        else fputs("null", stdout);
        printf(",\"steps\":%lld,\"epochs\":%lld,\"best_epoch\":%lld,\"stopped_early\":%s,\"paused\":%s,"
               "\"seconds\":%.3f,\"params\":%lld,\"model\":",
               (long long)r.steps, (long long)r.epochs, (long long)r.best_epoch, r.stopped_early ? "true" : "false",
               r.paused ? "true" : "false", r.seconds, (long long)vf_params_size(p));
        cli_json_string(stdout, a.output);
        fputs("}\n", stdout);
    } else if (!a.common.quiet) {
        printf("fitted %s (%lld parameters) to %lld rows of %s: %lld steps, %lld epochs%s in %.1f s\n", a.model,
               (long long)vf_params_size(p), (long long)nt, a.data, (long long)r.steps, (long long)r.epochs,
               r.stopped_early ? " (stopped early)" : r.paused ? " (paused by --stop-after)" : "", r.seconds);
        printf("kept epoch %lld: train NLL %.4f", (long long)r.best_epoch, r.train_nll);
        if (nv > 0) printf(", validation NLL %.4f (%lld rows)", r.valid_nll, (long long)nv);
        printf(" nats per row\nwrote %s\n", a.output);
        if (r.paused) printf("checkpoint %s: continue with the same command and --resume %s\n", a.checkpoint, a.checkpoint);
    }
    rc = 0;
    goto done;
nomem:
    cli_runtime_error("fit", "out of memory");
done:
    if (log) fclose(log);
    vf_flow_free(flow);
    vf_params_free(p);
    free(train);
    free(valid);
    free(perm);
    vf_model_meta_free(&meta);
    fit_state_free(&state);
    vf_tensor_free(&x);
    vf_tensor_free(&xv);
    return rc;
}

const cli_command cli_cmd_fit = {
    "fit",
    "fit a normalizing flow (maximum likelihood) or a continuous flow (flow matching) to data",
    fit_run,
    fit_help,
};
