/* flowcheck.h — the checks every flow transform must pass (issue 3, "Done means"):
 *
 *   fc_randomize(p, seed, sd)                         parameters ~ N(0, sd^2), so checks are not at the identity
 *   fc_roundtrip(tr, p, n, x, ctx)                    inverse(forward(x)) == x, forward(inverse(x)) == x,
 *                                                     and the two log-determinants cancel
 *   fc_logdet(tr, p, n, x, ctx)                       log|det J| against the Jacobian built column by column
 *                                                     with reverse mode and factorized in double (d <= 6),
 *                                                     for forward and inverse
 *   fc_normalization(tr, p, ctx_row, lo, hi, cells, tol)  the density of "transform, then N(0, I)" integrates
 *                                                     to 1 over [lo, hi]^d (d = 1, 2; midpoint rule)
 *   fc_gradcheck(tr, p, n, x, ctx, inverse)           gradients of <u, [z, ladj]> w.r.t. input and context
 *                                                     (tests/gradcheck.h: central differences and forward vs
 *                                                     reverse mode) and w.r.t. every parameter (central
 *                                                     differences over the flat buffer)
 *   fc_context_matters(tr, p, n, x, ctx_a, ctx_b)     two contexts give two different outputs
 *
 * x is [n, d] and ctx [n, c] (NULL when the transform has no context); each function returns 1 on
 * success and prints what failed to stderr. Use them inside CHECK(...).
 */
#ifndef VF_FLOWCHECK_H
#define VF_FLOWCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"
#include "varflow.h"

#if VF_USE_DOUBLE
#define FC_ROUNDTRIP_TOL 1e-9
#define FC_LOGDET_TOL 1e-8
#else
#define FC_ROUNDTRIP_TOL 2e-4
#define FC_LOGDET_TOL 2e-3
#endif

static inline void fc_randomize(vf_params *p, uint64_t seed, double sd)
{
    vf_rng r;
    vf_rng_init(&r, seed, 99);
    vf_rng_normal_fill(&r, vf_params_values(p), (size_t)vf_params_size(p), 0.0, sd);
}

static inline vf_var fc_ctx_var(vf_tape *t, const vf_transform *tr, int64_t n, const vf_real *ctx)
{
    int64_t c = vf_transform_context_dim(tr);
    return c > 0 && ctx ? vf_input(t, ctx, 2, (int64_t[]){n, c}) : VF_NOVAR;
}

/* max |a - b| / max(1, |b|) */
static inline double fc_maxrel(const vf_real *a, const vf_real *b, int64_t n)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]) / fmax(1.0, fabs((double)b[i]));
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

static inline int fc_roundtrip(const vf_transform *tr, vf_params *p, int64_t n, const vf_real *x, const vf_real *ctx)
{
    int ok = 1;
    int64_t d = vf_transform_dim(tr);
    vf_tape *t = vf_tape_new();
    for (int dir = 0; dir < 2 && t; dir++) { /* 0: inverse(forward(x)); 1: forward(inverse(x)) */
        vf_tape_reset(t);
        vf_var c = fc_ctx_var(t, tr, n, ctx), l1, l2;
        vf_var v = vf_input(t, x, 2, (int64_t[]){n, d});
        vf_var y = dir == 0 ? vf_transform_forward(tr, p, t, v, c, &l1) : vf_transform_inverse(tr, p, t, v, c, &l1);
        vf_var back = dir == 0 ? vf_transform_inverse(tr, p, t, y, c, &l2) : vf_transform_forward(tr, p, t, y, c, &l2);
        if (vf_tape_status(t) != VF_OK) {
            fprintf(stderr, "roundtrip %s: %s\n", vf_transform_kind(tr), vf_tape_error(t));
            ok = 0;
            break;
        }
        double ex = fc_maxrel(vf_value(t, back)->data, x, n * d);
        const vf_real *a = vf_value(t, l1)->data, *b = vf_value(t, l2)->data;
        double el = 0;
        for (int64_t i = 0; i < n; i++) {
            double e = fabs((double)a[i] + (double)b[i]) / fmax(1.0, fabs((double)a[i]));
            if (!(e <= el)) el = e;
        }
        if (!(ex <= FC_ROUNDTRIP_TOL) || !(el <= FC_ROUNDTRIP_TOL)) {
            fprintf(stderr, "roundtrip %s (%s): values rel err %.3g, log-det sum rel err %.3g (tol %.1g)\n",
                    vf_transform_kind(tr), dir ? "forward(inverse)" : "inverse(forward)", ex, el, FC_ROUNDTRIP_TOL);
            ok = 0;
        }
    }
    vf_tape_free(t);
    return ok;
}

/* log|det A| of a d x d matrix by LU with partial pivoting, in double. */
static inline double fc_logabsdet(double *a, int d)
{
    double s = 0;
    for (int k = 0; k < d; k++) {
        int piv = k;
        for (int i = k + 1; i < d; i++)
            if (fabs(a[i * d + k]) > fabs(a[piv * d + k])) piv = i;
        if (a[piv * d + k] == 0) return -INFINITY;
        if (piv != k)
            for (int j = 0; j < d; j++) {
                double tmp = a[k * d + j];
                a[k * d + j] = a[piv * d + j];
                a[piv * d + j] = tmp;
            }
        s += log(fabs(a[k * d + k]));
        for (int i = k + 1; i < d; i++) {
            double f = a[i * d + k] / a[k * d + k];
            for (int j = k; j < d; j++) a[i * d + j] -= f * a[k * d + j];
        }
    }
    return s;
}

static inline int fc_logdet(const vf_transform *tr, vf_params *p, int64_t n, const vf_real *x, const vf_real *ctx)
{
    int ok = 1;
    int64_t d = vf_transform_dim(tr);
    if (d > 6) {
        fprintf(stderr, "fc_logdet: d = %lld > 6\n", (long long)d);
        return 0;
    }
    vf_tape *t = vf_tape_new();
    double *jac = calloc((size_t)(n * d * d), sizeof *jac);
    vf_real *seed = calloc((size_t)(n * d), sizeof *seed);
    for (int dir = 0; dir < 2 && t && jac && seed && ok; dir++) {
        vf_real *ladj = calloc((size_t)n, sizeof *ladj);
        for (int64_t j = 0; j < d && ok; j++) { /* row j of every sample's Jacobian: d z_j / d x */
            vf_tape_reset(t);
            vf_var c = fc_ctx_var(t, tr, n, ctx), l;
            vf_var v = vf_input_grad(t, x, 2, (int64_t[]){n, d});
            vf_var y = dir == 0 ? vf_transform_forward(tr, p, t, v, c, &l) : vf_transform_inverse(tr, p, t, v, c, &l);
            for (int64_t i = 0; i < n * d; i++) seed[i] = (vf_real)((i % d) == j);
            if (vf_tape_status(t) != VF_OK || vf_backward_seed(t, y, seed) != VF_OK) {
                fprintf(stderr, "logdet %s: %s\n", vf_transform_kind(tr), vf_tape_error(t));
                ok = 0;
                break;
            }
            const vf_real *g = vf_grad(t, v);
            for (int64_t r = 0; r < n; r++)
                for (int64_t k = 0; k < d; k++) jac[(r * d + j) * d + k] = g ? (double)g[r * d + k] : 0.0;
            for (int64_t r = 0; r < n; r++) ladj[r] = vf_value(t, l)->data[r];
        }
        for (int64_t r = 0; r < n && ok; r++) {
            double want = fc_logabsdet(jac + r * d * d, (int)d);
            double e = fabs((double)ladj[r] - want) / fmax(1.0, fabs(want));
            if (!(e <= FC_LOGDET_TOL)) {
                fprintf(stderr, "logdet %s (%s) row %lld: transform says %.10g, Jacobian gives %.10g\n",
                        vf_transform_kind(tr), dir ? "inverse" : "forward", (long long)r, (double)ladj[r], want);
                ok = 0;
            }
        }
        free(ladj);
    }
    free(jac);
    free(seed);
    vf_tape_free(t);
    return ok && t != NULL;
}

/* d = 1 or 2: integral over [lo, hi]^d of exp(log N(T(x)) + ladj(x)) by the midpoint rule with
 * `cells` cells per axis; |integral - 1| <= tol. ctx_row [c] is used for every point (NULL without). */
static inline int fc_normalization(const vf_transform *tr, vf_params *p, const vf_real *ctx_row, double lo, double hi,
                            int64_t cells, double tol)
{
    int64_t d = vf_transform_dim(tr), c = vf_transform_context_dim(tr);
    if (d < 1 || d > 2) {
        fprintf(stderr, "fc_normalization: d = %lld\n", (long long)d);
        return 0;
    }
    const int64_t batch = 4096;
    double h = (hi - lo) / (double)cells, vol = d == 1 ? h : h * h, total = 0;
    int64_t points = d == 1 ? cells : cells * cells;
    vf_real *x = malloc((size_t)(batch * d) * sizeof *x), *cx = c ? malloc((size_t)(batch * c) * sizeof *cx) : NULL;
    vf_tape *t = vf_tape_new();
    int ok = x && t && (!c || cx);
    for (int64_t i = 0; c && ctx_row && ok && i < batch; i++) memcpy(cx + i * c, ctx_row, (size_t)c * sizeof *cx);
    for (int64_t start = 0; ok && start < points; start += batch) {
        int64_t m = points - start < batch ? points - start : batch;
        for (int64_t i = 0; i < m; i++) {
            int64_t q = start + i;
            if (d == 1) {
                x[i] = (vf_real)(lo + (q + 0.5) * h);
            } else {
                x[2 * i] = (vf_real)(lo + (q / cells + 0.5) * h);
                x[2 * i + 1] = (vf_real)(lo + (q % cells + 0.5) * h);
            }
        }
        vf_tape_reset(t);
        vf_var cv = c ? vf_input(t, cx, 2, (int64_t[]){m, c}) : VF_NOVAR, l;
        vf_var z = vf_transform_forward(tr, p, t, vf_input(t, x, 2, (int64_t[]){m, d}), cv, &l);
        if (vf_tape_status(t) != VF_OK) {
            fprintf(stderr, "normalization %s: %s\n", vf_transform_kind(tr), vf_tape_error(t));
            ok = 0;
            break;
        }
        const vf_real *zv = vf_value(t, z)->data, *lv = vf_value(t, l)->data;
        for (int64_t i = 0; i < m; i++) {
            double q = 0;
            for (int64_t k = 0; k < d; k++) q += (double)zv[i * d + k] * (double)zv[i * d + k];
            double lp = -0.5 * q - 0.5 * (double)d * log(2 * 3.14159265358979323846) + (double)lv[i];
            if (isfinite(lp)) total += exp(lp) * vol;
            else if (!(lp == -INFINITY)) ok = 0; /* NaN or +inf density */
        }
    }
    if (ok && !(fabs(total - 1.0) <= tol)) {
        fprintf(stderr, "normalization %s: integral %.8f over [%g, %g]^%lld (tol %.1g)\n", vf_transform_kind(tr), total,
                lo, hi, (long long)d, tol);
        ok = 0;
    }
    free(x);
    free(cx);
    vf_tape_free(t);
    return ok;
}

typedef struct fc_ctx {
    const vf_transform *tr;
    vf_params *p;
    int inverse;
    int has_ctx;
} fc_ctx;

/* [z, ladj] as one [n, d + 1] output. */
static inline vf_var fc_build(vf_tape *t, const vf_var *in, void *vctx)
{
    fc_ctx *c = vctx;
    vf_var l;
    vf_var ctx = c->has_ctx ? in[1] : VF_NOVAR;
    vf_var z = c->inverse ? vf_transform_inverse(c->tr, c->p, t, in[0], ctx, &l)
                          : vf_transform_forward(c->tr, c->p, t, in[0], ctx, &l);
    if (z == VF_NOVAR) return VF_NOVAR;
    int64_t n = vf_value(t, z)->shape[0];
    vf_var cols[2] = {z, vf_reshape(t, l, 2, (int64_t[]){n, 1})};
    return vf_concat(t, 2, cols, 1);
}

/* <u, [z, ladj]> for a fixed u [n, d + 1], in double, on the reset tape t. */
static inline double fc_objective(vf_tape *t, fc_ctx *c, int64_t n, vf_real *x, vf_real *ctx, const double *u)
{
    vf_tape_reset(t);
    vf_var in[2];
    in[0] = vf_input(t, x, 2, (int64_t[]){n, vf_transform_dim(c->tr)});
    if (c->has_ctx) in[1] = vf_input(t, ctx, 2, (int64_t[]){n, vf_transform_context_dim(c->tr)});
    vf_var y = fc_build(t, in, c);
    double s = NAN;
    if (y != VF_NOVAR) {
        const vf_tensor *v = vf_value(t, y);
        s = 0;
        for (int64_t i = 0; i < vf_tensor_numel(v); i++) s += u[i] * (double)v->data[i];
    }
    return s;
}

static inline int fc_gradcheck(const vf_transform *tr, vf_params *p, int64_t n, const vf_real *x, const vf_real *ctx,
                        int inverse)
{
    int64_t d = vf_transform_dim(tr), c = vf_transform_context_dim(tr);
    fc_ctx fc = {tr, p, inverse, c > 0 && ctx != NULL};
    vf_real *xc = malloc((size_t)(n * d) * sizeof *xc), *cc = fc.has_ctx ? malloc((size_t)(n * c) * sizeof *cc) : NULL;
    memcpy(xc, x, (size_t)(n * d) * sizeof *xc);
    if (cc) memcpy(cc, ctx, (size_t)(n * c) * sizeof *cc);
    /* 1. input and context through gradcheck.h */
    gc_input in[2] = {{xc, 2, {n, d}, 1}, {cc, 2, {n, c}, 1}};
    int ok = gradcheck(inverse ? "transform inverse" : "transform forward", fc_build, &fc, fc.has_ctx ? 2 : 1, in);
    if (!ok) fprintf(stderr, "  (%s)\n", vf_transform_kind(tr));

    /* 2. parameters: central differences over the flat buffer (at most 256 of them, evenly spread) */
    int64_t np = vf_params_size(p), ny = n * (d + 1);
    double *u = malloc((size_t)ny * sizeof *u);
    vf_real *ur = malloc((size_t)ny * sizeof *ur);
    vf_rng r;
    vf_rng_init(&r, 4242, 1);
    for (int64_t i = 0; i < ny; i++) u[i] = (double)(ur[i] = (vf_real)vf_rng_normal(&r));
    vf_tape *t = vf_tape_new();
    vf_params_zero_grad(p);
    vf_var vin[2];
    vin[0] = vf_input(t, xc, 2, (int64_t[]){n, d});
    if (fc.has_ctx) vin[1] = vf_input(t, cc, 2, (int64_t[]){n, c});
    vf_var y = fc_build(t, vin, &fc);
    if (y == VF_NOVAR || vf_backward_seed(t, y, ur) != VF_OK) {
        fprintf(stderr, "param gradcheck %s: %s\n", vf_transform_kind(tr), vf_tape_error(t));
        ok = 0;
    }
    int64_t stride = np > 256 ? np / 256 : 1;
    vf_real *values = vf_params_values(p), *grads = vf_params_grads(p);
    for (int64_t k = 0; ok && k < np; k += stride) {
        vf_real keep = values[k];
        double hstep = GC_STEP * fmax(1.0, fabs((double)keep));
        values[k] = (vf_real)((double)keep + hstep);
        double hp = (double)values[k] - (double)keep, fp = fc_objective(t, &fc, n, xc, cc, u);
        values[k] = (vf_real)((double)keep - hstep);
        double hm = (double)keep - (double)values[k], fm = fc_objective(t, &fc, n, xc, cc, u);
        values[k] = keep;
        double fd = (fp - fm) / (hp + hm), ad = (double)grads[k];
        double err = fabs(fd - ad) / fmax(fmax(fabs(fd), fabs(ad)), GC_FD_FLOOR);
        if (!(err <= GC_FD_TOL)) {
            vf_param_info info;
            const char *name = "?";
            for (int32_t i = 0; i < vf_params_count(p); i++)
                if (vf_params_info(p, i, &info) == VF_OK && k >= info.offset && k < info.offset + info.numel) name = info.name;
            fprintf(stderr, "param gradcheck %s (%s): parameter %s element %lld: reverse %.10g, difference %.10g\n",
                    vf_transform_kind(tr), inverse ? "inverse" : "forward", name, (long long)k, ad, fd);
            ok = 0;
        }
    }
    vf_tape_free(t);
    vf_params_zero_grad(p);
    free(u);
    free(ur);
    free(xc);
    free(cc);
    return ok;
}

static inline int fc_context_matters(const vf_transform *tr, vf_params *p, int64_t n, const vf_real *x, const vf_real *ctx_a,
                              const vf_real *ctx_b)
{
    int64_t d = vf_transform_dim(tr), c = vf_transform_context_dim(tr);
    vf_tape *t = vf_tape_new();
    vf_var l, xa = vf_input(t, x, 2, (int64_t[]){n, d});
    vf_var za = vf_transform_forward(tr, p, t, xa, vf_input(t, ctx_a, 2, (int64_t[]){n, c}), &l);
    vf_var zb = vf_transform_forward(tr, p, t, xa, vf_input(t, ctx_b, 2, (int64_t[]){n, c}), &l);
    int ok = vf_tape_status(t) == VF_OK && fc_maxrel(vf_value(t, za)->data, vf_value(t, zb)->data, n * d) > 1e-6;
    if (!ok) fprintf(stderr, "context %s: the output does not depend on the context (%s)\n", vf_transform_kind(tr), vf_tape_error(t));
    vf_tape_free(t);
    return ok;
}

#endif
