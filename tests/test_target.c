/* test_target.c — targets (vf_target.h): spec parsing and its errors, gradients against central
 * differences, normalization on a grid, the exact samplers (8gaussians draws the toy data set's
 * points; gauss has the asked correlation within Monte Carlo error), scores of many rows, a plugin
 * loaded with dlopen, and out-of-memory paths. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "alloc_fail.h"
#include "target_check.h"
#include "vf_test.h"

#define VF_TEST_PI 3.14159265358979323846

static void test_spec_errors(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("nosuch", &t), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "gauss") && strstr(vf_last_error(), "8gaussians") &&
          strstr(vf_last_error(), "banana") && strstr(vf_last_error(), "plugin"));
    CHECK(t.log_prob == NULL && t.state == NULL);
    CHECK_STATUS(vf_target_from_spec("gauss:foo=1", &t), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "foo") && strstr(vf_last_error(), "rho"));
    CHECK_STATUS(vf_target_from_spec("gauss:d=2.5", &t), VF_ERR_ARG);
    CHECK_STATUS(vf_target_from_spec("gauss:d=3,rho=-0.5", &t), VF_ERR_ARG); /* needs rho > -1/2 */
    CHECK_STATUS(vf_target_from_spec("gauss:rho=1", &t), VF_ERR_ARG);
    CHECK_STATUS(vf_target_from_spec("gauss:rho=abc", &t), VF_ERR_ARG);
    CHECK_STATUS(vf_target_from_spec("gauss:rho", &t), VF_ERR_ARG);
    CHECK_STATUS(vf_target_from_spec("8gaussians:noise=0", &t), VF_ERR_ARG);
    CHECK_STATUS(vf_target_from_spec("banana:sigma=-1", &t), VF_ERR_ARG);
    CHECK_STATUS(vf_target_from_spec("plugin:", &t), VF_ERR_ARG);
    CHECK_STATUS(vf_target_from_spec(NULL, &t), VF_ERR_ARG);
    CHECK_STATUS(vf_target_from_spec("gauss:d=5,rho=0.9,mu=1", &t), VF_OK);
    CHECK(t.dim == 5 && strcmp(t.name, "gauss") == 0 && t.sample != NULL);
    vf_target_free(&t);
    CHECK(t.state == NULL);
    CHECK(vf_target_defaults("banana") && strcmp(vf_target_defaults("banana"), "b=0.03,sigma=10") == 0);
    CHECK(vf_target_defaults("nosuch") == NULL);
    int count = 0;
    for (const char *const *p = vf_target_names(); *p; p++) {
        CHECK(vf_target_defaults(*p) != NULL);
        count++;
    }
    CHECK(count == 11);
}

static void test_gradients(void)
{
    const char *specs[] = {"gauss:d=4,rho=0.3,mu=0.5", "gauss:d=3,rho=-0.4", "8gaussians", "8gaussians:noise=0.2,scale=-2",
                           "banana", "banana:b=0.1,sigma=2"};
    vf_rng r;
    vf_rng_init(&r, 11, 0);
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        vf_target t;
        CHECK_STATUS(vf_target_from_spec(specs[s], &t), VF_OK);
        for (int rep = 0; rep < 20; rep++) {
            double x[8];
            vf_rng_normal_fill_double(&r, x, (size_t)t.dim);
            for (int64_t k = 0; k < t.dim; k++) x[k] *= 3;
            double e = target_gradient_error(&t, x);
            CHECK_MSG(e < 1e-6, "%s: gradient error %.3g at rep %d", specs[s], e, rep);
        }
        vf_target_free(&t);
    }
}

/* The gauss density against the explicit 2-D formula with the inverse of [[1, rho], [rho, 1]]. */
static void test_gauss_formula(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=2,rho=0.7,mu=-1", &t), VF_OK);
    double x[2] = {0.3, -2.1}, a = x[0] + 1, b = x[1] + 1, rho = 0.7;
    double want = -log(2 * VF_TEST_PI) - 0.5 * log(1 - rho * rho) - (a * a - 2 * rho * a * b + b * b) / (2 * (1 - rho * rho));
    CHECK_NEAR(t.log_prob(t.state, x, NULL), want, 1e-12);
    vf_target_free(&t);
}

/* Riemann sum of exp(log p) over a box with step h (the densities are smooth, so the error is tiny). */
static double grid_mass(const vf_target *t, double x0, double x1, double y0, double y1, double h)
{
    double total = 0;
    for (double u = x0; u < x1; u += h)
        for (double v = y0; v < y1; v += h) {
            double x[2] = {u, v};
            total += exp(t->log_prob(t->state, x, NULL));
        }
    return total * h * h;
}

static void test_normalized(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("8gaussians", &t), VF_OK);
    CHECK_NEAR(grid_mass(&t, -6, 6, -6, 6, 0.02), 1.0, 1e-6);
    vf_target_free(&t);
    CHECK_STATUS(vf_target_from_spec("banana:b=0.1,sigma=3", &t), VF_OK);
    CHECK_NEAR(grid_mass(&t, -30, 30, -12, 100, 0.02), 1.0, 1e-6);
    vf_target_free(&t);
}

/* 8gaussians draws exactly the toy data set's points for a seed, so data and target agree. */
static void test_8gaussians_matches_toy(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("8gaussians:noise=0.3,scale=1.5", &t), VF_OK);
    vf_rng r1, r2;
    vf_rng_init(&r1, 5, 0);
    vf_rng_init(&r2, 5, 0);
    vf_tensor toy;
    CHECK_STATUS(vf_toy_sample("8gaussians", "noise=0.3,scale=1.5", 200, &r1, &toy), VF_OK);
    vf_real mine[400];
    CHECK_STATUS(vf_target_sample(&t, 200, &r2, mine), VF_OK);
    int same = 1;
    for (int i = 0; i < 400; i++) same &= mine[i] == toy.data[i];
    CHECK(same);
    vf_tensor_free(&toy);
    vf_target_free(&t);
}

/* gauss:d=3,rho=0.6: sample variances 1 and correlations 0.6 within 5 standard errors. For n normal
 * draws the sample correlation's standard error is (1 - rho^2) / sqrt(n), the variance's sqrt(2 / n). */
static void test_gauss_sampler(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=3,rho=0.6,mu=2", &t), VF_OK);
    enum { N = 20000 };
    vf_real *x = malloc(N * 3 * sizeof *x);
    vf_rng r;
    vf_rng_init(&r, 9, 0);
    CHECK_STATUS(vf_target_sample(&t, N, &r, x), VF_OK);
    double mean[3] = {0}, cov[3][3] = {{0}};
    for (int i = 0; i < N; i++)
        for (int a = 0; a < 3; a++) mean[a] += x[i * 3 + a] / (double)N;
    for (int i = 0; i < N; i++)
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) cov[a][b] += (x[i * 3 + a] - mean[a]) * (x[i * 3 + b] - mean[b]) / (double)N;
    for (int a = 0; a < 3; a++) {
        CHECK_NEAR(mean[a], 2.0, 5 / sqrt((double)N));
        CHECK_NEAR(cov[a][a], 1.0, 5 * sqrt(2.0 / N));
        for (int b = a + 1; b < 3; b++)
            CHECK_NEAR(cov[a][b] / sqrt(cov[a][a] * cov[b][b]), 0.6, 5 * (1 - 0.36) / sqrt((double)N));
    }
    free(x);
    vf_target_free(&t);
}

static double nan_log_prob(void *state, const double *x, double *grad)
{
    (void)state;
    if (grad) grad[0] = 0;
    return x[0] > 1 ? NAN : x[0] < -1 ? -INFINITY : -x[0] * x[0];
}

static void test_scores(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("banana", &t), VF_OK);
    vf_real x[6] = {1, 2, -3, 0.5, 7, -1};
    double lp[3], sc[6];
    CHECK_STATUS(vf_target_scores(&t, 3, x, lp, sc), VF_OK);
    for (int i = 0; i < 3; i++) {
        double xi[2] = {x[2 * i], x[2 * i + 1]}, g[2];
        CHECK_NEAR(lp[i], t.log_prob(t.state, xi, g), 0);
        CHECK_NEAR(sc[2 * i], g[0], 0);
        CHECK_NEAR(sc[2 * i + 1], g[1], 0);
    }
    vf_target_free(&t);

    vf_target bad = {1, nan_log_prob, NULL, NULL, NULL, "bad", 0, 0, NULL, 0, NULL};
    vf_real y[3] = {0.5, 2, -2};
    CHECK_STATUS(vf_target_scores(&bad, 2, y, lp, sc), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "NaN") && strstr(vf_last_error(), "row 1"));
    CHECK_STATUS(vf_target_scores(&bad, 1, y + 2, lp, sc), VF_ERR_NUMERIC); /* -inf with a score */
    CHECK_STATUS(vf_target_scores(&bad, 1, y + 2, lp, NULL), VF_OK);        /* -inf log p alone is fine */
    CHECK(lp[0] == -INFINITY);
    vf_rng r;
    vf_rng_init(&r, 0, 0);
    CHECK_STATUS(vf_target_sample(&bad, 1, &r, y), VF_ERR_UNSUPPORTED);
}

static void test_plugin(void)
{
#if VF_TEST_HAVE_DLOPEN
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("plugin:" VF_TEST_PLUGIN ":3", &t), VF_OK);
    CHECK(t.dim == 3 && t.sample == NULL && strcmp(t.name, "plugin") == 0);
    double x[3] = {1, -2, 0.5}, g[3];
    CHECK_NEAR(t.log_prob(t.state, x, g), -0.5 * (1 + 4 + 0.25), 1e-15);
    CHECK(g[0] == -1 && g[1] == 2 && g[2] == -0.5);
    CHECK(target_gradient_error(&t, x) < 1e-6);
    vf_target_free(&t);
    CHECK_STATUS(vf_target_from_spec("plugin:" VF_TEST_PLUGIN, &t), VF_OK); /* no ARG: init sees "" */
    CHECK(t.dim == 2);
    vf_target_free(&t);
    CHECK_STATUS(vf_target_from_spec("plugin:" VF_TEST_PLUGIN ":fail", &t), VF_ERR_IO);
    CHECK(strstr(vf_last_error(), "asked to fail"));
    CHECK_STATUS(vf_target_from_spec("plugin:/nonexistent/t.so", &t), VF_ERR_IO);
    CHECK(strstr(vf_last_error(), "/nonexistent/t.so"));
#else
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("plugin:./t.so", &t), VF_ERR_UNSUPPORTED);
#endif
}

static vf_status alloc_scenario(void *ctx)
{
    (void)ctx;
    vf_target t;
    vf_status s = vf_target_from_spec("8gaussians:noise=0.4", &t);
    if (s != VF_OK) return s;
    vf_real x[4] = {1, 2, 3, 4};
    double sc[4];
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    s = vf_target_scores(&t, 2, x, NULL, sc);
    if (s == VF_OK) s = vf_target_sample(&t, 2, &r, x);
    vf_target_free(&t);
    return s;
}

static void test_alloc_failures(void) { CHECK(af_sweep_n("targets", alloc_scenario, NULL, 0, 0) == 0); }

int main(void)
{
    RUN(test_spec_errors);
    RUN(test_gradients);
    RUN(test_gauss_formula);
    RUN(test_normalized);
    RUN(test_8gaussians_matches_toy);
    RUN(test_gauss_sampler);
    RUN(test_scores);
    RUN(test_plugin);
    RUN(test_alloc_failures);
    return vf_test_summary();
}
