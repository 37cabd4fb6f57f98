/* vf_planar.h — planar and radial flows (Rezende & Mohamed 2015, "Variational Inference with
 * Normalizing Flows"), unconditional or conditional.
 *
 * Usage
 *   vf_params *p = vf_params_new();
 *   vf_planar_params pp = vf_planar_default_params(2);        // d = 2, no context
 *   vf_transform *tr[8];
 *   for (int i = 0; i < 8; i++) {
 *       char name[32]; snprintf(name, sizeof name, "transforms.%d", i);
 *       vf_planar_new(p, name, &pp, &tr[i]);                   // or vf_radial_new(..., &rp, ...)
 *   }
 *   vf_flow_new(base, 8, tr, &flow);                          // the flow owns the transforms
 *   vf_params_finalize(p, 42);
 *   vf_var x = vf_flow_sample(flow, p, t, 1000, VF_NOVAR, &rng, &lq);   // one closed-form pass each
 *
 * Direction. In the paper the map f carries base samples to the target, z_k = f(z_{k-1}), and has a
 * closed form. In varflow a transform's forward is data -> latent, so these transforms are defined
 * with INVERSE = f (closed form: sampling and the reverse-KL / ELBO objective of variational
 * inference cost one pass) and FORWARD = f^{-1}, which has no closed form and is solved numerically
 * per row, to full double precision, inside one tape op:
 *   planar  f(z) = z + u^ h(w^T z + b), h = tanh. With s = w^T u^ and a = w^T z + b, taking w^T of
 *           x = f(z) gives the scalar equation  a + s tanh(a) = w^T x + b,  monotone in a because
 *           s > -1 (appendix A of the paper); it is solved by Newton steps safeguarded by bisection
 *           on the bracket [y - |s|, y + |s|] (y = w^T x + b), then z = x - u^ tanh(a).
 *   radial  f(z) = z + beta^ (z - z0) / (alpha + r), r = |z - z0|. Taking norms of x - z0 =
 *           (1 + beta^/(alpha + r)) (z - z0) gives  r + beta^ r / (alpha + r) = rho = |x - z0|,
 *           monotone in r because beta^ >= -alpha; it is the quadratic
 *           r^2 + (alpha + beta^ - rho) r - alpha rho = 0, whose non-negative root is taken in the
 *           cancellation-free form and polished by one Newton step; then
 *           z = z0 + (x - z0) (alpha + r) / (alpha + r + beta^).
 * Gradients of the solved point with respect to x and to the parameters come from the implicit
 * function theorem applied to the scalar equation (planar: dz/dx = (df/dz)^{-1} =
 * I - c u^ w^T / (1 + c s), c = h'(a), the Sherman-Morrison inverse of the rank-one update
 * I + c u^ w^T; radial: likewise for (1 + beta^ h) I + rank one), in both the VJP and the JVP.
 * The forward's log-determinant is computed on the tape from the solved point,
 * log|det dz/dx| = -log|det df/dz| at z = f^{-1}(x), so it differentiates through the solve too
 * (radial: the solve op also outputs r = |z - z0| itself, exact even where z - z0 falls below the
 * rounding of z0; the inverse takes r as a norm whose gradient at z = z0 is 0, not NaN):
 *   planar  log|det df/dz| = log(1 + h'(a) s)
 *   radial  log|det df/dz| = (d-1) log(1 + beta^/(alpha + r)) + log(1 + alpha beta^/(alpha + r)^2)
 *
 * Invertibility constraints (paper, appendix A), applied on the tape to unconstrained parameters:
 *   planar  u^ = u + (m(w^T u) - w^T u) w / |w|^2, m(a) = -1 + softplus(a), so w^T u^ = m(w^T u) > -1
 *           (|w|^2 gets 1e-30 added, so w = 0 gives the translation z + u tanh(b) instead of 0/0);
 *   radial  alpha = softplus(alpha_raw) > 0, beta^ = -alpha + softplus(beta_raw) > -alpha.
 * In finite precision softplus(a) rounds to 0 for a below about -37 (double) or -17 (float): then
 * s = -1 and the planar map is still a bijection, but its Jacobian is singular at a = 0 (the solve
 * stays finite; the log-determinant there is infinite).
 *
 * Parameters (registered in the caller's store; initialization in brackets, s = init_scale):
 *   planar  "<name>.w" [d], "<name>.u" [d], "<name>.b" [1]                  [all U(-s, s)]
 *   radial  "<name>.z0" [d], "<name>.alpha_raw" [1], "<name>.beta_raw" [1]  [all U(-s, s)]
 * Conditional (context c > 0): an MLP "<name>.net" of the context (its layers "<name>.net.layers.<i>")
 * outputs per-row offsets added to those parameters before the constraints: [n, 2d + 1] = (w, u, b)
 * for planar, [n, d + 2] = (z0, alpha_raw, beta_raw) for radial. Its output layer starts at zero, so
 * a fresh conditional transform equals the unconditional one with the same base parameters.
 *
 * describe(): {"kind": "planar" | "radial", "dim", "context", "n_hidden", "hidden", "act", "init_scale"}.
 */
#ifndef VF_PLANAR_H
#define VF_PLANAR_H

#include "vf_flow.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vf_planar_params {
    int64_t dim;            /* d >= 1 */
    int64_t context;        /* c >= 0 (default 0: unconditional) */
    int n_hidden;           /* hidden layers of the context MLP, 0..VF_NN_MAX_HIDDEN (default 2; c > 0 only) */
    int64_t hidden;         /* their width (default 64) */
    vf_activation act;      /* their activation (default VF_ACT_RELU) */
    double init_scale;      /* w, u, b ~ U(-s, s), s >= 0 finite (default 1/sqrt(d)) */
} vf_planar_params;

typedef struct vf_radial_params {
    int64_t dim;            /* d >= 1 */
    int64_t context;        /* c >= 0 (default 0: unconditional) */
    int n_hidden;           /* hidden layers of the context MLP, 0..VF_NN_MAX_HIDDEN (default 2; c > 0 only) */
    int64_t hidden;         /* their width (default 64) */
    vf_activation act;      /* their activation (default VF_ACT_RELU) */
    double init_scale;      /* z0, alpha_raw, beta_raw ~ U(-s, s), s >= 0 finite (default 1/sqrt(d)) */
} vf_radial_params;

vf_planar_params vf_planar_default_params(int64_t d);
vf_radial_params vf_radial_default_params(int64_t d);

/* Planar transform: forward x [n, d] -> z = f^{-1}(x) (numerical solve), inverse z -> f(z) (closed
 * form). Registers "<name>.w", "<name>.u", "<name>.b" (and "<name>.net.*" when context > 0).
 * VF_ERR_ARG for invalid settings; VF_ERR_NOMEM leaves nothing registered. */
vf_status vf_planar_new(vf_params *p, const char *name, const vf_planar_params *pp, vf_transform **out);

/* Radial transform: forward x [n, d] -> z = f^{-1}(x) (closed-form root of a quadratic), inverse
 * z -> f(z). Registers "<name>.z0", "<name>.alpha_raw", "<name>.beta_raw" (and "<name>.net.*" when
 * context > 0). Errors as for vf_planar_new. */
vf_status vf_radial_new(vf_params *p, const char *name, const vf_radial_params *rp, vf_transform **out);

#ifdef __cplusplus
}
#endif
#endif
