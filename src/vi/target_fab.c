/* target_fab.c — the two benchmark targets of Midgley et al.'s flow annealed importance sampling
 * bootstrap (FAB, 2023), with exact samplers:
 *   gmm40     an equally weighted mixture of N(mu_k, std^2 I) over the rows mu_k of a CSV file
 *             (default: the 40 FAB means in <shared data>/targets/fab_gmm40_means.csv, std 1.31326;
 *             the dimension is the file's column count). Normalized (log Z = 0).
 *   manywell  d/2 independent copies of the double well on the pairs (x, y) = (x_2i, x_2i+1):
 *             log p = sum [-x^4 + 6 x^2 + x / 2 - y^2 / 2], unnormalized with
 *             log Z = (d/2) (log Zx + log(2 pi)/2), log Zx = 9.374541173869195 (164.6957 for d = 32).
 *             Exact draws: y ~ N(0, 1), and x by inverting the CDF of the 1-D well tabulated on
 *             MW_CELLS cells of [-MW_LO, MW_LO] (the density is piecewise constant within a cell of
 *             width 4.9e-4, and the mass beyond |x| = 4 is below e^-80).
 * The default means file is found through the environment variable VF_SHARED_DATA (a folder) when
 * set, else the folder the build was configured with (VF_SHARED_DATA_DIR); `means=FILE` overrides. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "varflow/vf_io.h"
#include "vi/vi_internal.h"

#define LOG_2PI 1.8378770664093454835606594728112

#ifndef VF_SHARED_DATA_DIR
#define VF_SHARED_DATA_DIR "../shared/data"
#endif

/* ---- gmm40 ----------------------------------------------------------------------------------- */
typedef struct gmm_state {
    int64_t k, d;
    double std, log_norm; /* log_norm = -log k - d/2 log(2 pi std^2) */
    double *w;            /* [k] scratch for the responsibilities (targets are not shared across threads) */
    double mu[];          /* [k, d] */
} gmm_state;

static double gmm_log_prob(void *state, const double *x, double *grad)
{
    gmm_state *g = state;
    double top = -HUGE_VAL, s2 = g->std * g->std;
    for (int64_t k = 0; k < g->k; k++) {
        double q = 0;
        for (int64_t j = 0; j < g->d; j++) {
            double e = x[j] - g->mu[k * g->d + j];
            q += e * e;
        }
        g->w[k] = -0.5 * q / s2;
        if (g->w[k] > top) top = g->w[k];
    }
    double z = 0;
    for (int64_t k = 0; k < g->k; k++) z += (g->w[k] = exp(g->w[k] - top));
    if (grad) {
        for (int64_t j = 0; j < g->d; j++) grad[j] = 0;
        for (int64_t k = 0; k < g->k; k++)
            for (int64_t j = 0; j < g->d; j++) grad[j] += g->w[k] / z * (g->mu[k * g->d + j] - x[j]) / s2;
    }
    return g->log_norm + top + log(z);
}

static void gmm_free(void *state)
{
    gmm_state *g = state;
    if (!g) return;
    vf_free(g->w);
    vf_free(g);
}

static void gmm_sample(void *state, vf_rng *r, double *x)
{
    const gmm_state *g = state;
    uint64_t k = vf_rng_below(r, (uint64_t)g->k);
    for (int64_t j = 0; j < g->d; j++) x[j] = g->mu[(int64_t)k * g->d + j] + g->std * vf_rng_normal(r);
}

vf_status vf__target_make_gmm40(const double *v, const char *const *strs, vf_target *out)
{
    double std = v[1];
    if (!(std > 0)) return vf__error(VF_ERR_ARG, "target gmm40: std must be > 0, got %g", std);
    char path[VF__TARGET_STRING_MAX + 64];
    if (strs[0]) {
        snprintf(path, sizeof path, "%s", strs[0]);
    } else {
        const char *dir = getenv("VF_SHARED_DATA");
        snprintf(path, sizeof path, "%s/targets/fab_gmm40_means.csv", dir && *dir ? dir : VF_SHARED_DATA_DIR);
    }
    vf_tensor m = {0};
    vf_status s = vf_read_table(path, &m);
    if (s != VF_OK) return vf__error(s, "target gmm40: cannot read the means: %s", vf_last_error());
    if (m.ndim != 2 || m.shape[0] < 1 || m.shape[1] < 1) {
        vf_tensor_free(&m);
        return vf__error(VF_ERR_SHAPE, "target gmm40: %s must hold one mean per row", path);
    }
    int64_t kk = m.shape[0], d = m.shape[1];
    gmm_state *g = vf_malloc(sizeof *g + (size_t)(kk * d) * sizeof(double));
    double *w = vf_malloc((size_t)kk * sizeof *w);
    if (!g || !w) {
        vf_free(g);
        vf_free(w);
        vf_tensor_free(&m);
        return vf__error(VF_ERR_NOMEM, "target gmm40: out of memory");
    }
    g->k = kk;
    g->d = d;
    g->std = std;
    g->w = w;
    g->log_norm = -log((double)kk) - 0.5 * (double)d * (LOG_2PI + 2 * log(std));
    for (int64_t i = 0; i < kk * d; i++) g->mu[i] = (double)m.data[i];
    vf_tensor_free(&m);
    out->dim = d;
    out->state = g;
    out->log_prob = gmm_log_prob;
    out->free = gmm_free;
    out->sample = gmm_sample;
    out->has_log_z = 1;
    out->log_z = 0;
    return VF_OK;
}

/* ---- manywell -------------------------------------------------------------------------------- */
#define MW_CELLS 16384
#define MW_LO 4.0
#define MW_LOG_ZX 9.374541173869195

typedef struct mw_state {
    int64_t d;
    double cdf[MW_CELLS + 1]; /* normalized CDF of the 1-D well at the cell edges */
} mw_state;

static double mw_log_prob(void *state, const double *x, double *grad)
{
    const mw_state *s = state;
    double lp = 0;
    for (int64_t i = 0; i + 1 < s->d; i += 2) {
        double a = x[i], b = x[i + 1];
        lp += -a * a * a * a + 6 * a * a + 0.5 * a - 0.5 * b * b;
        if (grad) {
            grad[i] = -4 * a * a * a + 12 * a + 0.5;
            grad[i + 1] = -b;
        }
    }
    return lp;
}

static double mw_draw_x(const mw_state *s, vf_rng *r)
{
    double u = vf_rng_uniform(r);
    int lo = 0, hi = MW_CELLS; /* find the cell with cdf[lo] <= u < cdf[lo + 1] */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (s->cdf[mid] <= u) lo = mid;
        else hi = mid;
    }
    double h = 2 * MW_LO / MW_CELLS, span = s->cdf[lo + 1] - s->cdf[lo];
    double f = span > 0 ? (u - s->cdf[lo]) / span : 0.5;
    return -MW_LO + h * ((double)lo + f);
}

static void mw_sample(void *state, vf_rng *r, double *x)
{
    const mw_state *s = state;
    for (int64_t i = 0; i + 1 < s->d; i += 2) {
        x[i] = mw_draw_x(s, r);
        x[i + 1] = vf_rng_normal(r);
    }
}

vf_status vf__target_make_manywell(const double *v, const char *const *strs, vf_target *out)
{
    (void)strs;
    if ((int64_t)v[0] % 2) return vf__error(VF_ERR_ARG, "target manywell: d must be even, got %g", v[0]);
    mw_state *s = vf_malloc(sizeof *s);
    if (!s) return vf__error(VF_ERR_NOMEM, "target manywell: out of memory");
    s->d = (int64_t)v[0];
    /* cell masses by the midpoint rule relative to the peak, then cumulated and normalized */
    double h = 2 * MW_LO / MW_CELLS, acc = 0;
    s->cdf[0] = 0;
    for (int j = 0; j < MW_CELLS; j++) {
        double a = -MW_LO + h * (j + 0.5);
        acc += exp(-a * a * a * a + 6 * a * a + 0.5 * a - 10.0);
        s->cdf[j + 1] = acc;
    }
    for (int j = 1; j <= MW_CELLS; j++) s->cdf[j] /= acc;
    out->dim = s->d;
    out->state = s;
    out->log_prob = mw_log_prob;
    out->free = vf_free;
    out->sample = mw_sample;
    out->has_log_z = 1;
    out->log_z = 0.5 * (double)s->d * (MW_LOG_ZX + 0.5 * LOG_2PI);
    return VF_OK;
}
