/* fit_cnf.c — `varflow fit --model cfm|otcfm|sbcfm|fm|rf|si|meanflow[:keys]`: a continuous flow
 * trained on a data table and saved as a varflow.cnf model file (vf_cnf_model.h). cmd_fit.c hands
 * over when --model names one of these objectives; the loop is cnf_fit.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "fit_options.h"
#include "progress.h"
#include "fit_cnf.h"

#define CMD "fit"
#define NLL_ROWS 1000 /* default of --nll-rows */
#define NLL_MAX_DIM 16

void fit_cnf_help(FILE *out)
{
    fputs("\nContinuous flows (--model NAME[:key=value,...]; docs/cnf.md):\n"
          "  cfm        I-CFM: linear path, sigma 0, independent pairs\n"
          "  otcfm      OT-CFM: linear path, sigma 0, exact minibatch OT pairs\n"
          "  sbcfm      SB-CFM: Brownian bridge, sigma 0.1, Sinkhorn pairs at eps = 2 sigma^2\n"
          "  fm         Lipman et al. flow matching, sigma_min 1e-4\n"
          "  rf         rectified flow: linear path, sigma 0 (straighten with varflow reflow)\n"
          "  si         stochastic interpolant, g(t) = sqrt(sigma t (1 - t)), sigma 1\n"
          "  meanflow   MeanFlow: average velocity u(x, s, e); 1- or k-step sampling\n"
          "  keys: hidden=64x3 (widths: WxL or W1xW2x...), act=silu|selu|relu|gelu|tanh|elu|softplus,\n"
          "        residual=0|1, time=input|sinusoidal (default input; sinusoidal: 16 features up to freq=F,\n"
          "        default 64), sigma=S (path noise), coupling=independent|ot|sinkhorn,\n"
          "        eps=E (Sinkhorn, absolute), iters=N (Sinkhorn's iteration limit; sbcfm default 100),\n"
          "        source=gaussian|student[:df=D] (or df=D), p_uncond=P (label\n"
          "        dropout for classifier-free guidance, default 0.1 with --labels), embed=E (label embedding),\n"
          "        score=0|1 (a second field learns the score, [SF]2M; default 1 for sbcfm and si: needs path\n"
          "        noise; such models also sample with the SDE solvers em and sheun)\n"
          "  meanflow keys: distinct=F (fraction of rows with s != e, default 0.25; the rest are plain flow\n"
          "        matching), times=uniform|logit_normal (s, e: the smaller and larger of two draws; default\n"
          "        uniform), time_mu=M, time_sigma=S (logit-normal sigmoid(N(M, S^2)), default 0.4, 1),\n"
          "        weight_p=P, weight_c=C (adaptive loss weights 1 / (err^2 + C)^P; default P = 0, the plain\n"
          "        squared error; the paper's P = 1, C = 1e-3 trained worse on 2-D data). MeanFlow's\n"
          "        validation loss is the plain flow-matching error (e = s on every validation row), since\n"
          "        its training target moves with the network. Default coupling=ot for meanflow\n"
          "  --labels FILE        one integer class label 0..K-1 per row of --data: a class-conditional\n"
          "                       model (K = largest label + 1); sample with --label L [--guidance W]\n"
          "  --valid-labels FILE  labels of --valid's rows (needed with --valid and --labels)\n"
          "  --nll-rows N         rows (training and validation each) for the exact NLLs reported at the\n"
          "                       end (default 1000; 0: none)\n"
          "  --source FILE        data-to-data transport: source rows (same columns as --data) drawn with\n"
          "                       replacement instead of a noise source; sample takes --source FILE too\n"
          "  Training minimizes the objective's regression loss; --patience counts epochs without a lower\n"
          "  validation loss (one fixed draw of sources, times and noise for the validation rows). Not for\n"
          "  continuous flows: --dequantize, --checkpoint, --resume, --stop-after.\n"
          "  With --json: {\"train_loss\", \"valid_loss\", \"train_nll\", \"valid_nll\", \"steps\", \"epochs\",\n"
          "  \"best_epoch\", \"stopped_early\", \"seconds\", \"params\", \"model\"}; the NLLs are exact\n"
          "  log-likelihoods (rk4, 100 steps, exact divergence) of the first --nll-rows training and validation\n"
          "  rows when the dimension is <= 16 (null otherwise, for meanflow and for --source models).\n",
          out);
}

int fit_cnf_is_spec(const char *spec)
{
    if (!spec) return 0;
    char name[32];
    size_t k = strcspn(spec, ":");
    if (k >= sizeof name) return 0;
    memcpy(name, spec, k);
    name[k] = '\0';
    return vf_cnf_objective_from_name(name) >= 0;
}

typedef struct cnf_args {
    const char *data, *valid, *model, *output, *log, *labels, *valid_labels, *source;
    double valid_fraction;
    int64_t nll_rows;
    int no_standardize, have_p_uncond;
    vf_fit_options o;
    cli_common common;
    cli_progress pg;
} cnf_args;

/* "64x3" (width x layers) or "64x128x64" (widths): 0, or -1 when malformed. */
static int parse_hidden(const char *v, vf_vfield_params *f)
{
    int64_t w[VF_NN_MAX_HIDDEN + 1];
    int k = 0;
    const char *s = v;
    while (*s) {
        char *end = NULL;
        long long x = strtoll(s, &end, 10);
        if (end == s || x < 1 || x > 1 << 20 || k > VF_NN_MAX_HIDDEN) return -1;
        w[k++] = x;
        if (*end == 'x') s = end + 1;
        else if (*end == '\0') s = end;
        else return -1;
    }
    if (k == 0) return -1;
    if (k == 2 && w[1] <= VF_NN_MAX_HIDDEN && strchr(v, 'x') == strrchr(v, 'x')) { /* WxL */
        f->n_hidden = (int)w[1];
        for (int i = 0; i < f->n_hidden; i++) f->hidden[i] = w[0];
        return 0;
    }
    if (k > VF_NN_MAX_HIDDEN) return -1;
    f->n_hidden = k;
    for (int i = 0; i < k; i++) f->hidden[i] = w[i];
    return 0;
}

/* The spec NAME[:key=value,...] into s (dim d, classes); 0 or the exit code of a usage error. */
static int parse_spec(const char *spec, int64_t d, int64_t classes, int have_labels, vf_cnf_spec *s,
                      vf_meanflow_options *mo)
{
    *mo = vf_meanflow_default_options();
    char name[32], buf[1024];
    size_t k = strcspn(spec, ":");
    memcpy(name, spec, k);
    name[k] = '\0';
    *s = vf_cnf_spec_default((vf_cnf_objective)vf_cnf_objective_from_name(name), d);
    s->field.classes = classes;
    s->field.time = VF_TIME_INPUT; /* on 2-D toys 0.2-0.3 nats better than sinusoidal features after 1500 steps */
    s->p_uncond = have_labels ? 0.1 : 0;
    int have_sigma = 0, have_eps = 0;
    if (!spec[k]) return 0;
    if (strlen(spec + k + 1) >= sizeof buf) return cli_usage_error(CMD, "--model: the spec is too long");
    strcpy(buf, spec + k + 1);
    for (char *item = buf; item && *item;) {
        char *next = NULL;
        /* "source=student:df=3" keeps its colon: split on commas only */
        char *comma = strchr(item, ',');
        if (comma) *comma = '\0', next = comma + 1;
        char *eq = strchr(item, '=');
        if (!eq) return cli_usage_error(CMD, "--model %s: '%s' is not key=value", spec, item);
        *eq = '\0';
        const char *key = item, *v = eq + 1;
        double x;
        int64_t iv;
        if (strcmp(key, "hidden") == 0) {
            if (parse_hidden(v, &s->field))
                return cli_usage_error(CMD, "--model %s: hidden=%s is not WIDTHxLAYERS or W1xW2x... (at most %d layers)",
                                       spec, v, VF_NN_MAX_HIDDEN);
        } else if (strcmp(key, "act") == 0) {
            int a = vf_activation_from_name(v);
            if (a < 0) return cli_usage_error(CMD, "--model %s: unknown activation '%s'", spec, v);
            s->field.act = (vf_activation)a;
        } else if (strcmp(key, "residual") == 0) {
            if (strcmp(v, "0") && strcmp(v, "1")) return cli_usage_error(CMD, "--model %s: residual=%s is not 0 or 1", spec, v);
            s->field.residual = v[0] == '1';
        } else if (strcmp(key, "time") == 0) {
            if (strcmp(v, "input") == 0) s->field.time = VF_TIME_INPUT;
            else if (strcmp(v, "sinusoidal") == 0) s->field.time = VF_TIME_SINUSOIDAL;
            else return cli_usage_error(CMD, "--model %s: time=%s is not input or sinusoidal", spec, v);
        } else if (strcmp(key, "sigma") == 0 || strcmp(key, "eps") == 0 || strcmp(key, "p_uncond") == 0 ||
                   strcmp(key, "df") == 0) {
            if (cli_parse_double(v, &x) || !isfinite(x) || x < 0)
                return cli_usage_error(CMD, "--model %s: %s=%s is not a non-negative number", spec, key, v);
            if (key[0] == 's') s->path.sigma = x, have_sigma = 1;
            else if (key[0] == 'e') s->coupling.eps = x, have_eps = 1;
            else if (key[0] == 'p') s->p_uncond = x, s->p_uncond = x;
            else s->source.df = x;
        } else if (strcmp(key, "coupling") == 0) {
            int c = vf_coupling_from_name(v);
            if (c < 0) return cli_usage_error(CMD, "--model %s: coupling=%s is not independent, ot or sinkhorn", spec, v);
            s->coupling.kind = (vf_coupling_kind)c;
        } else if (strcmp(key, "source") == 0) {
            if (strcmp(v, "gaussian") == 0) s->source.kind = VF_CNF_SOURCE_GAUSSIAN;
            else if (strncmp(v, "student", 7) == 0) {
                s->source.kind = VF_CNF_SOURCE_STUDENT_T;
                if (s->source.df == 0) s->source.df = 5;
                const char *rest = v + 7;
                if (strncmp(rest, "_t", 2) == 0) rest += 2;
                if (strncmp(rest, ":df=", 4) == 0) {
                    if (cli_parse_double(rest + 4, &x) || !(x > 0) || !isfinite(x))
                        return cli_usage_error(CMD, "--model %s: df must be a positive number", spec);
                    s->source.df = x;
                } else if (*rest) {
                    return cli_usage_error(CMD, "--model %s: source=%s is not gaussian or student[:df=D]", spec, v);
                }
            } else return cli_usage_error(CMD, "--model %s: source=%s is not gaussian or student[:df=D]", spec, v);
        } else if (strcmp(key, "iters") == 0) {
            if (cli_parse_i64(v, 1, INT64_C(1) << 30, &iv))
                return cli_usage_error(CMD, "--model %s: iters=%s is not a whole number >= 1", spec, v);
            s->coupling.max_iter = iv;
        } else if (strcmp(key, "score") == 0) {
            if (strcmp(v, "0") && strcmp(v, "1")) return cli_usage_error(CMD, "--model %s: score=%s is not 0 or 1", spec, v);
            s->score = v[0] == '1';
        } else if (strcmp(key, "freq") == 0) {
            if (cli_parse_double(v, &x) || !(x >= 0.5) || !isfinite(x))
                return cli_usage_error(CMD, "--model %s: freq=%s is not a number >= 0.5", spec, v);
            s->field.time_max_frequency = x;
        } else if (strcmp(key, "weight_p") == 0 || strcmp(key, "weight_c") == 0 || strcmp(key, "time_mu") == 0 ||
                   strcmp(key, "time_sigma") == 0 || strcmp(key, "distinct") == 0 || strcmp(key, "times") == 0) {
            if (s->objective != VF_CNF_MEANFLOW)
                return cli_usage_error(CMD, "--model %s: %s= is a meanflow key", spec, key);
            if (strcmp(key, "times") == 0) {
                if (strcmp(v, "uniform") == 0) mo->time_dist = VF_MEANFLOW_TIME_UNIFORM;
                else if (strcmp(v, "logit_normal") == 0) mo->time_dist = VF_MEANFLOW_TIME_LOGIT_NORMAL;
                else return cli_usage_error(CMD, "--model %s: times=%s is not uniform or logit_normal", spec, v);
            } else if (cli_parse_double(v, &x) || !isfinite(x)) {
                return cli_usage_error(CMD, "--model %s: %s=%s is not a number", spec, key, v);
            } else if (strcmp(key, "weight_p") == 0) {
                if (x < 0) return cli_usage_error(CMD, "--model %s: weight_p must be >= 0", spec);
                mo->weight_p = x;
            } else if (strcmp(key, "weight_c") == 0) {
                if (!(x > 0)) return cli_usage_error(CMD, "--model %s: weight_c must be > 0", spec);
                mo->weight_c = x;
            } else if (strcmp(key, "time_mu") == 0) {
                mo->time_mu = x;
            } else if (strcmp(key, "time_sigma") == 0) {
                if (x < 0) return cli_usage_error(CMD, "--model %s: time_sigma must be >= 0", spec);
                mo->time_sigma = x;
            } else {
                if (x < 0 || x > 1) return cli_usage_error(CMD, "--model %s: distinct must be in [0, 1]", spec);
                mo->p_distinct = x;
            }
        } else if (strcmp(key, "embed") == 0) {
            if (cli_parse_i64(v, 1, 1 << 16, &iv)) return cli_usage_error(CMD, "--model %s: embed=%s is not a width", spec, v);
            s->field.class_embedding = iv;
        } else {
            return cli_usage_error(CMD, "--model %s: unknown key '%s' (see varflow fit --help)", spec, key);
        }
        item = next;
    }
    if (s->source.kind == VF_CNF_SOURCE_STUDENT_T && !(s->source.df > 0))
        return cli_usage_error(CMD, "--model %s: the Student-t source needs df > 0", spec);
    if (s->source.kind != VF_CNF_SOURCE_STUDENT_T) s->source.df = 0;
    if (have_sigma && s->coupling.kind == VF_COUPLING_SINKHORN && !have_eps)
        s->coupling.eps = s->path.sigma > 0 ? 2 * s->path.sigma * s->path.sigma : s->coupling.eps;
    if (s->p_uncond > 1) return cli_usage_error(CMD, "--model %s: p_uncond must be at most 1", spec);
    if (!(s->coupling.eps > 0)) return cli_usage_error(CMD, "--model %s: eps must be positive", spec);
    return 0;
}

static int parse_args(int argc, char **argv, cnf_args *a)
{
    int have_epochs = 0;
    memset(a, 0, sizeof *a);
    a->valid_fraction = 0.1;
    a->nll_rows = NLL_ROWS;
    a->o = vf_fit_default_options();
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = NULL;
        int c = cli_common_option(CMD, argc, argv, &i, &a->common);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (strcmp(arg, "--no-standardize") == 0) {
            a->no_standardize = 1;
            continue;
        }
        if (strcmp(arg, "--dequantize") == 0)
            return cli_usage_error(CMD, "--dequantize is not available for continuous flows");
        static const char *const valued[] = {"--data", "--valid", "--model", "--output", "--log", "--valid-fraction",
                                             "--epochs", "--steps", "--batch", "--lr", "--weight-decay", "--warmup",
                                             "--clip", "--patience", "--labels", "--valid-labels", "--source", "--nll-rows",
                                             NULL};
        static const char *const unsupported[] = {"--checkpoint", "--resume", "--checkpoint-every", "--stop-after", NULL};
        const char *name = cli_valued_option(arg, valued);
        for (int k = 0; !name && unsupported[k]; k++)
            if (cli_is_option(arg, unsupported[k]))
                return cli_usage_error(CMD, "%s is not available for continuous flows yet", unsupported[k]);
        if (!name) {
            if (cli_looks_like_option(arg)) return cli_usage_error(CMD, "unknown option '%s'", arg);
            return cli_usage_error(CMD, "unexpected argument '%s'", arg);
        }
        if (!(v = cli_option_value(CMD, argc, argv, &i))) return 2;
        int t = fit_parse_option(CMD, name, v, &a->o, &have_epochs);
        if (t < 0) return 2;
        if (t > 0) continue;
        double dv;
        if (strcmp(name, "--data") == 0) a->data = v;
        else if (strcmp(name, "--valid") == 0) a->valid = v;
        else if (strcmp(name, "--model") == 0) a->model = v;
        else if (strcmp(name, "--output") == 0) a->output = v;
        else if (strcmp(name, "--log") == 0) a->log = v;
        else if (strcmp(name, "--labels") == 0) a->labels = v;
        else if (strcmp(name, "--valid-labels") == 0) a->valid_labels = v;
        else if (strcmp(name, "--source") == 0) a->source = v;
        else if (strcmp(name, "--valid-fraction") == 0) {
            if (cli_parse_double(v, &dv) || !(dv >= 0.0 && dv < 1.0))
                return cli_usage_error(CMD, "--valid-fraction: '%s' is not a number in [0, 1)", v);
            a->valid_fraction = dv;
        } else {
            int64_t iv; /* --nll-rows */
            if (cli_parse_i64(v, 0, INT64_C(1) << 40, &iv))
                return cli_usage_error(CMD, "%s: '%s' is not a whole number >= 0", name, v);
            a->nll_rows = iv;
        }
    }
    if (!a->data) return cli_usage_error(CMD, "missing --data FILE");
    if (!a->output || !*a->output) return cli_usage_error(CMD, "missing -o MODEL");
    if (have_epochs && a->o.steps > 0) return cli_usage_error(CMD, "give --epochs or --steps, not both");
    if (a->valid_labels && !(a->labels && a->valid))
        return cli_usage_error(CMD, "--valid-labels goes with --labels and --valid");
    if (a->labels && a->valid && !a->valid_labels)
        return cli_usage_error(CMD, "--valid FILE with --labels needs --valid-labels FILE");
    if (a->o.warmup >= 0 && a->o.steps > 0 && a->o.warmup >= a->o.steps)
        return cli_usage_error(CMD, "--warmup %lld must be smaller than --steps %lld", (long long)a->o.warmup,
                               (long long)a->o.steps);
    a->o.seed = a->common.seed;
    a->pg.on = cli_show_progress(&a->common);
    a->o.progress = a->pg.on ? cli_progress_loss : NULL;
    a->o.progress_ctx = &a->pg; /* a is not copied after parsing */
    return 0;
}

static int read_table(const char *path, vf_tensor *x)
{
    if (vf_read_table(path, x) != VF_OK) {
        const char *msg = vf_last_error();
        if (strstr(msg, path)) return cli_runtime_error(CMD, "%s", msg);
        return cli_runtime_error(CMD, "cannot read %s: %s", path, msg);
    }
    if (x->ndim == 1) { /* a single column */
        x->ndim = 2;
        x->shape[1] = 1;
        x->stride[1] = 1;
    }
    if (x->ndim != 2 || x->shape[0] < 1 || x->shape[1] < 1) {
        vf_tensor_free(x);
        return cli_runtime_error(CMD, "%s: no data rows", path);
    }
    return 0;
}

/* Labels file: one integer >= 0 per row, n rows; *out [n] (malloc'd). */
int cli_read_labels(const char *cmd, const char *path, int64_t n, int64_t **out)
{
    vf_tensor t = {0};
    if (vf_read_table(path, &t) != VF_OK) return cli_runtime_error(cmd, "%s", vf_last_error());
    int64_t rows = t.shape[0], cols = t.ndim > 1 ? t.shape[1] : 1;
    int rc = 0;
    if (cols != 1) rc = cli_runtime_error(cmd, "%s: labels need one column (got %lld)", path, (long long)cols);
    else if (n >= 0 && rows != n)
        rc = cli_runtime_error(cmd, "%s has %lld labels for %lld data rows", path, (long long)rows, (long long)n);
    int64_t *lab = rc ? NULL : malloc(sizeof(int64_t) * (size_t)(rows > 0 ? rows : 1));
    if (!rc && !lab) rc = cli_runtime_error(cmd, "out of memory");
    for (int64_t i = 0; !rc && i < rows; i++) {
        double v = (double)t.data[i * t.stride[0]];
        if (!(v >= 0 && v < 1e9 && floor(v) == v))
            rc = cli_runtime_error(cmd, "%s: row %lld: label %.9g is not a whole number >= 0", path, (long long)(i + 1), v);
        else lab[i] = (int64_t)v;
    }
    vf_tensor_free(&t);
    if (rc) {
        free(lab);
        return rc;
    }
    *out = lab;
    return 0;
}

/* Contiguous rows of x (perm order from first), standardized by mean/sd when not NULL. */
static vf_real *take_rows(const vf_tensor *x, const size_t *perm, int64_t first, int64_t n, const vf_real *mean,
                          const vf_real *sd)
{
    int64_t d = x->shape[1];
    vf_real *out = malloc(sizeof(vf_real) * (size_t)(n * d > 0 ? n * d : 1));
    if (!out) return NULL;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = perm ? (int64_t)perm[first + i] : first + i;
        for (int64_t j = 0; j < d; j++) {
            vf_real v = x->data[r * x->stride[0] + j * x->stride[1]];
            out[i * d + j] = mean ? (v - mean[j]) / sd[j] : v;
        }
    }
    return out;
}

int fit_cnf_run(int argc, char **argv)
{
    cnf_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    if (a.common.threads > 0) vf_set_num_threads(a.common.threads);
    vf_tensor x = {0}, xv = {0}, xs = {0};
    int64_t *lab_all = NULL, *vlab = NULL, *tlab = NULL, *vlab_split = NULL;
    vf_real *train = NULL, *valid = NULL, *source = NULL, *train_raw = NULL, *valid_raw = NULL;
    size_t *perm = NULL;
    vf_cnf_model *m = NULL;
    FILE *log = NULL;
    double *stats = NULL;
    vf_real *mean = NULL, *sd = NULL;
    if ((rc = read_table(a.data, &x)) != 0) return rc;
    rc = 1;
    int64_t n = x.shape[0], d = x.shape[1], nt = n, nv = 0, classes = 0;
    if (a.valid) {
        if (read_table(a.valid, &xv) != 0) goto done;
        if (xv.shape[1] != d) {
            cli_runtime_error(CMD, "%s has %lld columns but %s has %lld", a.valid, (long long)xv.shape[1], a.data,
                              (long long)d);
            goto done;
        }
        nv = xv.shape[0];
    } else if (a.valid_fraction > 0) {
        nv = (int64_t)floor(a.valid_fraction * (double)n + 0.5);
        if (nv < 1) nv = 1;
        nt = n - nv;
    }
    if (nt < 2) {
        cli_runtime_error(CMD, "%s: %lld rows are too few to train on (and hold out a validation split)", a.data,
                          (long long)n);
        goto done;
    }
    if (a.labels) {
        if (cli_read_labels(CMD, a.labels, n, &lab_all)) goto done;
        for (int64_t i = 0; i < n; i++) classes = lab_all[i] + 1 > classes ? lab_all[i] + 1 : classes;
        if (a.valid_labels) {
            if (cli_read_labels(CMD, a.valid_labels, nv, &vlab)) goto done;
            for (int64_t i = 0; i < nv; i++)
                if (vlab[i] >= classes) {
                    cli_runtime_error(CMD, "%s: row %lld: label %lld is not among the training labels 0..%lld",
                                      a.valid_labels, (long long)(i + 1), (long long)vlab[i], (long long)(classes - 1));
                    goto done;
                }
        }
    }
    if (a.source) {
        if (read_table(a.source, &xs) != 0) goto done;
        if (xs.shape[1] != d) {
            cli_runtime_error(CMD, "--source %s has %lld columns but %s has %lld: source and data must have the same "
                              "dimension", a.source, (long long)xs.shape[1], a.data, (long long)d);
            goto done;
        }
    }
    vf_cnf_spec spec;
    vf_meanflow_options mfo;
    if ((rc = parse_spec(a.model, d, classes, a.labels != NULL, &spec, &mfo)) != 0) goto done;
    rc = 1;
    if (a.source) spec.source.kind = VF_CNF_SOURCE_DATA, spec.source.df = 0;
    if (!(perm = malloc(sizeof(size_t) * (size_t)n))) goto nomem;
    vf_rng rng;
    vf_rng_init(&rng, a.o.seed, 3);
    vf_rng_permutation(&rng, (size_t)n, perm);
    if (!(train_raw = take_rows(&x, perm, 0, nt, NULL, NULL))) goto nomem;
    if (nv > 0 && !(valid_raw = a.valid ? take_rows(&xv, NULL, 0, nv, NULL, NULL) : take_rows(&x, perm, nt, nv, NULL, NULL)))
        goto nomem;
    if (lab_all) {
        if (!(tlab = malloc(sizeof(int64_t) * (size_t)nt)) || !(vlab_split = malloc(sizeof(int64_t) * (size_t)(nv + 1))))
            goto nomem;
        for (int64_t i = 0; i < nt; i++) tlab[i] = lab_all[perm[i]];
        for (int64_t i = 0; i < nv; i++) vlab_split[i] = vlab ? vlab[i] : lab_all[perm[nt + i]];
    }
    if (!(mean = malloc(sizeof(vf_real) * (size_t)d)) || !(sd = malloc(sizeof(vf_real) * (size_t)d)) ||
        !(stats = malloc(sizeof(double) * (size_t)(2 * d))))
        goto nomem;
    for (int64_t j = 0; j < d; j++) mean[j] = 0, sd[j] = 1;
    if (!a.no_standardize) {
        if (vf_standardize_stats(train_raw, nt, d, 0, stats, stats + d) != VF_OK) {
            cli_runtime_error(CMD, "cannot standardize %s: %s (--no-standardize turns it off)", a.data, vf_last_error());
            goto done;
        }
        for (int64_t j = 0; j < d; j++) mean[j] = (vf_real)stats[j], sd[j] = (vf_real)stats[d + j];
    }
    vf_status s = vf_cnf_model_new(&spec, a.o.seed, &m);
    if (s == VF_ERR_ARG) {
        rc = cli_usage_error(CMD, "--model %s: %s", a.model, vf_last_error());
        goto done;
    }
    if (s != VF_OK || vf_cnf_model_set_standardization(m, mean, sd) != VF_OK) {
        cli_runtime_error(CMD, "%s", vf_last_error());
        goto done;
    }
    if (!(train = take_rows(&x, perm, 0, nt, mean, sd))) goto nomem;
    if (nv > 0 && !(valid = a.valid ? take_rows(&xv, NULL, 0, nv, mean, sd) : take_rows(&x, perm, nt, nv, mean, sd)))
        goto nomem;
    if (a.source && !(source = take_rows(&xs, NULL, 0, xs.shape[0], NULL, NULL))) goto nomem;
    if (a.log && !(log = fopen(a.log, "w"))) {
        cli_runtime_error(CMD, "cannot write %s", a.log);
        goto done;
    }
    vf_cnf_fit_data data = {train, nt, tlab, valid, nv, vlab_split, source, a.source ? xs.shape[0] : 0, NULL, NULL, 0, &mfo};
    vf_cnf_fit_result r;
    if (vf_cnf_fit(m, &data, &a.o, log, &r) != VF_OK) {
        cli_runtime_error(CMD, "%s", r.error);
        goto done;
    }
    if (log) {
        int bad = ferror(log) | (fclose(log) != 0);
        log = NULL;
        if (bad) {
            cli_runtime_error(CMD, "cannot write %s", a.log);
            goto done;
        }
    }
    double train_nll = NAN, valid_nll = NAN;
    if (d <= NLL_MAX_DIM && !a.source && spec.objective != VF_CNF_MEANFLOW && a.nll_rows > 0) {
        if (vf_cnf_mean_nll(m, train_raw, tlab, nt, a.nll_rows, &train_nll) != VF_OK) train_nll = NAN;
        if (nv > 0 && vf_cnf_mean_nll(m, valid_raw, vlab_split, nv, a.nll_rows, &valid_nll) != VF_OK) valid_nll = NAN;
    }
    char steps[32], epochs[32], tl[40], vl[40], tn[40], vn[40], seed[32], batch[32], lr[40], cls[32];
    snprintf(steps, sizeof steps, "%lld", (long long)r.steps);
    snprintf(epochs, sizeof epochs, "%lld", (long long)r.epochs);
    snprintf(tl, sizeof tl, "%.9g", r.train_loss);
    snprintf(vl, sizeof vl, isfinite(r.valid_loss) ? "%.9g" : "null", r.valid_loss);
    snprintf(tn, sizeof tn, isfinite(train_nll) ? "%.9g" : "null", train_nll);
    snprintf(vn, sizeof vn, isfinite(valid_nll) ? "%.9g" : "null", valid_nll);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)a.o.seed);
    snprintf(batch, sizeof batch, "%lld", (long long)a.o.batch);
    snprintf(lr, sizeof lr, "%g", a.o.lr);
    snprintf(cls, sizeof cls, "%lld", (long long)classes);
    const char *keys[] = {"fit.spec", "fit.data", "fit.seed", "fit.batch", "fit.lr", "fit.steps", "fit.epochs",
                          "fit.train_loss", "fit.valid_loss", "fit.train_nll", "fit.valid_nll", "fit.standardize",
                          "varflow_version", "fit.source"};
    const char *values[] = {a.model, a.data, seed, batch, lr, steps, epochs, tl, vl, tn, vn,
                            a.no_standardize ? "0" : "1", vf_version(), a.source ? a.source : ""};
    int64_t nkeys = (int64_t)(sizeof keys / sizeof keys[0]) - (a.source ? 0 : 1);
    if (vf_cnf_model_save(m, a.output, nkeys, keys, values, 0, NULL) != VF_OK) {
        const char *msg = vf_last_error();
        if (strstr(msg, a.output)) cli_runtime_error(CMD, "%s", msg);
        else cli_runtime_error(CMD, "cannot write %s: %s", a.output, msg);
        goto done;
    }
    if (a.common.json) {
        printf("{\"train_loss\":%s,\"valid_loss\":%s,\"train_nll\":%s,\"valid_nll\":%s,\"steps\":%lld,\"epochs\":%lld,"
               "\"best_epoch\":%lld,\"stopped_early\":%s,\"seconds\":%.3f,\"params\":%lld,\"model\":",
               tl, vl, tn, vn, (long long)r.steps, (long long)r.epochs, (long long)r.best_epoch,
               r.stopped_early ? "true" : "false", r.seconds, (long long)vf_cnf_model_param_count(m));
        cli_json_string(stdout, a.output);
        fputs("}\n", stdout);
    } else if (!a.common.quiet) {
        printf("fitted %s (%lld parameters) to %lld rows of %s: %lld steps, %lld epochs%s in %.1f s\n", a.model,
               (long long)vf_cnf_model_param_count(m), (long long)nt, a.data, (long long)r.steps, (long long)r.epochs,
               r.stopped_early ? " (stopped early)" : "", r.seconds);
        printf("kept epoch %lld: train loss %.4f", (long long)r.best_epoch, r.train_loss);
        if (nv > 0) printf(", validation loss %.4f", r.valid_loss);
        if (isfinite(train_nll)) printf("; train NLL %.4f", train_nll);
        if (isfinite(valid_nll)) printf(", validation NLL %.4f nats per row", valid_nll);
        printf("\nwrote %s\n", a.output);
    }
    rc = 0;
    goto done;
nomem:
    cli_runtime_error(CMD, "out of memory");
done:
    if (log) fclose(log);
    vf_cnf_model_free(m);
    free(lab_all), free(vlab), free(tlab), free(vlab_split);
    free(train), free(valid), free(source), free(train_raw), free(valid_raw), free(perm);
    free(stats), free(mean), free(sd);
    vf_tensor_free(&x);
    vf_tensor_free(&xv);
    vf_tensor_free(&xs);
    return rc;
}
