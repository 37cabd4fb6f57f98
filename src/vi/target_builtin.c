/* target_builtin.c — the built-in targets of vf_target.h: each a make function filling a vf_target
 * from its key values, with a normalized log-density, its gradient, and an exact sampler.
 * Add a target by writing its make function and a row of the table at the end. */
#include <math.h>
#include <string.h>
#include "vi/vi_internal.h"

#define LOG_2PI 1.8378770664093454835606594728112

/* ---- gauss: N(mu 1, (1 - rho) I + rho 1 1^T) ------------------------------------------------
 * With P = 1 1^T / d, S = a (I - P) + b P where a = 1 - rho, b = 1 + (d - 1) rho, so
 * S^-1 = (I - P) / a + P / b, log det S = (d - 1) log a + log b, and x = mu + sqrt(a) (z - zbar 1)
 * + sqrt(b) zbar 1 for z ~ N(0, I) has covariance S. */
typedef struct gauss_state {
    int64_t d;
    double rho, mu, a, b, log_norm;
} gauss_state;

static double gauss_log_prob(void *state, const double *x, double *grad)
{
    const gauss_state *g = state;
    double mean = 0, sq = 0;
    for (int64_t k = 0; k < g->d; k++) mean += x[k] - g->mu;
    mean /= (double)g->d;
    for (int64_t k = 0; k < g->d; k++) {
        double c = x[k] - g->mu - mean; /* (I - P)(x - mu) */
        sq += c * c;
    }
    double quad = sq / g->a + (double)g->d * mean * mean / g->b;
    if (grad)
        for (int64_t k = 0; k < g->d; k++) grad[k] = -((x[k] - g->mu - mean) / g->a + mean / g->b);
    return g->log_norm - 0.5 * quad;
}

static void gauss_sample(void *state, vf_rng *r, double *x)
{
    const gauss_state *g = state;
    vf_rng_normal_fill_double(r, x, (size_t)g->d);
    double mean = 0;
    for (int64_t k = 0; k < g->d; k++) mean += x[k];
    mean /= (double)g->d;
    double sa = sqrt(g->a), sb = sqrt(g->b);
    for (int64_t k = 0; k < g->d; k++) x[k] = g->mu + sa * (x[k] - mean) + sb * mean;
}

static vf_status make_gauss(const double *v, const char *const *strs, vf_target *out)
{
    (void)strs;
    int64_t d = (int64_t)v[0];
    double rho = v[1];
    double lo = d > 1 ? -1.0 / (double)(d - 1) : -HUGE_VAL;
    if (!(rho > lo && rho < 1))
        return vf__error(VF_ERR_ARG, "target gauss: rho must lie in (%g, 1) for d = %lld, got %g", d > 1 ? lo : -1.0,
                         (long long)d, rho);
    gauss_state *g = vf_malloc(sizeof *g);
    if (!g) return vf__error(VF_ERR_NOMEM, "target gauss: out of memory");
    g->d = d;
    g->rho = rho;
    g->mu = v[2];
    g->a = 1 - rho;
    g->b = 1 + (double)(d - 1) * rho;
    g->log_norm = -0.5 * ((double)d * LOG_2PI + (double)(d - 1) * log(g->a) + log(g->b));
    out->dim = d;
    out->state = g;
    out->log_prob = gauss_log_prob;
    out->free = vf_free;
    out->sample = gauss_sample;
    out->has_log_z = 1; /* normalized: log Z = 0 */
    return VF_OK;
}

/* ---- 8gaussians: the toy set's mixture (src/data/toy2d.c draw_8gaussians) --------------------- */
typedef struct mix8_state {
    double noise, scale, mean[8][2], s2, log_norm;
} mix8_state;

#define MIX8_PI 3.14159265358979323846

static double mix8_log_prob(void *state, const double *x, double *grad)
{
    const mix8_state *m = state;
    double e[8], top = -HUGE_VAL;
    for (int k = 0; k < 8; k++) {
        double dx = x[0] - m->mean[k][0], dy = x[1] - m->mean[k][1];
        e[k] = -(dx * dx + dy * dy) / (2 * m->s2);
        if (e[k] > top) top = e[k];
    }
    double z = 0, gx = 0, gy = 0;
    for (int k = 0; k < 8; k++) {
        double w = exp(e[k] - top);
        z += w;
        gx += w * (m->mean[k][0] - x[0]);
        gy += w * (m->mean[k][1] - x[1]);
    }
    if (grad) {
        grad[0] = gx / (z * m->s2);
        grad[1] = gy / (z * m->s2);
    }
    return m->log_norm + top + log(z);
}

/* The same draws in the same order as the toy data set, so a seed gives the same points. */
static void mix8_sample(void *state, vf_rng *r, double *x)
{
    const mix8_state *m = state;
    uint64_t k = vf_rng_below(r, 8);
    double a = (double)k * MIX8_PI / 4.0;
    double ex = vf_rng_normal(r), ey = vf_rng_normal(r);
    x[0] = m->scale * ((4.0 * cos(a) + m->noise * ex) / 1.414);
    x[1] = m->scale * ((4.0 * sin(a) + m->noise * ey) / 1.414);
}

static vf_status make_8gaussians(const double *v, const char *const *strs, vf_target *out)
{
    (void)strs;
    double noise = v[0], scale = v[1];
    if (!(noise > 0) || scale == 0)
        return vf__error(VF_ERR_ARG, "target 8gaussians: need noise > 0 and scale != 0 (got noise %g, scale %g)",
                         noise, scale);
    mix8_state *m = vf_malloc(sizeof *m);
    if (!m) return vf__error(VF_ERR_NOMEM, "target 8gaussians: out of memory");
    m->noise = noise;
    m->scale = scale;
    for (int k = 0; k < 8; k++) {
        double a = (double)k * MIX8_PI / 4.0;
        m->mean[k][0] = scale * (4.0 * cos(a) / 1.414);
        m->mean[k][1] = scale * (4.0 * sin(a) / 1.414);
    }
    double s = fabs(scale) * noise / 1.414;
    m->s2 = s * s;
    m->log_norm = -log(8.0) - LOG_2PI - log(m->s2);
    out->dim = 2;
    out->state = m;
    out->log_prob = mix8_log_prob;
    out->free = vf_free;
    out->sample = mix8_sample;
    out->has_log_z = 1;
    return VF_OK;
}

/* ---- banana: x1 ~ N(0, sigma^2), x2 | x1 ~ N(b (x1^2 - sigma^2), 1) -------------------------- */
typedef struct banana_state {
    double b, sigma;
} banana_state;

static double banana_log_prob(void *state, const double *x, double *grad)
{
    const banana_state *s = state;
    double s2 = s->sigma * s->sigma;
    double r = x[1] - s->b * (x[0] * x[0] - s2);
    if (grad) {
        grad[0] = -x[0] / s2 + r * 2 * s->b * x[0];
        grad[1] = -r;
    }
    return -0.5 * x[0] * x[0] / s2 - 0.5 * r * r - LOG_2PI - log(s->sigma);
}

static void banana_sample(void *state, vf_rng *r, double *x)
{
    const banana_state *s = state;
    x[0] = s->sigma * vf_rng_normal(r);
    x[1] = s->b * (x[0] * x[0] - s->sigma * s->sigma) + vf_rng_normal(r);
}

static vf_status make_banana(const double *v, const char *const *strs, vf_target *out)
{
    (void)strs;
    if (!(v[1] > 0)) return vf__error(VF_ERR_ARG, "target banana: sigma must be > 0, got %g", v[1]);
    banana_state *s = vf_malloc(sizeof *s);
    if (!s) return vf__error(VF_ERR_NOMEM, "target banana: out of memory");
    s->b = v[0];
    s->sigma = v[1];
    out->dim = 2;
    out->state = s;
    out->log_prob = banana_log_prob;
    out->free = vf_free;
    out->sample = banana_sample;
    out->has_log_z = 1;
    return VF_OK;
}

/* ---- the table ------------------------------------------------------------------------------ */
const vf__target_builtin vf__target_builtins[] = {
    {"gauss", "d=2,rho=0.5,mu=0", make_gauss, 3, {{"d", 2, 1}, {"rho", 0.5, 0}, {"mu", 0, 0}}},
    {"8gaussians", "noise=0.5,scale=1", make_8gaussians, 2, {{"noise", 0.5, 0}, {"scale", 1, 0}}},
    {"banana", "b=0.03,sigma=10", make_banana, 2, {{"b", 0.03, 0}, {"sigma", 10, 0}}},
    {"u1", "", vf__target_make_u1, 0, {{0}}},
    {"u2", "", vf__target_make_u2, 0, {{0}}},
    {"u3", "", vf__target_make_u3, 0, {{0}}},
    {"u4", "", vf__target_make_u4, 0, {{0}}},
    {"funnel", "d=10,scale=3", vf__target_make_funnel, 2, {{"d", 10, 1}, {"scale", 3, 0}}},
    {"gmm40", "means=<shared data>/targets/fab_gmm40_means.csv,std=1.31326", vf__target_make_gmm40, 2,
     {{"means", 0, VF__TARGET_KEY_STRING}, {"std", 1.31326, 0}}},
    {"manywell", "d=32", vf__target_make_manywell, 1, {{"d", 32, 1}}},
    {"rosenbrock", "d=36", vf__target_make_rosenbrock, 1, {{"d", 36, 1}}},
};
const int vf__target_builtin_count = (int)(sizeof vf__target_builtins / sizeof vf__target_builtins[0]);
