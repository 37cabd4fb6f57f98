/* bures.c — the closed-form 2-Wasserstein distance between Gaussians (Bures-Wasserstein), from
 * parameters or fitted to two samples (vf_ot.h), and the symmetric eigen-solver it needs.
 *
 *   W2^2(N(m1, S1), N(m2, S2)) = |m1 - m2|^2 + tr S1 + tr S2 - 2 tr (S1^{1/2} S2 S1^{1/2})^{1/2}
 *
 * S1^{1/2} and the trace of the outer square root come from eigen-decompositions by the cyclic
 * Jacobi method (rotations that zero each off-diagonal entry in turn until the off-diagonal mass is
 * at rounding level): slow for large d (O(d^3) per sweep, a handful of sweeps) but accurate to a few
 * ulps of the largest eigenvalue, which is what a d of a few hundred at most needs. */
#include <math.h>
#include <string.h>
#include "internal.h"
#include "varflow/vf_ot.h"

/* Eigen-decomposition of the symmetric a [d, d] (overwritten): w [d] eigenvalues, v [d, d] (may be
 * NULL) the eigenvectors in its columns, a = v diag(w) v^T. */
static void jacobi_eigen(int64_t d, double *a, double *w, double *v)
{
    if (v)
        for (int64_t i = 0; i < d * d; i++) v[i] = (i / d == i % d);
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int64_t i = 0; i < d; i++) {
            diag += a[i * d + i] * a[i * d + i];
            for (int64_t j = i + 1; j < d; j++) off += a[i * d + j] * a[i * d + j];
        }
        if (off <= 1e-34 * diag || off == 0) break;
        for (int64_t p = 0; p < d; p++)
            for (int64_t q = p + 1; q < d; q++) {
                double apq = a[p * d + q];
                if (apq == 0) continue;
                /* the rotation (c, s) in the (p, q) plane that zeroes a[p, q] */
                double theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int64_t k = 0; k < d; k++) { /* columns p, q */
                    double akp = a[k * d + p], akq = a[k * d + q];
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for (int64_t k = 0; k < d; k++) { /* rows p, q */
                    double apk = a[p * d + k], aqk = a[q * d + k];
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                a[p * d + q] = a[q * d + p] = 0;
                if (v)
                    for (int64_t k = 0; k < d; k++) {
                        double vkp = v[k * d + p], vkq = v[k * d + q];
                        v[k * d + p] = c * vkp - s * vkq;
                        v[k * d + q] = s * vkp + c * vkq;
                    }
            }
    }
    for (int64_t i = 0; i < d; i++) w[i] = a[i * d + i];
}

static vf_status check_cov(const char *which, int64_t d, const double *s)
{
    double scale = 0;
    for (int64_t i = 0; i < d * d; i++) {
        if (!isfinite(s[i]))
            return vf__error(VF_ERR_ARG, "gaussian_w2sq: %s[%lld, %lld] is not finite", which, (long long)(i / d),
                             (long long)(i % d));
        scale = fmax(scale, fabs(s[i]));
    }
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = i + 1; j < d; j++)
            if (fabs(s[i * d + j] - s[j * d + i]) > 1e-12 * scale)
                return vf__error(VF_ERR_ARG, "gaussian_w2sq: %s is not symmetric (entries %lld, %lld)", which,
                                 (long long)i, (long long)j);
    return VF_OK;
}

vf_status vf_gaussian_w2sq(int64_t d, const double *m1, const double *s1, const double *m2, const double *s2, double *out)
{
    if (d < 1 || !m1 || !s1 || !m2 || !s2 || !out) return vf__error(VF_ERR_ARG, "gaussian_w2sq: d < 1 or NULL argument");
    for (int64_t i = 0; i < d; i++)
        if (!isfinite(m1[i]) || !isfinite(m2[i]))
            return vf__error(VF_ERR_ARG, "gaussian_w2sq: mean entry %lld is not finite", (long long)i);
    vf_status st = check_cov("S1", d, s1);
    if (st == VF_OK) st = check_cov("S2", d, s2);
    if (st != VF_OK) return st;
    size_t dd;
    if (vf__mul_size((size_t)d, (size_t)d, &dd) || dd > SIZE_MAX / (4 * sizeof(double)) - (size_t)d)
        return vf__error(VF_ERR_ARG, "gaussian_w2sq: d = %lld is too large", (long long)d);
    double *a = vf_malloc((4 * dd + (size_t)d) * sizeof *a);
    if (!a) return vf__error(VF_ERR_NOMEM, "gaussian_w2sq: out of memory");
    double *v = a + dd, *r = v + dd, *t = r + dd, *w = t + dd;
    memcpy(a, s1, dd * sizeof *a);
    jacobi_eigen(d, a, w, v);
    double wmax = 0, tr = 0;
    for (int64_t i = 0; i < d; i++) wmax = fmax(wmax, fabs(w[i]));
    for (int64_t i = 0; i < d; i++)
        if (w[i] < -1e-10 * wmax) {
            double bad = w[i];
            vf_free(a);
            return vf__error(VF_ERR_ARG, "gaussian_w2sq: S1 is not positive semi-definite (eigenvalue %g)", bad);
        }
    /* r = S1^{1/2} = v diag(sqrt w) v^T */
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            double s = 0;
            for (int64_t k = 0; k < d; k++) s += v[i * d + k] * sqrt(fmax(w[k], 0)) * v[j * d + k];
            r[i * d + j] = s;
        }
    /* a = r S2 r (symmetrized against rounding) */
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            double s = 0;
            for (int64_t k = 0; k < d; k++) s += s2[i * d + k] * r[k * d + j];
            t[i * d + j] = s;
        }
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            double s = 0;
            for (int64_t k = 0; k < d; k++) s += r[i * d + k] * t[k * d + j];
            a[i * d + j] = s;
        }
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = i + 1; j < d; j++) a[i * d + j] = a[j * d + i] = 0.5 * (a[i * d + j] + a[j * d + i]);
    jacobi_eigen(d, a, w, NULL);
    double wmax2 = 0;
    for (int64_t i = 0; i < d; i++) wmax2 = fmax(wmax2, fabs(w[i]));
    for (int64_t i = 0; i < d; i++)
        if (w[i] < -1e-10 * wmax2) {
            vf_free(a);
            return vf__error(VF_ERR_ARG, "gaussian_w2sq: S2 is not positive semi-definite");
        }
    for (int64_t i = 0; i < d; i++) {
        double dm = m1[i] - m2[i];
        tr += dm * dm + s1[i * d + i] + s2[i * d + i] - 2 * sqrt(fmax(w[i], 0));
    }
    vf_free(a);
    *out = fmax(tr, 0); /* >= 0 in exact arithmetic; rounding can leave -1e-16 */
    return VF_OK;
}

/* mean [d] and covariance cov [d, d] (denominator n - 1) of x [n, d], in double */
static void moments(int64_t n, int64_t d, const vf_real *x, double *mean, double *cov)
{
    for (int64_t k = 0; k < d; k++) mean[k] = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < d; k++) mean[k] += x[i * d + k];
    for (int64_t k = 0; k < d; k++) mean[k] /= (double)n;
    for (int64_t k = 0; k < d * d; k++) cov[k] = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < d; k++) {
            double ck = x[i * d + k] - mean[k];
            for (int64_t l = 0; l <= k; l++) cov[k * d + l] += ck * (x[i * d + l] - mean[l]);
        }
    for (int64_t k = 0; k < d; k++)
        for (int64_t l = 0; l <= k; l++) cov[l * d + k] = cov[k * d + l] = cov[k * d + l] / (double)(n - 1);
}

vf_status vf_gaussian_w2sq_samples(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, double *out)
{
    if (n < 2 || m < 2 || d < 1 || !x || !y || !out)
        return vf__error(VF_ERR_ARG, "gaussian_w2sq_samples: need n, m >= 2, d >= 1 and non-NULL arrays");
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite(x[i]))
            return vf__error(VF_ERR_ARG, "gaussian_w2sq_samples: x[%lld, %lld] is not finite", (long long)(i / d),
                             (long long)(i % d));
    for (int64_t i = 0; i < m * d; i++)
        if (!isfinite(y[i]))
            return vf__error(VF_ERR_ARG, "gaussian_w2sq_samples: y[%lld, %lld] is not finite", (long long)(i / d),
                             (long long)(i % d));
    size_t dd;
    if (vf__mul_size((size_t)d, (size_t)d, &dd) || dd > SIZE_MAX / (4 * sizeof(double)) - (size_t)d)
        return vf__error(VF_ERR_ARG, "gaussian_w2sq_samples: d = %lld is too large", (long long)d);
    double *buf = vf_malloc((2 * dd + 2 * (size_t)d) * sizeof *buf);
    if (!buf) return vf__error(VF_ERR_NOMEM, "gaussian_w2sq_samples: out of memory");
    double *m1 = buf, *m2 = m1 + d, *s1 = m2 + d, *s2 = s1 + dd;
    moments(n, d, x, m1, s1);
    moments(m, d, y, m2, s2);
    vf_status st = vf_gaussian_w2sq(d, m1, s1, m2, s2, out);
    vf_free(buf);
    return st;
}
