/* mcmc_diag.c — R-hat and effective sample size of Vehtari, Gelman, Simpson, Carpenter & Bürkner
 * (2021), "Rank-normalization, folding, and localization: an improved R-hat" (formulas of its
 * sections 3 and 4; see vf_mcmc.h). All arithmetic in double.
 *
 * The chains x [m, n] are split into 2m halves of h = n / 2 draws (first half rows [0, h), second
 * [n - h, n)). Autocovariances of each half come from a zero-padded radix-2 FFT (length a power of
 * two >= 2h, so the circular products equal the linear ones), normalized by h. */
#include <math.h>
#include <string.h>
#include "varflow/vf_mcmc.h"
#include "internal.h"

#define MCMC_PI 3.14159265358979323846

/* ---- normal quantile ------------------------------------------------------------------------ */
/* Phi^-1(p) for 0 < p < 1: Acklam's rational approximation (relative error 1.2e-9) refined by one
 * Halley step on erfc. */
static double probit(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    double q, r, x;
    if (p < 0.02425) {
        q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p > 1 - 0.02425) {
        q = sqrt(-2 * log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else {
        q = p - 0.5;
        r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    double e = 0.5 * erfc(-x / sqrt(2.0)) - p;
    double u = e * sqrt(2 * MCMC_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

/* ---- FFT ------------------------------------------------------------------------------------ */
/* In-place radix-2 FFT of re, im [len], len a power of two; inverse when sign > 0 (unscaled). */
static void fft(double *re, double *im, int64_t len, int sign)
{
    for (int64_t i = 1, j = 0; i < len; i++) {
        int64_t bit = len >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            double t = re[i];
            re[i] = re[j];
            re[j] = t;
            t = im[i];
            im[i] = im[j];
            im[j] = t;
        }
    }
    for (int64_t step = 2; step <= len; step <<= 1) {
        double ang = sign * 2 * MCMC_PI / (double)step;
        for (int64_t k = 0; k < step / 2; k++) {
            double wr = cos(ang * (double)k), wi = sin(ang * (double)k);
            for (int64_t s = k; s < len; s += step) {
                int64_t t = s + step / 2;
                double xr = re[t] * wr - im[t] * wi, xi = re[t] * wi + im[t] * wr;
                re[t] = re[s] - xr;
                im[t] = im[s] - xi;
                re[s] += xr;
                im[s] += xi;
            }
        }
    }
}

/* acov [h] of y [h] (lags 0..h-1, denominator h); re, im [len] scratch, len a power of two >= 2h. */
static void autocov(const double *y, int64_t h, double *re, double *im, int64_t len, double *acov)
{
    double mean = 0;
    for (int64_t i = 0; i < h; i++) mean += y[i];
    mean /= (double)h;
    for (int64_t i = 0; i < len; i++) {
        re[i] = i < h ? y[i] - mean : 0;
        im[i] = 0;
    }
    fft(re, im, len, -1);
    for (int64_t i = 0; i < len; i++) {
        re[i] = re[i] * re[i] + im[i] * im[i];
        im[i] = 0;
    }
    fft(re, im, len, 1);
    for (int64_t t = 0; t < h; t++) acov[t] = re[t] / (double)len / (double)h;
}

/* ---- split chains --------------------------------------------------------------------------- */
/* The 2m halves of x [m, n] as y [2m, h], h = n / 2. */
static void split_halves(int64_t m, int64_t n, const double *x, double *y)
{
    int64_t h = n / 2;
    for (int64_t c = 0; c < m; c++) {
        memcpy(y + (2 * c) * h, x + c * n, (size_t)h * sizeof *y);
        memcpy(y + (2 * c + 1) * h, x + c * n + (n - h), (size_t)h * sizeof *y);
    }
}

/* The mean of y [h] minus its first value, summed as differences from it: a constant half gives
 * exactly 0 and so a within-half variance of exactly 0 (a plain mean of equal values can round off
 * them, which made the R-hat of stuck chains ~1e15). */
static double shift_of(int64_t h, const double *y)
{
    double shift = 0;
    for (int64_t i = 0; i < h; i++) shift += y[i] - y[0];
    return shift / (double)h;
}

/* W, var+ and the half means' mean of y [k, h]; -1 when W is 0 or not finite. */
static int within_between(int64_t k, int64_t h, const double *y, double *w_out, double *varplus)
{
    double w = 0, mm = 0, b = 0;
    for (int64_t c = 0; c < k; c++) {
        const double *yc = y + c * h;
        double shift = shift_of(h, yc), ss = 0;
        for (int64_t i = 0; i < h; i++) ss += (yc[i] - yc[0] - shift) * (yc[i] - yc[0] - shift);
        w += ss / (double)(h - 1);
        mm += yc[0] + shift;
    }
    w /= (double)k;
    mm /= (double)k;
    for (int64_t c = 0; c < k; c++) {
        double mean = y[c * h] + shift_of(h, y + c * h); /* the same means as above */
        b += (mean - mm) * (mean - mm);
    }
    b = k > 1 ? b * (double)h / (double)(k - 1) : 0;
    *w_out = w;
    *varplus = (double)(h - 1) / (double)h * w + b / (double)h;
    return (w > 0 && isfinite(w) && isfinite(*varplus)) ? 0 : -1;
}

static double rhat_of(int64_t k, int64_t h, const double *y)
{
    double w, vp;
    if (within_between(k, h, y, &w, &vp)) return NAN;
    return sqrt(vp / w);
}

/* ESS of y [k, h]; NAN when the draws are constant. */
static vf_status ess_of(int64_t k, int64_t h, const double *y, double *ess)
{
    double w, vp;
    *ess = NAN;
    if (within_between(k, h, y, &w, &vp)) return VF_OK;
    int64_t len = 1;
    while (len < 2 * h) len <<= 1;
    double *re = vf_malloc((size_t)len * sizeof *re), *im = vf_malloc((size_t)len * sizeof *im);
    double *acov = vf_malloc((size_t)h * sizeof *acov), *mean_acov = vf_calloc((size_t)h, sizeof *mean_acov);
    if (!re || !im || !acov || !mean_acov) {
        vf_free(re);
        vf_free(im);
        vf_free(acov);
        vf_free(mean_acov);
        return vf__error(VF_ERR_NOMEM, "mcmc diagnostics: out of memory");
    }
    /* mean over halves of s_c^2 rho_t,c = acov_c(t) h / (h - 1) */
    for (int64_t c = 0; c < k; c++) {
        autocov(y + c * h, h, re, im, len, acov);
        for (int64_t t = 0; t < h; t++) mean_acov[t] += acov[t] * (double)h / (double)(h - 1) / (double)k;
    }
    /* Geyer's initial monotone sequence over pairs (rho_2j, rho_2j+1) */
    double tau = -1, prev = INFINITY;
    for (int64_t j = 0; 2 * j + 1 < h; j++) {
        double r0 = 1 - (w - mean_acov[2 * j]) / vp, r1 = 1 - (w - mean_acov[2 * j + 1]) / vp;
        double pk = r0 + r1;
        if (!(pk > 0)) break;
        if (pk > prev) pk = prev;
        prev = pk;
        tau += 2 * pk;
    }
    double total = (double)(k * h);
    double e = total / tau;
    double cap = total * log10(total);
    *ess = e > cap ? cap : e;
    vf_free(re);
    vf_free(im);
    vf_free(acov);
    vf_free(mean_acov);
    return VF_OK;
}

static vf_status check_args(int64_t m, int64_t n, const double *x, const double *out, const char *what)
{
    if (!x || !out || m < 1 || n < 4) return vf__error(VF_ERR_ARG, "mcmc %s: need m >= 1 chains of n >= 4 draws", what);
    for (int64_t i = 0; i < m * n; i++)
        if (!isfinite(x[i])) return vf__error(VF_ERR_NUMERIC, "mcmc %s: draw %lld is not finite", what, (long long)i);
    return VF_OK;
}

/* Normal scores of the ranks of v [s] (ties averaged) into z [s]. */
static vf_status rank_normalize(int64_t s, const double *v, double *z)
{
    double *a = vf_malloc((size_t)s * sizeof *a);
    int64_t *idx = vf_malloc((size_t)s * sizeof *idx), *iw = vf_malloc((size_t)s * sizeof *iw);
    uint64_t *work = vf_malloc((size_t)(2 * s) * sizeof *work);
    if (!a || !idx || !iw || !work) {
        vf_free(a);
        vf_free(idx);
        vf_free(iw);
        vf_free(work);
        return vf__error(VF_ERR_NOMEM, "mcmc diagnostics: out of memory");
    }
    memcpy(a, v, (size_t)s * sizeof *a);
    vf__argsort_doubles(a, idx, s, work, iw);
    for (int64_t i = 0; i < s;) {
        int64_t j = i;
        while (j + 1 < s && a[j + 1] == a[i]) j++;
        double r = 0.5 * (double)(i + j) + 1; /* average 1-based rank of the tie group */
        double zz = probit((r - 0.375) / ((double)s + 0.25));
        for (int64_t k = i; k <= j; k++) z[idx[k]] = zz;
        i = j + 1;
    }
    vf_free(a);
    vf_free(idx);
    vf_free(iw);
    vf_free(work);
    return VF_OK;
}

/* y [2m, h]: the rank-normalized split halves of x [m, n] (folded: of |x - median|). */
static vf_status normal_scores(int64_t m, int64_t n, const double *x, int folded, double *y)
{
    int64_t h = n / 2, s = 2 * m * h;
    double *raw = vf_malloc((size_t)s * sizeof *raw);
    if (!raw) return vf__error(VF_ERR_NOMEM, "mcmc diagnostics: out of memory");
    split_halves(m, n, x, raw);
    vf_status st = VF_OK;
    if (folded) {
        uint64_t *work = vf_malloc((size_t)(2 * s) * sizeof *work);
        double *sorted = vf_malloc((size_t)s * sizeof *sorted);
        if (!work || !sorted) st = vf__error(VF_ERR_NOMEM, "mcmc diagnostics: out of memory");
        if (st == VF_OK) {
            memcpy(sorted, raw, (size_t)s * sizeof *sorted);
            vf__sort_doubles(sorted, s, work);
            double med = s % 2 ? sorted[s / 2] : 0.5 * (sorted[s / 2 - 1] + sorted[s / 2]);
            for (int64_t i = 0; i < s; i++) raw[i] = fabs(raw[i] - med);
        }
        vf_free(work);
        vf_free(sorted);
    }
    if (st == VF_OK) st = rank_normalize(s, raw, y);
    vf_free(raw);
    return st;
}

/* The four public statistics: R-hat or ESS (want_ess) of the raw (ranked = 0) or rank-normalized
 * split halves of x [m, n]. */
static vf_status statistic(int64_t m, int64_t n, const double *x, double *out, int ranked, int want_ess,
                           const char *what)
{
    vf_status st = check_args(m, n, x, out, what);
    if (st != VF_OK) return st;
    int64_t h = n / 2;
    double *y = vf_malloc((size_t)(2 * m * h) * sizeof *y);
    if (!y) return vf__error(VF_ERR_NOMEM, "mcmc diagnostics: out of memory");
    if (ranked) st = normal_scores(m, n, x, 0, y);
    else split_halves(m, n, x, y);
    if (st == VF_OK && want_ess) st = ess_of(2 * m, h, y, out);
    if (st == VF_OK && !want_ess) {
        double bulk = rhat_of(2 * m, h, y), tail = NAN;
        if (ranked) st = normal_scores(m, n, x, 1, y);
        if (ranked && st == VF_OK) tail = rhat_of(2 * m, h, y);
        /* constant draws: every score equal, W = 0, NAN */
        *out = isnan(bulk) || isnan(tail) ? bulk : fmax(bulk, tail);
    }
    vf_free(y);
    return st;
}

vf_status vf_mcmc_split_rhat(int64_t m, int64_t n, const double *x, double *rhat)
{
    return statistic(m, n, x, rhat, 0, 0, "split R-hat");
}

vf_status vf_mcmc_split_ess(int64_t m, int64_t n, const double *x, double *ess)
{
    return statistic(m, n, x, ess, 0, 1, "split ESS");
}

vf_status vf_mcmc_rhat(int64_t m, int64_t n, const double *x, double *rhat)
{
    return statistic(m, n, x, rhat, 1, 0, "R-hat");
}

vf_status vf_mcmc_ess_bulk(int64_t m, int64_t n, const double *x, double *ess)
{
    return statistic(m, n, x, ess, 1, 1, "bulk ESS");
}

vf_status vf_mcmc_diagnose(int64_t m, int64_t n, int64_t d, const vf_real *draws, double *rhat, double *ess)
{
    if (!draws || m < 1 || n < 4 || d < 1) return vf__error(VF_ERR_ARG, "mcmc diagnose: need m >= 1 chains of n >= 4 draws, d >= 1");
    double *x = vf_malloc((size_t)(m * n) * sizeof *x);
    if (!x) return vf__error(VF_ERR_NOMEM, "mcmc diagnose: out of memory");
    vf_status st = VF_OK;
    for (int64_t k = 0; k < d && st == VF_OK; k++) {
        for (int64_t i = 0; i < m * n; i++) x[i] = (double)draws[i * d + k];
        if (rhat) st = vf_mcmc_rhat(m, n, x, rhat + k);
        if (st == VF_OK && ess) st = vf_mcmc_ess_bulk(m, n, x, ess + k);
        if (st != VF_OK) st = vf__error(st, "%s (coordinate %lld)", vf_last_error(), (long long)k);
    }
    vf_free(x);
    return st;
}
