/* test_flow_basic.c — the non-neural transforms (ActNorm, LU linear, permutations, elementwise affine,
 * sigmoid / logit on a box, tanh / atanh): every flowcheck.h check on each, d = 1 and 2 (grid
 * normalization on the transform's domain) and d = 5 (brute-force Jacobian), with parameters
 * randomized, with and without a (ignored) context; the triangular-solve op's gradients; values against
 * hand computations; ActNorm's data initialization; permutation round trips; log-densities outside a
 * box (-inf, never NaN); describe(); argument errors; allocation failures. */
#include <stdlib.h>
#include "vf_test.h"
#include "alloc_fail.h"
#include "flowcheck.h"
#include "varflow/vf_transforms.h"

#if VF_USE_DOUBLE
#define VALUE_TOL 1e-12
#define NORM_TOL 2e-5
#else
#define VALUE_TOL 3e-6
#define NORM_TOL 5e-4
#endif

typedef enum kind {
    K_ACTNORM, K_LU, K_LU_NOBIAS, K_PERM_FIXED, K_PERM_RANDOM, K_AFFINE, K_LOGIT, K_SIGMOID, K_TANH, K_ATANH, K_COUNT
} kind;

static const char *kind_name[K_COUNT] = {"actnorm", "lu",      "lu_nobias", "perm_fixed", "perm_random",
                                         "affine",  "logit",   "sigmoid",   "tanh",       "atanh"};

/* Box of the sigmoid / logit tests: feature i in (BOX_LO[i], BOX_HI[i]). */
static const double BOX_LO[5] = {-2, -1, 0, -3, 1};
static const double BOX_HI[5] = {3, 1, 1, -1, 4};
#define TANH_SCALE 2.5

static vf_status make(kind k, int64_t d, int64_t c, vf_params *p, const char *name, vf_transform **tr)
{
    switch (k) {
    case K_ACTNORM: {
        vf_actnorm_params kp = vf_actnorm_default_params(d);
        kp.context = c;
        return vf_actnorm_new(p, name, &kp, tr);
    }
    case K_LU:
    case K_LU_NOBIAS: {
        vf_lu_linear_params kp = vf_lu_linear_default_params(d);
        kp.context = c;
        kp.seed = 3;
        kp.bias = k == K_LU;
        return vf_lu_linear_new(p, name, &kp, tr);
    }
    case K_PERM_FIXED:
    case K_PERM_RANDOM: {
        static const int64_t fixed[5] = {2, 0, 4, 1, 3}, fixed2[2] = {1, 0}, fixed1[1] = {0};
        vf_permutation_params kp = vf_permutation_default_params(d);
        kp.context = c;
        kp.perm = k == K_PERM_RANDOM ? NULL : d == 5 ? fixed : d == 2 ? fixed2 : fixed1;
        kp.seed = 9;
        return vf_permutation_new(p, name, &kp, tr);
    }
    case K_AFFINE: {
        vf_elementwise_affine_params kp = vf_elementwise_affine_default_params(d);
        kp.context = c;
        return vf_elementwise_affine_new(p, name, &kp, tr);
    }
    case K_LOGIT:
    case K_SIGMOID: {
        vf_box_params kp = vf_logit_default_params(d);
        kp.context = c;
        kp.lo = BOX_LO;
        kp.hi = BOX_HI;
        return k == K_LOGIT ? vf_logit_new(p, name, &kp, tr) : vf_sigmoid_new(p, name, &kp, tr);
    }
    case K_TANH:
    case K_ATANH: {
        vf_tanh_params kp = vf_tanh_default_params(d);
        kp.context = c;
        kp.scale = TANH_SCALE;
        return k == K_TANH ? vf_tanh_new(p, name, &kp, tr) : vf_atanh_new(p, name, &kp, tr);
    }
    default: return VF_ERR_ARG;
    }
}

/* Points inside every transform's domain (and in the box of the box kinds): row i, feature j uniform
 * in the middle 80% of feature j's box / interval (a generic point of R for the other kinds). */
static void inside_points(kind k, vf_real *x, int64_t n, int64_t d, uint64_t seed)
{
    vf_rng r;
    vf_rng_init(&r, seed, 3);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            double u = 0.1 + 0.8 * vf_rng_uniform(&r);
            double lo = -2, hi = 2;
            if (k == K_LOGIT || k == K_SIGMOID) lo = BOX_LO[j], hi = BOX_HI[j];
            if (k == K_TANH || k == K_ATANH) lo = -TANH_SCALE, hi = TANH_SCALE;
            x[i * d + j] = (vf_real)(lo + (hi - lo) * u);
        }
}

/* ---- every flowcheck.h check ------------------------------------------------------------------ */

/* Outputs with context a and with context b agree exactly (the context is accepted and ignored). */
static int context_ignored(const vf_transform *tr, vf_params *p, int64_t n, const vf_real *x, const vf_real *ca,
                           const vf_real *cb)
{
    int64_t d = vf_transform_dim(tr), c = vf_transform_context_dim(tr);
    vf_tape *t = vf_tape_new();
    vf_var la, lb, xv = vf_input(t, x, 2, (int64_t[]){n, d});
    vf_var za = vf_transform_forward(tr, p, t, xv, vf_input(t, ca, 2, (int64_t[]){n, c}), &la);
    vf_var zb = vf_transform_forward(tr, p, t, xv, vf_input(t, cb, 2, (int64_t[]){n, c}), &lb);
    int ok = vf_tape_status(t) == VF_OK && memcmp(vf_value(t, za)->data, vf_value(t, zb)->data,
                                                  (size_t)(n * d) * sizeof(vf_real)) == 0 &&
             memcmp(vf_value(t, la)->data, vf_value(t, lb)->data, (size_t)n * sizeof(vf_real)) == 0;
    vf_tape_free(t);
    return ok;
}

/* Grid of the normalization check: the domain of x (the box for the box-to-R kinds; a wide interval
 * of R for the others, wide enough that the mass outside it is far below NORM_TOL). */
/* atanh's density N(atanh v) / (a (1 - v^2)) keeps mass within 1e-4 of the interval's ends, where the
 * midpoint rule converges slowly: its error in 1-D is 3.5e-4 with 400 cells, 9.5e-5 with 800, 4e-6
 * with 4000 (computed in double for the exact density), and 2-D on the product grid doubles it. The
 * atanh tolerance is 1.6x the 2-D error at 800 cells; every other kind's quadrature error is below
 * 1e-7, far under NORM_TOL. */
#define ATANH_NORM_TOL 3e-4
static void norm_grid(kind k, int64_t d, double *lo, double *hi, int64_t *cells, double *tol)
{
    *lo = -20, *hi = 20, *cells = d == 1 ? 400 : 200, *tol = NORM_TOL;
    if (k == K_LOGIT) *lo = -2, *hi = 3, *cells = 400;
    if (k == K_ATANH) *lo = -TANH_SCALE, *hi = TANH_SCALE, *cells = d == 1 ? 4000 : 800, *tol = ATANH_NORM_TOL;
}

static void run_checks(kind k, int64_t d, int64_t c)
{
    const int64_t n = 3;
    vf_params *p = vf_params_new();
    vf_transform *tr = NULL;
    CHECK_STATUS(make(k, d, c, p, "t", &tr), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    if (!tr) {
        vf_params_free(p);
        return;
    }
    fc_randomize(p, 17 + (uint64_t)d, 0.3);
    vf_real x[4 * 5], xr[4 * 5], ctx[4 * 3], ctx2[4 * 3], row[3];
    inside_points(k, x, n, d, 5 + (uint64_t)d);
    gc_fill(xr, n * d, 4, 0, 1.5);
    gc_fill(ctx, n * 3, 6, 0, 1);
    gc_fill(ctx2, n * 3, 7, 0, 1);
    gc_fill(row, 3, 8, 0, 1);
    const vf_real *cx = c ? ctx : NULL;
    CHECK_MSG(fc_roundtrip(tr, p, n, x, cx), "%s d=%lld c=%lld", kind_name[k], (long long)d, (long long)c);
    CHECK_MSG(fc_logdet(tr, p, n, x, cx), "%s d=%lld c=%lld", kind_name[k], (long long)d, (long long)c);
    /* forward on the forward's domain, inverse on the inverse's: box points for a box side, R otherwise */
    const vf_real *xf = (k == K_SIGMOID || k == K_TANH) ? xr : x;
    const vf_real *xi = (k == K_LOGIT || k == K_ATANH) ? xr : x;
    if (k != K_LOGIT && k != K_ATANH && k != K_SIGMOID && k != K_TANH) xf = xi = xr;
    CHECK_MSG(fc_gradcheck(tr, p, n, xf, cx, 0), "%s d=%lld c=%lld forward", kind_name[k], (long long)d, (long long)c);
    CHECK_MSG(fc_gradcheck(tr, p, n, xi, cx, 1), "%s d=%lld c=%lld inverse", kind_name[k], (long long)d, (long long)c);
    if (c) CHECK_MSG(context_ignored(tr, p, n, x, ctx, ctx2), "%s: context changed the output", kind_name[k]);
    if (d <= 2 && c == 0 && k != K_SIGMOID && k != K_TANH) { /* with a context: context_ignored covers it */
        double lo, hi, tol;
        int64_t cells;
        norm_grid(k, d, &lo, &hi, &cells, &tol);
        CHECK_MSG(fc_normalization(tr, p, c ? row : NULL, lo, hi, cells, tol), "%s d=%lld c=%lld",
                  kind_name[k], (long long)d, (long long)c);
    }
    vf_transform_free(tr);
    vf_params_free(p);
}

static void test_flowchecks(void)
{
    for (int k = 0; k < K_COUNT; k++) {
        run_checks((kind)k, 1, 0);
        run_checks((kind)k, 2, 0);
        if (k == K_LU_NOBIAS) continue; /* the bias-free LU map differs only by a term: d = 1, 2 suffice */
        run_checks((kind)k, 5, 0);
        run_checks((kind)k, 2, 3);
    }
}

/* The R -> box directions: "sigmoid (or tanh), then N(0, I)" has mass prod_j (Phi(hi_j) - Phi(lo_j)) on
 * R^d, not 1; on a wide box that is 1 to within 1e-15, so fc_normalization applies there. */
static void test_normalization_to_box(void)
{
    for (int64_t d = 1; d <= 2; d++) {
        vf_params *p = vf_params_new();
        vf_transform *s = NULL, *h = NULL;
        double lo[2] = {-8.5, -9}, hi[2] = {9, 8.5};
        vf_box_params bp = vf_sigmoid_default_params(d);
        bp.lo = lo;
        bp.hi = hi;
        vf_tanh_params tp = vf_tanh_default_params(d);
        tp.scale = 9;
        CHECK_STATUS(vf_sigmoid_new(p, NULL, &bp, &s), VF_OK);
        CHECK_STATUS(vf_tanh_new(p, NULL, &tp, &h), VF_OK);
        CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
        CHECK(fc_normalization(s, p, NULL, -25, 25, d == 1 ? 2000 : 500, NORM_TOL));
        CHECK(fc_normalization(h, p, NULL, -8, 8, d == 1 ? 2000 : 500, NORM_TOL));
        vf_transform_free(s);
        vf_transform_free(h);
        vf_params_free(p);
    }
}

/* ---- the triangular-solve op ------------------------------------------------------------------- */

static int solve_flags;
static vf_var build_solve(vf_tape *t, const vf_var *in, void *ctx)
{
    (void)ctx;
    return vf_triangular_solve(t, in[0], in[1], solve_flags & 1, (solve_flags >> 1) & 1);
}

static void test_triangular_solve(void)
{
    for (int flags = 0; flags < 4; flags++) {
        const int lower = flags & 1, unit = (flags >> 1) & 1;
        vf_real a[9], b[12];
        gc_fill(a, 9, 21 + (uint64_t)flags, 0, 0.5);
        for (int i = 0; i < 3; i++) a[i * 3 + i] = (vf_real)(a[i * 3 + i] > 0 ? 1.5 + a[i * 3 + i] : -1.5 + a[i * 3 + i]);
        gc_fill(b, 12, 31 + (uint64_t)flags, 0, 1);
        /* values: A_tri x = b for every row, A_tri the triangle the op reads */
        vf_tape *t = vf_tape_new();
        vf_var xv = vf_triangular_solve(t, vf_input(t, a, 2, (int64_t[]){3, 3}), vf_input(t, b, 2, (int64_t[]){4, 3}),
                                        lower, unit);
        CHECK(vf_tape_status(t) == VF_OK);
        const vf_real *x = vf_value(t, xv)->data;
        for (int r = 0; r < 4; r++)
            for (int i = 0; i < 3; i++) {
                double s = 0;
                for (int j = 0; j < 3; j++) {
                    double aij = i == j ? (unit ? 1.0 : a[i * 3 + j]) : ((lower ? i > j : i < j) ? a[i * 3 + j] : 0.0);
                    s += aij * x[r * 3 + j];
                }
                CHECK_NEAR(s, b[r * 3 + i], 20 * VALUE_TOL);
            }
        vf_tape_free(t);
        solve_flags = flags;
        gc_input in[2] = {{a, 2, {3, 3}, 1}, {b, 2, {4, 3}, 1}};
        CHECK_MSG(gradcheck("triangular_solve", build_solve, NULL, 2, in), "lower %d unit %d", lower, unit);
    }
    vf_tape *t = vf_tape_new();
    vf_real z[6] = {0};
    vf_triangular_solve(t, vf_input(t, z, 2, (int64_t[]){2, 3}), vf_input(t, z, 2, (int64_t[]){2, 3}), 1, 0);
    CHECK(vf_tape_status(t) == VF_ERR_SHAPE);
    vf_tape_free(t);
}

/* ---- values against hand computations -------------------------------------------------------- */

static void forward_values(vf_transform *tr, vf_params *p, int64_t n, const vf_real *x, vf_real *z, vf_real *ladj)
{
    vf_tape *t = vf_tape_new();
    vf_var l, zv = vf_transform_forward(tr, p, t, vf_input(t, x, 2, (int64_t[]){n, vf_transform_dim(tr)}), VF_NOVAR, &l);
    CHECK_MSG(vf_tape_status(t) == VF_OK, "%s", vf_tape_error(t));
    if (zv != VF_NOVAR) {
        memcpy(z, vf_value(t, zv)->data, (size_t)(n * vf_transform_dim(tr)) * sizeof *z);
        memcpy(ladj, vf_value(t, l)->data, (size_t)n * sizeof *ladj);
    }
    vf_tape_free(t);
}

static void test_values(void)
{
    vf_params *p = vf_params_new();
    vf_transform *an = NULL, *lu = NULL, *ea = NULL, *lg = NULL, *sg = NULL, *th = NULL, *at = NULL;
    vf_actnorm_params ap = vf_actnorm_default_params(2);
    vf_lu_linear_params up = vf_lu_linear_default_params(2);
    up.random_perm = 0;
    vf_elementwise_affine_params ep = vf_elementwise_affine_default_params(2);
    double lo[2] = {-1, 2}, hi[2] = {3, 2.5};
    vf_box_params bp = vf_logit_default_params(2);
    bp.lo = lo;
    bp.hi = hi;
    vf_tanh_params tp = vf_tanh_default_params(2);
    tp.scale = 2;
    CHECK_STATUS(vf_actnorm_new(p, "an", &ap, &an), VF_OK);
    CHECK_STATUS(vf_lu_linear_new(p, "lu", &up, &lu), VF_OK);
    CHECK_STATUS(vf_elementwise_affine_new(p, "af", &ep, &ea), VF_OK);
    CHECK_STATUS(vf_logit_new(NULL, NULL, &bp, &lg), VF_OK);
    CHECK_STATUS(vf_sigmoid_new(NULL, NULL, &bp, &sg), VF_OK);
    CHECK_STATUS(vf_tanh_new(NULL, NULL, &tp, &th), VF_OK);
    CHECK_STATUS(vf_atanh_new(NULL, NULL, &tp, &at), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    CHECK(vf_params_find(p, "an.loc") >= 0 && vf_params_find(p, "an.log_scale") >= 0);
    CHECK(vf_params_find(p, "lu.lower") >= 0 && vf_params_find(p, "lu.upper") >= 0);
    CHECK(vf_params_find(p, "lu.log_s") >= 0 && vf_params_find(p, "lu.bias") >= 0);
    CHECK(vf_params_find(p, "af.shift") >= 0 && vf_params_find(p, "af.log_scale") >= 0);
    if (!an || !lu || !ea || !lg || !sg || !th || !at) goto done;
    vf_real z[4], l[2];
    const vf_real x[4] = {3, 5, 0.5, -1};

    /* identity at initialization */
    forward_values(an, p, 2, x, z, l);
    for (int i = 0; i < 4; i++) CHECK_NEAR(z[i], x[i], 0);
    forward_values(lu, p, 2, x, z, l);
    for (int i = 0; i < 4; i++) CHECK_NEAR(z[i], x[i], 0);
    CHECK_NEAR(l[0], 0, 0);
    forward_values(ea, p, 2, x, z, l);
    for (int i = 0; i < 4; i++) CHECK_NEAR(z[i], x[i], 0);

    /* ActNorm: loc (1, 2), log_scale (log 2, 0): z = ((3 - 1) / 2, 5 - 2), ladj = -log 2 */
    vf_real *loc = vf_params_data(p, vf_params_find(p, "an.loc")), *ls = vf_params_data(p, vf_params_find(p, "an.log_scale"));
    loc[0] = 1, loc[1] = 2, ls[0] = (vf_real)log(2.0), ls[1] = 0;
    forward_values(an, p, 1, x, z, l);
    CHECK_NEAR(z[0], 1, VALUE_TOL);
    CHECK_NEAR(z[1], 3, VALUE_TOL);
    CHECK_NEAR(l[0], -log(2.0), VALUE_TOL);

    /* LU: L = [[1, 0], [.5, 1]], U + D = [[2, 2], [0, 3]] -> W = [[2, 2], [1, 4]]; bias (1, -1);
     * W (3, 5) + b = (17, 22), ladj = log 6. Entries outside the triangles (set to 7) are not read. */
    vf_real *lw = vf_params_data(p, vf_params_find(p, "lu.lower")), *uw = vf_params_data(p, vf_params_find(p, "lu.upper"));
    vf_real *lsv = vf_params_data(p, vf_params_find(p, "lu.log_s")), *bw = vf_params_data(p, vf_params_find(p, "lu.bias"));
    lw[0] = 7, lw[1] = 7, lw[2] = (vf_real)0.5, lw[3] = 7;
    uw[0] = 7, uw[1] = 2, uw[2] = 7, uw[3] = 7;
    lsv[0] = (vf_real)log(2.0), lsv[1] = (vf_real)log(3.0);
    bw[0] = 1, bw[1] = -1;
    forward_values(lu, p, 1, x, z, l);
    CHECK_NEAR(z[0], 17, 1e2 * VALUE_TOL);
    CHECK_NEAR(z[1], 22, 1e2 * VALUE_TOL);
    CHECK_NEAR(l[0], log(6.0), VALUE_TOL);

    /* elementwise affine: shift (1, 0), log_scale (0, log 3): z = (4, 15), ladj = log 3 */
    vf_real *sh = vf_params_data(p, vf_params_find(p, "af.shift")), *als = vf_params_data(p, vf_params_find(p, "af.log_scale"));
    sh[0] = 1, sh[1] = 0, als[0] = 0, als[1] = (vf_real)log(3.0);
    forward_values(ea, p, 1, x, z, l);
    CHECK_NEAR(z[0], 4, 10 * VALUE_TOL);
    CHECK_NEAR(z[1], 15, 10 * VALUE_TOL);
    CHECK_NEAR(l[0], log(3.0), VALUE_TOL);

    /* logit on (-1, 3) x (2, 2.5): x = (0, 2.4): u = (1/4, 4/5), z = (log(1/3), log 4),
     * ladj = -log 4 - log(3/16) - log 0.5 - log(4/25) */
    const vf_real xb[2] = {0, (vf_real)2.4};
    forward_values(lg, p, 1, xb, z, l);
    CHECK_NEAR(z[0], log(1.0 / 3), 10 * VALUE_TOL);
    CHECK_NEAR(z[1], log(4.0), 10 * VALUE_TOL);
    CHECK_NEAR(l[0], -log(4.0) - log(3.0 / 16) - log(0.5) - log(4.0 / 25), 10 * VALUE_TOL);
    /* sigmoid maps those z back to x with the opposite log-determinant */
    const vf_real zb[2] = {(vf_real)log(1.0 / 3), (vf_real)log(4.0)};
    forward_values(sg, p, 1, zb, z, l);
    CHECK_NEAR(z[0], 0, 10 * VALUE_TOL);
    CHECK_NEAR(z[1], 2.4, 10 * VALUE_TOL);
    CHECK_NEAR(l[0], log(4.0) + log(3.0 / 16) + log(0.5) + log(4.0 / 25), 10 * VALUE_TOL);
    /* sigmoid far in the tails: ladj = log w - |x| - 2 softplus(-|x|) stays finite */
    const vf_real far[2] = {60, -60};
    forward_values(sg, p, 1, far, z, l);
    CHECK_NEAR(l[0], log(4.0) + log(0.5) - 120 - 4 * log1p(exp(-60.0)), 1e-4);

    /* tanh with a = 2 at x = (0.5, 30): z = 2 tanh x; ladj = 2 log 2 + log sech^2(0.5) + log sech^2(30) */
    const vf_real xt[2] = {0.5, 30};
    forward_values(th, p, 1, xt, z, l);
    CHECK_NEAR(z[0], 2 * tanh(0.5), 10 * VALUE_TOL);
    CHECK_NEAR(z[1], 2, 10 * VALUE_TOL);
    double sech = 1 / cosh(0.5);
    CHECK_NEAR(l[0], 2 * log(2.0) + 2 * log(sech) + 2 * (log(2.0) - 30 - log1p(exp(-60.0))), 1e-4);
    CHECK(isfinite(l[0]));
    /* atanh at x = (1, -1.5): z = atanh(x / 2), ladj = -2 log 2 - log(1 - 1/4) - log(1 - 9/16) */
    const vf_real xa[2] = {1, (vf_real)-1.5};
    forward_values(at, p, 1, xa, z, l);
    CHECK_NEAR(z[0], atanh(0.5), 10 * VALUE_TOL);
    CHECK_NEAR(z[1], atanh(-0.75), 10 * VALUE_TOL);
    CHECK_NEAR(l[0], -2 * log(2.0) - log(0.75) - log(7.0 / 16), 10 * VALUE_TOL);
done:
    vf_transform_free(an);
    vf_transform_free(lu);
    vf_transform_free(ea);
    vf_transform_free(lg);
    vf_transform_free(sg);
    vf_transform_free(th);
    vf_transform_free(at);
    vf_params_free(p);
}

/* ---- ActNorm data initialization ------------------------------------------------------------- */

static void test_actnorm_data_init(void)
{
    const int64_t n = 500, d = 3;
    vf_params *p = vf_params_new();
    vf_transform *tr = NULL;
    vf_actnorm_params ap = vf_actnorm_default_params(d);
    CHECK_STATUS(vf_actnorm_new(p, "an", &ap, &tr), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    vf_real *x = malloc((size_t)(n * d) * sizeof *x);
    vf_rng r;
    vf_rng_init(&r, 77, 0);
    for (int64_t i = 0; i < n; i++) {
        x[i * d] = (vf_real)(5 + 3 * vf_rng_normal(&r));
        x[i * d + 1] = (vf_real)(-2 + 0.01 * vf_rng_uniform(&r));
        x[i * d + 2] = (vf_real)4.25; /* constant: std 0, kept at scale 1 */
    }
    vf_tape *t = vf_tape_new();
    vf_var z = vf_transform_data_init(tr, p, t, vf_input(t, x, 2, (int64_t[]){n, d}), VF_NOVAR);
    CHECK_MSG(vf_tape_status(t) == VF_OK, "%s", vf_tape_error(t));
    if (z != VF_NOVAR) {
        const vf_real *zv = vf_value(t, z)->data;
        for (int64_t j = 0; j < d; j++) {
            double m = 0, v = 0;
            for (int64_t i = 0; i < n; i++) m += zv[i * d + j];
            m /= (double)n;
            for (int64_t i = 0; i < n; i++) v += (zv[i * d + j] - m) * (zv[i * d + j] - m);
            v /= (double)n;
            CHECK_NEAR(m, 0, 50 * VALUE_TOL);
            CHECK_NEAR(v, j < 2 ? 1 : 0, 1e3 * VALUE_TOL);
        }
        CHECK_NEAR(vf_params_data(p, vf_params_find(p, "an.loc"))[2], 4.25, 10 * VALUE_TOL);
        CHECK(vf_params_data(p, vf_params_find(p, "an.log_scale"))[2] == 0);
    }
    /* the parameters were written: a plain forward now gives the same z */
    vf_var l, z2 = vf_transform_forward(tr, p, t, vf_input(t, x, 2, (int64_t[]){n, d}), VF_NOVAR, &l);
    CHECK(z2 != VF_NOVAR && z != VF_NOVAR &&
          memcmp(vf_value(t, z)->data, vf_value(t, z2)->data, (size_t)(n * d) * sizeof(vf_real)) == 0);
    /* non-finite data: VF_ERR_NUMERIC, parameters unchanged */
    vf_real before = vf_params_data(p, vf_params_find(p, "an.loc"))[0];
    vf_tape_reset(t);
    x[4] = (vf_real)NAN;
    vf_transform_data_init(tr, p, t, vf_input(t, x, 2, (int64_t[]){n, d}), VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_NUMERIC);
    CHECK(vf_params_data(p, vf_params_find(p, "an.loc"))[0] == before);
    vf_tape_free(t);
    vf_transform_free(tr);
    vf_params_free(p);
    free(x);
}

/* ---- permutations ---------------------------------------------------------------------------- */

static void test_permutations(void)
{
    const int64_t d = 5, n = 3;
    static const int64_t perm[5] = {3, 0, 4, 2, 1};
    vf_permutation_params kp = vf_permutation_default_params(d);
    kp.perm = perm;
    vf_transform *fixed = NULL, *rnd = NULL, *rnd2 = NULL, *ident = NULL;
    CHECK_STATUS(vf_permutation_new(NULL, NULL, &kp, &fixed), VF_OK);
    static const int64_t id[5] = {0, 1, 2, 3, 4};
    kp.perm = id;
    CHECK_STATUS(vf_permutation_new(NULL, NULL, &kp, &ident), VF_OK);
    kp.perm = NULL;
    kp.seed = 123;
    CHECK_STATUS(vf_permutation_new(NULL, NULL, &kp, &rnd), VF_OK);
    CHECK_STATUS(vf_permutation_new(NULL, NULL, &kp, &rnd2), VF_OK);
    if (!fixed || !rnd || !rnd2 || !ident) goto done;
    /* the random one is a permutation, and the same seed gives the same one */
    int seen[5] = {0};
    const int64_t *pr = vf_permutation_indices(rnd);
    for (int i = 0; i < 5; i++) seen[pr[i]]++;
    for (int i = 0; i < 5; i++) CHECK(seen[i] == 1);
    CHECK(memcmp(pr, vf_permutation_indices(rnd2), 5 * sizeof *pr) == 0);
    CHECK(vf_permutation_indices(fixed)[0] == 3);
    vf_real x[15], z[15], l[3];
    gc_fill(x, 15, 3, 0, 1);
    forward_values(fixed, NULL, n, x, z, l);
    for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < 5; j++) CHECK(z[i * d + j] == x[i * d + perm[j]]);
        CHECK(l[i] == 0);
    }
    forward_values(ident, NULL, n, x, z, l);
    CHECK(memcmp(z, x, sizeof z) == 0);
    /* exact round trips both ways */
    vf_transform *both[2] = {fixed, rnd};
    for (int k = 0; k < 2; k++) {
        vf_tape *t = vf_tape_new();
        vf_var l1, l2, v = vf_input(t, x, 2, (int64_t[]){n, d});
        vf_var back = vf_transform_inverse(both[k], NULL, t, vf_transform_forward(both[k], NULL, t, v, VF_NOVAR, &l1),
                                           VF_NOVAR, &l2);
        vf_var fwd = vf_transform_forward(both[k], NULL, t, vf_transform_inverse(both[k], NULL, t, v, VF_NOVAR, &l1),
                                          VF_NOVAR, &l2);
        CHECK(vf_tape_status(t) == VF_OK);
        if (back != VF_NOVAR && fwd != VF_NOVAR) {
            CHECK(memcmp(vf_value(t, back)->data, x, sizeof x) == 0);
            CHECK(memcmp(vf_value(t, fwd)->data, x, sizeof x) == 0);
        }
        vf_tape_free(t);
    }
done:
    vf_transform_free(fixed);
    vf_transform_free(rnd);
    vf_transform_free(rnd2);
    vf_transform_free(ident);
}

/* ---- outside the box: -inf, never NaN ---------------------------------------------------------- */

static void test_outside_box(void)
{
    vf_params *p = vf_params_new();
    vf_transform *tr[3] = {NULL, NULL, NULL};
    vf_box_params bp = vf_logit_default_params(2);
    vf_lu_linear_params up = vf_lu_linear_default_params(2);
    vf_actnorm_params ap = vf_actnorm_default_params(2);
    vf_dist *base = NULL;
    vf_flow *f = NULL;
    CHECK_STATUS(vf_logit_new(p, "t0", &bp, &tr[0]), VF_OK);
    CHECK_STATUS(vf_lu_linear_new(p, "t1", &up, &tr[1]), VF_OK);
    CHECK_STATUS(vf_actnorm_new(p, "t2", &ap, &tr[2]), VF_OK);
    CHECK_STATUS(vf_dist_normal_new(2, 0, &base), VF_OK);
    CHECK_STATUS(vf_flow_new(base, 3, tr, &f), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    if (!f) {
        vf_params_free(p);
        return;
    }
    fc_randomize(p, 5, 0.3);
    /* rows: inside, above, below, on the edge 0, on the edge 1, inside */
    const vf_real x[12] = {0.3f, 0.6f, 1.5f, 0.5f, 0.5f, -0.2f, 0, 0.5f, 0.5f, 1, 0.9f, 0.1f};
    vf_tape *t = vf_tape_new();
    vf_var lp = vf_flow_log_prob(f, p, t, vf_input(t, x, 2, (int64_t[]){6, 2}), VF_NOVAR);
    vf_params_zero_grad(p);
    vf_backward(t, vf_sum(t, lp, VF_ALL_AXES, 0));
    CHECK_MSG(vf_tape_status(t) == VF_OK, "%s", vf_tape_error(t));
    if (lp != VF_NOVAR) {
        const vf_real *v = vf_value(t, lp)->data;
        CHECK(isfinite(v[0]) && isfinite(v[5]));
        for (int i = 1; i < 5; i++) CHECK_MSG(v[i] == -INFINITY, "row %d: %g", i, (double)v[i]);
    }
    const vf_real *g = vf_params_grads(p);
    for (int64_t i = 0; i < vf_params_size(p); i++) CHECK(isfinite(g[i]));
    vf_tape_free(t);
    vf_flow_free(f);

    /* atanh: outside (-a, a) the same way */
    vf_transform *at = NULL;
    vf_tanh_params tp = vf_tanh_default_params(1);
    CHECK_STATUS(vf_atanh_new(NULL, NULL, &tp, &at), VF_OK);
    const vf_real xa[4] = {0.5f, 1, -3, -0.25f};
    vf_real z[4], l[4];
    if (at) forward_values(at, NULL, 4, xa, z, l);
    for (int i = 0; at && i < 4; i++) {
        CHECK(isfinite(z[i]));
        CHECK(i == 1 || i == 2 ? l[i] == -INFINITY : isfinite(l[i]));
    }
    vf_transform_free(at);
    vf_params_free(p);
}

/* ---- describe -------------------------------------------------------------------------------- */

static void test_describe(void)
{
    char json[512];
    vf_params *p = vf_params_new();
    vf_transform *tr = NULL;
    static const int64_t perm[3] = {2, 0, 1};
    vf_permutation_params pp = vf_permutation_default_params(3);
    pp.perm = perm;
    pp.context = 2;
    CHECK_STATUS(vf_permutation_new(NULL, NULL, &pp, &tr), VF_OK);
    CHECK_STATUS(vf_transform_describe(tr, json, sizeof json), VF_OK);
    CHECK_MSG(strcmp(json, "{\"kind\":\"permutation\",\"dim\":3,\"context\":2,\"random\":0,\"seed\":0,\"perm\":[2,0,1]}") == 0,
              "%s", json);
    CHECK_STATUS(vf_transform_describe(tr, json, 20), VF_ERR_ARG);
    CHECK(strlen(json) < 20);
    vf_transform_free(tr);

    /* the LU map's permutation is the permutation transform's of the same seed */
    char json2[512];
    pp.perm = NULL;
    pp.seed = 11;
    pp.context = 0;
    pp.dim = 4;
    CHECK_STATUS(vf_permutation_new(NULL, NULL, &pp, &tr), VF_OK);
    CHECK_STATUS(vf_transform_describe(tr, json, sizeof json), VF_OK);
    CHECK(strstr(json, "\"random\":1,\"seed\":11,") != NULL);
    vf_transform_free(tr);
    vf_lu_linear_params up = vf_lu_linear_default_params(4);
    up.seed = 11;
    up.bias = 0;
    up.init_std = 0.25;
    CHECK_STATUS(vf_lu_linear_new(p, "lu", &up, &tr), VF_OK);
    CHECK_STATUS(vf_transform_describe(tr, json2, sizeof json2), VF_OK);
    static const char lu_head[] = "{\"kind\":\"lu_linear\",\"dim\":4,\"context\":0,\"bias\":0,\"random_perm\":1,"
                                  "\"seed\":11,\"init_std\":0.25,\"perm\":[";
    CHECK_MSG(strncmp(json2, lu_head, sizeof lu_head - 1) == 0, "%s", json2);
    CHECK(strcmp(strstr(json, "\"perm\""), strstr(json2, "\"perm\"")) == 0);
    CHECK(vf_params_find(p, "lu.bias") < 0);
    vf_transform_free(tr);

    vf_actnorm_params ap = vf_actnorm_default_params(2);
    CHECK_STATUS(vf_actnorm_new(p, "an", &ap, &tr), VF_OK);
    CHECK_STATUS(vf_transform_describe(tr, json, sizeof json), VF_OK);
    CHECK_MSG(strcmp(json, "{\"kind\":\"actnorm\",\"dim\":2,\"context\":0,\"min_scale\":9.9999999999999995e-07}") == 0,
              "%s", json);
    vf_transform_free(tr);

    double lo[2] = {-1.5, 0}, hi[2] = {2, 0.25};
    vf_box_params bp = vf_logit_default_params(2);
    bp.lo = lo;
    bp.hi = hi;
    CHECK_STATUS(vf_logit_new(NULL, NULL, &bp, &tr), VF_OK);
    CHECK_STATUS(vf_transform_describe(tr, json, sizeof json), VF_OK);
    CHECK_MSG(strcmp(json, "{\"kind\":\"logit\",\"dim\":2,\"context\":0,\"lo\":[-1.5,0],\"hi\":[2,0.25]}") == 0, "%s", json);
    vf_transform_free(tr);
    bp = vf_sigmoid_default_params(1);
    CHECK_STATUS(vf_sigmoid_new(NULL, NULL, &bp, &tr), VF_OK);
    CHECK_STATUS(vf_transform_describe(tr, json, sizeof json), VF_OK);
    CHECK_MSG(strcmp(json, "{\"kind\":\"sigmoid\",\"dim\":1,\"context\":0,\"lo\":[0],\"hi\":[1]}") == 0, "%s", json);
    vf_transform_free(tr);
    vf_tanh_params tp = vf_tanh_default_params(3);
    tp.scale = 0.5;
    CHECK_STATUS(vf_atanh_new(NULL, NULL, &tp, &tr), VF_OK);
    CHECK_STATUS(vf_transform_describe(tr, json, sizeof json), VF_OK);
    CHECK_MSG(strcmp(json, "{\"kind\":\"atanh\",\"dim\":3,\"context\":0,\"scale\":0.5}") == 0, "%s", json);
    CHECK(strcmp(vf_transform_kind(tr), "atanh") == 0);
    vf_transform_free(tr);
    vf_elementwise_affine_params ep = vf_elementwise_affine_default_params(2);
    ep.context = 1;
    CHECK_STATUS(vf_elementwise_affine_new(p, "af", &ep, &tr), VF_OK);
    CHECK_STATUS(vf_transform_describe(tr, json, sizeof json), VF_OK);
    CHECK_MSG(strcmp(json, "{\"kind\":\"elementwise_affine\",\"dim\":2,\"context\":1}") == 0, "%s", json);
    vf_transform_free(tr);
    vf_params_free(p);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void test_errors(void)
{
    vf_params *p = vf_params_new();
    vf_transform *tr = (vf_transform *)p; /* must be set to NULL on failure */
    static const int64_t dup[3] = {0, 2, 0}, range[3] = {0, 3, 1}, neg[3] = {0, -1, 1};
    vf_permutation_params pp = vf_permutation_default_params(3);
    pp.perm = dup;
    CHECK_STATUS(vf_permutation_new(NULL, NULL, &pp, &tr), VF_ERR_ARG);
    CHECK(tr == NULL && strstr(vf_last_error(), "twice") != NULL);
    pp.perm = range;
    CHECK_STATUS(vf_permutation_new(NULL, NULL, &pp, &tr), VF_ERR_ARG);
    pp.perm = neg;
    CHECK_STATUS(vf_permutation_new(NULL, NULL, &pp, &tr), VF_ERR_ARG);
    pp = vf_permutation_default_params(0);
    CHECK_STATUS(vf_permutation_new(NULL, NULL, &pp, &tr), VF_ERR_ARG);
    CHECK_STATUS(vf_permutation_new(NULL, NULL, NULL, &tr), VF_ERR_ARG);

    double lo[2] = {0, 1}, hi[2] = {1, 1}, inf[2] = {1, INFINITY};
    vf_box_params bp = vf_logit_default_params(2);
    bp.lo = lo;
    bp.hi = hi; /* second feature empty */
    CHECK_STATUS(vf_logit_new(NULL, NULL, &bp, &tr), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "feature 1") != NULL);
    bp.hi = inf;
    CHECK_STATUS(vf_sigmoid_new(NULL, NULL, &bp, &tr), VF_ERR_ARG);
    bp.hi = NULL;
    lo[0] = 2; /* above the default hi = 1 */
    CHECK_STATUS(vf_logit_new(NULL, NULL, &bp, &tr), VF_ERR_ARG);
    lo[0] = NAN;
    CHECK_STATUS(vf_logit_new(NULL, NULL, &bp, &tr), VF_ERR_ARG);

    vf_tanh_params tp = vf_tanh_default_params(2);
    tp.scale = 0;
    CHECK_STATUS(vf_tanh_new(NULL, NULL, &tp, &tr), VF_ERR_ARG);
    tp.scale = -1;
    CHECK_STATUS(vf_atanh_new(NULL, NULL, &tp, &tr), VF_ERR_ARG);
    tp.scale = INFINITY;
    CHECK_STATUS(vf_tanh_new(NULL, NULL, &tp, &tr), VF_ERR_ARG);

    vf_actnorm_params ap = vf_actnorm_default_params(2);
    ap.min_scale = 0;
    CHECK_STATUS(vf_actnorm_new(p, "an", &ap, &tr), VF_ERR_ARG);
    ap = vf_actnorm_default_params(2);
    ap.context = -1;
    CHECK_STATUS(vf_actnorm_new(p, "an", &ap, &tr), VF_ERR_ARG);
    CHECK_STATUS(vf_actnorm_new(NULL, "an", &ap, &tr), VF_ERR_ARG);
    vf_lu_linear_params up = vf_lu_linear_default_params(2);
    up.init_std = -1;
    CHECK_STATUS(vf_lu_linear_new(p, "lu", &up, &tr), VF_ERR_ARG);
    up = vf_lu_linear_default_params(0);
    CHECK_STATUS(vf_lu_linear_new(p, "lu", &up, &tr), VF_ERR_ARG);
    vf_elementwise_affine_params ep = vf_elementwise_affine_default_params(-3);
    CHECK_STATUS(vf_elementwise_affine_new(p, "af", &ep, &tr), VF_ERR_ARG);
    CHECK(vf_params_count(p) == 0);

    /* a name clash part-way through registration leaves nothing registered */
    int32_t id;
    CHECK_STATUS(vf_params_add(p, "x.log_s", 1, (int64_t[]){2}, vf_init_zeros(), &id), VF_OK);
    CHECK_STATUS(vf_params_add(p, "y.log_scale", 1, (int64_t[]){2}, vf_init_zeros(), &id), VF_OK);
    CHECK_STATUS(vf_params_add(p, "z.bias", 1, (int64_t[]){2}, vf_init_zeros(), &id), VF_OK);
    up = vf_lu_linear_default_params(2);
    CHECK_STATUS(vf_lu_linear_new(p, "x", &up, &tr), VF_ERR_ARG);
    CHECK(vf_params_count(p) == 3);
    CHECK_STATUS(vf_lu_linear_new(p, "z", &up, &tr), VF_ERR_ARG);
    CHECK(vf_params_count(p) == 3);
    ap = vf_actnorm_default_params(2);
    CHECK_STATUS(vf_actnorm_new(p, "y", &ap, &tr), VF_ERR_ARG);
    ep = vf_elementwise_affine_default_params(2);
    CHECK_STATUS(vf_elementwise_affine_new(p, "y", &ep, &tr), VF_ERR_ARG);
    CHECK(vf_params_count(p) == 3);
    CHECK(tr == NULL);

    /* data_init before the store is finalized */
    CHECK_STATUS(vf_actnorm_new(p, "an", &ap, &tr), VF_OK);
    vf_tape *t = vf_tape_new();
    vf_real x[4] = {1, 2, 3, 4};
    vf_transform_data_init(tr, p, t, vf_input(t, x, 2, (int64_t[]){2, 2}), VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_STATE);
    vf_tape_free(t);
    vf_transform_free(tr);
    vf_params_free(p);
}

/* ---- allocation failures --------------------------------------------------------------------- */

/* One transform of kind *(kind *)ctx: construct, finalize, forward (data_init for ActNorm), inverse,
 * backward, describe; the round trip is verified when everything succeeds. */
static vf_status alloc_scenario(void *ctx)
{
    const kind k = *(const kind *)ctx;
    vf_status s = VF_OK;
    vf_params *p = vf_params_new();
    vf_transform *tr = NULL;
    vf_tape *t = NULL;
    if (!p) return VF_ERR_NOMEM;
    s = make(k, 2, 0, p, "t", &tr);
    if (s == VF_OK) s = vf_params_finalize(p, 1);
    if (s == VF_OK && !(t = vf_tape_new())) s = VF_ERR_NOMEM;
    const vf_real x[4] = {0.5f, 0.25f, 0.75f, 0.5f};
    if (s == VF_OK) {
        vf_var l1, l2, v = vf_input(t, x, 2, (int64_t[]){2, 2});
        vf_var z = k == K_ACTNORM ? vf_transform_data_init(tr, p, t, v, VF_NOVAR)
                                  : vf_transform_forward(tr, p, t, v, VF_NOVAR, &l1);
        vf_var back = vf_transform_inverse(tr, p, t, z, VF_NOVAR, &l2);
        if (back != VF_NOVAR) vf_backward(t, vf_sum(t, back, VF_ALL_AXES, 0));
        s = vf_tape_status(t);
        if (s == VF_OK && fc_maxrel(vf_value(t, back)->data, x, 4) > 1e-4) s = VF_ERR_NUMERIC;
    }
    if (s == VF_OK) {
        char json[256];
        s = vf_transform_describe(tr, json, sizeof json);
    }
    vf_tape_free(t);
    vf_transform_free(tr);
    vf_params_free(p);
    return s;
}

static void test_alloc_failures(void)
{
    for (int k = 0; k < K_COUNT; k++) {
        kind kk = (kind)k;
        CHECK_MSG(alloc_scenario(&kk) == VF_OK, "%s", kind_name[k]);
        CHECK_MSG(af_sweep(kind_name[k], alloc_scenario, &kk, 0) == 0, "%s", kind_name[k]);
        CHECK_MSG(af_sweep(kind_name[k], alloc_scenario, &kk, 1) == 0, "%s (sticky)", kind_name[k]);
    }
}

int main(void)
{
    RUN(test_flowchecks);
    RUN(test_normalization_to_box);
    RUN(test_triangular_solve);
    RUN(test_values);
    RUN(test_actnorm_data_init);
    RUN(test_permutations);
    RUN(test_outside_box);
    RUN(test_describe);
    RUN(test_errors);
    RUN(test_alloc_failures);
    return vf_test_summary();
}
