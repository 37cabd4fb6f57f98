/* particles_sliced.c — the sliced directions of two particle flows toward samples y [m, d]:
 *
 * MMD flow with the negative distance kernel (Hertrich, Wald, Altekrueger & Hagemann 2023, "Generative
 * sliced MMD flows with Riesz kernels"). On a line, d/dp of mean_j |p - q_j| is (#{q_j < p} -
 * #{q_j > p}) / m, so with the particles' ranks and the count of targets below each particle (both
 * from sorting) the 1-D gradient of every particle costs O((n + m) log(n + m)). Since
 * |z| = c_d E_theta |<theta, z>| for theta uniform on the sphere, c_d = sqrt(pi) Gamma((d+1)/2) /
 * Gamma(d/2), the d-dimensional gradient is c_d E_theta[g_theta(<theta, x>) theta], estimated with a
 * few random directions per step (unbiased).
 *
 * Sliced-Wasserstein flow (Liutkus, Simsekli, Majewski, Durmus & Stoeter 2019): on each direction the
 * particles move toward the target quantile at their own rank (the 1-D optimal transport map),
 * averaged over directions. The quantile function of the m projected targets is the linear
 * interpolation of the sorted values placed at (j + 1/2) / m, read at (rank + 1/2) / n. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ot/ot_internal.h"

typedef struct ranked {
    double v;
    int64_t i;
} ranked;

static int compare_ranked(const void *p, const void *q)
{
    const ranked *a = p, *b = q;
    if (a->v != b->v) return (a->v > b->v) - (a->v < b->v);
    return (a->i > b->i) - (a->i < b->i); /* ties by index: a deterministic order */
}

/* Layout of work: theta [d], py [m], pairs [n] (2 doubles each). */
size_t vf__sliced_work_doubles(int64_t n, int64_t m, int64_t d) { return (size_t)(d + m + 2 * n); }

/* Projects x onto theta into sorted (value, row) pairs and y into sorted py. */
static void project_sorted(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, const double *theta,
                           ranked *px, double *py)
{
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t k = 0; k < d; k++) s += (double)x[i * d + k] * theta[k];
        px[i].v = s;
        px[i].i = i;
    }
    for (int64_t j = 0; j < m; j++) {
        double s = 0;
        for (int64_t k = 0; k < d; k++) s += (double)y[j * d + k] * theta[k];
        py[j] = s;
    }
    qsort(px, (size_t)n, sizeof *px, compare_ranked);
    qsort(py, (size_t)m, sizeof *py, vf__compare_doubles);
}

static vf_status check(const char *who, int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y,
                       int64_t slices, vf_rng *r, double *work, double *out)
{
    if (n < 1 || m < 1 || d < 1 || !x || !y || !out || slices < 0 || (slices > 0 && (!r || !work)))
        return vf__error(VF_ERR_ARG, "%s: bad arguments (n %lld, m %lld, d %lld, slices %lld)", who, (long long)n,
                         (long long)m, (long long)d, (long long)slices);
    return VF_OK;
}

vf_status vf__mmd_flow_grad(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, int64_t slices,
                            vf_rng *r, double *work, double *grad)
{
    vf_status s = check("mmd flow", n, m, d, x, y, slices, r, slices ? work : grad, grad);
    if (s != VF_OK) return s;
    memset(grad, 0, (size_t)(n * d) * sizeof *grad);
    if (slices == 0) { /* the exact sums */
        for (int64_t i = 0; i < n; i++) {
            double *g = grad + i * d;
            for (int64_t j = 0; j < m + n; j++) {
                const vf_real *z = j < m ? y + j * d : x + (j - m) * d;
                double w = j < m ? 1.0 / (double)m : -1.0 / (double)n, r2 = 0;
                for (int64_t k = 0; k < d; k++) {
                    double e = (double)x[i * d + k] - (double)z[k];
                    r2 += e * e;
                }
                if (r2 == 0) continue; /* |.| has subgradient 0 at 0 */
                w /= sqrt(r2);
                for (int64_t k = 0; k < d; k++) g[k] += w * ((double)x[i * d + k] - (double)z[k]);
            }
        }
        return VF_OK;
    }
    double *theta = work, *py = theta + d;
    ranked *px = (ranked *)(void *)(py + m);
    double cd = sqrt(VF_PI) * exp(lgamma((d + 1) / 2.0) - lgamma(d / 2.0));
    double nn = (double)n, mm = (double)m;
    for (int64_t l = 0; l < slices; l++) {
        vf__random_direction(r, d, theta);
        project_sorted(n, m, d, x, y, theta, px, py);
        int64_t below = 0, equal = 0;
        for (int64_t rank = 0; rank < n; rank++) {
            double p = px[rank].v;
            while (below < m && py[below] < p) below++;
            equal = below;
            while (equal < m && py[equal] == p) equal++;
            /* (#below - #above) / m  -  (#particles below - #above) / n */
            double g = ((double)below - (double)(m - equal)) / mm - (2.0 * (double)rank - nn + 1.0) / nn;
            double *gi = grad + px[rank].i * d;
            for (int64_t k = 0; k < d; k++) gi[k] += g * theta[k];
        }
    }
    double scale = cd / (double)slices;
    for (int64_t i = 0; i < n * d; i++) grad[i] *= scale;
    return VF_OK;
}

vf_status vf__swf_velocity(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, int64_t slices,
                           vf_rng *r, double *work, double *v)
{
    vf_status s = check("sliced-Wasserstein flow", n, m, d, x, y, slices, r, work, v);
    if (s != VF_OK) return s;
    if (slices < 1) return vf__error(VF_ERR_ARG, "sliced-Wasserstein flow: needs slices >= 1");
    memset(v, 0, (size_t)(n * d) * sizeof *v);
    double *theta = work, *py = theta + d;
    ranked *px = (ranked *)(void *)(py + m);
    for (int64_t l = 0; l < slices; l++) {
        vf__random_direction(r, d, theta);
        project_sorted(n, m, d, x, y, theta, px, py);
        for (int64_t rank = 0; rank < n; rank++) {
            /* Q(u) at u = (rank + 1/2) / n, linear between the sorted y at positions u m - 1/2
             * (so that reversing the direction gives the mirror-image map) */
            double pos = ((double)rank + 0.5) * (double)m / (double)n - 0.5;
            if (pos < 0) pos = 0;
            if (pos > (double)(m - 1)) pos = (double)(m - 1);
            int64_t q = (int64_t)pos;
            if (q > m - 2) q = m > 1 ? m - 2 : 0;
            double frac = m > 1 ? pos - (double)q : 0;
            double target = m > 1 ? (1 - frac) * py[q] + frac * py[q + 1] : py[0];
            double delta = target - px[rank].v;
            double *vi = v + px[rank].i * d;
            for (int64_t k = 0; k < d; k++) vi[k] += delta * theta[k];
        }
    }
    double scale = (double)d / (double)slices;
    for (int64_t i = 0; i < n * d; i++) v[i] *= scale;
    return VF_OK;
}
