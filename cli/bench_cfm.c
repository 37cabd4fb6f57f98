/* bench_cfm.c — `varflow bench cfm`: the flow-matching workloads of issue 4's speed targets, d = 2:
 *   cfm_train        one I-CFM training step at batch 512 of the vector field MLP 3 -> 256 -> 256 -> 256
 *                    -> 2 (SiLU; time as an input column): path sampling, loss, backward, Adam (steps/s)
 *   cfm_train_gflops that rate times 6 batch sum(in out) FLOPs (the engine suite's convention)
 *   cfm_train_vs_sgemm  that as a fraction of the sgemm rate of the same run
 *   cfm_sample       transport of 10,000 N(0, I) points by 100 Euler steps through the field (calls/s)
 * The targets are N(0, I) too (the field's values do not change the work). --quick: 1024 points and
 * short rounds.
 */
#include <math.h>
#include <string.h>
#include "bench_util.h"
#include "internal.h"

enum { CFM_D = 2, CFM_BATCH = 512, CFM_WIDTH = 256, CFM_POINTS = 10000, CFM_QUICK_POINTS = 1024, CFM_STEPS = 100 };

typedef struct cfm_bench {
    vf_params *p;
    vf_vfield *v;
    vf_tape *t;
    vf_adam *opt;
    vf_path path;
    vf_rng rng;
    vf_real *x0, *x1, *tm, *z; /* one batch */
    vf_real *x;                /* [points, d] */
    int64_t points;
} cfm_bench;

static void cfm_bench_free(cfm_bench *b)
{
    vf_adam_free(b->opt);
    vf_vfield_free(b->v);
    vf_params_free(b->p);
    vf_tape_free(b->t);
    vf_free(b->x0);
    vf_free(b->x1);
    vf_free(b->tm);
    vf_free(b->z);
    vf_free(b->x);
    memset(b, 0, sizeof *b);
}

static vf_status cfm_bench_init(cfm_bench *b, uint64_t seed, int64_t points)
{
    memset(b, 0, sizeof *b);
    b->points = points;
    vf_vfield_params vp = vf_vfield_default_params(CFM_D);
    vp.time = VF_TIME_INPUT;
    vp.n_hidden = 3;
    vp.hidden[0] = vp.hidden[1] = vp.hidden[2] = CFM_WIDTH;
    vp.act = VF_ACT_SILU;
    vf_adam_params ap = vf_adam_default_params();
    b->path = vf_path_default(VF_PATH_LINEAR);
    b->path.sigma = 0.1;
    b->p = vf_params_new();
    b->t = vf_tape_new();
    size_t batch = (size_t)CFM_BATCH * CFM_D;
    b->x0 = vf_malloc(batch * sizeof *b->x0);
    b->x1 = vf_malloc(batch * sizeof *b->x1);
    b->z = vf_malloc(batch * sizeof *b->z);
    b->tm = vf_malloc((size_t)CFM_BATCH * sizeof *b->tm);
    b->x = vf_malloc((size_t)points * CFM_D * sizeof *b->x);
    vf_status s = VF_ERR_NOMEM;
    if (!b->p || !b->t || !b->x0 || !b->x1 || !b->z || !b->tm || !b->x) goto fail;
    if ((s = vf_vfield_new(b->p, "field", &vp, &b->v)) != VF_OK) goto fail;
    if ((s = vf_params_finalize(b->p, seed)) != VF_OK) goto fail;
    if ((s = vf_adam_new(vf_params_size(b->p), &ap, &b->opt)) != VF_OK) goto fail;
    vf_rng_init(&b->rng, seed, 9);
    return VF_OK;
fail:
    cfm_bench_free(b);
    return s;
}

/* A fresh batch (source, target, times, noise), the loss, backward, Adam. */
static int train_step(void *ctx)
{
    cfm_bench *b = ctx;
    size_t batch = (size_t)CFM_BATCH * CFM_D;
    vf_rng_normal_fill(&b->rng, b->x0, batch, 0.0, 1.0);
    vf_rng_normal_fill(&b->rng, b->x1, batch, 0.0, 1.0);
    vf_rng_normal_fill(&b->rng, b->z, batch, 0.0, 1.0);
    vf_rng_uniform_fill(&b->rng, b->tm, CFM_BATCH, 0.0, 1.0);
    vf_cfm_batch cb = {CFM_BATCH, CFM_D, b->x0, b->x1, b->tm, b->z, NULL, NULL};
    vf_params_zero_grad(b->p);
    vf_tape_reset(b->t);
    vf_var loss = vf_cfm_loss(b->v, b->p, b->t, &b->path, &cb);
    if (vf_backward(b->t, loss) != VF_OK || !isfinite((double)vf_value(b->t, loss)->data[0])) return -1;
    return vf_adam_step(b->opt, vf_params_values(b->p), vf_params_grads(b->p)) == VF_OK ? 0 : -1;
}

static int sample_call(void *ctx)
{
    cfm_bench *b = ctx;
    vf_rng_normal_fill(&b->rng, b->x, (size_t)b->points * CFM_D, 0.0, 1.0);
    vf_ode_options o = vf_ode_default_options();
    o.solver = VF_SOLVER_EULER;
    o.steps = CFM_STEPS;
    return vf_cfm_transport(b->v, b->p, b->t, b->points, b->x, NULL, NULL, 0.0, 1.0, &o, NULL) == VF_OK ? 0 : -1;
}

int bench_suite_cfm(bench_out *o, int threads, int quick, uint64_t seed)
{
    double sgemm = 0, rate = 0;
    if (bench_sgemm(quick, &sgemm)) return cli_runtime_error("bench", "sgemm: %s", vf_last_error());
    char extra[512];
    char backend[128];
    snprintf(extra, sizeof extra, "\"threads\":%d,%s", threads, bench_backend_keys(backend, sizeof backend));
    bench_emit(o, "sgemm", sgemm, "GFLOP/s", extra);
    cfm_bench b;
    if (cfm_bench_init(&b, seed, quick ? CFM_QUICK_POINTS : CFM_POINTS) != VF_OK)
        return cli_runtime_error("bench", "cfm: %s", vf_last_error());
    const char *common = "\"d\":2,\"layers\":\"3-256-256-256-2\",\"act\":\"silu\",\"path\":\"linear\",\"sigma\":0.1";
    int rc = 0;
    if (bench_rate(train_step, &b, 10, quick ? 3 : 5, quick ? 0.05 : 0.6, &rate) != 0) {
        rc = cli_runtime_error("bench", "cfm_train: %s", vf_last_error()[0] ? vf_last_error() : "non-finite loss");
    } else {
        /* 6 batch sum(in out): forward plus the two backward products per layer */
        double flops = 6.0 * CFM_BATCH * (3.0 * CFM_WIDTH + 2.0 * CFM_WIDTH * CFM_WIDTH + CFM_WIDTH * 2.0);
        snprintf(extra, sizeof extra, "%s,\"batch\":%d,\"optimizer\":\"adam\",\"threads\":%d,\"real\":\"%s\","
                 "\"backend\":\"%s\",\"sgemm_gflops\":%.6g", common, CFM_BATCH, threads,
                 VF_USE_DOUBLE ? "double" : "float", vf__gemm_backend(), sgemm);
        bench_emit(o, "cfm_train", rate, "steps/s", extra);
        snprintf(extra, sizeof extra, "\"flops_per_step\":%.0f,\"threads\":%d", flops, threads);
        bench_emit(o, "cfm_train_gflops", rate * flops * 1e-9, "GFLOP/s", extra);
        snprintf(extra, sizeof extra, "\"sgemm_gflops\":%.6g,\"threads\":%d", sgemm, threads);
        bench_emit(o, "cfm_train_vs_sgemm", rate * flops * 1e-9 / sgemm, "ratio", extra);
    }
    if (rc == 0 && bench_rate(sample_call, &b, 1, quick ? 3 : 5, quick ? 0.05 : 0.6, &rate) != 0)
        rc = cli_runtime_error("bench", "cfm_sample: %s", vf_last_error());
    if (rc == 0) {
        snprintf(extra, sizeof extra, "%s,\"solver\":\"euler\",\"steps\":%d,\"rows\":%lld,\"threads\":%d,\"real\":\"%s\","
                 "\"backend\":\"%s\",\"sgemm_gflops\":%.6g", common, CFM_STEPS, (long long)b.points, threads,
                 VF_USE_DOUBLE ? "double" : "float", vf__gemm_backend(), sgemm);
        bench_emit(o, "cfm_sample", rate, "calls/s", extra);
    }
    cfm_bench_free(&b);
    return rc;
}
