/* spline_autoregressive.c — autoregressive rational-quadratic splines on a MADE, MAF-style and
 * IAF-style (include/varflow/vf_nsf.h has the math, the layout and the costs).
 *
 * With params(u) = MADE(u, context) split into widths, heights and slopes, the one-pass map is
 * P(u) = RQS(u; params(u)) and P^{-1}(v) takes d steps (ar_inverse.c): step k runs the MADE restricted
 * to the dimension of degree k on the dimensions already solved and applies RQS^{-1} to that column.
 * spline_maf uses (P, P^{-1}) as (forward, inverse), spline_iaf the reverse.
 */
#include <math.h>
#include <string.h>
#include "flows/ar_inverse.h"
#include "varflow/vf_nsf.h"
#include "varflow/vf_spline.h"

typedef struct spline_ar {
    vf_transform base;
    vf_spline_ar_params kp;
    int iaf;                    /* 0: spline_maf, 1: spline_iaf */
    vf_rq_spline_options opt;   /* identity_at_zero = 1 */
    vf_made *net;               /* d inputs, 3K-1 outputs per dimension */
} spline_ar;

vf_spline_ar_params vf_spline_ar_default_params(int64_t d)
{
    vf_spline_ar_params kp;
    memset(&kp, 0, sizeof kp);
    kp.features = d;
    kp.context = 0;
    kp.hidden = 64;
    kp.depth = 2;
    kp.residual = 0;
    kp.act = VF_ACT_RELU;
    kp.order = VF_ORDER_SEQUENTIAL;
    kp.seed = 0;
    kp.random_degrees = 0;
    kp.hidden_layout = VF_HIDDEN_SORTED;
    kp.bins = VF_NSF_DEFAULT_BINS;
    kp.bound = VF_NSF_DEFAULT_BOUND;
    kp.min_bin_width = 1e-3;
    kp.min_bin_height = 1e-3;
    kp.min_derivative = 1e-3;
    return kp;
}

/* The spline of every dimension of v [n, d] (inverse or not) with parameters MADE(u, ctx), packed per
 * dimension as (K widths, K heights, K-1 slopes); *l = log|d out / d in| per element [n, d]. */
static vf_var spline(const spline_ar *a, vf_params *p, vf_tape *t, vf_var u, vf_var v, vf_var ctx, int inverse,
                     vf_var *l)
{
    vf_var h = vf_made_forward(a->net, p, t, u, ctx); /* [n, d (3K-1)] */
    return vf_rq_spline_packed(t, v, h, a->kp.bins, a->kp.bound, inverse, &a->opt, l);
}

/* P(u): one MADE pass; *ladj [n]. */
static vf_var one_pass(const spline_ar *a, vf_params *p, vf_tape *t, vf_var u, vf_var ctx, vf_var *ladj)
{
    vf_var l = VF_NOVAR;
    vf_var y = spline(a, p, t, u, u, ctx, 0, &l);
    *ladj = vf__flow_row_sum(t, l);
    return y;
}

/* One dimension of P^{-1}: v_col [n, 1], theta [n, 3K-1] = (widths, heights, slopes) -> RQS^{-1},
 * *l [n, 1]. */
static vf_var invert_dim(const void *self, vf_tape *t, vf_var v_col, vf_var theta, vf_var *l)
{
    const spline_ar *a = self;
    return vf_rq_spline_packed(t, v_col, theta, a->kp.bins, a->kp.bound, 1, &a->opt, l);
}

/* P^{-1}(v): d restricted MADE steps; *ladj [n] = log|det dP^{-1}/dv|. */
static vf_var d_passes(const spline_ar *a, vf_params *p, vf_tape *t, vf_var v, vf_var ctx, vf_var *ladj)
{
    return vf__ar_invert(a->net, a, invert_dim, p, t, v, ctx, ladj);
}

static vf_var ar_forward(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, vf_var *ladj)
{
    const spline_ar *a = (const spline_ar *)tr;
    return a->iaf ? d_passes(a, p, t, x, ctx, ladj) : one_pass(a, p, t, x, ctx, ladj);
}

static vf_var ar_inverse(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var z, vf_var ctx, vf_var *ladj)
{
    const spline_ar *a = (const spline_ar *)tr;
    return a->iaf ? one_pass(a, p, t, z, ctx, ladj) : d_passes(a, p, t, z, ctx, ladj);
}

static vf_status ar_describe(const vf_transform *tr, char *json, size_t len)
{
    const spline_ar *a = (const spline_ar *)tr;
    const vf_spline_ar_params *kp = &a->kp;
    return vf__json_printf(json, len,
                           "{\"kind\":\"%s\",\"dim\":%lld,\"context\":%lld,\"hidden\":%lld,\"depth\":%d,\"residual\":%d,"
                           "\"act\":\"%s\",\"order\":\"%s\",\"seed\":%llu,\"random_degrees\":%d,\"bins\":%d,"
                           "\"bound\":%.17g,\"min_bin_width\":%.17g,\"min_bin_height\":%.17g,\"min_derivative\":%.17g%s}",
                           tr->vt->kind, (long long)tr->dim, (long long)tr->context, (long long)kp->hidden, kp->depth,
                           kp->residual, vf_activation_name(kp->act), vf_made_order_name(kp->order),
                           (unsigned long long)kp->seed, kp->random_degrees, kp->bins, kp->bound, kp->min_bin_width,
                           kp->min_bin_height, kp->min_derivative,
                           kp->hidden_layout == VF_HIDDEN_SORTED ? ",\"hidden_layout\":\"sorted\"" : "");
}

static void ar_destroy(vf_transform *tr)
{
    spline_ar *a = (spline_ar *)tr;
    if (!a) return;
    vf_made_free(a->net);
    vf_free(a);
}

static const vf_transform_vtable maf_vt = {"spline_maf", ar_forward, ar_inverse, ar_describe, ar_destroy, NULL};
static const vf_transform_vtable iaf_vt = {"spline_iaf", ar_forward, ar_inverse, ar_describe, ar_destroy, NULL};

static vf_status check_params(const char *kind, const vf_spline_ar_params *kp)
{
    if (kp->features < 1 || kp->context < 0 || kp->hidden < 1)
        return vf__error(VF_ERR_ARG, "%s: need features >= 1 (got %lld), context >= 0 (got %lld), hidden >= 1 (got %lld)",
                         kind, (long long)kp->features, (long long)kp->context, (long long)kp->hidden);
    if (kp->residual != 0 && kp->residual != 1) return vf__error(VF_ERR_ARG, "%s: residual must be 0 or 1", kind);
    if (kp->depth < (kp->residual ? 0 : 1))
        return vf__error(VF_ERR_ARG, "%s: depth %d: a plain MADE needs >= 1 hidden layer, a residual one >= 0 blocks",
                         kind, kp->depth);
    if (kp->hidden_layout != VF_HIDDEN_SORTED && kp->hidden_layout != VF_HIDDEN_INTERLEAVED)
        return vf__error(VF_ERR_ARG, "%s: unknown hidden layout %d", kind, (int)kp->hidden_layout);
    if (kp->random_degrees != 0 && kp->random_degrees != 1)
        return vf__error(VF_ERR_ARG, "%s: random_degrees must be 0 or 1", kind);
    if ((int)kp->act < 0 || kp->act >= VF_ACT_COUNT)
        return vf__error(VF_ERR_ARG, "%s: unknown activation %d", kind, (int)kp->act);
    if ((int)kp->order < (int)VF_ORDER_SEQUENTIAL || (int)kp->order > (int)VF_ORDER_RANDOM)
        return vf__error(VF_ERR_ARG, "%s: unknown order %d", kind, (int)kp->order);
    if (kp->bins < 2) return vf__error(VF_ERR_ARG, "%s: bins %d (need K >= 2)", kind, kp->bins);
    if (!(kp->bound > 0) || !isfinite(kp->bound))
        return vf__error(VF_ERR_ARG, "%s: bound %g (must be finite and > 0)", kind, kp->bound);
    if (!(kp->min_bin_width > 0) || !(kp->min_bin_width * kp->bins < 1) || !(kp->min_bin_height > 0) ||
        !(kp->min_bin_height * kp->bins < 1))
        return vf__error(VF_ERR_ARG, "%s: min_bin_width %g, min_bin_height %g: each must be > 0 and below 1/bins = %g",
                         kind, kp->min_bin_width, kp->min_bin_height, 1.0 / kp->bins);
    if (!(kp->min_derivative > 0 && kp->min_derivative < 1))
        return vf__error(VF_ERR_ARG, "%s: min_derivative %g (must be in (0, 1))", kind, kp->min_derivative);
    return VF_OK;
}

static vf_status ar_new(vf_params *p, const char *name, const vf_spline_ar_params *kp, int iaf, vf_transform **out)
{
    const char *kind = iaf ? "spline_iaf" : "spline_maf";
    if (!out) return vf__error(VF_ERR_ARG, "%s: NULL output", kind);
    *out = NULL;
    if (!p || !kp) return vf__error(VF_ERR_ARG, "%s: NULL argument", kind);
    vf_status s = check_params(kind, kp);
    char net_name[VF_PARAM_NAME_MAX];
    if (s == VF_OK) s = vf__param_name(net_name, sizeof net_name, name, "net");
    if (s != VF_OK) return s;

    int64_t d = kp->features, per = 3 * (int64_t)kp->bins - 1;
    spline_ar *a = vf_calloc(1, sizeof *a);
    if (!a) return VF_ERR_NOMEM;
    vf_made_params mp = vf_made_default_params(d);
    mp.hidden = kp->hidden;
    mp.depth = kp->depth;
    mp.residual = kp->residual;
    mp.context_features = kp->context;
    mp.output_multiplier = per;
    mp.order = kp->order;
    mp.random_degrees = kp->random_degrees;
    mp.hidden_layout = kp->hidden_layout;
    mp.seed = kp->seed;
    mp.act = kp->act;
    mp.zero_init_output = 1; /* all spline parameters 0: the identity map */
    s = vf_made_new(p, net_name, &mp, &a->net); /* registers last: nothing to roll back after it */
    if (s != VF_OK) {
        ar_destroy(&a->base);
        return s;
    }
    a->kp = *kp;
    a->iaf = iaf;
    a->opt = vf_rq_spline_default_options();
    a->opt.min_bin_width = kp->min_bin_width;
    a->opt.min_bin_height = kp->min_bin_height;
    a->opt.min_derivative = kp->min_derivative;
    a->opt.identity_at_zero = 1;
    a->base.vt = iaf ? &iaf_vt : &maf_vt;
    a->base.dim = d;
    a->base.context = kp->context;
    *out = &a->base;
    return VF_OK;
}

vf_status vf_spline_maf_new(vf_params *p, const char *name, const vf_spline_ar_params *kp, vf_transform **out)
{
    return ar_new(p, name, kp, 0, out);
}

vf_status vf_spline_iaf_new(vf_params *p, const char *name, const vf_spline_ar_params *kp, vf_transform **out)
{
    return ar_new(p, name, kp, 1, out);
}
