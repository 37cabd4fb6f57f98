/* ksd.c — the kernel Stein discrepancy (Liu, Lee & Jordan 2016; Gorham & Mackey 2017) of a sample
 * against a target known through its score s = grad log p (vf_ot.h).
 *
 * With the Langevin Stein operator, the Stein kernel of a base kernel k(x, y) is
 *   u(x, y) = s(x)^T s(y) k + s(x)^T grad_y k + s(y)^T grad_x k + tr(grad_x grad_y k),
 * and KSD^2 = E u(X, X') for X, X' ~ q independent (0 iff q = p under the kernels' conditions).
 * Both base kernels are radial: grad_x k = g(r^2) (x - y) = -grad_y k, so the middle terms are
 * g (x - y)^T (s(y) - s(x)), and with q = c^2 + r^2:
 *   IMQ      k = q^beta:         g = 2 beta q^(beta - 1),
 *            tr = -2 beta d q^(beta - 1) - 4 beta (beta - 1) q^(beta - 2) r^2
 *   Gaussian k = exp(-r^2/(2h^2)): g = -k / h^2,  tr = k (d / h^2 - r^2 / h^4)
 * The V-statistic averages u over all n^2 pairs (>= 0), the U-statistic over the n (n - 1) pairs
 * i != j (unbiased, can be negative). O(n^2 d), accumulated in double. */
#include <math.h>
#include "ot/ot_internal.h"
#include "varflow/vf_ot.h"

#define KSD_MEDIAN_POINTS 1000

vf_ksd_options vf_ksd_default_options(void)
{
    vf_ksd_options o;
    o.kernel = VF_KERNEL_IMQ;
    o.bandwidth = 1.0;
    o.beta = -0.5;
    o.unbiased = 0;
    return o;
}

/* u(x_i, x_j) for rows xi, xj [d] and scores si, sj [d]. */
static double stein_kernel(const vf_ksd_options *o, double h, int64_t d, const vf_real *xi, const vf_real *xj,
                           const double *si, const double *sj)
{
    double r2 = 0, ss = 0, cross = 0;
    for (int64_t k = 0; k < d; k++) {
        double e = (double)xi[k] - (double)xj[k];
        r2 += e * e;
        ss += si[k] * sj[k];
        cross += e * (sj[k] - si[k]);
    }
    double kv, g, tr;
    if (o->kernel == VF_KERNEL_IMQ) {
        double q = h * h + r2, b = o->beta;
        double qb1 = pow(q, b - 1);
        kv = qb1 * q;
        g = 2 * b * qb1;
        tr = -2 * b * (double)d * qb1 - 4 * b * (b - 1) * qb1 / q * r2;
    } else {
        double h2 = h * h;
        kv = exp(-r2 / (2 * h2));
        g = -kv / h2;
        tr = kv * ((double)d / h2 - r2 / (h2 * h2));
    }
    return kv * ss + g * cross + tr;
}

vf_status vf_ksd(int64_t n, int64_t d, const vf_real *x, const double *scores, const vf_ksd_options *opt,
                 double *out, double *bandwidth_used)
{
    vf_ksd_options o = opt ? *opt : vf_ksd_default_options();
    if (!out || !x || !scores || d < 1 || n < 1)
        return vf__error(VF_ERR_ARG, "ksd: need x [n, d], scores [n, d] and out (n %lld, d %lld)", (long long)n,
                         (long long)d);
    if (o.unbiased && n < 2) return vf__error(VF_ERR_ARG, "ksd: the U-statistic needs n >= 2");
    if (o.kernel != VF_KERNEL_IMQ && o.kernel != VF_KERNEL_GAUSSIAN)
        return vf__error(VF_ERR_ARG, "ksd: kernel must be imq or gaussian");
    if (o.kernel == VF_KERNEL_IMQ && !(o.beta > -1 && o.beta < 0))
        return vf__error(VF_ERR_ARG, "ksd: the IMQ exponent beta must lie in (-1, 0), got %g", o.beta);
    if (!isfinite(o.bandwidth) || (o.kernel == VF_KERNEL_IMQ && !(o.bandwidth > 0)))
        return vf__error(VF_ERR_ARG, "ksd: bandwidth must be finite (> 0 for imq), got %g", o.bandwidth);
    for (int64_t i = 0; i < n * d; i++) {
        if (!isfinite((double)x[i]))
            return vf__error(VF_ERR_ARG, "ksd: x[%lld, %lld] is not finite", (long long)(i / d), (long long)(i % d));
        if (!isfinite(scores[i]))
            return vf__error(VF_ERR_ARG, "ksd: scores[%lld, %lld] is not finite", (long long)(i / d),
                             (long long)(i % d));
    }
    double h = o.bandwidth;
    if (o.kernel == VF_KERNEL_GAUSSIAN && h <= 0) {
        double m2;
        vf_status s = vf__median_sq_distance(n, d, x, KSD_MEDIAN_POINTS, NULL, &m2);
        if (s != VF_OK) return s;
        if (!(m2 > 0)) return vf__error(VF_ERR_ARG, "ksd: the median distance is 0 (repeated points); give a bandwidth");
        h = sqrt(m2);
    }
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        const vf_real *xi = x + i * d;
        const double *si = scores + i * d;
        if (!o.unbiased) total += stein_kernel(&o, h, d, xi, xi, si, si);
        for (int64_t j = i + 1; j < n; j++) total += 2 * stein_kernel(&o, h, d, xi, x + j * d, si, scores + j * d);
    }
    double nn = (double)n;
    *out = o.unbiased ? total / (nn * (nn - 1)) : total / (nn * nn);
    if (bandwidth_used) *bandwidth_used = h;
    if (!isfinite(*out))
        return vf__error(VF_ERR_NUMERIC, "ksd: the value is not finite (bandwidth %g: too small, or scores too large, "
                         "for the number range)", h);
    return VF_OK;
}
