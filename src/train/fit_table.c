/* fit_table.c — vf_fit_table for normalizing flows: what `varflow fit` does around vf_fit_flow
 * (the split, standardization, initialization, checkpoints, the log, the metadata); vf_train.h.
 * Continuous-flow specs go to fit_table_cnf.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "flows/flow_internal.h"
#include "train/train_internal.h"

#define FIT_INIT_ROWS 4096

/* With a box (o->box_hi > o->box_lo): the logit transform's interval, the box widened by
 * (hi - lo) alpha / (1 - 2 alpha) on each side, whose logit is the continuous flows' logit(alpha +
 * (1 - 2 alpha) (x - lo) / (hi - lo)) (vf_cnf_model.h, "Data on a box"). */
static void widened_box(const vf_fit_table_options *o, double *lo, double *hi)
{
    double w = o->box_hi - o->box_lo, delta = w * o->box_alpha / (1 - 2 * o->box_alpha);
    *lo = o->box_lo - delta;
    *hi = o->box_hi + delta;
}

/* The flow of spec for d columns (context c), behind (with a box) a logit transform of the widened
 * box and (when stats is not NULL) a standardize transform with loc = stats [d] and scale = stats + d
 * [d]. */
static vf_status build_flow(const char *spec, const double *stats, int64_t d, int64_t c, const vf_fit_table_options *o,
                            vf_params *p, vf_flow **flow, vf_fit_result *r)
{
    vf_status s = VF_OK;
    vf_transform *lead[2] = {NULL, NULL};
    int n_lead = 0;
    if (o->box_hi > o->box_lo) {
        double *bounds = malloc(sizeof(double) * (size_t)(2 * d));
        if (!bounds) return vf__fit_fail(r, VF_FIT_STAGE_INPUT, VF_ERR_NOMEM, "out of memory");
        for (int64_t j = 0; j < d; j++) widened_box(o, bounds + j, bounds + d + j);
        vf_logit_params lp = vf_logit_default_params(d);
        lp.context = c;
        lp.lo = bounds;
        lp.hi = bounds + d;
        s = vf_logit_new(p, "transforms.0", &lp, &lead[n_lead]);
        free(bounds);
        if (s == VF_OK) s = vf__logit_keep_samples_in(lead[n_lead], o->box_lo, o->box_hi); /* samples in the box */
        if (s != VF_OK) {
            vf_transform_free(lead[n_lead]);
            return vf__fit_fail(r, VF_FIT_STAGE_INPUT, s, "%s", vf_last_error());
        }
        n_lead++;
    }
    if (stats) {
        vf_standardize_params sp = vf_standardize_default_params(d);
        sp.context = c;
        sp.loc = stats;
        sp.scale = stats + d;
        if ((s = vf_standardize_new(p, n_lead ? "transforms.1" : "transforms.0", &sp, &lead[n_lead])) != VF_OK) {
            vf_transform_free(lead[0]); /* bad data, not a bad spec */
            return vf__fit_fail(r, VF_FIT_STAGE_STANDARDIZE, s == VF_ERR_ARG ? VF_ERR_NUMERIC : s, "%s",
                                vf_last_error());
        }
        n_lead++;
    }
    s = n_lead ? vf_flow_from_spec_after(spec, d, c, n_lead, lead, p, flow) : vf_flow_from_spec(spec, d, c, p, flow);
    if (s != VF_OK) return vf__fit_fail(r, s == VF_ERR_ARG ? VF_FIT_STAGE_SPEC : VF_FIT_STAGE_INPUT, s, "%s", vf_last_error());
    return VF_OK;
}

/* With a box: its settings, and every value of x [n, d] (and valid [nv, d]) inside it (x + 1 too with
 * dequantization, whose noise lies in [0, 1)). */
static vf_status check_box(const vf_real *x, int64_t n, int64_t d, const vf_real *valid, int64_t nv,
                           const vf_fit_table_options *o, vf_fit_result *r)
{
    const vf_fit_stage in = VF_FIT_STAGE_INPUT;
    double lo = o->box_lo, hi = o->box_hi, top = o->fit.dequantize ? 1 : 0;
    if (!(hi > lo)) return VF_OK;
    if (!isfinite(lo) || !isfinite(hi) || !isfinite(hi - lo) || !(o->box_alpha >= 0 && o->box_alpha < 0.5))
        return vf__fit_fail(r, in, VF_ERR_ARG, "the box needs finite lo < hi and 0 <= alpha < 0.5 (got %g, %g, %g)", lo,
                            hi, o->box_alpha);
    for (int k = 0; k < 2; k++) {
        const vf_real *t = k ? valid : x;
        int64_t rows = k ? nv : n;
        for (int64_t i = 0; t && i < rows * d; i++)
            if (!((double)t[i] >= lo && (double)t[i] + top <= hi))
                return vf__fit_fail(r, in, VF_ERR_ARG, "%s row %lld column %lld: %.9g%s is outside the box [%g, %g]",
                                    k ? "validation" : "training", (long long)(i / d + 1), (long long)(i % d + 1),
                                    (double)t[i], top > 0 ? " (+ the dequantization noise, up to 1)" : "", lo, hi);
    }
    return VF_OK;
}

/* The standardization statistics (mean [d], then std [d]) of the training rows as the standardize
 * transform sees them: through the box's logit when there is one (dequantized first by one seeded
 * draw when dequantizing), else vf_standardize_stats (which accounts for the noise exactly). */
static vf_status flow_stats(const vf__split *sp, int64_t d, const vf_fit_table_options *o, double *stats)
{
    if (!(o->box_hi > o->box_lo)) return vf_standardize_stats(sp->train, sp->nt, d, o->fit.dequantize, stats, stats + d);
    vf_real *y = malloc(sizeof(vf_real) * (size_t)(sp->nt * d > 0 ? sp->nt * d : 1));
    if (!y) return vf__error(VF_ERR_NOMEM, "out of memory");
    double lo, hi;
    widened_box(o, &lo, &hi);
    vf_rng rng;
    vf_rng_init(&rng, o->fit.seed, 14);
    for (int64_t k = 0; k < sp->nt * d; k++) {
        double x = (double)sp->train[k] + (o->fit.dequantize ? vf_rng_uniform(&rng) : 0.0), u = (x - lo) / (hi - lo);
        y[k] = (vf_real)(log(u) - log1p(-u));
    }
    vf_status s = vf_standardize_stats(y, sp->nt, d, 0, stats, stats + d);
    free(y);
    return s;
}

/* A new flow of spec for the training rows: standardization statistics, construction, finalize,
 * data-dependent initialization (on dequantized values with dequantize). */
static vf_status new_flow(const char *spec, const vf__split *sp, int64_t d, int64_t c, const vf_fit_table_options *o,
                          vf_fitted **out, vf_fit_result *r)
{
    const vf_fit_options *fo = &o->fit;
    double *stats = NULL;
    vf_real *init = NULL;
    vf_tape *t = NULL;
    vf_fitted *m = vf__fitted_new(VF_FITTED_FLOW);
    vf_status s = VF_ERR_NOMEM;
    if (!m || !(m->params = vf_params_new())) goto nomem;
    if (o->standardize) { /* statistics of the training rows (of the noisy values with dequantize) */
        if (!(stats = malloc(sizeof(double) * (size_t)(2 * d)))) goto nomem;
        if ((s = flow_stats(sp, d, o, stats)) != VF_OK) {
            vf__fit_fail(r, VF_FIT_STAGE_STANDARDIZE, s, "cannot standardize %s: %s",
                         o->data_name ? o->data_name : "array", vf_last_error());
            goto done;
        }
    }
    if ((s = build_flow(spec, stats, d, c, o, m->params, &m->flow, r)) != VF_OK) goto done;
    if ((s = vf_params_finalize(m->params, fo->seed)) != VF_OK) {
        vf__fit_fail(r, VF_FIT_STAGE_INPUT, s, "%s", vf_last_error());
        goto done;
    }
    if (!(t = vf_tape_new())) goto nomem;
    int64_t rows = sp->nt < FIT_INIT_ROWS ? sp->nt : FIT_INIT_ROWS;
    if (fo->dequantize) { /* initialize on the same dequantized values the training sees */
        if (!(init = malloc(sizeof(vf_real) * (size_t)(rows * d)))) goto nomem;
        vf_rng rng;
        vf_rng_init(&rng, fo->seed, 13);
        for (int64_t k = 0; k < rows * d; k++) init[k] = (vf_real)((double)sp->train[k] + vf_rng_uniform(&rng));
    }
    vf_var cv = c > 0 ? vf_input(t, sp->train_ctx, 2, (int64_t[]){rows, c}) : VF_NOVAR;
    s = vf_flow_data_init(m->flow, m->params, t, vf_input(t, init ? init : sp->train, 2, (int64_t[]){rows, d}), cv);
    if (s != VF_OK) {
        vf__fit_fail(r, VF_FIT_STAGE_INIT, s, "data-dependent initialization failed: %s", vf_last_error());
        goto done;
    }
    *out = m;
    m = NULL;
    s = VF_OK;
    goto done;
nomem:
    s = vf__fit_fail(r, VF_FIT_STAGE_INPUT, VF_ERR_NOMEM, "out of memory");
done:
    vf_tape_free(t);
    free(init);
    free(stats);
    vf_fitted_free(m);
    return s;
}

vf_status vf_fit_table(const char *spec, const vf_real *x, int64_t n, int64_t d, const vf_real *context, int64_t c,
                       const vf_real *valid, int64_t nv, const vf_real *valid_context, const vf_fit_table_options *o,
                       vf_fitted **out, vf_fit_result *r)
{
    vf_fit_result local;
    if (!r) r = &local;
    memset(r, 0, sizeof *r);
    r->train_nll = r->valid_nll = r->train_loss = r->valid_loss = NAN;
    if (out) *out = NULL;
    if (!o || !spec || !*spec || (!out && !o->resume))
        return vf__fit_fail(r, VF_FIT_STAGE_INPUT, VF_ERR_ARG, "vf_fit_table: NULL options, spec or output");
    if (vf_fit_is_cnf_spec(spec)) {
        if (c > 0 || context) return vf__fit_fail(r, VF_FIT_STAGE_INPUT, VF_ERR_UNSUPPORTED, "continuous flows take "
                                                  "class labels, not a real-valued context");
        return vf__fit_table_cnf(spec, x, n, d, valid, nv, o, out, r);
    }
    if (o->labels || o->valid_labels || o->source)
        return vf__fit_fail(r, VF_FIT_STAGE_INPUT, VF_ERR_UNSUPPORTED, "%s is a flow: class labels and a data source "
                            "are for continuous flows (a flow takes a context)", spec);
    vf__split sp;
    vf_status s = vf__fit_split(x, n, d, context, c, NULL, valid, nv, valid_context, NULL, o, 1,
                                "to hold out a validation split", &sp, r);
    if (s != VF_OK) return s;
    vf_fitted *m = o->resume;
    FILE *log = NULL;
    if (m && (m->kind != VF_FITTED_FLOW || vf_flow_dim(m->flow) != d || vf_flow_context_dim(m->flow) != c ||
              !o->resume_state)) {
        s = vf__fit_fail(r, VF_FIT_STAGE_INPUT, VF_ERR_ARG, "the model to resume is not a flow of dimension %lld "
                         "(context %lld) with its state", (long long)d, (long long)c);
        goto done;
    }
    if ((s = check_box(x, n, d, valid, nv, o, r)) != VF_OK) goto done;
    if (m && (s = vf__fit_check_resume_box(m, o, r)) != VF_OK) goto done;
    if (!m && (s = new_flow(spec, &sp, d, c, o, &m, r)) != VF_OK) goto done;
    if ((s = vf__fit_settings_meta(m, spec, o, valid != NULL)) != VF_OK) {
        vf__fit_fail(r, VF_FIT_STAGE_INPUT, s, "%s", vf_last_error());
        goto done;
    }
    vf_fit_options fo = o->fit;
    if (o->resume) fo.resume = o->resume_state;
    vf_fit_ckpt ck = {o->checkpoint, m->flow, m->params, m->meta.n, (const char *const *)m->meta.keys,
                      (const char *const *)m->meta.values, sp.nt, d, NULL};
    if (o->checkpoint) {
        fo.checkpoint = vf_fit_checkpoint_write;
        fo.checkpoint_ctx = &ck;
    }
    if ((s = vf__fit_open_log(o, &log, r)) != VF_OK) goto done;
    s = vf_fit_flow(m->flow, m->params, sp.train, sp.train_ctx, sp.nt, sp.valid, sp.valid_ctx, sp.nv, d, c, &fo, log,
                    r);
    if (s != VF_OK) {
        r->stage = VF_FIT_STAGE_TRAIN;
        goto done;
    }
    s = vf__fit_close_log(o, log, r);
    log = NULL;
    if (s != VF_OK) goto done;
    if ((s = vf__fit_result_meta(m, r, 0)) != VF_OK) {
        vf__fit_fail(r, VF_FIT_STAGE_INPUT, s, "%s", vf_last_error());
        goto done;
    }
    r->train_loss = r->valid_loss = NAN;
    r->train_rows = sp.nt;
    r->valid_rows = sp.nv;
    r->params = vf_params_size(m->params);
    if (!o->resume) *out = m;
    m = NULL;
done:
    if (log) fclose(log);
    if (m != o->resume) vf_fitted_free(m);
    vf__split_free(&sp);
    return s;
}
