/* test_ot_assignment.c — the exact assignment solver and exact OT between equal-size samples
 * (vf_ot.h): against brute force over all n! permutations for n <= 8 (integer costs with many ties,
 * real costs, negative costs, constant matrices); optimality certificates for n = 50, 300, 1000
 * (dual feasibility u[i] + v[j] <= c[i, j], equality on the matching, and zero duality gap); huge
 * costs (the scaled path); the 1-D known answer (sorted order is optimal for the squared cost);
 * shifted Gaussian clouds (W2^2 against |m|^2 within Monte Carlo error); bad arguments; and every
 * allocation failure.
 *
 * Tolerances. Brute-force totals of integer costs must agree exactly; real costs within 1e-12 of the
 * cost scale. A certificate's violations are rounding of sums of at most ~2n costs, allowed
 * 1e-9 * max|c|. The Gaussian test's tolerance is 4 standard deviations of an exactly Gaussian term
 * (derived at the test).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "alloc_fail.h"
#include "vf_test.h"

/* 1 if p is a permutation of 0..n-1. */
static int is_perm(int64_t n, const int64_t *p)
{
    char *seen = calloc((size_t)n + 1, 1);
    int ok = 1;
    for (int64_t i = 0; i < n && ok; i++) {
        if (p[i] < 0 || p[i] >= n || seen[p[i]]) ok = 0;
        else seen[p[i]] = 1;
    }
    free(seen);
    return ok;
}

static double matching_cost(int64_t n, const double *c, const int64_t *p)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += c[i * n + p[i]];
    return s;
}

/* Minimum over all permutations (Heap's algorithm, iterative). */
static double brute_force(int n, const double *c)
{
    int p[8], cnt[8] = {0};
    for (int i = 0; i < n; i++) p[i] = i;
    double best = INFINITY;
    for (;;) {
        double s = 0;
        for (int i = 0; i < n; i++) s += c[i * n + p[i]];
        if (s < best) best = s;
        int i = 1;
        while (i < n && cnt[i] >= i) cnt[i++] = 0;
        if (i >= n) break;
        int j = (i % 2) ? cnt[i] : 0;
        int t = p[i];
        p[i] = p[j];
        p[j] = t;
        cnt[i]++;
    }
    return best;
}

enum { KIND_INT, KIND_REAL, KIND_NEG, KIND_CONST, KIND_COUNT };

static void fill_costs(vf_rng *r, int kind, int64_t nn, double *c)
{
    for (int64_t k = 0; k < nn; k++) {
        switch (kind) {
        case KIND_INT: c[k] = (double)vf_rng_below(r, 4); break;              /* many ties */
        case KIND_REAL: c[k] = vf_rng_normal(r); break;
        case KIND_NEG: c[k] = -1000.0 + (double)vf_rng_below(r, 11); break;   /* all negative */
        default: c[k] = -2.5; break;
        }
    }
}

/* ---- brute force, n <= 8 ------------------------------------------------------------------------ */
static void test_brute_force_small(void)
{
    vf_rng r;
    vf_rng_init(&r, 2024, 0);
    double c[64], u[8], v[8];
    int64_t p[8];
    int cases = 0;
    for (int n = 1; n <= 8; n++) {
        int reps = n <= 6 ? 200 : (n == 7 ? 60 : 20);
        for (int kind = 0; kind < KIND_COUNT; kind++) {
            for (int rep = 0; rep < (kind == KIND_CONST ? 1 : reps); rep++) {
                fill_costs(&r, kind, (int64_t)n * n, c);
                double total = NAN;
                CHECK_STATUS(vf_assignment_solve_dual(n, c, p, &total, u, v), VF_OK);
                CHECK(is_perm(n, p));
                double want = brute_force(n, c);
                double got = matching_cost(n, c, p);
                double tol = kind == KIND_REAL ? 1e-12 * n : 0.0;
                CHECK_MSG(fabs(got - want) <= tol, "n %d kind %d rep %d: matching %.17g, optimum %.17g", n,
                          kind, rep, got, want);
                CHECK_NEAR(total, got, tol);
                double dual = 0;
                for (int i = 0; i < n; i++) dual += u[i] + v[i];
                CHECK_NEAR(dual, want, 1e-9 * (1 + fabs(want)));
                cases++;
            }
        }
    }
    CHECK(cases > 2000);
}

/* ---- optimality certificate for larger n -------------------------------------------------------- */
/* Checks the dual solution certifies p; returns the largest violation relative to max|c|. */
static double certificate(int64_t n, const double *c, const int64_t *p, double total, const double *u,
                          const double *v)
{
    double maxabs = 0;
    for (int64_t k = 0; k < n * n; k++) maxabs = fmax(maxabs, fabs(c[k]));
    double worst = 0, dual = 0;
    for (int64_t i = 0; i < n; i++) {
        dual += u[i] + v[i];
        for (int64_t j = 0; j < n; j++) {
            double slack = c[i * n + j] - u[i] - v[j];
            if (j == p[i]) worst = fmax(worst, fabs(slack));
            else worst = fmax(worst, -slack);
        }
    }
    worst = fmax(worst, fabs(dual - total) / n);
    return worst / fmax(maxabs, 1e-300);
}

static void test_certificate_large(void)
{
    const int64_t sizes[] = {50, 300, 1000};
    vf_rng r;
    vf_rng_init(&r, 77, 0);
    for (int s = 0; s < 3; s++) {
        int64_t n = sizes[s];
        double *c = malloc(sizeof(double) * n * n), *u = malloc(sizeof(double) * n),
               *v = malloc(sizeof(double) * n);
        int64_t *p = malloc(sizeof(int64_t) * n);
        double *pts = malloc(sizeof(double) * 4 * n);
        for (int kind = 0; kind < 4; kind++) {
            if (kind == 0) { /* uniform real */
                for (int64_t k = 0; k < n * n; k++) c[k] = vf_rng_uniform(&r);
            } else if (kind == 1) { /* integers with ties, negative too */
                for (int64_t k = 0; k < n * n; k++) c[k] = (double)vf_rng_below(&r, 100) - 50;
            } else if (kind == 2) { /* squared distances of 2-D Gaussian points (geometric, hard) */
                for (int64_t k = 0; k < 4 * n; k++) pts[k] = vf_rng_normal(&r);
                for (int64_t i = 0; i < n; i++)
                    for (int64_t j = 0; j < n; j++) {
                        double a = pts[2 * i] - pts[2 * n + 2 * j], b = pts[2 * i + 1] - pts[2 * n + 2 * j + 1];
                        c[i * n + j] = a * a + b * b;
                    }
            } else { /* rank-one-like: c = a_i * b_j (anti-sorted optimum), wide range */
                for (int64_t k = 0; k < 2 * n; k++) pts[k] = exp(4 * vf_rng_normal(&r));
                for (int64_t i = 0; i < n; i++)
                    for (int64_t j = 0; j < n; j++) c[i * n + j] = pts[i] * pts[n + j];
            }
            double total = NAN;
            CHECK_STATUS(vf_assignment_solve_dual(n, c, p, &total, u, v), VF_OK);
            CHECK(is_perm(n, p));
            CHECK_NEAR(total, matching_cost(n, c, p), 1e-12 * n * (1 + fabs(total)));
            double viol = certificate(n, c, p, total, u, v);
            CHECK_MSG(viol <= 1e-9, "n %lld kind %d: certificate violated by %.3g (relative to max|c|)",
                      (long long)n, kind, viol);
            if (kind == 1) CHECK_MSG(viol == 0, "integer costs: violation %.3g, expected exact", viol);
            if (kind == 3) {
                /* c = a_i b_j with a, b > 0: by the rearrangement inequality the optimum pairs the
                 * largest a with the smallest b. */
                double want = 0;
                double *a = malloc(sizeof(double) * n), *b = malloc(sizeof(double) * n);
                memcpy(a, pts, sizeof(double) * n);
                memcpy(b, pts + n, sizeof(double) * n);
                for (int64_t i = 1; i < n; i++) /* insertion sorts: a ascending, b descending */
                    for (int64_t j = i; j > 0 && a[j] < a[j - 1]; j--) {
                        double t = a[j]; a[j] = a[j - 1]; a[j - 1] = t;
                    }
                for (int64_t i = 1; i < n; i++)
                    for (int64_t j = i; j > 0 && b[j] > b[j - 1]; j--) {
                        double t = b[j]; b[j] = b[j - 1]; b[j - 1] = t;
                    }
                for (int64_t i = 0; i < n; i++) want += a[i] * b[i];
                CHECK_NEAR(total, want, 1e-10 * want);
                free(a);
                free(b);
            }
        }
        free(c);
        free(u);
        free(v);
        free(p);
        free(pts);
    }
}

/* Costs near DBL_MAX go through a scaled copy; the matching must still be optimal. */
static void test_huge_costs(void)
{
    vf_rng r;
    vf_rng_init(&r, 5, 0);
    enum { N = 6 };
    double ci[N * N], c[N * N], u[N], v[N];
    int64_t p[N];
    for (int rep = 0; rep < 50; rep++) {
        for (int k = 0; k < N * N; k++) {
            ci[k] = (double)vf_rng_below(&r, 5) - 2; /* -2..2 */
            c[k] = ldexp(ci[k], 1020);              /* exact; |sums| <= 12 * 2^1020 < DBL_MAX */
        }
        double total;
        CHECK_STATUS(vf_assignment_solve_dual(N, c, p, &total, u, v), VF_OK);
        CHECK(is_perm(N, p));
        CHECK(matching_cost(N, ci, p) == brute_force(N, ci));
        CHECK(isfinite(total) && total == ldexp(matching_cost(N, ci, p), 1020));
        for (int i = 0; i < N; i++) CHECK(isfinite(u[i]) && isfinite(v[i]));
    }
    /* Tiny costs are not scaled and still exact. */
    for (int k = 0; k < N * N; k++) c[k] = ci[k] * 1e-300;
    CHECK_STATUS(vf_assignment_solve(N, c, p, NULL), VF_OK);
    CHECK(matching_cost(N, ci, p) == brute_force(N, ci));
}

static void test_trivial_sizes(void)
{
    int64_t p[2] = {-7, -7};
    double total = 1;
    CHECK_STATUS(vf_assignment_solve(0, NULL, NULL, &total), VF_OK);
    CHECK(total == 0);
    CHECK_STATUS(vf_assignment_solve(0, NULL, NULL, NULL), VF_OK);
    const double c1 = -3.5;
    CHECK_STATUS(vf_assignment_solve(1, &c1, p, &total), VF_OK);
    CHECK(p[0] == 0 && total == -3.5);
    const double c2[4] = {1, 0, 0, 1};
    CHECK_STATUS(vf_assignment_solve(2, c2, p, &total), VF_OK);
    CHECK(p[0] == 1 && p[1] == 0 && total == 0);
    /* The header's example. */
    const double c3[9] = {4, 1, 3, 2, 0, 5, 3, 2, 2};
    int64_t p3[3];
    CHECK_STATUS(vf_assignment_solve(3, c3, p3, &total), VF_OK);
    CHECK(p3[0] == 1 && p3[1] == 0 && p3[2] == 2 && total == 5);
    double w = 1;
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(0, 2, NULL, NULL, NULL, &w), VF_OK);
    CHECK(w == 0);
}

/* ---- exact OT of point clouds ------------------------------------------------------------------- */
static int cmp_real(const void *a, const void *b)
{
    vf_real x = *(const vf_real *)a, y = *(const vf_real *)b;
    return (x > y) - (x < y);
}

/* In 1-D the squared cost is submodular, so the monotone (sorted) matching is optimal. */
static void test_line_sorted(void)
{
    enum { N = 400 };
    vf_real x[N], y[N], xs[N], ys[N];
    int64_t p[N];
    vf_rng r;
    vf_rng_init(&r, 11, 0);
    vf_rng_normal_fill(&r, x, N, 0.0, 1.0);
    vf_rng_uniform_fill(&r, y, N, -1.0, 3.0);
    double w2;
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(N, 1, x, y, p, &w2), VF_OK);
    CHECK(is_perm(N, p));
    memcpy(xs, x, sizeof x);
    memcpy(ys, y, sizeof y);
    qsort(xs, N, sizeof *xs, cmp_real);
    qsort(ys, N, sizeof *ys, cmp_real);
    double want = 0;
    for (int i = 0; i < N; i++) {
        double t = (double)xs[i] - (double)ys[i];
        want += t * t;
    }
    want /= N;
    CHECK_NEAR(w2, want, 1e-12 * want);
    /* The pairing itself is monotone (values are distinct with probability one). */
    int monotone = 1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (x[i] < x[j] && y[p[i]] > y[p[j]]) monotone = 0;
    CHECK(monotone);
}

/* x_i ~ N(0, I_2), y_j = z_j + m with z_j ~ N(0, I_2), n points each. For any permutation p,
 *   sum_i |x_i - z_p(i) - m|^2 = sum_i |x_i - z_p(i)|^2 - 2 n m.(xbar - zbar) + n |m|^2,
 * since sum_i (x_i - z_p(i)) = n (xbar - zbar) whatever p is. The shift adds a constant, so
 *   W2^2(x, y) = W2^2(x, z) + |m|^2 - 2 m.(xbar - zbar)      (exact, checked to rounding),
 * and W2^2(x, y) - |m|^2 - W2^2(x, z) = -2 m.(xbar - zbar) ~ N(0, 8 |m|^2 / n) exactly (xbar - zbar
 * ~ N(0, (2/n) I)), checked within 4 standard deviations. W2^2(x, z) >= 0 is the finite-sample bias
 * of the empirical W2 (it vanishes as n grows, like log n / n in 2-D), so also
 *   |m|^2 - 4 sd <= W2^2(x, y) <= |m|^2 + 4 sd + W2^2(x, z). */
static void test_gaussian_shift(void)
{
    enum { N = 1000, D = 2 };
    const double m[D] = {3.0, -4.0}, m2 = 25.0;
    vf_real *x = malloc(sizeof(vf_real) * N * D), *z = malloc(sizeof(vf_real) * N * D),
            *y = malloc(sizeof(vf_real) * N * D);
    int64_t *p = malloc(sizeof(int64_t) * N), *q = malloc(sizeof(int64_t) * N);
    vf_rng r;
    vf_rng_init(&r, 3, 0);
    vf_rng_normal_fill(&r, x, N * D, 0.0, 1.0);
    vf_rng_normal_fill(&r, z, N * D, 0.0, 1.0);
    /* y = z + m rounded to vf_real: the identity below then holds up to that rounding (each
     * coordinate of y - z - m is below 2^-21 in float, 2^-50 in double, for |y| < 16), which moves any
     * pairing's mean cost by at most about 2 max|x - y| |e| + |e|^2. */
    double xbar[D] = {0}, zbar[D] = {0};
    for (int i = 0; i < N; i++)
        for (int k = 0; k < D; k++) {
            y[i * D + k] = (vf_real)((double)z[i * D + k] + m[k]);
            xbar[k] += (double)x[i * D + k] / N;
            zbar[k] += (double)z[i * D + k] / N;
        }
    double wxy, wxz;
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(N, D, x, y, p, &wxy), VF_OK);
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(N, D, x, z, q, &wxz), VF_OK);
    CHECK(is_perm(N, p) && is_perm(N, q));
    double ident = wxz + m2 - 2 * (m[0] * (xbar[0] - zbar[0]) + m[1] * (xbar[1] - zbar[1]));
    double rounding = sizeof(vf_real) == 4 ? 1e-4 : 1e-11; /* 2 * 20 * 2^-21 ~ 2e-5; 2^-50 * 40 ~ 4e-14 */
    CHECK_NEAR(wxy, ident, rounding);
    double sd = sqrt(8.0 * m2 / N);
    CHECK_NEAR(wxy - wxz, m2, 4 * sd);
    CHECK(wxz >= 0 && wxz < m2);
    CHECK(wxy >= m2 - 4 * sd && wxy <= m2 + 4 * sd + wxz);
    free(x);
    free(y);
    free(z);
    free(p);
    free(q);
}

/* ---- bad arguments -------------------------------------------------------------------------- */
static void test_bad_arguments(void)
{
    double c[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    int64_t p[3];
    c[5] = NAN; /* [1, 2] */
    vf_clear_error();
    CHECK_STATUS(vf_assignment_solve(3, c, p, NULL), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "cost[1, 2]") != NULL);
    c[5] = 6;
    c[7] = -INFINITY; /* [2, 1] */
    CHECK_STATUS(vf_assignment_solve(3, c, p, NULL), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "cost[2, 1]") != NULL);
    c[7] = 8;
    vf_clear_error();
    CHECK_STATUS(vf_assignment_solve(-1, c, p, NULL), VF_ERR_ARG);
    CHECK(vf_last_error()[0] != '\0');
    vf_clear_error();
    CHECK_STATUS(vf_assignment_solve(3, NULL, p, NULL), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "cost") != NULL);
    vf_clear_error();
    CHECK_STATUS(vf_assignment_solve(3, c, NULL, NULL), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "perm") != NULL);
    CHECK_STATUS(vf_assignment_solve(INT64_C(1) << 40, c, p, NULL), VF_ERR_ARG);

    vf_real x[6] = {0, 1, 2, 3, 4, 5}, y[6] = {0, 1, 2, 3, 4, 5};
    double w;
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(3, 2, NULL, y, p, &w), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "x") != NULL);
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(3, 2, x, NULL, p, &w), VF_ERR_ARG);
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(3, 2, x, y, NULL, &w), VF_ERR_ARG);
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(-2, 2, x, y, p, &w), VF_ERR_ARG);
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(3, 0, x, y, p, &w), VF_ERR_ARG);
    y[3] = (vf_real)NAN; /* y[1, 1] */
    vf_clear_error();
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(3, 2, x, y, p, &w), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "y[1, 1]") != NULL);
    y[3] = 3;
    x[4] = (vf_real)INFINITY; /* x[2, 0] */
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(3, 2, x, y, p, &w), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "x[2, 0]") != NULL);
    x[4] = 4;
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(3, 2, x, y, p, &w), VF_OK);
    CHECK(p[0] == 0 && p[1] == 1 && p[2] == 2 && w == 0);
}

/* ---- allocation failures ------------------------------------------------------------------------ */
typedef struct af_ctx {
    int64_t n;
    double *c;      /* [n, n] */
    vf_real *x, *y; /* [n, 2] */
    double want;    /* reference optimum */
    int pairs;      /* 1: vf_ot_pairs_sqeuclidean on x, y; 0: vf_assignment_solve_dual on c */
} af_ctx;

static vf_status af_scenario_run(void *ctx)
{
    af_ctx *a = ctx;
    int64_t p[40];
    double u[40], v[40], total = NAN;
    vf_status s = a->pairs ? vf_ot_pairs_sqeuclidean(a->n, 2, a->x, a->y, p, &total)
                           : vf_assignment_solve_dual(a->n, a->c, p, &total, u, v);
    if (s != VF_OK) return s;
    if (!is_perm(a->n, p) || !(fabs(total - a->want) <= 1e-9 * (1 + fabs(a->want)))) return VF_ERR_STATE;
    return VF_OK;
}

static void test_alloc_failures(void)
{
    enum { N = 30 };
    double c[N * N];
    vf_real x[N * 2], y[N * 2];
    int64_t p[N];
    vf_rng r;
    vf_rng_init(&r, 9, 0);
    for (int k = 0; k < N * N; k++) c[k] = vf_rng_normal(&r);
    vf_rng_normal_fill(&r, x, N * 2, 0.0, 1.0);
    vf_rng_normal_fill(&r, y, N * 2, 0.0, 1.0);
    af_ctx a = {N, c, x, y, 0, 0};
    CHECK_STATUS(vf_assignment_solve(N, c, p, &a.want), VF_OK);
    for (int sticky = 0; sticky <= 1; sticky++) CHECK(af_sweep("assignment", af_scenario_run, &a, sticky) == 0);
    /* The scaled path allocates a copy of the costs too. */
    double big[N * N];
    for (int k = 0; k < N * N; k++) big[k] = vf_rng_uniform(&r) * 1e307; /* > DBL_MAX / (16 N) */
    a.c = big;
    CHECK_STATUS(vf_assignment_solve(N, big, p, &a.want), VF_OK);
    for (int sticky = 0; sticky <= 1; sticky++)
        CHECK(af_sweep("assignment (scaled)", af_scenario_run, &a, sticky) == 0);
    a.pairs = 1;
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(N, 2, x, y, p, &a.want), VF_OK);
    for (int sticky = 0; sticky <= 1; sticky++) CHECK(af_sweep("ot pairs", af_scenario_run, &a, sticky) == 0);
    /* Counting run: the solver allocates (and frees) something, so the sweep above exercised it. */
    af_install(0, 0);
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(N, 2, x, y, p, NULL), VF_OK);
    af_remove();
    CHECK(af.calls >= 2 && af.live == 0);
}

int main(void)
{
    RUN(test_trivial_sizes);
    RUN(test_brute_force_small);
    RUN(test_certificate_large);
    RUN(test_huge_costs);
    RUN(test_line_sorted);
    RUN(test_gaussian_shift);
    RUN(test_bad_arguments);
    RUN(test_alloc_failures);
    return vf_test_summary();
}
