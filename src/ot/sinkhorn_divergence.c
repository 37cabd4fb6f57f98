/* sinkhorn_divergence.c — the debiased Sinkhorn divergence of two point clouds (vf_ot.h):
 *   S_eps(alpha, beta) = OT_eps(alpha, beta) - OT_eps(alpha, alpha) / 2 - OT_eps(beta, beta) / 2
 * (Feydy et al. 2019), with OT_eps = min <P, C> + eps KL(P | a b^T) from vf_sinkhorn (its dual value
 * result.objective) and the cost C_ij = |x_i - y_j|^2, formed in double. S is symmetric, zero for
 * equal measures, non-negative (the Gaussian kernel exp(-|x - y|^2 / eps) is positive definite), and
 * tends to W2^2 as eps -> 0 and to the squared distance between the means as eps grows.
 *
 * The two symmetric terms use Feydy's symmetric iteration: with P_ij = a_i a_j exp((h_i + h_j - C_ij)
 * / eps), the fixed point of h = T(h), T(h)_i = -eps log sum_j a_j exp((h_j - C_ij) / eps), is found by
 * the averaged update h <- (h + T(h)) / 2, which converges in a few dozen iterations where the
 * alternating updates crawl (points paired with themselves at small eps); OT(a, a) = 2 <a, h>. Its
 * marginal error, sum_i a_i |exp((h_i - T(h)_i) / eps) - 1| (L1) or the L2 norm, comes for free and
 * stops it at o->tol as vf_sinkhorn stops. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "ot/sinkhorn_internal.h"
#include "varflow/vf_ot.h"

static void sq_cost(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, double *c)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) {
            double s = 0;
            for (int64_t k = 0; k < d; k++) {
                double e = (double)x[i * d + k] - (double)y[j * d + k];
                s += e * e;
            }
            c[i * m + j] = s;
        }
}

/* OT_eps(a, a) for the symmetric cost c [n, n] (a NULL: uniform); res as vf_sinkhorn's; w [5 n] scratch. */
static vf_status symmetric_ot(int64_t n, const double *c, const double *a, const vf_sinkhorn_options *o,
                              vf_sinkhorn_result *res, double *w)
{
    double *h = w, *t = h + n, *la = t + n, *e = la + n, *scratch = e + n;
    const double eps = o->eps, ie = 1 / eps;
    for (int64_t i = 0; i < n; i++) la[i] = a ? log(a[i]) : -log((double)n), h[i] = 0;
    double err = INFINITY;
    int64_t it = 0;
    while (it < o->max_iter) {
        it++;
        for (int64_t i = 0; i < n; i++) e[i] = la[i] + h[i] * ie; /* log a_j + h_j / eps */
        double e1 = 0, e2 = 0;
        for (int64_t i = 0; i < n; i++) {
            t[i] = -eps * vf__sinkhorn_row_lse(n, c + i * n, e, 0, ie, scratch);
            double d = exp(la[i]) * expm1((h[i] - t[i]) * ie);
            e1 += fabs(d);
            e2 += d * d;
        }
        err = o->error_norm == 2 ? sqrt(e2) : e1;
        if (!isfinite(err) || err <= o->tol) break;
        for (int64_t i = 0; i < n; i++) h[i] = 0.5 * (h[i] + t[i]);
    }
    double obj = 0, pc = 0;
    for (int64_t i = 0; i < n; i++) obj += 2 * exp(la[i]) * h[i];
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) pc += exp(la[i] + la[j] + (h[i] + h[j] - c[i * n + j]) * ie) * c[i * n + j];
    res->iterations = it;
    res->marginal_error = err;
    res->transport_cost = pc;
    res->objective = obj;
    res->stages = 1;
    if (!(err <= o->tol))
        return vf__error(VF_ERR_NUMERIC, "sinkhorn_divergence: the symmetric problem's marginals are off by %g after "
                         "%lld iterations (tol %g)", err, (long long)it, o->tol);
    return VF_OK;
}

vf_status vf_sinkhorn_divergence(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, const double *a,
                                 const double *b, const vf_sinkhorn_options *o, double *out, vf_sinkhorn_result *parts)
{
    if (n < 1 || m < 1 || d < 1 || !x || !y || !o || !out)
        return vf__error(VF_ERR_ARG, "sinkhorn_divergence: need n, m, d >= 1 and non-NULL x, y, options, out");
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite(x[i]))
            return vf__error(VF_ERR_ARG, "sinkhorn_divergence: x[%lld, %lld] is not finite", (long long)(i / d),
                             (long long)(i % d));
    for (int64_t i = 0; i < m * d; i++)
        if (!isfinite(y[i]))
            return vf__error(VF_ERR_ARG, "sinkhorn_divergence: y[%lld, %lld] is not finite", (long long)(i / d),
                             (long long)(i % d));
    int64_t big = n > m ? n : m;
    size_t sz;
    if (vf__mul_size((size_t)big, (size_t)big, &sz) || sz > SIZE_MAX / sizeof(double) - 5 * (size_t)big)
        return vf__error(VF_ERR_ARG, "sinkhorn_divergence: %lld points are too many", (long long)big);
    double *c = vf_malloc((sz + 5 * (size_t)big) * sizeof *c);
    if (!c) return vf__error(VF_ERR_NOMEM, "sinkhorn_divergence: out of memory for a %lld x %lld cost", (long long)big,
                             (long long)big);
    vf_sinkhorn_result r[3];
    /* A term that does not converge (VF_ERR_NUMERIC) still holds its last iterate, so the others are
     * solved too and the divergence of the last iterates is returned with the first such error. */
    char first_error[256] = "";
    vf_status s = VF_OK, si;
    for (int k = 0; k < 3 && (s == VF_OK || s == VF_ERR_NUMERIC); k++) {
        if (k == 0) {
            sq_cost(n, m, d, x, y, c);
            si = vf_sinkhorn(n, m, c, a, b, o, NULL, NULL, &r[0]);
        } else {
            int64_t p = k == 1 ? n : m;
            sq_cost(p, p, d, k == 1 ? x : y, k == 1 ? x : y, c);
            si = symmetric_ot(p, c, k == 1 ? a : b, o, &r[k], c + sz);
        }
        if (si == VF_ERR_NUMERIC && s == VF_OK) {
            snprintf(first_error, sizeof first_error, "%s", vf_last_error());
            s = si;
        } else if (si != VF_OK && si != VF_ERR_NUMERIC) {
            s = si;
        }
    }
    vf_free(c);
    if (s != VF_OK && s != VF_ERR_NUMERIC) return s;
    *out = r[0].objective - 0.5 * r[1].objective - 0.5 * r[2].objective;
    if (parts) memcpy(parts, r, sizeof r);
    if (s == VF_ERR_NUMERIC) return vf__error(VF_ERR_NUMERIC, "%s", first_error);
    return VF_OK;
}
