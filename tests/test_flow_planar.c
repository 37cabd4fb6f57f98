/* test_flow_planar.c — planar and radial flows: values against hand computations (constraints
 * included), every flowcheck.h check (round trips, brute-force log-determinants, normalization in 1-D
 * and 2-D, gradients through the numerical forward and the closed-form inverse w.r.t. input, context
 * and parameters) unconditional and conditional, forward mode against reverse mode w.r.t. the
 * parameters, adversarial parameters and extreme inputs, describe(), errors and allocation failures. */
#include "vf_test.h"
#include "flowcheck.h"
#include "alloc_fail.h"
#include "varflow/vf_planar.h"

#if VF_USE_DOUBLE
#define VAL_TOL 1e-12
#define RT_TOL 1e-10 /* round trips in the double build (the brief: 1e-10) */
#else
#define VAL_TOL 2e-5
#define RT_TOL 2e-4
#endif

enum { PLANAR = 0, RADIAL = 1 };
static const char *kind_name[2] = {"planar", "radial"};

static vf_status make(int kind, int64_t d, int64_t c, vf_params *p, const char *name, vf_transform **tr)
{
    if (kind == PLANAR) {
        vf_planar_params pp = vf_planar_default_params(d);
        pp.context = c;
        pp.n_hidden = 1;
        pp.hidden = 4;
        pp.act = VF_ACT_TANH;
        return vf_planar_new(p, name, &pp, tr);
    }
    vf_radial_params rp = vf_radial_default_params(d);
    rp.context = c;
    rp.n_hidden = 1;
    rp.hidden = 4;
    rp.act = VF_ACT_TANH;
    return vf_radial_new(p, name, &rp, tr);
}

static void set_param(vf_params *p, const char *name, const double *v, int64_t n)
{
    vf_real *dst = vf_params_data(p, vf_params_find(p, name));
    CHECK(dst != NULL);
    for (int64_t i = 0; dst && i < n; i++) dst[i] = (vf_real)v[i];
}

static double softplus(double a) { return a > 0 ? a + log1p(exp(-a)) : log1p(exp(a)); }

/* Runs forward (dir 0) or inverse (dir 1) of x [n, d] (ctx [n, c] or NULL) into out [n, d] and
 * ladj [n]; returns the tape status. */
static vf_status run(const vf_transform *tr, vf_params *p, int dir, int64_t n, const vf_real *x, const vf_real *ctx,
                     vf_real *out, vf_real *ladj)
{
    int64_t d = vf_transform_dim(tr), c = vf_transform_context_dim(tr);
    vf_tape *t = vf_tape_new();
    if (!t) return VF_ERR_NOMEM;
    vf_var cv = c > 0 ? vf_input(t, ctx, 2, (int64_t[]){n, c}) : VF_NOVAR, l;
    vf_var xv = vf_input(t, x, 2, (int64_t[]){n, d});
    vf_var y = dir == 0 ? vf_transform_forward(tr, p, t, xv, cv, &l) : vf_transform_inverse(tr, p, t, xv, cv, &l);
    vf_status s = vf_tape_status(t);
    if (s == VF_OK) {
        memcpy(out, vf_value(t, y)->data, (size_t)(n * d) * sizeof *out);
        memcpy(ladj, vf_value(t, l)->data, (size_t)n * sizeof *ladj);
    }
    vf_tape_free(t);
    return s;
}

/* max over entries of |dir^{-1}(dir(x)) - x| / max(1, |x|); NaN when anything is not finite. */
static double roundtrip_err(const vf_transform *tr, vf_params *p, int dir, int64_t n, const vf_real *x,
                            const vf_real *ctx)
{
    int64_t d = vf_transform_dim(tr);
    vf_real y[64], back[64], l1[16], l2[16];
    if (n * d > 64 || n > 16) return NAN;
    if (run(tr, p, dir, n, x, ctx, y, l1) != VF_OK || run(tr, p, 1 - dir, n, y, ctx, back, l2) != VF_OK) return NAN;
    double worst = 0;
    for (int64_t i = 0; i < n * d; i++) {
        if (!isfinite((double)y[i]) || !isfinite((double)back[i])) return NAN;
        worst = fmax(worst, fabs((double)back[i] - (double)x[i]) / fmax(1.0, fabs((double)x[i])));
    }
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite((double)l1[i]) || !isfinite((double)l2[i])) return NAN;
        worst = fmax(worst, fabs((double)l1[i] + (double)l2[i]) / fmax(1.0, fabs((double)l1[i])));
    }
    return worst;
}

/* ---- values against hand computations ---------------------------------------------------- */

static void planar_by_hand(const double *w, const double *u, double b, const double *z, double *x, double *ladj)
{
    double wu = w[0] * u[0] + w[1] * u[1], ww = w[0] * w[0] + w[1] * w[1], m = -1 + softplus(wu);
    double uh[2] = {u[0] + (m - wu) * w[0] / ww, u[1] + (m - wu) * w[1] / ww};
    double a = w[0] * z[0] + w[1] * z[1] + b, th = tanh(a);
    x[0] = z[0] + uh[0] * th;
    x[1] = z[1] + uh[1] * th;
    *ladj = log(fabs(1 + (1 - th * th) * (w[0] * uh[0] + w[1] * uh[1])));
}

static void test_planar_values(void)
{
    /* (w, u) with w.u = 1.02 (u^ = u barely changed) and w.u = -2.5 (the constraint acts) */
    const double ws[2][2] = {{0.7, -0.3}, {1.0, 0.5}}, us[2][2] = {{0.6, -1.0}, {-2.0, -1.0}}, b = 0.1;
    const double z[2] = {0.4, -1.1};
    for (int k = 0; k < 2; k++) {
        vf_params *p = vf_params_new();
        vf_transform *tr = NULL;
        CHECK_STATUS(make(PLANAR, 2, 0, p, "f", &tr), VF_OK);
        CHECK_STATUS(vf_params_finalize(p, 3), VF_OK);
        set_param(p, "f.w", ws[k], 2);
        set_param(p, "f.u", us[k], 2);
        set_param(p, "f.b", &b, 1);
        double want[2], wl;
        planar_by_hand(ws[k], us[k], b, z, want, &wl);
        vf_real zr[2] = {(vf_real)z[0], (vf_real)z[1]}, x[2], l, back[2], lb;
        CHECK_STATUS(run(tr, p, 1, 1, zr, NULL, x, &l), VF_OK);
        CHECK_NEAR(x[0], want[0], VAL_TOL);
        CHECK_NEAR(x[1], want[1], VAL_TOL);
        CHECK_NEAR(l, wl, VAL_TOL);
        CHECK_STATUS(run(tr, p, 0, 1, x, NULL, back, &lb), VF_OK); /* the numerical forward */
        CHECK_NEAR(back[0], z[0], 10 * VAL_TOL);
        CHECK_NEAR(back[1], z[1], 10 * VAL_TOL);
        CHECK_NEAR(lb, -wl, 10 * VAL_TOL);
        vf_transform_free(tr);
        vf_params_free(p);
    }
}

static void test_radial_values(void)
{
    const double z0[2] = {0.2, -0.1}, araw = 0.3, braw = -0.5, z[2] = {1.4, 0.6};
    vf_params *p = vf_params_new();
    vf_transform *tr = NULL;
    CHECK_STATUS(make(RADIAL, 2, 0, p, "g", &tr), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 3), VF_OK);
    set_param(p, "g.z0", z0, 2);
    set_param(p, "g.alpha_raw", &araw, 1);
    set_param(p, "g.beta_raw", &braw, 1);
    double alpha = softplus(araw), beta = -alpha + softplus(braw);
    double y[2] = {z[0] - z0[0], z[1] - z0[1]}, r = hypot(y[0], y[1]), h = 1 / (alpha + r);
    double want[2] = {z[0] + beta * h * y[0], z[1] + beta * h * y[1]};
    double wl = log(1 + beta * h) + log(1 + beta * h - beta * h * h * r); /* (d-1) log(1 + bh) + log(1 + bh + b h' r) */
    vf_real zr[2] = {(vf_real)z[0], (vf_real)z[1]}, x[2], l, back[2], lb;
    CHECK_STATUS(run(tr, p, 1, 1, zr, NULL, x, &l), VF_OK);
    CHECK_NEAR(x[0], want[0], VAL_TOL);
    CHECK_NEAR(x[1], want[1], VAL_TOL);
    CHECK_NEAR(l, wl, VAL_TOL);
    CHECK(beta < 0); /* a contraction here: the constraint region is exercised */
    CHECK_STATUS(run(tr, p, 0, 1, x, NULL, back, &lb), VF_OK);
    CHECK_NEAR(back[0], z[0], 10 * VAL_TOL);
    CHECK_NEAR(back[1], z[1], 10 * VAL_TOL);
    CHECK_NEAR(lb, -wl, 10 * VAL_TOL);
    vf_transform_free(tr);
    vf_params_free(p);
}

/* ---- flowcheck.h, unconditional and conditional ------------------------------------------- */

static void check_all(int kind, int64_t d, int64_t c, uint64_t seed)
{
    vf_params *p = vf_params_new();
    vf_transform *tr = NULL;
    CHECK_STATUS(make(kind, d, c, p, "t0", &tr), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, seed), VF_OK);
    fc_randomize(p, seed, c ? 0.4 : 0.8);
    if (kind == PLANAR) {
        /* keep |w| away from 0, where u^ = u + (m - w.u) w / |w|^2 varies like 1/|w| and the float
         * build's central differences (step 1e-2) lose their accuracy */
        vf_real *w = vf_params_data(p, vf_params_find(p, "t0.w"));
        w[0] += w[0] < 0 ? (vf_real)-0.7 : (vf_real)0.7;
    }
    const int64_t n = 5;
    vf_real x[5 * 3], ctx[5 * 2], ctx_b[5 * 2];
    gc_fill(x, n * d, seed + 1, 0, 1.5);
    gc_fill(ctx, n * c, seed + 2, 0, 1);
    gc_fill(ctx_b, n * c, seed + 3, 0, 1);
    const vf_real *cx = c ? ctx : NULL;
    CHECK_MSG(fc_roundtrip(tr, p, n, x, cx), "%s d=%lld c=%lld", kind_name[kind], (long long)d, (long long)c);
    CHECK_MSG(roundtrip_err(tr, p, 0, n, x, cx) <= RT_TOL, "%s d=%lld c=%lld", kind_name[kind], (long long)d, (long long)c);
    CHECK_MSG(roundtrip_err(tr, p, 1, n, x, cx) <= RT_TOL, "%s d=%lld c=%lld", kind_name[kind], (long long)d, (long long)c);
    CHECK_MSG(fc_logdet(tr, p, n, x, cx), "%s d=%lld c=%lld", kind_name[kind], (long long)d, (long long)c);
    CHECK_MSG(fc_gradcheck(tr, p, n, x, cx, 0), "%s forward d=%lld c=%lld", kind_name[kind], (long long)d, (long long)c);
    CHECK_MSG(fc_gradcheck(tr, p, n, x, cx, 1), "%s inverse d=%lld c=%lld", kind_name[kind], (long long)d, (long long)c);
    if (d == 1) CHECK_MSG(fc_normalization(tr, p, cx, -14, 14, 4000, 1e-4), "%s 1-D c=%lld", kind_name[kind], (long long)c);
    if (d == 2) CHECK_MSG(fc_normalization(tr, p, cx, -9, 9, 300, 2e-4), "%s 2-D c=%lld", kind_name[kind], (long long)c);
    if (c) CHECK(fc_context_matters(tr, p, n, x, ctx, ctx_b));
    vf_transform_free(tr);
    vf_params_free(p);
}

static void test_flowcheck_planar(void)
{
    for (int64_t d = 1; d <= 3; d++) check_all(PLANAR, d, 0, 10 + (uint64_t)d);
    for (int64_t d = 1; d <= 2; d++) check_all(PLANAR, d, 2, 20 + (uint64_t)d);
}

static void test_flowcheck_radial(void)
{
    for (int64_t d = 1; d <= 3; d++) check_all(RADIAL, d, 0, 30 + (uint64_t)d);
    for (int64_t d = 1; d <= 2; d++) check_all(RADIAL, d, 2, 40 + (uint64_t)d);
}

/* ---- forward mode against reverse mode, w.r.t. input and parameters ------------------------ */

/* <u, J v> from vf_jvp equals <J^T u, v> from vf_backward_seed, where v perturbs x and every
 * parameter (the parameter leaves are the nodes whose values point into the store's buffer). */
static int jvp_matches_vjp(const vf_transform *tr, vf_params *p, int dir, int64_t n, const vf_real *x, const vf_real *ctx)
{
    int64_t d = vf_transform_dim(tr), c = vf_transform_context_dim(tr), np = vf_params_size(p);
    vf_real vx[64], useed[64], *vp = malloc((size_t)np * sizeof *vp);
    gc_fill(vx, n * d, 71, 0, 1);
    gc_fill(useed, n * (d + 1), 72, 0, 1);
    gc_fill(vp, np, 73, 0, 1);
    vf_tape *t = vf_tape_new();
    vf_params_zero_grad(p);
    vf_var cv = c > 0 ? vf_input(t, ctx, 2, (int64_t[]){n, c}) : VF_NOVAR, l;
    vf_var xv = vf_input_grad(t, x, 2, (int64_t[]){n, d});
    vf_var y = dir == 0 ? vf_transform_forward(tr, p, t, xv, cv, &l) : vf_transform_inverse(tr, p, t, xv, cv, &l);
    vf_var cols[2] = {y, vf_reshape(t, l, 2, (int64_t[]){n, 1})};
    vf_var out = vf_concat(t, 2, cols, 1);
    int ok = vf_tape_status(t) == VF_OK;
    const vf_real *pv = vf_params_values(p);
    int leaves = 0;
    for (vf_var v = 0; ok && v < vf_tape_size(t); v++) {
        const vf_tensor *tv = vf_value(t, v);
        if (tv->data >= pv && tv->data < pv + np) {
            ok &= vf_set_tangent(t, v, vp + (tv->data - pv)) == VF_OK;
            leaves++;
        }
    }
    ok &= vf_set_tangent(t, xv, vx) == VF_OK && vf_jvp(t) == VF_OK && vf_backward_seed(t, out, useed) == VF_OK;
    ok &= leaves >= 3;
    if (ok) {
        const vf_real *jv = vf_tangent(t, out), *gx = vf_grad(t, xv), *gp = vf_params_grads(p);
        double lhs = 0, rhs = 0, scale = 0;
        for (int64_t i = 0; i < n * (d + 1); i++) lhs += (double)useed[i] * (double)jv[i];
        for (int64_t i = 0; i < n * d; i++) rhs += (double)gx[i] * (double)vx[i];
        for (int64_t i = 0; i < np; i++) rhs += (double)gp[i] * (double)vp[i];
        scale = fmax(1.0, fabs(lhs));
        ok = fabs(lhs - rhs) <= GC_DUAL_TOL * 10 * scale;
        if (!ok) fprintf(stderr, "jvp/vjp %s dir %d: %.12g vs %.12g\n", vf_transform_kind(tr), dir, lhs, rhs);
    }
    vf_params_zero_grad(p);
    vf_tape_free(t);
    free(vp);
    return ok;
}

static void test_jvp_parameters(void)
{
    for (int kind = 0; kind < 2; kind++)
        for (int64_t c = 0; c <= 2; c += 2) {
            vf_params *p = vf_params_new();
            vf_transform *tr = NULL;
            CHECK_STATUS(make(kind, 3, c, p, "j", &tr), VF_OK);
            CHECK_STATUS(vf_params_finalize(p, 5), VF_OK);
            fc_randomize(p, 6, 0.5);
            vf_real x[12], ctx[8];
            gc_fill(x, 12, 7, 0, 1.2);
            gc_fill(ctx, 8, 8, 0, 1);
            for (int dir = 0; dir < 2; dir++)
                CHECK_MSG(jvp_matches_vjp(tr, p, dir, 4, x, c ? ctx : NULL), "%s c=%lld dir %d", kind_name[kind],
                          (long long)c, dir);
            vf_transform_free(tr);
            vf_params_free(p);
        }
}

/* ---- adversarial parameters and extreme inputs -------------------------------------------- */

/* Gradient of sum(z) + sum(ladj) w.r.t. x and the parameters is finite. */
static int grads_finite(const vf_transform *tr, vf_params *p, int64_t n, const vf_real *x)
{
    int64_t d = vf_transform_dim(tr);
    vf_tape *t = vf_tape_new();
    vf_params_zero_grad(p);
    vf_var l, xv = vf_input_grad(t, x, 2, (int64_t[]){n, d});
    vf_var z = vf_transform_forward(tr, p, t, xv, VF_NOVAR, &l);
    vf_var s = vf_add(t, vf_sum(t, z, VF_ALL_AXES, 0), vf_sum(t, l, VF_ALL_AXES, 0));
    int ok = vf_backward(t, s) == VF_OK;
    for (int64_t i = 0; ok && i < n * d; i++) ok = isfinite((double)vf_grad(t, xv)[i]);
    for (int64_t i = 0; ok && i < vf_params_size(p); i++) ok = isfinite((double)vf_params_grads(p)[i]);
    vf_params_zero_grad(p);
    vf_tape_free(t);
    return ok;
}

static void test_planar_adversarial(void)
{
    /* w.u = -75: softplus(-75) rounds away, so w.u^ = -1: the map is a bijection whose Jacobian is
     * singular only where w^T z + b = 0 */
    const double w[2] = {2.0, -1.0}, u[2] = {-30.0, 15.0}, b = 0.3;
    vf_params *p = vf_params_new();
    vf_transform *tr = NULL;
    CHECK_STATUS(make(PLANAR, 2, 0, p, "a", &tr), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    set_param(p, "a.w", w, 2);
    set_param(p, "a.u", u, 2);
    set_param(p, "a.b", &b, 1);
    /* monotone along w: points x = t w / |w| with increasing t have increasing a = w^T z + b */
    enum { K = 41 };
    vf_real xs[2 * K], zs[2 * K], ls[K];
    for (int i = 0; i < K; i++) {
        double tt = -5.0 + 0.25 * i + 0.01;
        xs[2 * i] = (vf_real)(tt * w[0] / sqrt(5.0));
        xs[2 * i + 1] = (vf_real)(tt * w[1] / sqrt(5.0));
    }
    CHECK_STATUS(run(tr, p, 0, K, xs, NULL, zs, ls), VF_OK);
    double prev = -INFINITY;
    int mono = 1, finite = 1;
    for (int i = 0; i < K; i++) {
        double a = w[0] * (double)zs[2 * i] + w[1] * (double)zs[2 * i + 1] + b;
        mono &= a > prev;
        prev = a;
        finite &= isfinite((double)zs[2 * i]) && isfinite((double)zs[2 * i + 1]) && !isnan((double)ls[i]);
    }
    CHECK(mono);
    CHECK(finite);
    /* round trips: data -> latent -> data everywhere; latent -> data -> latent where the map is not
     * (nearly) singular */
    vf_real x[8] = {0.5f, -1.0f, 3.0f, 2.0f, -1000.0f, 1000.0f, 700.0f, -300.0f};
    CHECK(roundtrip_err(tr, p, 0, 4, x, NULL) <= RT_TOL);
    vf_real zz[8] = {1.0f, 0.2f, -0.8f, 0.9f, 400.0f, -1000.0f, -3.0f, 2.0f};
    CHECK(roundtrip_err(tr, p, 1, 4, zz, NULL) <= RT_TOL);
    CHECK(grads_finite(tr, p, 4, x));
    vf_transform_free(tr);
    vf_params_free(p);
}

static void test_radial_adversarial(void)
{
    /* beta_raw = -60: beta^ = -alpha to the last bit, the strongest contraction the constraint allows;
     * alpha_raw = -30: a tiny alpha */
    const double cases[2][2] = {{0.5, -60.0}, {-30.0, 2.0}}, z0[3] = {0.3, -0.2, 0.1};
    for (int k = 0; k < 2; k++) {
        vf_params *p = vf_params_new();
        vf_transform *tr = NULL;
        CHECK_STATUS(make(RADIAL, 3, 0, p, "r", &tr), VF_OK);
        CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
        set_param(p, "r.z0", z0, 3);
        set_param(p, "r.alpha_raw", &cases[k][0], 1);
        set_param(p, "r.beta_raw", &cases[k][1], 1);
        vf_real x[12] = {0.31f, -0.2f, 0.1f, 1.0f, 2.0f, -1.0f, 1000.0f, -1000.0f, 1000.0f, -3.0f, 0.5f, 0.0f};
        vf_real z[12], l[4];
        CHECK_STATUS(run(tr, p, 0, 4, x, NULL, z, l), VF_OK);
        for (int i = 0; i < 12; i++) CHECK(isfinite((double)z[i]));
        for (int i = 0; i < 4; i++) CHECK(isfinite((double)l[i]));
        /* Round trip in the well-conditioned direction (the second map contracts): case 0 compresses
         * latents near z0 (f^{-1} expands there), so data -> latent -> data; case 1 (tiny alpha)
         * squeezes the ball |x - z0| < beta^ into |z - z0| ~ alpha, so latent -> data -> latent, and
         * data -> latent -> data only outside that ball (inside, z - z0 is below z0's rounding). */
        if (k == 0) {
            CHECK_MSG(roundtrip_err(tr, p, 0, 4, x, NULL) <= RT_TOL, "case %d", k);
        } else {
            CHECK_MSG(roundtrip_err(tr, p, 1, 4, x, NULL) <= RT_TOL, "case %d", k);
            CHECK_MSG(roundtrip_err(tr, p, 0, 3, x + 3, NULL) <= RT_TOL, "case %d", k);
        }
        CHECK(grads_finite(tr, p, 4, x));
        vf_transform_free(tr);
        vf_params_free(p);
    }
}

/* Degenerate points: planar with w = 0 is the translation z + u tanh(b); radial at x = z0 and z = z0
 * exactly maps the centre to itself with finite gradients. */
static void test_degenerate_points(void)
{
    vf_params *p = vf_params_new();
    vf_transform *pl = NULL, *ra = NULL;
    CHECK_STATUS(make(PLANAR, 2, 0, p, "p", &pl), VF_OK);
    CHECK_STATUS(make(RADIAL, 2, 0, p, "r", &ra), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    const double w0[2] = {0, 0}, u[2] = {0.5, -2.0}, b = 0.7, z0[2] = {0.25, -0.5}, araw = 0.1, braw = -0.3;
    set_param(p, "p.w", w0, 2);
    set_param(p, "p.u", u, 2);
    set_param(p, "p.b", &b, 1);
    set_param(p, "r.z0", z0, 2);
    set_param(p, "r.alpha_raw", &araw, 1);
    set_param(p, "r.beta_raw", &braw, 1);
    vf_real x[2] = {1.0f, 2.0f}, y[2], l;
    CHECK_STATUS(run(pl, p, 1, 1, x, NULL, y, &l), VF_OK);
    CHECK_NEAR(y[0], 1.0 + u[0] * tanh(b), VAL_TOL);
    CHECK_NEAR(y[1], 2.0 + u[1] * tanh(b), VAL_TOL);
    CHECK_NEAR(l, 0.0, VAL_TOL);
    CHECK(roundtrip_err(pl, p, 0, 1, x, NULL) <= RT_TOL);
    CHECK(grads_finite(pl, p, 1, x));
    vf_real c[2] = {(vf_real)z0[0], (vf_real)z0[1]};
    double alpha = softplus(araw), beta = -alpha + softplus(braw);
    for (int dir = 0; dir < 2; dir++) {
        CHECK_STATUS(run(ra, p, dir, 1, c, NULL, y, &l), VF_OK);
        CHECK(y[0] == c[0] && y[1] == c[1]);
        double want = log(1 + beta / alpha) + log(1 + beta / alpha); /* (d - 1) log(1 + b/a) + log(1 + a b / a^2) */
        CHECK_NEAR(l, dir ? want : -want, VAL_TOL);
    }
    CHECK(grads_finite(ra, p, 1, c));
    vf_tape *t = vf_tape_new(); /* inverse at the centre: finite gradients too */
    vf_var xv = vf_input_grad(t, c, 2, (int64_t[]){1, 2}), li;
    vf_var xo = vf_transform_inverse(ra, p, t, xv, VF_NOVAR, &li);
    CHECK_STATUS(vf_backward(t, vf_add(t, vf_sum(t, xo, VF_ALL_AXES, 0), vf_sum(t, li, VF_ALL_AXES, 0))), VF_OK);
    CHECK(vf_grad(t, xv) && isfinite((double)vf_grad(t, xv)[0]) && isfinite((double)vf_grad(t, xv)[1]));
    vf_tape_free(t);
    vf_params_zero_grad(p);
    vf_transform_free(pl);
    vf_transform_free(ra);
    vf_params_free(p);
}

/* |x| = 1e3 with random parameters: finite values, log-determinants and gradients, exact round trip */
static void test_extreme_inputs(void)
{
    for (int kind = 0; kind < 2; kind++) {
        vf_params *p = vf_params_new();
        vf_transform *tr = NULL;
        CHECK_STATUS(make(kind, 3, 0, p, "e", &tr), VF_OK);
        CHECK_STATUS(vf_params_finalize(p, 9), VF_OK);
        fc_randomize(p, 10, 2.0);
        vf_real x[12] = {1e3f, -1e3f, 1e3f, -1e3f, 0.0f, 0.0f, 0.0f, 1e3f, 0.0f, 577.0f, 577.0f, -577.0f};
        CHECK_MSG(roundtrip_err(tr, p, 0, 4, x, NULL) <= RT_TOL, "%s", kind_name[kind]);
        CHECK_MSG(roundtrip_err(tr, p, 1, 4, x, NULL) <= RT_TOL, "%s", kind_name[kind]);
        CHECK(grads_finite(tr, p, 4, x));
        vf_transform_free(tr);
        vf_params_free(p);
    }
}

/* ---- construction: initialization, describe, errors -------------------------------------- */

static void test_init_and_describe(void)
{
    for (int kind = 0; kind < 2; kind++) {
        vf_params *p = vf_params_new();
        vf_transform *tr = NULL, *tc = NULL;
        CHECK_STATUS(make(kind, 4, 0, p, "u", &tr), VF_OK);
        CHECK_STATUS(make(kind, 4, 3, p, "c", &tc), VF_OK);
        CHECK(vf_params_count(p) == 3 + 3 + 4); /* 3 own tensors each, the MLP: 2 layers x (weight, bias) */
        CHECK(vf_params_find(p, kind == PLANAR ? "c.net.layers.1.weight" : "c.net.layers.0.bias") >= 0);
        CHECK(vf_params_find(p, kind == PLANAR ? "u.w" : "u.alpha_raw") >= 0);
        CHECK_STATUS(vf_params_finalize(p, 2), VF_OK);
        /* own tensors ~ U(-1/2, 1/2) for d = 4 and not all zero */
        double amax = 0;
        for (int32_t i = 0; i < 3; i++) {
            vf_param_info info;
            vf_params_info(p, i, &info);
            for (int64_t k = 0; k < info.numel; k++) amax = fmax(amax, fabs((double)vf_params_values(p)[info.offset + k]));
        }
        CHECK(amax > 0 && amax <= 0.5);
        CHECK(vf_transform_dim(tc) == 4 && vf_transform_context_dim(tc) == 3);
        CHECK(strcmp(vf_transform_kind(tc), kind_name[kind]) == 0);
        /* a fresh conditional transform ignores its context (zero output layer) */
        vf_real x[8], ca[6], cb[6], za[8], zb[8], la[2], lb[2];
        gc_fill(x, 8, 1, 0, 1);
        gc_fill(ca, 6, 2, 0, 1);
        gc_fill(cb, 6, 3, 0, 1);
        CHECK_STATUS(run(tc, p, 0, 2, x, ca, za, la), VF_OK);
        CHECK_STATUS(run(tc, p, 0, 2, x, cb, zb, lb), VF_OK);
        CHECK(memcmp(za, zb, sizeof za) == 0 && memcmp(la, lb, sizeof la) == 0);
        char json[256], want[256];
        CHECK_STATUS(vf_transform_describe(tc, json, sizeof json), VF_OK);
        snprintf(want, sizeof want,
                 "{\"kind\":\"%s\",\"dim\":4,\"context\":3,\"n_hidden\":1,\"hidden\":4,\"act\":\"tanh\",\"init_scale\":0.5}",
                 kind_name[kind]);
        CHECK_MSG(strcmp(json, want) == 0, "%s", json);
        CHECK_STATUS(vf_transform_describe(tc, json, 20), VF_ERR_ARG);
        vf_transform_free(tr);
        vf_transform_free(tc);
        vf_params_free(p);
    }
}

static void test_errors(void)
{
    for (int kind = 0; kind < 2; kind++) {
        vf_params *p = vf_params_new();
        vf_transform *tr = (vf_transform *)p; /* must be reset to NULL on failure */
        vf_planar_params pp = vf_planar_default_params(2);
        vf_radial_params rp = vf_radial_default_params(2);
#define NEW(P) (kind == PLANAR ? vf_planar_new(p, "x", &(P##p), &tr) : vf_radial_new(p, "x", &(P##r), &tr))
        vf_planar_params bad_p = pp;
        vf_radial_params bad_r = rp;
        bad_p.dim = bad_r.dim = 0;
        CHECK_STATUS(NEW(bad_), VF_ERR_ARG);
        CHECK(tr == NULL);
        bad_p = pp;
        bad_r = rp;
        bad_p.context = bad_r.context = -1;
        CHECK_STATUS(NEW(bad_), VF_ERR_ARG);
        bad_p = pp;
        bad_r = rp;
        bad_p.init_scale = bad_r.init_scale = NAN;
        CHECK_STATUS(NEW(bad_), VF_ERR_ARG);
        bad_p = pp;
        bad_r = rp;
        bad_p.context = bad_r.context = 2;
        bad_p.n_hidden = bad_r.n_hidden = VF_NN_MAX_HIDDEN + 1;
        CHECK_STATUS(NEW(bad_), VF_ERR_ARG);
        bad_p.n_hidden = bad_r.n_hidden = 1;
        bad_p.act = bad_r.act = VF_ACT_COUNT;
        CHECK_STATUS(NEW(bad_), VF_ERR_ARG);
        CHECK(vf_params_count(p) == 0);
#undef NEW
        CHECK_STATUS(kind == PLANAR ? vf_planar_new(p, "x", NULL, &tr) : vf_radial_new(p, "x", NULL, &tr), VF_ERR_ARG);
        CHECK_STATUS(kind == PLANAR ? vf_planar_new(NULL, "x", &pp, &tr) : vf_radial_new(NULL, "x", &rp, &tr), VF_ERR_ARG);
        CHECK_STATUS(kind == PLANAR ? vf_planar_new(p, "x", &pp, NULL) : vf_radial_new(p, "x", &rp, NULL), VF_ERR_ARG);
        /* a name too long for the last tensor: all or nothing */
        char longname[VF_PARAM_NAME_MAX];
        memset(longname, 'n', sizeof longname);
        longname[VF_PARAM_NAME_MAX - 4] = '\0'; /* "<name>.w" fits, "<name>.b"/".beta_raw" with 'net' does not */
        pp.context = rp.context = 1;
        CHECK_STATUS(kind == PLANAR ? vf_planar_new(p, longname, &pp, &tr) : vf_radial_new(p, longname, &rp, &tr), VF_ERR_ARG);
        CHECK(vf_params_count(p) == 0 && vf_params_size(p) == 0);
        /* a duplicate name: the second registration fails and leaves the first intact */
        vf_transform *a = NULL, *b = NULL;
        CHECK_STATUS(kind == PLANAR ? vf_planar_new(p, "dup", &pp, &a) : vf_radial_new(p, "dup", &rp, &a), VF_OK);
        int32_t count = vf_params_count(p);
        CHECK_STATUS(kind == PLANAR ? vf_planar_new(p, "dup", &pp, &b) : vf_radial_new(p, "dup", &rp, &b), VF_ERR_ARG);
        CHECK(b == NULL && vf_params_count(p) == count);
        CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
        CHECK_STATUS(kind == PLANAR ? vf_planar_new(p, "late", &pp, &b) : vf_radial_new(p, "late", &rp, &b), VF_ERR_STATE);
        /* context rules: the conditional transform needs its [n, 1] context, an unconditional one refuses it */
        vf_tape *t = vf_tape_new();
        vf_real x[4] = {1, 2, 3, 4}, c[2] = {0.5, -0.5};
        vf_var l, xv = vf_input(t, x, 2, (int64_t[]){2, 2});
        CHECK(vf_transform_forward(a, p, t, xv, VF_NOVAR, &l) == VF_NOVAR);
        CHECK(vf_tape_status(t) == VF_ERR_ARG);
        vf_tape_reset(t);
        xv = vf_input(t, x, 2, (int64_t[]){2, 2});
        CHECK(vf_transform_inverse(a, p, t, xv, vf_input(t, c, 2, (int64_t[]){2, 1}), &l) != VF_NOVAR);
        CHECK(vf_tape_status(t) == VF_OK);
        vf_tape_free(t);
        vf_transform_free(a);
        vf_params_free(p);
    }
}

/* ---- allocation failures ------------------------------------------------------------------ */

static vf_status alloc_scenario(void *vctx)
{
    int kind = *(int *)vctx;
    vf_params *p = vf_params_new();
    if (!p) return VF_ERR_NOMEM;
    vf_transform *tr = NULL;
    vf_status s = make(kind, 2, 2, p, "m", &tr);
    if (s != VF_OK && vf_params_count(p) != 0) s = VF_ERR_STATE; /* a failed constructor left tensors behind */
    if (s == VF_OK) s = vf_params_finalize(p, 1);
    vf_tape *t = s == VF_OK ? vf_tape_new() : NULL;
    if (s == VF_OK && !t) s = VF_ERR_NOMEM;
    if (s == VF_OK) {
        fc_randomize(p, 2, 0.5);
        vf_real x[6] = {0.1, -0.4, 1.2, 0.3, -2.0, 0.7}, c[6] = {1, 0, 0, 1, -1, 1};
        vf_var cv = vf_input(t, c, 2, (int64_t[]){3, 2}), l1, l2;
        vf_var xv = vf_input_grad(t, x, 2, (int64_t[]){3, 2});
        vf_var z = vf_transform_forward(tr, p, t, xv, cv, &l1);
        vf_var back = vf_transform_inverse(tr, p, t, z, cv, &l2);
        vf_var loss = vf_add(t, vf_sum(t, back, VF_ALL_AXES, 0), vf_sum(t, l1, VF_ALL_AXES, 0));
        s = vf_tape_status(t);
        if (s == VF_OK) s = vf_backward(t, loss);
        if (s == VF_OK && fabs((double)vf_value(t, back)->data[4] - (double)x[4]) > 1e-3) s = VF_ERR_NUMERIC;
    }
    vf_tape_free(t);
    vf_transform_free(tr);
    vf_params_free(p);
    return s;
}

static void test_alloc_failures(void)
{
    for (int kind = 0; kind < 2; kind++) {
        CHECK_MSG(af_sweep(kind_name[kind], alloc_scenario, &kind, 0) == 0, "%s", kind_name[kind]);
        CHECK_MSG(af_sweep(kind_name[kind], alloc_scenario, &kind, 1) == 0, "%s sticky", kind_name[kind]);
    }
}

int main(void)
{
    RUN(test_planar_values);
    RUN(test_radial_values);
    RUN(test_flowcheck_planar);
    RUN(test_flowcheck_radial);
    RUN(test_jvp_parameters);
    RUN(test_planar_adversarial);
    RUN(test_radial_adversarial);
    RUN(test_degenerate_points);
    RUN(test_extreme_inputs);
    RUN(test_init_and_describe);
    RUN(test_errors);
    RUN(test_alloc_failures);
    return vf_test_summary();
}
