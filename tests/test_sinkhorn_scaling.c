/* test_sinkhorn_scaling.c — vf_sinkhorn's scaling method (VF_SINKHORN_SCALING) runs the log-domain
 * iterations: on random instances (uniform costs in [0, 1] and random weights; costs shifted by +500;
 * a far row and column; a weight of 1e-210; point clouds with SB-CFM's eps = 0.02 on unnormalized squared distances) at eps from 0.5 down to
 * 1e-3, where exp(-C / eps) underflows in double for most entries (and for every entry after the
 * shift), it returns the log domain's potentials, iteration count, marginal error and <P, C>, both at
 * convergence and when stopped by max_iter; with eps-scaling too. Its potentials give a plan (by
 * libm's exp) with exact rows and the reported column error. An unknown method is VF_ERR_ARG.
 *
 * Tolerances: both methods compute the same iterates in double; they differ only by rounding
 * (about 1e-16 relative per operation, carried through contracting iterations), so potentials
 * must agree to 1e-9 eps up to the common shift (f + c, g - c) that leaves the plan unchanged and
 * that rounding moves freely (|c| <= 1e-7 eps), <P, C> to 1e-9 relative, and the marginal errors to
 * 1e-9 relative plus the rounding of f / eps; a wrong update order, a lost scaling or a truncated
 * kernel entry that matters moves them by far more.
 *
 * The scaling method's sparse rows (vf__sinkhorn_sparse_mode) must give the dense rows' result to the
 * last bit: every comparison also solves with them never used and always used, and checks the
 * potentials and the result bitwise against the default; test_sparse_rows takes the default's own
 * switch to them (separated clusters, most kernel entries 0). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ot/sinkhorn_internal.h"
#include "varflow.h"
#include "vf_test.h"

enum { N = 40, M = 30, PN = 96 };

static void random_problem(int64_t n, int64_t m, uint64_t seed, double shift, double *cost, double *a, double *b)
{
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    double sa = 0, sb = 0;
    for (int64_t i = 0; i < n * m; i++) cost[i] = shift + vf_rng_uniform(&r);
    for (int64_t i = 0; i < n; i++) sa += a[i] = 0.2 + vf_rng_uniform(&r);
    for (int64_t j = 0; j < m; j++) sb += b[j] = 0.2 + vf_rng_uniform(&r);
    for (int64_t i = 0; i < n; i++) a[i] /= sa;
    for (int64_t j = 0; j < m; j++) b[j] /= sb;
}

/* cost [n, m] = |x_i - y_j|^2 (unnormalized) for 2-D points x [n, 2], y [m, 2]. */
static void squared_distances(int n, int m, const double *x, const double *y, double *cost)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double d0 = x[2 * i] - y[2 * j], d1 = x[2 * i + 1] - y[2 * j + 1];
            cost[i * m + j] = d0 * d0 + d1 * d1;
        }
}

/* Solves with both methods under o and compares; expected: the status both must return. */
static void compare(const char *what, int64_t n, int64_t m, const double *cost, const double *a, const double *b,
                    vf_sinkhorn_options o, vf_status expected)
{
    double *f = malloc(sizeof(double) * (size_t)(2 * (n + m)));
    double *g = f + n, *fs = g + m, *gs = fs + n;
    vf_sinkhorn_result rl, rs;
    o.method = VF_SINKHORN_LOG;
    CHECK_STATUS(vf_sinkhorn(n, m, cost, a, b, &o, f, g, &rl), expected);
    o.method = VF_SINKHORN_SCALING;
    CHECK_STATUS(vf_sinkhorn(n, m, cost, a, b, &o, fs, gs, &rs), expected);
    /* the same bits with the kernel's dense rows only and with its sparse rows always */
    double *fx = malloc(sizeof(double) * (size_t)(n + m)), *gx = fx + n;
    for (int mode = 0; mode <= 2; mode += 2) {
        vf_sinkhorn_result rx;
        int was = vf__sinkhorn_sparse_mode(mode);
        CHECK_STATUS(vf_sinkhorn(n, m, cost, a, b, &o, fx, gx, &rx), expected);
        vf__sinkhorn_sparse_mode(was);
        CHECK_MSG(!memcmp(fx, fs, sizeof(double) * (size_t)n) && !memcmp(gx, gs, sizeof(double) * (size_t)m) &&
                      !memcmp(&rx, &rs, sizeof rx),
                  "%s: sparse mode %d differs from the default", what, mode);
    }
    free(fx);
    /* the plan is invariant under (f + c, g - c), a direction the iterations do not contract: rounding
     * moves c as a random walk, so potentials are compared after removing the mean shift c */
    double c = 0, df = 0, fmag = 0;
    for (int64_t i = 0; i < n; i++) c += (fs[i] - f[i]) / (double)n, fmag = fmax(fmag, fabs(f[i]) / o.eps);
    for (int64_t i = 0; i < n; i++) df = fmax(df, fabs(f[i] - fs[i] + c));
    for (int64_t j = 0; j < m; j++) df = fmax(df, fabs(g[j] - gs[j] - c)), fmag = fmax(fmag, fabs(g[j]) / o.eps);
    CHECK_MSG(df <= 1e-9 * o.eps, "%s: potentials differ by %g (eps %g)", what, df, o.eps);
    CHECK_MSG(fabs(c) <= 1e-7 * o.eps, "%s: potentials shifted by %g (eps %g)", what, c, o.eps);
    CHECK_MSG(rl.iterations == rs.iterations && rl.stages == rs.stages, "%s: %lld vs %lld iterations", what,
              (long long)rl.iterations, (long long)rs.iterations);
    CHECK_MSG(fabs(rl.transport_cost - rs.transport_cost) <= 1e-9 * fabs(rl.transport_cost),
              "%s: <P, C> %.17g vs %.17g", what, rl.transport_cost, rs.transport_cost);
    CHECK_MSG(fabs(rl.objective - rs.objective) <= 1e-9 * (fabs(rl.objective) + o.eps), "%s: objective %.17g vs %.17g",
              what, rl.objective, rs.objective);
    /* each plan entry exp(f / eps + ...) carries the rounding of f / eps (|f| / eps up to 5e4 here) */
    CHECK_MSG(fabs(rl.marginal_error - rs.marginal_error) <= 1e-9 * rl.marginal_error + 1e-15 * (1 + fmag),
              "%s: marginal error %g vs %g", what, rl.marginal_error, rs.marginal_error);
    /* the plan of the scaling potentials, by libm: rows exact, columns off by the reported error */
    double worst_row = 0, col_err = 0;
    double *col = calloc((size_t)m, sizeof *col);
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < m; j++) {
            double p = exp((fs[i] + gs[j] - cost[i * m + j]) / o.eps);
            s += p;
            col[j] += p;
        }
        worst_row = fmax(worst_row, fabs(s - (a ? a[i] : 1.0 / (double)n)));
    }
    for (int64_t j = 0; j < m; j++) col_err += fabs(col[j] - (b ? b[j] : 1.0 / (double)m));
    CHECK_MSG(worst_row <= 1e-9, "%s: rows off by %g", what, worst_row);
    if (o.error_norm == 1)
        CHECK_MSG(fabs(col_err - rs.marginal_error) <= 1e-9, "%s: column error %g, reported %g", what, col_err,
                  rs.marginal_error);
    free(col);
    free(f);
}

static void test_random_instances(void)
{
    static double cost[N * M], a[N], b[M];
    const double eps[] = {0.5, 0.05, 0.005, 0.001};
    for (int k = 0; k < 4; k++)
        for (uint64_t seed = 1; seed <= 3; seed++) {
            random_problem(N, M, seed, 0, cost, a, b);
            vf_sinkhorn_options o = vf_sinkhorn_default_options();
            o.eps = eps[k];
            o.max_iter = 200000;
            char what[64];
            snprintf(what, sizeof what, "uniform costs, eps %g, seed %d", eps[k], (int)seed);
            compare(what, N, M, cost, a, b, o, VF_OK);
            /* stopped early: the same unconverged iterate */
            o.max_iter = 7;
            snprintf(what, sizeof what, "7 iterations, eps %g, seed %d", eps[k], (int)seed);
            compare(what, N, M, cost, k == 0 ? NULL : a, b, o, eps[k] < 0.5 ? VF_ERR_NUMERIC : VF_OK);
        }
}

/* Costs shifted by +500 at eps 0.01: exp(-C / eps) = exp(-50000) underflows everywhere, so the first
 * row sums of a naive kernel are 0; POT's stopping rule; eps-scaling. */
static void test_far_costs_and_options(void)
{
    static double cost[N * M], a[N], b[M];
    random_problem(N, M, 11, 500, cost, a, b);
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.eps = 0.01;
    o.max_iter = 100000;
    compare("costs + 500, eps 0.01", N, M, cost, a, b, o, VF_OK);
    o.error_norm = 2;
    o.check_every = 10;
    o.tol = 1e-7;
    compare("costs + 500, POT's rule", N, M, cost, a, b, o, VF_OK);
    /* one column and one row far from the rest (+20 at eps 0.01): after a row update the far column's
     * mass is about exp(-2000), so its column sum underflows and g is set by the log-sum-exp */
    random_problem(N, M, 13, 0, cost, a, b);
    for (int i = 0; i < N; i++) cost[i * M + 3] += 20;
    for (int j = 0; j < M; j++) cost[5 * M + j] += 20;
    o = vf_sinkhorn_default_options();
    o.eps = 0.01;
    o.max_iter = 100000;
    compare("a far row and column, eps 0.01", N, M, cost, a, b, o, VF_OK);
    /* a row of weight 1e-210 alone near a column: after the first row update that column's sum
     * K^T u is about 1e-210, below the scalings' range, and g is set by the log-sum-exp */
    const double c2[4] = {0, 50, 50, 0}, a2[2] = {1 - 1e-210, 1e-210};
    o = vf_sinkhorn_default_options();
    o.eps = 0.1;
    compare("a tiny weight, 2 x 2", 2, 2, c2, a2, NULL, o, VF_OK);
    o = vf_sinkhorn_default_options();
    o.eps = 0.002;
    o.eps_start = 1;
    o.max_iter = 100000;
    random_problem(N, M, 12, 0, cost, a, b);
    compare("eps-scaling 1 -> 0.002", N, M, cost, NULL, NULL, o, VF_OK);
}

/* SB-CFM's coupling: two point clouds in 2-D (N(0, I) and a shifted, squeezed copy), unnormalized
 * squared distances (up to about 60) at eps = 0.02, tol 1e-6, stopped at 100 iterations, and to
 * convergence at tol 1e-9. */
static void test_sbcfm_regime(void)
{
    static double cost[PN * PN];
    double x[PN * 2], y[PN * 2];
    vf_rng r;
    vf_rng_init(&r, 5, 0);
    for (int i = 0; i < PN * 2; i++) x[i] = vf_rng_normal(&r);
    for (int i = 0; i < PN; i++) {
        y[2 * i] = 3 + 0.5 * vf_rng_normal(&r);
        y[2 * i + 1] = 0.3 * vf_rng_normal(&r);
    }
    squared_distances(PN, PN, x, y, cost);
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.eps = 0.02;
    o.tol = 1e-6;
    o.max_iter = 100;
    compare("SB-CFM coupling, 100 iterations", PN, PN, cost, NULL, NULL, o, VF_ERR_NUMERIC);
    o.tol = 1e-9;
    o.max_iter = 1000000;
    compare("SB-CFM coupling, converged", PN, PN, cost, NULL, NULL, o, VF_OK);
}

/* Separated clusters (8 source clusters of radius 1 on a circle of radius 10; 8 target clusters,
 * rotated by half a step, on a circle of radius 12) at eps 0.02: a source point's kernel entries
 * exceed exp(-700) only near its own cluster's neighbours, so most are 0 and the default switches
 * to the sparse rows. 96 x 88 entries, 12 and 11 per cluster (88 = 2 x 32 + 24: row_dot's last,
 * zero-padded columns are taken). */
static void test_sparse_rows(void)
{
    enum { SN = 96, SM = 88 };
    static double cost[SN * SM];
    double x[SN * 2], y[SM * 2];
    vf_rng r;
    vf_rng_init(&r, 17, 0);
    for (int i = 0; i < SN; i++) {
        double ang = 2 * 3.14159265358979 * (i % 8) / 8;
        x[2 * i] = 10 * cos(ang) + vf_rng_normal(&r), x[2 * i + 1] = 10 * sin(ang) + vf_rng_normal(&r);
    }
    for (int j = 0; j < SM; j++) {
        double ang = 2 * 3.14159265358979 * (j % 8 + 0.5) / 8;
        y[2 * j] = 12 * cos(ang) + 0.5 * vf_rng_normal(&r), y[2 * j + 1] = 12 * sin(ang) + 0.5 * vf_rng_normal(&r);
    }
    squared_distances(SN, SM, x, y, cost);
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.eps = 0.02;
    o.tol = 1e-6;
    o.max_iter = 300;
    double f[SN], g[SM];
    o.method = VF_SINKHORN_SCALING;
    int64_t before = vf__sinkhorn_sparse_kernels();
    CHECK_STATUS(vf_sinkhorn(SN, SM, cost, NULL, NULL, &o, f, g, NULL), VF_ERR_NUMERIC);
    CHECK_MSG(vf__sinkhorn_sparse_kernels() > before, "the default did not use the sparse rows");
    compare("separated clusters, 300 iterations", SN, SM, cost, NULL, NULL, o, VF_ERR_NUMERIC);
    /* further on, past more absorptions (convergence to 1e-9 takes 300,000 iterations here) */
    o.max_iter = 5000;
    compare("separated clusters, 5000 iterations", SN, SM, cost, NULL, NULL, o, VF_ERR_NUMERIC);
}

static void test_errors(void)
{
    double cost[4] = {0, 1, 1, 0}, f[2], g[2];
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    CHECK(o.method == VF_SINKHORN_LOG);
    o.method = 2;
    CHECK_STATUS(vf_sinkhorn(2, 2, cost, NULL, NULL, &o, f, g, NULL), VF_ERR_ARG);
    o.method = -1;
    CHECK_STATUS(vf_sinkhorn(2, 2, cost, NULL, NULL, &o, f, g, NULL), VF_ERR_ARG);
    o.method = VF_SINKHORN_SCALING;
    o.eps = 0;
    CHECK_STATUS(vf_sinkhorn(2, 2, cost, NULL, NULL, &o, f, g, NULL), VF_ERR_ARG);
}

int main(void)
{
    RUN(test_random_instances);
    RUN(test_far_costs_and_options);
    RUN(test_sbcfm_regime);
    RUN(test_sparse_rows);
    RUN(test_errors);
    return vf_test_summary();
}
