/* test_sinkhorn.c — entropic OT (vf_sinkhorn): the plan's marginals, agreement with a plain
 * (non-log) Sinkhorn at a moderate eps, the entropic cost between the exact OT cost and that plus
 * eps log n, stability at a tiny eps, pairs drawn from the plan with the plan's frequencies (within
 * Monte Carlo error), POT 0.8.2's iteration count and cost under its stopping rule (golden constants),
 * the objective against the primal value, eps-scaling, costs far from zero, and errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "varflow.h"
#include "vf_test.h"

static void random_problem(int64_t n, int64_t m, uint64_t seed, double *cost, double *a, double *b)
{
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    double sa = 0, sb = 0;
    for (int64_t i = 0; i < n * m; i++) cost[i] = vf_rng_uniform(&r);
    for (int64_t i = 0; i < n; i++) sa += a[i] = 0.2 + vf_rng_uniform(&r);
    for (int64_t j = 0; j < m; j++) sb += b[j] = 0.2 + vf_rng_uniform(&r);
    for (int64_t i = 0; i < n; i++) a[i] /= sa;
    for (int64_t j = 0; j < m; j++) b[j] /= sb;
}

static void test_marginals_and_plain_sinkhorn(void)
{
    enum { N = 40, M = 30 };
    static double cost[N * M], a[N], b[M], f[N], g[M], K[N * M], u[N], v[M];
    random_problem(N, M, 1, cost, a, b);
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.eps = 0.5;
    vf_sinkhorn_result res;
    CHECK_STATUS(vf_sinkhorn(N, M, cost, a, b, &o, f, g, &res), VF_OK);
    CHECK(res.marginal_error <= o.tol && res.iterations >= 1);
    double worst_row = 0, worst_col = 0;
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int j = 0; j < M; j++) s += exp((f[i] + g[j] - cost[i * M + j]) / o.eps);
        worst_row = fmax(worst_row, fabs(s - a[i]));
    }
    for (int j = 0; j < M; j++) {
        double s = 0;
        for (int i = 0; i < N; i++) s += exp((f[i] + g[j] - cost[i * M + j]) / o.eps);
        worst_col = fmax(worst_col, fabs(s - b[j]));
    }
    CHECK_MSG(worst_row < 1e-9 && worst_col < 1e-9, "marginal errors %g %g", worst_row, worst_col);
    /* the textbook iteration u = a / K v, v = b / K^T u with K = exp(-C / eps) */
    for (int i = 0; i < N * M; i++) K[i] = exp(-cost[i] / o.eps);
    for (int j = 0; j < M; j++) v[j] = 1;
    for (int it = 0; it < 5000; it++) {
        for (int i = 0; i < N; i++) {
            double s = 0;
            for (int j = 0; j < M; j++) s += K[i * M + j] * v[j];
            u[i] = a[i] / s;
        }
        for (int j = 0; j < M; j++) {
            double s = 0;
            for (int i = 0; i < N; i++) s += K[i * M + j] * u[i];
            v[j] = b[j] / s;
        }
    }
    double worst = 0, cost_plain = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) {
            double p = u[i] * K[i * M + j] * v[j];
            worst = fmax(worst, fabs(p - exp((f[i] + g[j] - cost[i * M + j]) / o.eps)));
            cost_plain += p * cost[i * M + j];
        }
    CHECK_MSG(worst < 1e-12, "plan differs from the plain iteration by %g", worst);
    CHECK_NEAR(res.transport_cost, cost_plain, 1e-10);
}

/* Uniform weights, squared distances of random points: OT <= <P_eps, C> <= OT + eps log n. */
static void test_entropic_cost_bounds(void)
{
    enum { N = 30, D = 2 };
    vf_real x[N * D], y[N * D];
    vf_rng r;
    vf_rng_init(&r, 4, 0);
    vf_rng_normal_fill(&r, x, N * D, 0, 1);
    vf_rng_normal_fill(&r, y, N * D, 1, 1);
    static double cost[N * N];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < D; k++) s += ((double)x[i * D + k] - y[j * D + k]) * ((double)x[i * D + k] - y[j * D + k]);
            cost[i * N + j] = s;
        }
    int64_t perm[N];
    double ot;
    CHECK_STATUS(vf_assignment_solve(N, cost, perm, &ot), VF_OK);
    ot /= N; /* uniform weights 1/n */
    const double eps_list[] = {1.0, 0.3, 0.1};
    for (int e = 0; e < 3; e++) {
        vf_sinkhorn_options o = vf_sinkhorn_default_options();
        o.eps = eps_list[e];
        o.tol = 1e-8;
        o.max_iter = 200000;
        vf_sinkhorn_result res;
        CHECK_STATUS(vf_sinkhorn(N, N, cost, NULL, NULL, &o, NULL, NULL, &res), VF_OK);
        CHECK_MSG(res.transport_cost >= ot - 1e-7 && res.transport_cost <= ot + o.eps * log((double)N) + 1e-7,
                  "eps %g: <P, C> = %g, OT = %g", o.eps, res.transport_cost, ot);
    }
    /* a tiny eps stays finite (log domain) */
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.eps = 1e-4;
    o.tol = 1e-6;
    o.max_iter = 2000;
    vf_sinkhorn_result res;
    vf_status s = vf_sinkhorn(N, N, cost, NULL, NULL, &o, NULL, NULL, &res);
    CHECK(s == VF_OK || s == VF_ERR_NUMERIC);
    CHECK(isfinite(res.transport_cost) && isfinite(res.marginal_error));
}

/* Pairs drawn from the plan: each cell's frequency within 4 standard errors of its probability. */
static void test_sample_pairs(void)
{
    enum { N = 4, M = 3, K = 40000 };
    double cost[N * M], a[N], b[M], f[N], g[M];
    random_problem(N, M, 9, cost, a, b);
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.eps = 0.2;
    CHECK_STATUS(vf_sinkhorn(N, M, cost, a, b, &o, f, g, NULL), VF_OK);
    int64_t *rows = malloc(K * sizeof *rows), *cols = malloc(K * sizeof *cols);
    vf_rng r;
    vf_rng_init(&r, 3, 0);
    CHECK_STATUS(vf_sinkhorn_sample_pairs(N, M, cost, f, g, o.eps, K, &r, rows, cols), VF_OK);
    int count[N * M] = {0};
    for (int q = 0; q < K; q++) {
        CHECK(rows[q] >= 0 && rows[q] < N && cols[q] >= 0 && cols[q] < M);
        count[rows[q] * M + cols[q]]++;
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) {
            double p = exp((f[i] + g[j] - cost[i * M + j]) / o.eps), freq = (double)count[i * M + j] / K;
            double se = sqrt(p * (1 - p) / K);
            CHECK_MSG(fabs(freq - p) < 4 * se, "cell %d,%d: frequency %g, probability %g (se %g)", i, j, freq, p, se);
        }
    /* f raised by 705 eps scales the plan by exp(705) (exponents above 700: the libm path instead of
     * the vectorized exponential): the same distribution, so the same seed draws the same pairs */
    int64_t *rows2 = malloc(K * sizeof *rows2), *cols2 = malloc(K * sizeof *cols2);
    double f2[N];
    for (int i = 0; i < N; i++) f2[i] = f[i] + 705 * o.eps;
    vf_rng_init(&r, 3, 0);
    CHECK_STATUS(vf_sinkhorn_sample_pairs(N, M, cost, f2, g, o.eps, K, &r, rows2, cols2), VF_OK);
    int same = 0;
    for (int q = 0; q < K; q++) same += rows2[q] == rows[q] && cols2[q] == cols[q];
    CHECK_MSG(same == K, "%d of %d pairs differ after scaling the plan", K - same, K);
    free(rows2);
    free(cols2);
    free(rows);
    free(cols);
}

/* The problem of tests/golden/make_sinkhorn_golden.py (defined by formulas). */
static void golden_problem(double *cost, double *a, double *b)
{
    enum { N = 7, M = 5 };
    double sa = 0, sb = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) {
            double d = (double)i / (N - 1) - (double)j / (M - 1), s = sin(1.7 * i + 0.9 * j + 0.5);
            cost[i * M + j] = d * d + 0.3 * s * s;
        }
    for (int i = 0; i < N; i++) sa += a[i] = 1 + 0.3 * i;
    for (int j = 0; j < M; j++) sb += b[j] = 2 + cos((double)j);
    for (int i = 0; i < N; i++) a[i] /= sa;
    for (int j = 0; j < M; j++) b[j] /= sb;
}

/* POT's stopping rule (L2 column error, every 10 iterations) stops after exactly as many iterations
 * as POT 0.8.2's sinkhorn_log, with the same <P, C> (constants from make_sinkhorn_golden.py). */
static void test_pot_rule(void)
{
    static const double golden[2][3] = {{0.05, 51, 0.20166316517739646}, {0.01, 131, 0.1954027334889511}};
    double cost[35], a[7], b[5];
    golden_problem(cost, a, b);
    for (int k = 0; k < 2; k++) {
        vf_sinkhorn_options o = vf_sinkhorn_default_options();
        o.eps = golden[k][0];
        o.tol = 1e-6;
        o.error_norm = 2;
        o.check_every = 10;
        vf_sinkhorn_result res;
        double f[7], g[5];
        CHECK_STATUS(vf_sinkhorn(7, 5, cost, a, b, &o, f, g, &res), VF_OK);
        CHECK_MSG(res.iterations == (int64_t)golden[k][1], "eps %g: %lld iterations, POT %g", o.eps,
                  (long long)res.iterations, golden[k][1]);
        /* at tol >= 1e-7 the solver's exponential is good to 3e-10 relative: so are <P, C> and the
         * marginal error it reports, against libm's exp here; the rows are exact to that level */
        CHECK_MSG(fabs(res.transport_cost - golden[k][2]) < 3e-10 * golden[k][2], "eps %g: <P, C> %.15g, POT %.15g",
                  o.eps, res.transport_cost, golden[k][2]);
        double col[5] = {0}, e2 = 0, row_err = 0;
        for (int i = 0; i < 7; i++) {
            double row = 0;
            for (int j = 0; j < 5; j++) {
                double p = exp((f[i] + g[j] - cost[i * 5 + j]) / o.eps);
                row += p;
                col[j] += p;
            }
            row_err = fmax(row_err, fabs(row - a[i]));
        }
        for (int j = 0; j < 5; j++) e2 += (col[j] - b[j]) * (col[j] - b[j]);
        CHECK_MSG(fabs(sqrt(e2) - res.marginal_error) <= 3e-10 && row_err <= 3e-10,
                  "eps %g: marginal error %g reported, %g by libm; rows off by %g", o.eps, res.marginal_error, sqrt(e2),
                  row_err);
        /* every iteration checked: the first k with error <= tol, at most as many */
        o.check_every = 1;
        vf_sinkhorn_result r1;
        CHECK_STATUS(vf_sinkhorn(7, 5, cost, a, b, &o, NULL, NULL, &r1), VF_OK);
        CHECK(r1.iterations <= res.iterations && r1.iterations > res.iterations - 10);
        o.max_iter = r1.iterations - 1;
        CHECK(vf_sinkhorn(7, 5, cost, a, b, &o, NULL, NULL, &r1) == VF_ERR_NUMERIC);
        CHECK(r1.marginal_error > o.tol);
    }
}

/* objective = <P, C> + eps KL(P | a b^T) computed from the plan; eps-scaling reaches the same
 * potentials (to the tolerance) through several stages. */
static void test_objective_and_eps_scaling(void)
{
    enum { N = 40, M = 30 };
    static double cost[N * M], a[N], b[M], f[N], g[M], f2[N], g2[M];
    random_problem(N, M, 5, cost, a, b);
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.eps = 0.01;
    o.tol = 1e-11;
    o.max_iter = 100000;
    vf_sinkhorn_result res, r2;
    CHECK_STATUS(vf_sinkhorn(N, M, cost, a, b, &o, f, g, &res), VF_OK);
    CHECK(res.stages == 1);
    double primal = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) {
            double p = exp((f[i] + g[j] - cost[i * M + j]) / o.eps);
            primal += p * cost[i * M + j] + (p > 0 ? o.eps * p * log(p / (a[i] * b[j])) : 0);
        }
    CHECK_MSG(fabs(primal - res.objective) < 1e-10, "primal %.15g, dual %.15g", primal, res.objective);
    CHECK(res.objective > res.transport_cost); /* KL > 0 here */
    o.eps_start = 1;
    o.eps_factor = 0.3;
    CHECK_STATUS(vf_sinkhorn(N, M, cost, a, b, &o, f2, g2, &r2), VF_OK);
    CHECK_MSG(r2.stages == 5, "%lld stages", (long long)r2.stages); /* 1, 0.3, 0.09, 0.027, then 0.01 */
    /* potentials are unique up to f + c, g - c */
    double worst = 0, c = f2[0] - f[0];
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(f2[i] - f[i] - c));
    for (int j = 0; j < M; j++) worst = fmax(worst, fabs(g2[j] - g[j] + c));
    CHECK_MSG(worst < 1e-9, "eps-scaling potentials differ by %g", worst);
    CHECK_NEAR(r2.transport_cost, res.transport_cost, 1e-10);
    CHECK_NEAR(r2.objective, res.objective, 1e-10);
    o.eps_factor = 1;
    CHECK(vf_sinkhorn(N, M, cost, a, b, &o, f2, g2, &r2) == VF_ERR_ARG);
}

/* Costs far from 0 (negative, and huge compared with eps) take the safe path without harm. */
static void test_shifted_costs(void)
{
    enum { N = 20, M = 25 };
    static double cost[N * M], shifted[N * M], a[N], b[M], f[N], g[M], f2[N], g2[M];
    random_problem(N, M, 6, cost, a, b);
    for (int k = 0; k < N * M; k++) shifted[k] = cost[k] - 500;
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.eps = 0.05;
    vf_sinkhorn_result r1, r2;
    CHECK_STATUS(vf_sinkhorn(N, M, cost, a, b, &o, f, g, &r1), VF_OK);
    CHECK_STATUS(vf_sinkhorn(N, M, shifted, a, b, &o, f2, g2, &r2), VF_OK);
    CHECK_NEAR(r2.transport_cost, r1.transport_cost - 500, 1e-9);
    CHECK_NEAR(r2.objective, r1.objective - 500, 1e-9);
    double worst = 0, c = f2[0] - f[0];
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(f2[i] - f[i] - c));
    for (int j = 0; j < M; j++) worst = fmax(worst, fabs(g2[j] - g[j] + c + 500));
    CHECK_MSG(worst < 1e-9, "potentials of the shifted cost differ by %g", worst);
}

static void test_errors(void)
{
    double cost[4] = {0, 1, 1, 0}, a[2] = {0.5, 0.5}, bad[2] = {0.7, 0.7}, f[2], g[2];
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    CHECK(vf_sinkhorn(2, 2, cost, bad, NULL, &o, f, g, NULL) == VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "sum to") != NULL);
    o.eps = 0;
    CHECK(vf_sinkhorn(2, 2, cost, a, a, &o, f, g, NULL) == VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "eps must be > 0 (got 0)") != NULL);
    o.eps = -0.1;
    CHECK(vf_sinkhorn(2, 2, cost, a, a, &o, f, g, NULL) == VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "eps must be > 0 (got -0.1)") != NULL);
    o = vf_sinkhorn_default_options();
    o.check_every = 0;
    CHECK(vf_sinkhorn(2, 2, cost, a, a, &o, f, g, NULL) == VF_ERR_ARG);
    o.check_every = 1;
    o.error_norm = 3;
    CHECK(vf_sinkhorn(2, 2, cost, a, a, &o, f, g, NULL) == VF_ERR_ARG);
    o = vf_sinkhorn_default_options();
    cost[1] = NAN;
    CHECK(vf_sinkhorn(2, 2, cost, a, a, &o, f, g, NULL) == VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "cost[0, 1]") != NULL);
    cost[1] = 1;
    o.max_iter = 1;
    o.eps = 1e-3;
    o.tol = 1e-15;
    double c3[9] = {0, 1, 2, 1, 0, 1, 2, 1, 0}, w3[3] = {0.2, 0.3, 0.5}, v3[3] = {0.5, 0.3, 0.2};
    CHECK(vf_sinkhorn(3, 3, c3, w3, v3, &o, NULL, NULL, NULL) == VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "iterations") != NULL);
    CHECK(vf_sinkhorn(0, 2, cost, NULL, NULL, &o, NULL, NULL, NULL) == VF_ERR_ARG);
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    int64_t rr[1], cc[1];
    CHECK(vf_sinkhorn_sample_pairs(2, 2, cost, f, g, 0, 1, &r, rr, cc) == VF_ERR_ARG);
}

int main(void)
{
    RUN(test_marginals_and_plain_sinkhorn);
    RUN(test_entropic_cost_bounds);
    RUN(test_sample_pairs);
    RUN(test_pot_rule);
    RUN(test_objective_and_eps_scaling);
    RUN(test_shifted_costs);
    RUN(test_errors);
    return vf_test_summary();
}
