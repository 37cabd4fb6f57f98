/* test_target_batch.c — targets with a batch log-density (vf_target.log_prob_batch): the same
 * correlated Gaussian written point by point and as a batch gives bit-identical results through
 * vf_target_scores, a VI fit (rkl and fab), the importance-sampling draws and MCMC (mala, neutra-hmc),
 * with the point function never called on the batch target's paths; non-finite rows are kept from
 * the target where the callers skip them; a failing batch is VF_ERR_NUMERIC naming the target. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "counted_gauss.h"
#include "vf_test.h"
#include "vi/vi_internal.h"

static void test_scores(void)
{
    counted_gauss cp, cb;
    vf_target tp = counted_gauss_target(&cp, 0), tb = counted_gauss_target(&cb, 1);
    vf_real x[10] = {0.1f, -0.4f, 1.5f, 2.0f, -3.0f, 0.25f, 0.0f, 0.0f, 7.0f, -6.5f};
    double lp[5], lb[5], gp[10], gb[10];
    CHECK_STATUS(vf_target_scores(&tp, 5, x, lp, gp), VF_OK);
    CHECK_STATUS(vf_target_scores(&tb, 5, x, lb, gb), VF_OK);
    CHECK(memcmp(lp, lb, sizeof lp) == 0 && memcmp(gp, gb, sizeof gp) == 0);
    CHECK(cp.point == 5 && cb.point == 0 && cb.batch == 1 && cb.rows == 5);
    CHECK_STATUS(vf_target_scores(&tb, 5, x, lb, NULL), VF_OK); /* values only */
    CHECK(memcmp(lp, lb, sizeof lp) == 0 && cb.batch == 2);
    cb.fail_at = cb.batch + 1; /* the next batch fails */
    CHECK_STATUS(vf_target_scores(&tb, 5, x, lb, gb), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "batched") && strstr(vf_last_error(), "returned 7"));
        /* the checks of every row still apply: -inf with a gradient is outside the support */
    vf_real far[4] = {0, 0, (vf_real)INFINITY, 0};
    CHECK_STATUS(vf_target_scores(&tb, 2, far, lb, gb), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "row 1") != NULL);
}

/* vf__target_eval with skip_nonfinite: the target sees only the finite rows, in order. */
static void test_nonfinite_rows(void)
{
    counted_gauss cp, cb;
    vf_target tp = counted_gauss_target(&cp, 0), tb = counted_gauss_target(&cb, 1);
    double x[8] = {0.5, 0.5, NAN, 1.0, 1.0, -INFINITY, -1.0, 2.0};
    double lp[4], lb[4], gp[8], gb[8];
    CHECK_STATUS(vf__target_eval(&tp, 4, x, lp, gp, 1), VF_OK);
    CHECK_STATUS(vf__target_eval(&tb, 4, x, lb, gb, 1), VF_OK);
    CHECK(cp.point == 2 && cb.rows == 2 && cb.bad_rows == 0 && cb.batch == 1);
    CHECK(memcmp(lp, lb, sizeof lp) == 0 && memcmp(gp, gb, sizeof gp) == 0);
    CHECK(lb[1] == -INFINITY && lb[2] == -INFINITY && gb[2] == 0 && gb[5] == 0 && isfinite(lb[3]));
    CHECK_STATUS(vf__target_eval(&tb, 4, x, lb, NULL, 0), VF_OK); /* not skipped: all four rows */
    CHECK(cb.rows == 6 && cb.bad_rows == 2);
    double all_bad[2] = {NAN, NAN};
    CHECK_STATUS(vf__target_eval(&tb, 1, all_bad, lb, gb, 1), VF_OK);
    CHECK(lb[0] == -INFINITY && cb.batch == 2); /* no call for zero rows */
}

/* A coupling flow fitted by objective obj for a few steps, then its parameters and 300 IS draws. */
static void vi_run(vf_target *t, vf_vi_objective obj, vf_real *params, int64_t *size, double *logw)
{
    vf_params *p = vf_params_new();
    vf_flow *f = NULL;
    CHECK_STATUS(vf_flow_from_spec("realnvp:transforms=2,hidden=8x1", 2, 0, p, &f), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 3), VF_OK);
    vf_vi *v = NULL;
    CHECK_STATUS(vf_vi_new(f, p, t, &v), VF_OK);
    vf_vi_options o = vf_vi_default_options();
    o.steps = 12, o.batch = 32, o.objective = obj, o.seed = 4, o.patience = 2, o.valid_every = 4, o.valid_draws = 64;
    vf_vi_result r;
    CHECK_STATUS(vf_vi_train(v, p, &o, NULL, &r), VF_OK);
    *size = vf_params_size(p);
    memcpy(params, vf_params_values(p), sizeof(vf_real) * (size_t)*size);
    vf_rng rng;
    vf_rng_init(&rng, 9, 0);
    CHECK_STATUS(vf_vi_draw(v, 300, &rng, NULL, logw, NULL, NULL), VF_OK);
    vf_vi_free(v);
    vf_flow_free(f);
    vf_params_free(p);
}

static void test_vi_same_bits(void)
{
    static vf_real pp[4096], pb[4096];
    double wp[300], wb[300];
    vf_vi_objective objs[3] = {VF_VI_RKL, VF_VI_CHI2, VF_VI_FAB};
    for (int k = 0; k < 3; k++) {
        counted_gauss cp, cb;
        vf_target tp = counted_gauss_target(&cp, 0), tb = counted_gauss_target(&cb, 1);
        int64_t np = 0, nb = 0;
        vi_run(&tp, objs[k], pp, &np, wp);
        vi_run(&tb, objs[k], pb, &nb, wb);
        CHECK_MSG(np == nb && np < 4096 && memcmp(pp, pb, sizeof(vf_real) * (size_t)np) == 0,
                  "%s: the batch target's fit differs", vf_vi_objective_name(objs[k]));
        CHECK(memcmp(wp, wb, sizeof wp) == 0);
        CHECK_MSG(cb.point == 0 && cb.batch > 0 && cp.point == cb.rows, "%s: %ld point calls, %ld batches of %ld rows",
                  vf_vi_objective_name(objs[k]), cb.point, cb.batch, cb.rows);
    }
}

static void mcmc_run(vf_target *t, vf_mcmc_sampler s, vf_real *draws)
{
    vf_params *p = NULL;
    vf_flow *f = NULL;
    if (vf_mcmc_sampler_needs_flow(s)) {
        p = vf_params_new();
        CHECK_STATUS(vf_flow_from_spec("realnvp:transforms=2,hidden=8x1", 2, 0, p, &f), VF_OK);
        CHECK_STATUS(vf_params_finalize(p, 5), VF_OK);
    }
    vf_mcmc_params mp = vf_mcmc_default_params(s);
    mp.chains = 3, mp.warmup = 20, mp.seed = 6;
    CHECK_STATUS(vf_mcmc_run(t, f, p, &mp, 30, draws, NULL), VF_OK);
    vf_flow_free(f);
    vf_params_free(p);
}

static void test_mcmc_same_bits(void)
{
    vf_mcmc_sampler ss[3] = {VF_MCMC_MALA, VF_MCMC_NEUTRA_HMC, VF_MCMC_ISIR};
    for (int k = 0; k < 3; k++) {
        vf_real dp[180], db[180];
        counted_gauss cp, cb;
        vf_target tp = counted_gauss_target(&cp, 0), tb = counted_gauss_target(&cb, 1);
        mcmc_run(&tp, ss[k], dp);
        mcmc_run(&tb, ss[k], db);
        CHECK_MSG(memcmp(dp, db, sizeof dp) == 0, "%s: the batch target's chains differ", vf_mcmc_sampler_name(ss[k]));
        CHECK_MSG(cb.point == 0 && cb.batch > 0, "%s: %ld point calls, %ld batches", vf_mcmc_sampler_name(ss[k]),
                  cb.point, cb.batch);
    }
    counted_gauss cb;
    vf_target tb = counted_gauss_target(&cb, 1);
    cb.fail_at = cb.batch + 1; /* the next batch fails */
    vf_real d[180];
    vf_mcmc_params mp = vf_mcmc_default_params(VF_MCMC_MALA);
    mp.chains = 3, mp.warmup = 5;
    CHECK_STATUS(vf_mcmc_run(&tb, NULL, NULL, &mp, 10, d, NULL), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "batch log-density") != NULL);
}

int main(void)
{
    RUN(test_scores);
    RUN(test_nonfinite_rows);
    RUN(test_vi_same_bits);
    RUN(test_mcmc_same_bits);
    return vf_test_summary();
}
