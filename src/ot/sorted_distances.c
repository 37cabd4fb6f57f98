/* sorted_distances.c — energy distance and sliced Wasserstein by sorting projections (vf_ot.h).
 *
 * For sorted s_1 <= ... <= s_N, the sum over pairs i < j of s_j - s_i is sum_k s_k (2k - N - 1)
 * (k from 1), so the pairwise distance sums of a sample, of b, and of their union give the cross sum
 * sum_ij |a_i - b_j| = S(a u b) - S(a) - S(b) in O(N log N). The 1-D W_p^p between uniform samples of
 * sizes n and m integrates |F^{-1}(u) - G^{-1}(u)|^p over u in [0, 1], piecewise constant between the
 * merged breakpoints k / n and l / m. Projections are sorted by radix sort (src/core/sort.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ot_internal.h"
#include "varflow/vf_ot.h"

/* Sum over pairs i < j of |s_i - s_j| for sorted s [k], in double. */
static double pair_sum_sorted(int64_t k, const double *s)
{
    double total = 0;
    for (int64_t i = 0; i < k; i++) total += s[i] * (double)(2 * (i + 1) - k - 1);
    return total;
}

/* The 1-D energy distance of sorted a [n] and sorted b [m]; all [n + m] receives their merge. */
static double energy_1d_sorted(int64_t n, const double *a, int64_t m, const double *b, double *all)
{
    int64_t i = 0, j = 0, k = 0;
    while (i < n && j < m) all[k++] = a[i] <= b[j] ? a[i++] : b[j++];
    while (i < n) all[k++] = a[i++];
    while (j < m) all[k++] = b[j++];
    double sa = pair_sum_sorted(n, a), sb = pair_sum_sorted(m, b);
    double cross = pair_sum_sorted(n + m, all) - sa - sb;
    double nn = (double)n, mm = (double)m;
    return 2 * cross / (nn * mm) - 2 * sa / (nn * nn) - 2 * sb / (mm * mm);
}

/* Sorts a [n] and b [m] in place (radix sort; work [2 max(n, m)]), then their energy distance with
 * all [n + m] as scratch. */
static double energy_1d(int64_t n, double *a, int64_t m, double *b, double *all, uint64_t *work)
{
    vf__sort_doubles(a, n, work);
    vf__sort_doubles(b, m, work);
    return energy_1d_sorted(n, a, m, b, all);
}

static vf_status check_samples(const char *who, int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y)
{
    if (n < 1 || m < 1 || d < 1 || !x || !y)
        return vf__error(VF_ERR_ARG, "%s: need non-empty samples x [n, d], y [m, d] (got n %lld, m %lld, d %lld)", who,
                         (long long)n, (long long)m, (long long)d);
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite((double)x[i]))
            return vf__error(VF_ERR_ARG, "%s: x[%lld, %lld] is not finite", who, (long long)(i / d), (long long)(i % d));
    for (int64_t i = 0; i < m * d; i++)
        if (!isfinite((double)y[i]))
            return vf__error(VF_ERR_ARG, "%s: y[%lld, %lld] is not finite", who, (long long)(i / d), (long long)(i % d));
    return VF_OK;
}

vf_status vf_energy_distance_1d(int64_t n, const double *a, int64_t m, const double *b, double *out)
{
    if (n < 1 || m < 1 || !a || !b || !out) return vf__error(VF_ERR_ARG, "energy_distance_1d: empty sample or NULL");
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(a[i])) return vf__error(VF_ERR_ARG, "energy_distance_1d: a[%lld] is not finite", (long long)i);
    for (int64_t j = 0; j < m; j++)
        if (!isfinite(b[j])) return vf__error(VF_ERR_ARG, "energy_distance_1d: b[%lld] is not finite", (long long)j);
    int64_t big = VF_MAX(n, m);
    double *buf = vf_malloc((size_t)(2 * (n + m)) * sizeof *buf);
    uint64_t *work = vf_malloc((size_t)(2 * big) * sizeof *work);
    if (!buf || !work) {
        vf_free(buf);
        vf_free(work);
        return vf__error(VF_ERR_NOMEM, "energy_distance_1d: out of memory");
    }
    memcpy(buf, a, (size_t)n * sizeof *a);
    memcpy(buf + n, b, (size_t)m * sizeof *b);
    *out = energy_1d(n, buf, m, buf + n, buf + n + m, work);
    vf_free(buf);
    vf_free(work);
    if (!isfinite(*out)) return vf__error(VF_ERR_NUMERIC, "energy_distance_1d: the value overflows the number range");
    return VF_OK;
}

static void project(int64_t n, int64_t d, const vf_real *x, const double *theta, double *out)
{
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t k = 0; k < d; k++) s += (double)x[i * d + k] * theta[k];
        out[i] = s;
    }
}

/* |a - b| for two points of d coordinates, in double. */
static double distance(const vf_real *a, const vf_real *b, int64_t d)
{
    double q = 0;
    for (int64_t k = 0; k < d; k++) {
        double e = (double)a[k] - (double)b[k];
        q += e * e;
    }
    return sqrt(q);
}

vf_status vf_energy_distance(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, int64_t slices,
                             uint64_t seed, double *out)
{
    vf_status s = check_samples("energy_distance", n, m, d, x, y);
    if (s != VF_OK) return s;
    if (!out || slices < 0) return vf__error(VF_ERR_ARG, "energy_distance: NULL output or negative slices");
    if (slices == 0) { /* the definition, O(n m d) */
        double xy = 0, xx = 0, yy = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < m; j++) xy += distance(x + i * d, y + j * d, d);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i + 1; j < n; j++) xx += 2 * distance(x + i * d, x + j * d, d);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = i + 1; j < m; j++) yy += 2 * distance(y + i * d, y + j * d, d);
        *out = 2 * xy / ((double)n * m) - xx / ((double)n * n) - yy / ((double)m * m);
        return VF_OK;
    }
    double *buf = vf_malloc((size_t)(2 * (n + m) + d) * sizeof *buf);
    uint64_t *work = vf_malloc((size_t)(2 * VF_MAX(n, m)) * sizeof *work);
    if (!buf || !work) {
        vf_free(buf);
        vf_free(work);
        return vf__error(VF_ERR_NOMEM, "energy_distance: out of memory");
    }
    double *px = buf, *py = px + n, *all = py + m, *theta = all + n + m;
    vf_rng r;
    vf_rng_init(&r, seed, VF__DIRECTIONS_STREAM);
    double sum = 0;
    for (int64_t k = 0; k < slices; k++) {
        vf__random_direction(&r, d, theta);
        project(n, d, x, theta, px);
        project(m, d, y, theta, py);
        sum += energy_1d(n, px, m, py, all, work);
    }
    double cd = sqrt(VF_PI) * exp(lgamma((d + 1) / 2.0) - lgamma(d / 2.0));
    *out = cd * sum / (double)slices;
    vf_free(buf);
    vf_free(work);
    return VF_OK;
}

/* W_p^p between the uniform measures on sorted a [n] and sorted b [m]. */
static double wasserstein_1d_sorted(int64_t n, const double *a, int64_t m, const double *b, int p)
{
    double total = 0, u = 0;
    int64_t i = 0, j = 0;
    while (i < n && j < m) {
        /* the next breakpoint: (i + 1) / n or (j + 1) / m */
        double ua = (double)(i + 1) / (double)n, ub = (double)(j + 1) / (double)m;
        double next = ua < ub ? ua : ub, diff = fabs(a[i] - b[j]);
        total += (next - u) * (p == 1 ? diff : diff * diff);
        u = next;
        if (ua <= ub) i++;
        if (ub <= ua) j++;
    }
    return total;
}

vf_status vf_sliced_wasserstein(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, int p,
                                int64_t projections, uint64_t seed, double *out)
{
    vf_status s = check_samples("sliced_wasserstein", n, m, d, x, y);
    if (s != VF_OK) return s;
    if (!out || (p != 1 && p != 2) || projections < 1)
        return vf__error(VF_ERR_ARG, "sliced_wasserstein: need p = 1 or 2 and projections >= 1 (got p %d, %lld)", p,
                         (long long)projections);
    double *buf = vf_malloc((size_t)(n + m + d) * sizeof *buf);
    uint64_t *work = vf_malloc((size_t)(2 * VF_MAX(n, m)) * sizeof *work);
    if (!buf || !work) {
        vf_free(buf);
        vf_free(work);
        return vf__error(VF_ERR_NOMEM, "sliced_wasserstein: out of memory");
    }
    double *px = buf, *py = px + n, *theta = py + m;
    vf_rng r;
    vf_rng_init(&r, seed, VF__DIRECTIONS_STREAM);
    double sum = 0;
    for (int64_t k = 0; k < projections; k++) {
        vf__random_direction(&r, d, theta);
        project(n, d, x, theta, px);
        project(m, d, y, theta, py);
        vf__sort_doubles(px, n, work);
        vf__sort_doubles(py, m, work);
        sum += wasserstein_1d_sorted(n, px, m, py, p);
    }
    double mean = sum / (double)projections;
    *out = p == 1 ? mean : sqrt(mean);
    vf_free(buf);
    vf_free(work);
    return VF_OK;
}

/* ---- sliced Wasserstein with given directions and weights ---------------------------------- */

typedef struct weighted_point {
    double x, w;
} weighted_point;

static int compare_weighted(const void *p, const void *q)
{
    double a = ((const weighted_point *)p)->x, b = ((const weighted_point *)q)->x;
    return (a > b) - (a < b);
}

/* W_p^p between the weighted 1-D measures u [n] and v [m], each sorted by position: the integral
 * over t of |F^{-1}(t) - G^{-1}(t)|^p, constant between consecutive cumulative weights of the two. */
static double wasserstein_1d_weighted(int64_t n, const weighted_point *u, int64_t m, const weighted_point *v, double p)
{
    double total = 0, prev = 0, cu = u[0].w, cv = v[0].w;
    int64_t i = 0, j = 0;
    while (i < n && j < m) {
        double next = cu < cv ? cu : cv, diff = fabs(u[i].x - v[j].x);
        double dp = p == 1 ? diff : p == 2 ? diff * diff : pow(diff, p);
        total += (next - prev) * dp;
        prev = next;
        int adv_u = cu <= cv, adv_v = cv <= cu;
        if (adv_u && ++i < n) cu += u[i].w;
        if (adv_v && ++j < m) cv += v[j].w;
    }
    return total;
}

static vf_status check_sw_weights(const char *name, int64_t k, const double *w)
{
    if (!w) return VF_OK;
    double s = 0;
    for (int64_t i = 0; i < k; i++) {
        if (!isfinite(w[i]) || w[i] < 0)
            return vf__error(VF_ERR_ARG, "sliced_wasserstein: %s[%lld] = %g (weights must be finite and >= 0)", name,
                             (long long)i, w[i]);
        s += w[i];
    }
    if (!(fabs(s - 1) <= 1e-6))
        return vf__error(VF_ERR_ARG, "sliced_wasserstein: the weights %s sum to %.17g, not 1 (within 1e-6)", name, s);
    return VF_OK;
}

vf_status vf_sliced_wasserstein_dirs(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y,
                                     const double *a, const double *b, int64_t k, const double *dirs, double p,
                                     double *out)
{
    vf_status s = check_samples("sliced_wasserstein", n, m, d, x, y);
    if (s == VF_OK) s = check_sw_weights("a", n, a);
    if (s == VF_OK) s = check_sw_weights("b", m, b);
    if (s != VF_OK) return s;
    if (!out || !dirs || k < 1 || !(p >= 1) || !isfinite(p))
        return vf__error(VF_ERR_ARG, "sliced_wasserstein: need k >= 1 directions, p >= 1 and an output (got k %lld, p %g)",
                         (long long)k, p);
    for (int64_t i = 0; i < k * d; i++)
        if (!isfinite(dirs[i]))
            return vf__error(VF_ERR_ARG, "sliced_wasserstein: dirs[%lld, %lld] is not finite", (long long)(i / d),
                             (long long)(i % d));
    weighted_point *buf = vf_malloc((size_t)(n + m) * sizeof *buf);
    if (!buf) return vf__error(VF_ERR_NOMEM, "sliced_wasserstein: out of memory");
    weighted_point *pu = buf, *pv = buf + n;
    double sum = 0;
    for (int64_t l = 0; l < k; l++) {
        const double *theta = dirs + l * d;
        for (int64_t i = 0; i < n; i++) {
            double t = 0;
            for (int64_t c = 0; c < d; c++) t += (double)x[i * d + c] * theta[c];
            pu[i].x = t;
            pu[i].w = a ? a[i] : 1.0 / (double)n;
        }
        for (int64_t j = 0; j < m; j++) {
            double t = 0;
            for (int64_t c = 0; c < d; c++) t += (double)y[j * d + c] * theta[c];
            pv[j].x = t;
            pv[j].w = b ? b[j] : 1.0 / (double)m;
        }
        qsort(pu, (size_t)n, sizeof *pu, compare_weighted);
        qsort(pv, (size_t)m, sizeof *pv, compare_weighted);
        sum += wasserstein_1d_weighted(n, pu, m, pv, p);
    }
    double mean = sum / (double)k;
    *out = p == 1 ? mean : p == 2 ? sqrt(mean) : pow(mean, 1 / p);
    vf_free(buf);
    return VF_OK;
}
