/* test_ksd.c — the kernel Stein discrepancy (vf_ksd): the IMQ Stein kernel against its formula
 * written out by hand for a 1-D standard normal target; the Gaussian-kernel Stein kernel against
 * central differences of the base kernel in 2-D; the U-statistic about 0 (within the Monte Carlo error
 * of repeated draws) for exact samples and clearly positive for shifted ones; the median bandwidth;
 * errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "vf_test.h"

/* 1-D, target N(0, 1) (score -x), IMQ k = (1 + e^2)^(-1/2), e = x - y:
 *   dk/dx = -e q^(-3/2), dk/dy = e q^(-3/2), d2k/dxdy = q^(-3/2) - 3 e^2 q^(-5/2), q = 1 + e^2,
 *   u = s(x) s(y) k + s(x) dk/dy + s(y) dk/dx + d2k/dxdy. */
static double u_imq_1d(double x, double y)
{
    double e = x - y, q = 1 + e * e, sx = -x, sy = -y;
    double k = 1 / sqrt(q), dkdx = -e * pow(q, -1.5), dkdy = e * pow(q, -1.5);
    double dxy = pow(q, -1.5) - 3 * e * e * pow(q, -2.5);
    return sx * sy * k + sx * dkdy + sy * dkdx + dxy;
}

static void test_imq_1d_by_hand(void)
{
    vf_real x[5] = {0.3, -1.2, 2.0, 0.05, -0.7};
    double s[5];
    for (int i = 0; i < 5; i++) s[i] = -(double)x[i];
    double v = 0, u = 0;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) {
            double w = u_imq_1d(x[i], x[j]);
            v += w / 25;
            if (i != j) u += w / 20;
        }
    vf_ksd_options o = vf_ksd_default_options();
    double got, h;
    CHECK_STATUS(vf_ksd(5, 1, x, s, &o, &got, &h), VF_OK);
    CHECK_NEAR(got, v, 1e-12 * (1 + fabs(v)));
    CHECK(h == 1.0);
    o.unbiased = 1;
    CHECK_STATUS(vf_ksd(5, 1, x, s, &o, &got, NULL), VF_OK);
    CHECK_NEAR(got, u, 1e-12 * (1 + fabs(u)));
}

/* 2-D, Gaussian kernel with bandwidth h and arbitrary scores: the Stein kernel from central
 * differences of k (first derivatives for the middle terms, mixed second ones for the trace). */
static double gk(const double *x, const double *y, double h)
{
    double r2 = (x[0] - y[0]) * (x[0] - y[0]) + (x[1] - y[1]) * (x[1] - y[1]);
    return exp(-r2 / (2 * h * h));
}

static double u_numeric(const double *x, const double *y, const double *sx, const double *sy, double h)
{
    const double e = 1e-4;
    double u = (sx[0] * sy[0] + sx[1] * sy[1]) * gk(x, y, h);
    for (int a = 0; a < 2; a++) {
        double xp[2] = {x[0], x[1]}, xm[2] = {x[0], x[1]}, yp[2] = {y[0], y[1]}, ym[2] = {y[0], y[1]};
        xp[a] += e;
        xm[a] -= e;
        yp[a] += e;
        ym[a] -= e;
        u += sx[a] * (gk(x, yp, h) - gk(x, ym, h)) / (2 * e);
        u += sy[a] * (gk(xp, y, h) - gk(xm, y, h)) / (2 * e);
        u += (gk(xp, yp, h) - gk(xp, ym, h) - gk(xm, yp, h) + gk(xm, ym, h)) / (4 * e * e);
    }
    return u;
}

static void test_gaussian_kernel_numeric(void)
{
    enum { N = 6 };
    vf_rng r;
    vf_rng_init(&r, 3, 0);
    double xd[2 * N], s[2 * N];
    vf_rng_normal_fill_double(&r, xd, 2 * N);
    vf_rng_normal_fill_double(&r, s, 2 * N);
    vf_real x[2 * N];
    for (int i = 0; i < 2 * N; i++) x[i] = (vf_real)xd[i], xd[i] = (double)x[i];
    double h = 0.8, want = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) want += u_numeric(xd + 2 * i, xd + 2 * j, s + 2 * i, s + 2 * j, h) / (N * N);
    vf_ksd_options o = vf_ksd_default_options();
    o.kernel = VF_KERNEL_GAUSSIAN;
    o.bandwidth = h;
    double got;
    CHECK_STATUS(vf_ksd(N, 2, x, s, &o, &got, NULL), VF_OK);
    CHECK_NEAR(got, want, 1e-6 * (1 + fabs(want)));
}

/* The U-statistic for R independent samples of n points: exact samples give a mean within 4
 * standard errors (of the R replicates) of 0; samples shifted by 0.5 in every coordinate give a mean
 * far above. The V-statistic is never negative. */
static void replicate(const char *sample_spec, vf_kernel kernel, double *mean, double *se, int *v_nonneg)
{
    enum { R = 20, N = 300, D = 2 };
    vf_target t, q;
    vf_target_from_spec("gauss:d=2,rho=0.5", &t);
    vf_target_from_spec(sample_spec, &q);
    vf_real *x = malloc(N * D * sizeof *x);
    double *s = malloc(N * D * sizeof *s), sum = 0, sum2 = 0;
    vf_rng r;
    vf_rng_init(&r, 21, 0);
    vf_ksd_options o = vf_ksd_default_options();
    o.kernel = kernel;
    o.bandwidth = kernel == VF_KERNEL_IMQ ? 1.0 : 0.0;
    *v_nonneg = 1;
    for (int k = 0; k < R; k++) {
        vf_target_sample(&q, N, &r, x);
        vf_target_scores(&t, N, x, NULL, s);
        double u, v;
        o.unbiased = 1;
        CHECK_STATUS(vf_ksd(N, D, x, s, &o, &u, NULL), VF_OK);
        o.unbiased = 0;
        CHECK_STATUS(vf_ksd(N, D, x, s, &o, &v, NULL), VF_OK);
        *v_nonneg &= v >= 0;
        sum += u;
        sum2 += u * u;
    }
    *mean = sum / R;
    *se = sqrt((sum2 / R - *mean * *mean) / (R - 1));
    free(x);
    free(s);
    vf_target_free(&t);
    vf_target_free(&q);
}

static void test_null_and_shift(void)
{
    vf_kernel kernels[2] = {VF_KERNEL_IMQ, VF_KERNEL_GAUSSIAN};
    for (int k = 0; k < 2; k++) {
        double m0, se0, m1, se1;
        int nn0, nn1;
        replicate("gauss:d=2,rho=0.5", kernels[k], &m0, &se0, &nn0);
        replicate("gauss:d=2,rho=0.5,mu=0.5", kernels[k], &m1, &se1, &nn1);
        CHECK_MSG(fabs(m0) <= 4 * se0, "kernel %d: null U-statistic mean %.3g, standard error %.3g", k, m0, se0);
        CHECK_MSG(m1 > m0 + 10 * (se0 + se1), "kernel %d: shifted mean %.3g (se %.3g) vs null %.3g (se %.3g)", k, m1,
                  se1, m0, se0);
        CHECK(nn0 && nn1);
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_median_bandwidth(void)
{
    enum { N = 40 };
    vf_rng r;
    vf_rng_init(&r, 8, 0);
    vf_real x[3 * N];
    double s[3 * N], dist[N * (N - 1) / 2];
    vf_rng_normal_fill(&r, x, 3 * N, 0, 2);
    for (int i = 0; i < 3 * N; i++) s[i] = -(double)x[i];
    int c = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            double q = 0;
            for (int k = 0; k < 3; k++) q += ((double)x[3 * i + k] - x[3 * j + k]) * ((double)x[3 * i + k] - x[3 * j + k]);
            dist[c++] = q;
        }
    qsort(dist, (size_t)c, sizeof *dist, cmp);
    double med2 = 0.5 * (dist[c / 2 - 1] + dist[c / 2]); /* c = 780 is even */
    vf_ksd_options o = vf_ksd_default_options();
    o.kernel = VF_KERNEL_GAUSSIAN;
    o.bandwidth = 0;
    double out, h;
    CHECK_STATUS(vf_ksd(N, 3, x, s, &o, &out, &h), VF_OK);
    CHECK_NEAR(h, sqrt(med2), 1e-12);
}

static void test_errors(void)
{
    vf_real x[4] = {0, 1, 2, 3};
    double s[4] = {0, 0, 0, 0}, out;
    vf_ksd_options o = vf_ksd_default_options();
    CHECK_STATUS(vf_ksd(0, 1, x, s, &o, &out, NULL), VF_ERR_ARG);
    CHECK_STATUS(vf_ksd(4, 1, x, NULL, &o, &out, NULL), VF_ERR_ARG);
    o.unbiased = 1;
    CHECK_STATUS(vf_ksd(1, 1, x, s, &o, &out, NULL), VF_ERR_ARG);
    o = vf_ksd_default_options();
    o.beta = -1;
    CHECK_STATUS(vf_ksd(4, 1, x, s, &o, &out, NULL), VF_ERR_ARG);
    o = vf_ksd_default_options();
    o.bandwidth = 0;
    CHECK_STATUS(vf_ksd(4, 1, x, s, &o, &out, NULL), VF_ERR_ARG);
    o = vf_ksd_default_options();
    o.kernel = VF_KERNEL_LAPLACE;
    CHECK_STATUS(vf_ksd(4, 1, x, s, &o, &out, NULL), VF_ERR_ARG);
    s[2] = NAN;
    CHECK_STATUS(vf_ksd(4, 1, x, s, NULL, &out, NULL), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "scores[2, 0]") != NULL);
}

int main(void)
{
    RUN(test_imq_1d_by_hand);
    RUN(test_gaussian_kernel_numeric);
    RUN(test_null_and_shift);
    RUN(test_median_bandwidth);
    RUN(test_errors);
    return vf_test_summary();
}
