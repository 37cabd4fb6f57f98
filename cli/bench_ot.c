/* bench_ot.c — `varflow bench ot`: the optimal-transport workloads of issue 6's speed targets, on
 * x, y = 1000 points each of N(0, I) in 2-D (float build: the points are vf_real), squared-Euclidean
 * cost in double divided by its maximum (as the POT reference, bench/pot_ot.py, does):
 *   ot_emd        exact OT of the uniform measures (network simplex) from the cost matrix (calls/s)
 *   ot_sinkhorn   log-domain Sinkhorn at eps = 0.05 until the L2 norm of the marginal error (POT's
 *                 measure) is below 1e-6, checked every iteration (calls/s)
 *   ot_sw         sliced W2 with 50 random directions, from the points (calls/s)
 *   ot_energy     the sliced energy distance by sorting (100 directions) of n = m = 20,000 points (s)
 *   ot_sbcfm_gaussians, ot_sbcfm_8gaussians_moons
 *                 SB-CFM's coupling of one 512-row training batch as `varflow fit --model sbcfm` draws it
 *                 (vf_coupling_pairs: Sinkhorn by kernel scalings at eps = 0.02 on the unnormalized
 *                 squared distances, marginals to 1e-6 or 1000 iterations, then 512 pairs drawn), on two
 *                 tasks of the [SF]2M table: N(0, I) to sf2m-gaussians (most kernel entries nonzero) and
 *                 sf2m-8gaussians to sf2m-moons7 (separated clusters, about a tenth nonzero) (calls/s)
 * --quick: 200 points (2,000 for the energy distance; 128-row batches) and short rounds.
 */
#include <math.h>
#include <string.h>
#include "bench_util.h"
#include "internal.h"

enum { OT_N = 1000, OT_QUICK_N = 200, OT_ENERGY_N = 20000, OT_QUICK_ENERGY_N = 2000, OT_SW_DIRS = 50,
       OT_ENERGY_SLICES = 100 };
#define OT_EPS 0.05
#define OT_TOL 1e-6
enum { SBCFM_BATCH = 512, SBCFM_QUICK_BATCH = 128, SBCFM_ITERS = 1000 };
#define SBCFM_EPS 0.02 /* 2 sigma^2 at sigma = 0.1 */

typedef struct ot_bench {
    int64_t n;
    vf_real *x, *y;     /* [n, 2] each */
    double *cost;       /* [n, n], normalized by its maximum */
    int64_t sinkhorn_iterations;
    vf_real *ex, *ey;   /* the energy distance's points, [energy_n, 2] each */
    int64_t energy_n;
    double value;
} ot_bench;

static void ot_bench_free(ot_bench *b)
{
    vf_free(b->x);
    vf_free(b->y);
    vf_free(b->cost);
    vf_free(b->ex);
    vf_free(b->ey);
    memset(b, 0, sizeof *b);
}

static vf_status ot_bench_init(ot_bench *b, int64_t n, int64_t energy_n, uint64_t seed)
{
    memset(b, 0, sizeof *b);
    b->n = n;
    b->energy_n = energy_n;
    b->x = vf_malloc((size_t)n * 2 * sizeof *b->x);
    b->y = vf_malloc((size_t)n * 2 * sizeof *b->y);
    b->cost = vf_malloc((size_t)n * (size_t)n * sizeof *b->cost);
    b->ex = vf_malloc((size_t)energy_n * 2 * sizeof *b->ex);
    b->ey = vf_malloc((size_t)energy_n * 2 * sizeof *b->ey);
    if (!b->x || !b->y || !b->cost || !b->ex || !b->ey) {
        ot_bench_free(b);
        return VF_ERR_NOMEM;
    }
    vf_rng r;
    vf_rng_init(&r, seed, 11);
    vf_rng_normal_fill(&r, b->x, (size_t)n * 2, 0.0, 1.0);
    vf_rng_normal_fill(&r, b->y, (size_t)n * 2, 0.0, 1.0);
    vf_rng_normal_fill(&r, b->ex, (size_t)energy_n * 2, 0.0, 1.0);
    vf_rng_normal_fill(&r, b->ey, (size_t)energy_n * 2, 0.0, 1.0);
    if (vf_cost_matrix(n, n, 2, b->x, b->y, VF_COST_SQEUCLIDEAN, b->cost) != VF_OK) {
        ot_bench_free(b);
        return VF_ERR_ARG;
    }
    double max = 0;
    for (size_t k = 0; k < (size_t)n * (size_t)n; k++) max = b->cost[k] > max ? b->cost[k] : max;
    for (size_t k = 0; k < (size_t)n * (size_t)n; k++) b->cost[k] /= max;
    return VF_OK;
}

static int emd_call(void *ctx)
{
    ot_bench *b = ctx;
    return vf_emd_matrix(b->n, b->n, b->cost, NULL, NULL, &b->value, NULL, NULL, NULL) == VF_OK ? 0 : -1;
}

static int sinkhorn_call(void *ctx)
{
    ot_bench *b = ctx;
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.eps = OT_EPS;
    o.tol = OT_TOL;
    o.error_norm = 2;
    vf_sinkhorn_result r;
    if (vf_sinkhorn(b->n, b->n, b->cost, NULL, NULL, &o, NULL, NULL, &r) != VF_OK) return -1;
    b->value = r.transport_cost;
    b->sinkhorn_iterations = r.iterations;
    return 0;
}

static int sw_call(void *ctx)
{
    ot_bench *b = ctx;
    return vf_sliced_wasserstein(b->n, b->n, 2, b->x, b->y, 2, OT_SW_DIRS, 7, &b->value) == VF_OK ? 0 : -1;
}

/* One SB-CFM coupling: a source and a target batch, the pairs as a training step draws them. */
typedef struct sbcfm_bench {
    int64_t n;
    vf_tensor x0, x1; /* [n, 2] each */
    int64_t *i0, *i1; /* [n] each */
    vf_rng rng;
} sbcfm_bench;

static void sbcfm_bench_free(sbcfm_bench *b)
{
    vf_tensor_free(&b->x0);
    vf_tensor_free(&b->x1);
    vf_free(b->i0);
    vf_free(b->i1);
    memset(b, 0, sizeof *b);
}

static vf_status sbcfm_bench_init(sbcfm_bench *b, int64_t n, const char *source, const char *target, uint64_t seed)
{
    memset(b, 0, sizeof *b);
    b->n = n;
    vf_rng_init(&b->rng, seed, 12);
    vf_status s = vf_toy_sample_spec(source, n, &b->rng, &b->x0);
    if (s == VF_OK) s = vf_toy_sample_spec(target, n, &b->rng, &b->x1);
    b->i0 = vf_malloc((size_t)n * sizeof *b->i0);
    b->i1 = vf_malloc((size_t)n * sizeof *b->i1);
    if (s == VF_OK && (!b->i0 || !b->i1)) s = VF_ERR_NOMEM;
    if (s != VF_OK) sbcfm_bench_free(b);
    return s;
}

static int sbcfm_call(void *ctx)
{
    sbcfm_bench *b = ctx;
    vf_coupling c = vf_coupling_default(VF_COUPLING_SINKHORN);
    c.eps = SBCFM_EPS;
    c.max_iter = SBCFM_ITERS;
    return vf_coupling_pairs(&c, b->n, 2, b->x0.data, b->x1.data, NULL, &b->rng, b->i0, b->i1) == VF_OK ? 0 : -1;
}

/* The case `name`: SB-CFM's coupling from toy set `source` to `target`. */
static int sbcfm_case(bench_out *o, const char *name, const char *source, const char *target, int quick, int threads,
                      uint64_t seed)
{
    sbcfm_bench b;
    double rate = 0;
    int64_t n = quick ? SBCFM_QUICK_BATCH : SBCFM_BATCH;
    if (sbcfm_bench_init(&b, n, source, target, seed) != VF_OK)
        return cli_runtime_error("bench", "%s: %s", name, vf_last_error());
    int fail = bench_rate(sbcfm_call, &b, 1, quick ? 3 : 5, quick ? 0.05 : 0.6, &rate) != 0;
    sbcfm_bench_free(&b);
    if (fail) return cli_runtime_error("bench", "%s: %s", name, vf_last_error());
    char extra[512];
    snprintf(extra, sizeof extra,
             "\"n\":%lld,\"d\":2,\"source\":\"%s\",\"target\":\"%s\",\"cost\":\"sqeuclidean\",\"eps\":%g,"
             "\"max_iter\":%d,\"method\":\"scaling\",\"threads\":%d,\"real\":\"%s\"",
             (long long)n, source, target, SBCFM_EPS, SBCFM_ITERS, threads, VF_USE_DOUBLE ? "double" : "float");
    bench_emit(o, name, rate, "calls/s", extra);
    return 0;
}

static int energy_call(void *ctx)
{
    ot_bench *b = ctx;
    return vf_energy_distance(b->energy_n, b->energy_n, 2, b->ex, b->ey, OT_ENERGY_SLICES, 7, &b->value) == VF_OK ? 0
                                                                                                              : -1;
}

int bench_suite_ot(bench_out *o, int threads, int quick, uint64_t seed)
{
    ot_bench b;
    if (ot_bench_init(&b, quick ? OT_QUICK_N : OT_N, quick ? OT_QUICK_ENERGY_N : OT_ENERGY_N, seed) != VF_OK)
        return cli_runtime_error("bench", "ot: %s", vf_last_error());
    const int rounds = quick ? 3 : 5;
    const double seconds = quick ? 0.05 : 0.6;
    const char *real = VF_USE_DOUBLE ? "double" : "float";
    char extra[512];
    double rate = 0;
    int rc = 0;
    if (bench_rate(emd_call, &b, 1, rounds, seconds, &rate) != 0) {
        rc = cli_runtime_error("bench", "ot_emd: %s", vf_last_error());
        goto done;
    }
    snprintf(extra, sizeof extra,
             "\"n\":%lld,\"m\":%lld,\"d\":2,\"cost\":\"sqeuclidean/max\",\"weights\":\"uniform\",\"cost_value\":%.10g,"
             "\"threads\":%d,\"real\":\"%s\"",
             (long long)b.n, (long long)b.n, b.value, threads, real);
    bench_emit(o, "ot_emd", rate, "calls/s", extra);

    if (bench_rate(sinkhorn_call, &b, 1, rounds, seconds, &rate) != 0) {
        rc = cli_runtime_error("bench", "ot_sinkhorn: %s", vf_last_error());
        goto done;
    }
    snprintf(extra, sizeof extra,
             "\"n\":%lld,\"m\":%lld,\"d\":2,\"cost\":\"sqeuclidean/max\",\"eps\":%g,\"tol\":%g,\"error_norm\":\"l2\",\"iterations\":%lld,"
             "\"cost_value\":%.10g,\"threads\":%d,\"real\":\"%s\"",
             (long long)b.n, (long long)b.n, OT_EPS, OT_TOL, (long long)b.sinkhorn_iterations, b.value, threads, real);
    bench_emit(o, "ot_sinkhorn", rate, "calls/s", extra);

    if (bench_rate(sw_call, &b, 3, rounds, seconds, &rate) != 0) {
        rc = cli_runtime_error("bench", "ot_sw: %s", vf_last_error());
        goto done;
    }
    snprintf(extra, sizeof extra, "\"n\":%lld,\"m\":%lld,\"d\":2,\"p\":2,\"projections\":%d,\"threads\":%d,\"real\":\"%s\"",
             (long long)b.n, (long long)b.n, OT_SW_DIRS, threads, real);
    bench_emit(o, "ot_sw", rate, "calls/s", extra);

    if (bench_rate(energy_call, &b, 1, rounds, seconds, &rate) != 0) {
        rc = cli_runtime_error("bench", "ot_energy: %s", vf_last_error());
        goto done;
    }
    snprintf(extra, sizeof extra, "\"n\":%lld,\"m\":%lld,\"d\":2,\"slices\":%d,\"threads\":%d,\"real\":\"%s\"",
             (long long)b.energy_n, (long long)b.energy_n, OT_ENERGY_SLICES, threads, real);
    bench_emit(o, "ot_energy", 1.0 / rate, "s", extra);

    rc = sbcfm_case(o, "ot_sbcfm_gaussians", "sf2m-gaussians:radius=0,sd=1", "sf2m-gaussians", quick, threads, seed);
    if (rc == 0)
        rc = sbcfm_case(o, "ot_sbcfm_8gaussians_moons", "sf2m-8gaussians", "sf2m-moons7", quick, threads, seed);
done:
    ot_bench_free(&b);
    return rc;
}
