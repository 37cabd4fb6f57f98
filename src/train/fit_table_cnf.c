/* fit_table_cnf.c — vf_fit_table for continuous flows: what `varflow fit --model cfm|...` does
 * around vf_cnf_fit (the split, the spec, standardization, the log, the exact NLLs at the end, the
 * metadata); vf_train.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train/train_internal.h"

#define NLL_MAX_DIM 16

/* Rows x [n, d] standardized by mean / sd [d] into a new array. */
static vf_real *standardized(const vf_real *x, int64_t n, int64_t d, const vf_real *mean, const vf_real *sd)
{
    vf_real *out = malloc(sizeof(vf_real) * (size_t)(n * d > 0 ? n * d : 1));
    for (int64_t i = 0; out && i < n; i++)
        for (int64_t j = 0; j < d; j++) out[i * d + j] = (x[i * d + j] - mean[j]) / sd[j];
    return out;
}

/* Labels: every one >= 0; *classes = the largest + 1; validation labels among them. */
static vf_status check_labels(const vf_fit_table_options *o, int64_t n, const vf_real *valid, int64_t nv,
                              int64_t *classes, vf_fit_result *r)
{
    *classes = 0;
    if (!o->labels) return VF_OK;
    const vf_fit_stage in = VF_FIT_STAGE_INPUT;
    for (int64_t i = 0; i < n; i++) {
        if (o->labels[i] < 0)
            return vf__fit_fail(r, in, VF_ERR_ARG, "row %lld: label %lld is negative", (long long)(i + 1),
                                (long long)o->labels[i]);
        if (o->labels[i] + 1 > *classes) *classes = o->labels[i] + 1;
    }
    for (int64_t i = 0; valid && o->valid_labels && i < nv; i++)
        if (o->valid_labels[i] < 0 || o->valid_labels[i] >= *classes)
            return vf__fit_fail(r, in, VF_ERR_ARG, "validation row %lld: label %lld is not among the training labels "
                                "0..%lld", (long long)(i + 1), (long long)o->valid_labels[i], (long long)(*classes - 1));
    return VF_OK;
}

/* The run's record on m (the keys of `varflow fit` for continuous flows). */
static vf_status cnf_meta(vf_fitted *m, const char *spec, const vf_fit_table_options *o, const vf_fit_result *r)
{
    char steps[32], epochs[32], tl[40], vl[40], tn[40], vn[40], seed[32], batch[32], lr[40];
    snprintf(steps, sizeof steps, "%lld", (long long)r->steps);
    snprintf(epochs, sizeof epochs, "%lld", (long long)r->epochs);
    snprintf(tl, sizeof tl, "%.9g", r->train_loss);
    snprintf(vl, sizeof vl, isfinite(r->valid_loss) ? "%.9g" : "null", r->valid_loss);
    snprintf(tn, sizeof tn, isfinite(r->train_nll) ? "%.9g" : "null", r->train_nll);
    snprintf(vn, sizeof vn, isfinite(r->valid_nll) ? "%.9g" : "null", r->valid_nll);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->fit.seed);
    snprintf(batch, sizeof batch, "%lld", (long long)o->fit.batch);
    snprintf(lr, sizeof lr, "%g", o->fit.lr);
    const char *keys[] = {"fit.spec", "fit.data", "fit.seed", "fit.batch", "fit.lr", "fit.steps", "fit.epochs",
                          "fit.train_loss", "fit.valid_loss", "fit.train_nll", "fit.valid_nll", "fit.standardize",
                          "varflow_version", "fit.source"};
    const char *values[] = {spec, o->data_name ? o->data_name : "array", seed, batch, lr, steps, epochs, tl, vl, tn, vn,
                            o->standardize ? "1" : "0", vf_version(),
                            o->source_name ? o->source_name : "array"};
    int n = (int)(sizeof keys / sizeof keys[0]) - (o->source ? 0 : 1);
    vf_status s = VF_OK;
    for (int i = 0; s == VF_OK && i < n; i++) s = vf_fitted_set_meta(m, keys[i], values[i]);
    return s;
}

vf_status vf__fit_table_cnf(const char *spec, const vf_real *x, int64_t n, int64_t d, const vf_real *valid,
                            int64_t nv, const vf_fit_table_options *o, vf_fitted **out, vf_fit_result *r)
{
    const vf_fit_stage in = VF_FIT_STAGE_INPUT;
    if (o->fit.dequantize || o->checkpoint || o->resume || o->fit.checkpoint || o->fit.resume)
        return vf__fit_fail(r, in, VF_ERR_UNSUPPORTED, "continuous flows take no dequantization, checkpoints or resume");
    if (o->source && (o->source_rows < 1))
        return vf__fit_fail(r, in, VF_ERR_ARG, "a data source needs at least one row");
    vf__split sp;
    vf_status s = vf__fit_split(x, n, d, NULL, 0, o->labels, valid, nv, NULL, o->valid_labels, o, 2,
                                "to train on (and hold out a validation split)", &sp, r);
    if (s != VF_OK) return s;
    vf_fitted *m = NULL;
    vf_real *mean = NULL, *sd = NULL, *train = NULL, *vstd = NULL;
    double *stats = NULL;
    FILE *log = NULL;
    int64_t classes = 0;
    if ((s = check_labels(o, n, valid, nv, &classes, r)) != VF_OK) goto done;
    vf_cnf_spec cs;
    vf_meanflow_options mfo;
    if ((s = vf_cnf_spec_from_string(spec, d, classes, &cs, &mfo)) != VF_OK) {
        vf__fit_fail(r, VF_FIT_STAGE_SPEC, s, "%s", vf_last_error());
        goto done;
    }
    if (o->source) cs.source.kind = VF_CNF_SOURCE_DATA, cs.source.df = 0;
    if (!(mean = malloc(sizeof(vf_real) * (size_t)d)) || !(sd = malloc(sizeof(vf_real) * (size_t)d)) ||
        !(stats = malloc(sizeof(double) * (size_t)(2 * d))))
        goto nomem;
    for (int64_t j = 0; j < d; j++) mean[j] = 0, sd[j] = 1;
    if (o->standardize) {
        if ((s = vf_standardize_stats(sp.train, sp.nt, d, 0, stats, stats + d)) != VF_OK) {
            vf__fit_fail(r, VF_FIT_STAGE_STANDARDIZE, s, "cannot standardize %s: %s",
                         o->data_name ? o->data_name : "array", vf_last_error());
            goto done;
        }
        for (int64_t j = 0; j < d; j++) mean[j] = (vf_real)stats[j], sd[j] = (vf_real)stats[d + j];
    }
    if (!(m = vf__fitted_new(VF_FITTED_CNF))) goto nomem;
    if ((s = vf_cnf_model_new(&cs, o->fit.seed, &m->cnf)) != VF_OK ||
        (s = vf_cnf_model_set_standardization(m->cnf, mean, sd)) != VF_OK) {
        vf__fit_fail(r, s == VF_ERR_ARG && !m->cnf ? VF_FIT_STAGE_SPEC : in, s, "%s", vf_last_error());
        goto done;
    }
    if (!(train = standardized(sp.train, sp.nt, d, mean, sd)) ||
        (sp.nv > 0 && !(vstd = standardized(sp.valid, sp.nv, d, mean, sd))))
        goto nomem;
    if (o->log_path && !(log = fopen(o->log_path, "w"))) {
        s = vf__fit_fail(r, VF_FIT_STAGE_LOG, VF_ERR_IO, "cannot write %s", o->log_path);
        goto done;
    }
    vf_cnf_fit_data data = {train, sp.nt, sp.train_lab, vstd, sp.nv, sp.valid_lab, o->source,
                            o->source ? o->source_rows : 0, NULL, NULL, 0, &mfo};
    vf_cnf_fit_result cr;
    if ((s = vf_cnf_fit(m->cnf, &data, &o->fit, log, &cr)) != VF_OK) {
        vf__fit_fail(r, VF_FIT_STAGE_TRAIN, s, "%s", cr.error);
        goto done;
    }
    if (log) {
        int bad = ferror(log) | (fclose(log) != 0);
        log = NULL;
        if (bad) {
            s = vf__fit_fail(r, VF_FIT_STAGE_LOG, VF_ERR_IO, "cannot write %s", o->log_path);
            goto done;
        }
    }
    r->train_loss = cr.train_loss;
    r->valid_loss = cr.valid_loss;
    r->steps = cr.steps;
    r->epochs = cr.epochs;
    r->best_epoch = cr.best_epoch;
    r->stopped_early = cr.stopped_early;
    r->seconds = cr.seconds;
    r->train_rows = sp.nt;
    r->valid_rows = sp.nv;
    r->params = vf_cnf_model_param_count(m->cnf);
    if (d <= NLL_MAX_DIM && !o->source && cs.objective != VF_CNF_MEANFLOW && o->nll_rows > 0) {
        if (vf_cnf_mean_nll(m->cnf, sp.train, sp.train_lab, sp.nt, o->nll_rows, &r->train_nll) != VF_OK)
            r->train_nll = NAN;
        if (sp.nv > 0 && vf_cnf_mean_nll(m->cnf, sp.valid, sp.valid_lab, sp.nv, o->nll_rows, &r->valid_nll) != VF_OK)
            r->valid_nll = NAN;
    }
    if ((s = cnf_meta(m, spec, o, r)) != VF_OK) {
        vf__fit_fail(r, in, s, "%s", vf_last_error());
        goto done;
    }
    *out = m;
    m = NULL;
    s = VF_OK;
    goto done;
nomem:
    s = vf__fit_fail(r, in, VF_ERR_NOMEM, "out of memory");
done:
    if (log) fclose(log);
    vf_fitted_free(m);
    free(mean), free(sd), free(stats), free(train), free(vstd);
    vf__split_free(&sp);
    return s;
}
