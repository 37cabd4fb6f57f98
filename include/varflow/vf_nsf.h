/* vf_nsf.h — Neural Spline Flows (Durkan et al. 2019): rational-quadratic spline coupling and
 * autoregressive transforms (MAF-style and IAF-style), built on the fused spline op of vf_spline.h.
 *
 * Usage (an NSF for 2-D data: four spline couplings with alternating masks)
 *   vf_params *p = vf_params_new();
 *   vf_transform *tr[4];
 *   vf_spline_coupling_params sp = vf_spline_coupling_default_params(2);   // 8 bins on [-5, 5], 2 x 64 relu
 *   for (int i = 0; i < 4; i++) {
 *       char name[32]; snprintf(name, sizeof name, "transforms.%d", i);
 *       sp.parity = i % 2;
 *       vf_spline_coupling_new(p, name, &sp, &tr[i]);      // registers transforms.<i>.net.layers.*
 *   }
 *   vf_dist *base = NULL; vf_dist_normal_new(2, 0, &base);
 *   vf_flow *flow = NULL; vf_flow_new(base, 4, tr, &flow);
 *   vf_params_finalize(p, 42);                              // every layer starts as the identity map
 *
 *   vf_spline_ar_params ap = vf_spline_ar_default_params(5);   // autoregressive, MADE 2 x 64
 *   ap.context = 3;
 *   vf_spline_maf_new(p, "maf.0", &ap, &t5);                // density one pass, sampling 5 passes
 *
 * The elementwise map. Every transformed feature x_i goes through its own monotonic rational-quadratic
 * spline with K bins on [-B, B] and identity (linear, slope 1) tails outside, y_i = RQS(x_i; uw_i,
 * uh_i, ud_i) with K unnormalized widths uw_i, K heights uh_i and K-1 interior knot slopes ud_i (the
 * exact formulas, minimum widths/heights/slopes included, are in vf_spline.h). The spline op runs
 * with identity_at_zero = 1: all-zero parameters give the identity map, so with the conditioner's last
 * layer zero-initialized (the default) a new transform is exactly the identity. log|det dz/dx| is
 * the sum over the transformed features of log|dy_i/dx_i| (0 in the tails). Inputs outside [-B, B]
 * pass through unchanged, so B should cover the data (standardize it first).
 *
 * Spline coupling (kind "spline_coupling"). A binary mask splits the d features into x_a (mask 0,
 * passed through) and x_b (mask 1, splined); an MLP reads [x_a, context] and outputs 3K-1 values per
 * transformed feature. z_a = x_a, z_b = RQS(x_b; MLP(x_a, c)); the inverse runs the MLP on z_a = x_a
 * and the spline's exact inverse. Both directions cost one conditioner pass. Parameters:
 * "<name>.net.layers.<i>.weight" [out, in] and ".bias" [out] (vf_mlp), input [x_a (mask-0 features in
 * increasing order), context], output [nb * (3K-1)]: the block of transformed feature j (j-th mask-1
 * feature in increasing order) is columns j(3K-1) .. (j+1)(3K-1)-1 = [K widths, K heights, K-1
 * slopes] (nflows' layout).
 *
 * Autoregressive splines (kinds "spline_maf" and "spline_iaf"). A MADE (vf_nn.h) with output
 * multiplier 3K-1 gives dimension i the block of columns i(3K-1) .. (i+1)(3K-1)-1, laid out as above,
 * depending only on the dimensions of lower MADE degree (and the context). The one-pass map is
 * P(u)_i = RQS(u_i; MADE(u)_i); its inverse P^{-1} solves one degree at a time in D = d steps (step k
 * runs the MADE restricted to the dimension of degree k on the dimensions already solved and inverts
 * that dimension's spline; the log-det sums the steps' exact log-derivatives).
 *   spline_maf: forward (density, x -> z) = P: ONE pass;  inverse (sampling) = P^{-1}: d steps.
 *   spline_iaf: forward (density) = P^{-1}: d steps;        inverse (sampling) = P: ONE pass.
 * Parameters: "<name>.net.*" (the MADE's names, vf_nn.h).
 *
 * Defaults and where they come from. K = 8 bins and B = 5 are zuko's (NSF bins = 8,
 * MonotonicRQSTransform bound = 5); nflows defaults to 10 bins on [-1, 1] and the paper's tabular
 * experiments used B = 3 with linear tails. Minimum bin width/height and slope 1e-3 are nflows'.
 * Conditioners: 2 hidden layers of 64 with ReLU (coupling MLP, as the other couplings here), MADE
 * hidden 64 x depth 2 with ReLU (zuko's (64, 64)).
 *
 * describe():
 *   spline_coupling: {"kind", "dim", "context", "mask", "hidden", "act", "bins", "bound",
 *                     "min_bin_width", "min_bin_height", "min_derivative", "zero_init"}
 *   spline_maf/iaf:  {"kind", "dim", "context", "hidden", "depth", "residual", "act", "order", "seed",
 *                     "random_degrees", "bins", "bound", "min_bin_width", "min_bin_height",
 *                     "min_derivative"} and "hidden_layout": "sorted" for the sorted MADE layout
 *                     (absent: interleaved, the layout of files written before it existed)
 */
#ifndef VF_NSF_H
#define VF_NSF_H

#include "vf_flow.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VF_NSF_DEFAULT_BINS 8
#define VF_NSF_DEFAULT_BOUND 5.0

/* Settings of a spline coupling. */
typedef struct vf_spline_coupling_params {
    int64_t dim;                  /* d >= 2 */
    int64_t context;              /* c >= 0: width of the context (default 0: unconditional) */
    int parity;                   /* without a custom mask: feature i is transformed when
                                   * i % 2 == parity (0 or 1, default 0) */
    const int *mask;              /* NULL (default): the parity mask; else [d] of 0/1, 1 = transformed,
                                   * at least one 0 and one 1; copied by the constructor */
    int n_hidden;                 /* conditioner hidden layers, 0..VF_NN_MAX_HIDDEN (default 2) */
    int64_t hidden[VF_NN_MAX_HIDDEN];   /* their widths (default 64 each) */
    vf_activation act;            /* conditioner activation (default VF_ACT_RELU) */
    int bins;                     /* K >= 2 (default 8) */
    double bound;                 /* B > 0, finite: the spline acts on [-B, B] (default 5) */
    double min_bin_width;         /* > 0, K * it < 1 (default 1e-3) */
    double min_bin_height;        /* > 0, K * it < 1 (default 1e-3) */
    double min_derivative;        /* in (0, 1) (default 1e-3) */
    int zero_init;                /* 1 (default): zero last layer, identity at initialization */
} vf_spline_coupling_params;

vf_spline_coupling_params vf_spline_coupling_default_params(int64_t d);

/* Spline coupling; kind "spline_coupling". Registers "<name>.net.layers.<i>.weight/.bias" in p
 * (before vf_params_finalize). VF_ERR_ARG for invalid settings (d < 2, a mask with no 0 or no 1 or a
 * value other than 0/1, parity not 0/1, bins < 2, bound not finite and > 0, minimum widths, heights
 * or slope out of range, bad hidden sizes or activation, a name already used); VF_ERR_NOMEM with
 * nothing registered or leaked. */
vf_status vf_spline_coupling_new(vf_params *p, const char *name, const vf_spline_coupling_params *kp,
                                 vf_transform **out);

/* Settings of an autoregressive spline (both directions). */
typedef struct vf_spline_ar_params {
    int64_t features;             /* d >= 1 */
    int64_t context;              /* c >= 0 (default 0: unconditional) */
    int64_t hidden;               /* width of every MADE hidden layer (default 64) */
    int depth;                    /* plain MADE: hidden layers >= 1; residual: blocks >= 0 (default 2) */
    int residual;                 /* residual MADE, 0 or 1 (default 0) */
    vf_activation act;            /* default VF_ACT_RELU */
    vf_made_order order;          /* input degrees (default VF_ORDER_SEQUENTIAL) */
    uint64_t seed;                /* for VF_ORDER_RANDOM and random_degrees (default 0) */
    int random_degrees;           /* 0 or 1 (default 0) */
    vf_made_hidden_layout hidden_layout; /* MADE hidden units by degree (default VF_HIDDEN_SORTED) */
    int bins;                     /* K >= 2 (default 8) */
    double bound;                 /* B > 0, finite (default 5) */
    double min_bin_width;         /* > 0, K * it < 1 (default 1e-3) */
    double min_bin_height;        /* > 0, K * it < 1 (default 1e-3) */
    double min_derivative;        /* in (0, 1) (default 1e-3) */
} vf_spline_ar_params;

vf_spline_ar_params vf_spline_ar_default_params(int64_t d);

/* MAF-style autoregressive spline; kind "spline_maf": forward (x -> z) one MADE pass, inverse d
 * passes. The MADE's last layer starts at zero (identity). VF_ERR_ARG for invalid settings (as the
 * coupling's, plus features < 1, hidden < 1, depth, residual, order, random_degrees out of range);
 * VF_ERR_NOMEM with nothing registered in p and nothing leaked. */
vf_status vf_spline_maf_new(vf_params *p, const char *name, const vf_spline_ar_params *kp, vf_transform **out);
/* IAF-style; kind "spline_iaf": forward d MADE passes, inverse (sampling) one pass. As above. */
vf_status vf_spline_iaf_new(vf_params *p, const char *name, const vf_spline_ar_params *kp, vf_transform **out);

#ifdef __cplusplus
}
#endif
#endif
