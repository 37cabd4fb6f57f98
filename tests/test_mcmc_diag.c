/* test_mcmc_diag.c — the MCMC diagnostics of vf_mcmc.h: split R-hat, split ESS, rank-normalized R-hat
 * and bulk ESS on a small fixed array (3 chains of 11 draws, with ties and an odd length) against
 * values from an independent implementation of the paper's formulas (direct autocovariance sums, no
 * FFT; tests/golden/mcmc_diag_ref.py); iid normal draws giving ESS ~ S and R-hat ~ 1; AR(1) chains
 * giving the known ESS S (1 - phi) / (1 + phi); chains stuck in different places or drifting giving
 * R-hat >> 1; vf_mcmc_diagnose per coordinate; and argument errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "vf_test.h"

static const double fixed_x[3 * 11] = {
    0.3, -1.2, 0.8, 1.5, -0.4, 0.1, 2.2, -0.9, 0.6, 1.1, -0.2,
    1.9, 2.4,  1.1, 3.0, 2.2,  1.7, 2.8, 2.1,  1.4, 2.6, 2.0,
    0.5, 0.9, -0.3, 1.2, 0.0,  0.7, 1.6, -0.5, 0.2, 0.4, 1.0};

static void test_fixed_array_against_reference(void)
{
    double v;
    CHECK_STATUS(vf_mcmc_split_rhat(3, 11, fixed_x, &v), VF_OK);
    CHECK_NEAR(v, 1.379979640344, 1e-9);
    CHECK_STATUS(vf_mcmc_split_ess(3, 11, fixed_x, &v), VF_OK);
    CHECK_NEAR(v, 8.868341391332, 1e-8);
    CHECK_STATUS(vf_mcmc_rhat(3, 11, fixed_x, &v), VF_OK);
    CHECK_NEAR(v, 1.344760006592, 1e-8);
    CHECK_STATUS(vf_mcmc_ess_bulk(3, 11, fixed_x, &v), VF_OK);
    CHECK_NEAR(v, 9.427698659105, 1e-7);
}

/* m chains of n iid N(0, 1) or AR(1) draws x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t (stationary start). */
static double *ar1(int64_t m, int64_t n, double phi, uint64_t seed)
{
    double *x = malloc(sizeof(double) * (size_t)(m * n));
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    for (int64_t c = 0; c < m; c++) {
        double v = vf_rng_normal(&r);
        for (int64_t i = 0; i < n; i++) {
            if (i > 0) v = phi * v + sqrt(1 - phi * phi) * vf_rng_normal(&r);
            x[c * n + i] = v;
        }
    }
    return x;
}

/* Over 20 other seeds of 4 chains x 4000 iid draws the bulk ESS / S had mean 0.983 and sd 0.028 (the
 * estimate truncates a noisy autocorrelation sum): tolerance 0.13, 4.5 sd; R-hat - 1 had rms 0.0001. */
static void test_iid_normal(void)
{
    int64_t m = 4, n = 4000;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        double *x = ar1(m, n, 0.0, seed), ess, rhat, sess;
        CHECK_STATUS(vf_mcmc_ess_bulk(m, n, x, &ess), VF_OK);
        CHECK_STATUS(vf_mcmc_split_ess(m, n, x, &sess), VF_OK);
        CHECK_STATUS(vf_mcmc_rhat(m, n, x, &rhat), VF_OK);
        CHECK_MSG(fabs(ess / (double)(m * n) - 1) < 0.13, "seed %llu: iid bulk ESS %.1f of %lld", (unsigned long long)seed,
                  ess, (long long)(m * n));
        CHECK_MSG(fabs(sess / (double)(m * n) - 1) < 0.13, "seed %llu: iid split ESS %.1f", (unsigned long long)seed, sess);
        CHECK_MSG(rhat < 1.005 && rhat > 0.995, "seed %llu: iid R-hat %.5f", (unsigned long long)seed, rhat);
        free(x);
    }
}

/* AR(1) with phi = 0.9: integrated autocorrelation time (1 + phi) / (1 - phi) = 19, so ESS = S / 19
 * = 4210.5 for S = 80000. Over 20 other seeds ESS / (S / 19) had mean 0.983 and sd 0.039: tolerance
 * 0.16, 4 sd. */
static void test_ar1_known_ess(void)
{
    int64_t m = 4, n = 20000;
    double want = (double)(m * n) * 0.1 / 1.9;
    for (uint64_t seed = 1; seed <= 2; seed++) {
        double *x = ar1(m, n, 0.9, seed), ess, sess;
        CHECK_STATUS(vf_mcmc_ess_bulk(m, n, x, &ess), VF_OK);
        CHECK_STATUS(vf_mcmc_split_ess(m, n, x, &sess), VF_OK);
        CHECK_MSG(fabs(ess / want - 1) < 0.16, "seed %llu: AR(1) bulk ESS %.1f, want %.1f", (unsigned long long)seed, ess, want);
        CHECK_MSG(fabs(sess / want - 1) < 0.16, "seed %llu: AR(1) split ESS %.1f, want %.1f", (unsigned long long)seed, sess,
                  want);
        free(x);
    }
}

static void test_stuck_and_drifting_chains(void)
{
    int64_t m = 2, n = 500;
    double *x = ar1(m, n, 0.0, 7), rhat, ess;
    for (int64_t i = 0; i < n; i++) x[n + i] += 5; /* chain 1 stuck around 5, chain 0 around 0 */
    double split;
    CHECK_STATUS(vf_mcmc_rhat(m, n, x, &rhat), VF_OK);
    CHECK_STATUS(vf_mcmc_split_rhat(m, n, x, &split), VF_OK);
    /* the ranks bound the rank-normalized R-hat (1.83 here); the raw one is about sqrt(1 + 4 (5/2)^2 / 3) ~ 3 */
    CHECK_MSG(rhat > 1.5 && split > 2.4, "two separated chains: R-hat %.3f, split R-hat %.3f", rhat, split);
    CHECK_STATUS(vf_mcmc_ess_bulk(m, n, x, &ess), VF_OK);
    CHECK_MSG(ess < 20, "two separated chains: ESS %.1f", ess);
    free(x);
    /* one chain drifting: only the split halves see it */
    x = ar1(1, 1000, 0.0, 8);
    for (int64_t i = 0; i < 1000; i++) x[i] += 4.0 * (double)i / 1000;
    CHECK_STATUS(vf_mcmc_rhat(1, 1000, x, &rhat), VF_OK);
    CHECK_MSG(rhat > 1.3, "drifting chain: R-hat %.3f", rhat);
    /* the folded R-hat catches chains with equal means and different scales */
    free(x);
    x = ar1(2, 1000, 0.0, 9);
    for (int64_t i = 0; i < 1000; i++) x[1000 + i] *= 4;
    CHECK_STATUS(vf_mcmc_split_rhat(2, 1000, x, &split), VF_OK);
    CHECK_STATUS(vf_mcmc_rhat(2, 1000, x, &rhat), VF_OK);
    CHECK_MSG(split < 1.01 && rhat > 1.1, "scales 1 and 4: split R-hat %.4f, rank-normalized R-hat %.4f", split, rhat);
    free(x);
}

static void test_diagnose_per_coordinate(void)
{
    int64_t m = 2, n = 400, d = 2;
    double *a = ar1(m, n, 0.0, 11), *b = ar1(m, n, 0.0, 12);
    vf_real *draws = malloc(sizeof(vf_real) * (size_t)(m * n * d));
    for (int64_t i = 0; i < m * n; i++) {
        draws[i * d] = (vf_real)a[i];
        draws[i * d + 1] = (vf_real)(b[i] + (i >= n ? 3 : 0)); /* coordinate 1: chains disagree */
    }
    double rhat[2], ess[2], want;
    CHECK_STATUS(vf_mcmc_diagnose(m, n, d, draws, rhat, ess), VF_OK);
    CHECK(rhat[0] < 1.01 && rhat[1] > 1.5);
    CHECK_STATUS(vf_mcmc_ess_bulk(m, n, a, &want), VF_OK);
    CHECK_NEAR(ess[0], want, 1e-6 * want + (sizeof(vf_real) == 4 ? 0.05 * want : 0));
    free(a);
    free(b);
    free(draws);
}

static void test_errors(void)
{
    double x[8] = {1, 1, 1, 1, 1, 1, 1, 1}, v = 0;
    CHECK_STATUS(vf_mcmc_rhat(2, 4, x, &v), VF_OK);
    CHECK(isnan(v)); /* constant draws */
    CHECK_STATUS(vf_mcmc_ess_bulk(2, 4, x, &v), VF_OK);
    CHECK(isnan(v));
    CHECK_STATUS(vf_mcmc_rhat(2, 3, x, &v), VF_ERR_ARG);
    CHECK_STATUS(vf_mcmc_split_ess(0, 4, x, &v), VF_ERR_ARG);
    CHECK_STATUS(vf_mcmc_ess_bulk(2, 4, NULL, &v), VF_ERR_ARG);
    x[3] = NAN;
    CHECK_STATUS(vf_mcmc_split_rhat(2, 4, x, &v), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "draw 3") != NULL);
}

int main(void)
{
    RUN(test_fixed_array_against_reference);
    RUN(test_iid_normal);
    RUN(test_ar1_known_ess);
    RUN(test_stuck_and_drifting_chains);
    RUN(test_diagnose_per_coordinate);
    RUN(test_errors);
    return vf_test_summary();
}
