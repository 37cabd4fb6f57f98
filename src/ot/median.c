/* median.c — selection and the median pairwise squared distance (the median heuristic of kernel
 * bandwidths) for ksd.c and the particle flows. */
#include <math.h>
#include "ot/ot_internal.h"

double vf__select_kth(double *a, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = a[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return a[k];
    }
    return a[k];
}

vf_status vf__median_sq_distance(int64_t n, int64_t d, const vf_real *x, int64_t max_points, double *work,
                                 double *out)
{
    int64_t p = n < max_points ? n : max_points;
    if (p < 2) return vf__error(VF_ERR_ARG, "median heuristic: needs at least two points");
    int64_t pairs = p * (p - 1) / 2;
    double *dist = work ? work : vf_malloc((size_t)pairs * sizeof *dist);
    if (!dist) return vf__error(VF_ERR_NOMEM, "median heuristic: out of memory");
    int64_t c = 0;
    for (int64_t i = 0; i < p; i++)
        for (int64_t j = i + 1; j < p; j++) {
            double q = 0;
            for (int64_t k = 0; k < d; k++) {
                double e = (double)x[i * d + k] - (double)x[j * d + k];
                q += e * e;
            }
            dist[c++] = q;
        }
    double m = vf__select_kth(dist, pairs, pairs / 2);
    if (pairs % 2 == 0) {
        double below = dist[0]; /* the largest of the lower half, all of which now sit before pairs / 2 */
        for (int64_t i = 1; i < pairs / 2; i++)
            if (dist[i] > below) below = dist[i];
        m = 0.5 * (m + below);
    }
    if (!work) vf_free(dist);
    *out = m;
    return VF_OK;
}
