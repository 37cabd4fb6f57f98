/* psis.c — Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao & Gabry 2024) and the
 * generalized Pareto fit behind it (Zhang & Stephens 2009), vf_vi.h.
 *
 * GPD fit. For exceedances x_1 <= ... <= x_m, Zhang & Stephens parameterize the GPD by theta = -k /
 * sigma, for which the profile estimate of the shape is k(theta) = mean log(1 - theta x_i) and the
 * profile log-likelihood is l(theta) = m (log(-theta / k(theta)) - k(theta) - 1). They integrate
 * theta against the likelihood on the quadrature grid theta_j = 1 / x_m + (1 - sqrt(G / (j - 1/2)))
 * / (3 x_q), j = 1..G, G = 30 + floor(sqrt(m)), x_q the first quartile, and take the posterior mean
 * theta^ = sum_j theta_j w_j, w_j = 1 / sum_l exp(l_l - l_j). Then k^ = k(theta^), sigma^ = -k^ /
 * theta^, and (Vehtari et al.) k^ <- (m k^ + 10 * 0.5) / (m + 10), a weak prior toward 0.5. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "varflow/vf_vi.h"
#include "internal.h"

vf_status vf_gpd_fit(int64_t m, const double *x, double *k, double *sigma)
{
    if (m < 5 || !x || !k || !sigma) return vf__error(VF_ERR_ARG, "gpd fit: need m >= 5 exceedances");
    if (!(x[m - 1] > 0)) return vf__error(VF_ERR_ARG, "gpd fit: the largest exceedance must be > 0");
    int64_t g = 30 + (int64_t)sqrt((double)m);
    double *th = vf_malloc((size_t)(2 * g) * sizeof *th);
    if (!th) return vf__error(VF_ERR_NOMEM, "gpd fit: out of memory");
    double *ll = th + g;
    int64_t q = (int64_t)((double)m / 4 + 0.5) - 1;
    if (q < 0) q = 0;
    double xq = x[q] > 0 ? x[q] : x[m - 1]; /* a zero quartile (ties at the threshold): fall back */
    for (int64_t j = 0; j < g; j++) {
        th[j] = 1 / x[m - 1] + (1 - sqrt((double)g / ((double)j + 0.5))) / (3 * xq);
        double kk = 0;
        for (int64_t i = 0; i < m; i++) kk += log1p(-th[j] * x[i]);
        kk /= (double)m;
        double r = kk != 0 ? -th[j] / kk : 0;
        ll[j] = r > 0 ? (double)m * (log(r) - kk - 1) : -INFINITY;
    }
    double num = 0, den = 0;
    for (int64_t j = 0; j < g; j++) {
        if (ll[j] == -INFINITY) continue;
        double sum = 0;
        for (int64_t l = 0; l < g; l++)
            if (ll[l] != -INFINITY) sum += exp(ll[l] - ll[j]);
        double w = 1 / sum;
        num += w * th[j];
        den += w;
    }
    vf_free(th);
    if (!(den > 0)) return vf__error(VF_ERR_NUMERIC, "gpd fit: the likelihood vanished on the whole grid");
    double theta = num / den, kk = 0;
    for (int64_t i = 0; i < m; i++) kk += log1p(-theta * x[i]);
    kk /= (double)m;
    *sigma = -kk / theta;
    *k = ((double)m * kk + 10 * 0.5) / ((double)m + 10);
    return VF_OK;
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* GPD quantile at p in (0, 1). */
static double gpd_quantile(double p, double k, double sigma)
{
    if (fabs(k) < 1e-12) return -sigma * log1p(-p);
    return sigma / k * (exp(-k * log1p(-p)) - 1);
}

vf_status vf_psis(int64_t n, const double *logw, double *smoothed, double *khat)
{
    if (!logw || !khat || n < 1) return vf__error(VF_ERR_ARG, "psis: bad arguments");
    *khat = NAN;
    if (smoothed && smoothed != logw) memcpy(smoothed, logw, (size_t)n * sizeof *smoothed);
    for (int64_t i = 0; i < n; i++)
        if (isnan(logw[i]) || logw[i] == INFINITY)
            return vf__error(VF_ERR_NUMERIC, "psis: log weight %lld is %s", (long long)i,
                             isnan(logw[i]) ? "NaN" : "+inf");
    if (n < 25) return VF_OK;
    double a = (double)n / 5, b = 3 * sqrt((double)n);
    int64_t m = (int64_t)(a < b ? a : b);
    /* (index, value) pairs of the m + 1 largest: sort a copy of all (n log n, fine for a summary) */
    double *sorted = vf_malloc((size_t)(n + m) * sizeof *sorted);
    if (!sorted) return vf__error(VF_ERR_NOMEM, "psis: out of memory");
    double *x = sorted + n;
    memcpy(sorted, logw, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_desc);
    double top = sorted[0], cut = sorted[m];
    if (top == -INFINITY || top == cut) { /* no tail above the threshold: nothing to fit */
        vf_free(sorted);
        return VF_OK;
    }
    double base = cut == -INFINITY ? 0 : exp(cut - top);
    for (int64_t j = 0; j < m; j++) x[j] = exp(sorted[m - 1 - j] - top) - base; /* ascending */
    double k, sigma;
    vf_status s = vf_gpd_fit(m, x, &k, &sigma);
    if (s != VF_OK) {
        vf_free(sorted);
        return s;
    }
    *khat = k;
    if (smoothed) {
        /* replace the tail in rank order: the j-th smallest of the M gets the ((j - 1/2) / M) quantile */
        int64_t *idx = vf_malloc((size_t)m * sizeof *idx);
        if (!idx) {
            vf_free(sorted);
            return vf__error(VF_ERR_NOMEM, "psis: out of memory");
        }
        /* the M entries strictly above the threshold value, ranked by value (ties at the threshold stay) */
        int64_t cnt = 0;
        for (int64_t i = 0; i < n && cnt < m; i++)
            if (logw[i] > cut) idx[cnt++] = i;
        for (int64_t u = 1; u < cnt; u++) { /* insertion sort by logw, ascending */
            int64_t v = idx[u], w = u;
            while (w > 0 && logw[idx[w - 1]] > logw[v]) {
                idx[w] = idx[w - 1];
                w--;
            }
            idx[w] = v;
        }
        for (int64_t j = 0; j < cnt; j++) {
            double q = base + gpd_quantile(((double)(j + m - cnt) + 0.5) / (double)m, k, sigma);
            double lw = top + log(q);
            smoothed[idx[j]] = lw < top ? lw : top;
        }
        vf_free(idx);
    }
    vf_free(sorted);
    return VF_OK;
}
