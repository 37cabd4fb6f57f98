/* coupling.c — affine (RealNVP) and additive (NICE) coupling transforms; the math is in vf_coupling.h.
 *
 * Splitting and merging. The constructor turns the mask into three index arrays: idx_a (the identity
 * features, mask 0), idx_b (the transformed ones, mask 1), both in increasing order, and merge, the
 * permutation with [x_a, z_b][merge[i]] = z_i. forward and inverse gather x_a and x_b, run the
 * conditioner on x_a (the same values in both directions, so the inverse is exact), and gather the
 * concatenation [x_a, z_b] back into feature order. Everything is a tape op, so gradients reach the
 * input, the context and the conditioner's parameters.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "flows/flow_internal.h"
#include "varflow/vf_coupling.h"

typedef struct coupling_transform {
    vf_transform base;
    int affine;          /* 1: affine coupling; 0: additive */
    vf_coupling_params cp;   /* settings as given (cp.mask points at split.mask) */
    vf__coupling_split split;       /* mask, idx_a, idx_b, merge, na, nb */
    vf_mlp *net;         /* [x_a, context] -> [t, r] (affine) or [t] (additive) */
} coupling_transform;

/* Shift t [n, nb] and log-scale s [n, nb] (s = VF_NOVAR for additive coupling) from x_a [n, na]. */
static void conditioner(const coupling_transform *ct, vf_params *p, vf_tape *t, vf_var xa, vf_var ctx,
                        vf_var *shift, vf_var *log_scale)
{
    vf_var h = vf_mlp_forward(ct->net, p, t, xa, ctx);
    *log_scale = VF_NOVAR;
    if (!ct->affine) {
        *shift = h;
        return;
    }
    *shift = vf_slice(t, h, 1, 0, ct->split.nb);
    vf_var r = vf_slice(t, h, 1, ct->split.nb, 2 * ct->split.nb);
    double c = ct->cp.scale_clamp;
    *log_scale = c > 0 ? vf_scale(t, vf_tanh(t, vf_scale(t, r, 1.0 / c)), c) : r;
}

/* [x_a, y_b] [n, d] back into feature order. */
static vf_var merge(const coupling_transform *ct, vf_tape *t, vf_var xa, vf_var yb)
{
    vf_var parts[2] = {xa, yb};
    return vf_gather(t, vf_concat(t, 2, parts, 1), 1, ct->split.merge, ct->base.dim);
}

/* z = T(x); *ladj = sum s (affine) or 0 (additive), [n]. */
static vf_var coupling_forward(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx,
                               vf_var *ladj)
{
    const coupling_transform *ct = (const coupling_transform *)tr;
    vf_var xa = vf_gather(t, x, 1, ct->split.idx_a, ct->split.na);
    vf_var xb = vf_gather(t, x, 1, ct->split.idx_b, ct->split.nb);
    vf_var shift, s;
    conditioner(ct, p, t, xa, ctx, &shift, &s);
    vf_var zb;
    if (ct->affine) {
        zb = vf_add(t, vf_mul(t, xb, vf_exp(t, s)), shift);
        *ladj = vf__flow_row_sum(t, s);
    } else {
        zb = vf_add(t, xb, shift);
        *ladj = vf__flow_zeros(t, vf__flow_rows(t, x));
    }
    return merge(ct, t, xa, zb);
}

/* x = T^{-1}(z); *ladj = -sum s (affine) or 0 (additive), [n]. */
static vf_var coupling_inverse(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var z, vf_var ctx,
                               vf_var *ladj)
{
    const coupling_transform *ct = (const coupling_transform *)tr;
    vf_var za = vf_gather(t, z, 1, ct->split.idx_a, ct->split.na);
    vf_var zb = vf_gather(t, z, 1, ct->split.idx_b, ct->split.nb);
    vf_var shift, s;
    conditioner(ct, p, t, za, ctx, &shift, &s);
    vf_var xb;
    if (ct->affine) {
        xb = vf_mul(t, vf_sub(t, zb, shift), vf_exp(t, vf_neg(t, s)));
        *ladj = vf_neg(t, vf__flow_row_sum(t, s));
    } else {
        xb = vf_sub(t, zb, shift);
        *ladj = vf__flow_zeros(t, vf__flow_rows(t, z));
    }
    return merge(ct, t, za, xb);
}

/* ---- describe ----------------------------------------------------------------------------- */

typedef struct json_buf {
    char *s;
    size_t len, used;
    int overflow;
} json_buf;

static void jb_printf(json_buf *b, const char *fmt, ...) VF_PRINTF(2, 3);
static void jb_printf(json_buf *b, const char *fmt, ...)
{
    if (b->overflow) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->used, b->len - b->used, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= b->len - b->used) {
        b->overflow = 1;
        return;
    }
    b->used += (size_t)k;
}

static vf_status coupling_describe(const vf_transform *tr, char *json, size_t len)
{
    const coupling_transform *ct = (const coupling_transform *)tr;
    if (!json || len == 0) return vf__error(VF_ERR_ARG, "describe: no room for the description");
    json_buf b = {json, len, 0, 0};
    jb_printf(&b, "{\"kind\":\"%s\",\"dim\":%lld,\"context\":%lld,\"mask\":[", tr->vt->kind, (long long)tr->dim,
              (long long)tr->context);
    for (int64_t i = 0; i < tr->dim; i++) jb_printf(&b, "%s%d", i ? "," : "", ct->split.mask[i]);
    jb_printf(&b, "],\"hidden\":[");
    for (int i = 0; i < ct->cp.n_hidden; i++) jb_printf(&b, "%s%lld", i ? "," : "", (long long)ct->cp.hidden[i]);
    jb_printf(&b, "],\"act\":\"%s\"", vf_activation_name(ct->cp.act));
    if (ct->affine) jb_printf(&b, ",\"scale_clamp\":%.17g", ct->cp.scale_clamp);
    jb_printf(&b, ",\"zero_init\":%d}", ct->cp.zero_init ? 1 : 0);
    if (b.overflow) return vf__error(VF_ERR_ARG, "describe: %zu bytes are not enough", len);
    return VF_OK;
}

/* ---- construction ------------------------------------------------------------------------- */

static void coupling_destroy(vf_transform *tr)
{
    coupling_transform *ct = (coupling_transform *)tr;
    if (!ct) return;
    vf_mlp_free(ct->net);
    vf__coupling_split_free(&ct->split);
    vf_free(ct);
}

static const vf_transform_vtable affine_vt = {"affine_coupling", coupling_forward, coupling_inverse,
                                              coupling_describe, coupling_destroy, NULL};
static const vf_transform_vtable additive_vt = {"additive_coupling", coupling_forward, coupling_inverse,
                                                coupling_describe, coupling_destroy, NULL};

static vf_coupling_params default_params(int64_t d)
{
    vf_coupling_params cp;
    memset(&cp, 0, sizeof cp);
    cp.dim = d;
    cp.context = 0;
    cp.parity = 0;
    cp.mask = NULL;
    cp.n_hidden = 2;
    for (int i = 0; i < VF_NN_MAX_HIDDEN; i++) cp.hidden[i] = 64;
    cp.act = VF_ACT_RELU;
    cp.scale_clamp = 3.0;
    cp.zero_init = 1;
    return cp;
}

vf_affine_coupling_params vf_affine_coupling_default_params(int64_t d) { return default_params(d); }
vf_additive_coupling_params vf_additive_coupling_default_params(int64_t d) { return default_params(d); }

/* Settings the constructor checks itself (the MLP checks hidden sizes and the activation). */
static vf_status check_params(const char *kind, const vf_coupling_params *kp, int affine)
{
    if (kp->dim < 2)
        return vf__error(VF_ERR_ARG, "%s: dimension %lld: a coupling needs d >= 2 (one half conditions the other)",
                         kind, (long long)kp->dim);
    if (kp->context < 0) return vf__error(VF_ERR_ARG, "%s: context width %lld < 0", kind, (long long)kp->context);
    if (kp->mask) {
        int64_t ones = 0;
        for (int64_t i = 0; i < kp->dim; i++) {
            if (kp->mask[i] != 0 && kp->mask[i] != 1)
                return vf__error(VF_ERR_ARG, "%s: mask[%lld] = %d (must be 0 or 1)", kind, (long long)i, kp->mask[i]);
            ones += kp->mask[i];
        }
        if (ones == 0 || ones == kp->dim)
            return vf__error(VF_ERR_ARG, "%s: the mask needs at least one 0 (identity) and one 1 (transformed)",
                             kind);
    } else if (kp->parity != 0 && kp->parity != 1) {
        return vf__error(VF_ERR_ARG, "%s: parity %d (must be 0 or 1)", kind, kp->parity);
    }
    if (affine && !(kp->scale_clamp >= 0 && isfinite(kp->scale_clamp)))
        return vf__error(VF_ERR_ARG, "%s: scale_clamp %g (must be finite and >= 0; 0 = no clamp)", kind,
                         kp->scale_clamp);
    return VF_OK;
}

static vf_status coupling_new(vf_params *p, const char *name, const vf_coupling_params *kp, int affine,
                              vf_transform **out)
{
    const char *kind = affine ? "affine_coupling" : "additive_coupling";
    if (!out) return vf__error(VF_ERR_ARG, "%s: NULL output", kind);
    *out = NULL;
    if (!p || !kp) return vf__error(VF_ERR_ARG, "%s: NULL argument", kind);
    vf_status s = check_params(kind, kp, affine);
    if (s != VF_OK) return s;
    char net_name[VF_PARAM_NAME_MAX];
    s = vf__param_name(net_name, sizeof net_name, name, "net");
    if (s != VF_OK) return s;

    int64_t d = kp->dim;
    coupling_transform *ct = vf_calloc(1, sizeof *ct);
    if (!ct) return VF_ERR_NOMEM;
    if (vf__coupling_split_init(&ct->split, d, kp->mask, kp->parity) != VF_OK) {
        coupling_destroy(&ct->base);
        return VF_ERR_NOMEM;
    }

    vf_mlp_params mp = vf_mlp_default_params(ct->split.na, affine ? 2 * ct->split.nb : ct->split.nb);
    mp.context_features = kp->context;
    mp.n_hidden = kp->n_hidden;
    if (kp->n_hidden >= 0 && kp->n_hidden <= VF_NN_MAX_HIDDEN)
        for (int i = 0; i < kp->n_hidden; i++) mp.hidden[i] = kp->hidden[i];
    mp.act = kp->act;
    mp.zero_init_output = kp->zero_init ? 1 : 0;
    s = vf_mlp_new(p, net_name, &mp, &ct->net);
    if (s != VF_OK) {
        coupling_destroy(&ct->base);
        return s;
    }
    ct->affine = affine;
    ct->cp = *kp;
    ct->cp.mask = ct->split.mask;
    ct->cp.zero_init = kp->zero_init ? 1 : 0;
    ct->base.vt = affine ? &affine_vt : &additive_vt;
    ct->base.dim = d;
    ct->base.context = kp->context;
    *out = &ct->base;
    return VF_OK;
}

vf_status vf_affine_coupling_new(vf_params *p, const char *name, const vf_affine_coupling_params *kp,
                                 vf_transform **out)
{
    return coupling_new(p, name, kp, 1, out);
}

vf_status vf_additive_coupling_new(vf_params *p, const char *name, const vf_additive_coupling_params *kp,
                                   vf_transform **out)
{
    return coupling_new(p, name, kp, 0, out);
}
