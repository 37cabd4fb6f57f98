/* test_sinkhorn_unbalanced.c — unbalanced entropic OT (vf_sinkhorn_unbalanced): its fixed-point
 * equations f_i - eps log a_i = -rho log(r_i / a_i) (r, c the plan's marginals), primal objective =
 * dual objective, POT 0.8.2's <P, C> and mass (tests/golden/make_sinkhorn_golden.py), the limit
 * rho -> infinity (balanced vf_sinkhorn), and errors. */
#include <math.h>
#include <string.h>
#include "varflow.h"
#include "vf_test.h"

enum { N = 7, M = 5 };

static void golden_problem(double *cost, double *a, double *b)
{
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

static void marginals(const double *cost, const double *f, const double *g, double eps, double *r, double *c)
{
    for (int j = 0; j < M; j++) c[j] = 0;
    for (int i = 0; i < N; i++) {
        r[i] = 0;
        for (int j = 0; j < M; j++) {
            double p = exp((f[i] + g[j] - cost[i * M + j]) / eps);
            r[i] += p;
            c[j] += p;
        }
    }
}

static void test_fixed_point_dual_and_pot(void)
{
    static const double golden[3][4] = {{0.1, 1, 0.14077184793580344, 0.88751188114111168},
                                        {0.05, 0.2, 0.064325593550328616, 0.68065644768843447},
                                        {0.2, 5, 0.23520794193836408, 0.96936993242621383}};
    double cost[N * M], a[N], b[M], f[N], g[M], r[N], c[M];
    golden_problem(cost, a, b);
    for (int k = 0; k < 3; k++) {
        vf_sinkhorn_options o = vf_sinkhorn_default_options();
        o.eps = golden[k][0];
        o.tol = 1e-13;
        o.max_iter = 100000;
        double rho = golden[k][1];
        vf_sinkhorn_unbalanced_result res;
        CHECK_STATUS(vf_sinkhorn_unbalanced(N, M, cost, a, b, rho, &o, f, g, &res), VF_OK);
        marginals(cost, f, g, o.eps, r, c);
        double worst = 0, mass = 0;
        for (int i = 0; i < N; i++) worst = fmax(worst, fabs(f[i] - o.eps * log(a[i]) + rho * log(r[i] / a[i])));
        for (int j = 0; j < M; j++) worst = fmax(worst, fabs(g[j] - o.eps * log(b[j]) + rho * log(c[j] / b[j])));
        for (int i = 0; i < N; i++) mass += r[i];
        CHECK_MSG(worst < 1e-11, "eps %g rho %g: fixed-point residual %g", o.eps, rho, worst);
        CHECK_MSG(mass < 1 - 1e-3, "the mass %g should be below 1 (marginals shrink)", mass);
        CHECK_NEAR(res.mass, mass, 1e-13);
        /* dual: -rho <a, e^{-f'/rho} - 1> - rho <b, e^{-g'/rho} - 1> - eps <a b^T, e^{(f'+g'-C)/eps} - 1>,
         * f' = f - eps log a; equal to the primal objective at the optimum */
        double dual = 0, sa = 0, sb = 0;
        for (int i = 0; i < N; i++) dual -= rho * a[i] * (exp(-(f[i] - o.eps * log(a[i])) / rho) - 1), sa += a[i];
        for (int j = 0; j < M; j++) dual -= rho * b[j] * (exp(-(g[j] - o.eps * log(b[j])) / rho) - 1), sb += b[j];
        dual -= o.eps * (mass - sa * sb);
        CHECK_MSG(fabs(dual - res.objective) < 1e-11, "eps %g rho %g: primal %.15g, dual %.15g", o.eps, rho,
                  res.objective, dual);
        CHECK_MSG(fabs(res.transport_cost - golden[k][2]) < 1e-10, "eps %g rho %g: <P, C> %.15g, POT %.15g", o.eps,
                  rho, res.transport_cost, golden[k][2]);
        CHECK_MSG(fabs(res.mass - golden[k][3]) < 1e-10, "eps %g rho %g: mass %.15g, POT %.15g", o.eps, rho, res.mass,
                  golden[k][3]);
    }
}

/* rho = INFINITY is vf_sinkhorn; finite rho approaches it like eps / rho. */
static void test_balanced_limit(void)
{
    double cost[N * M], a[N], b[M], f[N], g[M], fb[N], gb[M];
    golden_problem(cost, a, b);
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.eps = 0.1;
    o.tol = 1e-12;
    o.max_iter = 1000000;
    vf_sinkhorn_result rb;
    CHECK_STATUS(vf_sinkhorn(N, M, cost, a, b, &o, fb, gb, &rb), VF_OK);
    vf_sinkhorn_unbalanced_result ru;
    CHECK_STATUS(vf_sinkhorn_unbalanced(N, M, cost, a, b, INFINITY, &o, f, g, &ru), VF_OK);
    double worst = 0, shift = f[0] - fb[0];
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(f[i] - fb[i] - shift));
    for (int j = 0; j < M; j++) worst = fmax(worst, fabs(g[j] - gb[j] + shift));
    CHECK_MSG(worst < 1e-10, "rho = inf: potentials differ by %g", worst);
    CHECK_NEAR(ru.transport_cost, rb.transport_cost, 1e-10);
    CHECK_NEAR(ru.objective, rb.objective, 1e-10);
    CHECK_NEAR(ru.mass, 1, 1e-10);
    double prev = INFINITY;
    const double rhos[4] = {1e1, 1e2, 1e3, 1e4};
    for (int k = 0; k < 4; k++) {
        o.tol = 1e-12;
        CHECK_STATUS(vf_sinkhorn_unbalanced(N, M, cost, a, b, rhos[k], &o, NULL, NULL, &ru), VF_OK);
        double diff = fabs(ru.transport_cost - rb.transport_cost) + fabs(ru.mass - 1);
        CHECK_MSG(diff < prev / 5, "rho %g: distance %g to balanced, previous %g", rhos[k], diff, prev);
        prev = diff;
    }
    CHECK_MSG(prev < 1e-4, "rho 1e4: distance %g to balanced", prev);
}

static void test_errors(void)
{
    double cost[4] = {0, 1, 1, 0}, a[2] = {0.5, 2};
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    CHECK(vf_sinkhorn_unbalanced(2, 2, cost, a, NULL, 0, &o, NULL, NULL, NULL) == VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "rho") != NULL);
    o.eps = 0;
    CHECK(vf_sinkhorn_unbalanced(2, 2, cost, a, NULL, 1, &o, NULL, NULL, NULL) == VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "eps must be > 0") != NULL);
    o = vf_sinkhorn_default_options();
    a[0] = -1;
    CHECK(vf_sinkhorn_unbalanced(2, 2, cost, a, NULL, 1, &o, NULL, NULL, NULL) == VF_ERR_ARG);
    a[0] = 0.5; /* unnormalized masses are fine */
    CHECK_STATUS(vf_sinkhorn_unbalanced(2, 2, cost, a, NULL, 1, &o, NULL, NULL, NULL), VF_OK);
    o.max_iter = 1;
    o.tol = 1e-15;
    CHECK(vf_sinkhorn_unbalanced(2, 2, cost, a, NULL, 1, &o, NULL, NULL, NULL) == VF_ERR_NUMERIC);
}

int main(void)
{
    RUN(test_fixed_point_dual_and_pot);
    RUN(test_balanced_limit);
    RUN(test_errors);
    return vf_test_summary();
}
