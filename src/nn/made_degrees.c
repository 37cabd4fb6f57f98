/* made_degrees.c — MADE degrees and masks (Germain et al. 2015, "MADE: Masked Autoencoder for
 * Distribution Estimation").
 *
 * Every unit carries a degree. Inputs get a permutation of 1..d (the autoregressive order); a
 * hidden unit of degree m may see inputs of degree <= m, so it is connected to units below with
 * degree <= m (mask: deg_out >= deg_in); an output of degree m must only see inputs of degree < m
 * (mask: deg_out > deg_in). Hidden degrees lie in [1, d-1] (units of degree d would be useless).
 * Units of degree 0 see no input; they are used when a context is present (and when d = 1), so
 * that the context also reaches the outputs of the first dimension in the order.
 */
#include "nn/nn_internal.h"

vf_status vf_made_input_degrees(int64_t d, vf_made_order order, uint64_t seed, int32_t *deg)
{
    if (d < 1 || d > INT32_MAX || !deg) return vf__error(VF_ERR_ARG, "made: need d >= 1 and a degree array");
    switch (order) {
    case VF_ORDER_SEQUENTIAL:
        for (int64_t i = 0; i < d; i++) deg[i] = (int32_t)(i + 1);
        return VF_OK;
    case VF_ORDER_REVERSED:
        for (int64_t i = 0; i < d; i++) deg[i] = (int32_t)(d - i);
        return VF_OK;
    case VF_ORDER_RANDOM: {
        /* Fisher-Yates on 1..d, drawn from the seed's own stream. */
        vf_rng r;
        vf_rng_init(&r, seed, 0x4d414445u); /* "MADE" */
        for (int64_t i = 0; i < d; i++) deg[i] = (int32_t)(i + 1);
        for (int64_t i = d - 1; i > 0; i--) {
            int64_t j = (int64_t)vf_rng_below(&r, (uint64_t)(i + 1));
            int32_t tmp = deg[i];
            deg[i] = deg[j];
            deg[j] = tmp;
        }
        return VF_OK;
    }
    }
    return vf__error(VF_ERR_ARG, "made: unknown order %d", (int)order);
}

vf_status vf_made_hidden_degrees(int64_t d, int64_t h, int random, int32_t prev_min, vf_rng *r, int32_t *deg)
{
    if (d < 1 || d > INT32_MAX || h < 1 || !deg || (random && !r))
        return vf__error(VF_ERR_ARG, "made: need d >= 1, h >= 1, a degree array and (for random degrees) a generator");
    int32_t top = (int32_t)(d - 1);
    int32_t lo = prev_min < top ? prev_min : top;
    if (lo < 0) lo = 0;
    uint64_t span = (uint64_t)(top - lo) + 1;
    for (int64_t k = 0; k < h; k++)
        deg[k] = lo + (int32_t)(random ? vf_rng_below(r, span) : (uint64_t)k % span);
    return VF_OK;
}

void vf_made_mask(const int32_t *deg_in, int64_t in, const int32_t *deg_out, int64_t out, int strict, vf_real *mask)
{
    for (int64_t o = 0; o < out; o++)
        for (int64_t i = 0; i < in; i++) {
            int on = strict ? deg_out[o] > deg_in[i] : deg_out[o] >= deg_in[i];
            mask[o * in + i] = on ? (vf_real)1 : (vf_real)0;
        }
}

const char *vf_made_order_name(vf_made_order order)
{
    return order == VF_ORDER_SEQUENTIAL ? "sequential" : order == VF_ORDER_REVERSED ? "reversed" : "random";
}
