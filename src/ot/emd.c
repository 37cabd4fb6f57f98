/* emd.c — exact OT between point clouds (vf_emd in vf_ot.h): validate the clouds, form the cost
 * matrix in double (squared Euclidean or Euclidean), and solve it with vf_emd_matrix
 * (network_simplex.c; the assignment solver for equal-size uniform clouds). */
#include <math.h>
#include <string.h>
#include "internal.h"
#include "varflow/vf_ot.h"

int vf_cost_kind_from_name(const char *name)
{
    if (name && strcmp(name, "sqeuclidean") == 0) return VF_COST_SQEUCLIDEAN;
    if (name && strcmp(name, "euclidean") == 0) return VF_COST_EUCLIDEAN;
    return -1;
}

/* First non-finite coordinate of a [n, d], as "NAME[i, k] is v". */
static vf_status check_points(const char *name, int64_t n, int64_t d, const vf_real *p)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < d; k++)
            if (!isfinite((double)p[i * d + k]))
                return vf__error(VF_ERR_ARG, "emd: %s[%lld, %lld] is %g (points must be finite)", name, (long long)i,
                                 (long long)k, (double)p[i * d + k]);
    return VF_OK;
}

vf_status vf_cost_matrix(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, vf_cost_kind kind,
                         double *cost)
{
    if (n < 1 || m < 1 || d < 1 || !x || !y || !cost)
        return vf__error(VF_ERR_ARG, "cost matrix: need x [n, d], y [m, d] with n, m, d >= 1 and an output (got n "
                                     "%lld, m %lld, d %lld)",
                         (long long)n, (long long)m, (long long)d);
    if (kind != VF_COST_SQEUCLIDEAN && kind != VF_COST_EUCLIDEAN)
        return vf__error(VF_ERR_ARG, "cost matrix: unknown cost kind %d", (int)kind);
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite((double)x[i]))
            return vf__error(VF_ERR_ARG, "cost matrix: x[%lld, %lld] is not finite", (long long)(i / d), (long long)(i % d));
    for (int64_t i = 0; i < m * d; i++)
        if (!isfinite((double)y[i]))
            return vf__error(VF_ERR_ARG, "cost matrix: y[%lld, %lld] is not finite", (long long)(i / d), (long long)(i % d));
    /* cost[i, j] = sum_k (x[i, k] - y[j, k])^2 (then its square root), differences and sum in double. */
#if VF_HAVE_OPENMP
#pragma omp parallel for schedule(static) if ((double)n * (double)m * (double)d > 1e6) num_threads(vf__threads())
#endif
    for (int64_t i = 0; i < n; i++) {
        const vf_real *xi = x + i * d;
        double *ci = cost + i * m;
        for (int64_t j = 0; j < m; j++) {
            const vf_real *yj = y + j * d;
            double acc = 0;
            for (int64_t k = 0; k < d; k++) {
                double t = (double)xi[k] - (double)yj[k];
                acc += t * t;
            }
            ci[j] = kind == VF_COST_EUCLIDEAN ? sqrt(acc) : acc;
        }
    }
    return VF_OK;
}

vf_status vf_emd(int64_t n, int64_t dx, const vf_real *x, int64_t m, int64_t dy, const vf_real *y, const double *a,
                 const double *b, vf_cost_kind kind, double *total, vf_ot_plan *plan)
{
    if (plan) memset(plan, 0, sizeof *plan);
    if (dx != dy)
        return vf__error(VF_ERR_ARG, "emd: the point clouds have different dimensions (x has %lld columns, y has %lld)",
                         (long long)dx, (long long)dy);
    if (n < 1 || m < 1)
        return vf__error(VF_ERR_ARG, "emd: empty point cloud (n = %lld, m = %lld; both must be >= 1)", (long long)n,
                         (long long)m);
    if (dx < 1) return vf__error(VF_ERR_ARG, "emd: dimension %lld < 1", (long long)dx);
    if (!x || !y) return vf__error(VF_ERR_ARG, "emd: %s is NULL", !x ? "x" : "y");
    if (kind != VF_COST_SQEUCLIDEAN && kind != VF_COST_EUCLIDEAN)
        return vf__error(VF_ERR_ARG, "emd: unknown cost kind %d", (int)kind);
    size_t nm;
    if (vf__mul_size((size_t)n, (size_t)m, &nm) || nm > SIZE_MAX / sizeof(double))
        return vf__error(VF_ERR_ARG, "emd: n = %lld, m = %lld is too large", (long long)n, (long long)m);
    vf_status s = check_points("x", n, dx, x);
    if (s == VF_OK) s = check_points("y", m, dx, y);
    if (s != VF_OK) return s;
    double *cost = vf_malloc(nm * sizeof *cost); /* [n, m] */
    if (!cost)
        return vf__error(VF_ERR_NOMEM, "emd: no memory for the %lld x %lld cost matrix", (long long)n, (long long)m);
    s = vf_cost_matrix(n, m, dx, x, y, kind, cost);
    if (s == VF_OK) s = vf_emd_matrix(n, m, cost, a, b, total, plan, NULL, NULL);
    vf_free(cost);
    return s;
}
