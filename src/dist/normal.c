/* normal.c — the standard normal base N(0, I_d): log p(z) = -|z|^2 / 2 - (d / 2) log(2 pi). */
#include <math.h>
#include "flows/flow_internal.h"

static vf_var normal_log_prob(const vf_dist *b, vf_params *p, vf_tape *t, vf_var z, vf_var ctx)
{
    (void)p;
    (void)ctx;
    vf_var sq = vf__flow_row_sum(t, vf_square(t, z));
    return vf_add_scalar(t, vf_scale(t, sq, -0.5), -0.5 * (double)b->dim * log(2.0 * VF_PI));
}

static vf_var normal_sample(const vf_dist *b, vf_params *p, vf_tape *t, int64_t n, vf_var ctx, vf_rng *r)
{
    (void)p;
    (void)ctx;
    vf_real *buf = vf__tape_alloc(t, (size_t)(n * b->dim) * sizeof *buf);
    if (!buf) return VF_NOVAR;
    vf_rng_normal_fill(r, buf, (size_t)(n * b->dim), 0.0, 1.0);
    return vf_input(t, buf, 2, (int64_t[]){n, b->dim});
}

static vf_status normal_describe(const vf_dist *b, char *json, size_t len)
{
    return vf__json_printf(json, len, "{\"kind\":\"normal\",\"dim\":%lld,\"context\":%lld}", (long long)b->dim,
                           (long long)b->context);
}

static void normal_destroy(vf_dist *b) { vf_free(b); }

static const vf_dist_vtable normal_vt = {"normal", normal_log_prob, normal_sample, normal_describe, normal_destroy};

vf_status vf_dist_normal_new(int64_t d, int64_t c, vf_dist **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "normal: NULL output");
    *out = NULL;
    if (d < 1 || c < 0) return vf__error(VF_ERR_ARG, "normal: dimension %lld (>= 1), context %lld (>= 0)", (long long)d,
                                         (long long)c);
    vf_dist *b = vf_calloc(1, sizeof *b);
    if (!b) return VF_ERR_NOMEM;
    b->vt = &normal_vt;
    b->dim = d;
    b->context = c;
    *out = b;
    return VF_OK;
}
