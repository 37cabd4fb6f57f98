/* planar.c — the planar flow (Rezende & Mohamed 2015): inverse x = f(z) = z + u^ tanh(w^T z + b) in
 * closed form, forward z = f^{-1}(x) by a safeguarded Newton solve inside one tape op whose VJP and
 * JVP come from the implicit function theorem (the math is in include/varflow/vf_planar.h).
 *
 * The solve op, planar_solve(x, w, u^, b, s) with s = w^T u^:
 *   a solves a + s tanh(a) = y, y = w^T x + b;  z = x - u^ tanh(a).
 * Differentiating the scalar equation: da = (dy - ds tanh(a)) / D, D = 1 + s c, c = 1 - tanh(a)^2,
 * dy = w^T dx + x^T dw + db; then dz = dx - tanh(a) du^ - c u^ da. In x alone this is
 * dz/dx = I - c u^ w^T / D, the Sherman-Morrison inverse of df/dz = I + c u^ w^T. s is passed as its
 * own input (on the tape s = m(w^T u) exactly, which keeps s > -1 where the float dot product of w and
 * u^ might not); the chain rule through the tape's s and u^ gives the total derivative.
 * Parameter inputs are per row ([n, d] and [n, 1], conditional) or shared ([d] and [1]); shared
 * gradients are summed over rows in double.
 */
#include <math.h>
#include <stdio.h>
#include "flows/flow_internal.h"
#include "nn/nn_internal.h"
#include "varflow/vf_planar.h"

/* ---- the solve op ------------------------------------------------------------------------- */

/* Row stride of a parameter input: per row (stride `per_row`) when it has n rows' worth of entries. */
static int64_t row_stride(const vf_node *in, int64_t n, int64_t per_row)
{
    return vf__numel(in) == n * per_row ? per_row : 0;
}

/* The root of a + s tanh(a) = y (s >= -1, so the left side increases): Newton steps, replaced by
 * bisection whenever they leave the bracket [y - |s|, y + |s|], which holds the root because
 * |tanh| <= 1. Converges to the last bit; at most 200 steps. */
static double planar_root(double y, double s)
{
    if (s == 0.0) return y;
    double lo = y - fabs(s), hi = y + fabs(s), a = y;
    if (a <= lo || a >= hi) a = 0.5 * (lo + hi);
    for (int it = 0; it < 200; it++) {
        double th = tanh(a), g = a + s * th - y;
        if (g == 0.0) return a;
        if (g > 0) hi = a;
        else lo = a;
        double dg = 1.0 + s * (1.0 - th * th), next = a - g / dg;
        if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
        if (next == a || !(hi - lo > 0)) return next;
        double step = fabs(next - a);
        a = next;
        if (step <= 4e-16 * fmax(fabs(a), 1e-300)) break;
    }
    return a;
}

/* aux per row: tanh(a), c = sech^2(a), D = 1 + s c, and a VJP scratch; then d doubles of scratch. */
enum { PS_TH = 0, PS_C, PS_D, PS_T, PS_K };

static vf_status planar_solve_fwd(vf_tape *t, vf_node *nd)
{
    const vf_node *X = vf__in(t, nd, 0), *W = vf__in(t, nd, 1), *U = vf__in(t, nd, 2), *B = vf__in(t, nd, 3),
                  *S = vf__in(t, nd, 4);
    const int64_t n = X->value.shape[0], d = X->value.shape[1];
    const int64_t sw = row_stride(W, n, d), su = row_stride(U, n, d), sb = row_stride(B, n, 1), ss = row_stride(S, n, 1);
    double *aux = vf__tape_alloc(t, (size_t)(n * PS_K + d) * sizeof(double));
    if (!aux) return VF_ERR_NOMEM;
    const vf_real *x = X->value.data, *w = W->value.data, *u = U->value.data, *b = B->value.data, *s = S->value.data;
    vf_real *z = nd->value.data;
    for (int64_t r = 0; r < n; r++) {
        const vf_real *xr = x + r * d, *wr = w + r * sw, *ur = u + r * su;
        double y = (double)b[r * sb];
        for (int64_t j = 0; j < d; j++) y += (double)wr[j] * (double)xr[j];
        double sr = (double)s[r * ss];
        if (sr < -1.0) sr = -1.0; /* s = m(w^T u) >= -1 by construction; guards the bracket logic */
        double a = planar_root(y, sr), th = tanh(a), ch = cosh(a), c = 1.0 / (ch * ch);
        for (int64_t j = 0; j < d; j++) z[r * d + j] = (vf_real)((double)xr[j] - (double)ur[j] * th);
        double *ar = aux + r * PS_K;
        ar[PS_TH] = th;
        ar[PS_C] = c;
        ar[PS_D] = 1.0 + sr * c;
        ar[PS_T] = 0.0;
    }
    nd->aux = aux;
    return VF_OK;
}

/* g[r * stride + j] += coef[r * PS_K] * m[r * d + j], summed over rows in double when the gradient is
 * shared (stride 0). acc [d] is scratch. */
static void acc_rows(vf_real *g, int64_t stride, int64_t n, int64_t d, const double *coef, const vf_real *m,
                     double *acc)
{
    if (stride) {
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < d; j++) g[r * stride + j] += (vf_real)(coef[r * PS_K] * (double)m[r * d + j]);
        return;
    }
    for (int64_t j = 0; j < d; j++) acc[j] = 0.0;
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < d; j++) acc[j] += coef[r * PS_K] * (double)m[r * d + j];
    for (int64_t j = 0; j < d; j++) g[j] += (vf_real)acc[j];
}

/* g[r * stride] += coef[r * PS_K], summed in double when shared (stride 0). */
static void acc_scalar(vf_real *g, int64_t stride, int64_t n, const double *coef)
{
    double tot = 0.0;
    for (int64_t r = 0; r < n; r++) {
        if (stride) g[r] += (vf_real)coef[r * PS_K];
        else tot += coef[r * PS_K];
    }
    if (!stride) g[0] += (vf_real)tot;
}

/* With q = c (u^ . gz) / D per row:
 * <gz, dz> = gz.dx - tanh(a) gz.du^ - q (w.dx + x.dw + db - tanh(a) ds). */
static void planar_solve_vjp(vf_tape *t, vf_node *nd)
{
    vf_node *X = vf__in(t, nd, 0), *W = vf__in(t, nd, 1), *U = vf__in(t, nd, 2), *B = vf__in(t, nd, 3),
            *S = vf__in(t, nd, 4);
    const int64_t n = X->value.shape[0], d = X->value.shape[1];
    const int64_t sw = row_stride(W, n, d), su = row_stride(U, n, d), sb = row_stride(B, n, 1), ss = row_stride(S, n, 1);
    double *aux = nd->aux, *acc = aux + n * PS_K, *coef = aux + PS_T;
    const vf_real *gz = nd->grad, *x = X->value.data, *w = W->value.data, *u = U->value.data;
    if (U->grad) { /* -tanh(a) gz */
        for (int64_t r = 0; r < n; r++) coef[r * PS_K] = -aux[r * PS_K + PS_TH];
        acc_rows(U->grad, su, n, d, coef, gz, acc);
    }
    for (int64_t r = 0; r < n; r++) { /* coef = -q */
        double ug = 0.0;
        for (int64_t j = 0; j < d; j++) ug += (double)u[r * su + j] * (double)gz[r * d + j];
        coef[r * PS_K] = -aux[r * PS_K + PS_C] * ug / aux[r * PS_K + PS_D];
    }
    if (X->grad)
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < d; j++)
                X->grad[r * d + j] += (vf_real)((double)gz[r * d + j] + coef[r * PS_K] * (double)w[r * sw + j]);
    if (W->grad) acc_rows(W->grad, sw, n, d, coef, x, acc); /* -q x */
    if (B->grad) acc_scalar(B->grad, sb, n, coef);          /* -q */
    if (S->grad) {                                           /* q tanh(a) */
        for (int64_t r = 0; r < n; r++) coef[r * PS_K] *= -aux[r * PS_K + PS_TH];
        acc_scalar(S->grad, ss, n, coef);
    }
}

static void planar_solve_jvp(vf_tape *t, vf_node *nd)
{
    const vf_node *X = vf__in(t, nd, 0), *W = vf__in(t, nd, 1), *U = vf__in(t, nd, 2), *B = vf__in(t, nd, 3),
                  *S = vf__in(t, nd, 4);
    const int64_t n = X->value.shape[0], d = X->value.shape[1];
    const int64_t sw = row_stride(W, n, d), su = row_stride(U, n, d), sb = row_stride(B, n, 1), ss = row_stride(S, n, 1);
    const double *aux = nd->aux;
    const vf_real *x = X->value.data, *w = W->value.data, *u = U->value.data;
    const vf_real *tx = X->tangent, *tw = W->tangent, *tu = U->tangent, *tb = B->tangent, *ts = S->tangent;
    vf_real *tz = nd->tangent;
    for (int64_t r = 0; r < n; r++) {
        const double *ar = aux + r * PS_K;
        double dy = tb ? (double)tb[r * sb] : 0.0;
        for (int64_t j = 0; j < d; j++) {
            if (tx) dy += (double)w[r * sw + j] * (double)tx[r * d + j];
            if (tw) dy += (double)tw[r * sw + j] * (double)x[r * d + j];
        }
        if (ts) dy -= (double)ts[r * ss] * ar[PS_TH];
        double da = dy / ar[PS_D];
        for (int64_t j = 0; j < d; j++) {
            double v = -ar[PS_C] * (double)u[r * su + j] * da;
            if (tx) v += (double)tx[r * d + j];
            if (tu) v -= ar[PS_TH] * (double)tu[r * su + j];
            tz[r * d + j] = (vf_real)v;
        }
    }
}

static const vf_op_def planar_solve_op = {"planar_solve", planar_solve_fwd, planar_solve_vjp, planar_solve_jvp, 0};

/* z [n, d] = f^{-1}(x): x [n, d]; w, uh [d] or [n, d]; b, s [1] or [n, 1]. */
static vf_var planar_solve(vf_tape *t, vf_var x, vf_var w, vf_var uh, vf_var b, vf_var s)
{
    vf_var in[5] = {x, w, uh, b, s};
    if (!vf__ok(t, "planar_solve", 5, in)) return VF_NOVAR;
    const vf_tensor *xv = vf_value(t, x);
    int64_t n = xv->shape[0], d = xv->shape[1];
    for (int i = 1; i < 5; i++) {
        int64_t k = vf_tensor_numel(vf_value(t, in[i])), per = i == 1 || i == 2 ? d : 1;
        if (k != per && k != n * per) return vf__fail(t, VF_ERR_SHAPE, "planar_solve: parameter %d has %lld entries", i, (long long)k);
    }
    vf_var z = vf__push(t, &planar_solve_op, 5, in, 2, xv->shape);
    return vf__run(t, z);
}

/* ---- the transform ------------------------------------------------------------------------ */

typedef struct planar_transform {
    vf_transform base;
    vf_planar_params pp;
    int32_t w, u, b;   /* ids of "<name>.w" [d], "<name>.u" [d], "<name>.b" [1] */
    vf_mlp *net;       /* context [n, c] -> offsets [n, 2d + 1]; NULL when unconditional */
} planar_transform;

/* The constrained parameters on the tape: w, uh [d] or [n, d]; b, s [1] or [n, 1] (s = w^T uh). */
typedef struct planar_vars {
    vf_var w, uh, b, s;
} planar_vars;

static int planar_params(const planar_transform *pl, vf_params *p, vf_tape *t, vf_var ctx, planar_vars *pv)
{
    const int64_t d = pl->base.dim;
    vf_var w = vf_params_var(p, t, pl->w), u = vf_params_var(p, t, pl->u), b = vf_params_var(p, t, pl->b);
    if (pl->net) {
        vf_var o = vf_mlp_forward(pl->net, p, t, ctx, VF_NOVAR); /* [n, 2d + 1] */
        w = vf_add(t, w, vf_slice(t, o, 1, 0, d));
        u = vf_add(t, u, vf_slice(t, o, 1, d, 2 * d));
        b = vf_add(t, b, vf_slice(t, o, 1, 2 * d, 2 * d + 1));
    }
    /* u^ = u + q w, q = (m(w.u) - w.u) / (|w|^2 + tiny); w.u^ = w.u + q |w|^2 = m - q tiny exactly */
    const double tiny = 1e-30;
    vf_var wu = vf_sum(t, vf_mul(t, w, u), -1, 1);
    vf_var ww = vf_add_scalar(t, vf_sum(t, vf_square(t, w), -1, 1), tiny);
    vf_var m = vf_add_scalar(t, vf_softplus(t, wu), -1.0);
    vf_var q = vf_div(t, vf_sub(t, m, wu), ww);
    pv->w = w;
    pv->uh = vf_add(t, u, vf_mul(t, q, w));
    pv->b = b;
    pv->s = vf_sub(t, m, vf_scale(t, q, tiny));
    return vf_tape_status(t) == VF_OK;
}

/* log|det df/dz| = log(1 + s (1 - tanh(w^T z + b)^2)) at z [n, d] -> [n] */
static vf_var planar_logdet(vf_tape *t, const planar_vars *pv, vf_var z, int64_t n)
{
    vf_var a = vf_add(t, vf_sum(t, vf_mul(t, z, pv->w), -1, 1), pv->b); /* [n, 1] */
    vf_var th = vf_tanh(t, a);
    vf_var c = vf_add_scalar(t, vf_neg(t, vf_square(t, th)), 1.0);
    vf_var l = vf_log1p(t, vf_mul(t, c, pv->s));
    return vf_reshape(t, l, 1, (int64_t[]){n});
}

/* x [n, d] -> z = f^{-1}(x), *ladj = -log|det df/dz| at z */
static vf_var planar_forward(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, vf_var *ladj)
{
    const planar_transform *pl = (const planar_transform *)tr;
    planar_vars pv;
    if (!planar_params(pl, p, t, ctx, &pv)) return VF_NOVAR;
    int64_t n = vf__flow_rows(t, x);
    vf_var z = planar_solve(t, x, pv.w, pv.uh, pv.b, pv.s);
    if (z == VF_NOVAR) return VF_NOVAR;
    *ladj = vf_neg(t, planar_logdet(t, &pv, z, n));
    return *ladj == VF_NOVAR ? VF_NOVAR : z;
}

/* z [n, d] -> x = f(z) = z + u^ tanh(w^T z + b), *ladj = log|det df/dz| */
static vf_var planar_inverse(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var z, vf_var ctx, vf_var *ladj)
{
    const planar_transform *pl = (const planar_transform *)tr;
    planar_vars pv;
    if (!planar_params(pl, p, t, ctx, &pv)) return VF_NOVAR;
    int64_t n = vf__flow_rows(t, z);
    vf_var a = vf_add(t, vf_sum(t, vf_mul(t, z, pv.w), -1, 1), pv.b);
    vf_var x = vf_add(t, z, vf_mul(t, pv.uh, vf_tanh(t, a)));
    *ladj = planar_logdet(t, &pv, z, n);
    return *ladj == VF_NOVAR ? VF_NOVAR : x;
}

static vf_status planar_describe(const vf_transform *tr, char *json, size_t len)
{
    const planar_transform *pl = (const planar_transform *)tr;
    return vf__json_printf(json, len,
                           "{\"kind\":\"planar\",\"dim\":%lld,\"context\":%lld,\"n_hidden\":%d,\"hidden\":%lld,"
                           "\"act\":\"%s\",\"init_scale\":%.17g}",
                           (long long)tr->dim, (long long)tr->context, pl->pp.n_hidden, (long long)pl->pp.hidden,
                           vf_activation_name(pl->pp.act), pl->pp.init_scale);
}

static void planar_destroy(vf_transform *tr)
{
    planar_transform *pl = (planar_transform *)tr;
    vf_mlp_free(pl->net);
    vf_free(pl);
}

static const vf_transform_vtable planar_vt = {"planar", planar_forward, planar_inverse, planar_describe,
                                              planar_destroy, NULL};

vf_planar_params vf_planar_default_params(int64_t d)
{
    vf_planar_params pp;
    pp.dim = d;
    pp.context = 0;
    pp.n_hidden = 2;
    pp.hidden = 64;
    pp.act = VF_ACT_RELU;
    pp.init_scale = d > 0 ? 1.0 / sqrt((double)d) : 1.0;
    return pp;
}

vf_status vf_planar_new(vf_params *p, const char *name, const vf_planar_params *pp, vf_transform **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "planar: NULL output");
    *out = NULL;
    if (!p || !pp) return vf__error(VF_ERR_ARG, "planar: NULL argument");
    const int64_t d = pp->dim, c = pp->context;
    if (d < 1 || c < 0 || d > INT64_MAX / 4)
        return vf__error(VF_ERR_ARG, "planar: dimension %lld (>= 1), context %lld (>= 0)", (long long)d, (long long)c);
    if (!isfinite(pp->init_scale) || pp->init_scale < 0)
        return vf__error(VF_ERR_ARG, "planar: init_scale %g must be finite and >= 0", pp->init_scale);
    if (c > 0 && (pp->n_hidden < 0 || pp->n_hidden > VF_NN_MAX_HIDDEN || (pp->n_hidden > 0 && pp->hidden < 1)))
        return vf__error(VF_ERR_ARG, "planar: context MLP needs 0..%d hidden layers of width >= 1 (got %d of %lld)",
                         VF_NN_MAX_HIDDEN, pp->n_hidden, (long long)pp->hidden);
    if (c > 0 && ((int)pp->act < 0 || pp->act >= VF_ACT_COUNT))
        return vf__error(VF_ERR_ARG, "planar: unknown activation %d", (int)pp->act);
    if (vf_params_is_finalized(p)) return vf__error(VF_ERR_STATE, "planar: parameter store is already finalized");
    planar_transform *pl = vf_calloc(1, sizeof *pl);
    if (!pl) return VF_ERR_NOMEM;
    int32_t mark = vf_params_count(p);
    vf_init init = vf_init_uniform(-pp->init_scale, pp->init_scale);
    char buf[VF_PARAM_NAME_MAX];
    vf_status s = vf__param_name(buf, sizeof buf, name, "w");
    if (s == VF_OK) s = vf_params_add(p, buf, 1, (int64_t[]){d}, init, &pl->w);
    if (s == VF_OK) s = vf__param_name(buf, sizeof buf, name, "u");
    if (s == VF_OK) s = vf_params_add(p, buf, 1, (int64_t[]){d}, init, &pl->u);
    if (s == VF_OK) s = vf__param_name(buf, sizeof buf, name, "b");
    if (s == VF_OK) s = vf_params_add(p, buf, 1, (int64_t[]){1}, init, &pl->b);
    if (s == VF_OK && c > 0) {
        vf_mlp_params mp = vf_mlp_default_params(c, 2 * d + 1);
        mp.n_hidden = pp->n_hidden;
        for (int i = 0; i < VF_NN_MAX_HIDDEN; i++) mp.hidden[i] = pp->hidden;
        mp.act = pp->act;
        mp.zero_init_output = 1;
        s = vf__param_name(buf, sizeof buf, name, "net");
        if (s == VF_OK) s = vf_mlp_new(p, buf, &mp, &pl->net);
    }
    if (s != VF_OK) {
        vf__params_truncate(p, mark);
        vf_free(pl);
        return s;
    }
    pl->base.vt = &planar_vt;
    pl->base.dim = d;
    pl->base.context = c;
    pl->pp = *pp;
    *out = &pl->base;
    return VF_OK;
}
