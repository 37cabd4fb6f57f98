/* ar_inverse.h — the d-step inversion shared by the autoregressive transforms (MAF/IAF affine and
 * spline). Not installed.
 *
 * An autoregressive map u -> v transforms dimension i by tau(u_i; theta_i) with theta_i = MADE(u)'s
 * outputs for i, which depend only on the dimensions of lower degree. Its inverse takes d steps in
 * degree order: step k runs vf_made_forward_step on the dimensions already solved and solves
 * dimension i of degree k with the transformer's inverse. The caller supplies that per-dimension
 * inverse as a callback.
 */
#ifndef VF_AR_INVERSE_H
#define VF_AR_INVERSE_H

#include "flows/flow_internal.h"

/* v_col [n, 1], theta [n, k_out] (the MADE outputs of that dimension) -> u_col [n, 1] and
 * *ladj_col [n, 1] = log|d u_col / d v_col|. `self` is the transform. */
typedef vf_var (*vf__ar_dim_inverse)(const void *self, vf_tape *t, vf_var v_col, vf_var theta, vf_var *ladj_col);

/* u [n, d] from v [n, d] (context [n, c] or VF_NOVAR); *ladj [n] = log|det du/dv|. */
vf_var vf__ar_invert(const vf_made *net, const void *self, vf__ar_dim_inverse inverse_dim, vf_params *p,
                     vf_tape *t, vf_var v, vf_var ctx, vf_var *ladj);

#endif
