/* fit_options.c — fit_parse_option (fit_options.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "fit_options.h"

int fit_parse_option(const char *cmd, const char *name, const char *v, vf_fit_options *o, int *have_epochs)
{
    static const char *const reals[] = {"--lr", "--weight-decay", "--clip", NULL};
    static const char *const counts[] = {"--epochs", "--steps", "--batch", "--checkpoint-every", "--stop-after",
                                         "--warmup", "--patience", NULL};
    for (int k = 0; reals[k]; k++) {
        if (strcmp(name, reals[k]) != 0) continue;
        int wd = k == 1;
        double dv;
        if (cli_parse_double(v, &dv) || !isfinite(dv) || dv < 0.0 || (!wd && dv == 0.0)) {
            cli_usage_error(cmd, "%s: '%s' is not a %s number", name, v, wd ? "non-negative" : "positive");
            return -1;
        }
        if (k == 0) o->lr = dv;
        else if (k == 1) o->weight_decay = dv;
        else o->clip = dv;
        return 1;
    }
    for (int k = 0; counts[k]; k++) {
        if (strcmp(name, counts[k]) != 0) continue;
        int64_t lo = k >= 5 ? 0 : 1, iv;
        if (cli_parse_i64(v, lo, INT64_C(1) << 40, &iv)) {
            cli_usage_error(cmd, "%s: '%s' is not a whole number >= %lld", name, v, (long long)lo);
            return -1;
        }
        int64_t *dst[] = {&o->epochs, &o->steps, &o->batch, &o->checkpoint_every, &o->stop_after, &o->warmup,
                          &o->patience};
        *dst[k] = iv;
        if (k == 0 && have_epochs) *have_epochs = 1;
        return 1;
    }
    return 0;
}

vf_real *fit_table_copy(const vf_tensor *x)
{
    int64_t n = x->shape[0], d = x->shape[1];
    vf_real *out = malloc(sizeof(vf_real) * (size_t)(n * d > 0 ? n * d : 1));
    if (!out) return NULL;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) out[i * d + j] = x->data[i * x->stride[0] + j * x->stride[1]];
    return out;
}

int fit_parse_box(const char *cmd, const char *name, const char *v, double *lo, double *hi, double *alpha)
{
    if (strcmp(name, "--box") == 0) {
        const char *comma = strchr(v, ',');
        char first[64];
        size_t k = comma ? (size_t)(comma - v) : 0;
        if (!comma || k >= sizeof first) {
            cli_usage_error(cmd, "--box: '%s' is not LO,HI", v);
            return -1;
        }
        memcpy(first, v, k);
        first[k] = 0;
        if (cli_parse_double(first, lo) || cli_parse_double(comma + 1, hi) || !isfinite(*lo) || !isfinite(*hi) ||
            !(*lo < *hi)) {
            cli_usage_error(cmd, "--box: '%s' is not LO,HI with finite LO < HI", v);
            return -1;
        }
        return 1;
    }
    if (strcmp(name, "--box-alpha") == 0) {
        double a;
        if (cli_parse_double(v, &a) || !(a >= 0 && a < 0.5)) {
            cli_usage_error(cmd, "--box-alpha: '%s' is not a number in [0, 0.5)", v);
            return -1;
        }
        *alpha = a;
        return 1;
    }
    return 0;
}

vf_fit_table_options fit_table_options(const vf_fit_options *fo, double valid_fraction, int no_standardize,
                                       const char *data, const char *valid, const vf_tensor *xv, const char *log)
{
    vf_fit_table_options o = vf_fit_table_default_options();
    o.fit = *fo;
    o.valid_fraction = valid_fraction;
    o.standardize = !no_standardize;
    o.valid_dim = valid ? xv->shape[1] : 0;
    o.data_name = data;
    o.valid_name = valid;
    o.log_path = log;
    return o;
}

int fit_check_integers(const char *cmd, const char *path, const vf_tensor *x)
{
    for (int64_t i = 0; i < x->shape[0]; i++)
        for (int64_t j = 0; j < x->shape[1]; j++) {
            double v = (double)x->data[i * x->stride[0] + j * x->stride[1]];
            if (!(floor(v) == v))
                return cli_runtime_error(cmd, "--dequantize needs integer data; row %lld column %lld of %s is %.9g",
                                         (long long)(i + 1), (long long)(j + 1), path, v);
        }
    return 0;
}

int64_t fit_train_rows(int have_valid, double valid_fraction, int64_t n)
{
    if (have_valid || !(valid_fraction > 0)) return n;
    int64_t nv = (int64_t)floor(valid_fraction * (double)n + 0.5);
    return n - (nv < 1 ? 1 : nv);
}

int fit_load_resume(const char *cmd, const fit_resume_want *w, vf_fitted **model, vf_fit_state *st, char **spec_out)
{
    const char *path = w->path;
    if (vf_fitted_load(path, model) != VF_OK) return cli_runtime_error(cmd, "--resume: %s", vf_last_error());
    const vf_fitted *m = *model;
    if (vf_fit_checkpoint_read(path, vf_fitted_meta(m), vf_fitted_params(m), st) != VF_OK)
        return cli_runtime_error(cmd, "--resume: %s", vf_last_error());
    const char *spec = vf_fitted_meta_get(m, "fit.spec"), *stdz = vf_fitted_meta_get(m, "fit.standardize");
    const char *seed = vf_fitted_meta_get(m, "fit.seed"), *batch = vf_fitted_meta_get(m, "fit.batch");
    const char *rows = vf_fitted_meta_get(m, "fit.resume.train_rows");
    char want[32];
    if (!spec) return cli_runtime_error(cmd, "--resume %s: no fit.spec in the checkpoint", path);
    if (w->model && strcmp(spec, w->model) != 0)
        return cli_runtime_error(cmd, "--resume %s: the checkpoint is a '%s' model, not --model %s", path, spec, w->model);
    if (vf_fitted_dim(m) != w->dim)
        return cli_runtime_error(cmd, "--resume %s: the checkpoint's model has dimension %lld but %s has %lld columns",
                                 path, (long long)vf_fitted_dim(m), w->data, (long long)w->dim);
    snprintf(want, sizeof want, "%lld", (long long)w->train_rows);
    if (!rows || strcmp(rows, want) != 0)
        return cli_runtime_error(cmd, "--resume %s: the checkpoint was trained on %s rows, this run has %lld (same data "
                                 "and --valid-fraction needed)", path, rows ? rows : "?", (long long)w->train_rows);
    if (!stdz || strcmp(stdz, w->standardize ? "1" : "0") != 0)
        return cli_runtime_error(cmd, "--resume %s: the checkpoint was made %s --no-standardize", path,
                                 w->standardize ? "with" : "without");
    if ((vf_fitted_meta_get(m, "fit.dequantize") != NULL) != (w->dequantize != 0))
        return cli_runtime_error(cmd, "--resume %s: the checkpoint was made %s --dequantize", path,
                                 w->dequantize ? "without" : "with");
    snprintf(want, sizeof want, "%llu", (unsigned long long)w->seed);
    if (!seed || strcmp(seed, want) != 0)
        return cli_runtime_error(cmd, "--resume %s: the checkpoint was made with --seed %s, this run has %s (the split, "
                                 "shuffling and noise depend on it)", path, seed ? seed : "?", want);
    snprintf(want, sizeof want, "%lld", (long long)w->batch);
    if (!batch || strcmp(batch, want) != 0)
        return cli_runtime_error(cmd, "--resume %s: the checkpoint was made with --batch %s, this run has %s", path,
                                 batch ? batch : "?", want);
    const char *processes = vf_fitted_meta_get(m, "fit.processes");
    snprintf(want, sizeof want, "%d", w->processes);
    if (strcmp(processes ? processes : "1", want) != 0) /* each process's share of a batch depends on it */
        return cli_runtime_error(cmd, "--resume %s: the checkpoint was made by %s MPI processes, this run has %s", path,
                                 processes ? processes : "1", want);
    if (!(*spec_out = malloc(strlen(spec) + 1))) return cli_runtime_error(cmd, "out of memory");
    strcpy(*spec_out, spec);
    return 0;
}

int fit_report_error(const char *cmd, const char *model, const char *checkpoint, const char *resume,
                     const vf_fit_result *r)
{
    switch (r->stage) {
    case VF_FIT_STAGE_SPEC:
        return cli_usage_error(cmd, "--model %s: %s", model, r->error);
    case VF_FIT_STAGE_STANDARDIZE:
        return cli_runtime_error(cmd, "%s (--no-standardize turns it off)", r->error);
    case VF_FIT_STAGE_TRAIN:
        if (checkpoint && strstr(r->error, "diverged")) {
            char note[1024];
            return cli_runtime_error(cmd, "%s%s", r->error, cli_checkpoint_note(checkpoint, resume, note, sizeof note));
        }
        return cli_runtime_error(cmd, "%s", r->error);
    default:
        return cli_runtime_error(cmd, "%s", r->error);
    }
}
