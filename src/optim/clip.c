/* clip.c — global L2 gradient norm and norm clipping over a flat gradient vector. */
#include <math.h>
#include "internal.h"

enum { LANES = 8 }; /* independent partial sums: the loops vectorize without reassociating */

/* sum_i (scale g[i])^2 in double, in LANES partial sums. NaN or infinity in g gives NaN or
 * infinity. */
static double sum_of_squares(const vf_real *g, int64_t n, double scale)
{
    double acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            double r = (double)g[i + j] * scale;
            acc[j] += r * r;
        }
    for (; i < n; i++) acc[0] += ((double)g[i] * scale) * ((double)g[i] * scale);
    double ssq = 0;
    for (int j = 0; j < LANES; j++) ssq += acc[j];
    return ssq;
}

#if VF_USE_DOUBLE
/* Squares of doubles can overflow (or underflow to 0): scale by the largest finite magnitude m first
 * (two vectorizable passes instead of LAPACK's nrm2 update with a division per element). The max
 * skips NaNs; with m = 0 or infinity the plain sum gives the answer (0, infinity or NaN), and any
 * NaN reaches the scaled sum too. */
double vf_grad_norm(const vf_real *g, int64_t n)
{
    double peak[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            double a = fabs(g[i + j]);
            peak[j] = a > peak[j] ? a : peak[j];
        }
    for (; i < n; i++) peak[0] = fabs(g[i]) > peak[0] ? fabs(g[i]) : peak[0];
    double m = 0;
    for (int j = 0; j < LANES; j++) m = peak[j] > m ? peak[j] : m;
    if (m == 0 || m == INFINITY) return sqrt(sum_of_squares(g, n, 1.0));
    return m * sqrt(sum_of_squares(g, n, 1.0 / m));
}
#else
/* A float's square is exact-range in double (|g| < 3.5e38 squares below 1.2e77; the smallest
 * subnormal squares to 2e-90): the plain double sum of squares neither overflows nor underflows. */
double vf_grad_norm(const vf_real *g, int64_t n) { return sqrt(sum_of_squares(g, n, 1.0)); }
#endif

vf_status vf_clip_grad_norm(vf_real *g, int64_t n, double max_norm, double *norm)
{
    if ((!g && n > 0) || n < 0) return vf__error(VF_ERR_ARG, "clip_grad_norm: NULL gradient or negative size");
    if (!(max_norm > 0)) return vf__error(VF_ERR_ARG, "clip_grad_norm: max_norm %g must be > 0", max_norm);
    double total = vf_grad_norm(g, n);
    if (norm) *norm = total;
    if (!isfinite(total)) return vf__error(VF_ERR_NUMERIC, "clip_grad_norm: gradient norm is %g", total);
    if (total > max_norm) {
        double c = max_norm / (total + 1e-6);
        for (int64_t i = 0; i < n; i++) g[i] = (vf_real)((double)g[i] * c);
    }
    return VF_OK;
}
