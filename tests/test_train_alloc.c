/* test_train_alloc.c — out of memory in the one-call training API: with each allocation in turn
 * failing, vf_fit_table (a flow and a continuous flow) and vf_vi_run return VF_ERR_NOMEM with a
 * message (or succeed when the failure was recovered from), leave no handle and leak nothing. */
#include <math.h>
#include <string.h>
#include <varflow.h>
#include "alloc_fail.h"
#include "vf_test.h"

#define N 40

static vf_real x[2 * N];

static vf_status fit_scenario(void *ctx)
{
    const char *spec = ctx;
    vf_fit_table_options o = vf_fit_table_default_options();
    o.fit.epochs = 1;
    o.fit.batch = 16;
    o.nll_rows = 4;
    vf_fitted *m = NULL;
    vf_fit_result r;
    vf_status s = vf_fit_table(spec, x, N, 2, NULL, 0, NULL, 0, NULL, &o, &m, &r);
    if (s == VF_OK && (!m || vf_fitted_dim(m) != 2 || !vf_fitted_meta_get(m, "fit.train_nll"))) s = VF_ERR_STATE;
    if (s != VF_OK && m) s = VF_ERR_STATE; /* a failure leaves no handle */
    vf_fitted_free(m);
    return s;
}

static vf_status vi_scenario(void *ctx)
{
    vf_target *t = ctx;
    vf_vi_run_options o = vf_vi_run_default_options();
    o.vi.steps = 2;
    o.vi.batch = 8;
    o.is_samples = 30;
    vf_fitted *m = NULL;
    vf_vi_summary s;
    vf_status st = vf_vi_run(t, "realnvp:transforms=1,hidden=4x1", &o, &m, &s);
    if (st == VF_OK && (!m || !vf_fitted_meta_get(m, "vi.log_z"))) st = VF_ERR_STATE;
    if (st != VF_OK && m) st = VF_ERR_STATE;
    vf_fitted_free(m);
    return st;
}

static void test_sweeps(void)
{
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    for (int i = 0; i < 2 * N; i++) x[i] = (vf_real)vf_rng_normal(&r);
    af_install(0, 0);
    CHECK_STATUS(fit_scenario("realnvp:transforms=1,hidden=4x1"), VF_OK);
    af_remove();
    CHECK_MSG(af.calls > 20, "only %ld allocations go through the hooks", af.calls); /* the sweep below covers them */
    CHECK(af_sweep("vf_fit_table (flow)", fit_scenario, "realnvp:transforms=1,hidden=4x1", 0) == 0);
    CHECK(af_sweep("vf_fit_table (continuous flow)", fit_scenario, "cfm:hidden=4x1", 0) == 0);
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=2", &t), VF_OK);
    CHECK(af_sweep("vf_vi_run", vi_scenario, &t, 0) == 0);
    vf_target_free(&t);
}

int main(void)
{
    RUN(test_sweeps);
    return vf_test_summary();
}
