/* adam.c — Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019) over a flat vector, with
 * the update order and bias corrections of torch.optim.Adam / AdamW. The moments are stored as
 * vf_real like the parameters and, as in PyTorch, each element's update is computed in that
 * precision (the per-step constants in double); the loops are written to vectorize. */
#include <math.h>
#include <string.h>
#include "internal.h"

struct vf_adam {
    vf_adam_params ap;
    int64_t n, step;
    vf_real *m, *v;            /* [n] first and second moments */
};

vf_adam_params vf_adam_default_params(void)
{
    vf_adam_params ap = {1e-3, 0.9, 0.999, 1e-8, 0.0, 0};
    return ap;
}

vf_adam_params vf_adamw_default_params(void)
{
    vf_adam_params ap = {1e-3, 0.9, 0.999, 1e-8, 1e-2, 1};
    return ap;
}

static vf_status check_params(const vf_adam_params *ap)
{
    if (!(isfinite(ap->lr) && ap->lr >= 0)) return vf__error(VF_ERR_ARG, "adam: lr %g must be finite and >= 0", ap->lr);
    if (!(ap->beta1 >= 0 && ap->beta1 < 1) || !(ap->beta2 >= 0 && ap->beta2 < 1))
        return vf__error(VF_ERR_ARG, "adam: betas (%g, %g) must lie in [0, 1)", ap->beta1, ap->beta2);
    if (!(isfinite(ap->eps) && ap->eps >= 0)) return vf__error(VF_ERR_ARG, "adam: eps %g must be finite and >= 0", ap->eps);
    if (!(isfinite(ap->weight_decay) && ap->weight_decay >= 0))
        return vf__error(VF_ERR_ARG, "adam: weight decay %g must be finite and >= 0", ap->weight_decay);
    return VF_OK;
}

vf_status vf_adam_new(int64_t n, const vf_adam_params *ap, vf_adam **out)
{
    if (!ap || !out) return vf__error(VF_ERR_ARG, "adam: NULL argument");
    *out = NULL;
    if (n < 0) return vf__error(VF_ERR_ARG, "adam: negative size %lld", (long long)n);
    vf_status s = check_params(ap);
    if (s != VF_OK) return s;
    vf_adam *o = vf_calloc(1, sizeof *o);
    if (!o) return VF_ERR_NOMEM;
    o->ap = *ap;
    o->n = n;
    o->m = vf_calloc((size_t)(n ? n : 1), sizeof(vf_real));
    o->v = o->m ? vf_calloc((size_t)(n ? n : 1), sizeof(vf_real)) : NULL;
    if (!o->v) {
        vf_adam_free(o);
        return VF_ERR_NOMEM;
    }
    *out = o;
    return VF_OK;
}

void vf_adam_free(vf_adam *o)
{
    if (!o) return;
    vf_free(o->m);
    vf_free(o->v);
    vf_free(o);
}

/* 1 if every g[i] (i < n) is finite: the exponent bits of a NaN or infinity are all ones. An OR of
 * per-element flags, so the loop vectorizes (a float sum would not, and a branch would stop it). */
VF_HOT static int all_finite(const vf_real *restrict g, int64_t n)
{
    unsigned bad = 0;
#if VF_USE_DOUBLE
    for (int64_t i = 0; i < n; i++) {
        uint64_t b;
        memcpy(&b, &g[i], sizeof b);
        bad |= (unsigned)((b & 0x7ff0000000000000ULL) == 0x7ff0000000000000ULL);
    }
#else
    for (int64_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &g[i], sizeof b);
        bad |= (unsigned)((b & 0x7f800000u) == 0x7f800000u);
    }
#endif
    return !bad;
}

/* The element update (see vf_adam_step in vf_optim.h), constants folded by the caller:
 * shrink = 1 - lr wd (AdamW) or 1, l2 = wd (Adam) or 0, step_size = lr / (1 - b1^t),
 * bc2_sqrt = sqrt(1 - b2^t); 1 - b1 and 1 - b2 come from double (1 - (float)0.999 is off by 1e-5). The moment updates are PyTorch's: m.lerp_(g, 1 - b1), v = b2 v + (1 - b2) g^2. */
VF_HOT static void adam_kernel(int64_t n, vf_real *restrict x, const vf_real *restrict g, vf_real *restrict m,
                               vf_real *restrict v, vf_real one_b1, vf_real b2, vf_real one_b2, vf_real eps,
                               vf_real shrink,
                               vf_real l2, vf_real step_size, vf_real bc2_sqrt)
{
    for (int64_t i = 0; i < n; i++) {
        vf_real xi = x[i];
        vf_real gi = g[i] + l2 * xi;
        vf_real mi = m[i] + one_b1 * (gi - m[i]);
        vf_real vi = b2 * v[i] + one_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        x[i] = xi * shrink - step_size * mi / (vf__sqrt(vi) / bc2_sqrt + eps);
    }
}

vf_status vf_adam_step(vf_adam *o, vf_real *x, const vf_real *g)
{
    if (!o || ((!x || !g) && o->n > 0)) return vf__error(VF_ERR_ARG, "adam_step: NULL argument");
    if (!all_finite(g, o->n)) {
        for (int64_t i = 0; i < o->n; i++) /* find it for the message */
            if (!isfinite((double)g[i]))
                return vf__error(VF_ERR_NUMERIC, "adam_step: gradient element %lld is %g", (long long)i,
                                 (double)g[i]);
    }
    const double lr = o->ap.lr, b1 = o->ap.beta1, b2 = o->ap.beta2, wd = o->ap.weight_decay;
    o->step++;
    const double step_size = lr / (1.0 - pow(b1, (double)o->step));
    const double bc2_sqrt = sqrt(1.0 - pow(b2, (double)o->step));
    const double shrink = o->ap.decoupled ? 1.0 - lr * wd : 1.0;
    const double l2 = o->ap.decoupled ? 0.0 : wd;
    adam_kernel(o->n, x, g, o->m, o->v, (vf_real)(1.0 - b1), (vf_real)b2, (vf_real)(1.0 - b2), (vf_real)o->ap.eps,
                (vf_real)shrink,
                (vf_real)l2, (vf_real)step_size, (vf_real)bc2_sqrt);
    return VF_OK;
}

vf_status vf_adam_set_lr(vf_adam *o, double lr)
{
    if (!o) return vf__error(VF_ERR_ARG, "adam_set_lr: NULL optimizer");
    if (!(isfinite(lr) && lr >= 0)) return vf__error(VF_ERR_ARG, "adam_set_lr: lr %g must be finite and >= 0", lr);
    o->ap.lr = lr;
    return VF_OK;
}

double vf_adam_get_lr(const vf_adam *o) { return o ? o->ap.lr : 0.0; }
const vf_adam_params *vf_adam_get_params(const vf_adam *o) { return o ? &o->ap : NULL; }
int64_t vf_adam_size(const vf_adam *o) { return o ? o->n : 0; }

void vf_adam_state(vf_adam *o, vf_real **m, vf_real **v, int64_t *step)
{
    if (m) *m = o ? o->m : NULL;
    if (v) *v = o ? o->v : NULL;
    if (step) *step = o ? o->step : 0;
}

vf_status vf_adam_set_step(vf_adam *o, int64_t step)
{
    if (!o || step < 0) return vf__error(VF_ERR_ARG, "adam_set_step: NULL optimizer or negative step");
    o->step = step;
    return VF_OK;
}

void vf_adam_reset(vf_adam *o)
{
    if (!o) return;
    o->step = 0;
    if (o->n) {
        memset(o->m, 0, (size_t)o->n * sizeof(vf_real));
        memset(o->v, 0, (size_t)o->n * sizeof(vf_real));
    }
}
