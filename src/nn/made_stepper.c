/* made_stepper.c — the MADE's incremental one-dimension-at-a-time evaluation without a tape (see
 * made_stepper.h for the idea and its conditions). */
#include <string.h>
#include "nn/made_internal.h"
#include "nn/made_stepper.h"

int vf__made_stepper_supported(const vf_made *m) { return m && m->mp.hidden_layout == VF_HIDDEN_SORTED; }

static int output_mode; /* vf__made_stepper_output_mode */

void vf__made_stepper_output_mode(int mode) { output_mode = mode; }

/* The last hidden layer's unit counts by degree: entry k, the units of degree <= k - 1. */
static const int64_t *last_layer_count(const vf_made *m)
{
    return m->mp.residual ? m->hid_count : m->hid_count + (int64_t)(m->mp.depth - 1) * (m->mp.features + 1);
}

/* A product's cost in the estimate below: per column strip, its depth plus C_STORE for writing C (its
 * tiles hold 12 rows of a strip: 12 vector stores, about as long as 12 steps of depth), twice that
 * when C is read too. Measured (Xeon, 10k rows of bench flows' MADE 8 -> 128 -> 128): MAF (k_out 2)
 * samples 5% faster by accumulating, NSF with 8 bins (k_out 23, spans up to 161 columns) 12% slower,
 * as the estimate says (MAF about 610 whole against 294 accumulated; NSF about 1220 against 1850). */
#define C_STORE 12

/* Fills out_lo, out_hi [d + 1]; returns whether accumulating the outputs over the steps
 * (made_stepper.h) is estimated to cost less than forming each degree's outputs whole. */
static int output_by_blocks_pays(vf__made_stepper *s)
{
    const vf_made *m = s->m;
    int64_t d = m->mp.features, kout = m->mp.output_multiplier, sw = vf__gemm_strip_width();
    const int64_t *count = last_layer_count(m);
    int64_t whole = 0, blocks = 0;
    for (int64_t k = 1; k <= d; k++) {
        int64_t lo = d * kout, hi = 0;
        for (int64_t i = 0; i < d; i++)
            if (m->deg_in[i] >= k) lo = VF_MIN(lo, i * kout), hi = VF_MAX(hi, (i + 1) * kout);
        s->out_lo[k] = lo;
        s->out_hi[k] = hi;
        whole += (kout + sw - 1) / sw * (count[k] + C_STORE);
        if (count[k] > count[k - 1]) blocks += (hi - lo + sw - 1) / sw * (count[k] - count[k - 1] + 2 * C_STORE);
    }
    return output_mode ? output_mode == 2 : blocks < whole;
}

/* The accumulator of the outputs, set to the output bias (or 0). */
static vf_status begin_output_blocks(vf__made_stepper *s)
{
    const vf_made *m = s->m;
    int64_t width = m->mp.features * m->mp.output_multiplier;
    s->outputs = vf__tape_alloc(s->t, (size_t)(s->n * width) * sizeof *s->outputs);
    if (!s->outputs) return VF_ERR_NOMEM;
    const vf_real *bias = m->output.bias >= 0 ? vf_params_data(s->p, m->output.bias) : NULL;
    for (int64_t i = 0; i < s->n; i++)
        for (int64_t j = 0; j < width; j++) s->outputs[i * width + j] = bias ? bias[j] : 0;
    return VF_OK;
}

vf_status vf__made_stepper_begin(vf__made_stepper *s, const vf_made *m, vf_params *p, vf_tape *t, int64_t n,
                                 const vf_real *ctx)
{
    memset(s, 0, sizeof *s);
    if (!vf__made_stepper_supported(m)) return vf__error(VF_ERR_UNSUPPORTED, "made_stepper: needs the sorted layout");
    const vf_made_params *mp = &m->mp;
    s->m = m;
    s->p = p;
    s->t = t;
    s->n = n;
    s->ctx = mp->context_features > 0 ? ctx : NULL;
    s->n_levels = mp->residual ? 2 * mp->depth + 1 : mp->depth;
    size_t level_bytes = (size_t)(n * mp->hidden) * sizeof(vf_real);
    s->level = vf__tape_alloc(t, (size_t)s->n_levels * sizeof *s->level);
    s->fresh = vf__tape_alloc(t, level_bytes);
    int64_t d = mp->features, kout = mp->output_multiplier;
    int64_t widest = VF_MAX(mp->hidden, d * kout), strips = widest / vf__gemm_strip_width() + 1;
    s->depth_lo = vf__tape_alloc(t, (size_t)strips * sizeof *s->depth_lo);
    s->depth_hi = vf__tape_alloc(t, (size_t)strips * sizeof *s->depth_hi);
    s->out_lo = vf__tape_alloc(t, (size_t)(2 * (d + 1)) * sizeof *s->out_lo);
    s->out_hi = s->out_lo ? s->out_lo + d + 1 : NULL;
    for (int l = 0; s->level && l < s->n_levels; l++)
        if (!(s->level[l] = vf__tape_alloc(t, level_bytes))) return VF_ERR_NOMEM;
    if (!s->level || !s->fresh || !s->depth_lo || !s->depth_hi || !s->out_lo) return VF_ERR_NOMEM;
    if (output_by_blocks_pays(s)) return begin_output_blocks(s);
    return VF_OK;
}

/* out [n, rows] (row stride ldo; =, or += with VF_GEMM_ACCUMULATE in flags) a [n, k] (row stride lda)
 * times the block of the weight W [*, ldw] at rows [r0, r0 + rows) and columns [k0, k0 + k), transposed,
 * plus the bias's rows (bias id -1: none); then max(0, out) with VF_GEMM_RELU.
 * The product is the built-in ranged GEMM over one depth range: it reads a, the large operand, in
 * place (a general GEMM would pack all of it for a product only `rows` wide). */
static vf_status product_block(vf__made_stepper *s, int32_t weight, int32_t bias, int64_t ldw, int64_t r0,
                               int64_t rows, int64_t k0, const vf_real *a, int64_t lda, int64_t k, vf_real *out,
                               int64_t ldo, int flags)
{
    /* the raw reads below need the store's tensors to be this network's (a store of another flow has other
     * ids and shapes: an error, as on the taped path, not a read out of bounds) */
    vf_param_info wi, bi;
    if (vf_params_info(s->p, weight, &wi) != VF_OK || wi.ndim != 2 || wi.shape[1] != ldw || wi.shape[0] < r0 + rows ||
        k0 + k > ldw || (bias >= 0 && (vf_params_info(s->p, bias, &bi) != VF_OK || bi.numel < r0 + rows)))
        return vf__error(VF_ERR_SHAPE, "made: the parameter store does not match the network (a store of another "
                         "flow?)");
    int ok;
    void *work = vf__tape_scratch(s->t, vf__gemm_ranged_workspace_bytes(s->n, rows, k), &ok);
    if (!ok) return VF_ERR_NOMEM;
    int64_t sw = vf__gemm_strip_width();
    for (int64_t j = 0; j * sw < rows; j++) s->depth_lo[j] = 0, s->depth_hi[j] = k;
    const vf_real *w = vf_params_data(s->p, weight) + r0 * ldw + k0;
    const vf_real *b = bias >= 0 ? vf_params_data(s->p, bias) + r0 : NULL; /* added by the product */
    vf__gemm_ranged(0, 1, s->n, rows, k, a, lda, w, ldw, out, ldo, s->depth_lo, s->depth_hi, NULL, b, flags, NULL,
                    work);
    return VF_OK;
}

/* out [n, rows] (row stride ldo; =, or += with VF_GEMM_ACCUMULATE in flags) a [n, k] (row stride lda)
 * times rows [r0, r0 + rows) of the weight W [*, ldw], its first k columns, transposed, plus the bias's
 * rows (bias id -1: none); then max(0, out) with VF_GEMM_RELU.
 * The product is the built-in ranged GEMM over one depth range: it reads a, the large operand, in
 * place (a general GEMM would pack all of it for a product only `rows` wide). */
static vf_status product_rows(vf__made_stepper *s, int32_t weight, int32_t bias, int64_t ldw, int64_t r0,
                              int64_t rows, const vf_real *a, int64_t lda, int64_t k, vf_real *out, int64_t ldo,
                              int flags)
{
    return product_block(s, weight, bias, ldw, r0, rows, 0, a, lda, k, out, ldo, flags);
}

/* y = act(x) on a block of n rows of `cols` values (row strides ldx and ldy; x == y allowed). */
static void activate_block(vf_activation act, int64_t n, int64_t cols, const vf_real *x, int64_t ldx, vf_real *y,
                           int64_t ldy)
{
    for (int64_t i = 0; i < n; i++) vf__act_forward(act, cols, x + i * ldx, y + i * ldy);
}

/* out [n, rows] (row stride ldo) = act(a W[r0 : r0 + rows]^T + b[r0 : r0 + rows], plus ctx Wc[r0 :
 * r0 + rows]^T + bc[r0 : r0 + rows] when the layer has a context (ctx_layer non-NULL with a weight, and
 * a context given)); a is [n, k] (row stride lda), W's first k columns. ReLU runs in the store of the
 * last product; any other activation after it. */
static vf_status layer_rows(vf__made_stepper *s, int32_t weight, int32_t bias, int64_t ldw, int64_t r0, int64_t rows,
                            const vf_real *a, int64_t lda, int64_t k, const vf_linear_layer *ctx_layer,
                            vf_activation act, vf_real *out, int64_t ldo)
{
    int fuse = act == VF_ACT_RELU ? VF_GEMM_RELU : 0;
    int with_ctx = s->ctx && ctx_layer && ctx_layer->weight >= 0;
    vf_status st = product_rows(s, weight, bias, ldw, r0, rows, a, lda, k, out, ldo, with_ctx ? 0 : fuse);
    if (st == VF_OK && with_ctx)
        st = product_rows(s, ctx_layer->weight, ctx_layer->bias, ctx_layer->in_features, r0, rows, s->ctx,
                          ctx_layer->in_features, ctx_layer->in_features, out, ldo, VF_GEMM_ACCUMULATE | fuse);
    if (st == VF_OK && !fuse && act != VF_ACT_NONE) activate_block(act, s->n, rows, out, ldo, out, ldo);
    return st;
}

vf_status vf__made_stepper_step(vf__made_stepper *s, int64_t k, const vf_real *x, vf_real *theta)
{
    const vf_made *m = s->m;
    const vf_made_params *mp = &m->mp;
    int64_t n = s->n, d = mp->features, h = mp->hidden, kout = mp->output_multiplier;
    if (k < 1 || k > d) return vf__error(VF_ERR_ARG, "made_stepper: degree %lld outside 1..%lld", (long long)k, (long long)d);
    vf_status st = VF_OK;
    /* layer 0 (the plain network's first hidden layer, the residual network's h): units of degree k-1 */
    const int64_t *count = m->hid_count;
    int64_t c0 = count[k - 1], w = count[k] - c0;
    vf_real *last;  /* the level the output layer reads */
    int64_t seen;   /* how many of its units (a prefix) the outputs of degree k see */
    if (!mp->residual) {
        /* each layer's new units are written straight into their columns of its level */
        if (w > 0 && (st = layer_rows(s, m->input.weight, m->input.bias, d, c0, w, x, d, d, &m->context, mp->act,
                                      s->level[0] + c0, h)) != VF_OK)
            return st;
        int64_t below = count[k]; /* units of the layer below that the new units see */
        for (int l = 1; l < mp->depth; l++) {
            const int64_t *count_l = m->hid_count + (int64_t)l * (d + 1);
            int64_t cl = count_l[k - 1], wl = count_l[k] - cl;
            if (wl > 0) {
                const vf_masked_linear_layer *layer = &m->hidden[l - 1];
                st = layer_rows(s, layer->weight, layer->bias, h, cl, wl, s->level[l - 1], h, below, NULL, mp->act,
                                s->level[l] + cl, h);
                if (st != VF_OK) return st;
            }
            below = count_l[k];
        }
        last = s->level[mp->depth - 1];
        seen = below;
    } else {
        /* levels: act(h_b) at 2b, the block's inner units at 2b + 1, the final h at 2 depth; `fresh`
         * [n, w] carries the new units of h from block to block */
        if (w > 0) {
            st = layer_rows(s, m->input.weight, m->input.bias, d, c0, w, x, d, d, &m->context, VF_ACT_NONE, s->fresh, w);
            if (st != VF_OK) return st;
            for (int b = 0; b < mp->depth; b++) {
                const made_block *blk = &m->blocks[b];
                vf_real *act_h = s->level[2 * b], *inner = s->level[2 * b + 1] + c0;
                activate_block(mp->act, n, w, s->fresh, w, act_h + c0, h);
                st = layer_rows(s, blk->linear1.weight, blk->linear1.bias, h, c0, w, act_h, h, count[k], &blk->context,
                                mp->act, inner, h);
                if (st != VF_OK) return st;
                /* h += linear2(inner units) */
                st = product_rows(s, blk->linear2.weight, blk->linear2.bias, h, c0, w, s->level[2 * b + 1], h,
                                  count[k], s->fresh, w, VF_GEMM_ACCUMULATE);
                if (st != VF_OK) return st;
            }
            activate_block(VF_ACT_NONE, n, w, s->fresh, w, s->level[2 * mp->depth] + c0, h);
        }
        last = s->level[2 * mp->depth];
        seen = count[k];
    }
    int64_t dim = m->in_by_degree[k - 1];
    if (!s->outputs)
        return product_rows(s, m->output.weight, m->output.bias, h, dim * kout, kout, last, h, seen, theta, kout, 0);
    /* the last layer's units of degree k - 1 (final now) into the outputs of degrees >= k */
    const int64_t *count_last = last_layer_count(m);
    int64_t cl = count_last[k - 1], wl = count_last[k] - cl, width = d * kout, lo = s->out_lo[k];
    if (wl > 0 && (st = product_block(s, m->output.weight, -1, h, lo, s->out_hi[k] - lo, cl, last + cl, h, wl,
                                      s->outputs + lo, width, VF_GEMM_ACCUMULATE)) != VF_OK)
        return st;
    const vf_real *from = s->outputs + dim * kout;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < kout; j++) theta[i * kout + j] = from[i * width + j];
    return VF_OK;
}
