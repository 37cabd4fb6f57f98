/* test_network_simplex.c — exact OT (vf_emd_matrix, vf_emd) and sliced W with given directions:
 *   tiny instances against the LP optimum found by enumerating every vertex of the transportation
 *   polytope (the flows of all spanning trees of K_{n,m}), with integer costs full of ties,
 *   degenerate and zero weights;
 *   the dual certificate (u + v <= C, equality on the plan) and the plan's marginals;
 *   1-D clouds against the monotone (quantile) coupling, computed by vf_sliced_wasserstein_dirs with
 *   the direction (1);
 *   equal-size uniform measures: the plan is a permutation of masses 1/n and the cost that of the
 *   assignment solver;
 *   all-equal costs, identical clouds, costs near the overflow and underflow limits;
 *   errors (each with its message) and allocation failures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "alloc_fail.h"
#include "varflow.h"
#include "vf_test.h"

/* ---- brute force: the minimum over the vertices of the transportation polytope ---------------- */

static int uf_find(int *p, int x)
{
    while (p[x] != x) x = p[x] = p[p[x]];
    return x;
}

/* The flows of the spanning tree `arcs` (n + m - 1 arc indices i m + j) meeting the margins, by
 * peeling leaves; returns the cost, or INFINITY when a flow is negative. */
static double tree_cost(int n, int m, const int *arcs, const double *C, const double *a, const double *b)
{
    int k = n + m - 1, used[32] = {0}, deg[16] = {0};
    double rest[16];
    for (int i = 0; i < n; i++) rest[i] = a[i];
    for (int j = 0; j < m; j++) rest[n + j] = b[j];
    for (int e = 0; e < k; e++) {
        deg[arcs[e] / m]++;
        deg[n + arcs[e] % m]++;
    }
    double total = 0;
    for (int done = 0; done < k; done++) {
        int pick = -1, leaf = -1;
        for (int e = 0; e < k && pick < 0; e++) {
            if (used[e]) continue;
            int i = arcs[e] / m, j = n + arcs[e] % m;
            if (deg[i] == 1) pick = e, leaf = i;
            else if (deg[j] == 1) pick = e, leaf = j;
        }
        int i = arcs[pick] / m, j = n + arcs[pick] % m, other = leaf == i ? j : i;
        double f = rest[leaf];
        if (f < -1e-12) return INFINITY;
        total += f * C[arcs[pick]];
        rest[leaf] = 0;
        rest[other] -= f;
        used[pick] = 1;
        deg[i]--;
        deg[j]--;
    }
    return total;
}

static double brute_force(int n, int m, const double *C, const double *a, const double *b)
{
    int nm = n * m, k = n + m - 1;
    double best = INFINITY;
    for (long mask = 0; mask < (1L << nm); mask++) {
        if (__builtin_popcountl((unsigned long)mask) != k) continue;
        int arcs[16], c = 0, p[16], ok = 1;
        for (int x = 0; x < n + m; x++) p[x] = x;
        for (int e = 0; e < nm && ok; e++)
            if (mask >> e & 1) {
                int r1 = uf_find(p, e / m), r2 = uf_find(p, n + e % m);
                if (r1 == r2) ok = 0; /* a cycle: not a tree */
                p[r1] = r2;
                arcs[c++] = e;
            }
        if (ok) best = fmin(best, tree_cost(n, m, arcs, C, a, b));
    }
    return best;
}

/* Certificate and marginals of vf_emd_matrix on C [n, m]; returns the total (NAN on failure). */
static double solve_and_certify(int64_t n, int64_t m, const double *C, const double *a, const double *b)
{
    double *u = malloc((size_t)n * sizeof *u), *v = malloc((size_t)m * sizeof *v);
    double *ra = calloc((size_t)n, sizeof *ra), *cb = calloc((size_t)m, sizeof *cb);
    vf_ot_plan P;
    double total = NAN;
    CHECK_STATUS(vf_emd_matrix(n, m, C, a, b, &total, &P, u, v), VF_OK);
    double maxabs = 0, viol = 0, slack = 0, dual = 0, primal = 0, merr = 0;
    for (int64_t k = 0; k < n * m; k++) maxabs = fmax(maxabs, fabs(C[k]));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) viol = fmax(viol, u[i] + v[j] - C[i * m + j]);
    CHECK(P.nnz >= 1 && P.nnz <= n + m - 1);
    for (int64_t k = 0; k < P.nnz; k++) {
        int64_t i = P.rows[k], j = P.cols[k];
        CHECK(i >= 0 && i < n && j >= 0 && j < m && P.mass[k] > 0);
        if (k > 0) CHECK(P.rows[k - 1] * m + P.cols[k - 1] < i * m + j); /* sorted, distinct */
        slack = fmax(slack, fabs(C[i * m + j] - u[i] - v[j]));
        ra[i] += P.mass[k];
        cb[j] += P.mass[k];
        primal += P.mass[k] * C[i * m + j];
    }
    for (int64_t i = 0; i < n; i++) {
        double ai = a ? a[i] : 1.0 / (double)n;
        dual += ai * u[i];
        merr = fmax(merr, fabs(ra[i] - ai));
    }
    for (int64_t j = 0; j < m; j++) {
        double bj = b ? b[j] : 1.0 / (double)m;
        dual += bj * v[j];
        merr = fmax(merr, fabs(cb[j] - bj));
    }
    double scale = maxabs > 0 ? maxabs : 1;
    CHECK_MSG(viol <= 1e-12 * scale, "dual infeasibility %g (max|C| %g)", viol, maxabs);
    CHECK_MSG(slack <= 1e-12 * scale, "complementary slackness violated by %g", slack);
    CHECK_MSG(merr <= 1e-12, "plan marginal error %g", merr);
    CHECK_MSG(fabs(primal - total) <= 1e-12 * scale && fabs(dual - total) <= 1e-10 * scale,
              "primal %.17g dual %.17g total %.17g", primal, dual, total);
    vf_ot_plan_free(&P);
    CHECK(P.nnz == 0 && P.rows == NULL);
    free(u);
    free(v);
    free(ra);
    free(cb);
    return total;
}

/* Random weights of k entries, each an integer 0..4 (zeros allowed, not all zero) over their sum:
 * many degenerate vertices. */
static void small_weights(vf_rng *r, int k, double *w, int allow_zero)
{
    double s = 0;
    for (int i = 0; i < k; i++) s += w[i] = allow_zero ? floor(vf_rng_uniform(r) * 5) : 1 + floor(vf_rng_uniform(r) * 4);
    if (s == 0) w[0] = s = 1;
    for (int i = 0; i < k; i++) w[i] /= s;
}

static void test_brute_force(void)
{
    vf_rng r;
    vf_rng_init(&r, 7, 0);
    int cases = 0;
    for (int t = 0; t < 300; t++) {
        int n = 1 + (int)(vf_rng_uniform(&r) * 4), m = 1 + (int)(vf_rng_uniform(&r) * 4);
        if (n * m > 16) continue;
        double C[16], a[4], b[4];
        int ties = t % 2 == 0;
        for (int k = 0; k < n * m; k++)
            C[k] = ties ? floor(vf_rng_uniform(&r) * 4) : vf_rng_uniform(&r) * 10 - 3;
        small_weights(&r, n, a, t % 3 != 0);
        small_weights(&r, m, b, t % 3 != 0);
        double want = brute_force(n, m, C, a, b), got = solve_and_certify(n, m, C, a, b);
        CHECK_MSG(fabs(got - want) <= 1e-12 * 10, "case %d (%d x %d): emd %.17g, brute force %.17g", t, n, m, got, want);
        cases++;
    }
    CHECK(cases > 150);
}

/* 1-D: the monotone coupling is optimal for |x - y|^p, p >= 1; vf_sliced_wasserstein_dirs with the
 * single direction (1) integrates it from the quantile functions (an independent computation). */
static void test_one_dimensional(void)
{
    enum { N = 500, M = 300 };
    static vf_real x[N], y[M];
    static double a[N], b[M];
    vf_rng r;
    vf_rng_init(&r, 11, 0);
    double sa = 0, sb = 0;
    for (int i = 0; i < N; i++) {
        x[i] = (vf_real)vf_rng_normal(&r);
        sa += a[i] = i % 7 == 0 ? 0 : vf_rng_uniform(&r);
    }
    for (int j = 0; j < M; j++) {
        y[j] = (vf_real)(2 * vf_rng_uniform(&r) - 0.5);
        sb += b[j] = vf_rng_uniform(&r) + 0.1;
    }
    for (int i = 0; i < N; i++) a[i] /= sa;
    for (int j = 0; j < M; j++) b[j] /= sb;
    const double dir = 1;
    double emd2 = NAN, emd1 = NAN, sw2 = NAN, sw1 = NAN;
    CHECK_STATUS(vf_emd(N, 1, x, M, 1, y, a, b, VF_COST_SQEUCLIDEAN, &emd2, NULL), VF_OK);
    CHECK_STATUS(vf_emd(N, 1, x, M, 1, y, a, b, VF_COST_EUCLIDEAN, &emd1, NULL), VF_OK);
    CHECK_STATUS(vf_sliced_wasserstein_dirs(N, M, 1, x, y, a, b, 1, &dir, 2, &sw2), VF_OK);
    CHECK_STATUS(vf_sliced_wasserstein_dirs(N, M, 1, x, y, a, b, 1, &dir, 1, &sw1), VF_OK);
    CHECK_MSG(fabs(emd2 - sw2 * sw2) <= 1e-9 * emd2, "1-D W2^2: emd %.17g, quantiles %.17g", emd2, sw2 * sw2);
    CHECK_MSG(fabs(emd1 - sw1) <= 1e-9 * emd1, "1-D W1: emd %.17g, quantiles %.17g", emd1, sw1);
    /* uniform weights too (the NULL path of both) */
    CHECK_STATUS(vf_emd(N, 1, x, M, 1, y, NULL, NULL, VF_COST_SQEUCLIDEAN, &emd2, NULL), VF_OK);
    CHECK_STATUS(vf_sliced_wasserstein_dirs(N, M, 1, x, y, NULL, NULL, 1, &dir, 2, &sw2), VF_OK);
    CHECK_MSG(fabs(emd2 - sw2 * sw2) <= 1e-9 * emd2, "1-D W2^2 uniform: emd %.17g, quantiles %.17g", emd2, sw2 * sw2);
}

/* Random weighted instances in a few dimensions: the certificate. */
static void test_certificate_random(void)
{
    vf_rng r;
    vf_rng_init(&r, 5, 0);
    for (int t = 0; t < 6; t++) {
        int64_t n = 20 + 37 * t, m = 15 + 29 * t, d = 1 + t;
        vf_real *x = malloc((size_t)(n * d) * sizeof *x), *y = malloc((size_t)(m * d) * sizeof *y);
        double *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)m * sizeof *b);
        double *C = malloc((size_t)(n * m) * sizeof *C), sa = 0, sb = 0;
        for (int64_t k = 0; k < n * d; k++) x[k] = (vf_real)vf_rng_normal(&r);
        for (int64_t k = 0; k < m * d; k++) y[k] = (vf_real)(vf_rng_normal(&r) + 1);
        for (int64_t i = 0; i < n; i++) sa += a[i] = t % 2 ? vf_rng_uniform(&r) : (double)(i % 3);
        for (int64_t j = 0; j < m; j++) sb += b[j] = vf_rng_uniform(&r);
        for (int64_t i = 0; i < n; i++) a[i] /= sa;
        for (int64_t j = 0; j < m; j++) b[j] /= sb;
        vf_cost_kind kind = t % 3 == 2 ? VF_COST_EUCLIDEAN : VF_COST_SQEUCLIDEAN;
        CHECK_STATUS(vf_cost_matrix(n, m, d, x, y, kind, C), VF_OK);
        double t1 = solve_and_certify(n, m, C, a, b), t2 = NAN;
        CHECK_STATUS(vf_emd(n, d, x, m, d, y, a, b, kind, &t2, NULL), VF_OK);
        CHECK(t1 == t2);
        free(x);
        free(y);
        free(a);
        free(b);
        free(C);
    }
}

/* Massive ties and degeneracy: costs in {0, 1, 2}, weights small integers over their sum, and 1-D
 * clouds with repeated points (the monotone coupling checks the value). */
static void test_ties_and_degeneracy(void)
{
    enum { N = 300, M = 250 };
    static double C[N * M], a[N], b[M];
    vf_rng r;
    vf_rng_init(&r, 17, 0);
    for (int k = 0; k < N * M; k++) C[k] = floor(vf_rng_uniform(&r) * 3);
    small_weights(&r, N, a, 1);
    small_weights(&r, M, b, 0);
    double t = solve_and_certify(N, M, C, a, b);
    CHECK(t >= 0 && t < 1e-9); /* a third of the costs are 0: a zero-cost plan exists (for this seed) */
    for (int k = 0; k < N * M; k++) C[k] = floor(vf_rng_uniform(&r) * 3) + (k % M < 5 ? 0 : 1);
    solve_and_certify(N, M, C, a, b);
    solve_and_certify(N, M, C, NULL, b);

    static vf_real x[N], y[M];
    const double dir = 1;
    for (int i = 0; i < N; i++) x[i] = (vf_real)floor(vf_rng_uniform(&r) * 6);
    for (int j = 0; j < M; j++) y[j] = (vf_real)floor(vf_rng_uniform(&r) * 4 + 1);
    double emd = NAN, sw = NAN;
    CHECK_STATUS(vf_emd(N, 1, x, M, 1, y, a, b, VF_COST_SQEUCLIDEAN, &emd, NULL), VF_OK);
    CHECK_STATUS(vf_sliced_wasserstein_dirs(N, M, 1, x, y, a, b, 1, &dir, 2, &sw), VF_OK);
    CHECK_MSG(fabs(emd - sw * sw) <= 1e-9 * emd, "1-D with repeated points: emd %.17g, quantiles %.17g", emd, sw * sw);
}

/* a, b NULL and n == m: a permutation of masses exactly 1/n, with the assignment solver's cost. */
static void test_uniform_square(void)
{
    enum { N = 200, D = 2 };
    static vf_real x[N * D], y[N * D];
    static double C[N * N];
    static int64_t perm[N];
    vf_rng r;
    vf_rng_init(&r, 3, 0);
    for (int k = 0; k < N * D; k++) {
        x[k] = (vf_real)vf_rng_normal(&r);
        y[k] = (vf_real)(vf_rng_normal(&r) * 2);
    }
    CHECK_STATUS(vf_cost_matrix(N, N, D, x, y, VF_COST_SQEUCLIDEAN, C), VF_OK);
    double lap = NAN, total = NAN, w2sq = NAN;
    CHECK_STATUS(vf_assignment_solve(N, C, perm, &lap), VF_OK);
    vf_ot_plan P;
    CHECK_STATUS(vf_emd(N, D, x, N, D, y, NULL, NULL, VF_COST_SQEUCLIDEAN, &total, &P), VF_OK);
    CHECK_MSG(fabs(total - lap / N) <= 1e-12 * lap / N, "emd %.17g, assignment %.17g", total, lap / N);
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(N, D, x, y, perm, &w2sq), VF_OK);
    CHECK(fabs(total - w2sq) <= 1e-12 * w2sq);
    CHECK(P.nnz == N);
    int seen[N] = {0}, ok = 1;
    for (int64_t k = 0; k < P.nnz && ok; k++) {
        ok = P.rows[k] == k && P.mass[k] == 1.0 / N && !seen[P.cols[k]];
        seen[P.cols[k]] = 1;
    }
    CHECK_MSG(ok, "the plan is not a permutation with masses 1/n");
    vf_ot_plan_free(&P);
    solve_and_certify(N, N, C, NULL, NULL);
}

static void test_special_cases(void)
{
    /* all costs equal: every plan is optimal */
    double C[12], a[3] = {0.5, 0.25, 0.25}, b[4] = {0.1, 0.2, 0.3, 0.4};
    for (int k = 0; k < 12; k++) C[k] = 2.5;
    CHECK_NEAR(solve_and_certify(3, 4, C, a, b), 2.5, 1e-15);
    /* one source: everything goes from it */
    double c1[4] = {1, 2, 3, 4}, one = 1;
    CHECK_NEAR(solve_and_certify(1, 4, c1, &one, b), 0.1 + 0.4 + 0.9 + 1.6, 1e-15);
    CHECK_NEAR(solve_and_certify(4, 1, c1, b, NULL), 3.0, 1e-15);
    /* identical clouds and weights: cost 0, plan the identity */
    enum { N = 50 };
    vf_real x[N * 2];
    double w[N], s = 0, total = -1;
    vf_rng r;
    vf_rng_init(&r, 9, 0);
    for (int k = 0; k < N * 2; k++) x[k] = (vf_real)vf_rng_normal(&r);
    for (int i = 0; i < N; i++) s += w[i] = 1 + i % 4;
    for (int i = 0; i < N; i++) w[i] /= s;
    vf_ot_plan P;
    CHECK_STATUS(vf_emd(N, 2, x, N, 2, x, w, w, VF_COST_SQEUCLIDEAN, &total, &P), VF_OK);
    CHECK(total == 0 && P.nnz == N);
    for (int64_t k = 0; k < P.nnz; k++) CHECK(P.rows[k] == k && P.cols[k] == k && fabs(P.mass[k] - w[k]) < 1e-15);
    vf_ot_plan_free(&P);
    /* a zero row and a zero column keep a feasible dual; the plan avoids them */
    double cz[9] = {1, 5, 2, 0, 7, 1, 3, 3, 3}, az[3] = {0.5, 0, 0.5}, bz[3] = {0.5, 0.5, 0};
    CHECK_NEAR(solve_and_certify(3, 3, cz, az, bz), brute_force(3, 3, cz, az, bz), 1e-15);
    /* huge and tiny costs: the cost scales exactly with them (powers of two) */
    double base[20], big[20], tiny[20], wa[4] = {0.1, 0.2, 0.3, 0.4}, wb[5] = {0.3, 0.1, 0.2, 0.2, 0.2};
    for (int k = 0; k < 20; k++) {
        base[k] = vf_rng_uniform(&r) - 0.3;
        big[k] = ldexp(base[k], 1020);
        tiny[k] = ldexp(base[k], -1000);
    }
    double t0 = solve_and_certify(4, 5, base, wa, wb);
    double tb = solve_and_certify(4, 5, big, wa, wb), tt = solve_and_certify(4, 5, tiny, wa, wb);
    CHECK_MSG(fabs(ldexp(tb, -1020) - t0) <= 1e-12 && fabs(ldexp(tt, 1000) - t0) <= 1e-12, "%g %g %g", t0,
              ldexp(tb, -1020), ldexp(tt, 1000));
    CHECK_NEAR(brute_force(4, 4, base, wa, wa), solve_and_certify(4, 4, base, wa, wa), 1e-14);
}

static int message_has(const char *s) { return strstr(vf_last_error(), s) != NULL; }

static void test_errors(void)
{
    double C[6] = {1, 2, 3, 4, 5, 6}, a[2] = {0.5, 0.5}, b[3] = {0.2, 0.3, 0.5}, total = 0;
    vf_ot_plan P = {5, NULL, NULL, NULL};
    CHECK_STATUS(vf_emd_matrix(0, 3, C, NULL, b, &total, &P, NULL, NULL), VF_ERR_ARG);
    CHECK(message_has("empty") && P.nnz == 0);
    double neg[3] = {0.6, -0.1, 0.5};
    CHECK_STATUS(vf_emd_matrix(2, 3, C, a, neg, &total, NULL, NULL, NULL), VF_ERR_ARG);
    CHECK_MSG(message_has("b[1]") && message_has("negative"), "%s", vf_last_error());
    double off[3] = {0.2, 0.3, 0.4};
    CHECK_STATUS(vf_emd_matrix(2, 3, C, a, off, &total, NULL, NULL, NULL), VF_ERR_ARG);
    CHECK(message_has("sum"));
    C[4] = NAN;
    CHECK_STATUS(vf_emd_matrix(2, 3, C, a, b, &total, NULL, NULL, NULL), VF_ERR_ARG);
    CHECK_MSG(message_has("cost[1, 1]"), "%s", vf_last_error());
    C[4] = 5;
    CHECK_STATUS(vf_emd_matrix(2, 3, NULL, a, b, &total, NULL, NULL, NULL), VF_ERR_ARG);

    vf_real x[6] = {0, 1, 2, 3, 4, 5}, y[6] = {0, 1, 2, 3, 4, 5};
    CHECK_STATUS(vf_emd(2, 3, x, 3, 2, y, NULL, NULL, VF_COST_SQEUCLIDEAN, &total, NULL), VF_ERR_ARG);
    CHECK_MSG(message_has("different dimensions") && message_has("3") && message_has("2"), "%s", vf_last_error());
    CHECK_STATUS(vf_emd(0, 2, x, 3, 2, y, NULL, NULL, VF_COST_SQEUCLIDEAN, &total, NULL), VF_ERR_ARG);
    CHECK(message_has("empty"));
    CHECK_STATUS(vf_emd(3, 2, x, 3, 2, y, NULL, NULL, (vf_cost_kind)7, &total, NULL), VF_ERR_ARG);
    y[3] = (vf_real)INFINITY;
    CHECK_STATUS(vf_emd(3, 2, x, 3, 2, y, NULL, NULL, VF_COST_SQEUCLIDEAN, &total, NULL), VF_ERR_ARG);
    CHECK_MSG(message_has("y[1, 1]"), "%s", vf_last_error());
    y[3] = 3;
    double wneg[3] = {0.5, 0.7, -0.2};
    CHECK_STATUS(vf_emd(3, 2, x, 3, 2, y, wneg, NULL, VF_COST_SQEUCLIDEAN, &total, NULL), VF_ERR_ARG);
    CHECK_MSG(message_has("a[2]"), "%s", vf_last_error());
    CHECK(vf_cost_kind_from_name("sqeuclidean") == VF_COST_SQEUCLIDEAN);
    CHECK(vf_cost_kind_from_name("euclidean") == VF_COST_EUCLIDEAN);
    CHECK(vf_cost_kind_from_name("cosine") == -1 && vf_cost_kind_from_name(NULL) == -1);

    double dir[2] = {1, 0}, out = 0;
    CHECK_STATUS(vf_sliced_wasserstein_dirs(3, 3, 2, x, y, wneg, NULL, 1, dir, 2, &out), VF_ERR_ARG);
    CHECK(message_has("a[2]"));
    CHECK_STATUS(vf_sliced_wasserstein_dirs(3, 3, 2, x, y, NULL, NULL, 1, dir, 0.5, &out), VF_ERR_ARG);
    CHECK_STATUS(vf_sliced_wasserstein_dirs(3, 3, 2, x, y, NULL, NULL, 0, dir, 2, &out), VF_ERR_ARG);
    CHECK_STATUS(vf_sliced_wasserstein_dirs(0, 3, 2, x, y, NULL, NULL, 1, dir, 2, &out), VF_ERR_ARG);

    /* Sinkhorn at eps <= 0 (the entropic counterpart) */
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.eps = 0;
    vf_sinkhorn_result res;
    CHECK_STATUS(vf_sinkhorn(2, 3, C, a, b, &o, NULL, NULL, &res), VF_ERR_ARG);
    CHECK_MSG(message_has("eps"), "%s", vf_last_error());
}

/* ---- allocation failures ---------------------------------------------------------------------- */

typedef struct scenario {
    int64_t n, m, d;
    const vf_real *x, *y;
    const double *a, *b;
    double want;
} scenario;

static vf_status run_emd(void *ctx)
{
    const scenario *s = ctx;
    vf_ot_plan P;
    double total = NAN;
    vf_status st = vf_emd(s->n, s->d, s->x, s->m, s->d, s->y, s->a, s->b, VF_COST_SQEUCLIDEAN, &total, &P);
    if (st != VF_OK) {
        if (P.nnz != 0 || P.rows || P.cols || P.mass) return VF_ERR_FORMAT; /* must be zeroed */
        return st;
    }
    int ok = fabs(total - s->want) <= 1e-12 * s->want && P.nnz >= 1;
    vf_ot_plan_free(&P);
    return ok ? VF_OK : VF_ERR_NUMERIC;
}

static vf_status run_duals(void *ctx)
{
    const scenario *s = ctx;
    double C[40 * 30], u[40], v[30], total = NAN;
    vf_status st = vf_cost_matrix(s->n, s->m, s->d, s->x, s->y, VF_COST_SQEUCLIDEAN, C);
    if (st == VF_OK) st = vf_emd_matrix(s->n, s->m, C, s->a, s->b, &total, NULL, u, NULL);
    if (st == VF_OK) st = vf_emd_matrix(s->n, s->m, C, s->a, s->b, &total, NULL, NULL, v);
    if (st != VF_OK) return st;
    return fabs(total - s->want) <= 1e-12 * s->want ? VF_OK : VF_ERR_NUMERIC;
}

static vf_status run_sliced(void *ctx)
{
    const scenario *s = ctx;
    double dirs[4] = {1, 0, 0.6, 0.8}, out;
    return vf_sliced_wasserstein_dirs(s->n, s->m, s->d, s->x, s->y, s->a, s->b, 2, dirs, 2, &out);
}

static void test_allocation_failures(void)
{
    enum { N = 40, M = 30, D = 2 };
    static vf_real x[N * D], y[M * D];
    static double a[N], b[M];
    vf_rng r;
    vf_rng_init(&r, 13, 0);
    double sa = 0, sb = 0;
    for (int k = 0; k < N * D; k++) x[k] = (vf_real)vf_rng_normal(&r);
    for (int k = 0; k < M * D; k++) y[k] = (vf_real)vf_rng_normal(&r);
    for (int i = 0; i < N; i++) sa += a[i] = i % 5 ? vf_rng_uniform(&r) : 0; /* zeros: the compacting path */
    for (int j = 0; j < M; j++) sb += b[j] = vf_rng_uniform(&r);
    for (int i = 0; i < N; i++) a[i] /= sa;
    for (int j = 0; j < M; j++) b[j] /= sb;
    scenario s = {N, M, D, x, y, a, b, 0};
    CHECK_STATUS(vf_emd(N, D, x, M, D, y, a, b, VF_COST_SQEUCLIDEAN, &s.want, NULL), VF_OK);
    CHECK(af_sweep("emd weighted", run_emd, &s, 0) == 0);
    CHECK(af_sweep("emd weighted sticky", run_emd, &s, 1) == 0);
    CHECK(af_sweep("emd duals", run_duals, &s, 0) == 0);
    CHECK(af_sweep("sliced dirs", run_sliced, &s, 0) == 0);
    scenario sq = {M, M, D, x, y, NULL, NULL, 0};
    CHECK_STATUS(vf_emd(M, D, x, M, D, y, NULL, NULL, VF_COST_SQEUCLIDEAN, &sq.want, NULL), VF_OK);
    CHECK(af_sweep("emd uniform square", run_emd, &sq, 0) == 0);
}

int main(void)
{
    RUN(test_brute_force);
    RUN(test_one_dimensional);
    RUN(test_certificate_random);
    RUN(test_ties_and_degeneracy);
    RUN(test_uniform_square);
    RUN(test_special_cases);
    RUN(test_errors);
    RUN(test_allocation_failures);
    return vf_test_summary();
}
