/* radial.c — the radial flow (Rezende & Mohamed 2015): inverse x = f(z) = z + beta^ (z - z0) / (alpha + r)
 * in closed form, forward z = f^{-1}(x) from the scalar equation for r = |z - z0| inside one tape op
 * whose VJP and JVP come from the implicit function theorem (the math is in vf_planar.h).
 *
 * The solve op, radial_solve(x, z0, alpha, beta^), with e = x - z0 and rho = |e|:
 *   r >= 0 solves F(r) = r + beta^ r / (alpha + r) - rho = 0, i.e. r^2 + (alpha + beta^ - rho) r - alpha rho = 0;
 *   z = z0 + sigma e, sigma = r / rho = (alpha + r) / (alpha + r + beta^)  (the latter is its limit at rho = 0).
 * Implicit differentiation: E = F'(r) = 1 + alpha beta^ / (alpha + r)^2 > 0 and
 *   dr = (d rho + beta^ r / (alpha + r)^2 d alpha - r / (alpha + r) d beta^) / E,  d rho = e^.(dx - dz0),
 *   d sigma = (beta^ (d alpha + dr) - (alpha + r) d beta^) / S^2,  S = alpha + r + beta^,
 *   dz = dz0 + d sigma e + sigma (dx - dz0).
 * In x alone, dz/dx = sigma I + (d sigma / d rho) e e^T / rho: the Sherman-Morrison inverse of
 * df/dz = (1 + beta^ h) I + beta^ h'(r) y y^T / r (h = 1 / (alpha + r), y = z - z0).
 * Parameter inputs are per row ([n, d] and [n, 1], conditional) or shared ([d] and [1]); shared
 * gradients are summed over rows in double.
 */
#include <math.h>
#include <stdio.h>
#include "flows/flow_internal.h"
#include "nn/nn_internal.h"
#include "varflow/vf_planar.h"

/* ---- the solve op ------------------------------------------------------------------------- */

static int64_t row_stride(const vf_node *in, int64_t n, int64_t per_row)
{
    return vf__numel(in) == n * per_row ? per_row : 0;
}

/* The non-negative root of r^2 + (alpha + beta - rho) r - alpha rho = 0 (alpha > 0, alpha + beta > 0,
 * rho >= 0): the cancellation-free quadratic formula, then one Newton step on F(r). */
static double radial_root(double rho, double alpha, double beta)
{
    double B = alpha + beta - rho, disc = sqrt(B * B + 4.0 * alpha * rho);
    double r = B >= 0 ? 2.0 * alpha * rho / (B + disc) : 0.5 * (disc - B);
    if (!(r > 0)) return 0.0;
    double ar = alpha + r, F = r + beta * r / ar - rho, E = 1.0 + alpha * beta / (ar * ar);
    double next = r - F / E;
    return next > 0 ? next : r;
}

/* aux per row: rho, r, sigma, E; then two VJP scratch slots; then d doubles of scratch. */
enum { RS_RHO = 0, RS_R, RS_SIG, RS_E, RS_T1, RS_T2, RS_K };

static vf_status radial_solve_fwd(vf_tape *t, vf_node *nd)
{
    const vf_node *X = vf__in(t, nd, 0), *Z0 = vf__in(t, nd, 1), *A = vf__in(t, nd, 2), *B = vf__in(t, nd, 3);
    const int64_t n = X->value.shape[0], d = X->value.shape[1];
    const int64_t s0 = row_stride(Z0, n, d), sa = row_stride(A, n, 1), sb = row_stride(B, n, 1);
    double *aux = vf__tape_alloc(t, (size_t)(n * RS_K + d) * sizeof(double));
    if (!aux) return VF_ERR_NOMEM;
    const vf_real *x = X->value.data, *z0 = Z0->value.data, *al = A->value.data, *be = B->value.data;
    vf_real *z = nd->value.data;
    for (int64_t r = 0; r < n; r++) {
        const vf_real *xr = x + r * d, *cr = z0 + r * s0;
        double rho2 = 0.0;
        for (int64_t j = 0; j < d; j++) {
            double e = (double)xr[j] - (double)cr[j];
            rho2 += e * e;
        }
        double alpha = (double)al[r * sa], beta = (double)be[r * sb], rho = sqrt(rho2);
        double *q = aux + r * RS_K;
        if (isnan(rho)) { /* a NaN in the row (or the centre): NaN out, which the evaluation reports */
            for (int64_t j = 0; j <= d; j++) z[r * (d + 1) + j] = (vf_real)NAN;
            for (int k = 0; k < RS_K; k++) q[k] = NAN;
            continue;
        }
        /* sigma = r / rho; at rho = 0 its limit alpha / (alpha + beta^) (infinite when beta^ = -alpha
         * exactly: the map is singular at the centre) enters only the derivatives, and z = z0 */
        double rr = radial_root(rho, alpha, beta), ar = alpha + rr, sig = rho > 0 ? rr / rho : alpha / (alpha + beta);
        for (int64_t j = 0; j < d; j++)
            z[r * (d + 1) + j] = rho > 0 ? (vf_real)((double)cr[j] + sig * ((double)xr[j] - (double)cr[j])) : cr[j];
        z[r * (d + 1) + d] = (vf_real)rr;
        q[RS_RHO] = rho;
        q[RS_R] = rr;
        q[RS_SIG] = sig;
        q[RS_E] = 1.0 + alpha * beta / (ar * ar);
        q[RS_T1] = q[RS_T2] = 0.0;
    }
    nd->aux = aux;
    return VF_OK;
}

/* Per row, with cotangents gz [d] and gr of (z, r), ge = gz.e, k_sigma = ge / S^2 and
 * k_r = (k_sigma beta^ + gr) / E (the weight of d rho):
 *   <gz, dz> + gr dr = (1 - sigma) gz.dz0 + sigma gz.dx + k_r e^.(dx - dz0)
 *              + (k_sigma beta^ + k_r beta^ r / (alpha + r)^2) d alpha - (k_sigma (alpha + r) + k_r r / (alpha + r)) d beta^ */
static void radial_solve_vjp(vf_tape *t, vf_node *nd)
{
    vf_node *X = vf__in(t, nd, 0), *Z0 = vf__in(t, nd, 1), *A = vf__in(t, nd, 2), *B = vf__in(t, nd, 3);
    const int64_t n = X->value.shape[0], d = X->value.shape[1];
    const int64_t s0 = row_stride(Z0, n, d), sa = row_stride(A, n, 1), sb = row_stride(B, n, 1);
    double *aux = nd->aux, *acc = aux + n * RS_K;
    const vf_real *gz = nd->grad, *x = X->value.data, *z0 = Z0->value.data, *al = A->value.data, *be = B->value.data;
    double ga_tot = 0.0, gb_tot = 0.0;
    if (Z0->grad && !s0)
        for (int64_t j = 0; j < d; j++) acc[j] = 0.0;
    for (int64_t r = 0; r < n; r++) {
        double *q = aux + r * RS_K;
        const vf_real *xr = x + r * d, *cr = z0 + r * s0, *g = gz + r * (d + 1);
        double alpha = (double)al[r * sa], beta = (double)be[r * sb], rr = q[RS_R], ar = alpha + rr;
        double S = ar + beta, ge = 0.0;
        for (int64_t j = 0; j < d; j++) ge += (double)g[j] * ((double)xr[j] - (double)cr[j]);
        double ks = ge / (S * S), kr = (ks * beta + (double)g[d]) / q[RS_E];
        double krho = q[RS_RHO] > 0 ? kr / q[RS_RHO] : 0.0; /* weight of e in d rho = e.(dx - dz0) / rho */
        double sig = q[RS_SIG];
        for (int64_t j = 0; j < d; j++) {
            double e = (double)xr[j] - (double)cr[j], gj = (double)g[j];
            if (X->grad) X->grad[r * d + j] += (vf_real)(sig * gj + krho * e);
            if (Z0->grad) {
                double v = (1.0 - sig) * gj - krho * e;
                if (s0) Z0->grad[r * d + j] += (vf_real)v;
                else acc[j] += v;
            }
        }
        double ga = ks * beta + kr * beta * rr / (ar * ar), gb = -(ks * ar + kr * rr / ar);
        if (A->grad) {
            if (sa) A->grad[r] += (vf_real)ga;
            else ga_tot += ga;
        }
        if (B->grad) {
            if (sb) B->grad[r] += (vf_real)gb;
            else gb_tot += gb;
        }
    }
    if (Z0->grad && !s0)
        for (int64_t j = 0; j < d; j++) Z0->grad[j] += (vf_real)acc[j];
    if (A->grad && !sa) A->grad[0] += (vf_real)ga_tot;
    if (B->grad && !sb) B->grad[0] += (vf_real)gb_tot;
}

static void radial_solve_jvp(vf_tape *t, vf_node *nd)
{
    const vf_node *X = vf__in(t, nd, 0), *Z0 = vf__in(t, nd, 1), *A = vf__in(t, nd, 2), *B = vf__in(t, nd, 3);
    const int64_t n = X->value.shape[0], d = X->value.shape[1];
    const int64_t s0 = row_stride(Z0, n, d), sa = row_stride(A, n, 1), sb = row_stride(B, n, 1);
    const double *aux = nd->aux;
    const vf_real *x = X->value.data, *z0 = Z0->value.data, *al = A->value.data, *be = B->value.data;
    const vf_real *tx = X->tangent, *t0 = Z0->tangent, *ta = A->tangent, *tb = B->tangent;
    vf_real *tz = nd->tangent;
    for (int64_t r = 0; r < n; r++) {
        const double *q = aux + r * RS_K;
        const vf_real *xr = x + r * d, *cr = z0 + r * s0;
        double alpha = (double)al[r * sa], beta = (double)be[r * sb], rr = q[RS_R], ar = alpha + rr, S = ar + beta;
        double da = ta ? (double)ta[r * sa] : 0.0, db = tb ? (double)tb[r * sb] : 0.0, drho = 0.0;
        if (q[RS_RHO] > 0) {
            for (int64_t j = 0; j < d; j++) {
                double dv = (tx ? (double)tx[r * d + j] : 0.0) - (t0 ? (double)t0[r * s0 + j] : 0.0);
                drho += ((double)xr[j] - (double)cr[j]) * dv;
            }
            drho /= q[RS_RHO];
        }
        double dr = (drho + beta * rr / (ar * ar) * da - rr / ar * db) / q[RS_E];
        double dsig = (beta * (da + dr) - ar * db) / (S * S), sig = q[RS_SIG];
        for (int64_t j = 0; j < d; j++) {
            double dxj = tx ? (double)tx[r * d + j] : 0.0, d0 = t0 ? (double)t0[r * s0 + j] : 0.0;
            tz[r * (d + 1) + j] = (vf_real)(d0 + dsig * ((double)xr[j] - (double)cr[j]) + sig * (dxj - d0));
        }
        tz[r * (d + 1) + d] = (vf_real)dr;
    }
}

static const vf_op_def radial_solve_op = {"radial_solve", radial_solve_fwd, radial_solve_vjp, radial_solve_jvp, 0};

/* [z, r] [n, d + 1]: z = f^{-1}(x) and r = |z - z0| (exact, also where z - z0 is below z0's rounding):
 * x [n, d]; z0 [d] or [n, d]; alpha > 0, beta^ > -alpha: [1] or [n, 1]. */
static vf_var radial_solve(vf_tape *t, vf_var x, vf_var z0, vf_var alpha, vf_var beta)
{
    vf_var in[4] = {x, z0, alpha, beta};
    if (!vf__ok(t, "radial_solve", 4, in)) return VF_NOVAR;
    const vf_tensor *xv = vf_value(t, x);
    int64_t n = xv->shape[0], d = xv->shape[1];
    for (int i = 1; i < 4; i++) {
        int64_t k = vf_tensor_numel(vf_value(t, in[i])), per = i == 1 ? d : 1;
        if (k != per && k != n * per) return vf__fail(t, VF_ERR_SHAPE, "radial_solve: parameter %d has %lld entries", i, (long long)k);
    }
    vf_var z = vf__push(t, &radial_solve_op, 4, in, 2, (int64_t[]){n, d + 1});
    return vf__run(t, z);
}

/* ---- the transform ------------------------------------------------------------------------ */

typedef struct radial_transform {
    vf_transform base;
    vf_radial_params rp;
    int32_t z0, alpha_raw, beta_raw;   /* ids of "<name>.z0" [d], "<name>.alpha_raw" [1], "<name>.beta_raw" [1] */
    vf_mlp *net;                       /* context [n, c] -> offsets [n, d + 2]; NULL when unconditional */
} radial_transform;

/* The constrained parameters on the tape: z0 [d] or [n, d]; alpha, beta^ [1] or [n, 1]. */
typedef struct radial_vars {
    vf_var z0, alpha, beta;
} radial_vars;

static int radial_params(const radial_transform *rt, vf_params *p, vf_tape *t, vf_var ctx, radial_vars *rv)
{
    const int64_t d = rt->base.dim;
    vf_var z0 = vf_params_var(p, t, rt->z0), a = vf_params_var(p, t, rt->alpha_raw);
    vf_var b = vf_params_var(p, t, rt->beta_raw);
    if (rt->net) {
        vf_var o = vf_mlp_forward(rt->net, p, t, ctx, VF_NOVAR); /* [n, d + 2] */
        z0 = vf_add(t, z0, vf_slice(t, o, 1, 0, d));
        a = vf_add(t, a, vf_slice(t, o, 1, d, d + 1));
        b = vf_add(t, b, vf_slice(t, o, 1, d + 1, d + 2));
    }
    rv->z0 = z0;
    rv->alpha = vf_softplus(t, a);
    rv->beta = vf_sub(t, vf_softplus(t, b), rv->alpha);
    return vf_tape_status(t) == VF_OK;
}

/* |y| per row: y [n, d] -> [n, 1], with gradient 0 (not 0/0) where y = 0: the square root sees 1
 * there and its result is replaced by 0 (both through where, so no NaN reaches the gradient). A row
 * holding a NaN keeps it (its norm is NaN, not 0). */
static vf_var safe_norm(vf_tape *t, vf_var y, int64_t n)
{
    vf_var ss = vf_sum(t, vf_square(t, y), -1, 1);
    if (ss == VF_NOVAR) return VF_NOVAR;
    vf_real *mask = vf__tape_alloc(t, (size_t)n * sizeof *mask);
    if (!mask) return VF_NOVAR;
    const vf_real *sv = vf_value(t, ss)->data;
    for (int64_t i = 0; i < n; i++) mask[i] = !(sv[i] == 0);
    vf_var m = vf_input(t, mask, 2, (int64_t[]){n, 1});
    vf_var safe = vf_where(t, m, ss, vf_scalar(t, 1.0));
    return vf_where(t, m, vf_sqrt(t, safe), vf_scalar(t, 0.0));
}

/* log|det df/dz| = (d-1) log(1 + beta^ h) + log(1 + alpha beta^ h^2), h = 1 / (alpha + r): r [n, 1] -> [n] */
static vf_var radial_logdet(vf_tape *t, const radial_vars *rv, vf_var r, int64_t n, int64_t d)
{
    vf_var ar = vf_add(t, rv->alpha, r);
    vf_var bh = vf_div(t, rv->beta, ar);                                     /* beta^ h */
    vf_var l = vf_log1p(t, vf_mul(t, bh, vf_div(t, rv->alpha, ar)));         /* alpha beta^ h^2 */
    if (d > 1) l = vf_add(t, l, vf_scale(t, vf_log1p(t, bh), (double)(d - 1)));
    return vf_reshape(t, l, 1, (int64_t[]){n});
}

/* x [n, d] -> z = f^{-1}(x), *ladj = -log|det df/dz| at z */
static vf_var radial_forward(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, vf_var *ladj)
{
    const radial_transform *rt = (const radial_transform *)tr;
    radial_vars rv;
    if (!radial_params(rt, p, t, ctx, &rv)) return VF_NOVAR;
    const int64_t n = vf__flow_rows(t, x), d = tr->dim;
    vf_var zr = radial_solve(t, x, rv.z0, rv.alpha, rv.beta); /* [n, d + 1] */
    if (zr == VF_NOVAR) return VF_NOVAR;
    vf_var z = vf_slice(t, zr, 1, 0, d);
    *ladj = vf_neg(t, radial_logdet(t, &rv, vf_slice(t, zr, 1, d, d + 1), n, d));
    return *ladj == VF_NOVAR ? VF_NOVAR : z;
}

/* z [n, d] -> x = f(z) = z + beta^ (z - z0) / (alpha + |z - z0|), *ladj = log|det df/dz| */
static vf_var radial_inverse(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var z, vf_var ctx, vf_var *ladj)
{
    const radial_transform *rt = (const radial_transform *)tr;
    radial_vars rv;
    if (!radial_params(rt, p, t, ctx, &rv)) return VF_NOVAR;
    const int64_t n = vf__flow_rows(t, z);
    vf_var y = vf_sub(t, z, rv.z0);
    vf_var r = safe_norm(t, y, n);
    vf_var x = vf_add(t, z, vf_mul(t, vf_div(t, rv.beta, vf_add(t, rv.alpha, r)), y));
    *ladj = radial_logdet(t, &rv, r, n, tr->dim);
    return *ladj == VF_NOVAR ? VF_NOVAR : x;
}

static vf_status radial_describe(const vf_transform *tr, char *json, size_t len)
{
    const radial_transform *rt = (const radial_transform *)tr;
    return vf__json_printf(json, len,
                           "{\"kind\":\"radial\",\"dim\":%lld,\"context\":%lld,\"n_hidden\":%d,\"hidden\":%lld,"
                           "\"act\":\"%s\",\"init_scale\":%.17g}",
                           (long long)tr->dim, (long long)tr->context, rt->rp.n_hidden, (long long)rt->rp.hidden,
                           vf_activation_name(rt->rp.act), rt->rp.init_scale);
}

static void radial_destroy(vf_transform *tr)
{
    radial_transform *rt = (radial_transform *)tr;
    vf_mlp_free(rt->net);
    vf_free(rt);
}

static const vf_transform_vtable radial_vt = {"radial", radial_forward, radial_inverse, radial_describe,
                                              radial_destroy, NULL};

vf_radial_params vf_radial_default_params(int64_t d)
{
    vf_radial_params rp;
    rp.dim = d;
    rp.context = 0;
    rp.n_hidden = 2;
    rp.hidden = 64;
    rp.act = VF_ACT_RELU;
    rp.init_scale = d > 0 ? 1.0 / sqrt((double)d) : 1.0;
    return rp;
}

vf_status vf_radial_new(vf_params *p, const char *name, const vf_radial_params *rp, vf_transform **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "radial: NULL output");
    *out = NULL;
    if (!p || !rp) return vf__error(VF_ERR_ARG, "radial: NULL argument");
    const int64_t d = rp->dim, c = rp->context;
    if (d < 1 || c < 0 || d > INT64_MAX / 4)
        return vf__error(VF_ERR_ARG, "radial: dimension %lld (>= 1), context %lld (>= 0)", (long long)d, (long long)c);
    if (!isfinite(rp->init_scale) || rp->init_scale < 0)
        return vf__error(VF_ERR_ARG, "radial: init_scale %g must be finite and >= 0", rp->init_scale);
    if (c > 0 && (rp->n_hidden < 0 || rp->n_hidden > VF_NN_MAX_HIDDEN || (rp->n_hidden > 0 && rp->hidden < 1)))
        return vf__error(VF_ERR_ARG, "radial: context MLP needs 0..%d hidden layers of width >= 1 (got %d of %lld)",
                         VF_NN_MAX_HIDDEN, rp->n_hidden, (long long)rp->hidden);
    if (c > 0 && ((int)rp->act < 0 || rp->act >= VF_ACT_COUNT))
        return vf__error(VF_ERR_ARG, "radial: unknown activation %d", (int)rp->act);
    if (vf_params_is_finalized(p)) return vf__error(VF_ERR_STATE, "radial: parameter store is already finalized");
    radial_transform *rt = vf_calloc(1, sizeof *rt);
    if (!rt) return VF_ERR_NOMEM;
    int32_t mark = vf_params_count(p);
    vf_init init = vf_init_uniform(-rp->init_scale, rp->init_scale);
    char buf[VF_PARAM_NAME_MAX];
    vf_status s = vf__param_name(buf, sizeof buf, name, "z0");
    if (s == VF_OK) s = vf_params_add(p, buf, 1, (int64_t[]){d}, init, &rt->z0);
    if (s == VF_OK) s = vf__param_name(buf, sizeof buf, name, "alpha_raw");
    if (s == VF_OK) s = vf_params_add(p, buf, 1, (int64_t[]){1}, init, &rt->alpha_raw);
    if (s == VF_OK) s = vf__param_name(buf, sizeof buf, name, "beta_raw");
    if (s == VF_OK) s = vf_params_add(p, buf, 1, (int64_t[]){1}, init, &rt->beta_raw);
    if (s == VF_OK && c > 0) {
        vf_mlp_params mp = vf_mlp_default_params(c, d + 2);
        mp.n_hidden = rp->n_hidden;
        for (int i = 0; i < VF_NN_MAX_HIDDEN; i++) mp.hidden[i] = rp->hidden;
        mp.act = rp->act;
        mp.zero_init_output = 1;
        s = vf__param_name(buf, sizeof buf, name, "net");
        if (s == VF_OK) s = vf_mlp_new(p, buf, &mp, &rt->net);
    }
    if (s != VF_OK) {
        vf__params_truncate(p, mark);
        vf_free(rt);
        return s;
    }
    rt->base.vt = &radial_vt;
    rt->base.dim = d;
    rt->base.context = c;
    rt->rp = *rp;
    *out = &rt->base;
    return VF_OK;
}
