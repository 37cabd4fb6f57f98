/* test_sinkhorn_newton.c — Sinkhorn-Newton-Sparse (vf_sinkhorn_newton): at small eps it reaches the
 * same potentials, <P, C> and objective as plain Sinkhorn at a tight tolerance, with marginals
 * checked here from its potentials, in far fewer iterations (Sinkhorn + Newton) and with a sparse
 * Hessian; errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "varflow.h"
#include "vf_test.h"

enum { N = 60, M = 50, D = 2 };

static void problem(double *cost)
{
    vf_real x[N * D], y[M * D];
    vf_rng r;
    vf_rng_init(&r, 3, 0);
    vf_rng_normal_fill(&r, x, N * D, 0, 1);
    vf_rng_normal_fill(&r, y, M * D, 1, 1);
    double mx = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) {
            double s = 0;
            for (int k = 0; k < D; k++) s += ((double)x[i * D + k] - y[j * D + k]) * ((double)x[i * D + k] - y[j * D + k]);
            cost[i * M + j] = s;
            mx = fmax(mx, s);
        }
    for (int q = 0; q < N * M; q++) cost[q] /= mx;
}

static void test_same_solution_fewer_iterations(void)
{
    static double cost[N * M], b[M], f[N], g[M], f2[N], g2[M];
    problem(cost);
    double sb = 0;
    for (int j = 0; j < M; j++) sb += b[j] = 1 + 0.02 * j;
    for (int j = 0; j < M; j++) b[j] /= sb;
    const double eps_list[2] = {0.004, 0.0015};
    for (int e = 0; e < 2; e++) {
        vf_sinkhorn_options o = vf_sinkhorn_default_options();
        o.eps = eps_list[e];
        o.tol = 1e-11;
        o.max_iter = 1000000;
        vf_sinkhorn_result rs;
        CHECK_STATUS(vf_sinkhorn(N, M, cost, NULL, b, &o, f, g, &rs), VF_OK);
        vf_sns_options so = vf_sns_default_options();
        vf_sns_result rn;
        CHECK_STATUS(vf_sinkhorn_newton(N, M, cost, NULL, b, &o, &so, f2, g2, &rn), VF_OK);
        /* marginals of the returned potentials, computed here */
        double err = 0, col[M] = {0};
        for (int i = 0; i < N; i++) {
            double row = 0;
            for (int j = 0; j < M; j++) {
                double p = exp((f2[i] + g2[j] - cost[i * M + j]) / o.eps);
                row += p;
                col[j] += p;
            }
            err += fabs(row - 1.0 / N);
        }
        for (int j = 0; j < M; j++) err += fabs(col[j] - b[j]);
        CHECK_MSG(err < 2e-11, "eps %g: marginal error %g", o.eps, err);
        double worst = 0, shift = f2[0] - f[0];
        for (int i = 0; i < N; i++) worst = fmax(worst, fabs(f2[i] - f[i] - shift));
        for (int j = 0; j < M; j++) worst = fmax(worst, fabs(g2[j] - g[j] + shift));
        CHECK_MSG(worst < 1e-9, "eps %g: potentials differ by %g", o.eps, worst);
        printf("eps %g: sinkhorn %lld, sns %lld + %lld (cg %lld, nnz %lld)\n", o.eps, (long long)rs.iterations, (long long)rn.sinkhorn_iterations, (long long)rn.newton_iterations, (long long)rn.cg_iterations, (long long)rn.hessian_nnz);
        CHECK_NEAR(rn.transport_cost, rs.transport_cost, 1e-10);
        CHECK_NEAR(rn.objective, rs.objective, 1e-10);
        int64_t total = rn.sinkhorn_iterations + rn.newton_iterations;
        CHECK_MSG(rn.sinkhorn_iterations == so.sinkhorn_iterations && rn.newton_iterations >= 1, "%lld + %lld",
                  (long long)rn.sinkhorn_iterations, (long long)rn.newton_iterations);
        CHECK_MSG(5 * total < rs.iterations, "eps %g: SNS %lld + %lld iterations, Sinkhorn %lld", o.eps,
                  (long long)rn.sinkhorn_iterations, (long long)rn.newton_iterations, (long long)rs.iterations);
        CHECK_MSG(rn.hessian_nnz < N * M * 3 / 4 && rn.cg_iterations >= rn.newton_iterations,
                  "eps %g: %lld kept entries of %d", o.eps, (long long)rn.hessian_nnz, N * M);
    }
}

static void test_errors(void)
{
    double cost[4] = {0, 1, 1, 0};
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    vf_sns_options so = vf_sns_default_options();
    o.eps = -1;
    CHECK(vf_sinkhorn_newton(2, 2, cost, NULL, NULL, &o, &so, NULL, NULL, NULL) == VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "eps must be > 0") != NULL);
    o.eps = 0.1;
    so.drop_tol = 1;
    CHECK(vf_sinkhorn_newton(2, 2, cost, NULL, NULL, &o, &so, NULL, NULL, NULL) == VF_ERR_ARG);
    so = vf_sns_default_options();
    static double big[N * M];
    problem(big);
    o.eps = 0.003;
    o.tol = 1e-12;
    so.max_newton = 0;
    so.sinkhorn_iterations = 3;
    vf_sns_result rn;
    CHECK(vf_sinkhorn_newton(N, M, big, NULL, NULL, &o, &so, NULL, NULL, &rn) == VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "Newton") != NULL);
}

int main(void)
{
    RUN(test_same_solution_fewer_iterations);
    RUN(test_errors);
    return vf_test_summary();
}
