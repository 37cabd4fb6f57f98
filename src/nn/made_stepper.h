/* made_stepper.h — a MADE evaluated one output dimension at a time, incrementally, without a tape
 * (inference only). Not installed.
 *
 * Inverting an autoregressive map solves one dimension per step, in degree order; step k needs the
 * MADE outputs of the dimension of degree k, which see only the hidden units of degree <= k - 1.
 * Units of degree < k - 1 already saw every input they depend on at step k - 1, so step k computes,
 * in every hidden layer, only the units of degree exactly k - 1, from the columns kept from earlier
 * steps: the d steps together cost one full MADE pass (vf_made_forward_step recomputes every unit of
 * degree < k at step k, a few passes in all, but stays on the tape and so differentiable).
 *
 * In the sorted hidden layout the units of one degree are a contiguous block of rows, and the mask
 * block they multiply (rows of degree k - 1 by the previous layer's units of degree <= k - 1, or by
 * all inputs solved so far) is all ones, so each is one plain product on the raw weights. Inputs are
 * kept in position order with the unsolved ones zero, which is the masked product's value exactly.
 *
 * The output layer goes one of two ways, whichever the begin call estimates has fewer column strips
 * times depth (the products' cost): step k either forms the outputs of degree k from every last-layer
 * unit of degree < k (a product k_out columns wide: one mostly idle strip for MAF's k_out = 2), or
 * adds the contribution of the units of degree k - 1, final at step k, to an accumulator of the
 * outputs of all degrees >= k (a product as wide as their column span, as deep as the new units),
 * from which it reads those of degree k. Units of degree k - 1 see all outputs of degree >= k, so the
 * raw weights are the masked ones there; the columns of lower degrees in the span, already read, are
 * left with sums they no longer need.
 *
 *   vf__made_stepper s;
 *   if (vf__made_stepper_supported(net) && vf__made_stepper_begin(&s, net, p, t, n, ctx) == VF_OK)
 *       for (int64_t k = 1; k <= d; k++) {
 *           vf__made_stepper_step(&s, k, x, theta);   // theta [n, k_out]: outputs of dimension of degree k
 *           ... solve x[:, vf_made_dim_of_degree(net, k)] from theta ...
 *       }
 *
 * Buffers come from the tape's memory (valid until vf_tape_reset); errors are recorded on the tape.
 */
#ifndef VF_MADE_STEPPER_H
#define VF_MADE_STEPPER_H

#include "nn/nn_internal.h"

typedef struct vf__made_stepper {
    const vf_made *m;
    vf_params *p;
    vf_tape *t;
    int64_t n;
    const vf_real *ctx;     /* [n, c] or NULL */
    vf_real **level;        /* plain: depth hidden layers; residual: per block act(h), its inner units, then h */
    int n_levels;
    vf_real *fresh;         /* [n, h]: residual only, the new units of h */
    int64_t *depth_lo, *depth_hi; /* per column strip of a product: its depth range (all of it) */
    vf_real *outputs;       /* [n, d k_out] or NULL: the outputs accumulated unit block by unit block */
    int64_t *out_lo, *out_hi; /* [d + 1]: entry k, the output columns of the dimensions of degree >= k */
} vf__made_stepper;

/* 1 when the stepper can evaluate this network (the sorted hidden layout), else 0. */
int vf__made_stepper_supported(const vf_made *m);

/* Prepares the buffers for n rows; ctx [n, c] or NULL (borrowed for the steps). */
vf_status vf__made_stepper_begin(vf__made_stepper *s, const vf_made *m, vf_params *p, vf_tape *t, int64_t n,
                                 const vf_real *ctx);

/* Step k (1..d, in order): x [n, d] in position order, holding the dimensions of degree < k (the rest
 * are read as zeros: they must be 0) -> theta [n, k_out], the MADE outputs of the dimension of degree
 * k, equal to its columns of vf_made_forward(x). */
vf_status vf__made_stepper_step(vf__made_stepper *s, int64_t k, const vf_real *x, vf_real *theta);

/* Tests: how later begin calls form the outputs: 0 (the default) as estimated cheaper, 1 each degree's
 * whole, 2 accumulated over the steps. */
void vf__made_stepper_output_mode(int mode);

#endif
