/* vf_coupling.h — coupling transforms: affine coupling (RealNVP, Dinh et al. 2017) and additive
 * coupling (NICE, Dinh et al. 2015).
 *
 * Usage (four affine couplings with alternating masks, then a flow; see vf_flow.h)
 *   vf_params *p = vf_params_new();
 *   vf_transform *tr[4];
 *   vf_affine_coupling_params cp = vf_affine_coupling_default_params(2);   // d = 2, 2 x 64 relu
 *   for (int i = 0; i < 4; i++) {
 *       char name[32]; snprintf(name, sizeof name, "transforms.%d", i);
 *       cp.parity = i % 2;                                  // transform the other half each time
 *       vf_affine_coupling_new(p, name, &cp, &tr[i]);       // registers transforms.<i>.net.layers.*
 *   }
 *   ... vf_flow_new(base, 4, tr, &flow); vf_params_finalize(p, seed); ...
 *
 *   int mask[5] = {1, 1, 0, 0, 1};                          // custom mask: 1 = transformed
 *   vf_additive_coupling_params ap = vf_additive_coupling_default_params(5);
 *   ap.mask = mask;                                         // copied by the constructor
 *   ap.context = 3;                                         // conditional: context [n, 3]
 *   vf_additive_coupling_new(p, "nice.0", &ap, &t5);
 *
 * The map. A binary mask splits the d features into an identity part x_a (mask 0) and a transformed
 * part x_b (mask 1). A conditioner MLP reads [x_a, context] and outputs, per transformed feature,
 *   affine:   a shift t and a raw log-scale r;  s = c tanh(r / c);  z_b = x_b exp(s) + t,
 *             log|det dz/dx| = sum_b s;
 *   additive: a shift t only;                                      z_b = x_b + t,  log|det| = 0;
 * and z_a = x_a. The inverse runs the same conditioner on z_a = x_a, so it is exact:
 * x_b = (z_b - t) exp(-s). Both directions cost one conditioner pass.
 *
 * The soft clamp. s = c tanh(r / c) (c = scale_clamp, default 3) keeps every log-scale in (-c, c),
 * so one layer scales a feature by at most e^3 ~ 20 either way, while s ~ r for |r| << c (the map
 * is unchanged near the identity). Unbounded log-scales make maximum-likelihood training of
 * coupling flows diverge when a conditioner overshoots; Glow bounds the scale with a sigmoid, zuko's
 * monotonic affine with r / (1 + |r / b|), RealNVP with a tanh — this is the symmetric tanh form.
 * scale_clamp = 0 disables the clamp (s = r).
 *
 * Conditioner layout (for model files and PyTorch): "<name>.net.layers.<i>.weight" [out, in] and
 * ".bias" [out], i = 0..n_hidden; input [x_a (mask-0 features in increasing order), context],
 * output columns [t_1..t_k, r_1..r_k] (affine) or [t_1..t_k] (additive) for the k transformed
 * features in increasing order. The last layer is zero-initialized by default, so the transform
 * starts as the identity (Dinh et al.; as in Glow, nflows and zuko).
 */
#ifndef VF_COUPLING_H
#define VF_COUPLING_H

#include "vf_flow.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Settings of a coupling transform (the same struct for both kinds). */
typedef struct vf_coupling_params {
    int64_t dim;                  /* d >= 2 */
    int64_t context;              /* c >= 0: width of the context (default 0: unconditional) */
    int parity;                   /* without a custom mask: feature i is transformed when
                                   * i % 2 == parity (0 or 1, default 0) */
    const int *mask;              /* NULL (default): the parity mask; else [d] of 0/1, 1 = transformed,
                                   * at least one 0 and one 1; copied by the constructor */
    int n_hidden;                 /* conditioner hidden layers, 0..VF_NN_MAX_HIDDEN (default 2) */
    int64_t hidden[VF_NN_MAX_HIDDEN];   /* their widths (default 64 each) */
    vf_activation act;            /* conditioner activation (default VF_ACT_RELU) */
    double scale_clamp;           /* affine only: c of s = c tanh(r / c); > 0, or 0 for no clamp
                                   * (default 3); ignored by additive coupling */
    int zero_init;                /* 1 (default): zero last layer, identity at initialization */
} vf_coupling_params;

typedef vf_coupling_params vf_affine_coupling_params;
typedef vf_coupling_params vf_additive_coupling_params;

vf_affine_coupling_params vf_affine_coupling_default_params(int64_t d);
vf_additive_coupling_params vf_additive_coupling_default_params(int64_t d);

/* Affine coupling; kind "affine_coupling". Registers "<name>.net.layers.<i>.weight/.bias" in p
 * (before vf_params_finalize). VF_ERR_ARG for invalid settings (d < 2, a mask with no 0 or no 1 or
 * a value other than 0/1, parity not 0/1, scale_clamp < 0 or not finite, bad hidden sizes or
 * activation); VF_ERR_NOMEM with nothing registered or leaked. */
vf_status vf_affine_coupling_new(vf_params *p, const char *name, const vf_affine_coupling_params *kp,
                                 vf_transform **out);
/* Additive coupling (volume preserving); kind "additive_coupling". As above. */
vf_status vf_additive_coupling_new(vf_params *p, const char *name, const vf_additive_coupling_params *kp,
                                   vf_transform **out);

#ifdef __cplusplus
}
#endif
#endif
