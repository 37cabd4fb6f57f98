/* test_vi.c — variational inference (vf_vi.h): the reverse-KL gradient of a Gaussian flow on a
 * Gaussian target against its closed form (both estimators, within Monte Carlo error), the path
 * gradient vanishing at q = p while the reparameterization one does not, the reparameterization
 * gradient of a coupling flow against central differences of the same Monte Carlo loss (common
 * random numbers), importance-sampling log Z within its standard error and that standard error
 * calibrated over repetitions, forward against reverse ESS, weighted expectations, the GPD fit and
 * PSIS k-hat on synthetic Pareto weights of known shape, errors, and allocation failures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "alloc_fail.h"
#include "vf_test.h"

/* q = N(mu, diag sigma^2) as a flow: base N(0, I), one elementwise affine z = x e^ls + shift, so
 * sigma = e^-ls and mu = -shift sigma. */
typedef struct gflow {
    vf_params *p;
    vf_flow *f;
    vf_real *shift, *ls, *gshift, *gls;
} gflow;

static vf_status gflow_new(int64_t d, gflow *g)
{
    memset(g, 0, sizeof *g);
    g->p = vf_params_new();
    if (!g->p) return VF_ERR_NOMEM;
    vf_dist *base = NULL;
    vf_transform *tr = NULL;
    vf_status s = vf_dist_normal_new(d, 0, &base);
    vf_elementwise_affine_params ap = vf_elementwise_affine_default_params(d);
    if (s == VF_OK) s = vf_elementwise_affine_new(g->p, "transforms.0", &ap, &tr);
    if (s != VF_OK) {
        vf_dist_free(base);
        return s;
    }
    s = vf_flow_new(base, 1, &tr, &g->f);
    if (s == VF_OK) s = vf_params_finalize(g->p, 1);
    if (s != VF_OK) return s;
    int32_t a = vf_params_find(g->p, "transforms.0.shift"), b = vf_params_find(g->p, "transforms.0.log_scale");
    g->shift = vf_params_data(g->p, a);
    g->ls = vf_params_data(g->p, b);
    g->gshift = vf_params_grad(g->p, a);
    g->gls = vf_params_grad(g->p, b);
    return VF_OK;
}

static void gflow_free(gflow *g)
{
    vf_flow_free(g->f);
    vf_params_free(g->p);
}

/* KL(q || N(m, s^2 I)) gradient in (shift, ls) per coordinate. */
static void kl_grad(double shift, double ls, double m, double s, double *gshift, double *gls, double *kl)
{
    double sig = exp(-ls), mu = -shift * sig, s2 = s * s;
    *gshift = -sig * (mu - m) / s2;
    *gls = -mu * (mu - m) / s2 + 1 - sig * sig / s2;
    *kl = log(s / sig) + (sig * sig + (mu - m) * (mu - m)) / (2 * s2) - 0.5;
}

static void test_gaussian_gradient(void)
{
    enum { D = 3, R = 20, N = 2000 };
    gflow g;
    CHECK_STATUS(gflow_new(D, &g), VF_OK);
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=3,rho=0,mu=0.5", &t), VF_OK); /* N(0.5, I), log Z = 0 */
    const double shift[D] = {0.3, -0.2, 0.1}, ls[D] = {0.2, -0.1, 0.4};
    for (int k = 0; k < D; k++) g.shift[k] = (vf_real)shift[k], g.ls[k] = (vf_real)ls[k];
    vf_vi *v = NULL;
    CHECK_STATUS(vf_vi_new(g.f, g.p, &t, &v), VF_OK);
    for (int obj = 0; obj < 2; obj++) {
        double sum[2 * D] = {0}, sq[2 * D] = {0}, lsum = 0, lsq = 0;
        vf_rng r;
        vf_rng_init(&r, 100 + (uint64_t)obj, 0);
        for (int rep = 0; rep < R; rep++) {
            vf_params_zero_grad(g.p);
            double loss;
            CHECK_STATUS(vf_vi_grad(v, (vf_vi_objective)obj, N, &r, &loss), VF_OK);
            for (int k = 0; k < D; k++) {
                sum[k] += g.gshift[k], sq[k] += g.gshift[k] * g.gshift[k];
                sum[D + k] += g.gls[k], sq[D + k] += g.gls[k] * g.gls[k];
            }
            lsum += loss, lsq += loss * loss;
        }
        double kl_total = 0;
        for (int k = 0; k < D; k++) {
            double gs, gl, kl;
            kl_grad(shift[k], ls[k], 0.5, 1, &gs, &gl, &kl);
            kl_total += kl;
            double want[2] = {gs, gl};
            for (int j = 0; j < 2; j++) {
                int i = j * D + k;
                double mean = sum[i] / R, sd = sqrt((sq[i] - R * mean * mean) / (R - 1));
                CHECK_MSG(fabs(mean - want[j]) < 4 * sd / sqrt(R) + 1e-6, "%s: d/d%s[%d] %.5f, closed form %.5f (se %.2g)",
                          obj ? "path" : "rkl", j ? "ls" : "shift", k, mean, want[j], sd / sqrt(R));
            }
        }
        double lm = lsum / R, lsd = sqrt((lsq - R * lm * lm) / (R - 1));
        CHECK_MSG(fabs(lm - kl_total) < 4 * lsd / sqrt(R) + 1e-6, "loss %.5f, KL %.5f", lm, kl_total);
    }
    /* at q = p (shift = -0.5, ls = 0): the path gradient is zero up to rounding, the rkl one is not */
    for (int k = 0; k < D; k++) g.shift[k] = -0.5f, g.ls[k] = 0;
    vf_rng r;
    vf_rng_init(&r, 7, 0);
    double worst[2] = {0, 0};
    for (int obj = 0; obj < 2; obj++) {
        vf_params_zero_grad(g.p);
        CHECK_STATUS(vf_vi_grad(v, (vf_vi_objective)obj, 64, &r, NULL), VF_OK);
        for (int k = 0; k < D; k++) worst[obj] = fmax(worst[obj], fmax(fabs(g.gshift[k]), fabs(g.gls[k])));
    }
    CHECK_MSG(worst[VF_VI_PATH] < 1e-5, "path gradient at q = p: %.3g", worst[VF_VI_PATH]);
    CHECK_MSG(worst[VF_VI_RKL] > 1e-2, "rkl gradient at q = p: %.3g", worst[VF_VI_RKL]); /* sd ~ 1/8 */
    vf_vi_free(v);
    vf_target_free(&t);
    gflow_free(&g);
}

/* Total variance (sum over parameters) of one estimator's gradient from batches of n draws. */
static double grad_variance(vf_vi *v, vf_params *p, vf_vi_objective obj, int64_t n, int reps, vf_rng *r)
{
    int64_t size = vf_params_size(p);
    double *sum = calloc((size_t)size, sizeof *sum), *sq = calloc((size_t)size, sizeof *sq), total = 0;
    for (int rep = 0; rep < reps; rep++) {
        vf_params_zero_grad(p);
        CHECK_STATUS(vf_vi_grad(v, obj, n, r, NULL), VF_OK);
        const vf_real *g = vf_params_grads(p);
        for (int64_t i = 0; i < size; i++) sum[i] += g[i], sq[i] += (double)g[i] * g[i];
    }
    for (int64_t i = 0; i < size; i++) total += (sq[i] - sum[i] * sum[i] / reps) / (reps - 1);
    free(sum);
    free(sq);
    return total;
}

/* Near convergence (q = N(0.45, e^{-0.1} I) against N(0.5, I)) the path gradient's variance is far
 * below the reparameterization gradient's (Roeder et al.'s point): measured over 50 batches of 256. */
static void test_path_variance(void)
{
    gflow g;
    CHECK_STATUS(gflow_new(3, &g), VF_OK);
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=3,rho=0,mu=0.5", &t), VF_OK);
    for (int k = 0; k < 3; k++) g.ls[k] = 0.05f, g.shift[k] = (vf_real)(-0.45 * exp(0.05));
    vf_vi *v = NULL;
    CHECK_STATUS(vf_vi_new(g.f, g.p, &t, &v), VF_OK);
    vf_rng r;
    vf_rng_init(&r, 77, 0);
    double vr = grad_variance(v, g.p, VF_VI_RKL, 256, 50, &r), vp = grad_variance(v, g.p, VF_VI_PATH, 256, 50, &r);
    printf("gradient variance near convergence, Gaussian: rkl %.3g, path %.3g (ratio %.1f)\n", vr, vp, vr / vp);
    /* with 49 degrees of freedom each variance is within a factor 1.6 of its truth at 4 sigma */
    CHECK_MSG(vp < vr / 10, "path %.3g vs rkl %.3g", vp, vr);
    vf_vi_free(v);
    vf_target_free(&t);
    gflow_free(&g);
}

/* Central differences of the loss at a fixed seed (the same z) against the rkl gradient. */
static void test_fd_coupling(void)
{
    vf_params *p = vf_params_new();
    vf_flow *f = NULL;
    CHECK_STATUS(vf_flow_from_spec("realnvp:transforms=2,hidden=8x1,act=tanh", 2, 0, p, &f), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 3), VF_OK);
    vf_rng r;
    vf_rng_init(&r, 5, 0);
    int64_t size = vf_params_size(p);
    vf_real *val = vf_params_values(p), *gr = vf_params_grads(p);
    for (int64_t i = 0; i < size; i++) val[i] += (vf_real)(0.3 * vf_rng_normal(&r)); /* off the identity */
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("banana:b=0.5,sigma=1.5", &t), VF_OK);
    vf_vi *v = NULL;
    CHECK_STATUS(vf_vi_new(f, p, &t, &v), VF_OK);
    vf_params_zero_grad(p);
    vf_rng_init(&r, 9, 0);
    CHECK_STATUS(vf_vi_grad(v, VF_VI_RKL, 32, &r, NULL), VF_OK);
    double *g0 = malloc((size_t)size * sizeof *g0);
    for (int64_t i = 0; i < size; i++) g0[i] = gr[i];
    int checked = 0;
    double h = VF_USE_DOUBLE ? 1e-5 : 3e-3, tol = VF_USE_DOUBLE ? 1e-6 : 2e-2;
    for (int64_t i = 0; i < size; i += 7) {
        vf_real keep = val[i];
        double up, down;
        val[i] = (vf_real)(keep + h);
        vf_rng_init(&r, 9, 0);
        CHECK_STATUS(vf_vi_grad(v, VF_VI_RKL, 32, &r, &up), VF_OK);
        val[i] = (vf_real)(keep - h);
        vf_rng_init(&r, 9, 0);
        CHECK_STATUS(vf_vi_grad(v, VF_VI_RKL, 32, &r, &down), VF_OK);
        val[i] = keep;
        double fd = (up - down) / (((double)(vf_real)(keep + h)) - (double)(vf_real)(keep - h));
        CHECK_MSG(fabs(fd - g0[i]) < tol * (1 + fabs(fd)), "param %lld: fd %.7g, gradient %.7g", (long long)i, fd, g0[i]);
        checked += fabs(g0[i]) > 1e-3;
    }
    CHECK(checked >= 5); /* the comparison is not between zeros */
    free(g0);
    vf_vi_free(v);
    vf_target_free(&t);
    vf_flow_free(f);
    vf_params_free(p);
}

/* q = N(0, 1.5^2 I) against the normalized gauss:rho=0.5: log Z = 0 within its standard error; the
 * standard error calibrated over repetitions; forward ESS (from exact draws of p) against reverse
 * ESS; weighted E[x1] = 0 and E[x1 x2] = 0.5 within their standard errors. */
static void test_importance_sampling(void)
{
    enum { N = 4000, R = 40 };
    gflow g;
    CHECK_STATUS(gflow_new(2, &g), VF_OK);
    for (int k = 0; k < 2; k++) g.shift[k] = 0, g.ls[k] = (vf_real)-log(1.5);
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=2,rho=0.5", &t), VF_OK);
    vf_vi *v = NULL;
    CHECK_STATUS(vf_vi_new(g.f, g.p, &t, &v), VF_OK);
    double *logw = malloc(sizeof(double) * N), *lq = malloc(sizeof(double) * N), *fx = malloc(sizeof(double) * 2 * N);
    vf_real *x = malloc(sizeof(vf_real) * 2 * N);
    vf_rng r;
    vf_rng_init(&r, 21, 0);
    double s1 = 0, s2 = 0, se = 0, ess = 0;
    int within = 0;
    for (int rep = 0; rep < R; rep++) {
        CHECK_STATUS(vf_vi_draw(v, N, &r, x, logw, NULL, NULL), VF_OK);
        vf_is_stats st;
        CHECK_STATUS(vf_is_summarize(N, logw, &st), VF_OK);
        within += fabs(st.log_z) < 3 * st.log_z_stderr;
        s1 += st.log_z, s2 += st.log_z * st.log_z, se += st.log_z_stderr, ess += st.ess_fraction;
        CHECK(st.n == N && st.ess > 1 && st.ess <= N && st.elbo < st.log_z && st.khat < 0.5);
        if (rep == 0) {
            for (int i = 0; i < N; i++) fx[2 * i] = x[2 * i], fx[2 * i + 1] = (double)x[2 * i] * x[2 * i + 1];
            double mean[2], err[2];
            CHECK_STATUS(vf_is_expect(N, 2, logw, fx, mean, err), VF_OK);
            CHECK_MSG(fabs(mean[0]) < 4 * err[0], "E[x1] %.4f +- %.4f", mean[0], err[0]);
            CHECK_MSG(fabs(mean[1] - 0.5) < 4 * err[1], "E[x1 x2] %.4f +- %.4f", mean[1], err[1]);
        }
    }
    double m = s1 / R, sd = sqrt((s2 - R * m * m) / (R - 1));
    CHECK_MSG(fabs(m) < 4 * sd / sqrt(R), "mean log Z %.5f over %d runs (sd %.4f)", m, R, sd);
    CHECK_MSG(within >= R * 0.9, "log Z within 3 standard errors in %d of %d runs", within, R);
    /* the sd of 40 estimates has relative sd ~ 1/sqrt(78) = 0.11 around the true one */
    CHECK_MSG(sd > 0.6 * se / R && sd < 1.5 * se / R, "sd of log Z %.5f, mean stderr %.5f", sd, se / R);
    /* forward ESS from exact draws of p estimates the same fraction Z^2 / E_q[w^2] */
    CHECK_STATUS(vf_target_sample(&t, N, &r, x), VF_OK);
    CHECK_STATUS(vf_vi_log_q(v, N, x, lq), VF_OK);
    for (int i = 0; i < N; i++) {
        double xi[2] = {x[2 * i], x[2 * i + 1]};
        logw[i] = t.log_prob(t.state, xi, NULL) - lq[i];
    }
    double fwd;
    CHECK_STATUS(vf_is_forward_ess(N, logw, &fwd), VF_OK);
    CHECK_MSG(fabs(fwd - ess / R) < 0.05, "forward ESS fraction %.4f, reverse %.4f", fwd, ess / R);
    free(logw);
    free(lq);
    free(fx);
    free(x);
    vf_vi_free(v);
    vf_target_free(&t);
    gflow_free(&g);
}

/* Pareto weights w = U^-k have a generalized Pareto tail of shape k above any threshold. */
static void test_khat(void)
{
    enum { N = 10000, R = 100 };
    double *logw = malloc(sizeof(double) * N), *sm = malloc(sizeof(double) * N);
    const double ks[3] = {0.2, 0.5, 0.9};
    vf_rng r;
    vf_rng_init(&r, 31, 0);
    int64_t m = (int64_t)(3 * sqrt((double)N)); /* 300 < N / 5 */
    for (int c = 0; c < 3; c++) {
        double sum = 0;
        for (int rep = 0; rep < R; rep++) {
            for (int i = 0; i < N; i++) logw[i] = -ks[c] * log(1 - vf_rng_uniform(&r)) + 3;
            double k;
            CHECK_STATUS(vf_psis(N, logw, sm, &k), VF_OK);
            sum += k;
            if (rep == 0) { /* smoothing keeps the largest weight's cap and changes only the tail */
                int changed = 0;
                double top = -INFINITY, stop = -INFINITY;
                for (int i = 0; i < N; i++) {
                    changed += sm[i] != logw[i];
                    top = fmax(top, logw[i]);
                    stop = fmax(stop, sm[i]);
                }
                CHECK(changed <= m && changed > m / 2 && stop <= top);
            }
        }
        /* the prior pulls toward 0.5 by 10 / (M + 10); the fit's sd is about (1 + k) / sqrt(M) */
        double want = (m * ks[c] + 5) / (m + 10.0), se = (1 + ks[c]) / sqrt((double)m * R);
        CHECK_MSG(fabs(sum / R - want) < 4 * se, "k = %.1f: mean k-hat %.4f, want %.4f (se %.4f)", ks[c], sum / R, want, se);
    }
    /* log-normal weights with a small sigma: a light tail */
    for (int i = 0; i < N; i++) logw[i] = 0.3 * vf_rng_normal(&r);
    vf_is_stats st;
    CHECK_STATUS(vf_is_summarize(N, logw, &st), VF_OK);
    CHECK_MSG(st.khat < 0.3, "light tail k-hat %.3f", st.khat);
    /* the GPD fit alone: shape and scale of GPD(k = 0.3, sigma = 2) draws within 4 asymptotic sd */
    enum { M = 3000 };
    double *x = malloc(sizeof(double) * M);
    for (int i = 0; i < M; i++) x[i] = 2 / 0.3 * (pow(1 - vf_rng_uniform(&r), -0.3) - 1);
    for (int i = 1; i < M; i++) /* sort ascending (insertion; small) */
        for (int j = i; j > 0 && x[j - 1] > x[j]; j--) {
            double tmp = x[j];
            x[j] = x[j - 1];
            x[j - 1] = tmp;
        }
    double k, sigma;
    CHECK_STATUS(vf_gpd_fit(M, x, &k, &sigma), VF_OK);
    CHECK_MSG(fabs(k - 0.3) < 4 * 1.3 / sqrt((double)M) + 0.002, "gpd k %.4f", k);
    CHECK_MSG(fabs(sigma - 2) < 4 * 2 * sqrt(2 * 1.3 / M), "gpd sigma %.4f", sigma);
    free(x);
    /* too few weights: no k-hat */
    CHECK_STATUS(vf_psis(10, logw, NULL, &k), VF_OK);
    CHECK(isnan(k));
    free(logw);
    free(sm);
}

static double nan_log_prob(void *state, const double *x, double *grad)
{
    (void)state;
    if (grad) grad[0] = grad[1] = 0;
    return x[0] > 0 ? NAN : -0.5 * (x[0] * x[0] + x[1] * x[1]);
}

static void test_errors(void)
{
    gflow g;
    CHECK_STATUS(gflow_new(2, &g), VF_OK);
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("funnel:d=3", &t), VF_OK);
    vf_vi *v = NULL;
    CHECK_STATUS(vf_vi_new(g.f, g.p, &t, &v), VF_ERR_SHAPE);
    CHECK(v == NULL && strstr(vf_last_error(), "dimension 2") && strstr(vf_last_error(), "funnel"));
    vf_target_free(&t);
    vf_target bad = {2, nan_log_prob, NULL, NULL, NULL, "bad", 0, 0, NULL, 0, NULL};
    CHECK_STATUS(vf_vi_new(g.f, g.p, &bad, &v), VF_OK);
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    CHECK_STATUS(vf_vi_grad(v, VF_VI_RKL, 16, &r, NULL), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "NaN") != NULL);
    CHECK_STATUS(vf_vi_draw(v, 16, &r, NULL, NULL, NULL, NULL), VF_ERR_NUMERIC);
    CHECK_STATUS(vf_vi_grad(v, (vf_vi_objective)7, 16, &r, NULL), VF_ERR_ARG);
    CHECK_STATUS(vf_vi_grad(v, VF_VI_RKL, 0, &r, NULL), VF_ERR_ARG);
    vf_vi_free(v);
    gflow_free(&g);
    CHECK(vf_vi_objective_from_name("path") == VF_VI_PATH && vf_vi_objective_from_name("rkl") == VF_VI_RKL);
    CHECK(vf_vi_objective_from_name("fkl") == VF_VI_FKL && vf_vi_objective_from_name("chi2") == VF_VI_CHI2);
    CHECK(vf_vi_objective_from_name("fab_typo") == -1);
    double lw[3] = {0, NAN, 1}, ninf[3] = {-INFINITY, -INFINITY, -INFINITY};
    vf_is_stats st;
    CHECK_STATUS(vf_is_summarize(3, lw, &st), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "1") != NULL);
    CHECK_STATUS(vf_is_summarize(3, ninf, &st), VF_ERR_NUMERIC);
    double some[3] = {-INFINITY, 0, 0};
    CHECK_STATUS(vf_is_summarize(3, some, &st), VF_OK);
    CHECK_NEAR(st.log_z, log(2.0 / 3.0), 1e-12);
    CHECK_NEAR(st.ess, 2.0, 1e-12);
    CHECK(st.elbo == -INFINITY && isnan(st.khat));
}

static vf_status alloc_scenario(void *ctx)
{
    (void)ctx;
    vf_params *p = vf_params_new();
    if (!p) return VF_ERR_NOMEM;
    vf_flow *f = NULL;
    vf_target t;
    vf_vi *v = NULL;
    double logw[40];
    vf_status s = vf_flow_from_spec("realnvp:transforms=2,hidden=4x1", 2, 0, p, &f);
    if (s == VF_OK) s = vf_params_finalize(p, 1);
    if (s == VF_OK) s = vf_target_from_spec("banana", &t);
    else memset(&t, 0, sizeof t);
    if (s == VF_OK) s = vf_vi_new(f, p, &t, &v);
    vf_rng r;
    vf_rng_init(&r, 2, 0);
    if (s == VF_OK) s = vf_vi_grad(v, VF_VI_PATH, 8, &r, NULL);
    if (s == VF_OK) s = vf_vi_grad(v, VF_VI_RKL, 8, &r, NULL);
    if (s == VF_OK) s = vf_vi_grad(v, VF_VI_FKL, 8, &r, NULL);
    if (s == VF_OK) s = vf_vi_grad(v, VF_VI_CHI2, 16, &r, NULL);
    if (s == VF_OK) s = vf_vi_draw(v, 40, &r, NULL, logw, NULL, NULL);
    vf_is_stats st;
    if (s == VF_OK) s = vf_is_summarize(40, logw, &st);
    if (s == VF_OK) s = vf_psis(40, logw, logw, &st.khat);
    vf_vi_free(v);
    vf_target_free(&t);
    vf_flow_free(f);
    vf_params_free(p);
    return s;
}

static void test_alloc_failures(void) { CHECK(af_sweep_n("vi", alloc_scenario, NULL, 0, 0) == 0); }

int main(void)
{
    RUN(test_gaussian_gradient);
    RUN(test_path_variance);
    RUN(test_fd_coupling);
    RUN(test_importance_sampling);
    RUN(test_khat);
    RUN(test_errors);
    RUN(test_alloc_failures);
    return vf_test_summary();
}
