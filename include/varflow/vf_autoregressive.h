/* vf_autoregressive.h — masked autoregressive flows with affine transformers: MAF (Papamakarios et
 * al. 2017) and IAF (Kingma et al. 2016), both conditioned by one MADE network (vf_made, vf_nn.h).
 *
 * Usage (a 5-transform MAF for 2-D data; reversals between the layers)
 *   vf_params *p = vf_params_new();
 *   vf_transform *tr[9];
 *   vf_maf_params mp = vf_maf_default_params(2);       // hidden 64, depth 2, relu, sequential order
 *   for (int i = 0; i < 5; i++) {
 *       char name[32]; snprintf(name, sizeof name, "transforms.%d", 2 * i);
 *       vf_maf_new(p, name, &mp, &tr[2 * i]);            // registers transforms.<2i>.net.input.weight, ...
 *       if (i < 4) vf_reverse_new(2, 0, &tr[2 * i + 1]);
 *   }
 *   vf_dist *base = NULL;
 *   vf_dist_normal_new(2, 0, &base);
 *   vf_flow *flow = NULL;
 *   vf_flow_new(base, 9, tr, &flow);
 *   vf_params_finalize(p, 42);                           // every MAF starts as the identity map
 *
 * The map (zuko's and nflows' convention). With (b, a) = MADE(u, context) -- column 2i of the MADE's
 * output is the shift b_i, column 2i + 1 the unconstrained log-scale a_i -- and the log-scale softly
 * bounded, s = a / (1 + |a| / B) in (-B, B) (zuko's MonotonicAffineTransform with slope e^-B;
 * B = log_scale_bound, 0 for no bound), the one-pass map is
 *       P(u)_i = u_i exp(s_i(u_<i)) + b_i(u_<i),      log|det dP/du| = sum_i s_i,
 * where u_<i means the dimensions whose MADE degree is below dimension i's. Its inverse P^{-1}
 * solves the dimensions one degree at a time: D sequential restricted MADE steps for d = D dimensions.
 *
 *   MAF: forward (density, x -> z) = P(x): ONE MADE pass;  inverse (sampling) = P^{-1}: D steps.
 *   IAF: forward (density, x -> z) = P^{-1}(x): D steps;   inverse (sampling) = P(z): ONE pass.
 *
 * So MAF evaluates densities of data fast and samples slowly; IAF samples (and scores its own samples,
 * as in variational inference) fast and evaluates densities of outside data slowly.
 *
 * The D-pass direction. Step k (k = 1..D) solves the dimension of degree k: it runs the MADE
 * restricted to that dimension's outputs (vf_made_forward_step: only hidden units of degree < k, on
 * the dimensions already solved) and inverts that one affine map. Every step stays on the tape, so
 * gradients are exact. Step k multiplies a fraction (k-1)/(D-1) of each hidden layer's units, so the
 * D steps cost about D(2D-1)/(6(D-1)) full passes of hidden-to-hidden work (2.9 for D = 8).
 *
 * The last MADE layer starts at zero (b = a = 0), so a new transform is the identity. Parameters:
 * "<name>.net.*" (the MADE's names, vf_nn.h). describe() gives {"kind": "maf" or "iaf", "dim",
 * "context", "hidden", "depth", "residual", "act", "order", "seed", "random_degrees",
 * "log_scale_bound"}, and "hidden_layout": "sorted" for the sorted layout (files without the key were
 * written with the interleaved layout, and load as such).
 */
#ifndef VF_AUTOREGRESSIVE_H
#define VF_AUTOREGRESSIVE_H

#include "vf_flow.h"

#ifdef __cplusplus
extern "C" {
#endif

/* -log(1e-3): zuko's default slope bound for the affine autoregressive transformer. */
#define VF_MAF_LOG_SCALE_BOUND 6.907755278982137

typedef struct vf_maf_params {
    int64_t features;          /* d >= 1 */
    int64_t context;           /* context width c >= 0 (default 0: unconditional) */
    int64_t hidden;            /* width of every MADE hidden layer (default 64, as zuko's (64, 64)) */
    int depth;                 /* plain MADE: hidden layers >= 1; residual: blocks >= 0 (default 2) */
    int residual;              /* residual MADE (default 0) */
    vf_activation act;         /* default VF_ACT_RELU */
    vf_made_order order;       /* input degrees (default VF_ORDER_SEQUENTIAL) */
    uint64_t seed;             /* for VF_ORDER_RANDOM and random_degrees (default 0) */
    int random_degrees;        /* random hidden degrees instead of cycling ones (default 0) */
    vf_made_hidden_layout hidden_layout; /* MADE hidden units by degree (default VF_HIDDEN_SORTED) */
    double log_scale_bound;    /* B > 0 of the soft bound s = a / (1 + |a| / B), or 0 for s = a
                                * (default VF_MAF_LOG_SCALE_BOUND). Unbounded log-scales can overflow
                                * exp() during training; keep a bound unless you know better */
} vf_maf_params;

/* IAF takes the same settings. */
typedef vf_maf_params vf_iaf_params;

vf_maf_params vf_maf_default_params(int64_t d);
vf_iaf_params vf_iaf_default_params(int64_t d);

/* MAF: forward (x -> z) one MADE pass, inverse D restricted steps. VF_ERR_ARG for invalid settings,
 * VF_ERR_NOMEM with nothing registered in p and nothing leaked. */
vf_status vf_maf_new(vf_params *p, const char *name, const vf_maf_params *kp, vf_transform **out);
/* IAF: forward (x -> z) D MADE passes, inverse (sampling) one pass. Errors as vf_maf_new. */
vf_status vf_iaf_new(vf_params *p, const char *name, const vf_iaf_params *kp, vf_transform **out);

/* The conditioner of a "maf" or "iaf" transform (NULL for any other kind): its degrees give the
 * autoregressive order (vf_made_degrees). */
const vf_made *vf_autoregressive_made(const vf_transform *tr);

#ifdef __cplusplus
}
#endif
#endif
