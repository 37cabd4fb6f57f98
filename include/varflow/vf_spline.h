/* vf_spline.h — the monotonic rational-quadratic spline of Durkan et al. 2019 ("Neural Spline
 * Flows") as one fused tape op, with linear (identity) tails.
 *
 * Usage (the elementwise transform of a spline coupling or autoregressive layer)
 *   // x [n, d]; the conditioner's output split into uw [n, d*K], uh [n, d*K], ud [n, d*(K-1)]
 *   vf_var ladj;
 *   vf_var z = vf_rq_spline(t, x, uw, uh, ud, 3.0, 0, NULL, &ladj);   // z [n, d], ladj [n, d]
 *   vf_var lad_rows = vf_sum(t, ladj, 1, 0);                          // log|det dz/dx| per row [n]
 *   vf_var x2 = vf_rq_spline(t, z, uw, uh, ud, 3.0, 1, NULL, NULL);   // inverse: x2 == x
 *
 * The spline of one element, with K bins on [-B, B] (B = bound):
 *   widths   w_j = min_bin_width  + (1 - K min_bin_width)  softmax(uw)_j,   j = 0..K-1
 *   heights  h_j = min_bin_height + (1 - K min_bin_height) softmax(uh)_j
 *   knots    X_0 = -B, X_k = -B + 2B (w_0 + ... + w_{k-1}), X_K = B exactly (the same for Y from h)
 *   slopes   D_0 = D_K = 1 (so the tails join with a continuous derivative);
 *            D_k = min_derivative + softplus(ud_{k-1} + c), k = 1..K-1,
 *            where c = 0 (nflows, the default) or, with identity_at_zero = 1,
 *            c = log(expm1(1 - min_derivative)) so that ud = 0 gives D_k = 1.
 *   inside   for X_k <= x <= X_{k+1}: xi = (x - X_k) / (X_{k+1} - X_k), s = (Y_{k+1} - Y_k) / (X_{k+1} - X_k),
 *            y = Y_k + (Y_{k+1} - Y_k) [s xi^2 + D_k xi (1 - xi)] / [s + (D_k + D_{k+1} - 2 s) xi (1 - xi)]
 *   tails    x < -B or x > B: y = x, log|dy/dx| = 0, and no gradient reaches the parameters.
 * What all-zero parameters give: uniform knots (X_k = Y_k = -B + 2Bk/K) that map onto themselves and
 * bin slopes s = 1. With identity_at_zero = 1 every D_k is 1 too and the spline is y = x exactly;
 * with the nflows default the interior slopes are min_derivative + log 2 (about 0.694), so inside a
 * bin with end slopes D_k, D_{k+1} (1 at -B and B) y = Y_k + (2B/K) xi (xi + D_k (1 - xi)) /
 * (1 + (D_k + D_{k+1} - 2) xi (1 - xi)): the knots are fixed points, the bins bend.
 *
 * The inverse (inverse = 1) maps y back to x with the numerically stable root of the bin's quadratic
 * and returns log|dx/dy| = -log|dy/dx|. Both outputs are exact functions of x (or y) and of all three
 * parameter tensors, with closed-form VJP and JVP kernels (no re-differentiation through small ops).
 */
#ifndef VF_SPLINE_H
#define VF_SPLINE_H

#include "vf_ad.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vf_rq_spline_options {
    double min_bin_width;    /* smallest bin width as a fraction of 2B; > 0, K * it < 1 (default 1e-3) */
    double min_bin_height;   /* smallest bin height as a fraction of 2B; > 0, K * it < 1 (default 1e-3) */
    double min_derivative;   /* smallest interior knot slope; > 0 and < 1 when identity_at_zero (default 1e-3) */
    int identity_at_zero;    /* 0: D = min_derivative + softplus(ud) (nflows); 1: shifted so ud = 0 gives D = 1
                                and all-zero parameters give the identity (default 0) */
} vf_rq_spline_options;

/* The defaults listed above (those of the paper and of nflows). */
vf_rq_spline_options vf_rq_spline_default_options(void);

/* Elementwise RQ spline on [-bound, bound] with identity tails.
 *   x   [n, d] (any shape S of 1 to 3 dimensions)    input (the spline's y when inverse = 1)
 *   uw  [n, d, K] or [n, d*K] (S + [K], or S with its last extent times K)   unnormalized widths
 *   uh  same shape as uw                               unnormalized heights
 *   ud  [n, d, K-1] or [n, d*(K-1)]                    unnormalized interior knot slopes
 *   bound > 0 and finite; inverse 0 (x -> y) or 1 (y -> x); opt NULL for the defaults.
 * K (>= 1) is read from uw. Element i of x uses uw/uh entries [i*K, (i+1)*K) and ud entries
 * [i*(K-1), (i+1)*(K-1)) in memory order (nflows' reshape to [..., d, K]).
 * Returns the output [S]; if ladj is not NULL, *ladj = log|d out / d in| per element [S] (0 in the
 * tails), a second node whose gradients also reach x, uw, uh and ud. Errors (shapes, bound, options)
 * are recorded on the tape and return VF_NOVAR (and *ladj = VF_NOVAR). */
vf_var vf_rq_spline(vf_tape *t, vf_var x, vf_var uw, vf_var uh, vf_var ud, double bound, int inverse,
                    const vf_rq_spline_options *opt, vf_var *ladj);

/* The knots of one element's spline, as the op computes them (in double, the same bits as the op's
 * knots; the float build's op rounds the slopes D_k to float):
 *   uw [K], uh [K], ud [K-1] (may be NULL when K = 1) -> kx [K+1], ky [K+1], kd [K+1] (slopes D_k).
 * VF_ERR_ARG on K < 1, NULL arrays, bound <= 0 or invalid options; VF_ERR_NOMEM when K values of
 * scratch cannot be allocated. */
/* The same spline with its parameters packed per element: theta has x's shape + [3K - 1] (or x's
 * shape with the last extent times 3K - 1), element i holding its K width logits, then its K height
 * logits, then its K - 1 slope values (the layout of a MADE's or an MLP's outputs per dimension), so
 * no gather is needed to split them. bins = K >= 1. */
vf_var vf_rq_spline_packed(vf_tape *t, vf_var x, vf_var theta, int64_t bins, double bound, int inverse,
                           const vf_rq_spline_options *opt, vf_var *ladj);
vf_status vf_rq_spline_knots(const vf_real *uw, const vf_real *uh, const vf_real *ud, int64_t K, double bound,
                             const vf_rq_spline_options *opt, double *kx, double *ky, double *kd);

#ifdef __cplusplus
}
#endif
#endif
