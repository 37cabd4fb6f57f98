/* actnorm.c — ActNorm (Kingma & Dhariwal 2018, Glow): a per-feature affine map with data-dependent
 * initialization.
 *
 *   forward  z = (x - loc) * exp(-log_scale),   log|det dz/dx| = -sum_j log_scale_j
 *   inverse  x = z * exp(log_scale) + loc,      log|det dx/dz| = +sum_j log_scale_j
 *
 * data_init reads the batch's values, sets loc to the per-feature mean and log_scale to the log of the
 * per-feature standard deviation (divisor n; 0 where it is at most min_scale: a constant feature keeps
 * scale 1), both accumulated in double, and returns the forward map with these values: the batch then
 * has zero mean and unit variance.
 */
#include <math.h>
#include "flows/flow_internal.h"
#include "nn/nn_internal.h"
#include "varflow/vf_transforms.h"

typedef struct actnorm_transform {
    vf_transform base;
    double min_scale;
    int32_t loc, log_scale; /* parameter ids, [d] each */
} actnorm_transform;

/* [n] node holding the constant-in-x log-determinant sign * sum(log_scale). */
static vf_var row_constant(vf_tape *t, vf_var x, vf_var log_scale, double sign)
{
    vf_var s = vf_scale(t, vf_sum(t, log_scale, VF_ALL_AXES, 0), sign);
    return vf_add(t, vf__flow_zeros(t, vf__flow_rows(t, x)), s);
}

static vf_var actnorm_forward(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, vf_var *ladj)
{
    (void)ctx;
    const actnorm_transform *a = (const actnorm_transform *)tr;
    vf_var loc = vf_params_var(p, t, a->loc);
    vf_var ls = vf_params_var(p, t, a->log_scale);
    vf_var z = vf_mul(t, vf_sub(t, x, loc), vf_exp(t, vf_neg(t, ls)));
    *ladj = row_constant(t, x, ls, -1.0);
    return z;
}

static vf_var actnorm_inverse(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var z, vf_var ctx, vf_var *ladj)
{
    (void)ctx;
    const actnorm_transform *a = (const actnorm_transform *)tr;
    vf_var loc = vf_params_var(p, t, a->loc);
    vf_var ls = vf_params_var(p, t, a->log_scale);
    vf_var x = vf_add(t, vf_mul(t, z, vf_exp(t, ls)), loc);
    *ladj = row_constant(t, z, ls, 1.0);
    return x;
}

static vf_var actnorm_data_init(vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx)
{
    const actnorm_transform *a = (const actnorm_transform *)tr;
    if (!vf__ok(t, "actnorm", 1, &x)) return VF_NOVAR;
    vf_real *loc = vf_params_data(p, a->loc), *ls = vf_params_data(p, a->log_scale);
    if (!loc || !ls)
        return vf__fail(t, VF_ERR_STATE, "actnorm: data_init needs a finalized parameter store holding its parameters");
    const vf_tensor *xv = vf_value(t, x);
    const int64_t n = xv->shape[0], d = tr->dim;
    if (n < 1) return vf__fail(t, VF_ERR_ARG, "actnorm: data_init needs at least one row");
    for (int64_t j = 0; j < d; j++) { /* check every feature first: nothing is written on failure */
        double m = 0.0, v = 0.0;
        for (int64_t i = 0; i < n; i++) m += (double)xv->data[i * d + j];
        m /= (double)n;
        for (int64_t i = 0; i < n; i++) v += ((double)xv->data[i * d + j] - m) * ((double)xv->data[i * d + j] - m);
        if (!isfinite(m) || !isfinite(v))
            return vf__fail(t, VF_ERR_NUMERIC, "actnorm: data_init: feature %lld has non-finite values", (long long)j);
    }
    for (int64_t j = 0; j < d; j++) {
        double m = 0.0, v = 0.0;
        for (int64_t i = 0; i < n; i++) m += (double)xv->data[i * d + j];
        m /= (double)n;
        for (int64_t i = 0; i < n; i++) v += ((double)xv->data[i * d + j] - m) * ((double)xv->data[i * d + j] - m);
        double sd = sqrt(v / (double)n);
        loc[j] = (vf_real)m;
        /* a feature constant in the batch keeps scale 1: scaling it by 1 / min_scale would blow up every
         * later variation of it (a constant data column made glow diverge at its third step) */
        ls[j] = (vf_real)(sd > a->min_scale ? log(sd) : 0.0);
    }
    vf_var ladj = VF_NOVAR;
    return actnorm_forward(tr, p, t, x, ctx, &ladj);
}

static vf_status actnorm_describe(const vf_transform *tr, char *json, size_t len)
{
    const actnorm_transform *a = (const actnorm_transform *)tr;
    return vf__json_printf(json, len, "{\"kind\":\"actnorm\",\"dim\":%lld,\"context\":%lld,\"min_scale\":%.17g}",
                           (long long)tr->dim, (long long)tr->context, a->min_scale);
}

static void actnorm_destroy(vf_transform *tr) { vf_free(tr); }

static const vf_transform_vtable actnorm_vt = {"actnorm",        actnorm_forward, actnorm_inverse,
                                               actnorm_describe, actnorm_destroy, actnorm_data_init};

vf_actnorm_params vf_actnorm_default_params(int64_t d)
{
    vf_actnorm_params kp;
    kp.dim = d;
    kp.context = 0;
    kp.min_scale = 1e-6;
    return kp;
}

vf_status vf_actnorm_new(vf_params *p, const char *name, const vf_actnorm_params *kp, vf_transform **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "actnorm: NULL output");
    *out = NULL;
    if (!p || !kp) return vf__error(VF_ERR_ARG, "actnorm: NULL parameter store or settings");
    if (kp->dim < 1 || kp->context < 0)
        return vf__error(VF_ERR_ARG, "actnorm: dimension %lld (>= 1), context %lld (>= 0)", (long long)kp->dim,
                         (long long)kp->context);
    if (!(kp->min_scale > 0.0) || !isfinite(kp->min_scale))
        return vf__error(VF_ERR_ARG, "actnorm: min_scale %g must be positive and finite", kp->min_scale);
    actnorm_transform *a = vf_calloc(1, sizeof *a);
    if (!a) return VF_ERR_NOMEM;
    const int32_t count = vf_params_count(p);
    char buf[VF_PARAM_NAME_MAX];
    vf_status s = vf__param_name(buf, sizeof buf, name, "loc");
    if (s == VF_OK) s = vf_params_add(p, buf, 1, &kp->dim, vf_init_zeros(), &a->loc);
    if (s == VF_OK) s = vf__param_name(buf, sizeof buf, name, "log_scale");
    if (s == VF_OK) s = vf_params_add(p, buf, 1, &kp->dim, vf_init_zeros(), &a->log_scale);
    if (s != VF_OK) {
        vf__params_truncate(p, count);
        vf_free(a);
        return s;
    }
    a->base.vt = &actnorm_vt;
    a->base.dim = kp->dim;
    a->base.context = kp->context;
    a->min_scale = kp->min_scale;
    *out = &a->base;
    return VF_OK;
}
