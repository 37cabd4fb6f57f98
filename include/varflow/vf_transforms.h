/* vf_transforms.h — the non-neural transforms of a flow: ActNorm, the LU-decomposed invertible linear
 * map, permutations, elementwise affine, sigmoid / logit and tanh / atanh bijections for data on a box,
 * fixed standardization, and the triangular-solve op the LU map's inverse is built from.
 *
 * Usage (Glow-style blocks for d-dimensional data, then a box-to-R map in front)
 *   vf_params *p = vf_params_new();
 *   vf_transform *tr[3];
 *   vf_logit_params lp = vf_logit_default_params(2);
 *   double lo[2] = {-1, 0}, hi[2] = {1, 10};
 *   lp.lo = lo; lp.hi = hi;                                  // data lie in (-1, 1) x (0, 10)
 *   vf_logit_new(p, "transforms.0", &lp, &tr[0]);            // box -> R^2
 *   vf_actnorm_params ap = vf_actnorm_default_params(2);
 *   vf_actnorm_new(p, "transforms.1", &ap, &tr[1]);           // registers .loc, .log_scale
 *   vf_lu_linear_params up = vf_lu_linear_default_params(2);
 *   up.seed = 7;
 *   vf_lu_linear_new(p, "transforms.2", &up, &tr[2]);         // .lower, .upper, .log_s, .bias
 *   ... vf_flow_new(base, 3, tr, &flow); vf_params_finalize(p, 42);
 *   vf_flow_data_init(flow, p, t, x, VF_NOVAR);               // ActNorm: zero mean, unit variance
 *
 * Conventions (vf_flow.h): forward is data x -> latent z with *ladj = log|det dz/dx| per row. None of
 * these transforms uses a context: a context width c > 0 may be given (so they fit in a conditional
 * flow) and the context is then accepted and ignored. Parameters are registered in the caller's store
 * as "<name>.<what>"; every transform with parameters starts at the identity map (ActNorm, elementwise
 * affine) or at a fixed permutation (LU linear) unless its params say otherwise. Invalid settings give
 * VF_ERR_ARG with a message; an allocation failure gives VF_ERR_NOMEM and leaves nothing registered.
 */
#ifndef VF_TRANSFORMS_H
#define VF_TRANSFORMS_H

#include "vf_flow.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- triangular solve (an op on the tape) --------------------------------------------------- */
/* X = B A^{-T}: each row x of X solves A x = b for the matching row b of B. a [d, d] (only its lower
 * triangle is read when lower = 1, its upper triangle when lower = 0; with unit_diagonal = 1 the
 * diagonal is taken as ones and not read), b [n, d] -> [n, d]. Entries a never reads get zero
 * gradient. A zero on a read diagonal gives infinities or NaN, as a division by zero does. */
vf_var vf_triangular_solve(vf_tape *t, vf_var a, vf_var b, int lower, int unit_diagonal);

/* ---- ActNorm (Kingma & Dhariwal 2018) ---------------------------------------------------------
 * z = (x - loc) * exp(-log_scale) per feature, log|det| = -sum(log_scale). Parameters "<name>.loc" [d]
 * and "<name>.log_scale" [d], both zero at first (the identity). vf_transform_data_init sets
 * loc = batch mean and log_scale = log(batch std) (std with divisor n; 0 where the std is at most
 * min_scale, so that a constant feature keeps scale 1), so the batch comes out with zero mean and unit
 * variance per feature (a constant feature: zero mean). The store
 * must be finalized first. Both directions cost one pass. */
typedef struct vf_actnorm_params {
    int64_t dim;              /* d >= 1 */
    int64_t context;          /* c >= 0, accepted and ignored (default 0) */
    double min_scale;         /* data_init scales features whose batch std exceeds it, > 0 (default 1e-6) */
} vf_actnorm_params;

vf_actnorm_params vf_actnorm_default_params(int64_t d);
vf_status vf_actnorm_new(vf_params *p, const char *name, const vf_actnorm_params *kp, vf_transform **out);

/* ---- LU-decomposed invertible linear map (Glow's 1x1 convolution for vectors) -------------------
 * z = W x + bias with W = P L (U + diag(exp(log_s))): P a fixed permutation ((P v)_i = v_perm[i]),
 * L unit lower triangular, U strictly upper triangular; log|det| = sum(log_s). Parameters
 * "<name>.lower" [d, d] (only the strictly lower part is used), "<name>.upper" [d, d] (only the
 * strictly upper part), "<name>.log_s" [d] and, with bias = 1, "<name>.bias" [d]. The entries outside
 * the used triangles are stored but never read (their gradient is zero). The diagonal's sign is fixed
 * at +1 (det W has P's sign throughout training, as in Glow where the sign never changes either).
 * Initialization: log_s and bias zero; lower and upper entries N(0, init_std^2) (default init_std = 0:
 * W = P, a random orthogonal matrix when random_perm = 1 — Glow starts from a random rotation; a
 * permutation is one, and its LU factors are exactly L = I, U = 0). P is a seeded random permutation
 * (random_perm = 1, the default) or the identity. Forward: two matrix products; inverse: two
 * triangular solves (vf_triangular_solve), both one pass. */
typedef struct vf_lu_linear_params {
    int64_t dim;              /* d >= 1 */
    int64_t context;          /* c >= 0, accepted and ignored (default 0) */
    int bias;                 /* 1: learnable bias (default 1) */
    int random_perm;          /* 1: P is a random permutation drawn from seed; 0: P = I (default 1) */
    uint64_t seed;            /* seed of P (default 0) */
    double init_std;          /* std of the initial L and U entries, >= 0 (default 0) */
} vf_lu_linear_params;

vf_lu_linear_params vf_lu_linear_default_params(int64_t d);
vf_status vf_lu_linear_new(vf_params *p, const char *name, const vf_lu_linear_params *kp, vf_transform **out);

/* ---- permutations -----------------------------------------------------------------------------
 * z_i = x_perm[i]; log|det| = 0; the inverse gathers with the inverse permutation. With perm = NULL a
 * random permutation is drawn from seed; otherwise perm [d] must hold each of 0..d-1 exactly once
 * (copied). No parameters (p and name may be NULL). */
typedef struct vf_permutation_params {
    int64_t dim;              /* d >= 1 */
    int64_t context;          /* c >= 0, accepted and ignored (default 0) */
    const int64_t *perm;      /* [d] or NULL: random from seed (default NULL) */
    uint64_t seed;            /* used when perm is NULL (default 0) */
} vf_permutation_params;

vf_permutation_params vf_permutation_default_params(int64_t d);
vf_status vf_permutation_new(vf_params *p, const char *name, const vf_permutation_params *kp,
                             vf_transform **out);
/* The permutation of a "permutation" transform: perm [d] (NULL for another kind). */
const int64_t *vf_permutation_indices(const vf_transform *tr);

/* ---- elementwise affine ------------------------------------------------------------------------
 * z = x * exp(log_scale) + shift per feature; log|det| = sum(log_scale). Parameters "<name>.shift" [d]
 * and "<name>.log_scale" [d], zero at first (the identity). */
typedef struct vf_elementwise_affine_params {
    int64_t dim;              /* d >= 1 */
    int64_t context;          /* c >= 0, accepted and ignored (default 0) */
} vf_elementwise_affine_params;

vf_elementwise_affine_params vf_elementwise_affine_default_params(int64_t d);
vf_status vf_elementwise_affine_new(vf_params *p, const char *name, const vf_elementwise_affine_params *kp,
                                    vf_transform **out);

/* ---- sigmoid and logit on a box ----------------------------------------------------------------
 * With u = (x - lo) / (hi - lo) per feature:
 *   logit:   box (lo, hi)^d -> R^d,  z = log(u) - log(1 - u),
 *            log|det| = sum(-log(hi - lo) - log(u) - log(1 - u));
 *   sigmoid: R^d -> box,             z = lo + (hi - lo) sigmoid(x),
 *            log|det| = sum(log(hi - lo) - softplus(-x) - softplus(x)).
 * Each is the other's inverse. Data must lie strictly inside the box: where an input to the box-to-R
 * direction is outside the open box (or on its boundary), that entry's output is set to 0 (finite, so
 * later transforms stay NaN-free) and its row's log|det| is -inf, so a flow's log-density there is
 * -inf, never NaN; gradients stay finite. In float, sigmoid saturates to the box's edge for |x| beyond
 * about 17, and its inverse then reports the edge as outside. lo and hi (copied) default to 0 and 1
 * for every feature; each must be finite with lo < hi. No parameters (p and name may be NULL). */
typedef struct vf_box_params {
    int64_t dim;              /* d >= 1 */
    int64_t context;          /* c >= 0, accepted and ignored (default 0) */
    const double *lo;         /* [d] or NULL: zeros (default NULL) */
    const double *hi;         /* [d] or NULL: ones (default NULL) */
} vf_box_params;

typedef vf_box_params vf_logit_params;
typedef vf_box_params vf_sigmoid_params;

vf_box_params vf_logit_default_params(int64_t d);
vf_box_params vf_sigmoid_default_params(int64_t d);
vf_status vf_logit_new(vf_params *p, const char *name, const vf_logit_params *kp, vf_transform **out);
vf_status vf_sigmoid_new(vf_params *p, const char *name, const vf_sigmoid_params *kp, vf_transform **out);

/* ---- scaled tanh and its inverse ---------------------------------------------------------------
 *   tanh:  R^d -> (-a, a)^d,  z = a tanh(x),  log|det| = sum(log a + 2 (log 2 - x - softplus(-2x)));
 *   atanh: (-a, a)^d -> R^d,  z = atanh(x / a),  log|det| = sum(-log a - log(1 - x/a) - log(1 + x/a)).
 * Each is the other's inverse. Inputs of the atanh direction outside the open interval behave as
 * outside the box above (output 0, log|det| -inf). No parameters (p and name may be NULL). */
typedef struct vf_tanh_params {
    int64_t dim;              /* d >= 1 */
    int64_t context;          /* c >= 0, accepted and ignored (default 0) */
    double scale;             /* a > 0, finite (default 1) */
} vf_tanh_params;

vf_tanh_params vf_tanh_default_params(int64_t d);
vf_status vf_tanh_new(vf_params *p, const char *name, const vf_tanh_params *kp, vf_transform **out);
vf_status vf_atanh_new(vf_params *p, const char *name, const vf_tanh_params *kp, vf_transform **out);

/* ---- batch normalization (Dinh et al. 2017; Papamakarios et al. 2017) --------------------------
 * z = exp(log_gamma) (x - mu) / sqrt(v + eps) + beta per feature, log|det| = sum(log_gamma - 0.5 log(v + eps)).
 * Parameters "<name>.log_gamma" and "<name>.beta" [d] (zero: the map starts as a pure normalization);
 * non-trainable buffers (vf_nn.h) "<name>.running_mean" [d] (zeros) and "<name>.running_var" [d]
 * (ones), PyTorch's BatchNorm names. In training mode (vf_params_set_training(p, 1)) the forward
 * uses the batch mean and biased variance (at least 2 rows; gradients flow through them; the
 * log-determinant is the MAF paper's, statistics held fixed) and updates the running statistics:
 * running = (1 - momentum) running + momentum batch (unbiased variance for running_var). In
 * evaluation mode (the default) the forward, and the inverse in both modes, use the running
 * statistics: a fixed bijection. Both directions: one pass. */
typedef struct vf_batch_norm_params {
    int64_t dim;              /* d >= 1 */
    int64_t context;          /* c >= 0, accepted and ignored (default 0) */
    double eps;               /* added to the variance, > 0 (default 1e-5) */
    double momentum;          /* running-statistics update weight in [0, 1] (default 0.1) */
} vf_batch_norm_params;

vf_batch_norm_params vf_batch_norm_default_params(int64_t d);
vf_status vf_batch_norm_new(vf_params *p, const char *name, const vf_batch_norm_params *kp, vf_transform **out);

/* ---- fixed standardization ---------------------------------------------------------------------
 * z = (x - loc) / scale per feature, log|det| = -sum(log scale) (the same for every row). loc and scale
 * are fixed settings (copied, kept in double and recorded exactly in describe(), so a model file
 * restores them bit for bit), not parameters: p and name may be NULL. loc defaults to zeros and scale
 * to ones; every loc must be finite and every scale positive and finite (also after rounding to
 * vf_real). `varflow fit` puts one first in every flow it builds (vf_flow_from_spec_after), so the
 * flow's log-densities, samples and model files include the data scaling. Both directions: one pass. */
typedef struct vf_standardize_params {
    int64_t dim;              /* d >= 1 */
    int64_t context;          /* c >= 0, accepted and ignored (default 0) */
    const double *loc;        /* [d] or NULL: zeros (default NULL) */
    const double *scale;      /* [d] or NULL: ones (default NULL) */
} vf_standardize_params;

vf_standardize_params vf_standardize_default_params(int64_t d);
vf_status vf_standardize_new(vf_params *p, const char *name, const vf_standardize_params *kp, vf_transform **out);
/* The settings of a "standardize" transform: loc [d] and scale [d] (NULL for another kind). */
const double *vf_standardize_loc(const vf_transform *tr);
const double *vf_standardize_scale(const vf_transform *tr);
/* Column statistics of x [n, d] (row-major), accumulated in double: loc [d] = the column means,
 * scale [d] = the standard deviations (divisor n), a zero (or unusably small) one replaced by 1.
 * dequantized = 1 describes x + U(0, 1) noise instead (integer data made continuous by uniform
 * dequantization): loc = mean + 0.5, scale = sqrt(var + 1/12), the exact mean and std of the noisy
 * values. VF_ERR_ARG for n < 1, d < 1 or a non-finite column. */
vf_status vf_standardize_stats(const vf_real *x, int64_t n, int64_t d, int dequantized, double *loc, double *scale);

#ifdef __cplusplus
}
#endif
#endif
