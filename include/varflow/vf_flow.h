/* vf_flow.h — normalizing flows: bijections with log-determinants, base distributions, and the flow
 * that composes them.
 *
 * Usage (density estimation; the pieces register their parameters in one vf_params store)
 *   vf_params *p = vf_params_new();
 *   vf_dist *base = NULL;
 *   vf_dist_normal_new(2, 0, &base);                               // N(0, I) in 2-D, no context
 *   vf_transform *tr[4];
 *   vf_affine_coupling_params cp = vf_affine_coupling_default_params(2);
 *   for (int i = 0; i < 4; i++) {
 *       char name[32]; snprintf(name, sizeof name, "transforms.%d", i);
 *       cp.parity = i % 2;
 *       vf_affine_coupling_new(p, name, &cp, &tr[i]);
 *   }
 *   vf_flow *flow = NULL;
 *   vf_flow_new(base, 4, tr, &flow);                                // the flow owns base and tr
 *   vf_params_finalize(p, 42);
 *
 *   vf_var x = vf_input(t, data, 2, (int64_t[]){n, 2});
 *   vf_var lp = vf_flow_log_prob(flow, p, t, x, VF_NOVAR);          // [n]: log p(x)
 *   vf_var loss = vf_neg(t, vf_mean(t, lp, VF_ALL_AXES, 0));        // maximum likelihood
 *   vf_backward(t, loss);
 *
 *   vf_var s = vf_flow_sample(flow, p, t, 1000, VF_NOVAR, &rng, NULL);   // [1000, 2]
 *
 * Direction. A transform's forward map is the normalizing direction, data x -> latent z, as in zuko
 * and nflows: log p(x) = log p_base(T(x)) + log|det dT/dx|. Sampling runs the inverses from the base.
 * Which direction is cheap depends on the transform (MAF: forward is one pass, inverse is D passes;
 * IAF the opposite); each constructor's comment says so.
 *
 * Everything runs on the autodiff tape, so gradients with respect to parameters, data and context come
 * for free (vf_backward), and errors follow the tape's sticky rule: a failing call records the tape's
 * error and returns VF_NOVAR. Contexts (conditions) are [n, c] tensors given to every transform and to
 * the base; pass VF_NOVAR for an unconditional model.
 */
#ifndef VF_FLOW_H
#define VF_FLOW_H

#include "vf_nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- transforms -------------------------------------------------------------------------- */
typedef struct vf_transform vf_transform;

/* z = T(x): x [n, d], context [n, c] or VF_NOVAR -> z [n, d]; *ladj = log|det dz/dx| [n]. */
vf_var vf_transform_forward(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var context,
                            vf_var *ladj);
/* x = T^{-1}(z): z [n, d] -> x [n, d]; *ladj = log|det dx/dz| [n] (the negative of forward's at x). */
vf_var vf_transform_inverse(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var z, vf_var context,
                            vf_var *ladj);
/* Data-dependent initialization (ActNorm and friends): sets parameters from the batch x [n, d] and
 * returns T(x) computed with them, so a flow can initialize its transforms in order. Transforms
 * without such an initialization just return T(x). */
vf_var vf_transform_data_init(vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var context);
void vf_transform_free(vf_transform *tr);
int64_t vf_transform_dim(const vf_transform *tr);          /* d */
int64_t vf_transform_context_dim(const vf_transform *tr);  /* c (0: unconditional) */
const char *vf_transform_kind(const vf_transform *tr);    /* "affine_coupling", ... */
/* The transform's architecture as one JSON object ({"kind": ..., its settings}), for model files.
 * Writes at most len bytes including the NUL; VF_ERR_ARG if it does not fit. */
vf_status vf_transform_describe(const vf_transform *tr, char *json, size_t len);

/* ---- base distributions ------------------------------------------------------------------- */
typedef struct vf_dist vf_dist;

/* log density of z [n, d] (context [n, c] or VF_NOVAR) -> [n] */
vf_var vf_dist_log_prob(const vf_dist *b, vf_params *p, vf_tape *t, vf_var z, vf_var context);
/* n draws [n, d] from generator r, reparameterized: gradients reach the distribution's parameters
 * (and the context). With a context, n must equal its row count. */
vf_var vf_dist_sample(const vf_dist *b, vf_params *p, vf_tape *t, int64_t n, vf_var context, vf_rng *r);
void vf_dist_free(vf_dist *b);
int64_t vf_dist_dim(const vf_dist *b);
int64_t vf_dist_context_dim(const vf_dist *b);
const char *vf_dist_kind(const vf_dist *b);
vf_status vf_dist_describe(const vf_dist *b, char *json, size_t len);

/* Standard normal N(0, I_d); with context dimension c > 0 it ignores the context (accepted for
 * uniformity). No parameters. */
vf_status vf_dist_normal_new(int64_t d, int64_t c, vf_dist **out);

/* ---- simple transforms ------------------------------------------------------------------- */
/* Reversal of the feature order (a permutation: log|det| = 0; its own inverse). */
vf_status vf_reverse_new(int64_t d, int64_t c, vf_transform **out);

/* ---- the flow ----------------------------------------------------------------------------- */
typedef struct vf_flow vf_flow;

/* A flow from a base and n transforms applied in order to data (tr[0] first). Takes ownership of
 * base and of every tr[i], also on failure. Dimensions and context widths must agree. */
vf_status vf_flow_new(vf_dist *base, int n, vf_transform *const *tr, vf_flow **out);
void vf_flow_free(vf_flow *f);
int64_t vf_flow_dim(const vf_flow *f);
int64_t vf_flow_context_dim(const vf_flow *f);
int vf_flow_n_transforms(const vf_flow *f);
vf_transform *vf_flow_transform(const vf_flow *f, int i);
const vf_dist *vf_flow_base(const vf_flow *f);

/* log p(x): x [n, d] -> [n] */
vf_var vf_flow_log_prob(const vf_flow *f, vf_params *p, vf_tape *t, vf_var x, vf_var context);
/* Data to latent: z [n, d] = T_k(... T_1(x)), *ladj [n] the summed log-determinants. */
vf_var vf_flow_forward(const vf_flow *f, vf_params *p, vf_tape *t, vf_var x, vf_var context, vf_var *ladj);
/* Latent to data: x [n, d] from z [n, d], *ladj [n] = log|det dx/dz|. */
vf_var vf_flow_inverse(const vf_flow *f, vf_params *p, vf_tape *t, vf_var z, vf_var context, vf_var *ladj);
/* n samples [n, d]; if log_prob is not NULL it receives their log-densities [n] from the same pass
 * (log p_base(z) - log|det dx/dz|). Reparameterized: differentiable in the parameters. */
vf_var vf_flow_sample(const vf_flow *f, vf_params *p, vf_tape *t, int64_t n, vf_var context, vf_rng *r,
                      vf_var *log_prob);
/* Runs every transform's data-dependent initialization on x [n, d], in order. */
vf_status vf_flow_data_init(vf_flow *f, vf_params *p, vf_tape *t, vf_var x, vf_var context);

#ifdef __cplusplus
}
#endif
#endif
