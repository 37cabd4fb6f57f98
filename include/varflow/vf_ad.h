/* vf_ad.h — automatic differentiation: a tape of ops, reverse mode (VJP) and forward mode (JVP).
 *
 * Usage (a regression loss and its gradients)
 *   vf_tape *t = vf_tape_new();
 *   vf_var x  = vf_input(t, xdata, 2, (int64_t[]){n, 3});              // constant input [n, 3]
 *   vf_var W  = vf_param(t, w, gw, 2, (int64_t[]){64, 3});             // borrowed value and gradient
 *   vf_var b  = vf_param(t, bias, gb, 1, (int64_t[]){64});
 *   vf_var h  = vf_linear(t, x, W, b, VF_ACT_SILU);                    // silu(x W^T + b): [n, 64]
 *   ...
 *   vf_var loss = vf_mean(t, vf_square(t, vf_sub(t, y, target)), VF_ALL_AXES, 0);
 *   if (vf_tape_status(t) != VF_OK) { puts(vf_tape_error(t)); ... }  // first error, sticky
 *   vf_backward(t, loss);        // gw, gb += d loss / d params
 *   vf_tape_reset(t);            // next step reuses the memory
 *
 * Gradients with respect to inputs: make the input with vf_input_grad() and read vf_grad(t, x)
 * after vf_backward(). Forward mode: vf_set_tangent() on leaves, then vf_jvp(t); vf_tangent(t, y)
 * is J v for every node y (NULL means zero).
 *
 * The tape runs eagerly: every builder computes its value at once, from memory the tape owns, valid
 * until vf_tape_reset()/vf_tape_free(). Builders never fail loudly: on a bad argument or an
 * allocation failure the tape records the first error, returns VF_NOVAR, and every later builder
 * given VF_NOVAR returns VF_NOVAR. Check vf_tape_status() once, where convenient.
 * Arrays passed to vf_input/vf_param are borrowed and must live until the tape is reset.
 */
#ifndef VF_AD_H
#define VF_AD_H

#include "vf_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vf_tape vf_tape;
typedef int32_t vf_var;           /* handle of a node on a tape */
#define VF_NOVAR ((vf_var)-1)
#define VF_ALL_AXES (-100)        /* reduce over every axis */

typedef enum vf_activation {
    VF_ACT_NONE = 0, VF_ACT_RELU, VF_ACT_LEAKY_RELU /* slope 0.01 */, VF_ACT_ELU /* alpha 1 */,
    VF_ACT_SELU, VF_ACT_SILU, VF_ACT_GELU /* exact, erf */, VF_ACT_TANH, VF_ACT_SIGMOID,
    VF_ACT_SOFTPLUS, VF_ACT_COUNT
} vf_activation;
/* "relu", "silu", ... ; -1 for an unknown name. */
int vf_activation_from_name(const char *name);
const char *vf_activation_name(vf_activation a);

/* ---- the tape ----------------------------------------------------------------------------- */
vf_tape *vf_tape_new(void);                      /* NULL on allocation failure */
void vf_tape_free(vf_tape *t);
void vf_tape_reset(vf_tape *t);                  /* drop all nodes and the error; keep memory */
vf_status vf_tape_status(const vf_tape *t);      /* VF_OK or the first error since the reset */
const char *vf_tape_error(const vf_tape *t);     /* its message ("" if none) */
int32_t vf_tape_size(const vf_tape *t);          /* number of nodes */
/* Inference mode: with enabled = 0 the ops keep no state for derivatives (less memory, less work),
 * and vf_backward / vf_jvp refuse with VF_ERR_STATE (also after enabling again, until the next reset,
 * when ops were recorded in inference mode). The setting outlives resets; default 1. */
void vf_tape_set_grad_enabled(vf_tape *t, int enabled);
int vf_tape_grad_enabled(const vf_tape *t);

/* ---- leaves ------------------------------------------------------------------------------- */
/* Constant input, borrowed contiguous data of the given shape. */
vf_var vf_input(vf_tape *t, const vf_real *data, int ndim, const int64_t *shape);
/* Input whose gradient vf_backward() computes (read with vf_grad). */
vf_var vf_input_grad(vf_tape *t, const vf_real *data, int ndim, const int64_t *shape);
/* Trainable parameter: borrowed value, and a borrowed gradient buffer that vf_backward ADDS to. */
vf_var vf_param(vf_tape *t, const vf_real *data, vf_real *grad, int ndim, const int64_t *shape);
/* Constant scalar (shape []). */
vf_var vf_scalar(vf_tape *t, double value);
/* Constant zeros of the given shape. */
vf_var vf_zeros(vf_tape *t, int ndim, const int64_t *shape);
/* Constant copied into the tape (the caller's array may be freed afterwards). */
vf_var vf_constant(vf_tape *t, const vf_real *data, int ndim, const int64_t *shape);

/* ---- reading results ---------------------------------------------------------------------- */
const vf_tensor *vf_value(const vf_tape *t, vf_var v);   /* NULL for VF_NOVAR */
const vf_real *vf_grad(const vf_tape *t, vf_var v);      /* after vf_backward; NULL if none */
const vf_real *vf_tangent(const vf_tape *t, vf_var v);   /* after vf_jvp; NULL means zero */

/* ---- reverse and forward mode ------------------------------------------------------------- */
/* d y / d (every leaf that wants a gradient), y a single element. Parameter gradients are added
 * to their buffers; input gradients are overwritten. */
vf_status vf_backward(vf_tape *t, vf_var y);
/* Same with a cotangent `seed` of y's shape (vector-Jacobian product seed^T J). */
vf_status vf_backward_seed(vf_tape *t, vf_var y, const vf_real *seed);
/* Tangent of a leaf for forward mode (copied; NULL clears it). */
vf_status vf_set_tangent(vf_tape *t, vf_var leaf, const vf_real *tangent);
/* Propagate tangents through the whole tape: vf_tangent(t, y) = J_y v. */
vf_status vf_jvp(vf_tape *t);
/* Stop gradients and tangents: a node with y's value that is a constant. */
vf_var vf_detach(vf_tape *t, vf_var y);

/* ---- ops (shapes in brackets; "bc" = NumPy broadcasting) ---------------------------------- */
/* matmul: a [m, k] (or [k, m] if trans_a) times b [k, n] (or [n, k] if trans_b) -> [m, n] */
vf_var vf_matmul(vf_tape *t, vf_var a, vf_var b, int trans_a, int trans_b);
/* fused linear layer: act(x W^T + b). x [n, in], W [out, in], b [out] or VF_NOVAR -> [n, out] */
vf_var vf_linear(vf_tape *t, vf_var x, vf_var w, vf_var b, vf_activation act);
/* MADE layer: x (W * mask)^T + b. mask [out, in] of 0/1 constant; b may be VF_NOVAR -> [n, out] */
vf_var vf_masked_linear(vf_tape *t, vf_var x, vf_var w, vf_var mask, vf_var b);
/* Rows [row0, row0 + n_rows) of that layer on the first k input columns, without copying weights,
 * with an activation fused: x [n, k] (k <= in), w and mask [out, in], b [out] or VF_NOVAR ->
 * [n, n_rows] = act(x (W * M)[row0 : row0 + n_rows, 0 : k]^T + b[row0 : row0 + n_rows]). */
vf_var vf_masked_linear_rows(vf_tape *t, vf_var x, vf_var w, vf_var mask, vf_var b, int64_t row0, int64_t n_rows,
                             vf_activation act);
/* x [n, d] + b [d] -> [n, d] */
vf_var vf_bias_add(vf_tape *t, vf_var x, vf_var b);

vf_var vf_add(vf_tape *t, vf_var a, vf_var b);      /* bc */
vf_var vf_sub(vf_tape *t, vf_var a, vf_var b);      /* bc */
vf_var vf_mul(vf_tape *t, vf_var a, vf_var b);      /* bc */
vf_var vf_div(vf_tape *t, vf_var a, vf_var b);      /* bc */
vf_var vf_scale(vf_tape *t, vf_var x, double alpha);       /* alpha x */
vf_var vf_add_scalar(vf_tape *t, vf_var x, double c);      /* x + c */
vf_var vf_neg(vf_tape *t, vf_var x);

/* elementwise, same shape out */
vf_var vf_exp(vf_tape *t, vf_var x);
vf_var vf_log(vf_tape *t, vf_var x);
vf_var vf_log1p(vf_tape *t, vf_var x);
vf_var vf_softplus(vf_tape *t, vf_var x);
vf_var vf_sigmoid(vf_tape *t, vf_var x);
vf_var vf_logsigmoid(vf_tape *t, vf_var x);
vf_var vf_tanh(vf_tape *t, vf_var x);
vf_var vf_relu(vf_tape *t, vf_var x);
vf_var vf_leaky_relu(vf_tape *t, vf_var x, double slope);
vf_var vf_elu(vf_tape *t, vf_var x, double alpha);
vf_var vf_selu(vf_tape *t, vf_var x);
vf_var vf_silu(vf_tape *t, vf_var x);
vf_var vf_gelu(vf_tape *t, vf_var x);
vf_var vf_sin(vf_tape *t, vf_var x);
vf_var vf_cos(vf_tape *t, vf_var x);
vf_var vf_sqrt(vf_tape *t, vf_var x);
vf_var vf_square(vf_tape *t, vf_var x);
vf_var vf_abs(vf_tape *t, vf_var x);
vf_var vf_clamp(vf_tape *t, vf_var x, double lo, double hi);   /* gradient 0 outside [lo, hi] */
vf_var vf_activate(vf_tape *t, vf_var x, vf_activation act);   /* any vf_activation */
/* cond ? a : b elementwise; cond's nonzero entries pick a; all three bc to one shape */
vf_var vf_where(vf_tape *t, vf_var cond, vf_var a, vf_var b);

/* reductions over `axis` (negative counts from the end; VF_ALL_AXES for all) */
vf_var vf_sum(vf_tape *t, vf_var x, int axis, int keepdim);
vf_var vf_mean(vf_tape *t, vf_var x, int axis, int keepdim);
vf_var vf_max(vf_tape *t, vf_var x, int axis, int keepdim);        /* gradient to the first max */
vf_var vf_logsumexp(vf_tape *t, vf_var x, int axis, int keepdim);
vf_var vf_softmax(vf_tape *t, vf_var x, int axis);                  /* same shape */
vf_var vf_log_softmax(vf_tape *t, vf_var x, int axis);              /* same shape */
vf_var vf_cumsum(vf_tape *t, vf_var x, int axis);                   /* same shape */

/* structure */
vf_var vf_concat(vf_tape *t, int n, const vf_var *xs, int axis);
vf_var vf_slice(vf_tape *t, vf_var x, int axis, int64_t start, int64_t stop);   /* [start, stop) */
/* out = x taken at `index[0..count-1]` along axis (indices copied; out of range is an error) */
vf_var vf_gather(vf_tape *t, vf_var x, int axis, const int64_t *index, int64_t count);
vf_var vf_reshape(vf_tape *t, vf_var x, int ndim, const int64_t *shape);

#ifdef __cplusplus
}
#endif
#endif
