/* bench_vi.c — `varflow bench vi`: the variational-inference workload of issue 5's speed target:
 *   vi_rkl_step   one reverse-KL step on the u1 energy: 256 draws through a coupling spline flow
 *                 (nsf_coupling: 8 transforms, hidden 64x2, 8 bins, bound 5 — the `varflow vi`
 *                 default), the target's log-density and gradient, backward, Adam (steps/s)
 *   vi_path_step  the same with the path (sticking-the-landing) gradient, which adds a density-
 *                 direction pass and its backward (steps/s)
 * Compare with bench/torch_vi.py (the same step in PyTorch with zuko-style code). --quick: short
 * rounds. */
#include <math.h>
#include <string.h>
#include "bench_util.h"
#include "internal.h"

#define VI_BENCH_FLOW "nsf_coupling:transforms=8,hidden=64x2,bins=8,bound=5"
enum { VI_BENCH_BATCH = 256 };

typedef struct vi_bench {
    vf_target target;
    vf_params *p;
    vf_flow *f;
    vf_vi *v;
    vf_adam *opt;
    vf_rng rng;
    vf_vi_objective obj;
} vi_bench;

static void vi_bench_free(vi_bench *b)
{
    vf_adam_free(b->opt);
    vf_vi_free(b->v);
    vf_flow_free(b->f);
    vf_params_free(b->p);
    vf_target_free(&b->target);
    memset(b, 0, sizeof *b);
}

static vf_status vi_bench_init(vi_bench *b, uint64_t seed)
{
    memset(b, 0, sizeof *b);
    vf_adam_params ap = vf_adam_default_params();
    vf_status s = vf_target_from_spec("u1", &b->target);
    if (s == VF_OK && !(b->p = vf_params_new())) s = VF_ERR_NOMEM;
    if (s == VF_OK) s = vf_flow_from_spec(VI_BENCH_FLOW, 2, 0, b->p, &b->f);
    if (s == VF_OK) s = vf_params_finalize(b->p, seed);
    if (s == VF_OK) s = vf_vi_new(b->f, b->p, &b->target, &b->v);
    if (s == VF_OK) s = vf_adam_new(vf_params_size(b->p), &ap, &b->opt);
    if (s != VF_OK) vi_bench_free(b);
    vf_rng_init(&b->rng, seed, 17);
    return s;
}

static int step(void *ctx)
{
    vi_bench *b = ctx;
    double loss;
    vf_params_zero_grad(b->p);
    if (vf_vi_grad(b->v, b->obj, VI_BENCH_BATCH, &b->rng, &loss) != VF_OK || !isfinite(loss)) return -1;
    return vf_adam_step(b->opt, vf_params_values(b->p), vf_params_grads(b->p)) == VF_OK ? 0 : -1;
}

int bench_suite_vi(bench_out *o, int threads, int quick, uint64_t seed)
{
    vi_bench b;
    if (vi_bench_init(&b, seed) != VF_OK) return cli_runtime_error("bench", "vi: %s", vf_last_error());
    char extra[512];
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        double rate = 0;
        b.obj = k == 0 ? VF_VI_RKL : VF_VI_PATH;
        if (bench_rate(step, &b, 10, quick ? 3 : 5, quick ? 0.05 : 0.6, &rate) != 0) {
            rc = cli_runtime_error("bench", "vi: %s", vf_last_error()[0] ? vf_last_error() : "non-finite loss");
            break;
        }
        snprintf(extra, sizeof extra, "\"target\":\"u1\",\"flow\":\"%s\",\"batch\":%d,\"objective\":\"%s\","
                 "\"optimizer\":\"adam\",\"threads\":%d,\"real\":\"%s\",\"backend\":\"%s\"", VI_BENCH_FLOW,
                 VI_BENCH_BATCH, vf_vi_objective_name(b.obj), threads, VF_USE_DOUBLE ? "double" : "float",
                 vf__gemm_backend());
        bench_emit(o, k == 0 ? "vi_rkl_step" : "vi_path_step", rate, "steps/s", extra);
    }
    vi_bench_free(&b);
    return rc;
}
