/* ema.c — exponential moving average of a parameter vector (Polyak averaging), for evaluation
 * with smoothed weights. The shadow is updated in double arithmetic per element. */
#include <math.h>
#include <string.h>
#include "internal.h"

struct vf_ema {
    int64_t n, updates;
    double decay;
    vf_real *shadow;        /* [n] */
};

vf_status vf_ema_new(const vf_real *x, int64_t n, double decay, vf_ema **out)
{
    if (!out || (!x && n > 0) || n < 0) return vf__error(VF_ERR_ARG, "ema: NULL argument or negative size");
    *out = NULL;
    if (!(decay >= 0 && decay <= 1)) return vf__error(VF_ERR_ARG, "ema: decay %g must lie in [0, 1]", decay);
    vf_ema *e = vf_calloc(1, sizeof *e);
    if (!e) return VF_ERR_NOMEM;
    e->shadow = vf_calloc((size_t)(n ? n : 1), sizeof(vf_real));
    if (!e->shadow) {
        vf_free(e);
        return VF_ERR_NOMEM;
    }
    e->n = n;
    e->decay = decay;
    if (n) memcpy(e->shadow, x, (size_t)n * sizeof(vf_real));
    *out = e;
    return VF_OK;
}

void vf_ema_free(vf_ema *e)
{
    if (!e) return;
    vf_free(e->shadow);
    vf_free(e);
}

void vf_ema_update(vf_ema *e, const vf_real *x)
{
    if (!e || !x) return;
    const double w = 1.0 - e->decay;
    for (int64_t i = 0; i < e->n; i++) e->shadow[i] = (vf_real)((double)e->shadow[i] + w * ((double)x[i] - (double)e->shadow[i]));
    e->updates++;
}

void vf_ema_swap(vf_ema *e, vf_real *x)
{
    if (!e || !x) return;
    for (int64_t i = 0; i < e->n; i++) {
        vf_real tmp = x[i];
        x[i] = e->shadow[i];
        e->shadow[i] = tmp;
    }
}

void vf_ema_copy_to(const vf_ema *e, vf_real *x)
{
    if (e && x && e->n) memcpy(x, e->shadow, (size_t)e->n * sizeof(vf_real));
}

void vf_ema_copy_from(vf_ema *e, const vf_real *x)
{
    if (e && x && e->n) memcpy(e->shadow, x, (size_t)e->n * sizeof(vf_real));
}

vf_real *vf_ema_values(vf_ema *e) { return e ? e->shadow : NULL; }
int64_t vf_ema_size(const vf_ema *e) { return e ? e->n : 0; }
int64_t vf_ema_updates(const vf_ema *e) { return e ? e->updates : 0; }
