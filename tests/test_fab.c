/* test_fab.c — the fab objective of vf_vi_grad (src/vi/fab.c): on a Gaussian target that an
 * elementwise-affine flow can match exactly, FAB training from a wrong start reaches the target's
 * mean and scale (the minimizer of the alpha = 2 divergence is p); FAB's negative-ELBO report; a
 * changed batch size is refused; the objective's name; its state for checkpoints; and the AIS weights: their mean estimates
 * the integral of p^2 / q, known in closed form for Gaussians, within its standard error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "alloc_fail.h"
#include "vf_test.h"
#include "vi/vi_internal.h"

/* A 2-D flow N(0, I) -> one elementwise affine (identity at first), finalized. */
static void affine_flow(vf_params **p, vf_flow **f)
{
    *p = vf_params_new();
    vf_dist *base = NULL;
    vf_transform *tr = NULL;
    CHECK_STATUS(vf_dist_normal_new(2, 0, &base), VF_OK);
    vf_elementwise_affine_params ap = vf_elementwise_affine_default_params(2);
    CHECK_STATUS(vf_elementwise_affine_new(*p, "transforms.0", &ap, &tr), VF_OK);
    CHECK_STATUS(vf_flow_new(base, 1, &tr, f), VF_OK);
    CHECK_STATUS(vf_params_finalize(*p, 1), VF_OK);
}

/* q = N(0, s^2 I) (base N(0, I), affine with log_scale -log s), p = N(m 1, I) in d = 2:
 * integral of p^2 / q = prod over coordinates of s / sqrt(2a) exp(m^2 (1/a - 1)), a = 1 - 1/(2 s^2). */
static void test_ais_weights(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=2,rho=0,mu=0.5", &t), VF_OK);
    vf_params *p = NULL;
    vf_flow *f = NULL;
    affine_flow(&p, &f);
    double s = 1.5, m = 0.5, a = 1 - 1 / (2 * s * s);
    vf_real *ls = vf_params_data(p, vf_params_find(p, "transforms.0.log_scale"));
    ls[0] = ls[1] = (vf_real)(-log(s));
    double want = 2 * (log(s / sqrt(2 * a)) + m * m * (1 / a - 1));
    vf__fab *fb = NULL;
    CHECK_STATUS(vf__fab_new(f, p, &t, &fb), VF_OK);
    int64_t n = 2000;
    double *logw = malloc(sizeof(double) * (size_t)n);
    vf_rng r;
    vf_rng_init(&r, 4, 0);
    for (int rep = 0; rep < 3; rep++) { /* the first calls adapt the step sizes */
        CHECK_STATUS(vf__fab_ais(fb, n, &r, NULL, NULL, logw), VF_OK);
    }
    vf_is_stats st;
    CHECK_STATUS(vf_is_summarize(n, logw, &st), VF_OK);
    CHECK_MSG(fabs(st.log_z - want) < 4 * st.log_z_stderr && st.log_z_stderr < 0.05,
              "AIS: log mean w %.4f +- %.4f, want %.4f", st.log_z, st.log_z_stderr, want);
    free(logw);
    vf__fab_free(fb);
    vf_flow_free(f);
    vf_params_free(p);
    vf_target_free(&t);
}

static void test_fab_fits_an_affine_gaussian(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=2,rho=0,mu=1.5", &t), VF_OK);
    vf_params *p = NULL;
    vf_flow *f = NULL;
    affine_flow(&p, &f);
    vf_real *shift = vf_params_data(p, vf_params_find(p, "transforms.0.shift"));
    vf_real *ls = vf_params_data(p, vf_params_find(p, "transforms.0.log_scale"));
    ls[0] = ls[1] = (vf_real)log(2.0); /* q = N(0, 0.5^2 I): too narrow and off by 1.5 */
    vf_vi *v = NULL;
    CHECK_STATUS(vf_vi_new(f, p, &t, &v), VF_OK);
    vf_adam_params op = vf_adam_default_params();
    op.lr = 0.02;
    vf_adam *opt = NULL;
    CHECK_STATUS(vf_adam_new(vf_params_size(p), &op, &opt), VF_OK);
    vf_rng r;
    vf_rng_init(&r, 3, 0);
    double loss = 0, first = 0;
    for (int step = 0; step < 400; step++) {
        vf_params_zero_grad(p);
        CHECK_STATUS(vf_vi_grad(v, VF_VI_FAB, 64, &r, &loss), VF_OK);
        if (step == 0) first = loss;
        vf_adam_step(opt, vf_params_values(p), vf_params_grads(p));
    }
    /* z = x e^ls + shift: mean -shift e^-ls, sd e^-ls; the target has mean 1.5, sd 1 */
    for (int k = 0; k < 2; k++) {
        double sd = exp(-(double)ls[k]), mean = -(double)shift[k] * sd;
        CHECK_MSG(fabs(mean - 1.5) < 0.15 && fabs(sd - 1) < 0.15, "coordinate %d: mean %.3f sd %.3f", k, mean, sd);
    }
    /* -ELBO = KL(q || p) - log Z, log Z = 0: from about 1.5^2 + ... at the start to near 0 */
    CHECK_MSG(first > 2 && loss < 0.2, "negative ELBO %.3f at the start, %.3f at the end", first, loss);
    vf_params_zero_grad(p);
    CHECK_STATUS(vf_vi_grad(v, VF_VI_FAB, 32, &r, &loss), VF_ERR_ARG);
    CHECK(vf_vi_objective_from_name("fab") == VF_VI_FAB && strcmp(vf_vi_objective_name(VF_VI_FAB), "fab") == 0);
    vf_adam_free(opt);
    vf_vi_free(v);
    vf_flow_free(f);
    vf_params_free(p);
    vf_target_free(&t);
}

/* The state for checkpoints: none before the first step; after some steps, restored into a fresh
 * vf_vi, the next steps give the same gradients bit for bit as the original's; malformed or missing
 * arrays, or a restore after stepping, are refused with a message. */
static void test_state_round_trip(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=2", &t), VF_OK);
    vf_params *p = NULL;
    vf_flow *f = NULL;
    affine_flow(&p, &f);
    vf_vi *a = NULL, *b = NULL;
    CHECK_STATUS(vf_vi_new(f, p, &t, &a), VF_OK);
    CHECK_STATUS(vf_vi_new(f, p, &t, &b), VF_OK);
    vf__state_array arr[8];
    CHECK(vf__vi_state(a, arr, 8) == 0);
    vf_rng r;
    vf_rng_init(&r, 5, 0);
    for (int i = 0; i < 6; i++) CHECK_STATUS(vf_vi_grad(a, VF_VI_FAB, 16, &r, NULL), VF_OK);
    int n = vf__vi_state(a, arr, 8);
    CHECK(n == VF__FAB_STATE_ARRAYS && vf__vi_state(a, arr, 4) == 0);
    CHECK(arr[0].numel == 3 && arr[0].data[0] == 16 && arr[0].data[1] == 96 && arr[2].numel == 96 * 2);
    /* refusals: a missing array, inconsistent counts */
    CHECK_STATUS(vf__vi_restore(b, arr, n - 1, 16), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "fab.logq") != NULL);
    double bad_counts[3] = {16, 96, 5}; /* 96 rows filled but the ring position not after them */
    vf__state_array bad[VF__FAB_STATE_ARRAYS];
    memcpy(bad, arr, sizeof bad);
    bad[0].data = bad_counts;
    CHECK_STATUS(vf__vi_restore(b, bad, n, 16), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "replay buffer") != NULL);
    /* a state of another batch size, and one claiming a batch far too large to allocate (a corrupt
     * checkpoint), are refused before anything is sized by them */
    CHECK_STATUS(vf__vi_restore(b, arr, n, 32), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "batch size 16, this run's is 32") != NULL);
    double huge_counts[3] = {1e15, 96, 0};
    bad[0].data = huge_counts;
    CHECK_STATUS(vf__vi_restore(b, bad, n, 16), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "batch size 1000000000000000") != NULL);
    CHECK_STATUS(vf__vi_restore(b, arr, 0, 16), VF_OK); /* nothing to restore: nothing done */
    CHECK_STATUS(vf__vi_restore(b, arr, n, 16), VF_OK);
    CHECK_STATUS(vf__vi_restore(a, arr, n, 16), VF_ERR_STATE);
    /* the same next steps from both, with the same generator positions */
    int64_t np = vf_params_size(p);
    vf_real *ga = malloc(sizeof *ga * (size_t)np);
    vf_rng ra = r, rb = r;
    for (int i = 0; i < 3 && ga; i++) {
        double la = 0, lb = 0;
        vf_params_zero_grad(p);
        CHECK_STATUS(vf_vi_grad(a, VF_VI_FAB, 16, &ra, &la), VF_OK);
        memcpy(ga, vf_params_grads(p), sizeof *ga * (size_t)np);
        vf_params_zero_grad(p);
        CHECK_STATUS(vf_vi_grad(b, VF_VI_FAB, 16, &rb, &lb), VF_OK);
        CHECK_MSG(la == lb && memcmp(ga, vf_params_grads(p), sizeof *ga * (size_t)np) == 0,
                  "step %d after the restore differs", i);
    }
    free(ga);
    vf_vi_free(a);
    vf_vi_free(b);
    vf_flow_free(f);
    vf_params_free(p);
    vf_target_free(&t);
}

/* Out of memory at every allocation of a vf_vi with the fab objective (three steps, so the buffer
 * path runs too): VF_ERR_NOMEM with a message and nothing leaked. */
typedef struct oom_ctx {
    vf_target t;
    vf_params *p;
    vf_flow *f;
} oom_ctx;

static vf_status oom_scenario(void *ctx)
{
    oom_ctx *o = ctx;
    vf_vi *v = NULL;
    vf_status st = vf_vi_new(o->f, o->p, &o->t, &v);
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    for (int i = 0; i < 6 && st == VF_OK; i++) st = vf_vi_grad(v, VF_VI_FAB, 4, &r, NULL);
    vf_vi_free(v);
    vf_params_zero_grad(o->p);
    return st;
}

static void test_out_of_memory(void)
{
    oom_ctx o;
    CHECK_STATUS(vf_target_from_spec("gauss:d=2", &o.t), VF_OK);
    affine_flow(&o.p, &o.f);
    CHECK(af_sweep("fab", oom_scenario, &o, 0) == 0);
    CHECK(af_sweep("fab", oom_scenario, &o, 1) == 0);
    vf_flow_free(o.f);
    vf_params_free(o.p);
    vf_target_free(&o.t);
}

int main(void)
{
    RUN(test_ais_weights);
    RUN(test_fab_fits_an_affine_gaussian);
    RUN(test_state_round_trip);
    RUN(test_out_of_memory);
    return vf_test_summary();
}
