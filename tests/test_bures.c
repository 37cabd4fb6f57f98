/* test_bures.c — the closed-form Gaussian W2 (vf_gaussian_w2sq) against independent closed forms:
 * 1-D, commuting (diagonal) covariances, the 2x2 identity tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)),
 * W2^2(S, 4 S) = tr S for a dense 6x6 S, rotation invariance and symmetry; the sample front end
 * against moments computed here and an exact translation; errors. */
#include <math.h>
#include <string.h>
#include "varflow.h"
#include "vf_test.h"

/* s [d, d] = L L^T + 0.1 I with L's entries N(0, 1) from seed */
static void random_spd(int64_t d, uint64_t seed, double *s)
{
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    double l[64];
    for (int64_t k = 0; k < d * d; k++) l[k] = vf_rng_uniform(&r) * 2 - 1;
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            double t = i == j ? 0.1 : 0;
            for (int64_t k = 0; k < d; k++) t += l[i * d + k] * l[j * d + k];
            s[i * d + j] = t;
        }
}

static void test_one_dim_and_diagonal(void)
{
    double m1 = 0.3, m2 = -1.2, v1 = 2.0, v2 = 0.5, w;
    CHECK_STATUS(vf_gaussian_w2sq(1, &m1, &v1, &m2, &v2, &w), VF_OK);
    CHECK_NEAR(w, (m1 - m2) * (m1 - m2) + (sqrt(v1) - sqrt(v2)) * (sqrt(v1) - sqrt(v2)), 1e-14);
    double a[3] = {1, 2, 3}, b[3] = {0, -1, 5}, s1[9] = {4, 0, 0, 0, 1, 0, 0, 0, 0.25}, s2[9] = {1, 0, 0, 0, 9, 0, 0, 0, 0};
    CHECK_STATUS(vf_gaussian_w2sq(3, a, s1, b, s2, &w), VF_OK);
    double want = 1 + 9 + 4 + (2 - 1) * (2 - 1) + (1 - 3) * (1 - 3) + (0.5 - 0) * (0.5 - 0);
    CHECK_NEAR(w, want, 1e-13);
}

/* In 2-D, with M = S1^{1/2} S2 S1^{1/2}: tr M = tr(S1 S2), det M = det S1 det S2 and the trace of the
 * square root of a 2x2 PSD matrix is sqrt(tr M + 2 sqrt(det M)). */
static void test_two_dim_identity(void)
{
    for (uint64_t seed = 1; seed <= 5; seed++) {
        double s1[4], s2[4], m1[2] = {0.5, -0.2}, m2[2] = {-1, 0.7}, w;
        random_spd(2, seed, s1);
        random_spd(2, seed + 100, s2);
        double tr12 = s1[0] * s2[0] + s1[1] * s2[2] + s1[2] * s2[1] + s1[3] * s2[3];
        double det = (s1[0] * s1[3] - s1[1] * s1[2]) * (s2[0] * s2[3] - s2[1] * s2[2]);
        double want = 1.5 * 1.5 + 0.9 * 0.9 + s1[0] + s1[3] + s2[0] + s2[3] - 2 * sqrt(tr12 + 2 * sqrt(det));
        CHECK_STATUS(vf_gaussian_w2sq(2, m1, s1, m2, s2, &w), VF_OK);
        CHECK_MSG(fabs(w - want) < 1e-12 * (1 + want), "seed %d: %.17g vs %.17g", (int)seed, w, want);
    }
}

/* A dense 6x6 S: W2^2(S, S) = 0, W2^2(S, 4 S) = tr S; rotation invariance and symmetry for two
 * non-commuting covariances. */
static void test_dense(void)
{
    enum { D = 6 };
    double s[D * D], s4[D * D], t[D * D], m[D] = {0}, w, tr = 0;
    random_spd(D, 7, s);
    for (int k = 0; k < D * D; k++) s4[k] = 4 * s[k];
    for (int i = 0; i < D; i++) tr += s[i * D + i];
    CHECK_STATUS(vf_gaussian_w2sq(D, m, s, m, s, &w), VF_OK);
    CHECK_MSG(fabs(w) < 1e-12 * tr, "W2^2(S, S) = %g", w);
    CHECK_STATUS(vf_gaussian_w2sq(D, m, s, m, s4, &w), VF_OK);
    CHECK_MSG(fabs(w - tr) < 1e-12 * tr, "W2^2(S, 4S) = %.17g, tr S = %.17g", w, tr);
    random_spd(D, 8, t);
    double m1[D], m2[D], w12, w21;
    for (int i = 0; i < D; i++) m1[i] = 0.1 * i, m2[i] = 1 - 0.3 * i;
    CHECK_STATUS(vf_gaussian_w2sq(D, m1, s, m2, t, &w12), VF_OK);
    CHECK_STATUS(vf_gaussian_w2sq(D, m2, t, m1, s, &w21), VF_OK);
    CHECK_MSG(fabs(w12 - w21) < 1e-12 * w12, "not symmetric: %.17g %.17g", w12, w21);
    /* rotate by Q = a product of Givens rotations: Q S Q^T, Q t Q^T, Q m */
    double q[D * D], tmp[D * D], rs[D * D], rt[D * D], rm1[D], rm2[D], wr;
    for (int k = 0; k < D * D; k++) q[k] = (k / D == k % D);
    for (int p = 0; p + 1 < D; p++) {
        double c = cos(0.7 + p), sn = sin(0.7 + p);
        for (int k = 0; k < D; k++) {
            double a = q[p * D + k], b = q[(p + 1) * D + k];
            q[p * D + k] = c * a - sn * b;
            q[(p + 1) * D + k] = sn * a + c * b;
        }
    }
    const double *src[2] = {s, t};
    double *dst[2] = {rs, rt};
    for (int z = 0; z < 2; z++) {
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++) {
                double acc = 0;
                for (int k = 0; k < D; k++) acc += q[i * D + k] * src[z][k * D + j];
                tmp[i * D + j] = acc;
            }
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++) {
                double acc = 0;
                for (int k = 0; k < D; k++) acc += tmp[i * D + k] * q[j * D + k];
                dst[z][i * D + j] = acc;
            }
        for (int i = 0; i < D; i++) /* exact symmetry, as a caller's covariance would have */
            for (int j = 0; j < i; j++) dst[z][i * D + j] = dst[z][j * D + i];
    }
    for (int i = 0; i < D; i++) {
        rm1[i] = rm2[i] = 0;
        for (int k = 0; k < D; k++) rm1[i] += q[i * D + k] * m1[k], rm2[i] += q[i * D + k] * m2[k];
    }
    CHECK_STATUS(vf_gaussian_w2sq(D, rm1, rs, rm2, rt, &wr), VF_OK);
    CHECK_MSG(fabs(wr - w12) < 1e-11 * w12, "rotation changed W2^2: %.17g %.17g", wr, w12);
}

/* The sample front end: the same as vf_gaussian_w2sq on moments computed here; a translated sample
 * gives exactly |shift|^2. */
static void test_samples(void)
{
    enum { N = 200, M = 150, D = 3 };
    static vf_real x[N * D], y[M * D], xs[N * D];
    vf_rng r;
    vf_rng_init(&r, 11, 0);
    vf_rng_normal_fill(&r, x, N * D, 0, 1);
    vf_rng_normal_fill(&r, y, M * D, 0.5, 2);
    double mx[D] = {0}, my[D] = {0}, sx[D * D] = {0}, sy[D * D] = {0}, want, got;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < D; k++) mx[k] += x[i * D + k] / (double)N;
    for (int i = 0; i < M; i++)
        for (int k = 0; k < D; k++) my[k] += y[i * D + k] / (double)M;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < D; k++)
            for (int l = 0; l < D; l++) sx[k * D + l] += (x[i * D + k] - mx[k]) * (x[i * D + l] - mx[l]) / (N - 1);
    for (int i = 0; i < M; i++)
        for (int k = 0; k < D; k++)
            for (int l = 0; l < D; l++) sy[k * D + l] += (y[i * D + k] - my[k]) * (y[i * D + l] - my[l]) / (M - 1);
    CHECK_STATUS(vf_gaussian_w2sq(D, mx, sx, my, sy, &want), VF_OK);
    CHECK_STATUS(vf_gaussian_w2sq_samples(N, M, D, x, y, &got), VF_OK);
    CHECK_MSG(fabs(got - want) < 1e-9 * want, "%.17g vs %.17g", got, want);
    const double shift[D] = {0.5, -1, 0.25};
    for (int i = 0; i < N; i++)
        for (int k = 0; k < D; k++) xs[i * D + k] = (vf_real)(x[i * D + k] + shift[k]);
    double sh2 = 0; /* |mean shift|^2 as the rounded vf_real data carry it */
    for (int k = 0; k < D; k++) {
        double a = 0, b = 0;
        for (int i = 0; i < N; i++) a += xs[i * D + k], b += x[i * D + k];
        sh2 += (a - b) / N * ((a - b) / N);
    }
    CHECK_STATUS(vf_gaussian_w2sq_samples(N, N, D, x, xs, &got), VF_OK);
    CHECK_MSG(fabs(got - sh2) < (sizeof(vf_real) == 4 ? 1e-5 : 1e-12), "translated: %.10g vs %.10g", got, sh2);
}

static void test_errors(void)
{
    double m[2] = {0, 0}, good[4] = {1, 0.2, 0.2, 1}, asym[4] = {1, 0.2, 0.3, 1}, indef[4] = {1, 2, 2, 1}, w;
    CHECK(vf_gaussian_w2sq(2, m, asym, m, good, &w) == VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "not symmetric") != NULL);
    CHECK(vf_gaussian_w2sq(2, m, indef, m, good, &w) == VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "positive semi-definite") != NULL);
    CHECK(vf_gaussian_w2sq(2, m, good, m, indef, &w) == VF_ERR_ARG);
    good[1] = good[2] = NAN;
    CHECK(vf_gaussian_w2sq(2, m, good, m, good, &w) == VF_ERR_ARG);
    CHECK(vf_gaussian_w2sq(0, m, good, m, good, &w) == VF_ERR_ARG);
    vf_real x[4] = {0, 1, 2, 3};
    CHECK(vf_gaussian_w2sq_samples(1, 2, 2, x, x, &w) == VF_ERR_ARG);
}

int main(void)
{
    RUN(test_one_dim_and_diagonal);
    RUN(test_two_dim_identity);
    RUN(test_dense);
    RUN(test_samples);
    RUN(test_errors);
    return vf_test_summary();
}
