/* standardize.c — fixed per-feature standardization z = (x - loc) / scale, the first transform of a
 * flow fitted by `varflow fit`, so that every log-density of the flow includes the data scaling and
 * its Jacobian, log|det| = -sum(log scale), the same for every row.
 *
 * loc and scale are settings, not parameters: they are kept in double (describe() writes them with
 * %.17g, so a model file restores them exactly) and put on the tape as vf_real constants. The column
 * statistics helper accumulates in double with two passes (mean, then squared deviations).
 */
#include <math.h>
#include <string.h>
#include "flows/flow_internal.h"
#include "varflow/vf_transforms.h"

typedef struct standardize_transform {
    vf_transform base;
    double *loc, *scale;  /* [d] each, the settings */
    vf_real *consts;      /* [2d]: loc, scale as vf_real (tape constants, borrowed by vf_input) */
    double sum_log_scale; /* sum_i log(scale_i) */
} standardize_transform;

static vf_var row_constant(vf_tape *t, vf_var x, double value)
{
    return vf_add_scalar(t, vf__flow_zeros(t, vf__flow_rows(t, x)), value);
}

static vf_var standardize_forward(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx,
                                  vf_var *ladj)
{
    (void)p;
    (void)ctx;
    const standardize_transform *st = (const standardize_transform *)tr;
    const int64_t d = tr->dim;
    vf_var loc = vf_input(t, st->consts, 1, &d), scale = vf_input(t, st->consts + d, 1, &d);
    *ladj = row_constant(t, x, -st->sum_log_scale);
    return vf_div(t, vf_sub(t, x, loc), scale);
}

static vf_var standardize_inverse(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var z, vf_var ctx,
                                  vf_var *ladj)
{
    (void)p;
    (void)ctx;
    const standardize_transform *st = (const standardize_transform *)tr;
    const int64_t d = tr->dim;
    vf_var loc = vf_input(t, st->consts, 1, &d), scale = vf_input(t, st->consts + d, 1, &d);
    *ladj = row_constant(t, z, st->sum_log_scale);
    return vf_add(t, vf_mul(t, z, scale), loc);
}

static vf_status standardize_describe(const vf_transform *tr, char *json, size_t len)
{
    const standardize_transform *st = (const standardize_transform *)tr;
    size_t pos = 0;
    vf_status s = vf__json_append(json, len, &pos, "{\"kind\":\"standardize\",\"dim\":%lld,\"context\":%lld,\"loc\":[",
                                  (long long)tr->dim, (long long)tr->context);
    for (int64_t i = 0; s == VF_OK && i < tr->dim; i++)
        s = vf__json_append(json, len, &pos, "%s%.17g", i ? "," : "", st->loc[i]);
    if (s == VF_OK) s = vf__json_append(json, len, &pos, "],\"scale\":[");
    for (int64_t i = 0; s == VF_OK && i < tr->dim; i++)
        s = vf__json_append(json, len, &pos, "%s%.17g", i ? "," : "", st->scale[i]);
    if (s == VF_OK) s = vf__json_append(json, len, &pos, "]}");
    return s;
}

static void standardize_destroy(vf_transform *tr)
{
    standardize_transform *st = (standardize_transform *)tr;
    vf_free(st->loc);
    vf_free(st->consts);
    vf_free(st);
}

static const vf_transform_vtable standardize_vt = {"standardize", standardize_forward, standardize_inverse,
                                                   standardize_describe, standardize_destroy, NULL};

vf_standardize_params vf_standardize_default_params(int64_t d)
{
    vf_standardize_params kp;
    kp.dim = d;
    kp.context = 0;
    kp.loc = NULL;
    kp.scale = NULL;
    return kp;
}

vf_status vf_standardize_new(vf_params *p, const char *name, const vf_standardize_params *kp, vf_transform **out)
{
    (void)p;
    (void)name;
    if (!out) return vf__error(VF_ERR_ARG, "standardize: NULL output");
    *out = NULL;
    if (!kp) return vf__error(VF_ERR_ARG, "standardize: NULL settings");
    const int64_t d = kp->dim;
    if (d < 1 || kp->context < 0)
        return vf__error(VF_ERR_ARG, "standardize: dimension %lld (>= 1), context %lld (>= 0)", (long long)d,
                         (long long)kp->context);
    if ((uint64_t)d > SIZE_MAX / (4 * sizeof(double))) return vf__error(VF_ERR_ARG, "standardize: dimension too large");
    for (int64_t i = 0; i < d; i++) {
        double l = kp->loc ? kp->loc[i] : 0.0, sc = kp->scale ? kp->scale[i] : 1.0;
        if (!isfinite(l))
            return vf__error(VF_ERR_ARG, "standardize: loc[%lld] = %g is not finite", (long long)i, l);
        if (!(sc > 0.0) || !isfinite(sc) || !isfinite(log(sc)) || !((vf_real)sc > 0) || !isfinite((vf_real)sc))
            return vf__error(VF_ERR_ARG, "standardize: scale[%lld] = %g must be positive and finite", (long long)i, sc);
    }
    standardize_transform *st = vf_calloc(1, sizeof *st);
    double *settings = st ? vf_calloc(2 * (size_t)d, sizeof *settings) : NULL;
    vf_real *consts = settings ? vf_calloc(2 * (size_t)d, sizeof *consts) : NULL;
    if (!consts) {
        vf_free(settings);
        vf_free(st);
        return VF_ERR_NOMEM;
    }
    double sum_log = 0.0;
    for (int64_t i = 0; i < d; i++) {
        settings[i] = kp->loc ? kp->loc[i] : 0.0;
        settings[d + i] = kp->scale ? kp->scale[i] : 1.0;
        consts[i] = (vf_real)settings[i];
        consts[d + i] = (vf_real)settings[d + i];
        sum_log += log((double)consts[d + i]);
    }
    st->base.vt = &standardize_vt;
    st->base.dim = d;
    st->base.context = kp->context;
    st->loc = settings;
    st->scale = settings + d;
    st->consts = consts;
    st->sum_log_scale = sum_log;
    *out = &st->base;
    return VF_OK;
}

const double *vf_standardize_loc(const vf_transform *tr)
{
    return tr && tr->vt == &standardize_vt ? ((const standardize_transform *)tr)->loc : NULL;
}

const double *vf_standardize_scale(const vf_transform *tr)
{
    return tr && tr->vt == &standardize_vt ? ((const standardize_transform *)tr)->scale : NULL;
}

vf_status vf_standardize_stats(const vf_real *x, int64_t n, int64_t d, int dequantized, double *loc, double *scale)
{
    if (!x || !loc || !scale) return vf__error(VF_ERR_ARG, "standardize_stats: NULL argument");
    if (n < 1 || d < 1)
        return vf__error(VF_ERR_ARG, "standardize_stats: need n >= 1 rows and d >= 1 columns (got %lld, %lld)",
                         (long long)n, (long long)d);
    for (int64_t j = 0; j < d; j++) {
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++) sum += (double)x[i * d + j];
        double mean = sum / (double)n, ss = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double e = (double)x[i * d + j] - mean;
            ss += e * e;
        }
        double var = ss / (double)n;
        if (!isfinite(mean) || !isfinite(var))
            return vf__error(VF_ERR_ARG, "standardize_stats: column %lld has non-finite values", (long long)j);
        if (dequantized) {
            loc[j] = mean + 0.5;
            scale[j] = sqrt(var + 1.0 / 12.0);
        } else {
            loc[j] = mean;
            scale[j] = var > 0.0 ? sqrt(var) : 1.0;
        }
        /* A std so small that its float rounding or its logarithm is not usable counts as zero. */
        if (!((vf_real)scale[j] > 0) || !isfinite(log((double)(vf_real)scale[j]))) scale[j] = 1.0;
    }
    return VF_OK;
}
