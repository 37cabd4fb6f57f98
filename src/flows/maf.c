/* maf.c — masked autoregressive affine transforms: MAF and IAF share one implementation (the math,
 * conventions and costs are in include/varflow/vf_autoregressive.h).
 *
 * With (b, s) = conditioner(u): the one-pass map P(u) = u exp(s) + b (log-det sum s) and its inverse
 * P^{-1}(v), solved in d steps of a MADE restricted to one dimension (log-det -sum s). MAF uses (P, P^{-1}) as (forward, inverse), IAF
 * uses (P^{-1}, P). The transform owns its MADE (which owns its masks), the gather indices that pick
 * shifts and log-scales out of the MADE's interleaved output.
 */
#include <math.h>
#include "flows/ar_inverse.h"
#include "varflow/vf_autoregressive.h"

typedef struct ar_transform {
    vf_transform base;
    vf_maf_params kp;
    int iaf;               /* 0: MAF, 1: IAF */
    vf_made *net;          /* d inputs, 2 outputs per dimension: (shift, raw log-scale) */
    int64_t *index;        /* [2 d]: shift columns 0, 2, ..., 2d-2, then log-scale columns 1, 3, ... */
} ar_transform;

vf_maf_params vf_maf_default_params(int64_t d)
{
    vf_maf_params kp;
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
    kp.log_scale_bound = VF_MAF_LOG_SCALE_BOUND;
    return kp;
}

vf_iaf_params vf_iaf_default_params(int64_t d) { return vf_maf_default_params(d); }

/* Soft bound: a [n, d] -> a / (1 + |a| / B) in (-B, B), the identity near 0 (or a itself for B = 0). */
static vf_var soft_bound(const ar_transform *a, vf_tape *t, vf_var raw)
{
    double B = a->kp.log_scale_bound;
    if (B == 0) return raw;
    return vf_div(t, raw, vf_add_scalar(t, vf_scale(t, vf_abs(t, raw), 1.0 / B), 1.0));
}

/* u [n, d], ctx [n, c] or VF_NOVAR -> *shift [n, d], *s [n, d] (bounded log-scales). */
static void conditioner(const ar_transform *a, vf_params *p, vf_tape *t, vf_var u, vf_var ctx, vf_var *shift,
                        vf_var *s)
{
    int64_t d = a->base.dim;
    vf_var y = vf_made_forward(a->net, p, t, u, ctx); /* [n, 2d] */
    *shift = vf_gather(t, y, 1, a->index, d);
    *s = soft_bound(a, t, vf_gather(t, y, 1, a->index + d, d));
}

/* P(u) = u exp(s(u)) + b(u): u [n, d] -> [n, d]; *ladj [n] = sum_i s_i. One MADE pass. */
static vf_var one_pass(const ar_transform *a, vf_params *p, vf_tape *t, vf_var u, vf_var ctx, vf_var *ladj)
{
    vf_var shift, s;
    conditioner(a, p, t, u, ctx, &shift, &s);
    *ladj = vf__flow_row_sum(t, s);
    return vf_add(t, vf_mul(t, u, vf_exp(t, s)), shift);
}

/* One dimension of P^{-1}: v_col [n, 1], theta [n, 2] = (shift, raw log-scale) -> (v - b) exp(-s),
 * *l [n, 1] = -s. */
static vf_var invert_dim(const void *self, vf_tape *t, vf_var v_col, vf_var theta, vf_var *l)
{
    const ar_transform *a = self;
    vf_var s = soft_bound(a, t, vf_slice(t, theta, 1, 1, 2));
    *l = vf_neg(t, s);
    return vf_mul(t, vf_sub(t, v_col, vf_slice(t, theta, 1, 0, 1)), vf_exp(t, *l));
}

/* P^{-1}(v): v [n, d] -> u [n, d]; *ladj [n] = -sum_i s_i(u), in d restricted MADE steps. */
static vf_var d_passes(const ar_transform *a, vf_params *p, vf_tape *t, vf_var v, vf_var ctx, vf_var *ladj)
{
    return vf__ar_invert(a->net, a, invert_dim, p, t, v, ctx, ladj);
}

static vf_var ar_forward(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, vf_var *ladj)
{
    const ar_transform *a = (const ar_transform *)tr;
    return a->iaf ? d_passes(a, p, t, x, ctx, ladj) : one_pass(a, p, t, x, ctx, ladj);
}

static vf_var ar_inverse(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var z, vf_var ctx, vf_var *ladj)
{
    const ar_transform *a = (const ar_transform *)tr;
    return a->iaf ? one_pass(a, p, t, z, ctx, ladj) : d_passes(a, p, t, z, ctx, ladj);
}

static vf_status ar_describe(const vf_transform *tr, char *json, size_t len)
{
    const ar_transform *a = (const ar_transform *)tr;
    const vf_maf_params *kp = &a->kp;
    return vf__json_printf(json, len,
                           "{\"kind\":\"%s\",\"dim\":%lld,\"context\":%lld,\"hidden\":%lld,\"depth\":%d,"
                           "\"residual\":%d,\"act\":\"%s\",\"order\":\"%s\",\"seed\":%llu,\"random_degrees\":%d,"
                           "\"log_scale_bound\":%.17g%s}",
                           a->iaf ? "iaf" : "maf", (long long)tr->dim, (long long)tr->context, (long long)kp->hidden,
                           kp->depth, kp->residual, vf_activation_name(kp->act), vf_made_order_name(kp->order),
                           (unsigned long long)kp->seed, kp->random_degrees, kp->log_scale_bound,
                           kp->hidden_layout == VF_HIDDEN_SORTED ? ",\"hidden_layout\":\"sorted\"" : "");
}

static void ar_destroy(vf_transform *tr)
{
    ar_transform *a = (ar_transform *)tr;
    vf_made_free(a->net);
    vf_free(a->index);
    vf_free(a);
}

static const vf_transform_vtable maf_vt = {"maf", ar_forward, ar_inverse, ar_describe, ar_destroy, NULL};
static const vf_transform_vtable iaf_vt = {"iaf", ar_forward, ar_inverse, ar_describe, ar_destroy, NULL};

static vf_status check_params(const char *kind, const vf_maf_params *kp)
{
    if (kp->features < 1 || kp->context < 0 || kp->hidden < 1)
        return vf__error(VF_ERR_ARG, "%s: need features >= 1 (got %lld), context >= 0 (got %lld), hidden >= 1 (got %lld)",
                         kind, (long long)kp->features, (long long)kp->context, (long long)kp->hidden);
    if (kp->depth < (kp->residual ? 0 : 1))
        return vf__error(VF_ERR_ARG, "%s: depth %d: a plain MADE needs >= 1 hidden layer, a residual one >= 0 blocks",
                         kind, kp->depth);
    if (kp->residual != 0 && kp->residual != 1) return vf__error(VF_ERR_ARG, "%s: residual must be 0 or 1", kind);
    if (kp->hidden_layout != VF_HIDDEN_SORTED && kp->hidden_layout != VF_HIDDEN_INTERLEAVED)
        return vf__error(VF_ERR_ARG, "%s: unknown hidden layout %d", kind, (int)kp->hidden_layout);
    if (kp->random_degrees != 0 && kp->random_degrees != 1)
        return vf__error(VF_ERR_ARG, "%s: random_degrees must be 0 or 1", kind);
    if ((int)kp->act < 0 || kp->act >= VF_ACT_COUNT) return vf__error(VF_ERR_ARG, "%s: unknown activation %d", kind, (int)kp->act);
    if ((int)kp->order < (int)VF_ORDER_SEQUENTIAL || (int)kp->order > (int)VF_ORDER_RANDOM)
        return vf__error(VF_ERR_ARG, "%s: unknown order %d", kind, (int)kp->order);
    if (!(kp->log_scale_bound >= 0) || !isfinite(kp->log_scale_bound))
        return vf__error(VF_ERR_ARG, "%s: log_scale_bound must be finite and >= 0 (0: no bound), got %g", kind,
                         kp->log_scale_bound);
    return VF_OK;
}

static vf_status ar_new(vf_params *p, const char *name, const vf_maf_params *kp, int iaf, vf_transform **out)
{
    const char *kind = iaf ? "iaf" : "maf";
    if (!out) return vf__error(VF_ERR_ARG, "%s: NULL output", kind);
    *out = NULL;
    if (!p || !kp) return vf__error(VF_ERR_ARG, "%s: NULL argument", kind);
    vf_status s = check_params(kind, kp);
    char net_name[VF_PARAM_NAME_MAX];
    if (s == VF_OK) s = vf__param_name(net_name, sizeof net_name, name, "net");
    if (s != VF_OK) return s;

    int64_t d = kp->features;
    ar_transform *a = vf_calloc(1, sizeof *a);
    if (!a) return VF_ERR_NOMEM;
    a->index = vf_calloc((size_t)(2 * d), sizeof *a->index);
    if (!a->index) {
        ar_destroy(&a->base);
        return VF_ERR_NOMEM;
    }
    vf_made_params mp = vf_made_default_params(d);
    mp.hidden = kp->hidden;
    mp.depth = kp->depth;
    mp.residual = kp->residual;
    mp.context_features = kp->context;
    mp.output_multiplier = 2;
    mp.order = kp->order;
    mp.random_degrees = kp->random_degrees;
    mp.hidden_layout = kp->hidden_layout;
    mp.seed = kp->seed;
    mp.act = kp->act;
    mp.zero_init_output = 1; /* b = a = 0: the identity map */
    s = vf_made_new(p, net_name, &mp, &a->net); /* registers last: nothing to roll back after it */
    if (s != VF_OK) {
        ar_destroy(&a->base);
        return s;
    }
    for (int64_t i = 0; i < d; i++) {
        a->index[i] = 2 * i;
        a->index[d + i] = 2 * i + 1;
    }
    a->base.vt = iaf ? &iaf_vt : &maf_vt;
    a->base.dim = d;
    a->base.context = kp->context;
    a->kp = *kp;
    a->iaf = iaf;
    *out = &a->base;
    return VF_OK;
}

vf_status vf_maf_new(vf_params *p, const char *name, const vf_maf_params *kp, vf_transform **out)
{
    return ar_new(p, name, kp, 0, out);
}

vf_status vf_iaf_new(vf_params *p, const char *name, const vf_iaf_params *kp, vf_transform **out)
{
    return ar_new(p, name, kp, 1, out);
}

const vf_made *vf_autoregressive_made(const vf_transform *tr)
{
    if (!tr || (tr->vt != &maf_vt && tr->vt != &iaf_vt)) return NULL;
    return ((const ar_transform *)tr)->net;
}
