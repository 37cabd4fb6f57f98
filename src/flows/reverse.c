/* reverse.c — reversal of the feature order, z_i = x_{d-1-i}: a permutation, so log|det| = 0 and the
 * inverse is the map itself. The smallest complete transform: the pattern the others follow. */
#include "flows/flow_internal.h"

typedef struct reverse_transform {
    vf_transform base;
    int64_t *index; /* [d]: d-1, ..., 0 */
} reverse_transform;

static vf_var reverse_apply(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, vf_var *ladj)
{
    (void)p;
    (void)ctx;
    const reverse_transform *r = (const reverse_transform *)tr;
    *ladj = vf__flow_zeros(t, vf__flow_rows(t, x));
    return vf_gather(t, x, 1, r->index, tr->dim);
}

static vf_status reverse_describe(const vf_transform *tr, char *json, size_t len)
{
    return vf__json_printf(json, len, "{\"kind\":\"reverse\",\"dim\":%lld,\"context\":%lld}", (long long)tr->dim,
                           (long long)tr->context);
}

static void reverse_destroy(vf_transform *tr)
{
    reverse_transform *r = (reverse_transform *)tr;
    vf_free(r->index);
    vf_free(r);
}

static const vf_transform_vtable reverse_vt = {"reverse", reverse_apply, reverse_apply, reverse_describe,
                                               reverse_destroy, NULL};

vf_status vf_reverse_new(int64_t d, int64_t c, vf_transform **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "reverse: NULL output");
    *out = NULL;
    if (d < 1 || c < 0)
        return vf__error(VF_ERR_ARG, "reverse: dimension %lld (>= 1), context %lld (>= 0)", (long long)d, (long long)c);
    reverse_transform *r = vf_calloc(1, sizeof *r);
    int64_t *index = r ? vf_calloc((size_t)d, sizeof *index) : NULL;
    if (!index) {
        vf_free(r);
        return VF_ERR_NOMEM;
    }
    for (int64_t i = 0; i < d; i++) index[i] = d - 1 - i;
    r->base.vt = &reverse_vt;
    r->base.dim = d;
    r->base.context = c;
    r->index = index;
    *out = &r->base;
    return VF_OK;
}
