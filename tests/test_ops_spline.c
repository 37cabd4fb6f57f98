/* test_ops_spline.c — the rational-quadratic spline op (vf_spline.h): values against a reference
 * written here from the paper's formulas, gradients (reverse against central differences, forward
 * against reverse) of both outputs w.r.t. the input and all three parameter tensors in both
 * directions, round trips, the log-derivative against a numerical derivative, monotonicity, knots,
 * all-zero parameters, extreme inputs and parameters, and argument errors.
 */
#include <float.h>
#include <stdlib.h>
#include "vf_test.h"
#include "gradcheck.h"
#include "varflow/vf_spline.h"

#if VF_USE_DOUBLE
#define VF_EPS DBL_EPSILON
#define REF_TOL 1e-12   /* value against the reference, relative to the bound */
#define TRIP_TOL 1e-10  /* round trip */
#define LADJ_TOL 1e-11   /* ladj(inverse) + ladj(forward) */
#else
#define VF_EPS FLT_EPSILON
#define REF_TOL 2e-6
#define TRIP_TOL 1e-4
#define LADJ_TOL 3e-4
#endif

typedef struct spl_case {
    int64_t n, d, K;
    double bound;
    int inverse;
    int which;     /* 0: the output, 1: ladj, 2: output + 3 ladj (both adjoints in one backward pass) */
    int flat;      /* parameters as [n, d*K] instead of [n, d, K] */
    vf_rq_spline_options opt;
} spl_case;

/* x [n, d], uw/uh [n, d*K], ud [n, d*(K-1)] on the heap. */
typedef struct spl_data {
    vf_real *x, *uw, *uh, *ud;
} spl_data;

static void data_alloc(spl_data *s, const spl_case *c)
{
    int64_t m = c->n * c->d;
    s->x = calloc((size_t)m, sizeof(vf_real));
    s->uw = calloc((size_t)(m * c->K), sizeof(vf_real));
    s->uh = calloc((size_t)(m * c->K), sizeof(vf_real));
    s->ud = calloc((size_t)(m * (c->K - 1) + 1), sizeof(vf_real));
}

static void data_free(spl_data *s)
{
    free(s->x);
    free(s->uw);
    free(s->uh);
    free(s->ud);
}

static void params_random(spl_data *s, const spl_case *c, uint64_t seed, double sd)
{
    int64_t m = c->n * c->d;
    gc_fill(s->uw, m * c->K, seed, 0, sd);
    gc_fill(s->uh, m * c->K, seed + 1, 0, sd);
    if (c->K > 1) gc_fill(s->ud, m * (c->K - 1), seed + 2, 0, sd);
}

/* Puts element i at relative position xi_i in [lo, hi] of a random bin of its spline (of the
 * height knots when inverse), except every `tail_every`-th element, which goes to a tail. */
static void points_in_bins(spl_data *s, const spl_case *c, uint64_t seed, double lo, double hi, int tail_every)
{
    vf_rng r;
    vf_rng_init(&r, seed, 3);
    int64_t K = c->K;
    double *kx = malloc((size_t)(K + 1) * sizeof(double)), *ky = malloc((size_t)(K + 1) * sizeof(double));
    double *kd = malloc((size_t)(K + 1) * sizeof(double));
    for (int64_t i = 0; i < c->n * c->d; i++) {
        if (tail_every && i % tail_every == tail_every - 1) {
            double off = 0.3 + vf_rng_uniform(&r);
            s->x[i] = (vf_real)((i / tail_every) % 2 ? c->bound + off : -c->bound - off);
            continue;
        }
        vf_rq_spline_knots(s->uw + i * K, s->uh + i * K, s->ud + i * (K - 1), K, c->bound, &c->opt, kx, ky, kd);
        const double *kn = c->inverse ? ky : kx;
        int64_t k = (int64_t)(vf_rng_uniform(&r) * (double)K);
        if (k >= K) k = K - 1;
        double xi = lo + (hi - lo) * vf_rng_uniform(&r);
        s->x[i] = (vf_real)(kn[k] + xi * (kn[k + 1] - kn[k]));
    }
    free(kx);
    free(ky);
    free(kd);
}

static vf_var build_param(vf_tape *t, vf_var v, const spl_case *c, int64_t per)
{
    if (c->flat) return v;
    return vf_reshape(t, v, 3, (int64_t[]){c->n, c->d, per});
}

/* in: x [n, d], uw [n, d*K], uh [n, d*K], ud [n, d*(K-1)]. */
static vf_var build_spline(vf_tape *t, const vf_var *in, void *ctx)
{
    const spl_case *c = ctx;
    vf_var l = VF_NOVAR;
    vf_var y = vf_rq_spline(t, in[0], build_param(t, in[1], c, c->K), build_param(t, in[2], c, c->K),
                            build_param(t, in[3], c, c->K - 1), c->bound, c->inverse, &c->opt, &l);
    return c->which == 2 ? vf_add(t, y, vf_scale(t, l, 3.0)) : c->which ? l : y;
}

static int run_gradcheck(const char *name, spl_case *c, spl_data *s)
{
    gc_input in[4] = {{s->x, 2, {c->n, c->d}, 1},
                      {s->uw, 2, {c->n, c->d * c->K}, 1},
                      {s->uh, 2, {c->n, c->d * c->K}, 1},
                      {s->ud, 2, {c->n, c->d * (c->K - 1)}, 1}};
    return gradcheck(name, build_spline, c, 4, in);
}

static spl_case case_new(int64_t n, int64_t d, int64_t K, double bound)
{
    spl_case c;
    memset(&c, 0, sizeof c);
    c.n = n;
    c.d = d;
    c.K = K;
    c.bound = bound;
    c.opt = vf_rq_spline_default_options();
    return c;
}

/* ---- reference (double, straight from the formulas, linear bin search) --------------------- */
static double ref_softplus(double u) { return u > 0 ? u + log1p(exp(-u)) : log1p(exp(u)); }

static void ref_knots(const vf_real *u, int64_t K, double minv, double B, double *kn)
{
    double mx = -INFINITY, sum = 0, c = 0;
    for (int64_t j = 0; j < K; j++) mx = fmax(mx, (double)u[j]);
    for (int64_t j = 0; j < K; j++) sum += exp((double)u[j] - mx);
    kn[0] = -B;
    for (int64_t j = 0; j < K; j++) {
        c += minv + (1 - K * minv) * exp((double)u[j] - mx) / sum;
        kn[j + 1] = -B + 2 * B * c;
    }
    kn[K] = B;
}

/* Forward spline of one element: y and log dy/dx. */
static void ref_spline(double x, const vf_real *uw, const vf_real *uh, const vf_real *ud, int64_t K, double B,
                       const vf_rq_spline_options *o, double *y, double *lad)
{
    if (x < -B || x > B) {
        *y = x;
        *lad = 0;
        return;
    }
    double kx[80], ky[80];
    ref_knots(uw, K, o->min_bin_width, B, kx);
    ref_knots(uh, K, o->min_bin_height, B, ky);
    int64_t k = 0;
    while (k < K - 1 && x >= kx[k + 1]) k++;
    double shift = o->identity_at_zero ? log(expm1(1 - o->min_derivative)) : 0;
    double d0 = k == 0 ? 1 : o->min_derivative + ref_softplus((double)ud[k - 1] + shift);
    double d1 = k == K - 1 ? 1 : o->min_derivative + ref_softplus((double)ud[k] + shift);
    double w = kx[k + 1] - kx[k], h = ky[k + 1] - ky[k], s = h / w, xi = (x - kx[k]) / w;
    double den = s + (d0 + d1 - 2 * s) * xi * (1 - xi);
    *y = ky[k] + h * (s * xi * xi + d0 * xi * (1 - xi)) / den;
    *lad = log(s * s * (d1 * xi * xi + 2 * s * xi * (1 - xi) + d0 * (1 - xi) * (1 - xi)) / (den * den));
}

/* Runs the op once: out and ladj [m] copied out. Returns the tape status. */
static vf_status run_op(const spl_case *c, const spl_data *s, const vf_real *xin, vf_real *out, vf_real *lad)
{
    vf_tape *t = vf_tape_new();
    int64_t m = c->n * c->d;
    vf_var x = vf_input(t, xin, 2, (int64_t[]){c->n, c->d});
    vf_var uw = vf_input(t, s->uw, 3, (int64_t[]){c->n, c->d, c->K});
    vf_var uh = vf_input(t, s->uh, 3, (int64_t[]){c->n, c->d, c->K});
    vf_var ud = vf_input(t, s->ud, 3, (int64_t[]){c->n, c->d, c->K - 1});
    vf_var l = VF_NOVAR;
    vf_var y = vf_rq_spline(t, x, uw, uh, ud, c->bound, c->inverse, &c->opt, &l);
    vf_status st = vf_tape_status(t);
    if (st == VF_OK) {
        memcpy(out, vf_value(t, y)->data, (size_t)m * sizeof(vf_real));
        memcpy(lad, vf_value(t, l)->data, (size_t)m * sizeof(vf_real));
    }
    vf_tape_free(t);
    return st;
}

/* ---- values --------------------------------------------------------------------------------- */
static void test_matches_reference(void)
{
    for (int variant = 0; variant < 3; variant++) {
        spl_case c = case_new(16, 8, variant == 2 ? 1 : 7, 2.5);
        c.opt.identity_at_zero = variant == 1;
        spl_data s;
        data_alloc(&s, &c);
        params_random(&s, &c, 11 + (uint64_t)variant, 1.5);
        int64_t m = c.n * c.d;
        for (int64_t i = 0; i < m; i++) s.x[i] = (vf_real)(-3.2 + 6.4 * (double)i / (double)(m - 1));
        vf_real *y = malloc((size_t)m * sizeof(vf_real)), *l = malloc((size_t)m * sizeof(vf_real));
        CHECK_STATUS(run_op(&c, &s, s.x, y, l), VF_OK);
        for (int64_t i = 0; i < m; i++) {
            double ry, rl;
            ref_spline((double)s.x[i], s.uw + i * c.K, s.uh + i * c.K, s.ud + i * (c.K - 1), c.K, c.bound, &c.opt, &ry,
                       &rl);
            CHECK_MSG(fabs((double)y[i] - ry) <= REF_TOL * c.bound, "variant %d element %lld: y %.17g, reference %.17g",
                      variant, (long long)i, (double)y[i], ry);
            CHECK_MSG(fabs((double)l[i] - rl) <= 50 * REF_TOL, "variant %d element %lld: ladj %.17g, reference %.17g",
                      variant, (long long)i, (double)l[i], rl);
        }
        free(y);
        free(l);
        data_free(&s);
    }
}

/* The block kernels (16 elements at a time, structure of arrays) against the scalar double
 * reference, on element counts that leave partial blocks, several bin counts, moderate and wide
 * parameters, inputs across both tails, on the bounds and far outside: values and log-derivatives
 * within BLOCK_TOL relative to (1 + |reference|); the inverse through the reference forward map at
 * its output (which must give back y, and minus the reference log-derivative), allowing for the
 * rounding of the stored output times the slope of each. */
#if VF_USE_DOUBLE
#define BLOCK_TOL 1e-12
#else
#define BLOCK_TOL 1e-5
#endif
static void test_blocks_match_reference(void)
{
    const int64_t Ks[4] = {8, 3, 1, 20};
    const double sds[2] = {0.5, 3.0};
    for (int ki = 0; ki < 4; ki++) {
        for (int si = 0; si < 2; si++) {
            spl_case c = case_new(37, 5, Ks[ki], 2.5);
            c.opt.identity_at_zero = si;
            spl_data s;
            data_alloc(&s, &c);
            params_random(&s, &c, 500 + (uint64_t)(2 * ki + si), sds[si]);
            int64_t m = c.n * c.d;
            vf_rng r;
            vf_rng_init(&r, 501, (uint64_t)ki);
            for (int64_t i = 0; i < m; i++) s.x[i] = (vf_real)(c.bound * (2.6 * vf_rng_uniform(&r) - 1.3));
            const double special[6] = {-2.5, 2.5, -1e6, 1e6, 0.0, -2.5000002};
            for (int i = 0; i < 6; i++) s.x[17 * i + 3] = (vf_real)special[i];
            vf_real *y = malloc((size_t)m * sizeof(vf_real)), *l = malloc((size_t)m * sizeof(vf_real));
            vf_real *x2 = malloc((size_t)m * sizeof(vf_real)), *l2 = malloc((size_t)m * sizeof(vf_real));
            CHECK_STATUS(run_op(&c, &s, s.x, y, l), VF_OK);
            c.inverse = 1;
            CHECK_STATUS(run_op(&c, &s, s.x, x2, l2), VF_OK); /* the inverse of the same points */
            double worst_y = 0, worst_l = 0, worst_iy = 0, worst_il = 0;
            for (int64_t i = 0; i < m; i++) {
                const vf_real *uw = s.uw + i * c.K, *uh = s.uh + i * c.K, *ud = s.ud + i * (c.K - 1);
                double ry, rl, fy, fl;
                ref_spline((double)s.x[i], uw, uh, ud, c.K, c.bound, &c.opt, &ry, &rl);
                worst_y = fmax(worst_y, fabs((double)y[i] - ry) / (1 + fabs(ry)));
                worst_l = fmax(worst_l, fabs((double)l[i] - rl) / (1 + fabs(rl)));
                ref_spline((double)x2[i], uw, uh, ud, c.K, c.bound, &c.opt, &fy, &fl);
                /* y back within the rounding of x2 (eps |x2| times the slope) */
                double cond = VF_EPS * fmax(1.0, fabs((double)x2[i])) * exp(fl);
                worst_iy = fmax(worst_iy, fabs(fy - (double)s.x[i]) / (1 + fabs((double)s.x[i]) + cond / BLOCK_TOL));
                /* ... and its log-derivative within the rounding of x2 times d ladj / dx */
                double lp, lm, junk, hx = 1e-7 * c.bound;
                ref_spline((double)x2[i] + hx, uw, uh, ud, c.K, c.bound, &c.opt, &junk, &lp);
                ref_spline((double)x2[i] - hx, uw, uh, ud, c.K, c.bound, &c.opt, &junk, &lm);
                double cond_l = VF_EPS * fmax(1.0, fabs((double)x2[i])) * fabs(lp - lm) / (2 * hx);
                worst_il = fmax(worst_il, fabs((double)l2[i] + fl) / (1 + fabs(fl) + cond_l / BLOCK_TOL));
            }
            CHECK_MSG(worst_y <= BLOCK_TOL && worst_l <= BLOCK_TOL, "K %lld sd %g: y error %.3g, ladj error %.3g",
                      (long long)c.K, sds[si], worst_y, worst_l);
            CHECK_MSG(worst_iy <= BLOCK_TOL && worst_il <= BLOCK_TOL,
                      "K %lld sd %g inverse: forward of it %.3g from y, ladj error %.3g", (long long)c.K, sds[si],
                      worst_iy, worst_il);
            free(y);
            free(l);
            free(x2);
            free(l2);
            data_free(&s);
        }
    }
}

static void test_layouts_agree(void)
{
    /* [n, d, K] parameters and the same memory as [n, d*K] give bit-identical results */
    spl_case c = case_new(3, 5, 6, 2.0);
    spl_data s;
    data_alloc(&s, &c);
    params_random(&s, &c, 5, 1.0);
    gc_fill(s.x, 15, 6, 0, 1.5);
    vf_tape *t = vf_tape_new();
    vf_var x = vf_input(t, s.x, 2, (int64_t[]){3, 5});
    vf_var a = vf_rq_spline(t, x, vf_input(t, s.uw, 3, (int64_t[]){3, 5, 6}), vf_input(t, s.uh, 3, (int64_t[]){3, 5, 6}),
                            vf_input(t, s.ud, 3, (int64_t[]){3, 5, 5}), 2.0, 0, NULL, NULL);
    vf_var b = vf_rq_spline(t, x, vf_input(t, s.uw, 2, (int64_t[]){3, 30}), vf_input(t, s.uh, 2, (int64_t[]){3, 30}),
                            vf_input(t, s.ud, 2, (int64_t[]){3, 25}), 2.0, 0, NULL, NULL);
    CHECK_STATUS(vf_tape_status(t), VF_OK);
    if (vf_tape_status(t) == VF_OK)
        CHECK(memcmp(vf_value(t, a)->data, vf_value(t, b)->data, 15 * sizeof(vf_real)) == 0);
    vf_tape_free(t);
    data_free(&s);
}

/* Packed parameters (per element: K widths, K heights, K-1 slopes) give bit-identical values,
 * log-derivatives and gradients to the three separate tensors, in both directions. */
static void test_packed_matches(void)
{
    enum { N = 4, D = 3, K = 5, PER = 3 * K - 1, M = N * D };
    for (int inverse = 0; inverse < 2; inverse++) {
        spl_case c = case_new(N, D, K, 2.5);
        c.opt.identity_at_zero = 1;
        spl_data s;
        data_alloc(&s, &c);
        params_random(&s, &c, 300 + (uint64_t)inverse, 0.7);
        gc_fill(s.x, M, 301, 0, 1.8); /* some points in the tails */
        vf_real theta[M * PER], r1[M], r2[M], gw[M * K] = {0}, gh[M * K] = {0}, gd[M * (K - 1)] = {0};
        vf_real gt[M * PER] = {0}, gx1[M] = {0}, gx2[M] = {0};
        for (int i = 0; i < M; i++) {
            memcpy(theta + i * PER, s.uw + i * K, K * sizeof(vf_real));
            memcpy(theta + i * PER + K, s.uh + i * K, K * sizeof(vf_real));
            memcpy(theta + i * PER + 2 * K, s.ud + i * (K - 1), (K - 1) * sizeof(vf_real));
        }
        gc_fill(r1, M, 302, 0, 1);
        gc_fill(r2, M, 303, 0, 1);
        vf_tape *t = vf_tape_new();
        vf_var x1 = vf_param(t, s.x, gx1, 2, (int64_t[]){N, D}), x2 = vf_param(t, s.x, gx2, 2, (int64_t[]){N, D});
        vf_var l1 = VF_NOVAR, l2 = VF_NOVAR;
        vf_var y1 = vf_rq_spline(t, x1, vf_param(t, s.uw, gw, 2, (int64_t[]){N, D * K}),
                                 vf_param(t, s.uh, gh, 2, (int64_t[]){N, D * K}),
                                 vf_param(t, s.ud, gd, 2, (int64_t[]){N, D * (K - 1)}), 2.5, inverse, &c.opt, &l1);
        vf_var y2 = vf_rq_spline_packed(t, x2, vf_param(t, theta, gt, 3, (int64_t[]){N, D, PER}), K, 2.5, inverse,
                                        &c.opt, &l2);
        vf_var w1 = vf_input(t, r1, 2, (int64_t[]){N, D}), w2 = vf_input(t, r2, 2, (int64_t[]){N, D});
        vf_var loss = vf_add(t, vf_sum(t, vf_add(t, vf_mul(t, y1, w1), vf_mul(t, l1, w2)), VF_ALL_AXES, 0),
                             vf_sum(t, vf_add(t, vf_mul(t, y2, w1), vf_mul(t, l2, w2)), VF_ALL_AXES, 0));
        CHECK_STATUS(vf_backward(t, loss), VF_OK);
        if (vf_tape_status(t) == VF_OK) {
            CHECK(memcmp(vf_value(t, y1)->data, vf_value(t, y2)->data, M * sizeof(vf_real)) == 0);
            CHECK(memcmp(vf_value(t, l1)->data, vf_value(t, l2)->data, M * sizeof(vf_real)) == 0);
            CHECK(memcmp(gx1, gx2, sizeof gx1) == 0);
            int same = 1;
            for (int i = 0; i < M; i++) {
                same &= memcmp(gt + i * PER, gw + i * K, K * sizeof(vf_real)) == 0;
                same &= memcmp(gt + i * PER + K, gh + i * K, K * sizeof(vf_real)) == 0;
                same &= memcmp(gt + i * PER + 2 * K, gd + i * (K - 1), (K - 1) * sizeof(vf_real)) == 0;
            }
            CHECK_MSG(same, "packed gradients differ (inverse %d)", inverse);
        }
        /* shape errors name theta */
        vf_tape_reset(t);
        CHECK(vf_rq_spline_packed(t, vf_input(t, s.x, 2, (int64_t[]){N, D}),
                                  vf_input(t, theta, 2, (int64_t[]){N, D * PER - 1}), K, 2.5, 0, NULL, NULL) == VF_NOVAR);
        CHECK(vf_tape_status(t) == VF_ERR_SHAPE && strstr(vf_tape_error(t), "theta") != NULL);
        vf_tape_free(t);
        data_free(&s);
    }
}

/* In inference mode the values and log-derivatives are the same bits; derivatives are refused. */
static void test_inference_mode(void)
{
    enum { N = 5, D = 2, K = 6, M = N * D };
    spl_case c = case_new(N, D, K, 3.0);
    spl_data s;
    data_alloc(&s, &c);
    params_random(&s, &c, 400, 0.8);
    gc_fill(s.x, M, 401, 0, 2.0);
    vf_real out[2][2][M];
    for (int mode = 0; mode < 2; mode++) {
        vf_tape *t = vf_tape_new();
        vf_tape_set_grad_enabled(t, mode == 0);
        CHECK(vf_tape_grad_enabled(t) == (mode == 0));
        for (int inverse = 0; inverse < 2; inverse++) {
            vf_var l = VF_NOVAR;
            vf_var y = vf_rq_spline(t, vf_input(t, s.x, 2, (int64_t[]){N, D}), vf_input(t, s.uw, 2, (int64_t[]){N, D * K}),
                                    vf_input(t, s.uh, 2, (int64_t[]){N, D * K}),
                                    vf_input(t, s.ud, 2, (int64_t[]){N, D * (K - 1)}), 3.0, inverse, NULL, &l);
            CHECK_STATUS(vf_tape_status(t), VF_OK);
            memcpy(out[mode][inverse], vf_value(t, y)->data, sizeof out[mode][inverse]);
            if (mode == 1 && inverse == 1) {
                vf_real g[M] = {0};
                CHECK_STATUS(vf_backward_seed(t, y, g), VF_ERR_STATE);
                CHECK_STATUS(vf_jvp(t), VF_ERR_STATE);
                /* enabling gradients again does not make the recorded ops differentiable */
                vf_tape_set_grad_enabled(t, 1);
                CHECK_STATUS(vf_backward_seed(t, y, g), VF_ERR_STATE);
                CHECK_STATUS(vf_jvp(t), VF_ERR_STATE);
                vf_tape_set_grad_enabled(t, 0);
            }
            (void)l;
        }
        vf_tape_reset(t); /* the mode outlives resets */
        CHECK(vf_tape_grad_enabled(t) == (mode == 0));
        vf_tape_free(t);
    }
    CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
    data_free(&s);
}

/* ---- gradients ------------------------------------------------------------------------------ */
static void test_gradcheck(void)
{
    static const char *names[2][3] = {{"forward y", "forward ladj", "forward y + 3 ladj"},
                                      {"inverse x", "inverse ladj", "inverse x + 3 ladj"}};
    for (int inverse = 0; inverse < 2; inverse++) {
        for (int which = 0; which < 3; which++) {
            spl_case c = case_new(3, 4, 5, 3.0);
            c.inverse = inverse;
            c.which = which;
            c.flat = which == 1;
            spl_data s;
            data_alloc(&s, &c);
            params_random(&s, &c, which < 2 ? 100 + (uint64_t)(2 * inverse + which) : 110 + (uint64_t)inverse, 0.5);
            points_in_bins(&s, &c, 7, 0.25, 0.75, 4);
            CHECK_MSG(run_gradcheck(names[inverse][which], &c, &s), "%s", names[inverse][which]);
            data_free(&s);
        }
    }
}

static void test_gradcheck_variants(void)
{
    /* identity_at_zero's shifted slopes; two bins (each touches one end); one bin (no slopes) */
    int64_t Ks[3] = {4, 2, 1};
    for (int v = 0; v < 3; v++) {
        for (int inverse = 0; inverse < 2; inverse++) {
            for (int which = 0; which < 2; which++) {
                spl_case c = case_new(2, 3, Ks[v], 1.5);
                c.opt.identity_at_zero = v == 0;
                c.opt.min_bin_width = 0.02;
                c.inverse = inverse;
                c.which = which;
                spl_data s;
                data_alloc(&s, &c);
                params_random(&s, &c, 200 + (uint64_t)(4 * v + 2 * inverse + which), 0.4);
                points_in_bins(&s, &c, 9, 0.25, 0.75, 5);
                CHECK_MSG(run_gradcheck("spline variant", &c, &s), "K %lld inverse %d which %d", (long long)c.K,
                          inverse, which);
                data_free(&s);
            }
        }
    }
}

static void test_tail_gradients(void)
{
    /* entirely in the tails: y = x, ladj = 0, d/dx = 1 (0 for ladj), nothing reaches the parameters */
    spl_case c = case_new(2, 4, 3, 1.0);
    spl_data s;
    data_alloc(&s, &c);
    params_random(&s, &c, 3, 1.0);
    vf_real xs[8] = {-1.5, 1.5, -7, 7, -1e6, 1e6, (vf_real)-1.0001, (vf_real)1.0001};
    memcpy(s.x, xs, sizeof xs);
    for (int inverse = 0; inverse < 2; inverse++) {
        vf_tape *t = vf_tape_new();
        vf_var x = vf_input_grad(t, s.x, 2, (int64_t[]){2, 4});
        vf_var uw = vf_input_grad(t, s.uw, 2, (int64_t[]){2, 12});
        vf_var uh = vf_input_grad(t, s.uh, 2, (int64_t[]){2, 12});
        vf_var ud = vf_input_grad(t, s.ud, 2, (int64_t[]){2, 8});
        vf_var l;
        vf_var y = vf_rq_spline(t, x, uw, uh, ud, 1.0, inverse, NULL, &l);
        vf_var loss = vf_add(t, vf_sum(t, y, VF_ALL_AXES, 0), vf_scale(t, vf_sum(t, l, VF_ALL_AXES, 0), 3.0));
        CHECK_STATUS(vf_backward(t, loss), VF_OK);
        for (int i = 0; i < 8; i++) {
            CHECK(vf_value(t, y)->data[i] == s.x[i]);
            CHECK(vf_value(t, l)->data[i] == 0);
            CHECK(vf_grad(t, x)[i] == 1);
        }
        for (int i = 0; i < 12; i++) CHECK(vf_grad(t, uw)[i] == 0 && vf_grad(t, uh)[i] == 0);
        for (int i = 0; i < 8; i++) CHECK(vf_grad(t, ud)[i] == 0);
        vf_tape_free(t);
    }
    data_free(&s);
}

/* ---- bijection properties ------------------------------------------------------------------- */
static void test_round_trip(void)
{
    for (int v = 0; v < 3; v++) {
        spl_case c = case_new(64, 8, v == 2 ? 16 : 8, 3.0);
        spl_data s;
        data_alloc(&s, &c);
        params_random(&s, &c, 40 + (uint64_t)v, v == 0 ? 1.0 : 3.0);
        int64_t m = c.n * c.d;
        for (int64_t i = 0; i < m; i++) s.x[i] = (vf_real)(-4.0 + 8.0 * ((double)i + 0.5) / (double)m);
        vf_real *y = malloc((size_t)m * sizeof(vf_real)), *lf = malloc((size_t)m * sizeof(vf_real));
        vf_real *x2 = malloc((size_t)m * sizeof(vf_real)), *li = malloc((size_t)m * sizeof(vf_real));
        CHECK_STATUS(run_op(&c, &s, s.x, y, lf), VF_OK);
        c.inverse = 1;
        CHECK_STATUS(run_op(&c, &s, y, x2, li), VF_OK);
        /* the forward log-derivative where the inverse landed: li(y) = -lf(x2) exactly, whatever
         * rounding y carried (comparing with lf(x) would add L_x times the round-trip error) */
        vf_real *y2 = malloc((size_t)m * sizeof(vf_real)), *lf2 = malloc((size_t)m * sizeof(vf_real));
        c.inverse = 0;
        CHECK_STATUS(run_op(&c, &s, x2, y2, lf2), VF_OK);
        double worst = 0, worst_l = 0;
        for (int64_t i = 0; i < m; i++) {
            /* y is stored rounded (relative error eps): where the slope dy/dx is small, that alone
             * moves the inverse by eps |y| / slope, which the tolerance adds */
            double cond = 4 * VF_EPS * fmax(1.0, fabs((double)y[i])) / exp((double)lf[i]);
            worst = fmax(worst, fabs((double)x2[i] - (double)s.x[i]) / (fmax(1.0, fabs((double)s.x[i])) + cond / TRIP_TOL));
            worst_l = fmax(worst_l, fabs((double)li[i] + (double)lf2[i]) / fmax(1.0, fabs((double)lf2[i])));
            if (v == 0) /* well conditioned: also against the log-derivative at x itself */
                worst_l = fmax(worst_l, fabs((double)li[i] + (double)lf[i]) / fmax(1.0, fabs((double)lf[i])));
        }
        CHECK_MSG(worst <= TRIP_TOL, "variant %d: round trip error %.3g", v, worst);
        CHECK_MSG(worst_l <= LADJ_TOL, "variant %d: ladj(inverse) + ladj(forward) %.3g", v, worst_l);
        free(y);
        free(lf);
        free(x2);
        free(li);
        free(y2);
        free(lf2);
        data_free(&s);
    }
}

/* ladj against the log of a central difference of the output, forward and inverse. */
static void test_ladj_is_log_derivative(void)
{
#if VF_USE_DOUBLE
    const double h = 1e-6, tol = 1e-6;
#else
    const double h = 2e-3, tol = 5e-3;
#endif
    for (int inverse = 0; inverse < 2; inverse++) {
        spl_case c = case_new(4, 8, 6, 2.0);
        c.inverse = inverse;
        spl_data s;
        data_alloc(&s, &c);
        params_random(&s, &c, 60 + (uint64_t)inverse, 0.7);
        points_in_bins(&s, &c, 61, 0.1, 0.9, 7);
        int64_t m = c.n * c.d;
        vf_real *xp = malloc((size_t)m * sizeof(vf_real)), *xm = malloc((size_t)m * sizeof(vf_real));
        vf_real *y = malloc((size_t)m * sizeof(vf_real)), *l = malloc((size_t)m * sizeof(vf_real));
        vf_real *yp = malloc((size_t)m * sizeof(vf_real)), *ym = malloc((size_t)m * sizeof(vf_real));
        vf_real *junk = malloc((size_t)m * sizeof(vf_real));
        for (int64_t i = 0; i < m; i++) {
            xp[i] = (vf_real)((double)s.x[i] + h);
            xm[i] = (vf_real)((double)s.x[i] - h);
        }
        CHECK_STATUS(run_op(&c, &s, s.x, y, l), VF_OK);
        CHECK_STATUS(run_op(&c, &s, xp, yp, junk), VF_OK);
        CHECK_STATUS(run_op(&c, &s, xm, ym, junk), VF_OK);
        for (int64_t i = 0; i < m; i++) {
            double fd = ((double)yp[i] - (double)ym[i]) / ((double)xp[i] - (double)xm[i]);
            CHECK_MSG(fabs(log(fd) - (double)l[i]) <= tol, "inverse %d element %lld: ladj %.12g, log fd %.12g", inverse,
                      (long long)i, (double)l[i], log(fd));
        }
        free(xp);
        free(xm);
        free(y);
        free(l);
        free(yp);
        free(ym);
        free(junk);
        data_free(&s);
    }
}

static void test_monotone(void)
{
    for (int v = 0; v < 3; v++) {
        spl_case c = case_new(1, 1, 10, 2.0);
        spl_data s;
        data_alloc(&s, &c);
        params_random(&s, &c, 80 + (uint64_t)v, v == 0 ? 1.0 : v == 1 ? 4.0 : 20.0);
        /* one element's spline on a fine grid across both tails */
        const int G = 4001;
        spl_case cg = c;
        cg.n = G;
        spl_data sg;
        data_alloc(&sg, &cg);
        for (int i = 0; i < G; i++) {
            memcpy(sg.uw + i * 10, s.uw, 10 * sizeof(vf_real));
            memcpy(sg.uh + i * 10, s.uh, 10 * sizeof(vf_real));
            memcpy(sg.ud + i * 9, s.ud, 9 * sizeof(vf_real));
            sg.x[i] = (vf_real)(-2.5 + 5.0 * i / (G - 1));
        }
        for (int inverse = 0; inverse < 2; inverse++) {
            cg.inverse = inverse;
            vf_real *y = malloc(G * sizeof(vf_real)), *l = malloc(G * sizeof(vf_real));
            CHECK_STATUS(run_op(&cg, &sg, sg.x, y, l), VF_OK);
            int bad = 0;
            for (int i = 0; i + 1 < G; i++) bad += !(y[i + 1] >= y[i]);
            CHECK_MSG(bad == 0, "variant %d inverse %d: %d decreasing steps", v, inverse, bad);
            CHECK(y[0] == sg.x[0] && y[G - 1] == sg.x[G - 1]);
            free(y);
            free(l);
        }
        data_free(&sg);
        data_free(&s);
    }
}

static void test_knots_exact(void)
{
    spl_case c = case_new(1, 6, 5, 3.0);
    spl_data s;
    data_alloc(&s, &c);
    params_random(&s, &c, 90, 1.0);
    double kx[6], ky[6], kd[6];
    spl_case ck = c;
    ck.n = 6; /* each of the 6 knots of each element, one row per knot */
    spl_data sk;
    data_alloc(&sk, &ck);
    for (int r = 0; r < 6; r++) {
        memcpy(sk.uw + r * 30, s.uw, 30 * sizeof(vf_real));
        memcpy(sk.uh + r * 30, s.uh, 30 * sizeof(vf_real));
        memcpy(sk.ud + r * 24, s.ud, 24 * sizeof(vf_real));
    }
    for (int inverse = 0; inverse < 2; inverse++) {
        double want[36];
        for (int e = 0; e < 6; e++) {
            CHECK_STATUS(vf_rq_spline_knots(s.uw + e * 5, s.uh + e * 5, s.ud + e * 4, 5, 3.0, NULL, kx, ky, kd), VF_OK);
            CHECK(kx[0] == -3.0 && kx[5] == 3.0 && ky[0] == -3.0 && ky[5] == 3.0 && kd[0] == 1 && kd[5] == 1);
            for (int k = 0; k <= 5; k++) {
                sk.x[k * 6 + e] = (vf_real)(inverse ? ky[k] : kx[k]);
                want[k * 6 + e] = inverse ? kx[k] : ky[k];
            }
        }
        ck.inverse = inverse;
        vf_real y[36], l[36];
        CHECK_STATUS(run_op(&ck, &sk, sk.x, y, l), VF_OK);
        for (int i = 0; i < 36; i++) {
#if VF_USE_DOUBLE
            CHECK_MSG(y[i] == want[i], "inverse %d knot %d: %.17g, want %.17g", inverse, i, y[i], want[i]);
#else
            CHECK_MSG(fabs((double)y[i] - want[i]) <= 2e-5, "inverse %d knot %d: %.9g, want %.9g", inverse, i,
                      (double)y[i], want[i]);
#endif
        }
        /* the derivative at a knot is its slope D_k: ladj = log D_k (forward) */
        if (!inverse) {
            for (int e = 0; e < 6; e++) {
                vf_rq_spline_knots(s.uw + e * 5, s.uh + e * 5, s.ud + e * 4, 5, 3.0, NULL, kx, ky, kd);
                for (int k = 0; k <= 5; k++)
                    CHECK_MSG(fabs((double)l[k * 6 + e] - log(kd[k])) <= 1e3 * REF_TOL, "knot %d of %d: ladj %.12g, log D %.12g",
                              k, e, (double)l[k * 6 + e], log(kd[k]));
            }
        }
    }
    data_free(&sk);
    data_free(&s);
}

static void test_zero_parameters(void)
{
    /* all-zero parameters: uniform knots, knots fixed, s = 1 in every bin, interior slopes
     * min_derivative + log 2 (nflows) or exactly 1 (identity_at_zero, then y = x). */
    const int64_t K = 4;
    const double B = 2.0;
    for (int ident = 0; ident < 2; ident++) {
        spl_case c = case_new(1, 41, K, B);
        c.opt.identity_at_zero = ident;
        spl_data s;
        data_alloc(&s, &c);
        for (int i = 0; i < 41; i++) s.x[i] = (vf_real)(-2.5 + 0.125 * i); /* hits every knot, both tails */
        double kx[5], ky[5], kd[5];
        CHECK_STATUS(vf_rq_spline_knots(s.uw, s.uh, s.ud, K, B, &c.opt, kx, ky, kd), VF_OK);
        double D = ident ? 1.0 : c.opt.min_derivative + log(2.0);
        for (int k = 0; k <= K; k++) {
            CHECK_NEAR(kx[k], -B + 2 * B * k / (double)K, 1e-15);
            CHECK_NEAR(ky[k], -B + 2 * B * k / (double)K, 1e-15);
            CHECK_NEAR(kd[k], k == 0 || k == K ? 1.0 : D, 1e-3 * REF_TOL); /* float: expf of a rounded argument */
        }
        vf_real y[41], l[41];
        CHECK_STATUS(run_op(&c, &s, s.x, y, l), VF_OK);
        double off = 0;
        for (int i = 0; i < 41; i++) {
            double x = (double)s.x[i], want = x, wl = 0;
            if (x >= -B && x <= B) {
                int64_t k = (int64_t)floor((x + B) / (2 * B / K));
                if (k >= K) k = K - 1;
                double w = 2 * B / K, xi = (x - kx[k]) / w, e = xi * (1 - xi);
                double d0 = kd[k], d1 = kd[k + 1], den = 1 + (d0 + d1 - 2) * e;
                want = ky[k] + w * xi * (xi + d0 * (1 - xi)) / den;
                wl = log((d1 * xi * xi + 2 * e + d0 * (1 - xi) * (1 - xi)) / (den * den));
            }
            CHECK_MSG(fabs((double)y[i] - want) <= REF_TOL * B, "identity_at_zero %d x %g: y %.17g, want %.17g", ident, x,
                      (double)y[i], want);
            CHECK_MSG(fabs((double)l[i] - wl) <= 10 * REF_TOL, "identity_at_zero %d x %g: ladj %.17g, want %.17g", ident,
                      x, (double)l[i], wl);
            if (ident) CHECK_MSG(fabs((double)y[i] - x) <= REF_TOL * B && fabs((double)l[i]) <= 10 * REF_TOL,
                                 "identity: x %g -> %.17g (ladj %.3g)", x, (double)y[i], (double)l[i]);
            off = fmax(off, fabs((double)y[i] - x));
        }
        /* the nflows default is not the identity: it bends by about 0.05 inside the interior bins */
        if (!ident) CHECK_MSG(off > 0.01, "default zero parameters: largest |y - x| %.3g", off);
        data_free(&s);
    }
}

/* ---- safety ----------------------------------------------------------------------------------- */
static int all_finite(const vf_real *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite((double)v[i])) return 0;
    return 1;
}

/* Forward, backward through both outputs and forward mode on every input; 1 if everything is finite. */
static int everything_finite(const spl_case *c, const spl_data *s)
{
    int64_t m = c->n * c->d, K = c->K;
    int ok = 1;
    vf_tape *t = vf_tape_new();
    vf_var x = vf_input_grad(t, s->x, 2, (int64_t[]){c->n, c->d});
    vf_var uw = vf_input_grad(t, s->uw, 3, (int64_t[]){c->n, c->d, K});
    vf_var uh = vf_input_grad(t, s->uh, 3, (int64_t[]){c->n, c->d, K});
    vf_var ud = vf_input_grad(t, s->ud, 3, (int64_t[]){c->n, c->d, K - 1});
    vf_var l;
    vf_var y = vf_rq_spline(t, x, uw, uh, ud, c->bound, c->inverse, &c->opt, &l);
    vf_var loss = vf_add(t, vf_sum(t, y, VF_ALL_AXES, 0), vf_sum(t, l, VF_ALL_AXES, 0));
    if (vf_backward(t, loss) != VF_OK) {
        vf_tape_free(t);
        return 0;
    }
    ok &= all_finite(vf_value(t, y)->data, m) && all_finite(vf_value(t, l)->data, m);
    ok &= all_finite(vf_grad(t, x), m) && all_finite(vf_grad(t, uw), m * K) && all_finite(vf_grad(t, uh), m * K);
    ok &= all_finite(vf_grad(t, ud), m * (K - 1));
    vf_real *tan = malloc((size_t)(m * K) * sizeof(vf_real));
    gc_fill(tan, m * K, 5, 0, 1);
    vf_set_tangent(t, x, tan);
    vf_set_tangent(t, uw, tan);
    vf_set_tangent(t, uh, tan);
    vf_set_tangent(t, ud, tan);
    ok &= vf_jvp(t) == VF_OK;
    ok &= all_finite(vf_tangent(t, y), m) && all_finite(vf_tangent(t, l), m);
    free(tan);
    vf_tape_free(t);
    return ok;
}

static void test_extremes_finite(void)
{
    int64_t Ks[3] = {1, 8, 64};
    double values[6] = {1e6, -1e6, 30, -30, 0, 3};
    for (int ki = 0; ki < 3; ki++) {
        for (int pv = 0; pv < 8; pv++) {
            spl_case c = case_new(4, 8, Ks[ki], 2.0);
            spl_data s;
            data_alloc(&s, &c);
            int64_t m = c.n * c.d, K = c.K;
            /* parameters: all one extreme value, or extreme values mixed element by element */
            for (int64_t i = 0; i < m * K; i++) {
                s.uw[i] = (vf_real)(pv < 6 ? values[pv] : values[(i * 7 + pv) % 6]);
                s.uh[i] = (vf_real)(pv < 6 ? values[(pv + 1) % 6] : values[(i * 5 + pv) % 6]);
            }
            for (int64_t i = 0; i < m * (K - 1); i++) s.ud[i] = (vf_real)(pv < 6 ? values[(pv + 2) % 6] : values[(i * 3 + pv) % 6]);
            /* inputs: the tails (far and near), +-1e6, the bound, and across the inside */
            for (int64_t i = 0; i < m; i++) {
                static const double xs[8] = {-1e6, 1e6, -2.0, 2.0, -2.5, 7.0, 0.3, -1.1};
                s.x[i] = (vf_real)(i < 8 ? xs[i] : -2.2 + 4.4 * (double)i / (double)m);
            }
            for (int inverse = 0; inverse < 2; inverse++) {
                c.inverse = inverse;
                CHECK_MSG(everything_finite(&c, &s), "K %lld parameters %d inverse %d: a value or gradient is not finite",
                          (long long)K, pv, inverse);
            }
            /* inputs entirely outside [-B, B] */
            for (int64_t i = 0; i < m; i++) s.x[i] = (vf_real)(i % 2 ? 2.0 + 1e3 * (double)i : -2.0 - 1e-1 * (double)(i + 1));
            c.inverse = 0;
            CHECK(everything_finite(&c, &s));
            data_free(&s);
        }
    }
}

static void test_extreme_round_trip(void)
{
    /* saturated parameters still give an invertible spline (minimum widths, heights and slopes) */
    spl_case c = case_new(8, 8, 8, 3.0);
    spl_data s;
    data_alloc(&s, &c);
    params_random(&s, &c, 70, 1.0);
    int64_t m = 64;
    for (int64_t i = 0; i < m * 8; i++) {
        s.uw[i] = (vf_real)(s.uw[i] * 1e6);
        s.uh[i] = (vf_real)(s.uh[i] * 1e6);
    }
    for (int64_t i = 0; i < m * 7; i++) s.ud[i] = (vf_real)(s.ud[i] > 0 ? 1e6 : -1e6);
    for (int64_t i = 0; i < m; i++) s.x[i] = (vf_real)(-3.0 + 6.0 * ((double)i + 0.5) / (double)m);
    vf_real y[64], l[64], x2[64], l2[64];
    CHECK_STATUS(run_op(&c, &s, s.x, y, l), VF_OK);
    c.inverse = 1;
    CHECK_STATUS(run_op(&c, &s, y, x2, l2), VF_OK);
    CHECK(all_finite(y, m) && all_finite(l, m) && all_finite(x2, m) && all_finite(l2, m));
    /* slopes up to 1e6 amplify the input's rounding: compare in y (forward of the round trip) */
    int bad = 0;
    for (int64_t i = 0; i < m; i++) {
        double e = fabs((double)x2[i] - (double)s.x[i]);
        double allowed = 64 * VF_EPS * 3.0 / fmin(exp((double)l[i]), 1.0) + TRIP_TOL;
        bad += !(e <= allowed);
    }
    CHECK_MSG(bad == 0, "%d elements fail the round trip", bad);
    data_free(&s);
}

/* ---- errors ----------------------------------------------------------------------------------- */
typedef struct err_case {
    int64_t xs[3], ws[3], hs[3], ds[3];
    int xn, wn, hn, dn;
    double bound;
    int inverse;
    vf_rq_spline_options opt;
    vf_status want;
} err_case;

static void test_errors(void)
{
    static vf_real buf[4096];
    vf_rq_spline_options def = vf_rq_spline_default_options();
    vf_rq_spline_options o_w0 = def, o_wbig = def, o_h = def, o_d0 = def, o_dnan = def, o_id = def, o_flag = def;
    o_w0.min_bin_width = 0;
    o_wbig.min_bin_width = 0.25; /* 4 bins * 0.25 = 1 */
    o_h.min_bin_height = -1e-3;
    o_d0.min_derivative = 0;
    o_dnan.min_derivative = NAN;
    o_id.identity_at_zero = 1;
    o_id.min_derivative = 1.0;
    o_flag.identity_at_zero = 2;
    err_case cases[] = {
        {{2, 3}, {2, 3, 4}, {2, 3, 4}, {2, 3, 3}, 2, 3, 3, 3, 1.0, 0, def, VF_OK},
        {{2, 3}, {2, 12}, {2, 12}, {2, 9}, 2, 2, 2, 2, 1.0, 1, def, VF_OK},
        {{2, 3}, {2, 13}, {2, 13}, {2, 9}, 2, 2, 2, 2, 1.0, 0, def, VF_ERR_SHAPE},    /* 13 not a multiple of 3 */
        {{2, 3}, {3, 3, 4}, {3, 3, 4}, {3, 3, 3}, 2, 3, 3, 3, 1.0, 0, def, VF_ERR_SHAPE},
        {{2, 3}, {2, 3, 4}, {2, 3, 5}, {2, 3, 3}, 2, 3, 3, 3, 1.0, 0, def, VF_ERR_SHAPE}, /* uh != uw */
        {{2, 3}, {2, 3, 4}, {2, 3, 4}, {2, 3, 4}, 2, 3, 3, 3, 1.0, 0, def, VF_ERR_SHAPE}, /* ud has K, not K-1 */
        {{2, 3}, {2, 3, 0}, {2, 3, 0}, {2, 3, 0}, 2, 3, 3, 3, 1.0, 0, def, VF_ERR_SHAPE}, /* no bins */
        {{6}, {6, 2}, {6, 2}, {6, 1}, 1, 2, 2, 2, 1.0, 0, def, VF_OK},
        {{2, 3}, {2, 3, 4}, {2, 3, 4}, {2, 3, 3}, 2, 3, 3, 3, 0.0, 0, def, VF_ERR_ARG},
        {{2, 3}, {2, 3, 4}, {2, 3, 4}, {2, 3, 3}, 2, 3, 3, 3, -1.0, 0, def, VF_ERR_ARG},
        {{2, 3}, {2, 3, 4}, {2, 3, 4}, {2, 3, 3}, 2, 3, 3, 3, NAN, 0, def, VF_ERR_ARG},
        {{2, 3}, {2, 3, 4}, {2, 3, 4}, {2, 3, 3}, 2, 3, 3, 3, INFINITY, 0, def, VF_ERR_ARG},
        {{2, 3}, {2, 3, 4}, {2, 3, 4}, {2, 3, 3}, 2, 3, 3, 3, 1.0, 2, def, VF_ERR_ARG},
        {{2, 3}, {2, 3, 4}, {2, 3, 4}, {2, 3, 3}, 2, 3, 3, 3, 1.0, 0, o_w0, VF_ERR_ARG},
        {{2, 3}, {2, 3, 4}, {2, 3, 4}, {2, 3, 3}, 2, 3, 3, 3, 1.0, 0, o_wbig, VF_ERR_ARG},
        {{2, 3}, {2, 3, 4}, {2, 3, 4}, {2, 3, 3}, 2, 3, 3, 3, 1.0, 0, o_h, VF_ERR_ARG},
        {{2, 3}, {2, 3, 4}, {2, 3, 4}, {2, 3, 3}, 2, 3, 3, 3, 1.0, 0, o_d0, VF_ERR_ARG},
        {{2, 3}, {2, 3, 4}, {2, 3, 4}, {2, 3, 3}, 2, 3, 3, 3, 1.0, 0, o_dnan, VF_ERR_ARG},
        {{2, 3}, {2, 3, 4}, {2, 3, 4}, {2, 3, 3}, 2, 3, 3, 3, 1.0, 0, o_id, VF_ERR_ARG},
        {{2, 3}, {2, 3, 4}, {2, 3, 4}, {2, 3, 3}, 2, 3, 3, 3, 1.0, 0, o_flag, VF_ERR_ARG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err_case *e = &cases[i];
        vf_tape *t = vf_tape_new();
        vf_var x = vf_input(t, buf, e->xn, e->xs), uw = vf_input(t, buf, e->wn, e->ws);
        vf_var uh = vf_input(t, buf, e->hn, e->hs), ud = vf_input(t, buf, e->dn, e->ds);
        vf_var l = 7;
        vf_var y = vf_rq_spline(t, x, uw, uh, ud, e->bound, e->inverse, &e->opt, &l);
        CHECK_MSG(vf_tape_status(t) == e->want, "case %zu: status %d, want %d (%s)", i, (int)vf_tape_status(t),
                  (int)e->want, vf_tape_error(t));
        if (e->want != VF_OK) {
            CHECK(y == VF_NOVAR && l == VF_NOVAR);
            CHECK(strstr(vf_tape_error(t), "rq_spline") != NULL);
        } else {
            CHECK(y != VF_NOVAR && l != VF_NOVAR);
        }
        vf_tape_free(t);
    }
    /* a scalar x; a failed input; the knots helper */
    vf_tape *t = vf_tape_new();
    vf_var xs = vf_scalar(t, 0.5);
    CHECK(vf_rq_spline(t, xs, xs, xs, xs, 1.0, 0, NULL, NULL) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_SHAPE);
    vf_tape_reset(t);
    vf_var v = vf_input(t, buf, 1, (int64_t[]){4});
    CHECK(vf_rq_spline(t, VF_NOVAR, v, v, v, 1.0, 0, NULL, NULL) == VF_NOVAR);
    CHECK(vf_tape_status(t) != VF_OK);
    vf_tape_free(t);
    double k3[3];
    CHECK_STATUS(vf_rq_spline_knots(buf, buf, buf, 2, 0.0, NULL, k3, k3, k3), VF_ERR_ARG);
    CHECK_STATUS(vf_rq_spline_knots(buf, buf, buf, 0, 1.0, NULL, k3, k3, k3), VF_ERR_ARG);
    CHECK_STATUS(vf_rq_spline_knots(buf, NULL, buf, 2, 1.0, NULL, k3, k3, k3), VF_ERR_ARG);
    CHECK_STATUS(vf_rq_spline_knots(buf, buf, NULL, 1, 1.0, NULL, k3, k3, k3), VF_OK);
}

int main(void)
{
    RUN(test_matches_reference);
    RUN(test_blocks_match_reference);
    RUN(test_layouts_agree);
    RUN(test_packed_matches);
    RUN(test_inference_mode);
    RUN(test_gradcheck);
    RUN(test_gradcheck_variants);
    RUN(test_tail_gradients);
    RUN(test_round_trip);
    RUN(test_ladj_is_log_derivative);
    RUN(test_monotone);
    RUN(test_knots_exact);
    RUN(test_zero_parameters);
    RUN(test_extremes_finite);
    RUN(test_extreme_round_trip);
    RUN(test_errors);
    return vf_test_summary();
}
