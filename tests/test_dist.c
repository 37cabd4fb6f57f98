/* test_dist.c — the learnable base distributions (vf_dist.h): diagonal normal, Student-t, uniform box,
 * Gaussian mixture. Values against closed forms evaluated here independently, normalization on grids,
 * sample moments against their Monte Carlo standard errors, gradients against central differences,
 * conditional variants, errors, describe() and allocation failures. */
#include <float.h>
#include <stdint.h>
#include "alloc_fail.h"
#include "gradcheck.h"
#include "vf_test.h"
#include "varflow/vf_dist.h"

#define TEST_PI 3.14159265358979323846

#if VF_USE_DOUBLE
#define VAL_TOL 1e-10
#else
#define VAL_TOL 2e-4
#endif

/* ---- helpers ------------------------------------------------------------------------------- */

static void set_param(vf_params *p, const char *name, const double *v, int64_t n)
{
    int32_t id = vf_params_find(p, name);
    vf_real *x = vf_params_data(p, id);
    if (!x) {
        fprintf(stderr, "no parameter %s\n", name);
        return;
    }
    for (int64_t i = 0; i < n; i++) x[i] = (vf_real)v[i];
}

/* log p of z [n, d] (context [n, c] or NULL) into out [n]; returns the tape status. */
static vf_status eval_lp(const vf_dist *b, vf_params *p, const vf_real *z, int64_t n, const vf_real *ctx, double *out)
{
    vf_tape *t = vf_tape_new();
    if (!t) return VF_ERR_NOMEM;
    vf_var zv = vf_input(t, z, 2, (int64_t[]){n, vf_dist_dim(b)});
    vf_var cv = ctx ? vf_input(t, ctx, 2, (int64_t[]){n, vf_dist_context_dim(b)}) : VF_NOVAR;
    vf_var lp = vf_dist_log_prob(b, p, t, zv, cv);
    vf_status s = vf_tape_status(t);
    if (s == VF_OK)
        for (int64_t i = 0; i < n; i++) out[i] = (double)vf_value(t, lp)->data[i];
    vf_tape_free(t);
    return s;
}

/* n draws [n, d] into out (double), generator (seed, 0); context [n, c] or NULL. */
static vf_status draw(const vf_dist *b, vf_params *p, int64_t n, const vf_real *ctx, uint64_t seed, double *out)
{
    vf_tape *t = vf_tape_new();
    if (!t) return VF_ERR_NOMEM;
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    vf_var cv = ctx ? vf_input(t, ctx, 2, (int64_t[]){n, vf_dist_context_dim(b)}) : VF_NOVAR;
    vf_var x = vf_dist_sample(b, p, t, n, cv, &r);
    vf_status s = vf_tape_status(t);
    if (s == VF_OK)
        for (int64_t i = 0; i < n * vf_dist_dim(b); i++) out[i] = (double)vf_value(t, x)->data[i];
    vf_tape_free(t);
    return s;
}

static double normal_logpdf(double x, double mu, double s)
{
    double y = (x - mu) / s;
    return -0.5 * y * y - log(s) - 0.5 * log(2.0 * TEST_PI);
}

static double softplus(double x) { return x > 30 ? x : log1p(exp(x)); }

/* ---- values against closed forms ----------------------------------------------------------- */

static void test_diag_normal_values(void)
{
    vf_params *p = vf_params_new();
    vf_dist_diag_normal_params kp = vf_dist_diag_normal_default_params(2);
    vf_dist *b = NULL;
    CHECK_STATUS(vf_dist_diag_normal_new(p, "base", &kp, &b), VF_OK);
    CHECK(vf_params_find(p, "base.loc") >= 0 && vf_params_find(p, "base.log_scale") >= 0);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    vf_real z[6] = {0.3f, -1.2f, 2.0f, 0.5f, -0.7f, 0.0f};
    double lp[3];
    /* initialization: N(0, I) */
    CHECK_STATUS(eval_lp(b, p, z, 3, NULL, lp), VF_OK);
    for (int i = 0; i < 3; i++)
        CHECK_NEAR(lp[i], normal_logpdf(z[2 * i], 0, 1) + normal_logpdf(z[2 * i + 1], 0, 1), VAL_TOL);
    double loc[2] = {0.5, -1.0}, ls[2] = {0.2, -0.4};
    set_param(p, "base.loc", loc, 2);
    set_param(p, "base.log_scale", ls, 2);
    CHECK_STATUS(eval_lp(b, p, z, 3, NULL, lp), VF_OK);
    for (int i = 0; i < 3; i++) {
        double want = normal_logpdf(z[2 * i], loc[0], exp(ls[0])) + normal_logpdf(z[2 * i + 1], loc[1], exp(ls[1]));
        CHECK_NEAR(lp[i], want, VAL_TOL);
    }
    CHECK(strcmp(vf_dist_kind(b), "diag_normal") == 0);
    vf_dist_free(b);
    vf_params_free(p);
}

/* Student-t density written with tgamma (not lgamma, as the library), and the Cauchy case nu = 1. */
static double student_pdf(double x, double loc, double s, double nu)
{
    double y = (x - loc) / s;
    return tgamma((nu + 1) / 2) / (tgamma(nu / 2) * sqrt(nu * TEST_PI) * s) * pow(1 + y * y / nu, -(nu + 1) / 2);
}

static void test_student_t_values(void)
{
    vf_params *p = vf_params_new();
    vf_dist_student_t_params kp = vf_dist_student_t_default_params(2);
    vf_dist *b = NULL;
    CHECK_STATUS(vf_dist_student_t_new(p, "st", &kp, &b), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    vf_real z[6] = {0.3f, -1.2f, 2.0f, 0.5f, -7.0f, 0.0f};
    double lp[3];
    /* initialization: nu = df_init = 5, loc 0, scale 1 */
    CHECK_STATUS(eval_lp(b, p, z, 3, NULL, lp), VF_OK);
    for (int i = 0; i < 3; i++)
        CHECK_NEAR(lp[i], log(student_pdf(z[2 * i], 0, 1, 5.0) * student_pdf(z[2 * i + 1], 0, 1, 5.0)), VAL_TOL * 10);
    double loc[2] = {0.5, -1.0}, ls[2] = {0.2, -0.4}, raw[2] = {0.7, 2.5};
    set_param(p, "st.loc", loc, 2);
    set_param(p, "st.log_scale", ls, 2);
    set_param(p, "st.raw_df", raw, 2);
    CHECK_STATUS(eval_lp(b, p, z, 3, NULL, lp), VF_OK);
    for (int i = 0; i < 3; i++) {
        double nu0 = softplus(raw[0]) + kp.df_min, nu1 = softplus(raw[1]) + kp.df_min;
        double want = log(student_pdf(z[2 * i], loc[0], exp(ls[0]), nu0) * student_pdf(z[2 * i + 1], loc[1], exp(ls[1]), nu1));
        CHECK_NEAR(lp[i], want, VAL_TOL * 10);
    }
    /* nu = 1 exactly: Cauchy 1 / (pi s (1 + y^2)) */
    double r1 = log(expm1(1.0 - kp.df_min)), rr[2] = {r1, r1}, zero[2] = {0, 0};
    set_param(p, "st.raw_df", rr, 2);
    set_param(p, "st.loc", zero, 2);
    set_param(p, "st.log_scale", zero, 2);
    CHECK_STATUS(eval_lp(b, p, z, 3, NULL, lp), VF_OK);
    for (int i = 0; i < 3; i++) {
        double a = z[2 * i], c = z[2 * i + 1];
        CHECK_NEAR(lp[i], -log(TEST_PI * (1 + a * a)) - log(TEST_PI * (1 + c * c)), VAL_TOL * 10);
    }
    vf_dist_free(b);
    vf_params_free(p);
}

static void test_mixture_values(void)
{
    vf_params *p = vf_params_new();
    vf_dist_mixture_params kp = vf_dist_mixture_default_params(2, 3);
    vf_dist *b = NULL;
    CHECK_STATUS(vf_dist_mixture_new(p, "mix", &kp, &b), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    double logits[3] = {0.2, -1.0, 0.7}, mu[6] = {-1, 0.5, 2, -2, 0.1, 0.3}, ls[6] = {0.1, -0.3, 0.4, 0.0, -0.5, 0.2};
    set_param(p, "mix.logits", logits, 3);
    set_param(p, "mix.means", mu, 6);
    set_param(p, "mix.log_scales", ls, 6);
    vf_real z[8] = {0.3f, -1.2f, 2.0f, 0.5f, -7.0f, 0.0f, 1.0f, -2.0f};
    double lp[4];
    CHECK_STATUS(eval_lp(b, p, z, 4, NULL, lp), VF_OK);
    double wsum = exp(logits[0]) + exp(logits[1]) + exp(logits[2]);
    for (int i = 0; i < 4; i++) {
        double dens = 0; /* the sum written out term by term */
        for (int k = 0; k < 3; k++) {
            double s0 = exp(ls[2 * k]), s1 = exp(ls[2 * k + 1]);
            double y0 = (z[2 * i] - mu[2 * k]) / s0, y1 = (z[2 * i + 1] - mu[2 * k + 1]) / s1;
            dens += exp(logits[k]) / wsum * exp(-0.5 * y0 * y0) / (sqrt(2 * TEST_PI) * s0) * exp(-0.5 * y1 * y1) /
                    (sqrt(2 * TEST_PI) * s1);
        }
        CHECK_NEAR(lp[i], log(dens), VAL_TOL * 10);
    }
    vf_dist_free(b);
    vf_params_free(p);
}

static void test_uniform_values_and_grads(void)
{
    vf_dist *b = NULL;
    CHECK_STATUS(vf_dist_uniform_new(2, 0, -1.0, 3.0, &b), VF_OK);
    vf_real z[10] = {0.0f, 1.0f, -1.0f, 3.0f, 3.5f, 0.0f, -2.0f, -2.0f, 0.0f, (vf_real)INFINITY};
    vf_tape *t = vf_tape_new();
    vf_var zv = vf_input_grad(t, z, 2, (int64_t[]){5, 2});
    vf_var lp = vf_dist_log_prob(b, NULL, t, zv, VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_OK);
    const vf_real *v = vf_value(t, lp)->data;
    CHECK_NEAR(v[0], -2 * log(4.0), VAL_TOL);
    CHECK_NEAR(v[1], -2 * log(4.0), VAL_TOL); /* on the boundary: inside the closed box */
    for (int i = 2; i < 5; i++) CHECK(isinf(v[i]) && v[i] < 0);
    CHECK_STATUS(vf_backward_seed(t, lp, (vf_real[]){1, 1, 1, 1, 1}), VF_OK);
    const vf_real *g = vf_grad(t, zv);
    CHECK(g != NULL);
    for (int i = 0; g && i < 10; i++) CHECK(g[i] == 0);
    /* a NaN input is outside too (never NaN out) */
    vf_tape_reset(t);
    vf_real zn[2] = {(vf_real)NAN, 0};
    lp = vf_dist_log_prob(b, NULL, t, vf_input(t, zn, 2, (int64_t[]){1, 2}), VF_NOVAR);
    CHECK(lp != VF_NOVAR && isinf(vf_value(t, lp)->data[0]));
    vf_tape_free(t);
    vf_dist_free(b);
}

/* ---- normalization on grids ---------------------------------------------------------------- */

/* Trapezoid/midpoint sum of exp(log p) over [lo, hi]^d with m points per axis (d = 1 or 2), the
 * context row ctx [c] repeated (or NULL). Accumulated in double. */
static double grid_integral(const vf_dist *b, vf_params *p, double lo, double hi, int64_t m, const vf_real *ctx)
{
    int64_t d = vf_dist_dim(b), c = vf_dist_context_dim(b), n = d == 1 ? m : m * m;
    double h = (hi - lo) / (double)m;
    vf_real *z = malloc((size_t)(n * d) * sizeof *z);
    vf_real *cc = c ? malloc((size_t)(n * c) * sizeof *cc) : NULL;
    double *lp = malloc((size_t)n * sizeof *lp);
    for (int64_t i = 0; i < n; i++) {
        if (d == 1) z[i] = (vf_real)(lo + ((double)i + 0.5) * h);
        else {
            z[2 * i] = (vf_real)(lo + ((double)(i / m) + 0.5) * h);
            z[2 * i + 1] = (vf_real)(lo + ((double)(i % m) + 0.5) * h);
        }
        for (int64_t j = 0; j < c; j++) cc[i * c + j] = ctx[j];
    }
    double sum = NAN;
    if (eval_lp(b, p, z, n, cc, lp) == VF_OK) {
        sum = 0;
        for (int64_t i = 0; i < n; i++) sum += exp(lp[i]);
        sum *= d == 1 ? h : h * h;
    }
    free(z);
    free(cc);
    free(lp);
    return sum;
}

/* Midpoint rule on smooth, fast-decaying densities. For a density analytic in a strip |Im z| < a the
 * rule's error over the whole line decays like exp(-2 pi a / h) (a Gaussian of scale s: like
 * exp(-2 pi^2 s^2 / h^2); the t(nu) has poles at +-i sqrt(nu) s), which for the steps below is under
 * 1e-15, far below the float rounding of the summed values (relative ~1e-6); what remains is the
 * mass outside the box, computed in each comment. */
static void test_normalization(void)
{
    const double tol = VF_USE_DOUBLE ? 1e-7 : 1e-4;
    vf_params *p = vf_params_new();
    vf_dist *dn1, *dn2, *st1, *st2, *mx1, *mx2, *un2, *cmx;
    vf_dist_diag_normal_params a1 = vf_dist_diag_normal_default_params(1), a2 = vf_dist_diag_normal_default_params(2);
    vf_dist_student_t_params s1 = vf_dist_student_t_default_params(1), s2 = vf_dist_student_t_default_params(2);
    vf_dist_mixture_params m1 = vf_dist_mixture_default_params(1, 3), m2 = vf_dist_mixture_default_params(2, 3);
    vf_dist_mixture_params cm = vf_dist_mixture_default_params(2, 2);
    cm.context = 2;
    cm.net.n_hidden = 1;
    cm.net.hidden[0] = 5;
    s2.df_init = 6.0;
    CHECK_STATUS(vf_dist_diag_normal_new(p, "dn1", &a1, &dn1), VF_OK);
    CHECK_STATUS(vf_dist_diag_normal_new(p, "dn2", &a2, &dn2), VF_OK);
    CHECK_STATUS(vf_dist_student_t_new(p, "st1", &s1, &st1), VF_OK);
    CHECK_STATUS(vf_dist_student_t_new(p, "st2", &s2, &st2), VF_OK);
    CHECK_STATUS(vf_dist_mixture_new(p, "mx1", &m1, &mx1), VF_OK);
    CHECK_STATUS(vf_dist_mixture_new(p, "mx2", &m2, &mx2), VF_OK);
    CHECK_STATUS(vf_dist_mixture_new(p, "cmx", &cm, &cmx), VF_OK);
    CHECK_STATUS(vf_dist_uniform_new(2, 0, -0.5, 1.5, &un2), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 3), VF_OK);
    set_param(p, "dn1.loc", (double[]){0.4}, 1);
    set_param(p, "dn1.log_scale", (double[]){-0.3}, 1);
    set_param(p, "dn2.loc", (double[]){0.4, -0.2}, 2);
    set_param(p, "dn2.log_scale", (double[]){0.2, -0.3}, 2);
    set_param(p, "mx1.logits", (double[]){0.5, -0.5, 0.0}, 3);
    set_param(p, "mx1.means", (double[]){-2, 0.5, 2.5}, 3);
    set_param(p, "mx1.log_scales", (double[]){-0.5, 0.3, 0.0}, 3);
    set_param(p, "mx2.logits", (double[]){0.5, -0.5, 0.0}, 3);
    set_param(p, "mx2.means", (double[]){-2, 0.5, 2.5, -1, 0, 1}, 6);
    set_param(p, "mx2.log_scales", (double[]){-0.5, 0.3, 0.0, 0.2, -0.2, 0.1}, 6);
    /* a non-trivial conditional mixture: random net weights */
    int32_t first = vf_params_find(p, "cmx.net.layers.0.weight");
    vf_param_info info;
    vf_params_info(p, first, &info);
    vf_rng r;
    vf_rng_init(&r, 5, 0);
    vf_rng_normal_fill(&r, vf_params_values(p) + info.offset, (size_t)(vf_params_size(p) - info.offset), 0.0, 0.3);
    /* N(0.4, 0.74^2) on [-12, 12]: tails beyond 15 sd, < 1e-40 */
    CHECK_NEAR(grid_integral(dn1, p, -12, 12, 4000, NULL), 1.0, tol);
    CHECK_NEAR(grid_integral(dn2, p, -10, 10, 200, NULL), 1.0, tol);
    /* t(5) on [-400, 400]: P(|T| > 400) ~ 2 * 0.38 * 5^2.5 * 400^-5 / 5 < 1e-11 */
    CHECK_NEAR(grid_integral(st1, p, -400, 400, 4000, NULL), 1.0, tol);
    /* t(6) x t(6) on [-60, 60]^2: per axis P(|T| > 60) ~ 2 * 0.38 * 6^3.5 * 60^-6 / 6 < 2e-9 */
    CHECK_NEAR(grid_integral(st2, p, -60, 60, 300, NULL), 1.0, tol);
    CHECK_NEAR(grid_integral(mx1, p, -12, 12, 4000, NULL), 1.0, tol);
    CHECK_NEAR(grid_integral(mx2, p, -12, 12, 240, NULL), 1.0, tol);
    /* the conditional mixture at two contexts (its scales are exp of outputs ~ N(0, 1), so the
     * wider box) */
    vf_real c1[2] = {0.5f, -1.0f}, c2[2] = {-1.5f, 2.0f};
    CHECK_NEAR(grid_integral(cmx, p, -20, 20, 250, c1), 1.0, tol);
    CHECK_NEAR(grid_integral(cmx, p, -20, 20, 250, c2), 1.0, tol);
    /* uniform: cells of width 0.01 align with the box edges (midpoints never on the boundary) */
    CHECK_NEAR(grid_integral(un2, p, -1, 2, 300, NULL), 1.0, tol);
    vf_dist_free(dn1);
    vf_dist_free(dn2);
    vf_dist_free(st1);
    vf_dist_free(st2);
    vf_dist_free(mx1);
    vf_dist_free(mx2);
    vf_dist_free(cmx);
    vf_dist_free(un2);
    vf_params_free(p);
}

/* ---- sample moments ------------------------------------------------------------------------ */

/* Sample mean and variance (column j of x [n, d]) against mean, var, and the 4th central moment mu4
 * that gives the standard error of the sample variance, sqrt((mu4 - var^2) / n); 5 standard errors. */
static void check_moments(const char *what, const double *x, int64_t n, int64_t d, int64_t j, double mean, double var,
                          double mu4)
{
    double m = 0, v = 0;
    for (int64_t i = 0; i < n; i++) m += x[i * d + j];
    m /= (double)n;
    for (int64_t i = 0; i < n; i++) v += (x[i * d + j] - m) * (x[i * d + j] - m);
    v /= (double)(n - 1);
    double se_m = sqrt(var / (double)n), se_v = sqrt((mu4 - var * var) / (double)n);
    CHECK_MSG(fabs(m - mean) <= 5 * se_m, "%s col %lld: mean %g, expected %g (se %g)", what, (long long)j, m, mean, se_m);
    CHECK_MSG(fabs(v - var) <= 5 * se_v, "%s col %lld: variance %g, expected %g (se %g)", what, (long long)j, v, var, se_v);
}

static void test_gamma_draws(void)
{
    enum { N = 20000 };
    double *x = malloc(N * sizeof *x);
    double shapes[3] = {0.3, 1.0, 4.5};
    vf_rng r;
    vf_rng_init(&r, 7, 0);
    for (int s = 0; s < 3; s++) {
        double a = shapes[s];
        int positive = 1;
        for (int i = 0; i < N; i++) {
            x[i] = vf_gamma_draw(&r, a);
            if (!(x[i] > 0)) positive = 0;
        }
        CHECK(positive);
        /* Gamma(a, 1): mean a, variance a, 4th central moment 3a^2 + 6a */
        check_moments("gamma", x, N, 1, 0, a, a, 3 * a * a + 6 * a);
    }
    CHECK(isnan(vf_gamma_draw(&r, 0.0)) && isnan(vf_gamma_draw(&r, -1.0)) && isnan(vf_gamma_draw(&r, NAN)));
    free(x);
}

static void test_sample_moments(void)
{
    enum { N = 20000 };
    double *x = malloc(2 * N * sizeof *x);
    vf_params *p = vf_params_new();
    vf_dist *dn, *st, *mx, *un;
    vf_dist_diag_normal_params a = vf_dist_diag_normal_default_params(2);
    vf_dist_student_t_params s = vf_dist_student_t_default_params(2);
    vf_dist_mixture_params m = vf_dist_mixture_default_params(1, 2);
    CHECK_STATUS(vf_dist_diag_normal_new(p, "dn", &a, &dn), VF_OK);
    CHECK_STATUS(vf_dist_student_t_new(p, "st", &s, &st), VF_OK);
    CHECK_STATUS(vf_dist_mixture_new(p, "mx", &m, &mx), VF_OK);
    CHECK_STATUS(vf_dist_uniform_new(2, 0, -1.0, 3.0, &un), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 3), VF_OK);
    double loc[2] = {0.5, -1.0}, ls[2] = {0.2, -0.4};
    set_param(p, "dn.loc", loc, 2);
    set_param(p, "dn.log_scale", ls, 2);
    CHECK_STATUS(draw(dn, p, N, NULL, 11, x), VF_OK);
    for (int j = 0; j < 2; j++) {
        double v = exp(2 * ls[j]);
        check_moments("diag_normal", x, N, 2, j, loc[j], v, 3 * v * v);
    }
    /* Student-t with nu = 10 and 12 (> 4: finite 4th moment 3 nu^2 / ((nu-2)(nu-4)) s^4) */
    double nus[2] = {10.0, 12.0}, raw[2];
    for (int j = 0; j < 2; j++) raw[j] = log(expm1(nus[j] - s.df_min));
    set_param(p, "st.loc", loc, 2);
    set_param(p, "st.log_scale", ls, 2);
    set_param(p, "st.raw_df", raw, 2);
    CHECK_STATUS(draw(st, p, N, NULL, 12, x), VF_OK);
    for (int j = 0; j < 2; j++) {
        double nu = nus[j], s2 = exp(2 * ls[j]);
        check_moments("student_t", x, N, 2, j, loc[j], s2 * nu / (nu - 2), 3 * nu * nu / ((nu - 2) * (nu - 4)) * s2 * s2);
    }
    /* mixture of two 1-D normals: moments from the components */
    double lg[2] = {0.3, -0.4}, mu[2] = {-1.5, 2.0}, sl[2] = {-0.2, 0.3};
    set_param(p, "mx.logits", lg, 2);
    set_param(p, "mx.means", mu, 2);
    set_param(p, "mx.log_scales", sl, 2);
    CHECK_STATUS(draw(mx, p, N, NULL, 13, x), VF_OK);
    double w[2] = {exp(lg[0]) / (exp(lg[0]) + exp(lg[1])), 0}, mean = 0, var = 0, mu4 = 0;
    w[1] = 1 - w[0];
    for (int k = 0; k < 2; k++) mean += w[k] * mu[k];
    for (int k = 0; k < 2; k++) var += w[k] * (exp(2 * sl[k]) + (mu[k] - mean) * (mu[k] - mean));
    for (int k = 0; k < 2; k++) {
        double dl = mu[k] - mean, v = exp(2 * sl[k]);
        mu4 += w[k] * (dl * dl * dl * dl + 6 * dl * dl * v + 3 * v * v);
    }
    check_moments("mixture", x, N, 1, 0, mean, var, mu4);
    /* uniform on [-1, 3]: mean 1, variance 16/12, 4th central moment 4^4/80 */
    CHECK_STATUS(draw(un, p, N, NULL, 14, x), VF_OK);
    int inside = 1;
    for (int i = 0; i < 2 * N; i++)
        if (!(x[i] >= -1 && x[i] <= 3)) inside = 0;
    CHECK(inside);
    for (int j = 0; j < 2; j++) check_moments("uniform", x, N, 2, j, 1.0, 16.0 / 12, 256.0 / 80);
    vf_dist_free(dn);
    vf_dist_free(st);
    vf_dist_free(mx);
    vf_dist_free(un);
    vf_params_free(p);
    free(x);
}

/* ---- gradients ----------------------------------------------------------------------------- */

typedef struct dist_ctx {
    const vf_dist *b;
    vf_params *p;
    int has_ctx;
    int sample;       /* 1: the output is a sample (generator reseeded each build), 0: log_prob */
    int64_t n;
} dist_ctx;

static vf_var build_dist(vf_tape *t, const vf_var *in, void *vctx)
{
    dist_ctx *c = vctx;
    vf_var ctx = c->has_ctx ? in[1] : VF_NOVAR;
    if (c->sample) {
        vf_rng r;
        vf_rng_init(&r, 2024, 0);
        return vf_dist_sample(c->b, c->p, t, c->n, ctx, &r);
    }
    return vf_dist_log_prob(c->b, c->p, t, in[0], ctx);
}

/* Reverse-mode parameter gradients of <u, f> against central differences over the flat buffer,
 * entries [lo, hi) only (same steps and tolerances as gradcheck.h). */
static int param_gradcheck(const char *name, dist_ctx *dc, gc_input *in, int n_in, int64_t lo, int64_t hi)
{
    vf_tape *t = vf_tape_new();
    vf_var vars[2];
    vf_var y = gc_build(t, build_dist, dc, n_in, in, vars);
    if (y == VF_NOVAR) {
        fprintf(stderr, "%s: %s\n", name, vf_tape_error(t));
        vf_tape_free(t);
        return 0;
    }
    int64_t ny = vf_tensor_numel(vf_value(t, y)), np = vf_params_size(dc->p);
    double *u = malloc((size_t)ny * sizeof *u);
    vf_real *ur = malloc((size_t)ny * sizeof *ur);
    vf_rng r;
    vf_rng_init(&r, 77, 0);
    for (int64_t j = 0; j < ny; j++) {
        ur[j] = (vf_real)vf_rng_normal(&r);
        u[j] = (double)ur[j];
    }
    vf_params_zero_grad(dc->p);
    int ok = vf_backward_seed(t, y, ur) == VF_OK;
    vf_real *grad = malloc((size_t)np * sizeof *grad), *val = vf_params_values(dc->p);
    memcpy(grad, vf_params_grads(dc->p), (size_t)np * sizeof *grad);
    for (int64_t j = lo; ok && j < hi; j++) {
        vf_real keep = val[j];
        double h = GC_STEP * fmax(1.0, fabs((double)keep));
        val[j] = (vf_real)((double)keep + h);
        double hp = (double)val[j] - (double)keep;
        double fp = gc_objective(t, build_dist, dc, n_in, in, u);
        val[j] = (vf_real)((double)keep - h);
        double hm = (double)keep - (double)val[j];
        double fm = gc_objective(t, build_dist, dc, n_in, in, u);
        val[j] = keep;
        double fd = (fp - fm) / (hp + hm), ad = (double)grad[j];
        double err = fabs(fd - ad) / fmax(fmax(fabs(fd), fabs(ad)), GC_FD_FLOOR);
        if (!(err <= GC_FD_TOL)) {
            fprintf(stderr, "%s: parameter %lld: reverse %.10g, finite difference %.10g\n", name, (long long)j, ad, fd);
            ok = 0;
        }
    }
    free(u);
    free(ur);
    free(grad);
    vf_tape_free(t);
    return ok;
}

/* Flat range of the tensors registered under "<prefix>..." (contiguous by construction). */
static void param_range(vf_params *p, const char *prefix, int64_t *lo, int64_t *hi)
{
    *lo = -1;
    *hi = -1;
    for (int32_t i = 0; i < vf_params_count(p); i++) {
        vf_param_info info;
        vf_params_info(p, i, &info);
        if (strncmp(info.name, prefix, strlen(prefix)) != 0) continue;
        if (*lo < 0) *lo = info.offset;
        *hi = info.offset + info.numel;
    }
}

/* log_prob gradients w.r.t. z, context and every parameter of b (parameters randomized first). */
static void check_lp_grads(const char *name, const vf_dist *b, vf_params *p, const char *prefix)
{
    enum { N = 3 };
    int64_t d = vf_dist_dim(b), c = vf_dist_context_dim(b), lo, hi;
    vf_real z[N * 4], ctx[N * 4];
    gc_fill(z, N * d, 1, 0.0, 1.5);
    gc_fill(ctx, N * (c ? c : 1), 2, 0.0, 1.0);
    gc_input in[2] = {{z, 2, {N, d}, 1}, {ctx, 2, {N, c}, 1}};
    dist_ctx dc = {b, p, c > 0, 0, N};
    param_range(p, prefix, &lo, &hi);
    CHECK(lo >= 0);
    CHECK_MSG(gradcheck(name, build_dist, &dc, c ? 2 : 1, in), "%s: z/context gradients", name);
    CHECK_MSG(param_gradcheck(name, &dc, in, c ? 2 : 1, lo, hi), "%s: parameter gradients", name);
}

static void randomize(vf_params *p, const char *prefix, double sd, uint64_t seed)
{
    int64_t lo, hi;
    param_range(p, prefix, &lo, &hi);
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    vf_rng_normal_fill(&r, vf_params_values(p) + lo, (size_t)(hi - lo), 0.0, sd);
}

static void test_log_prob_gradients(void)
{
    vf_params *p = vf_params_new();
    vf_dist *dn, *st, *mx, *cdn, *cst, *cmx;
    vf_dist_diag_normal_params a = vf_dist_diag_normal_default_params(2);
    vf_dist_student_t_params s = vf_dist_student_t_default_params(2);
    vf_dist_mixture_params m = vf_dist_mixture_default_params(2, 3);
    CHECK_STATUS(vf_dist_diag_normal_new(p, "dn", &a, &dn), VF_OK);
    CHECK_STATUS(vf_dist_student_t_new(p, "st", &s, &st), VF_OK);
    CHECK_STATUS(vf_dist_mixture_new(p, "mx", &m, &mx), VF_OK);
    a.context = s.context = m.context = 2;
    a.net.n_hidden = s.net.n_hidden = m.net.n_hidden = 1;
    a.net.hidden[0] = s.net.hidden[0] = m.net.hidden[0] = 4;
    a.net.act = s.net.act = m.net.act = VF_ACT_TANH;
    CHECK_STATUS(vf_dist_diag_normal_new(p, "cdn", &a, &cdn), VF_OK);
    CHECK_STATUS(vf_dist_student_t_new(p, "cst", &s, &cst), VF_OK);
    CHECK_STATUS(vf_dist_mixture_new(p, "cmx", &m, &cmx), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 3), VF_OK);
    randomize(p, "dn.", 0.5, 1);
    randomize(p, "st.", 0.5, 2);
    randomize(p, "mx.", 0.7, 3);
    randomize(p, "cdn.", 0.5, 4);
    randomize(p, "cst.", 0.5, 5);
    randomize(p, "cmx.", 0.5, 6);
    check_lp_grads("diag_normal", dn, p, "dn.");
    check_lp_grads("student_t", st, p, "st.");
    check_lp_grads("mixture", mx, p, "mx.");
    check_lp_grads("cond diag_normal", cdn, p, "cdn.");
    check_lp_grads("cond student_t", cst, p, "cst.");
    check_lp_grads("cond mixture", cmx, p, "cmx.");
    vf_dist_free(dn);
    vf_dist_free(st);
    vf_dist_free(mx);
    vf_dist_free(cdn);
    vf_dist_free(cst);
    vf_dist_free(cmx);
    vf_params_free(p);
}

/* Reparameterized samples: gradients w.r.t. loc/scale parameters (and the context) against central
 * differences with the same generator seed. The mixture's logits are excluded: the sample is piecewise
 * constant in them and gets no gradient. Student-t nu gets the implicit reparameterization gradient of
 * its Gamma draw, which a difference at fixed random numbers does not reproduce (test_gamma_grad
 * checks it in expectation); here only that it arrives. */
static void test_sample_gradients(void)
{
    enum { N = 4 };
    vf_params *p = vf_params_new();
    vf_dist *dn, *st, *mx, *cdn;
    vf_dist_diag_normal_params a = vf_dist_diag_normal_default_params(2);
    vf_dist_student_t_params s = vf_dist_student_t_default_params(2);
    vf_dist_mixture_params m = vf_dist_mixture_default_params(2, 3);
    CHECK_STATUS(vf_dist_diag_normal_new(p, "dn", &a, &dn), VF_OK);
    CHECK_STATUS(vf_dist_student_t_new(p, "st", &s, &st), VF_OK);
    CHECK_STATUS(vf_dist_mixture_new(p, "mx", &m, &mx), VF_OK);
    a.context = 3;
    a.net.n_hidden = 1;
    a.net.hidden[0] = 4;
    a.net.act = VF_ACT_TANH;
    CHECK_STATUS(vf_dist_diag_normal_new(p, "cdn", &a, &cdn), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 3), VF_OK);
    randomize(p, "dn.", 0.5, 1);
    randomize(p, "st.loc", 0.5, 2);
    randomize(p, "mx.means", 0.7, 3);
    randomize(p, "cdn.", 0.5, 4);
    vf_real dummy[N * 2] = {0}, ctx[N * 3];
    gc_fill(ctx, N * 3, 2, 0.0, 1.0);
    gc_input in[2] = {{dummy, 2, {N, 2}, 0}, {ctx, 2, {N, 3}, 1}};
    int64_t lo, hi;
    dist_ctx dc = {dn, p, 0, 1, N};
    param_range(p, "dn.", &lo, &hi);
    CHECK(param_gradcheck("diag_normal sample", &dc, in, 1, lo, hi));
    dc.b = st;
    param_range(p, "st.loc", &lo, &hi);
    CHECK(param_gradcheck("student_t sample loc", &dc, in, 1, lo, hi));
    param_range(p, "st.log_scale", &lo, &hi);
    CHECK(param_gradcheck("student_t sample scale", &dc, in, 1, lo, hi));
    dc.b = mx;
    param_range(p, "mx.means", &lo, &hi);
    CHECK(param_gradcheck("mixture sample means", &dc, in, 1, lo, hi));
    param_range(p, "mx.log_scales", &lo, &hi);
    CHECK(param_gradcheck("mixture sample scales", &dc, in, 1, lo, hi));
    dc.b = cdn;
    dc.has_ctx = 1;
    param_range(p, "cdn.", &lo, &hi);
    CHECK(gradcheck("cond diag_normal sample", build_dist, &dc, 2, in));
    CHECK(param_gradcheck("cond diag_normal sample", &dc, in, 2, lo, hi));
    /* the documented detach: no gradient reaches the logits through a sample; raw_df gets one */
    vf_tape *t = vf_tape_new();
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    vf_params_zero_grad(p);
    vf_var x = vf_sum(t, vf_dist_sample(st, p, t, N, VF_NOVAR, &r), VF_ALL_AXES, 0);
    vf_var y = vf_sum(t, vf_dist_sample(mx, p, t, N, VF_NOVAR, &r), VF_ALL_AXES, 0);
    CHECK_STATUS(vf_backward(t, vf_add(t, x, y)), VF_OK);
    const vf_real *g1 = vf_params_grad(p, vf_params_find(p, "st.raw_df"));
    const vf_real *g2 = vf_params_grad(p, vf_params_find(p, "mx.logits"));
    const vf_real *g3 = vf_params_grad(p, vf_params_find(p, "st.loc"));
    CHECK(g1[0] != 0 && g1[1] != 0 && isfinite((double)g1[0]) && isfinite((double)g1[1]));
    CHECK(g2[0] == 0 && g2[1] == 0 && g2[2] == 0);
    CHECK(g3[0] == (vf_real)N && g3[1] == (vf_real)N); /* d sum(x) / d loc_j = n */
    vf_tape_free(t);
    vf_dist_free(dn);
    vf_dist_free(st);
    vf_dist_free(mx);
    vf_dist_free(cdn);
    vf_params_free(p);
}

/* ---- conditional variants ------------------------------------------------------------------ */

static void test_conditional(void)
{
    enum { N = 3 };
    vf_params *p = vf_params_new();
    vf_dist *u[3], *c[3];
    vf_dist_diag_normal_params a = vf_dist_diag_normal_default_params(2);
    vf_dist_student_t_params s = vf_dist_student_t_default_params(2);
    vf_dist_mixture_params m = vf_dist_mixture_default_params(2, 2);
    m.init_scale = 0.0; /* unconditional means at 0, as the conditional offsets: equal at init */
    CHECK_STATUS(vf_dist_diag_normal_new(p, "u0", &a, &u[0]), VF_OK);
    CHECK_STATUS(vf_dist_student_t_new(p, "u1", &s, &u[1]), VF_OK);
    CHECK_STATUS(vf_dist_mixture_new(p, "u2", &m, &u[2]), VF_OK);
    a.context = s.context = m.context = 2;
    CHECK_STATUS(vf_dist_diag_normal_new(p, "c0", &a, &c[0]), VF_OK);
    CHECK_STATUS(vf_dist_student_t_new(p, "c1", &s, &c[1]), VF_OK);
    CHECK_STATUS(vf_dist_mixture_new(p, "c2", &m, &c[2]), VF_OK);
    CHECK(vf_params_find(p, "c0.net.layers.0.weight") >= 0 && vf_params_find(p, "c0.loc") < 0);
    CHECK(vf_params_find(p, "c2.net.layers.2.bias") >= 0);
    CHECK_STATUS(vf_params_finalize(p, 9), VF_OK);
    vf_real z[N * 2] = {0.3f, -1.0f, 2.0f, 0.1f, -0.4f, 0.8f};
    vf_real ca[N * 2] = {0.5f, -1.0f, 1.0f, 0.2f, -0.3f, 0.7f}, cb[N * 2] = {-1.5f, 2.0f, 0.0f, -1.0f, 1.2f, 0.4f};
    double lu[N], la[N], lb[N], sa[N * 2], sb[N * 2];
    for (int k = 0; k < 3; k++) {
        /* zero-initialized output: the conditional form starts at the unconditional default */
        CHECK_STATUS(eval_lp(u[k], p, z, N, NULL, lu), VF_OK);
        CHECK_STATUS(eval_lp(c[k], p, z, N, ca, la), VF_OK);
        for (int i = 0; i < N; i++) CHECK_NEAR(la[i], lu[i], VAL_TOL * 10);
    }
    randomize(p, "c0.", 0.5, 1);
    randomize(p, "c1.", 0.5, 2);
    randomize(p, "c2.", 0.5, 3);
    for (int k = 0; k < 3; k++) {
        CHECK_STATUS(eval_lp(c[k], p, z, N, ca, la), VF_OK);
        CHECK_STATUS(eval_lp(c[k], p, z, N, cb, lb), VF_OK);
        int differ = 1;
        for (int i = 0; i < N; i++)
            if (!(fabs(la[i] - lb[i]) > 1e-3)) differ = 0;
        CHECK_MSG(differ, "%s: log_prob does not depend on the context", vf_dist_kind(c[k]));
        CHECK_STATUS(draw(c[k], p, N, ca, 5, sa), VF_OK);
        CHECK_STATUS(draw(c[k], p, N, cb, 5, sb), VF_OK);
        int sdiff = 0;
        for (int i = 0; i < N * 2; i++)
            if (fabs(sa[i] - sb[i]) > 1e-3) sdiff++;
        CHECK_MSG(sdiff >= N, "%s: samples do not depend on the context", vf_dist_kind(c[k]));
    }
    /* wrong context shapes are refused by the wrapper */
    vf_tape *t = vf_tape_new();
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    CHECK(vf_dist_sample(c[0], p, t, N, VF_NOVAR, &r) == VF_NOVAR && vf_tape_status(t) != VF_OK);
    vf_tape_reset(t);
    CHECK(vf_dist_sample(c[0], p, t, N + 1, vf_input(t, ca, 2, (int64_t[]){N, 2}), &r) == VF_NOVAR);
    vf_tape_free(t);
    for (int k = 0; k < 3; k++) {
        vf_dist_free(u[k]);
        vf_dist_free(c[k]);
    }
    vf_params_free(p);
}

/* ---- errors and describe ------------------------------------------------------------------- */

static void test_errors(void)
{
    vf_params *p = vf_params_new();
    vf_dist *b = (vf_dist *)&b;
    vf_dist_diag_normal_params a = vf_dist_diag_normal_default_params(0);
    CHECK_STATUS(vf_dist_diag_normal_new(p, "x", &a, &b), VF_ERR_ARG);
    CHECK(b == NULL);
    a.dim = 2;
    a.context = -1;
    CHECK_STATUS(vf_dist_diag_normal_new(p, "x", &a, &b), VF_ERR_ARG);
    a.context = 2;
    a.net.n_hidden = VF_NN_MAX_HIDDEN + 1;
    CHECK_STATUS(vf_dist_diag_normal_new(p, "x", &a, &b), VF_ERR_ARG);
    a.net.n_hidden = 1;
    a.net.hidden[0] = 0;
    CHECK_STATUS(vf_dist_diag_normal_new(p, "x", &a, &b), VF_ERR_ARG);
    a.net.hidden[0] = 3;
    a.net.act = VF_ACT_COUNT;
    CHECK_STATUS(vf_dist_diag_normal_new(p, "x", &a, &b), VF_ERR_ARG);
    CHECK_STATUS(vf_dist_diag_normal_new(NULL, "x", &a, &b), VF_ERR_ARG);
    CHECK_STATUS(vf_dist_diag_normal_new(p, "x", NULL, &b), VF_ERR_ARG);

    vf_dist_student_t_params s = vf_dist_student_t_default_params(2);
    s.df_min = 0;
    CHECK_STATUS(vf_dist_student_t_new(p, "x", &s, &b), VF_ERR_ARG);
    s.df_min = 3;
    s.df_init = 2;
    CHECK_STATUS(vf_dist_student_t_new(p, "x", &s, &b), VF_ERR_ARG);
    s = vf_dist_student_t_default_params(-1);
    CHECK_STATUS(vf_dist_student_t_new(p, "x", &s, &b), VF_ERR_ARG);

    vf_dist_mixture_params m = vf_dist_mixture_default_params(2, 0);
    CHECK_STATUS(vf_dist_mixture_new(p, "x", &m, &b), VF_ERR_ARG);
    m.components = 2;
    m.init_scale = -1;
    CHECK_STATUS(vf_dist_mixture_new(p, "x", &m, &b), VF_ERR_ARG);
    m.init_scale = NAN;
    CHECK_STATUS(vf_dist_mixture_new(p, "x", &m, &b), VF_ERR_ARG);

    CHECK_STATUS(vf_dist_uniform_new(2, 0, 1.0, 1.0, &b), VF_ERR_ARG);
    CHECK_STATUS(vf_dist_uniform_new(2, 0, 2.0, 1.0, &b), VF_ERR_ARG);
    CHECK_STATUS(vf_dist_uniform_new(2, 0, -INFINITY, 1.0, &b), VF_ERR_ARG);
    CHECK_STATUS(vf_dist_uniform_new(0, 0, 0.0, 1.0, &b), VF_ERR_ARG);
    CHECK_STATUS(vf_dist_uniform_new(1, -1, 0.0, 1.0, &b), VF_ERR_ARG);
    CHECK(b == NULL);
    CHECK(vf_params_count(p) == 0); /* nothing registered by the failures */

    /* a duplicate name: the constructor fails and leaves the store as it was */
    vf_dist *ok = NULL;
    m = vf_dist_mixture_default_params(2, 2);
    CHECK_STATUS(vf_dist_mixture_new(p, "dup", &m, &ok), VF_OK);
    vf_params_add(p, "dup2.means", 1, (int64_t[]){1}, vf_init_zeros(), NULL);
    int32_t count = vf_params_count(p);
    CHECK_STATUS(vf_dist_mixture_new(p, "dup2", &m, &b), VF_ERR_ARG);
    CHECK(b == NULL && vf_params_count(p) == count);
    CHECK_STATUS(vf_dist_mixture_new(p, "dup", &m, &b), VF_ERR_ARG);
    CHECK(vf_params_count(p) == count);

    /* dimension mismatch at log_prob: the wrapper's shape error */
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    vf_tape *t = vf_tape_new();
    vf_real z[3] = {0, 1, 2};
    CHECK(vf_dist_log_prob(ok, p, t, vf_input(t, z, 2, (int64_t[]){1, 3}), VF_NOVAR) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_SHAPE);
    vf_tape_free(t);
    /* after finalize no distribution can register */
    CHECK_STATUS(vf_dist_mixture_new(p, "late", &m, &b), VF_ERR_STATE);
    vf_dist_free(ok);
    vf_params_free(p);
}

static void test_describe(void)
{
    vf_params *p = vf_params_new();
    vf_dist *b[4];
    vf_dist_diag_normal_params a = vf_dist_diag_normal_default_params(2);
    vf_dist_student_t_params s = vf_dist_student_t_default_params(3);
    vf_dist_mixture_params m = vf_dist_mixture_default_params(2, 4);
    a.context = 1;
    a.net.n_hidden = 2;
    a.net.hidden[0] = 8;
    a.net.hidden[1] = 5;
    a.net.act = VF_ACT_SILU;
    s.df_init = 7.5;
    m.seed = 123;
    CHECK_STATUS(vf_dist_diag_normal_new(p, "a", &a, &b[0]), VF_OK);
    CHECK_STATUS(vf_dist_student_t_new(p, "s", &s, &b[1]), VF_OK);
    CHECK_STATUS(vf_dist_mixture_new(p, "m", &m, &b[2]), VF_OK);
    CHECK_STATUS(vf_dist_uniform_new(2, 0, -0.5, 2.25, &b[3]), VF_OK);
    const char *want[4] = {
        "{\"kind\":\"diag_normal\",\"name\":\"a\",\"dim\":2,\"context\":1,\"net\":{\"n_hidden\":2,\"hidden\":[8,5],"
        "\"act\":\"silu\"}}",
        "{\"kind\":\"student_t\",\"name\":\"s\",\"dim\":3,\"context\":0,\"df_min\":0.01,\"df_init\":7.5,"
        "\"net\":{\"n_hidden\":2,\"hidden\":[64,64],\"act\":\"relu\"}}",
        "{\"kind\":\"gaussian_mixture\",\"name\":\"m\",\"dim\":2,\"context\":0,\"components\":4,\"init_scale\":1,"
        "\"seed\":123,\"net\":{\"n_hidden\":2,\"hidden\":[64,64],\"act\":\"relu\"}}",
        "{\"kind\":\"uniform\",\"dim\":2,\"context\":0,\"lo\":-0.5,\"hi\":2.25}"};
    char json[512];
    for (int k = 0; k < 4; k++) {
        CHECK_STATUS(vf_dist_describe(b[k], json, sizeof json), VF_OK);
        CHECK_MSG(strcmp(json, want[k]) == 0, "got %s", json);
        CHECK_STATUS(vf_dist_describe(b[k], json, 10), VF_ERR_ARG);
        vf_dist_free(b[k]);
    }
    vf_params_free(p);
}

/* ---- allocation failures ------------------------------------------------------------------- */

static vf_status scenario(void *vctx)
{
    int cond = *(int *)vctx;
    vf_params *p = vf_params_new();
    if (!p) return VF_ERR_NOMEM;
    vf_dist *b[4] = {0};
    vf_dist_diag_normal_params a = vf_dist_diag_normal_default_params(2);
    vf_dist_student_t_params s = vf_dist_student_t_default_params(2);
    vf_dist_mixture_params m = vf_dist_mixture_default_params(2, 2);
    a.context = s.context = m.context = cond ? 2 : 0;
    a.net.n_hidden = s.net.n_hidden = m.net.n_hidden = 1;
    a.net.hidden[0] = s.net.hidden[0] = m.net.hidden[0] = 3;
    vf_status st = vf_dist_diag_normal_new(p, "a", &a, &b[0]);
    if (st == VF_OK) st = vf_dist_student_t_new(p, "s", &s, &b[1]);
    if (st == VF_OK) st = vf_dist_mixture_new(p, "m", &m, &b[2]);
    if (st == VF_OK) st = vf_dist_uniform_new(2, a.context, 0.0, 1.0, &b[3]);
    if (st == VF_OK) st = vf_params_finalize(p, 1);
    vf_tape *t = st == VF_OK ? vf_tape_new() : NULL;
    if (st == VF_OK && !t) st = VF_ERR_NOMEM;
    if (st == VF_OK) {
        vf_real z[4] = {0.1f, 0.2f, 0.3f, 0.4f}, c[4] = {1, 2, 3, 4};
        vf_rng r;
        vf_rng_init(&r, 1, 0);
        for (int k = 0; k < 4; k++) {
            vf_var cv = cond ? vf_input(t, c, 2, (int64_t[]){2, 2}) : VF_NOVAR;
            vf_var lp = vf_dist_log_prob(b[k], p, t, vf_input(t, z, 2, (int64_t[]){2, 2}), cv);
            vf_var x = vf_dist_sample(b[k], p, t, 2, cv, &r);
            if (lp != VF_NOVAR && x != VF_NOVAR) vf_backward(t, vf_sum(t, lp, VF_ALL_AXES, 0));
        }
        st = vf_tape_status(t);
    }
    vf_tape_free(t);
    for (int k = 0; k < 4; k++) vf_dist_free(b[k]);
    vf_params_free(p);
    return st;
}

static void test_alloc_failures(void)
{
    int cond = 0;
    CHECK(af_sweep("dists", scenario, &cond, 0) == 0);
    cond = 1;
    CHECK(af_sweep("conditional dists", scenario, &cond, 0) == 0);
    CHECK(af_sweep("conditional dists (sticky)", scenario, &cond, 1) == 0);
}

int main(void)
{
    RUN(test_diag_normal_values);
    RUN(test_student_t_values);
    RUN(test_mixture_values);
    RUN(test_uniform_values_and_grads);
    RUN(test_normalization);
    RUN(test_gamma_draws);
    RUN(test_sample_moments);
    RUN(test_log_prob_gradients);
    RUN(test_sample_gradients);
    RUN(test_conditional);
    RUN(test_errors);
    RUN(test_describe);
    RUN(test_alloc_failures);
    return vf_test_summary();
}
