/* sinkhorn.c — entropic optimal transport by Sinkhorn's iterations in the log domain (vf_ot.h), and
 * pairs drawn from the resulting plan.
 *
 * With P_ij = exp((f_i + g_j - C_ij) / eps), the row sums equal a when
 *   f_i = eps log a_i - eps log sum_j exp((g_j - C_ij) / eps)
 * and the column sums equal b when g_j is updated likewise. Each log-sum-exp subtracts its largest
 * term first, so every exponential has a non-positive argument (vf__exp_neg_d: vectorizable, no
 * overflow for any eps). */
#include <math.h>
#include <string.h>
#include "ad/vmath.h"
#include "internal.h"
#include "varflow/vf_ot.h"

vf_sinkhorn_options vf_sinkhorn_default_options(void)
{
    vf_sinkhorn_options o;
    o.eps = 0.1;
    o.tol = 1e-9;
    o.max_iter = 10000;
    return o;
}

/* eps log sum_j exp((pot_j - c_j) / eps) over j < m, with c_j = c[j * stride]; tmp [m] scratch. */
static double soft_min_row(int64_t m, const double *pot, const double *c, int64_t stride, double eps, double *tmp)
{
    double mx = -INFINITY;
    for (int64_t j = 0; j < m; j++) {
        tmp[j] = (pot[j] - c[j * stride]) / eps;
        mx = tmp[j] > mx ? tmp[j] : mx;
    }
    double s = 0;
    for (int64_t j = 0; j < m; j++) s += vf__exp_neg_d(tmp[j] - mx);
    return eps * (mx + log(s));
}

static vf_status check_weights(const char *which, int64_t n, const double *w)
{
    if (!w) return VF_OK;
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!(w[i] > 0) || !isfinite(w[i]))
            return vf__error(VF_ERR_ARG, "sinkhorn: weight %s[%lld] = %g must be positive and finite", which,
                             (long long)i, w[i]);
        s += w[i];
    }
    if (fabs(s - 1) > 1e-9) return vf__error(VF_ERR_ARG, "sinkhorn: the weights %s sum to %.17g, not 1", which, s);
    return VF_OK;
}

vf_status vf_sinkhorn(int64_t n, int64_t m, const double *cost, const double *a, const double *b,
                      const vf_sinkhorn_options *o, double *f_out, double *g_out, vf_sinkhorn_result *res)
{
    if (!o || ((n > 0 && m > 0) && !cost)) return vf__error(VF_ERR_ARG, "sinkhorn: NULL cost or options");
    if (n < 1 || m < 1) return vf__error(VF_ERR_ARG, "sinkhorn: need n, m >= 1 (got %lld, %lld)", (long long)n, (long long)m);
    if (!(o->eps > 0) || !isfinite(o->eps)) return vf__error(VF_ERR_ARG, "sinkhorn: eps must be > 0 (got %g)", o->eps);
    if (!(o->tol > 0) || o->max_iter < 1) return vf__error(VF_ERR_ARG, "sinkhorn: need tol > 0 and max_iter >= 1");
    for (int64_t i = 0; i < n * m; i++)
        if (!isfinite(cost[i]))
            return vf__error(VF_ERR_ARG, "sinkhorn: cost[%lld, %lld] is not finite", (long long)(i / m), (long long)(i % m));
    vf_status s = check_weights("a", n, a);
    if (s == VF_OK) s = check_weights("b", m, b);
    if (s != VF_OK) return s;
    double *f = vf_malloc((size_t)(n + m + (n > m ? n : m) + n) * sizeof *f);
    if (!f) return vf__error(VF_ERR_NOMEM, "sinkhorn: out of memory");
    double *g = f + n, *tmp = g + m, *la = tmp + (n > m ? n : m);
    double eps = o->eps, err = INFINITY;
    for (int64_t i = 0; i < n; i++) la[i] = a ? log(a[i]) : -log((double)n), f[i] = 0;
    for (int64_t j = 0; j < m; j++) g[j] = 0;
    int64_t it = 0;
    while (it < o->max_iter) {
        it++;
        for (int64_t j = 0; j < m; j++) /* columns: sum_i P_ij = b_j */
            g[j] = eps * (b ? log(b[j]) : -log((double)m)) - soft_min_row(n, f, cost + j, m, eps, tmp);
        err = 0; /* rows: the error before the update, then f makes them exact */
        for (int64_t i = 0; i < n; i++) {
            double lse = soft_min_row(m, g, cost + i * m, 1, eps, tmp), fi = eps * la[i] - lse;
            double row = exp((f[i] + lse) / eps); /* the row sum with the current f */
            err += fabs(row - exp(la[i]));
            f[i] = fi;
        }
        if (!isfinite(err)) break;
        if (err <= o->tol) break;
    }
    double total = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) {
            double c = cost[i * m + j];
            total += exp((f[i] + g[j] - c) / eps) * c;
        }
    if (f_out) memcpy(f_out, f, (size_t)n * sizeof *f);
    if (g_out) memcpy(g_out, g, (size_t)m * sizeof *g);
    if (res) {
        res->iterations = it;
        res->marginal_error = err;
        res->transport_cost = total;
    }
    vf_free(f);
    if (!(err <= o->tol))
        return vf__error(VF_ERR_NUMERIC, "sinkhorn: the marginals are off by %g (L1) after %lld iterations (tol %g; "
                         "a smaller eps needs more)", err, (long long)it, o->tol);
    return VF_OK;
}

vf_status vf_sinkhorn_sample_pairs(int64_t n, int64_t m, const double *cost, const double *f, const double *g,
                                   double eps, int64_t k, vf_rng *r, int64_t *rows, int64_t *cols)
{
    if (n < 1 || m < 1 || k < 0 || !cost || !f || !g || !r || (k > 0 && (!rows || !cols)))
        return vf__error(VF_ERR_ARG, "sinkhorn_sample_pairs: bad sizes or NULL argument");
    if (!(eps > 0)) return vf__error(VF_ERR_ARG, "sinkhorn_sample_pairs: eps must be > 0");
    double *cum = vf_malloc((size_t)(n * m) * sizeof *cum);
    if (!cum) return vf__error(VF_ERR_NOMEM, "sinkhorn_sample_pairs: out of memory for %lld entries", (long long)(n * m));
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) {
            double p = exp((f[i] + g[j] - cost[i * m + j]) / eps);
            s += isfinite(p) ? p : 0;
            cum[i * m + j] = s;
        }
    if (!(s > 0) || !isfinite(s)) {
        vf_free(cum);
        return vf__error(VF_ERR_NUMERIC, "sinkhorn_sample_pairs: the plan has total mass %g", s);
    }
    for (int64_t q = 0; q < k; q++) {
        double u = vf_rng_uniform(r) * s;
        int64_t lo = 0, hi = n * m - 1; /* first index with cum > u */
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (cum[mid] > u) hi = mid;
            else lo = mid + 1;
        }
        rows[q] = lo / m;
        cols[q] = lo % m;
    }
    vf_free(cum);
    return VF_OK;
}
