/* fuzz_ot.c — libFuzzer target: the optimal-transport solvers and sample distances on degenerate and
 * extreme inputs. The bytes give the sizes (1-12 points a side, 1-3 dimensions), the points (raw
 * floats, or small integers on a grid, which makes many equal costs: the case where a network simplex
 * can cycle) and the weights (uniform, or from the bytes with zeros). Checked:
 *   - exact OT (vf_emd_matrix, vf_emd): a plan whose marginals are the weights, a finite total equal to
 *     <plan, cost>, duals with u_i + v_j <= c_ij (up to rounding); and, with n == m, the assignment
 *     solver gives the same total;
 *   - Sinkhorn, its divergence, the sliced distances and MMD: a finite value, or a status with a
 *     message (non-convergence is VF_ERR_NUMERIC);
 *   - a NaN or infinite point is refused (VF_ERR_ARG).
 * A violated check aborts; so does a hang (libFuzzer's -timeout). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_util.h"

enum { MAX_N = 12, MAX_D = 3 };

/* The contract of a call that returns one value: VF_OK with a finite value, or an error with a
 * message (the statuses each solver documents). */
static void value_or_error(vf_status s, double v, int finite_points)
{
    if (s == VF_OK) fuzz_require(isfinite(v));
    else fuzz_require(vf_last_error()[0] != 0 && (s == VF_ERR_NUMERIC || s == VF_ERR_ARG || s == VF_ERR_NOMEM));
    if (!finite_points) fuzz_require(s == VF_ERR_ARG);
    vf_clear_error();
}

/* Reads n values: raw floats, or small integers (ties) when grid. */
static size_t read_points(const unsigned char *data, size_t size, int64_t count, int grid, vf_real *out)
{
    size_t used = 0;
    for (int64_t i = 0; i < count; i++) {
        if (grid) {
            out[i] = used < size ? (vf_real)(data[used] % 5) - 2 : 0;
            used += used < size;
        } else {
            float v = 0;
            if (used + 4 <= size) memcpy(&v, data + used, 4), used += 4;
            out[i] = (vf_real)v;
        }
    }
    return used;
}

/* Weights [n] from bytes (some zero), normalized; uniform when all are zero. */
static size_t read_weights(const unsigned char *data, size_t size, int64_t n, double *w)
{
    double sum = 0;
    size_t used = 0;
    for (int64_t i = 0; i < n; i++) {
        w[i] = used < size ? (double)(data[used] % 4) : 1.0;
        used += used < size;
        sum += w[i];
    }
    for (int64_t i = 0; i < n; i++) w[i] = sum > 0 ? w[i] / sum : 1.0 / (double)n;
    return used;
}

static void check_exact(int64_t n, int64_t m, const double *cost, const double *a, const double *b)
{
    vf_ot_plan plan;
    memset(&plan, 0, sizeof plan);
    double total = NAN, u[MAX_N], v[MAX_N];
    vf_status s = vf_emd_matrix(n, m, cost, a, b, &total, &plan, u, v);
    fuzz_require(s == VF_OK);
    double row[MAX_N] = {0}, col[MAX_N] = {0}, dot = 0, maxc = 0;
    for (int64_t k = 0; k < n * m; k++) maxc = fmax(maxc, fabs(cost[k]));
    for (int64_t e = 0; e < plan.nnz; e++) {
        fuzz_require(plan.rows[e] >= 0 && plan.rows[e] < n && plan.cols[e] >= 0 && plan.cols[e] < m && plan.mass[e] > 0);
        row[plan.rows[e]] += plan.mass[e];
        col[plan.cols[e]] += plan.mass[e];
        dot += plan.mass[e] * cost[plan.rows[e] * m + plan.cols[e]];
    }
    for (int64_t i = 0; i < n; i++) fuzz_require(fabs(row[i] - (a ? a[i] : 1.0 / (double)n)) <= 1e-9);
    for (int64_t j = 0; j < m; j++) fuzz_require(fabs(col[j] - (b ? b[j] : 1.0 / (double)m)) <= 1e-9);
    fuzz_require(isfinite(total) && fabs(total - dot) <= 1e-9 * (1 + maxc));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) fuzz_require(u[i] + v[j] <= cost[i * m + j] + 1e-9 * (1 + maxc));
    vf_ot_plan_free(&plan);
    if (n == m && !a && !b) { /* the assignment solver agrees */
        int64_t perm[MAX_N], seen[MAX_N] = {0};
        double t2 = NAN;
        fuzz_require(vf_assignment_solve(n, cost, perm, &t2) == VF_OK);
        for (int64_t i = 0; i < n; i++) fuzz_require(perm[i] >= 0 && perm[i] < n && !seen[perm[i]]++);
        fuzz_require(fabs(t2 / (double)n - total) <= 1e-9 * (1 + maxc));
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 4) return 0;
    int64_t n = 1 + data[0] % MAX_N, m = 1 + data[1] % MAX_N, d = 1 + data[2] % MAX_D;
    int grid = data[3] & 1, weighted = (data[3] >> 1) & 1, same_size = (data[3] >> 2) & 1;
    if (same_size) m = n;
    data += 4, size -= 4;
    vf_real x[MAX_N * MAX_D], y[MAX_N * MAX_D];
    size_t used = read_points(data, size, n * d, grid, x);
    data += used, size -= used;
    used = read_points(data, size, m * d, grid, y);
    data += used, size -= used;
    double a[MAX_N], b[MAX_N];
    if (weighted) {
        used = read_weights(data, size, n, a);
        data += used, size -= used;
        read_weights(data, size, m, b);
    }
    int finite_points = 1;
    for (int64_t i = 0; i < n * d; i++) finite_points &= isfinite((double)x[i]);
    for (int64_t i = 0; i < m * d; i++) finite_points &= isfinite((double)y[i]);

    /* exact OT on the points' squared distances, and on the raw values as a signed cost */
    double cost[MAX_N * MAX_N], total = NAN;
    vf_status s = vf_emd(n, d, x, m, d, y, weighted ? a : NULL, weighted ? b : NULL, VF_COST_SQEUCLIDEAN, &total, NULL);
    value_or_error(s, total, finite_points);
    if (finite_points && vf_cost_matrix(n, m, d, x, y, VF_COST_SQEUCLIDEAN, cost) == VF_OK) {
        int finite_cost = 1;
        for (int64_t k = 0; k < n * m; k++) finite_cost &= isfinite(cost[k]);
        if (finite_cost) check_exact(n, m, cost, weighted ? a : NULL, weighted ? b : NULL);
        for (int64_t k = 0; k < n * m; k++) cost[k] = (double)x[k % (n * d)] - (double)y[k % (m * d)];
        finite_cost = 1;
        for (int64_t k = 0; k < n * m; k++) finite_cost &= isfinite(cost[k]);
        if (finite_cost) check_exact(n, m, cost, weighted ? a : NULL, weighted ? b : NULL);
        vf_clear_error();
    }

    /* entropic OT and the sample distances */
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.max_iter = 300;
    o.eps = grid ? 0.5 : 0.05;
    double out = NAN;
    s = vf_sinkhorn_divergence(n, m, d, x, y, weighted ? a : NULL, weighted ? b : NULL, &o, &out, NULL);
    if (s != VF_ERR_NUMERIC) value_or_error(s, out, finite_points); /* non-convergence keeps the last iterate */
    else vf_clear_error();
    s = vf_sliced_wasserstein(n, m, d, x, y, 2, 8, 1, &out);
    value_or_error(s, out, finite_points);
    s = vf_energy_distance(n, m, d, x, y, 0, 1, &out);
    value_or_error(s, out, finite_points);
    s = vf_energy_distance(n, m, d, x, y, 6, 1, &out);
    value_or_error(s, out, finite_points);
    s = vf_mmd2(n, m, d, x, y, VF_KERNEL_GAUSSIAN, 0, 0, &out, NULL);
    value_or_error(s, out, finite_points);
    s = vf_mmd2(n, m, d, x, y, VF_KERNEL_IMQ, 1.0, n >= 2 && m >= 2, &out, NULL);
    value_or_error(s, out, finite_points);
    return 0;
}
