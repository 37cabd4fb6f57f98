/* target_models.c — two standard hard geometries, both with exact samplers:
 *   funnel      Neal's funnel in d dimensions: v = x0 ~ N(0, scale^2), x_i | v ~ N(0, e^v) for
 *               i = 1..d-1. Normalized (log Z = 0).
 *   rosenbrock  d/2 pairs (x, y) = (x_2i, x_2i+1): log p = -1/2 sum [(x - 1)^2 + (x^2 - y)^2 / 0.1],
 *               i.e. x ~ N(1, 1), y | x ~ N(x^2, 0.1) up to the constant log Z = (d/2) (log 2 pi +
 *               1/2 log 0.1) (12.3585 for d = 36), which is kept so the density is the usual one. */
#include <math.h>
#include "vi/vi_internal.h"

#define LOG_2PI 1.8378770664093454835606594728112

typedef struct funnel_state {
    int64_t d;
    double scale;
} funnel_state;

static double funnel_log_prob(void *state, const double *x, double *grad)
{
    const funnel_state *f = state;
    double v = x[0], s2 = f->scale * f->scale, ev = exp(-v), sq = 0;
    for (int64_t i = 1; i < f->d; i++) sq += x[i] * x[i];
    double m = (double)(f->d - 1);
    if (grad) {
        grad[0] = -v / s2 + 0.5 * sq * ev - 0.5 * m;
        for (int64_t i = 1; i < f->d; i++) grad[i] = -x[i] * ev;
    }
    return -0.5 * v * v / s2 - 0.5 * log(s2) - 0.5 * sq * ev - 0.5 * m * v - 0.5 * (double)f->d * LOG_2PI;
}

static void funnel_sample(void *state, vf_rng *r, double *x)
{
    const funnel_state *f = state;
    x[0] = f->scale * vf_rng_normal(r);
    double sd = exp(0.5 * x[0]);
    for (int64_t i = 1; i < f->d; i++) x[i] = sd * vf_rng_normal(r);
}

vf_status vf__target_make_funnel(const double *v, const char *const *strs, vf_target *out)
{
    (void)strs;
    if (v[0] < 2) return vf__error(VF_ERR_ARG, "target funnel: d must be >= 2, got %g", v[0]);
    if (!(v[1] > 0)) return vf__error(VF_ERR_ARG, "target funnel: scale must be > 0, got %g", v[1]);
    funnel_state *f = vf_malloc(sizeof *f);
    if (!f) return vf__error(VF_ERR_NOMEM, "target funnel: out of memory");
    f->d = (int64_t)v[0];
    f->scale = v[1];
    out->dim = f->d;
    out->state = f;
    out->log_prob = funnel_log_prob;
    out->free = vf_free;
    out->sample = funnel_sample;
    out->has_log_z = 1;
    out->log_z = 0;
    return VF_OK;
}

typedef struct rosen_state {
    int64_t d;
} rosen_state;

static double rosen_log_prob(void *state, const double *x, double *grad)
{
    const rosen_state *s = state;
    double lp = 0;
    for (int64_t i = 0; i + 1 < s->d; i += 2) {
        double a = x[i] - 1, b = x[i] * x[i] - x[i + 1];
        lp -= 0.5 * (a * a + b * b / 0.1);
        if (grad) {
            grad[i] = -a - b * 2 * x[i] / 0.1;
            grad[i + 1] = b / 0.1;
        }
    }
    return lp;
}

static void rosen_sample(void *state, vf_rng *r, double *x)
{
    const rosen_state *s = state;
    for (int64_t i = 0; i + 1 < s->d; i += 2) {
        x[i] = 1 + vf_rng_normal(r);
        x[i + 1] = x[i] * x[i] + sqrt(0.1) * vf_rng_normal(r);
    }
}

vf_status vf__target_make_rosenbrock(const double *v, const char *const *strs, vf_target *out)
{
    (void)strs;
    if ((int64_t)v[0] % 2) return vf__error(VF_ERR_ARG, "target rosenbrock: d must be even, got %g", v[0]);
    rosen_state *s = vf_malloc(sizeof *s);
    if (!s) return vf__error(VF_ERR_NOMEM, "target rosenbrock: out of memory");
    s->d = (int64_t)v[0];
    out->dim = s->d;
    out->state = s;
    out->log_prob = rosen_log_prob;
    out->free = vf_free;
    out->sample = rosen_sample;
    out->has_log_z = 1;
    out->log_z = 0.5 * (double)s->d * (LOG_2PI + 0.5 * log(0.1));
    return VF_OK;
}
