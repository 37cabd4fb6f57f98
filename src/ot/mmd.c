/* mmd.c — the maximum mean discrepancy with Gaussian, Laplace and inverse-multiquadric kernels,
 * biased or unbiased, with the median heuristic for the bandwidth (vf_ot.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "varflow/vf_ot.h"

enum { MEDIAN_POINTS = 1000 };

int vf_kernel_from_name(const char *name)
{
    static const char *const names[] = {"gaussian", "laplace", "imq"};
    for (int k = 0; name && k < 3; k++)
        if (strcmp(name, names[k]) == 0) return k;
    return -1;
}

static double sq_dist(const vf_real *a, const vf_real *b, int64_t d)
{
    double s = 0;
    for (int64_t k = 0; k < d; k++) {
        double e = (double)a[k] - (double)b[k];
        s += e * e;
    }
    return s;
}

static double kernel_of(vf_kernel k, double r2, double h)
{
    switch (k) {
    case VF_KERNEL_GAUSSIAN: return exp(-r2 / (2 * h * h));
    case VF_KERNEL_LAPLACE: return exp(-sqrt(r2) / h);
    default: return 1 / sqrt(1 + r2 / (h * h));
    }
}

/* Mean of k over pairs (i, j) of a [na] x b [nb]; same = 1 (a == b) skips i = j when `skip_diag`. */
static double mean_kernel(const vf_real *a, int64_t na, const vf_real *b, int64_t nb, int64_t d, vf_kernel k,
                          double h, int same, int skip_diag)
{
    double s = 0;
    for (int64_t i = 0; i < na; i++)
        for (int64_t j = 0; j < nb; j++) {
            if (same && skip_diag && i == j) continue;
            s += kernel_of(k, sq_dist(a + i * d, b + j * d, d), h);
        }
    double pairs = (double)na * (double)nb - (same && skip_diag ? (double)na : 0);
    return s / pairs;
}

/* The median distance between distinct points of the pooled sample's first MEDIAN_POINTS points. */
static vf_status median_bandwidth(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, double *h)
{
    int64_t p = n + m < MEDIAN_POINTS ? n + m : MEDIAN_POINTS;
    int64_t pairs = p * (p - 1) / 2;
    if (pairs < 1) return vf__error(VF_ERR_ARG, "mmd: the median heuristic needs two points");
    double *dist = vf_malloc((size_t)pairs * sizeof *dist);
    if (!dist) return vf__error(VF_ERR_NOMEM, "mmd: out of memory for the median heuristic");
    int64_t k = 0;
    for (int64_t i = 0; i < p; i++)
        for (int64_t j = i + 1; j < p; j++) {
            const vf_real *a = i < n ? x + i * d : y + (i - n) * d, *b = j < n ? x + j * d : y + (j - n) * d;
            dist[k++] = sqrt(sq_dist(a, b, d));
        }
    qsort(dist, (size_t)pairs, sizeof *dist, vf__compare_doubles);
    *h = pairs % 2 ? dist[pairs / 2] : 0.5 * (dist[pairs / 2 - 1] + dist[pairs / 2]);
    vf_free(dist);
    if (!(*h > 0)) return vf__error(VF_ERR_ARG, "mmd: the median distance is 0 (repeated points); give a bandwidth");
    return VF_OK;
}

vf_status vf_mmd2(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, vf_kernel kernel,
                  double bandwidth, int unbiased, double *out, double *bandwidth_used)
{
    if (n < 1 || m < 1 || d < 1 || !x || !y || !out)
        return vf__error(VF_ERR_ARG, "mmd: need non-empty samples x [n, d], y [m, d] and an output");
    if (kernel != VF_KERNEL_GAUSSIAN && kernel != VF_KERNEL_LAPLACE && kernel != VF_KERNEL_IMQ)
        return vf__error(VF_ERR_ARG, "mmd: unknown kernel %d", (int)kernel);
    if (unbiased && (n < 2 || m < 2)) return vf__error(VF_ERR_ARG, "mmd: the unbiased estimate needs n, m >= 2");
    if (!isfinite(bandwidth)) return vf__error(VF_ERR_ARG, "mmd: bandwidth %g is not finite", bandwidth);
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite((double)x[i])) return vf__error(VF_ERR_ARG, "mmd: x[%lld, %lld] is not finite", (long long)(i / d), (long long)(i % d));
    for (int64_t i = 0; i < m * d; i++)
        if (!isfinite((double)y[i])) return vf__error(VF_ERR_ARG, "mmd: y[%lld, %lld] is not finite", (long long)(i / d), (long long)(i % d));
    double h = bandwidth;
    if (h <= 0) {
        vf_status s = median_bandwidth(n, m, d, x, y, &h);
        if (s != VF_OK) return s;
    }
    double kxx = mean_kernel(x, n, x, n, d, kernel, h, 1, unbiased), kyy = mean_kernel(y, m, y, m, d, kernel, h, 1, unbiased);
    double kxy = mean_kernel(x, n, y, m, d, kernel, h, 0, 0);
    *out = kxx + kyy - 2 * kxy;
    if (bandwidth_used) *bandwidth_used = h;
    if (!isfinite(*out))
        return vf__error(VF_ERR_NUMERIC, "mmd: the value is not finite (bandwidth %g is too small for the number range)",
                         h);
    return VF_OK;
}
