/* uniform.c — the uniform distribution on the closed box [lo, hi]^d (fixed bounds, no parameters).
 *
 * log p(z) = -d log(hi - lo) when every z_j is in [lo, hi], else -inf. The choice is a vf_where on a
 * constant row mask, so no NaN appears in values or gradients (the in-box branch is 0 * sum(z) + const:
 * its gradient w.r.t. z is the exact zero of a flat density). Sample by inverse CDF, lo + (hi - lo) u. */
#include <math.h>
#include "flows/flow_internal.h"
#include "varflow/vf_dist.h"

typedef struct uniform_dist {
    vf_dist base;
    double lo, hi;
} uniform_dist;

static vf_var un_log_prob(const vf_dist *b, vf_params *p, vf_tape *t, vf_var z, vf_var ctx)
{
    (void)p;
    (void)ctx;
    const uniform_dist *u = (const uniform_dist *)b;
    int64_t n = vf__flow_rows(t, z), d = b->dim;
    vf_real *mask = vf__tape_alloc(t, (size_t)(n ? n : 1) * sizeof *mask);
    vf_real *ninf = vf__tape_alloc(t, sizeof *ninf);
    if (!mask || !ninf) return VF_NOVAR;
    const vf_real *zv = vf_value(t, z)->data;
    for (int64_t i = 0; i < n; i++) {
        int in = 1;
        for (int64_t j = 0; j < d; j++) {
            double x = (double)zv[i * d + j];
            if (!(x >= u->lo && x <= u->hi)) in = 0;
        }
        mask[i] = (vf_real)in;
    }
    ninf[0] = (vf_real)-INFINITY;
    vf_var cond = vf_input(t, mask, 1, (int64_t[]){n});
    vf_var outside = vf_input(t, ninf, 1, (int64_t[]){1});
    vf_var inside = vf_add_scalar(t, vf_scale(t, vf__flow_row_sum(t, z), 0.0), -(double)d * log(u->hi - u->lo));
    return vf_where(t, cond, inside, outside);
}

static vf_var un_sample(const vf_dist *b, vf_params *p, vf_tape *t, int64_t n, vf_var ctx, vf_rng *r)
{
    (void)p;
    (void)ctx;
    const uniform_dist *u = (const uniform_dist *)b;
    size_t m = (size_t)(n * b->dim);
    vf_real *buf = vf__tape_alloc(t, (m ? m : 1) * sizeof *buf);
    if (!buf) return VF_NOVAR;
    vf_rng_uniform_fill(r, buf, m, 0.0, 1.0);
    for (size_t i = 0; i < m; i++) buf[i] = (vf_real)(u->lo + (u->hi - u->lo) * (double)buf[i]);
    return vf_input(t, buf, 2, (int64_t[]){n, b->dim});
}

static vf_status un_describe(const vf_dist *b, char *json, size_t len)
{
    const uniform_dist *u = (const uniform_dist *)b;
    return vf__json_printf(json, len, "{\"kind\":\"uniform\",\"dim\":%lld,\"context\":%lld,\"lo\":%.17g,\"hi\":%.17g}",
                           (long long)b->dim, (long long)b->context, u->lo, u->hi);
}

static void un_destroy(vf_dist *b) { vf_free(b); }

static const vf_dist_vtable un_vt = {"uniform", un_log_prob, un_sample, un_describe, un_destroy};

vf_status vf_dist_uniform_new(int64_t d, int64_t c, double lo, double hi, vf_dist **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "uniform: NULL output");
    *out = NULL;
    if (d < 1 || c < 0)
        return vf__error(VF_ERR_ARG, "uniform: dimension %lld (>= 1), context %lld (>= 0)", (long long)d, (long long)c);
    if (!isfinite(lo) || !isfinite(hi) || !(lo < hi) || !isfinite(hi - lo))
        return vf__error(VF_ERR_ARG, "uniform: bounds [%g, %g] must be finite with lo < hi", lo, hi);
    uniform_dist *u = vf_calloc(1, sizeof *u);
    if (!u) return VF_ERR_NOMEM;
    u->base.vt = &un_vt;
    u->base.dim = d;
    u->base.context = c;
    u->lo = lo;
    u->hi = hi;
    *out = &u->base;
    return VF_OK;
}
