/* fit_table_cnf.c — vf_fit_table for continuous flows: what `varflow fit --model cfm|...` does
 * around vf_cnf_fit (the split, the spec, standardization, dequantization, checkpoints and resume,
 * the log, the exact NLLs at the end, the metadata); vf_train.h. */
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

/* The first min(n, limit) rows of x [n, d] with U(0, 1) noise added to every value from r, in a new
 * array (the exact NLLs of a dequantized model are those of noisy rows, as in training). */
static vf_real *dequantized_rows(const vf_real *x, int64_t n, int64_t d, int64_t limit, vf_rng *r)
{
    int64_t k = n < limit ? n : limit;
    vf_real *out = malloc(sizeof(vf_real) * (size_t)(k * d > 0 ? k * d : 1));
    for (int64_t i = 0; out && i < k * d; i++) out[i] = (vf_real)((double)x[i] + vf_rng_uniform(r));
    return out;
}

/* With o->resume: the model must be a continuous flow of dimension d with `classes` labels, a data
 * source when o->source is given, and the spec its checkpoint records. */
static vf_status check_resume(const char *spec, int64_t d, int64_t classes, const vf_fit_table_options *o,
                              vf_fit_result *r)
{
    const vf_fit_stage in = VF_FIT_STAGE_INPUT;
    const vf_fitted *m = o->resume;
    if (m->kind != VF_FITTED_CNF || !m->cnf || m->cnf->spec.field.dim != d || !o->resume_state)
        return vf__fit_fail(r, in, VF_ERR_ARG, "the model to resume is not a continuous flow of dimension %lld with its "
                            "state", (long long)d);
    const char *was = vf_fitted_meta_get(m, "fit.spec");
    if (was && strcmp(was, spec) != 0)
        return vf__fit_fail(r, in, VF_ERR_ARG, "the model to resume was fitted as '%s', not '%s'", was, spec);
    if (m->cnf->spec.field.classes != classes)
        return vf__fit_fail(r, in, VF_ERR_ARG, "the model to resume was fitted with %lld class labels, this run has %lld",
                            (long long)m->cnf->spec.field.classes, (long long)classes);
    const vf_cnf_box *b = &m->cnf->box;
    int had_box = b->hi > b->lo, has_box = o->box_hi > o->box_lo;
    if (had_box != has_box || (has_box && (b->lo != o->box_lo || b->hi != o->box_hi || b->alpha != o->box_alpha)))
        return vf__fit_fail(r, in, VF_ERR_ARG, "the model to resume was fitted %s, this run has %s",
                            !had_box ? "without a box" : has_box ? "with another box" : "with a box",
                            has_box ? "one" : "none");
    int had_source = m->cnf->spec.source.kind == VF_CNF_SOURCE_DATA;
    if (had_source != (o->source != NULL))
        return vf__fit_fail(r, in, VF_ERR_ARG, "the model to resume was fitted %s a data source, this run has %s",
                            had_source ? "with" : "without", o->source ? "one" : "none");
    return VF_OK;
}

/* With a box: its settings, and every value of x [n, d] (and valid [nv, d]) inside it. */
static vf_status check_box(const vf_real *x, int64_t n, int64_t d, const vf_real *valid, int64_t nv,
                           const vf_fit_table_options *o, vf_fit_result *r)
{
    const vf_fit_stage in = VF_FIT_STAGE_INPUT;
    double lo = o->box_lo, hi = o->box_hi;
    if (!(hi > lo)) return VF_OK;
    if (!isfinite(lo) || !isfinite(hi) || !isfinite(hi - lo) || !(o->box_alpha >= 0 && o->box_alpha < 0.5))
        return vf__fit_fail(r, in, VF_ERR_ARG, "the box needs finite lo < hi and 0 <= alpha < 0.5 (got %g, %g, %g)", lo,
                            hi, o->box_alpha);
    if (o->fit.dequantize)
        return vf__fit_fail(r, in, VF_ERR_UNSUPPORTED, "a box and dequantization do not go together: add the U(0, 1) "
                            "noise to the data once beforehand and give the box of the noisy values");
    if (o->source) return vf__fit_fail(r, in, VF_ERR_UNSUPPORTED, "a data-to-data model takes no box");
    for (int k = 0; k < 2; k++) {
        const vf_real *t = k ? valid : x;
        int64_t rows = k ? nv : n;
        for (int64_t i = 0; t && i < rows * d; i++)
            if (!((double)t[i] >= lo && (double)t[i] <= hi))
                return vf__fit_fail(r, in, VF_ERR_ARG, "%s row %lld column %lld: %.9g is outside the box [%g, %g]",
                                    k ? "validation" : "training", (long long)(i / d + 1), (long long)(i % d + 1),
                                    (double)t[i], lo, hi);
    }
    return VF_OK;
}

/* The logits of rows x [n, d] in a new array (a copy without a box). */
static vf_real *box_logits(const vf_cnf_model *m, const vf_real *x, int64_t n, int64_t d)
{
    vf_real *out = malloc(sizeof(vf_real) * (size_t)(n * d > 0 ? n * d : 1));
    if (out && vf_cnf_model_box_logits(m, n, x, out) != VF_OK) { /* cannot happen after check_box */
        free(out);
        return NULL;
    }
    return out;
}

/* A new model of spec cs (seeded by o->fit.seed) standardized by the training rows' statistics (of the
 * dequantized values with dequantization; of their logits with a box). */
static vf_status new_model(const vf_cnf_spec *cs, const vf__split *sp, int64_t d, const vf_fit_table_options *o,
                           vf_fitted **out, vf_fit_result *r)
{
    const vf_fit_stage in = VF_FIT_STAGE_INPUT;
    vf_real *mean = malloc(sizeof(vf_real) * (size_t)d), *sd = malloc(sizeof(vf_real) * (size_t)d), *y = NULL;
    double *stats = malloc(sizeof(double) * (size_t)(2 * d));
    vf_fitted *m = NULL;
    vf_status s = VF_OK;
    if (!mean || !sd || !stats || !(m = vf__fitted_new(VF_FITTED_CNF))) {
        s = vf__fit_fail(r, in, VF_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((s = vf_cnf_model_new(cs, o->fit.seed, &m->cnf)) != VF_OK ||
        (o->box_hi > o->box_lo && (s = vf_cnf_model_set_box(m->cnf, o->box_lo, o->box_hi, o->box_alpha)) != VF_OK)) {
        vf__fit_fail(r, s == VF_ERR_ARG && !m->cnf ? VF_FIT_STAGE_SPEC : in, s, "%s", vf_last_error());
        goto done;
    }
    for (int64_t j = 0; j < d; j++) mean[j] = 0, sd[j] = 1;
    if (o->standardize) {
        if (!(y = box_logits(m->cnf, sp->train, sp->nt, d))) {
            s = vf__fit_fail(r, in, VF_ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((s = vf_standardize_stats(y, sp->nt, d, o->fit.dequantize, stats, stats + d)) != VF_OK) {
            vf__fit_fail(r, VF_FIT_STAGE_STANDARDIZE, s, "cannot standardize %s: %s",
                         o->data_name ? o->data_name : "array", vf_last_error());
            goto done;
        }
        for (int64_t j = 0; j < d; j++) mean[j] = (vf_real)stats[j], sd[j] = (vf_real)stats[d + j];
    }
    if ((s = vf_cnf_model_set_standardization(m->cnf, mean, sd)) != VF_OK) {
        vf__fit_fail(r, in, s, "%s", vf_last_error());
        goto done;
    }
    *out = m;
    m = NULL;
done:
    vf_fitted_free(m);
    free(mean), free(sd), free(stats), free(y);
    return s;
}

/* Rows x [n, d] as the field sees them (the logits with a box, standardized) in a new array. */
static vf_real *field_rows(const vf_cnf_model *m, const vf_real *x, int64_t n, int64_t d)
{
    vf_real *y = box_logits(m, x, n, d);
    vf_real *z = y ? standardized(y, n, d, m->mean, m->std) : NULL;
    free(y);
    return z;
}

vf_status vf__fit_table_cnf(const char *spec, const vf_real *x, int64_t n, int64_t d, const vf_real *valid,
                            int64_t nv, const vf_fit_table_options *o, vf_fitted **out, vf_fit_result *r)
{
    const vf_fit_stage in = VF_FIT_STAGE_INPUT;
    if (o->source && (o->source_rows < 1))
        return vf__fit_fail(r, in, VF_ERR_ARG, "a data source needs at least one row");
    vf__split sp;
    vf_status s = vf__fit_split(x, n, d, NULL, 0, o->labels, valid, nv, NULL, o->valid_labels, o, 2,
                                "to train on (and hold out a validation split)", &sp, r);
    if (s != VF_OK) return s;
    vf_fitted *m = o->resume;
    vf_real *train = NULL, *vstd = NULL, *nll_train = NULL, *nll_valid = NULL;
    FILE *log = NULL;
    int64_t classes = 0;
    if ((s = check_labels(o, n, valid, nv, &classes, r)) != VF_OK) goto done;
    if ((s = check_box(x, n, d, valid, nv, o, r)) != VF_OK) goto done;
    vf_cnf_spec cs;
    vf_meanflow_options mfo; /* not in the model file: from the spec, also on resume */
    if ((s = vf_cnf_spec_from_string(spec, d, classes, &cs, &mfo)) != VF_OK) {
        vf__fit_fail(r, VF_FIT_STAGE_SPEC, s, "%s", vf_last_error());
        goto done;
    }
    if (o->source) cs.source.kind = VF_CNF_SOURCE_DATA, cs.source.df = 0;
    if (m && (s = check_resume(spec, d, classes, o, r)) != VF_OK) goto done;
    if (!m && (s = new_model(&cs, &sp, d, o, &m, r)) != VF_OK) goto done;
    if (!(train = field_rows(m->cnf, sp.train, sp.nt, d)) || (sp.nv > 0 && !(vstd = field_rows(m->cnf, sp.valid, sp.nv, d))))
        goto nomem;
    if ((s = vf__fit_settings_meta(m, spec, o, valid != NULL)) != VF_OK) {
        vf__fit_fail(r, in, s, "%s", vf_last_error());
        goto done;
    }
    vf_fit_options fo = o->fit;
    if (o->resume) fo.resume = o->resume_state;
    vf_fit_ckpt ck = {o->checkpoint, NULL, m->cnf->params, m->meta.n, (const char *const *)m->meta.keys,
                      (const char *const *)m->meta.values, sp.nt, d, m->cnf};
    if (o->checkpoint) {
        fo.checkpoint = vf_fit_checkpoint_write;
        fo.checkpoint_ctx = &ck;
    }
    if ((s = vf__fit_open_log(o, &log, r)) != VF_OK) goto done;
    vf_cnf_fit_data data = {train, sp.nt, sp.train_lab, vstd, sp.nv, sp.valid_lab, o->source,
                            o->source ? o->source_rows : 0, NULL, NULL, 0, &mfo};
    vf_cnf_fit_result cr;
    if ((s = vf_cnf_fit(m->cnf, &data, &fo, log, &cr)) != VF_OK) {
        vf__fit_fail(r, VF_FIT_STAGE_TRAIN, s, "%s", cr.error);
        goto done;
    }
    s = vf__fit_close_log(o, log, r);
    log = NULL;
    if (s != VF_OK) goto done;
    r->train_loss = cr.train_loss;
    r->valid_loss = cr.valid_loss;
    r->steps = cr.steps;
    r->epochs = cr.epochs;
    r->best_epoch = cr.best_epoch;
    r->stopped_early = cr.stopped_early;
    r->paused = cr.paused;
    r->seconds = cr.seconds;
    r->train_rows = sp.nt;
    r->valid_rows = sp.nv;
    r->params = vf_cnf_model_param_count(m->cnf);
    /* the exact NLLs by ODE: once, by the process that reports them (rank 0 of a data-parallel fit) */
    int reports = o->fit.ranks <= 1 || o->fit.rank == 0;
    if (reports && d <= NLL_MAX_DIM && !o->source && m->cnf->spec.objective != VF_CNF_MEANFLOW && o->nll_rows > 0) {
        const vf_real *xt = sp.train, *xv = sp.valid;
        if (o->fit.dequantize) { /* noisy rows, from a generator of their own (stream 19) */
            vf_rng rng;
            vf_rng_init(&rng, o->fit.seed, 19);
            if (!(xt = nll_train = dequantized_rows(sp.train, sp.nt, d, o->nll_rows, &rng)) ||
                (sp.nv > 0 && !(xv = nll_valid = dequantized_rows(sp.valid, sp.nv, d, o->nll_rows, &rng))))
                goto nomem;
        }
        if (vf_cnf_mean_nll(m->cnf, xt, sp.train_lab, sp.nt, o->nll_rows, &r->train_nll) != VF_OK)
            r->train_nll = NAN;
        if (sp.nv > 0 && vf_cnf_mean_nll(m->cnf, xv, sp.valid_lab, sp.nv, o->nll_rows, &r->valid_nll) != VF_OK)
            r->valid_nll = NAN;
    }
    if ((s = vf__fit_result_meta(m, r, 1)) != VF_OK) {
        vf__fit_fail(r, in, s, "%s", vf_last_error());
        goto done;
    }
    if (!o->resume) *out = m;
    m = NULL;
    s = VF_OK;
    goto done;
nomem:
    s = vf__fit_fail(r, in, VF_ERR_NOMEM, "out of memory");
done:
    if (log) fclose(log);
    if (m != o->resume) vf_fitted_free(m);
    free(train), free(vstd), free(nll_train), free(nll_valid);
    vf__split_free(&sp);
    return s;
}
