/* particles_svgd.c — the direction of Stein variational gradient descent (Liu & Wang 2016):
 *   phi(x_i) = (1/n) sum_j [ k(x_j, x_i) grad log p(x_j) + grad_{x_j} k(x_j, x_i) ],
 * the steepest descent direction of KL(q | p) in the unit ball of the kernel's RKHS. With the RBF
 * kernel k = exp(-r^2 / (2 sigma2)), grad_{x_j} k(x_j, x_i) = k (x_i - x_j) / sigma2: the first term
 * pulls particles up the density (kernel-smoothed), the second pushes them apart. O(n^2 d). */
#include <math.h>
#include <string.h>
#include "ot/ot_internal.h"

void vf__svgd_phi(int64_t n, int64_t d, const vf_real *x, const double *s, double sigma2, double *phi)
{
    memset(phi, 0, (size_t)(n * d) * sizeof *phi);
    for (int64_t i = 0; i < n; i++) {
        const vf_real *xi = x + i * d;
        double *pi = phi + i * d;
        /* the diagonal j = i: k = 1, no repulsion */
        for (int64_t k = 0; k < d; k++) pi[k] += s[i * d + k];
        for (int64_t j = i + 1; j < n; j++) {
            const vf_real *xj = x + j * d;
            double *pj = phi + j * d;
            double r2 = 0;
            for (int64_t k = 0; k < d; k++) {
                double e = (double)xi[k] - (double)xj[k];
                r2 += e * e;
            }
            double kv = exp(-r2 / (2 * sigma2)), kr = kv / sigma2;
            for (int64_t k = 0; k < d; k++) {
                double e = (double)xi[k] - (double)xj[k];
                pi[k] += kv * s[j * d + k] + kr * e;   /* x_j acting on x_i */
                pj[k] += kv * s[i * d + k] - kr * e;   /* x_i acting on x_j */
            }
        }
    }
    double inv = 1.0 / (double)n;
    for (int64_t i = 0; i < n * d; i++) phi[i] *= inv;
}
