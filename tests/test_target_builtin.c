/* test_target_builtin.c — the VI benchmark targets (u1..u4, funnel, gmm40, manywell, rosenbrock):
 * gradients against central differences, log Z on a 2-D grid (u1..u4, gmm40) or by 1-D quadrature
 * (manywell, rosenbrock), the exact samplers' moments within Monte Carlo error, spec errors and
 * out-of-memory paths. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "alloc_fail.h"
#include "target_check.h"
#include "vf_test.h"

#define LOG_2PI 1.8378770664093454835606594728112

static void test_gradients(void)
{
    const char *specs[] = {"u1", "u2", "u3", "u4", "funnel:d=5", "funnel:d=3,scale=1", "gmm40", "gmm40:std=3",
                           "manywell:d=4", "rosenbrock:d=6"};
    vf_rng r;
    vf_rng_init(&r, 12, 0);
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        vf_target t;
        REQUIRE_STATUS(vf_target_from_spec(specs[s], &t), VF_OK);
        double spread = strncmp(specs[s], "gmm40", 5) == 0 ? 30 : 1.5; /* u2..u4: stay inside [-4, 4]^2 */
        for (int rep = 0; rep < 30; rep++) {
            double x[8];
            vf_rng_normal_fill_double(&r, x, (size_t)t.dim);
            for (int64_t k = 0; k < t.dim; k++) x[k] *= spread;
            if (strncmp(specs[s], "gmm40", 5) == 0 && rep % 2 == 0) x[1] += 21.4; /* near a mean too */
            double e = target_gradient_error(&t, x);
            CHECK_MSG(e < 1e-6, "%s: gradient error %.3g at rep %d", specs[s], e, rep);
        }
        vf_target_free(&t);
    }
}

/* log of the trapezoid rule of exp(log p) on [lo, hi]^2 with n nodes per side. */
static double grid_log_z(const vf_target *t, double lo, double hi, int n)
{
    double h = (hi - lo) / (n - 1), total = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double x[2] = {lo + h * i, lo + h * j};
            double w = (i == 0 || i == n - 1 ? 0.5 : 1) * (j == 0 || j == n - 1 ? 0.5 : 1);
            total += w * exp(t->log_prob(t->state, x, NULL));
        }
    return log(total * h * h);
}

/* The issue's figures (4 decimals) and the targets' own log_z (7 decimals) against a grid. */
static void test_energies_log_z(void)
{
    const char *names[] = {"u1", "u2", "u3", "u4"};
    const double issue[] = {1.8775, 2.0821, 2.6417, 2.6846};
    for (int k = 0; k < 4; k++) {
        vf_target t;
        REQUIRE_STATUS(vf_target_from_spec(names[k], &t), VF_OK);
        CHECK(t.dim == 2 && t.has_log_z && t.sample != NULL);
        double lz = grid_log_z(&t, k == 0 ? -6 : -4, k == 0 ? 6 : 4, 1201);
        CHECK_MSG(fabs(lz - t.log_z) < 2e-5, "%s: grid log Z %.7f, target says %.7f", names[k], lz, t.log_z);
        CHECK_MSG(fabs(t.log_z - issue[k]) < 5.1e-5, "%s: log Z %.7f, issue %.4f", names[k], t.log_z, issue[k]);
        vf_target_free(&t);
    }
    /* u2..u4 are -inf off the box, with a zero gradient; u1 is not boxed */
    vf_target t;
    REQUIRE_STATUS(vf_target_from_spec("u3", &t), VF_OK);
    double x[2] = {4.01, 0}, g[2] = {1, 1};
    CHECK(t.log_prob(t.state, x, g) == -INFINITY && g[0] == 0 && g[1] == 0);
    vf_target_free(&t);
    REQUIRE_STATUS(vf_target_from_spec("u1", &t), VF_OK);
    double y[2] = {4.5, 0};
    CHECK(isfinite(t.log_prob(t.state, y, NULL)));
    vf_target_free(&t);
}

/* The rejection samplers of u1..u4: E[z1], E[z2], E[z1^2], E[z2^2], P(z1 > 1, z2 > 0) of 20000 draws
 * against a 601^2 grid's (trapezoid, normalized by the grid's own mass), within 4.5 Monte Carlo
 * standard errors (the sd of each function under p, from the grid, over sqrt(N)). */
static void test_energies_sample(void)
{
    enum { N = 20000, G = 601, F = 5 };
    const char *names[] = {"u1", "u2", "u3", "u4"};
    vf_real *d = malloc(sizeof(vf_real) * 2 * N);
    for (int k = 0; k < 4; k++) {
        vf_target t;
        REQUIRE_STATUS(vf_target_from_spec(names[k], &t), VF_OK);
        double lo = k == 0 ? -6 : -4, hi = -lo, h = (hi - lo) / (G - 1), mass = 0, m1[F] = {0}, m2[F] = {0};
        for (int i = 0; i < G; i++)
            for (int j = 0; j < G; j++) {
                double x[2] = {lo + h * i, lo + h * j};
                double w = (i == 0 || i == G - 1 ? 0.5 : 1) * (j == 0 || j == G - 1 ? 0.5 : 1) *
                           exp(t.log_prob(t.state, x, NULL));
                double f[F] = {x[0], x[1], x[0] * x[0], x[1] * x[1], x[0] > 1 && x[1] > 0};
                mass += w;
                for (int q = 0; q < F; q++) m1[q] += w * f[q], m2[q] += w * f[q] * f[q];
            }
        vf_rng r;
        vf_rng_init(&r, 21 + (uint64_t)k, 0);
        CHECK_STATUS(vf_target_sample(&t, N, &r, d), VF_OK);
        double sm[F] = {0};
        for (int i = 0; i < N; i++) {
            double x0 = d[2 * i], x1 = d[2 * i + 1];
            double f[F] = {x0, x1, x0 * x0, x1 * x1, x0 > 1 && x1 > 0};
            for (int q = 0; q < F; q++) sm[q] += f[q] / N;
        }
        for (int q = 0; q < F; q++) {
            double mu = m1[q] / mass, sd = sqrt(fmax(m2[q] / mass - mu * mu, 0));
            CHECK_MSG(fabs(sm[q] - mu) < 4.5 * sd / sqrt(N) + 1e-4, "%s: moment %d of the draws %.4f, grid %.4f (se %.4f)",
                      names[k], q, sm[q], mu, sd / sqrt(N));
        }
        vf_target_free(&t);
    }
    free(d);
}

static void test_gmm40(void)
{
    vf_target t;
    REQUIRE_STATUS(vf_target_from_spec("gmm40", &t), VF_OK);
    CHECK(t.dim == 2 && t.has_log_z && t.log_z == 0 && t.sample);
    double x[2] = {-0.299472809, 21.4577446}, g[2]; /* the file's first mean */
    double lp = t.log_prob(t.state, x, g);
    /* at least that component's own density, at most 40x it */
    double own = -log(40.0) - LOG_2PI - 2 * log(1.31326);
    CHECK(lp >= own - 1e-5 && lp <= own + log(40.0));
    CHECK_NEAR(grid_log_z(&t, -60, 60, 961), 0.0, 1e-4); /* h = 0.125 against std 1.31 */
    /* draws: the mean of the draws against the mean of the means (sd of the mixture per coordinate) */
    enum { N = 20000 };
    vf_real *d = malloc(sizeof(vf_real) * 2 * N);
    vf_rng r;
    vf_rng_init(&r, 3, 0);
    CHECK_STATUS(vf_target_sample(&t, N, &r, d), VF_OK);
    vf_tensor m;
    CHECK_STATUS(vf_read_table(VF_SHARED_DATA_DIR "/targets/fab_gmm40_means.csv", &m), VF_OK);
    for (int j = 0; j < 2; j++) {
        double mu = 0, mm = 0, s = 0, ss = 0;
        for (int k = 0; k < 40; k++) mu += m.data[2 * k + j] / 40.0, mm += m.data[2 * k + j] * m.data[2 * k + j] / 40.0;
        for (int i = 0; i < N; i++) s += d[2 * i + j], ss += d[2 * i + j] * d[2 * i + j];
        double sd = sqrt(mm - mu * mu + 1.31326 * 1.31326);
        CHECK_MSG(fabs(s / N - mu) < 4 * sd / sqrt(N), "gmm40 coordinate %d: mean %.4f, want %.4f", j, s / N, mu);
        CHECK_MSG(fabs(sqrt(ss / N - s * s / N / N) - sd) < 0.03 * sd, "gmm40 sd");
    }
    vf_tensor_free(&m);
    free(d);
    vf_target_free(&t);
    CHECK_STATUS(vf_target_from_spec("gmm40:means=/nonexistent/means.csv", &t), VF_ERR_IO);
    CHECK(strstr(vf_last_error(), "/nonexistent/means.csv") != NULL);
    CHECK_STATUS(vf_target_from_spec("gmm40:std=0", &t), VF_ERR_ARG);
    CHECK_STATUS(vf_target_from_spec("gmm40:means=", &t), VF_ERR_ARG);
}

/* manywell: log Z by 1-D quadrature of the well, and the draws' P(x > 0) and E[x] against it. */
static void test_manywell(void)
{
    double h = 1e-4, z = 0, zpos = 0, zx = 0;
    for (double a = -6; a < 6; a += h) {
        double f = exp(-a * a * a * a + 6 * a * a + 0.5 * a) * h;
        z += f;
        zx += a * f;
        if (a > 0) zpos += f;
    }
    vf_target t;
    REQUIRE_STATUS(vf_target_from_spec("manywell", &t), VF_OK);
    CHECK(t.dim == 32 && t.has_log_z);
    CHECK_NEAR(t.log_z, 164.6957, 1e-4);
    CHECK_NEAR(t.log_z, 16 * (log(z) + 0.5 * LOG_2PI), 1e-6);
    enum { N = 4000 };
    vf_real *d = malloc(sizeof(vf_real) * 32 * N);
    vf_rng r;
    vf_rng_init(&r, 8, 0);
    CHECK_STATUS(vf_target_sample(&t, N, &r, d), VF_OK);
    double npos = 0, sx = 0, sy = 0, syy = 0, m = 16.0 * N;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 16; k++) {
            double a = d[32 * i + 2 * k], b = d[32 * i + 2 * k + 1];
            npos += a > 0;
            sx += a;
            sy += b;
            syy += b * b;
        }
    double p = zpos / z, ex = zx / z;
    CHECK_MSG(fabs(npos / m - p) < 4 * sqrt(p * (1 - p) / m), "manywell P(x>0) %.4f, want %.4f", npos / m, p);
    CHECK_MSG(fabs(sx / m - ex) < 4 * 1.8 / sqrt(m), "manywell E[x] %.4f, want %.4f", sx / m, ex); /* sd(x) < 1.8 */
    CHECK(fabs(sy / m) < 4 / sqrt(m) && fabs(syy / m - 1) < 4 * sqrt(2 / m));
    free(d);
    vf_target_free(&t);
    CHECK_STATUS(vf_target_from_spec("manywell:d=3", &t), VF_ERR_ARG);
}

static void test_funnel_rosenbrock(void)
{
    vf_target t;
    REQUIRE_STATUS(vf_target_from_spec("funnel", &t), VF_OK);
    CHECK(t.dim == 10 && t.has_log_z && t.log_z == 0);
    /* the density factorizes: log p(v, x) = log N(v; 0, 9) + sum log N(x_i; 0, e^v) */
    double x[10] = {0.7, 1, -2, 0.5, 0, 0, 0.1, 0.2, -0.3, 3}, want = -0.5 * 0.49 / 9 - 0.5 * LOG_2PI - log(3.0);
    for (int i = 1; i < 10; i++) want += -0.5 * x[i] * x[i] * exp(-0.7) - 0.35 - 0.5 * LOG_2PI;
    CHECK_NEAR(t.log_prob(t.state, x, NULL), want, 1e-12);
    enum { N = 20000 };
    vf_real *d = malloc(sizeof(vf_real) * 36 * N);
    vf_rng r;
    vf_rng_init(&r, 4, 0);
    CHECK_STATUS(vf_target_sample(&t, N, &r, d), VF_OK);
    double sv = 0, svv = 0, sl = 0; /* v's moments; log x1^2 - v has mean log 2 + digamma(1/2) = -1.2704 */
    for (int i = 0; i < N; i++) {
        double v = d[10 * i], a = d[10 * i + 1];
        sv += v, svv += v * v, sl += log(a * a) - v;
    }
    CHECK(fabs(sv / N) < 4 * 3 / sqrt(N) && fabs(sqrt(svv / N) - 3) < 4 * 3 / sqrt(2.0 * N));
    CHECK_MSG(fabs(sl / N + 1.2703628) < 4 * 2.2214 / sqrt(N), "funnel: E[log x^2 - v] %.4f", sl / N); /* sd pi/sqrt2 */
    vf_target_free(&t);
    CHECK_STATUS(vf_target_from_spec("funnel:d=1", &t), VF_ERR_ARG);

    REQUIRE_STATUS(vf_target_from_spec("rosenbrock", &t), VF_OK);
    CHECK(t.dim == 36 && t.has_log_z);
    CHECK_NEAR(t.log_z, 18 * (LOG_2PI + 0.5 * log(0.1)), 1e-12);
    /* the normalized density at a point: each pair N(x; 1, 1) N(y; x^2, 0.1) */
    double z[36], lq = 0;
    for (int i = 0; i < 36; i += 2) {
        z[i] = 0.1 * i - 1;
        z[i + 1] = z[i] * z[i] + 0.2;
        lq += -0.5 * (z[i] - 1) * (z[i] - 1) - 0.5 * LOG_2PI - 0.5 * 0.04 / 0.1 - 0.5 * log(2 * 3.14159265358979323846 * 0.1);
    }
    CHECK_NEAR(t.log_prob(t.state, z, NULL) - t.log_z, lq, 1e-9);
    CHECK_STATUS(vf_target_sample(&t, N, &r, d), VF_OK);
    double sy = 0; /* E[y] = E[x^2] = 2, sd(y) = sqrt(Var x^2 + 0.1) = sqrt(6.1) */
    for (int i = 0; i < N; i++) sy += d[36 * i + 5];
    CHECK_MSG(fabs(sy / N - 2) < 4 * sqrt(6.1 / N), "rosenbrock E[y] %.4f", sy / N);
    free(d);
    vf_target_free(&t);
    CHECK_STATUS(vf_target_from_spec("rosenbrock:d=5", &t), VF_ERR_ARG);
}

static vf_status alloc_scenario(void *ctx)
{
    const char *spec = ctx;
    vf_target t;
    vf_status s = vf_target_from_spec(spec, &t);
    if (s != VF_OK) return s;
    vf_real x[64];
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    if (t.sample) s = vf_target_sample(&t, 1, &r, x);
    vf_target_free(&t);
    return s;
}

static void test_alloc_failures(void)
{
    const char *specs[] = {"gmm40", "manywell:d=4", "funnel:d=4", "rosenbrock:d=4", "u2"};
    for (int i = 0; i < 5; i++) CHECK(af_sweep_n(specs[i], alloc_scenario, (void *)specs[i], 0, 0) == 0);
}

int main(void)
{
    RUN(test_gradients);
    RUN(test_energies_log_z);
    RUN(test_energies_sample);
    RUN(test_gmm40);
    RUN(test_manywell);
    RUN(test_funnel_rosenbrock);
    RUN(test_alloc_failures);
    return vf_test_summary();
}
