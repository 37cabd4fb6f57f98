/* test_sorted_distances.c — energy distance and sliced Wasserstein by sorting (vf_ot.h): the 1-D
 * energy distance by ranks equals the O(n m) definition (to 1e-9 relative in the double build); the
 * sliced estimate in 2-D converges to the exact energy distance within its Monte Carlo error; sliced
 * W_p in 1-D equals W_p by sorted matching (equal sizes) and by brute-force quantile integration
 * (unequal sizes); same seeds give the same directions; errors. */
#include <math.h>
#include <stdlib.h>
#include "varflow.h"
#include "vf_test.h"

static double energy_1d_definition(int n, const double *a, int m, const double *b)
{
    double xy = 0, xx = 0, yy = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) xy += fabs(a[i] - b[j]);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) xx += fabs(a[i] - a[j]);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) yy += fabs(b[i] - b[j]);
    return 2 * xy / ((double)n * m) - xx / ((double)n * n) - yy / ((double)m * m);
}

static void test_energy_1d(void)
{
    static const int sizes[][2] = {{1, 1}, {1, 5}, {7, 3}, {200, 333}, {1000, 1000}};
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int n = sizes[k][0], m = sizes[k][1];
        double *a = malloc(n * sizeof *a), *b = malloc(m * sizeof *b);
        vf_rng_normal_fill_double(&r, a, (size_t)n);
        vf_rng_normal_fill_double(&r, b, (size_t)m);
        for (int j = 0; j < m; j++) b[j] = 0.5 + 2 * b[j];
        if (k == 2) a[3] = a[1], b[0] = a[1]; /* ties */
        double got, want = energy_1d_definition(n, a, m, b);
        CHECK_STATUS(vf_energy_distance_1d(n, a, m, b, &got), VF_OK);
        CHECK_MSG(fabs(got - want) <= 1e-9 * (1 + fabs(want)), "n %d m %d: %.17g vs %.17g", n, m, got, want);
        free(a);
        free(b);
    }
}

/* 2-D: the sliced estimate with K directions is an average of K i.i.d. terms; its spread over the
 * directions gives the standard error. */
static void test_energy_sliced(void)
{
    enum { N = 300, M = 250, D = 2, K = 4000 };
    vf_real *x = malloc(N * D * sizeof *x), *y = malloc(M * D * sizeof *y);
    vf_rng r;
    vf_rng_init(&r, 2, 0);
    vf_rng_normal_fill(&r, x, N * D, 0, 1);
    vf_rng_normal_fill(&r, y, M * D, 0.7, 1.3);
    double exact, sliced, terms[64];
    CHECK_STATUS(vf_energy_distance(N, M, D, x, y, 0, 0, &exact), VF_OK);
    CHECK_STATUS(vf_energy_distance(N, M, D, x, y, K, 9, &sliced), VF_OK);
    /* the standard error from 64 independent estimates of K/64 slices each */
    double mean = 0, var = 0;
    for (int k = 0; k < 64; k++) {
        CHECK_STATUS(vf_energy_distance(N, M, D, x, y, K / 64, 100 + (uint64_t)k, &terms[k]), VF_OK);
        mean += terms[k] / 64;
    }
    for (int k = 0; k < 64; k++) var += (terms[k] - mean) * (terms[k] - mean) / 63;
    double se = sqrt(var / 64); /* of a K-slice estimate */
    CHECK_MSG(fabs(sliced - exact) < 4 * se, "sliced %g exact %g (se %g)", sliced, exact, se);
    CHECK(exact > 0.1);
    double again;
    CHECK_STATUS(vf_energy_distance(N, M, D, x, y, K, 9, &again), VF_OK);
    CHECK(again == sliced);
    free(x);
    free(y);
}

static int cmp(const void *p, const void *q)
{
    double a = *(const double *)p, b = *(const double *)q;
    return (a > b) - (a < b);
}

static void test_sliced_wasserstein(void)
{
    enum { N = 400, M = 150 };
    vf_real x[N], y[N];
    double a[N], b[N];
    vf_rng r;
    vf_rng_init(&r, 3, 0);
    vf_rng_normal_fill(&r, x, N, 0, 1);
    vf_rng_normal_fill(&r, y, N, 1, 2);
    /* 1-D, equal sizes: every direction is +-1 and W_p pairs the sorted samples */
    for (int i = 0; i < N; i++) a[i] = (double)x[i], b[i] = (double)y[i];
    qsort(a, N, sizeof *a, cmp);
    qsort(b, N, sizeof *b, cmp);
    double w1 = 0, w2 = 0;
    for (int i = 0; i < N; i++) w1 += fabs(a[i] - b[i]) / N, w2 += (a[i] - b[i]) * (a[i] - b[i]) / N;
    double s1, s2;
    CHECK_STATUS(vf_sliced_wasserstein(N, N, 1, x, y, 1, 5, 1, &s1), VF_OK);
    CHECK_STATUS(vf_sliced_wasserstein(N, N, 1, x, y, 2, 5, 1, &s2), VF_OK);
    CHECK_NEAR(s1, w1, 1e-6 * (1 + w1));
    CHECK_NEAR(s2, sqrt(w2), 1e-6 * (1 + w2));
    /* unequal sizes: integrate |F^-1(u) - G^-1(u)|^2 on a fine grid of u (midpoints) */
    double bm[M];
    for (int j = 0; j < M; j++) bm[j] = (double)y[j];
    qsort(bm, M, sizeof *bm, cmp);
    double integral = 0;
    const int G = 600000;
    for (int g = 0; g < G; g++) {
        double u = (g + 0.5) / G;
        double qa = a[(int)(u * N)], qb = bm[(int)(u * M)];
        integral += (qa - qb) * (qa - qb) / G;
    }
    CHECK_STATUS(vf_sliced_wasserstein(N, M, 1, x, y, 2, 3, 1, &s2), VF_OK);
    CHECK_NEAR(s2 * s2, integral, 1e-4 * (1 + integral));
    /* 2-D: the same seed, the same value; errors */
    vf_real x2[2 * N], y2[2 * M];
    vf_rng_normal_fill(&r, x2, 2 * N, 0, 1);
    vf_rng_normal_fill(&r, y2, 2 * M, 1, 1);
    double v1, v2;
    CHECK_STATUS(vf_sliced_wasserstein(N, M, 2, x2, y2, 2, 50, 7, &v1), VF_OK);
    CHECK_STATUS(vf_sliced_wasserstein(N, M, 2, x2, y2, 2, 50, 7, &v2), VF_OK);
    CHECK(v1 == v2 && v1 > 0);
    CHECK(vf_sliced_wasserstein(N, M, 2, x2, y2, 3, 50, 7, &v1) == VF_ERR_ARG);
    CHECK(vf_sliced_wasserstein(0, M, 2, x2, y2, 2, 50, 7, &v1) == VF_ERR_ARG);
    x2[5] = NAN;
    CHECK(vf_energy_distance(N, M, 2, x2, y2, 10, 1, &v1) == VF_ERR_ARG && strstr(vf_last_error(), "x[2, 1]") != NULL);
    double nanv[1] = {NAN};
    CHECK(vf_energy_distance_1d(1, nanv, 1, nanv, &v1) == VF_ERR_ARG);
}

int main(void)
{
    RUN(test_energy_1d);
    RUN(test_energy_sliced);
    RUN(test_sliced_wasserstein);
    return vf_test_summary();
}
