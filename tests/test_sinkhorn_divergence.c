/* test_sinkhorn_divergence.c — the debiased Sinkhorn divergence (vf_sinkhorn_divergence): S(a, a) = 0,
 * S >= 0 and symmetric, |S - W2^2| <= eps log n (exact bounds for uniform weights, since
 * W2^2 <= OT_eps(a, b) <= W2^2 + eps log n and 0 <= OT_eps(a, a) <= eps log n) with the gap shrinking
 * as eps -> 0 against the exact assignment (vf_ot_pairs_sqeuclidean) and ending below 5% of that
 * bound (the debiasing cancels the entropic bias), the large-eps limit
 * |mean x - mean y|^2, and errors. */
#include <math.h>
#include <string.h>
#include "varflow.h"
#include "vf_test.h"

enum { N = 12, D = 2 };

static vf_sinkhorn_options opts(double eps)
{
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.eps = eps;
    o.tol = 1e-10;
    o.max_iter = 1000000;
    return o;
}

static void test_zero_symmetric_nonnegative(void)
{
    vf_real x[N * D], y[(N + 3) * D];
    vf_rng r;
    vf_rng_init(&r, 21, 0);
    vf_rng_normal_fill(&r, x, N * D, 0, 1);
    vf_rng_normal_fill(&r, y, (N + 3) * D, 0.3, 1.5);
    double b[N + 3], sb = 0;
    for (int j = 0; j < N + 3; j++) sb += b[j] = 1 + 0.1 * j;
    for (int j = 0; j < N + 3; j++) b[j] /= sb;
    const double eps_list[3] = {2.0, 0.5, 0.25};
    for (int e = 0; e < 3; e++) {
        vf_sinkhorn_options o = opts(eps_list[e]);
        double s_xx, s_xy, s_yx;
        CHECK_STATUS(vf_sinkhorn_divergence(N, N, D, x, x, NULL, NULL, &o, &s_xx, NULL), VF_OK);
        CHECK_MSG(fabs(s_xx) < 1e-10, "eps %g: S(a, a) = %g", o.eps, s_xx);
        CHECK_STATUS(vf_sinkhorn_divergence(N, N + 3, D, x, y, NULL, b, &o, &s_xy, NULL), VF_OK);
        CHECK_STATUS(vf_sinkhorn_divergence(N + 3, N, D, y, x, b, NULL, &o, &s_yx, NULL), VF_OK);
        CHECK_MSG(s_xy > 0, "eps %g: S = %g", o.eps, s_xy);
        CHECK_MSG(fabs(s_xy - s_yx) < 1e-10 * s_xy, "eps %g: S(x, y) = %.15g, S(y, x) = %.15g", o.eps, s_xy, s_yx);
        /* a small perturbation of x gives a small positive S */
        vf_real xp[N * D];
        for (int k = 0; k < N * D; k++) xp[k] = x[k] + (vf_real)(0.01 * sin(k));
        double s_small;
        CHECK_STATUS(vf_sinkhorn_divergence(N, N, D, x, xp, NULL, NULL, &o, &s_small, NULL), VF_OK);
        CHECK_MSG(s_small >= -1e-12 && s_small < 1e-3, "eps %g: S(x, x + 0.01 sin) = %g", o.eps, s_small);
    }
}

static void test_limits(void)
{
    vf_real x[N * D], y[N * D];
    vf_rng r;
    vf_rng_init(&r, 22, 0);
    vf_rng_normal_fill(&r, x, N * D, 0, 1);
    vf_rng_normal_fill(&r, y, N * D, 1, 1);
    int64_t perm[N];
    double w2;
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(N, D, x, y, perm, &w2), VF_OK);
    const double eps_list[4] = {1, 0.5, 0.2, 0.1};
    double prev = INFINITY;
    for (int e = 0; e < 4; e++) {
        vf_sinkhorn_options o = opts(eps_list[e]);
        double s;
        vf_sinkhorn_result parts[3];
        CHECK_STATUS(vf_sinkhorn_divergence(N, N, D, x, y, NULL, NULL, &o, &s, parts), VF_OK);
        double gap = fabs(s - w2), bound = o.eps * log((double)N);
        CHECK_MSG(gap <= bound, "eps %g: |S - W2^2| = %g > eps log n = %g", o.eps, gap, bound);
        CHECK_MSG(parts[0].objective >= w2 - 1e-12 && parts[0].objective <= w2 + bound + 1e-12,
                  "eps %g: OT_eps = %g, W2^2 = %g", o.eps, parts[0].objective, w2);
        CHECK_MSG(gap < prev, "eps %g: the gap %g did not shrink (previous %g)", o.eps, gap, prev);
        prev = gap;
    }
    /* debiasing removes the eps log n bias that OT_eps keeps: the gap is far inside the bound */
    CHECK_MSG(prev < 0.05 * 0.1 * log((double)N), "eps 0.1: |S - W2^2| = %g, W2^2 = %g", prev, w2);
    /* eps -> infinity: |mean x - mean y|^2 (deviation O(cost^2 / eps)) */
    double mx[D] = {0}, my[D] = {0}, dm2 = 0, s;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < D; k++) mx[k] += (double)x[i * D + k] / N, my[k] += (double)y[i * D + k] / N;
    for (int k = 0; k < D; k++) dm2 += (mx[k] - my[k]) * (mx[k] - my[k]);
    vf_sinkhorn_options o = opts(1e5);
    CHECK_STATUS(vf_sinkhorn_divergence(N, N, D, x, y, NULL, NULL, &o, &s, NULL), VF_OK);
    CHECK_MSG(fabs(s - dm2) < 1e-3 * dm2, "eps 1e5: S = %.10g, |dmean|^2 = %.10g", s, dm2);
}

static void test_errors(void)
{
    vf_real x[4] = {0, 1, 2, NAN};
    double s;
    vf_sinkhorn_options o = opts(0.1);
    CHECK(vf_sinkhorn_divergence(2, 2, 2, x, x, NULL, NULL, &o, &s, NULL) == VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "x[1, 1]") != NULL);
    x[3] = 3;
    o.eps = 0;
    CHECK(vf_sinkhorn_divergence(2, 2, 2, x, x, NULL, NULL, &o, &s, NULL) == VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "eps must be > 0") != NULL);
    CHECK(vf_sinkhorn_divergence(0, 2, 2, x, x, NULL, NULL, &o, &s, NULL) == VF_ERR_ARG);
}

/* Not converged within max_iter: VF_ERR_NUMERIC, and the divergence and the three parts of the last
 * iterates (finite, iteration counts at the limit), as vf_sinkhorn leaves its last iterate. */
static void test_not_converged(void)
{
    vf_real x[6] = {0, 0, 1, 0, 0, 1}, y[6] = {3, 3, 4, 3, 3, 5};
    vf_sinkhorn_options o = opts(0.01);
    o.max_iter = 2;
    double s = NAN;
    vf_sinkhorn_result parts[3];
    memset(parts, 0xff, sizeof parts);
    CHECK(vf_sinkhorn_divergence(3, 3, 2, x, y, NULL, NULL, &o, &s, parts) == VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "2 iterations") != NULL);
    CHECK(isfinite(s));
    for (int k = 0; k < 3; k++) CHECK(isfinite(parts[k].objective) && parts[k].iterations >= 1 && parts[k].iterations <= 2);
    CHECK(fabs(s - (parts[0].objective - 0.5 * parts[1].objective - 0.5 * parts[2].objective)) < 1e-12);
}

int main(void)
{
    RUN(test_zero_symmetric_nonnegative);
    RUN(test_limits);
    RUN(test_errors);
    RUN(test_not_converged);
    return vf_test_summary();
}
