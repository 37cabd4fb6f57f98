/* is_stats.c — importance-sampling estimates from log weights (vf_vi.h): log Z with its delta-method
 * standard error, ESS, the ELBO, forward ESS, and self-normalized expectations. Everything is
 * computed from w_i / max w in double, so no weight overflows. */
#include <math.h>
#include "varflow/vf_vi.h"
#include "internal.h"

/* max of logw, checking for NaN / +inf; VF_ERR_NUMERIC naming the row, or when every entry is -inf. */
static vf_status check_logw(const char *who, int64_t n, const double *logw, double *top)
{
    double m = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(logw[i]) || logw[i] == INFINITY)
            return vf__error(VF_ERR_NUMERIC, "%s: log weight %lld is %s", who, (long long)i,
                             isnan(logw[i]) ? "NaN" : "+inf");
        if (logw[i] > m) m = logw[i];
    }
    if (m == -INFINITY) return vf__error(VF_ERR_NUMERIC, "%s: every weight is zero (all log weights -inf)", who);
    *top = m;
    return VF_OK;
}

vf_status vf_is_summarize(int64_t n, const double *logw, vf_is_stats *out)
{
    if (!out || !logw || n < 2) return vf__error(VF_ERR_ARG, "is summarize: need n >= 2 weights");
    double m = 0;
    vf_status s = check_logw("is summarize", n, logw, &m);
    if (s != VF_OK) return s;
    double sw = 0, sw2 = 0, sl = 0, sl2 = 0;
    int finite = 1;
    for (int64_t i = 0; i < n; i++) {
        double w = exp(logw[i] - m);
        sw += w;
        sw2 += w * w;
        if (logw[i] == -INFINITY) finite = 0;
        else sl += logw[i];
    }
    double mean = sw / (double)n;
    double var = (sw2 - (double)n * mean * mean) / (double)(n - 1);
    out->n = n;
    out->log_z = m + log(mean);
    out->log_z_stderr = sqrt(var > 0 ? var : 0) / (sqrt((double)n) * mean);
    out->ess = sw * sw / sw2;
    out->ess_fraction = out->ess / (double)n;
    if (finite) {
        double e = sl / (double)n;
        for (int64_t i = 0; i < n; i++) sl2 += (logw[i] - e) * (logw[i] - e);
        out->elbo = e;
        out->elbo_stderr = sqrt(sl2 / (double)(n - 1) / (double)n);
    } else {
        out->elbo = -INFINITY;
        out->elbo_stderr = NAN;
    }
    return vf_psis(n, logw, NULL, &out->khat);
}

vf_status vf_is_forward_ess(int64_t n, const double *logw, double *ess_fraction)
{
    if (!logw || !ess_fraction || n < 1) return vf__error(VF_ERR_ARG, "forward ess: need n >= 1 weights");
    double m = 0;
    vf_status s = check_logw("forward ess", n, logw, &m);
    if (s != VF_OK) return s;
    /* mean w mean 1/w with w scaled by e^-m: the scale cancels. Draws of p where q's weight is
     * infinite (logw = +inf) were refused above; logw = -inf (p~ = 0 at a draw of p) cannot happen
     * for exact draws, and makes the estimate 0. */
    double sw = 0, sinv = 0, lo = INFINITY;
    for (int64_t i = 0; i < n; i++) if (logw[i] < lo) lo = logw[i];
    if (lo == -INFINITY) {
        *ess_fraction = 0;
        return VF_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        sw += exp(logw[i] - m);
        sinv += exp(lo - logw[i]);
    }
    /* (sw / n) e^m * (sinv / n) e^-lo */
    double log_prod = log(sw / (double)n) + m + log(sinv / (double)n) - lo;
    *ess_fraction = exp(-log_prod);
    return VF_OK;
}

vf_status vf_is_expect(int64_t n, int64_t k, const double *logw, const double *f, double *mean, double *stderr)
{
    if (!logw || !f || !mean || n < 1 || k < 1) return vf__error(VF_ERR_ARG, "is expect: bad arguments");
    double m = 0;
    vf_status s = check_logw("is expect", n, logw, &m);
    if (s != VF_OK) return s;
    double sw = 0;
    for (int64_t i = 0; i < n; i++) sw += exp(logw[i] - m);
    for (int64_t j = 0; j < k; j++) {
        double acc = 0;
        for (int64_t i = 0; i < n; i++) acc += exp(logw[i] - m) * f[i * k + j];
        mean[j] = acc / sw;
    }
    if (stderr)
        for (int64_t j = 0; j < k; j++) {
            double acc = 0;
            for (int64_t i = 0; i < n; i++) {
                double w = exp(logw[i] - m), e = f[i * k + j] - mean[j];
                acc += w * w * e * e;
            }
            stderr[j] = sqrt(acc) / sw;
        }
    return VF_OK;
}
