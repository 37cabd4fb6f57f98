/* ot_pairs.c — exact OT between two equal-size uniform samples for the squared Euclidean cost:
 * the n x n cost matrix in double, then the network simplex (network_simplex.c), whose basic optimal
 * plan for uniform weights 1/n on both sides is a permutation (Birkhoff), so it is an optimal
 * assignment and its mean cost is W2^2. On 2-D point clouds the network simplex is several times faster
 * than the assignment solver (docs/ot.md); should its plan ever not be a permutation (rounding in the
 * flows), the assignment solver (assignment.c) gives the matching instead. */
#include <math.h>
#include "internal.h"

/* First non-finite entry of a [n, d] array, as "NAME[i, k] is v"; VF_OK when all are finite. */
static vf_status check_points(const char *name, int64_t n, int64_t d, const vf_real *a)
{
    for (int64_t i = 0; i < n; i++) {
        const vf_real *ai = a + i * d;
        for (int64_t k = 0; k < d; k++) {
            if (!isfinite((double)ai[k]))
                return vf__error(VF_ERR_ARG, "ot pairs: %s[%lld, %lld] is %g (points must be finite)", name,
                                 (long long)i, (long long)k, (double)ai[k]);
        }
    }
    return VF_OK;
}

vf_status vf_ot_pairs_sqeuclidean(int64_t n, int64_t d, const vf_real *x, const vf_real *y, int64_t *perm,
                                  double *cost_out)
{
    if (n < 0) return vf__error(VF_ERR_ARG, "ot pairs: n = %lld < 0", (long long)n);
    if (d < 1) return vf__error(VF_ERR_ARG, "ot pairs: d = %lld < 1", (long long)d);
    if (n > 0 && (!x || !y || !perm))
        return vf__error(VF_ERR_ARG, "ot pairs: %s is NULL", !x ? "x" : !y ? "y" : "perm");
    size_t nn, nd;
    if (vf__mul_size((size_t)n, (size_t)n, &nn) || nn > SIZE_MAX / sizeof(double) ||
        vf__mul_size((size_t)n, (size_t)d, &nd))
        return vf__error(VF_ERR_ARG, "ot pairs: n = %lld, d = %lld is too large", (long long)n, (long long)d);
    if (n == 0) {
        if (cost_out) *cost_out = 0;
        return VF_OK;
    }
    vf_status s = check_points("x", n, d, x);
    if (s == VF_OK) s = check_points("y", n, d, y);
    if (s != VF_OK) return s;

    double *cost = vf_malloc(nn * sizeof *cost); /* [n, n] */
    if (!cost)
        return vf__error(VF_ERR_NOMEM, "ot pairs: no memory for the %lld x %lld cost matrix", (long long)n,
                         (long long)n);
    s = vf_cost_matrix(n, n, d, x, y, VF_COST_SQEUCLIDEAN, cost); /* in double, OpenMP over rows */
    if (s != VF_OK) {
        vf_free(cost);
        return s;
    }
    double total = 0;
    vf_ot_plan plan = {0};
    s = vf_emd_matrix(n, n, cost, NULL, NULL, NULL, &plan, NULL, NULL);
    int is_permutation = s == VF_OK && plan.nnz == n;
    for (int64_t k = 0; k < n && is_permutation; k++) is_permutation = plan.rows[k] == k; /* sorted by row */
    if (is_permutation) {
        for (int64_t k = 0; k < n; k++) {
            perm[k] = plan.cols[k];
            total += cost[k * n + perm[k]];
        }
    } else if (s != VF_ERR_NOMEM) {
        s = vf_assignment_solve(n, cost, perm, &total);
    }
    vf_ot_plan_free(&plan);
    vf_free(cost);
    if (s != VF_OK) return s;
    if (cost_out) *cost_out = total / (double)n;
    return VF_OK;
}
