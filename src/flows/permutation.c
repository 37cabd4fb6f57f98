/* permutation.c — a fixed permutation of the features, z_i = x_perm[i]: log|det| = 0, and the inverse
 * gathers with the inverse permutation inv (inv[perm[i]] = i). The permutation is given by the caller
 * (validated) or drawn from a seed; describe() always lists it, so a model file rebuilds it exactly.
 */
#include <stdio.h>
#include <string.h>
#include "flows/flow_internal.h"
#include "varflow/vf_transforms.h"

typedef struct permutation_transform {
    vf_transform base;
    int64_t *perm, *inv;  /* [d] each */
    int random;           /* 1: drawn from seed */
    uint64_t seed;
} permutation_transform;

static vf_var permutation_forward(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx,
                                  vf_var *ladj)
{
    (void)p;
    (void)ctx;
    const permutation_transform *q = (const permutation_transform *)tr;
    *ladj = vf__flow_zeros(t, vf__flow_rows(t, x));
    return vf_gather(t, x, 1, q->perm, tr->dim);
}

static vf_var permutation_inverse(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var z, vf_var ctx,
                                  vf_var *ladj)
{
    (void)p;
    (void)ctx;
    const permutation_transform *q = (const permutation_transform *)tr;
    *ladj = vf__flow_zeros(t, vf__flow_rows(t, z));
    return vf_gather(t, z, 1, q->inv, tr->dim);
}

static vf_status permutation_describe(const vf_transform *tr, char *json, size_t len)
{
    const permutation_transform *q = (const permutation_transform *)tr;
    size_t pos = 0;
    vf_status s = vf__json_append(json, len, &pos, "{\"kind\":\"permutation\",\"dim\":%lld,\"context\":%lld,\"random\":%d,"
                         "\"seed\":%llu,\"perm\":[", (long long)tr->dim, (long long)tr->context, q->random,
                         (unsigned long long)q->seed);
    for (int64_t i = 0; s == VF_OK && i < tr->dim; i++)
        s = vf__json_append(json, len, &pos, "%s%lld", i ? "," : "", (long long)q->perm[i]);
    if (s == VF_OK) s = vf__json_append(json, len, &pos, "]}");
    return s;
}

static void permutation_destroy(vf_transform *tr)
{
    permutation_transform *q = (permutation_transform *)tr;
    vf_free(q->perm);
    vf_free(q->inv);
    vf_free(q);
}

static const vf_transform_vtable permutation_vt = {"permutation",        permutation_forward, permutation_inverse,
                                                   permutation_describe, permutation_destroy, NULL};

vf_permutation_params vf_permutation_default_params(int64_t d)
{
    vf_permutation_params kp;
    kp.dim = d;
    kp.context = 0;
    kp.perm = NULL;
    kp.seed = 0;
    return kp;
}

const int64_t *vf_permutation_indices(const vf_transform *tr)
{
    return tr && tr->vt == &permutation_vt ? ((const permutation_transform *)tr)->perm : NULL;
}

vf_status vf_permutation_new(vf_params *p, const char *name, const vf_permutation_params *kp, vf_transform **out)
{
    (void)p;
    (void)name;
    if (!out) return vf__error(VF_ERR_ARG, "permutation: NULL output");
    *out = NULL;
    if (!kp) return vf__error(VF_ERR_ARG, "permutation: NULL settings");
    const int64_t d = kp->dim;
    if (d < 1 || kp->context < 0)
        return vf__error(VF_ERR_ARG, "permutation: dimension %lld (>= 1), context %lld (>= 0)", (long long)d,
                         (long long)kp->context);
    if ((uint64_t)d > SIZE_MAX / sizeof(int64_t) / 2) return vf__error(VF_ERR_ARG, "permutation: dimension too large");
    permutation_transform *q = vf_calloc(1, sizeof *q);
    int64_t *perm = q ? vf_calloc((size_t)d, sizeof *perm) : NULL;
    int64_t *inv = perm ? vf_calloc((size_t)d, sizeof *inv) : NULL;
    if (!inv) {
        vf_free(perm);
        vf_free(q);
        return VF_ERR_NOMEM;
    }
    for (int64_t i = 0; i < d; i++) inv[i] = -1;
    if (kp->perm) {
        for (int64_t i = 0; i < d; i++) {
            int64_t k = kp->perm[i];
            if (k < 0 || k >= d || inv[k] >= 0) {
                vf_status s = k < 0 || k >= d
                                  ? vf__error(VF_ERR_ARG, "permutation: entry %lld is %lld, outside 0..%lld",
                                              (long long)i, (long long)k, (long long)(d - 1))
                                  : vf__error(VF_ERR_ARG, "permutation: %lld appears twice (entries %lld and %lld)",
                                              (long long)k, (long long)inv[k], (long long)i);
                vf_free(perm);
                vf_free(inv);
                vf_free(q);
                return s;
            }
            perm[i] = k;
            inv[k] = i;
        }
    } else {
        /* Fisher-Yates from stream 0 of the seed */
        vf_rng r;
        vf_rng_init(&r, kp->seed, 0);
        for (int64_t i = 0; i < d; i++) perm[i] = i;
        for (int64_t i = d - 1; i > 0; i--) {
            int64_t j = (int64_t)vf_rng_below(&r, (uint64_t)i + 1);
            int64_t tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        for (int64_t i = 0; i < d; i++) inv[perm[i]] = i;
        q->random = 1;
        q->seed = kp->seed;
    }
    q->base.vt = &permutation_vt;
    q->base.dim = d;
    q->base.context = kp->context;
    q->perm = perm;
    q->inv = inv;
    *out = &q->base;
    return VF_OK;
}
