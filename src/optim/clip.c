/* clip.c — global L2 gradient norm and norm clipping over a flat gradient vector. */
#include <math.h>
#include "internal.h"

double vf_grad_norm(const vf_real *g, int64_t n)
{
    /* Scaled sum of squares (as LAPACK's nrm2) so float and double gradients near the top of their
     * range neither overflow nor lose precision. */
    double scale = 0.0, ssq = 1.0;
    for (int64_t i = 0; i < n; i++) {
        double a = fabs((double)g[i]);
        if (a != a || a == INFINITY) return a; /* NaN or +inf */
        if (a == 0.0) continue;
        if (scale < a) {
            double r = scale / a;
            ssq = 1.0 + ssq * r * r;
            scale = a;
        } else {
            double r = a / scale;
            ssq += r * r;
        }
    }
    return scale * sqrt(ssq);
}

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
