/* test_mmd.c — the MMD of vf_ot.h: each kernel against a hand-written double loop (biased and
 * unbiased); the Gaussian kernel's closed form for two shifted Gaussians within the Monte Carlo error
 * of the unbiased estimate (measured over repeated draws); the unbiased estimate centred on 0 for
 * equal distributions; the median heuristic; errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "varflow.h"
#include "vf_test.h"

static double k_of(int kernel, double r2, double h)
{
    if (kernel == VF_KERNEL_GAUSSIAN) return exp(-r2 / (2 * h * h));
    if (kernel == VF_KERNEL_LAPLACE) return exp(-sqrt(r2) / h);
    return pow(1 + r2 / (h * h), -0.5);
}

static void test_against_loops(void)
{
    enum { N = 13, M = 9, D = 3 };
    vf_real x[N * D], y[M * D];
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    vf_rng_normal_fill(&r, x, N * D, 0, 1);
    vf_rng_normal_fill(&r, y, M * D, 0.5, 1);
    for (int kernel = 0; kernel < 3; kernel++)
        for (int unb = 0; unb < 2; unb++) {
            double h = 0.8, sxx = 0, syy = 0, sxy = 0;
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++) {
                    if (unb && i == j) continue;
                    double q = 0;
                    for (int k = 0; k < D; k++) q += ((double)x[i * D + k] - x[j * D + k]) * ((double)x[i * D + k] - x[j * D + k]);
                    sxx += k_of(kernel, q, h);
                }
            for (int i = 0; i < M; i++)
                for (int j = 0; j < M; j++) {
                    if (unb && i == j) continue;
                    double q = 0;
                    for (int k = 0; k < D; k++) q += ((double)y[i * D + k] - y[j * D + k]) * ((double)y[i * D + k] - y[j * D + k]);
                    syy += k_of(kernel, q, h);
                }
            for (int i = 0; i < N; i++)
                for (int j = 0; j < M; j++) {
                    double q = 0;
                    for (int k = 0; k < D; k++) q += ((double)x[i * D + k] - y[j * D + k]) * ((double)x[i * D + k] - y[j * D + k]);
                    sxy += k_of(kernel, q, h);
                }
            double want = sxx / (unb ? N * (N - 1.0) : N * (double)N) + syy / (unb ? M * (M - 1.0) : M * (double)M) -
                          2 * sxy / ((double)N * M);
            double got;
            CHECK_STATUS(vf_mmd2(N, M, D, x, y, (vf_kernel)kernel, h, unb, &got, NULL), VF_OK);
            CHECK_MSG(fabs(got - want) < 1e-12 * (1 + fabs(want)), "kernel %d unbiased %d: %g vs %g", kernel, unb, got, want);
        }
}

/* N(0, s^2 I) against N(mu, s^2 I), Gaussian kernel of bandwidth h:
 * MMD^2 = 2 (h^2 / (h^2 + 2 s^2))^(d/2) (1 - exp(-|mu|^2 / (2 (h^2 + 2 s^2)))). */
static void test_gaussian_closed_form(void)
{
    enum { N = 300, D = 2, R = 20 };
    const double s = 1.0, h = 1.5, mu[D] = {0.6, -0.3};
    double m2 = mu[0] * mu[0] + mu[1] * mu[1];
    double want = 2 * pow(h * h / (h * h + 2 * s * s), D / 2.0) * (1 - exp(-m2 / (2 * (h * h + 2 * s * s))));
    vf_real *x = malloc(N * D * sizeof *x), *y = malloc(N * D * sizeof *y);
    vf_rng r;
    vf_rng_init(&r, 2, 0);
    double est[R], mean = 0, var = 0, null_mean = 0, null_var = 0, null_est[R];
    for (int k = 0; k < R; k++) {
        vf_rng_normal_fill(&r, x, N * D, 0, s);
        vf_rng_normal_fill(&r, y, N * D, 0, s);
        CHECK_STATUS(vf_mmd2(N, N, D, x, y, VF_KERNEL_GAUSSIAN, h, 1, &null_est[k], NULL), VF_OK);
        for (int i = 0; i < N * D; i++) y[i] = (vf_real)((double)y[i] + mu[i % D]);
        CHECK_STATUS(vf_mmd2(N, N, D, x, y, VF_KERNEL_GAUSSIAN, h, 1, &est[k], NULL), VF_OK);
        mean += est[k] / R;
        null_mean += null_est[k] / R;
    }
    for (int k = 0; k < R; k++) {
        var += (est[k] - mean) * (est[k] - mean) / (R - 1);
        null_var += (null_est[k] - null_mean) * (null_est[k] - null_mean) / (R - 1);
    }
    double se = sqrt(var / R), null_se = sqrt(null_var / R);
    CHECK_MSG(fabs(mean - want) < 4 * se, "mean unbiased MMD^2 %g, closed form %g (se %g)", mean, want, se);
    CHECK_MSG(fabs(null_mean) < 4 * null_se, "equal distributions: mean unbiased MMD^2 %g (se %g)", null_mean, null_se);
    /* the biased estimate of one draw exceeds the unbiased one (it adds the diagonal's k = 1 terms) */
    double biased, unbiased;
    CHECK_STATUS(vf_mmd2(N, N, D, x, y, VF_KERNEL_GAUSSIAN, h, 0, &biased, NULL), VF_OK);
    CHECK_STATUS(vf_mmd2(N, N, D, x, y, VF_KERNEL_GAUSSIAN, h, 1, &unbiased, NULL), VF_OK);
    CHECK(biased > unbiased);
    free(x);
    free(y);
}

static void test_median_and_errors(void)
{
    /* three points on a line at 0, 1, 3 (x) and 6 (y): distances 1, 3, 6, 2, 5, 3 -> median 3 */
    vf_real x[3] = {0, 1, 3}, y[1] = {6};
    double out, h;
    CHECK_STATUS(vf_mmd2(3, 1, 1, x, y, VF_KERNEL_LAPLACE, 0, 0, &out, &h), VF_OK);
    CHECK_NEAR(h, 3.0, 1e-12);
    CHECK(vf_mmd2(3, 1, 1, x, y, VF_KERNEL_LAPLACE, 1, 1, &out, NULL) == VF_ERR_ARG); /* unbiased needs m >= 2 */
    CHECK(vf_mmd2(3, 1, 1, x, y, (vf_kernel)7, 1, 0, &out, NULL) == VF_ERR_ARG);
    vf_real same[2] = {1, 1};
    CHECK(vf_mmd2(1, 1, 1, same, same + 1, VF_KERNEL_GAUSSIAN, 0, 0, &out, NULL) == VF_ERR_ARG); /* median 0 */
    x[1] = NAN;
    CHECK(vf_mmd2(3, 1, 1, x, y, VF_KERNEL_IMQ, 1, 0, &out, NULL) == VF_ERR_ARG && strstr(vf_last_error(), "x[1, 0]") != NULL);
    CHECK(vf_kernel_from_name("imq") == VF_KERNEL_IMQ && vf_kernel_from_name("rbf") == -1);
}

/* Values beyond the number range are errors, not a NaN with VF_OK: a bandwidth far too small, costs
 * whose sum overflows, points that are not finite. */
static void test_overflow_is_an_error(void)
{
    vf_real x[4] = {0, 0, 1, 1}, y[4] = {0.5f, 0.5f, 2, 2};
    double out = 0, cost[4];
    CHECK_STATUS(vf_mmd2(2, 2, 2, x, y, VF_KERNEL_GAUSSIAN, 1e-300, 0, &out, NULL), VF_ERR_NUMERIC);
    CHECK_STATUS(vf_mmd2(2, 2, 2, x, y, VF_KERNEL_IMQ, 1e-300, 0, &out, NULL), VF_ERR_NUMERIC);
    double scores[4] = {0, 0, -1, -1};
    vf_ksd_options ko = vf_ksd_default_options();
    ko.kernel = VF_KERNEL_GAUSSIAN;
    ko.bandwidth = 1e-300;
    CHECK_STATUS(vf_ksd(2, 2, x, scores, &ko, &out, NULL), VF_ERR_NUMERIC);
    x[1] = (vf_real)NAN;
    CHECK_STATUS(vf_cost_matrix(2, 2, 2, x, y, VF_COST_SQEUCLIDEAN, cost), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "x[0, 1] is not finite") != NULL);
    const double huge[4] = {1e308, -1e308, -1e308, 1e308};
    int64_t perm[2];
    CHECK_STATUS(vf_assignment_solve(2, huge, perm, &out), VF_ERR_NUMERIC);
    const double a[2] = {1e308, -1e308}, b[2] = {0, 1};
    CHECK_STATUS(vf_energy_distance_1d(2, a, 2, b, &out), VF_ERR_NUMERIC);
}

int main(void)
{
    RUN(test_overflow_is_an_error);
    RUN(test_against_loops);
    RUN(test_gaussian_closed_form);
    RUN(test_median_and_errors);
    return vf_test_summary();
}
