/* test_sinkhorn_alloc.c — every allocation of the entropic OT family (balanced with eps-scaling, in
 * the log domain and by kernel scalings, unbalanced, divergence, Sinkhorn-Newton-Sparse, Gaussian
 * W2) fails in turn: each failure is reported as VF_ERR_NOMEM with a message and nothing leaks
 * (tests/alloc_fail.h). */
#include <math.h>
#include "alloc_fail.h"
#include "varflow.h"
#include "vf_test.h"

enum { N = 9, M = 7, D = 2 };

static vf_status scenario(void *ctx)
{
    (void)ctx;
    vf_real x[N * D], y[M * D];
    double cost[N * M], f[N], g[M], s, w, m1[2] = {0, 1}, s1[4] = {2, 0.5, 0.5, 1};
    for (int k = 0; k < N * D; k++) x[k] = (vf_real)sin(1.3 * k);
    for (int k = 0; k < M * D; k++) y[k] = (vf_real)cos(0.7 * k);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) cost[i * M + j] = (double)(i - j) * (i - j) / 64.0;
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.eps = 0.05;
    o.eps_start = 0.5;
    vf_status st = vf_sinkhorn(N, M, cost, NULL, NULL, &o, f, g, NULL);
    if (st != VF_OK) return st;
    o.method = VF_SINKHORN_SCALING;
    st = vf_sinkhorn(N, M, cost, NULL, NULL, &o, f, g, NULL);
    if (st != VF_OK) return st;
    o.method = VF_SINKHORN_LOG;
    o.eps_start = 0;
    st = vf_sinkhorn_unbalanced(N, M, cost, NULL, NULL, 1.0, &o, f, g, NULL);
    if (st != VF_OK) return st;
    o.eps = 0.5;
    st = vf_sinkhorn_divergence(N, M, D, x, y, NULL, NULL, &o, &s, NULL);
    if (st != VF_OK) return st;
    vf_sns_options so = vf_sns_default_options();
    so.sinkhorn_iterations = 2;
    o.eps = 0.02;
    st = vf_sinkhorn_newton(N, M, cost, NULL, NULL, &o, &so, f, g, NULL);
    if (st != VF_OK) return st;
    st = vf_gaussian_w2sq(2, m1, s1, m1, s1, &w);
    if (st != VF_OK) return st;
    return vf_gaussian_w2sq_samples(N, M, D, x, y, &w);
}

static void test_alloc_failures(void)
{
    CHECK(af_sweep("entropic OT (fail once)", scenario, NULL, 0) == 0);
    CHECK(af_sweep("entropic OT (fail from then on)", scenario, NULL, 1) == 0);
}

int main(void)
{
    RUN(test_alloc_failures);
    return vf_test_summary();
}
