/* elementwise.c — feature-wise bijections: the learnable elementwise affine map, sigmoid / logit on a
 * box, and scaled tanh / atanh. Each log-determinant is a row sum of per-entry terms.
 *
 *   affine   z = x exp(s) + b                     term s
 *   sigmoid  z = lo + w sigmoid(x), w = hi - lo   term log w - softplus(-x) - softplus(x)   (= log w sigma'(x))
 *   logit    z = log u - log1p(-u), u = (x-lo)/w  term -log w - log u - log1p(-u)
 *   tanh     z = a tanh(x)                        term log a + 2 (log 2 - x - softplus(-2x))  (= log a sech^2 x)
 *   atanh    z = (log1p(v) - log1p(-v)) / 2, v = x/a   term -log a - log1p(v) - log1p(-v)
 *
 * The softplus forms are exact rewrites that neither overflow nor lose the tails (log(1 - tanh^2)
 * would be log 0 for |x| > 9 in float). The box-to-R directions (logit, atanh) guard their domain:
 * entries outside the open interval are replaced by an inside value before any logarithm (so no NaN
 * reaches a value or a gradient), and vf_where then sets their output to 0 and their log-det term to
 * -inf. A NaN input is not treated as outside: it propagates as NaN.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "flows/flow_internal.h"
#include "nn/nn_internal.h"
#include "varflow/vf_transforms.h"

/* ---- shared helpers ---------------------------------------------------------------------------- */

static vf_status check_sizes(const char *kind, int64_t d, int64_t c)
{
    if (d < 1 || c < 0)
        return vf__error(VF_ERR_ARG, "%s: dimension %lld (>= 1), context %lld (>= 0)", kind, (long long)d, (long long)c);
    if ((uint64_t)d > SIZE_MAX / (4 * sizeof(double))) return vf__error(VF_ERR_ARG, "%s: dimension too large", kind);
    return VF_OK;
}

/* Constant mask [n, d] (tape memory): 1 where v is inside the open interval (lo, hi) or NaN. */
static vf_var inside_mask(vf_tape *t, vf_var v, double lo, double hi)
{
    if (!vf__ok(t, "inside_mask", 1, &v)) return VF_NOVAR;
    const vf_tensor *vv = vf_value(t, v);
    const int64_t m = vf_tensor_numel(vv);
    vf_real *mask = vf__tape_alloc(t, (size_t)(m ? m : 1) * sizeof *mask);
    if (!mask) return VF_NOVAR;
    vv = vf_value(t, v);
    for (int64_t i = 0; i < m; i++) mask[i] = (vv->data[i] <= (vf_real)lo || vv->data[i] >= (vf_real)hi) ? 0 : 1;
    return vf_input(t, mask, vv->ndim, vv->shape);
}

/* The row log-determinant from per-entry terms e [n, d], -inf where the mask is 0. */
static vf_var guarded_ladj(vf_tape *t, vf_var cond, vf_var e)
{
    return vf__flow_row_sum(t, vf_where(t, cond, e, vf_scalar(t, -INFINITY)));
}

/* ---- elementwise affine ------------------------------------------------------------------------ */

typedef struct affine_transform {
    vf_transform base;
    int32_t shift, log_scale; /* [d] each */
} affine_transform;

static vf_var const_ladj(vf_tape *t, vf_var x, vf_var s, double sign)
{
    return vf_add(t, vf__flow_zeros(t, vf__flow_rows(t, x)), vf_scale(t, vf_sum(t, s, VF_ALL_AXES, 0), sign));
}

static vf_var affine_forward(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, vf_var *ladj)
{
    (void)ctx;
    const affine_transform *a = (const affine_transform *)tr;
    vf_var b = vf_params_var(p, t, a->shift), s = vf_params_var(p, t, a->log_scale);
    *ladj = const_ladj(t, x, s, 1.0);
    return vf_add(t, vf_mul(t, x, vf_exp(t, s)), b);
}

static vf_var affine_inverse(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var z, vf_var ctx, vf_var *ladj)
{
    (void)ctx;
    const affine_transform *a = (const affine_transform *)tr;
    vf_var b = vf_params_var(p, t, a->shift), s = vf_params_var(p, t, a->log_scale);
    *ladj = const_ladj(t, z, s, -1.0);
    return vf_mul(t, vf_sub(t, z, b), vf_exp(t, vf_neg(t, s)));
}

static vf_status affine_describe(const vf_transform *tr, char *json, size_t len)
{
    return vf__json_printf(json, len, "{\"kind\":\"elementwise_affine\",\"dim\":%lld,\"context\":%lld}",
                           (long long)tr->dim, (long long)tr->context);
}

static void plain_destroy(vf_transform *tr) { vf_free(tr); }

static const vf_transform_vtable affine_vt = {"elementwise_affine", affine_forward, affine_inverse,
                                              affine_describe,      plain_destroy,  NULL};

vf_elementwise_affine_params vf_elementwise_affine_default_params(int64_t d)
{
    vf_elementwise_affine_params kp;
    kp.dim = d;
    kp.context = 0;
    return kp;
}

vf_status vf_elementwise_affine_new(vf_params *p, const char *name, const vf_elementwise_affine_params *kp,
                                    vf_transform **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "elementwise_affine: NULL output");
    *out = NULL;
    if (!p || !kp) return vf__error(VF_ERR_ARG, "elementwise_affine: NULL parameter store or settings");
    vf_status s = check_sizes("elementwise_affine", kp->dim, kp->context);
    if (s != VF_OK) return s;
    affine_transform *a = vf_calloc(1, sizeof *a);
    if (!a) return VF_ERR_NOMEM;
    const int32_t count = vf_params_count(p);
    char buf[VF_PARAM_NAME_MAX];
    s = vf__param_name(buf, sizeof buf, name, "shift");
    if (s == VF_OK) s = vf_params_add(p, buf, 1, &kp->dim, vf_init_zeros(), &a->shift);
    if (s == VF_OK) s = vf__param_name(buf, sizeof buf, name, "log_scale");
    if (s == VF_OK) s = vf_params_add(p, buf, 1, &kp->dim, vf_init_zeros(), &a->log_scale);
    if (s != VF_OK) {
        vf__params_truncate(p, count);
        vf_free(a);
        return s;
    }
    a->base.vt = &affine_vt;
    a->base.dim = kp->dim;
    a->base.context = kp->context;
    *out = &a->base;
    return VF_OK;
}

/* ---- sigmoid and logit on a box ---------------------------------------------------------------- */

typedef struct box_transform {
    vf_transform base;
    double *lo, *hi;      /* [d] each (one allocation) */
    vf_real *consts;      /* [3, d]: lo, w = hi - lo, log w */
    double keep_lo, keep_hi; /* the logit's samples are clamped to [keep_lo, keep_hi] (NaN: not) */
} box_transform;

/* R -> box: z = lo + w sigmoid(x). */
static vf_var to_box(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, vf_var *ladj)
{
    (void)p;
    (void)ctx;
    const box_transform *b = (const box_transform *)tr;
    const int64_t d = tr->dim;
    vf_var lo = vf_constant(t, b->consts, 1, &d), w = vf_constant(t, b->consts + d, 1, &d);
    vf_var logw = vf_constant(t, b->consts + 2 * d, 1, &d);
    vf_var e = vf_sub(t, logw, vf_add(t, vf_softplus(t, vf_neg(t, x)), vf_softplus(t, x)));
    *ladj = vf__flow_row_sum(t, e);
    vf_var z = vf_add(t, vf_mul(t, vf_sigmoid(t, x), w), lo);
    return isnan(b->keep_lo) ? z : vf_clamp(t, z, b->keep_lo, b->keep_hi);
}

/* box -> R: z = logit((x - lo) / w), guarded outside the box. */
static vf_var from_box(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, vf_var *ladj)
{
    (void)p;
    (void)ctx;
    const box_transform *b = (const box_transform *)tr;
    const int64_t d = tr->dim;
    vf_var lo = vf_constant(t, b->consts, 1, &d), w = vf_constant(t, b->consts + d, 1, &d);
    vf_var logw = vf_constant(t, b->consts + 2 * d, 1, &d);
    vf_var u = vf_div(t, vf_sub(t, x, lo), w);
    vf_var cond = inside_mask(t, u, 0.0, 1.0);
    vf_var us = vf_where(t, cond, u, vf_scalar(t, 0.5));
    vf_var lu = vf_log(t, us), l1u = vf_log1p(t, vf_neg(t, us));
    *ladj = guarded_ladj(t, cond, vf_sub(t, vf_neg(t, vf_add(t, lu, l1u)), logw));
    return vf_where(t, cond, vf_sub(t, lu, l1u), vf_scalar(t, 0.0));
}

static vf_status box_describe(const vf_transform *tr, char *json, size_t len)
{
    const box_transform *b = (const box_transform *)tr;
    size_t pos = 0;
    vf_status s = vf__json_append(json, len, &pos, "{\"kind\":\"%s\",\"dim\":%lld,\"context\":%lld,\"lo\":[", tr->vt->kind,
                         (long long)tr->dim, (long long)tr->context);
    for (int64_t i = 0; s == VF_OK && i < tr->dim; i++) s = vf__json_append(json, len, &pos, "%s%.17g", i ? "," : "", b->lo[i]);
    if (s == VF_OK) s = vf__json_append(json, len, &pos, "],\"hi\":[");
    for (int64_t i = 0; s == VF_OK && i < tr->dim; i++) s = vf__json_append(json, len, &pos, "%s%.17g", i ? "," : "", b->hi[i]);
    if (s == VF_OK) s = vf__json_append(json, len, &pos, "]}");
    return s;
}

static void box_destroy(vf_transform *tr)
{
    box_transform *b = (box_transform *)tr;
    vf_free(b->lo);
    vf_free(b->consts);
    vf_free(b);
}

static const vf_transform_vtable logit_vt = {"logit", from_box, to_box, box_describe, box_destroy, NULL};
static const vf_transform_vtable sigmoid_vt = {"sigmoid", to_box, from_box, box_describe, box_destroy, NULL};

vf_box_params vf_logit_default_params(int64_t d)
{
    vf_box_params kp;
    kp.dim = d;
    kp.context = 0;
    kp.lo = NULL;
    kp.hi = NULL;
    return kp;
}

vf_box_params vf_sigmoid_default_params(int64_t d) { return vf_logit_default_params(d); }

static vf_status box_new(const vf_transform_vtable *vt, const vf_box_params *kp, vf_transform **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "%s: NULL output", vt->kind);
    *out = NULL;
    if (!kp) return vf__error(VF_ERR_ARG, "%s: NULL settings", vt->kind);
    vf_status s = check_sizes(vt->kind, kp->dim, kp->context);
    if (s != VF_OK) return s;
    const int64_t d = kp->dim;
    for (int64_t i = 0; i < d; i++) {
        double lo = kp->lo ? kp->lo[i] : 0.0, hi = kp->hi ? kp->hi[i] : 1.0;
        if (!isfinite(lo) || !isfinite(hi) || !(lo < hi) || !isfinite(hi - lo) || !((vf_real)lo < (vf_real)hi))
            return vf__error(VF_ERR_ARG, "%s: feature %lld has the box [%g, %g]: need finite lo < hi", vt->kind,
                             (long long)i, lo, hi);
    }
    box_transform *b = vf_calloc(1, sizeof *b);
    double *bounds = b ? vf_calloc((size_t)(2 * d), sizeof *bounds) : NULL;
    vf_real *consts = bounds ? vf_calloc((size_t)(3 * d), sizeof *consts) : NULL;
    if (!consts) {
        vf_free(bounds);
        vf_free(b);
        return VF_ERR_NOMEM;
    }
    for (int64_t i = 0; i < d; i++) {
        bounds[i] = kp->lo ? kp->lo[i] : 0.0;
        bounds[d + i] = kp->hi ? kp->hi[i] : 1.0;
        consts[i] = (vf_real)bounds[i];
        consts[d + i] = (vf_real)(bounds[d + i] - bounds[i]);
        consts[2 * d + i] = (vf_real)log(bounds[d + i] - bounds[i]);
    }
    b->base.vt = vt;
    b->base.dim = d;
    b->base.context = kp->context;
    b->lo = bounds;
    b->hi = bounds + d;
    b->consts = consts;
    b->keep_lo = b->keep_hi = NAN;
    *out = &b->base;
    return VF_OK;
}

/* The next value of the build's precision after x toward y. */
static vf_real real_toward(vf_real x, vf_real y)
{
#if VF_USE_DOUBLE
    return nextafter(x, y);
#else
    return nextafterf(x, y);
#endif
}

vf_status vf__logit_keep_samples_in(vf_transform *tr, double lo, double hi)
{
    if (!tr || tr->vt != &logit_vt) return vf__error(VF_ERR_ARG, "logit: not a logit transform");
    box_transform *b = (box_transform *)tr;
    for (int64_t i = 0; i < tr->dim; i++) /* inside every feature's box, its ends excluded (log-density -inf) */
        if (!(lo < hi) || !(lo >= b->lo[i]) || !(hi <= b->hi[i]))
            return vf__error(VF_ERR_ARG, "logit: [%g, %g] is not inside feature %lld's box [%g, %g]", lo, hi,
                             (long long)i, b->lo[i], b->hi[i]);
    vf_real l = (vf_real)lo, h = (vf_real)hi;
    for (int64_t i = 0; i < tr->dim; i++) {
        if (l <= (vf_real)b->lo[i]) l = real_toward((vf_real)b->lo[i], h);
        if (h >= (vf_real)b->hi[i]) h = real_toward((vf_real)b->hi[i], l);
    }
    b->keep_lo = (double)l;
    b->keep_hi = (double)h;
    return VF_OK;
}

vf_status vf_logit_new(vf_params *p, const char *name, const vf_logit_params *kp, vf_transform **out)
{
    (void)p;
    (void)name;
    return box_new(&logit_vt, kp, out);
}

vf_status vf_sigmoid_new(vf_params *p, const char *name, const vf_sigmoid_params *kp, vf_transform **out)
{
    (void)p;
    (void)name;
    return box_new(&sigmoid_vt, kp, out);
}

/* ---- scaled tanh and atanh --------------------------------------------------------------------- */

typedef struct tanh_transform {
    vf_transform base;
    double a;
} tanh_transform;

/* R -> (-a, a): z = a tanh(x). */
static vf_var tanh_apply(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, vf_var *ladj)
{
    (void)p;
    (void)ctx;
    const double a = ((const tanh_transform *)tr)->a;
    vf_var e = vf_scale(t, vf_add(t, x, vf_softplus(t, vf_scale(t, x, -2.0))), -2.0);
    *ladj = vf__flow_row_sum(t, vf_add_scalar(t, e, 2.0 * log(2.0) + log(a)));
    return vf_scale(t, vf_tanh(t, x), a);
}

/* (-a, a) -> R: z = atanh(x / a), guarded outside the interval. */
static vf_var atanh_apply(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, vf_var *ladj)
{
    (void)p;
    (void)ctx;
    const double a = ((const tanh_transform *)tr)->a;
    vf_var v = vf_scale(t, x, 1.0 / a);
    vf_var cond = inside_mask(t, v, -1.0, 1.0);
    vf_var vs = vf_where(t, cond, v, vf_scalar(t, 0.0));
    vf_var l1 = vf_log1p(t, vs), l2 = vf_log1p(t, vf_neg(t, vs));
    *ladj = guarded_ladj(t, cond, vf_add_scalar(t, vf_neg(t, vf_add(t, l1, l2)), -log(a)));
    return vf_where(t, cond, vf_scale(t, vf_sub(t, l1, l2), 0.5), vf_scalar(t, 0.0));
}

static vf_status tanh_describe(const vf_transform *tr, char *json, size_t len)
{
    return vf__json_printf(json, len, "{\"kind\":\"%s\",\"dim\":%lld,\"context\":%lld,\"scale\":%.17g}", tr->vt->kind,
                           (long long)tr->dim, (long long)tr->context, ((const tanh_transform *)tr)->a);
}

static const vf_transform_vtable tanh_vt = {"tanh", tanh_apply, atanh_apply, tanh_describe, plain_destroy, NULL};
static const vf_transform_vtable atanh_vt = {"atanh", atanh_apply, tanh_apply, tanh_describe, plain_destroy, NULL};

vf_tanh_params vf_tanh_default_params(int64_t d)
{
    vf_tanh_params kp;
    kp.dim = d;
    kp.context = 0;
    kp.scale = 1.0;
    return kp;
}

static vf_status tanh_new(const vf_transform_vtable *vt, const vf_tanh_params *kp, vf_transform **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "%s: NULL output", vt->kind);
    *out = NULL;
    if (!kp) return vf__error(VF_ERR_ARG, "%s: NULL settings", vt->kind);
    vf_status s = check_sizes(vt->kind, kp->dim, kp->context);
    if (s != VF_OK) return s;
    if (!(kp->scale > 0.0) || !isfinite(kp->scale) || !isfinite(1.0 / kp->scale) || !((vf_real)kp->scale > 0))
        return vf__error(VF_ERR_ARG, "%s: scale %g must be positive and finite", vt->kind, kp->scale);
    tanh_transform *h = vf_calloc(1, sizeof *h);
    if (!h) return VF_ERR_NOMEM;
    h->base.vt = vt;
    h->base.dim = kp->dim;
    h->base.context = kp->context;
    h->a = kp->scale;
    *out = &h->base;
    return VF_OK;
}

vf_status vf_tanh_new(vf_params *p, const char *name, const vf_tanh_params *kp, vf_transform **out)
{
    (void)p;
    (void)name;
    return tanh_new(&tanh_vt, kp, out);
}

vf_status vf_atanh_new(vf_params *p, const char *name, const vf_tanh_params *kp, vf_transform **out)
{
    (void)p;
    (void)name;
    return tanh_new(&atanh_vt, kp, out);
}
