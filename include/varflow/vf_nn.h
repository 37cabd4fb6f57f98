/* vf_nn.h — neural-network layers over one flat parameter buffer: linear, masked linear (MADE),
 * MLP, residual MLP and the MADE network.
 *
 * Usage
 *   vf_params *p = vf_params_new();
 *   vf_mlp_params mp = vf_mlp_default_params(2, 4);          // in 2 -> out 4
 *   mp.n_hidden = 2; mp.hidden[0] = mp.hidden[1] = 64;        // 2 -> 64 -> 64 -> 4
 *   mp.act = VF_ACT_SILU;
 *   vf_mlp *net = NULL;
 *   vf_mlp_new(p, "net", &mp, &net);                          // registers net.layers.0.weight, ...
 *   vf_params_finalize(p, 42);                                // allocate + initialize (seeded)
 *
 *   for (each step) {                                         // one training step
 *       vf_params_zero_grad(p);
 *       vf_var x = vf_input(t, xb, 2, (int64_t[]){n, 2});
 *       vf_var y = vf_mlp_forward(net, p, t, x, VF_NOVAR);   // [n, 4]
 *       vf_var loss = ...;
 *       vf_backward(t, loss);                                 // gradients land in vf_params_grads(p)
 *       vf_adam_step(opt, vf_params_values(p), vf_params_grads(p));
 *       vf_tape_reset(t);
 *   }
 *   vf_mlp_free(net); vf_params_free(p);
 *
 * The parameter store has two phases. While building, modules register named tensors
 * (vf_params_add: name, shape, initializer) and keep the returned ids. vf_params_finalize then
 * allocates ONE buffer of values and ONE of gradients, every tensor a contiguous slice of them at
 * a fixed offset, and runs each tensor's initializer from a seeded generator. An optimizer step,
 * a checkpoint or an allreduce is then one call over vf_params_values()/vf_params_grads(), and a
 * model file is written from the registry (names follow PyTorch: a Linear's "weight" is
 * [out, in], its "bias" [out]). At each step a module's forward puts vf_param leaves on the tape
 * that point into the flat buffers, so vf_backward adds gradients there directly.
 *
 * Forward functions never fail loudly: on bad shapes they record the tape's error and return
 * VF_NOVAR (check vf_tape_status once). Modules are read-only after construction, so one module
 * may run on several tapes at once (each with its own gradient buffer only if the caller
 * arranges it; the store has one).
 */
#ifndef VF_NN_H
#define VF_NN_H

#include "vf_ad.h"
#include "vf_rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- initializers ------------------------------------------------------------------------- */
typedef enum vf_init_kind {
    VF_INIT_TORCH = 0,        /* PyTorch's Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    VF_INIT_XAVIER_UNIFORM,   /* U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)) */
    VF_INIT_NORMAL,           /* N(mean, std^2) */
    VF_INIT_UNIFORM,          /* U(lo, hi) */
    VF_INIT_CONSTANT,         /* every element = value */
    VF_INIT_ZEROS             /* every element = 0 */
} vf_init_kind;

/* How one tensor is initialized. Fill it with the constructors below. */
typedef struct vf_init {
    vf_init_kind kind;
    double a, b;              /* TORCH: -, -; XAVIER: gain, -; NORMAL: mean, std; UNIFORM: lo, hi;
                               * CONSTANT: value, - */
    int64_t fan_in, fan_out;  /* TORCH and XAVIER */
} vf_init;

vf_init vf_init_torch(int64_t fan_in);
vf_init vf_init_xavier_uniform(int64_t fan_in, int64_t fan_out, double gain);
vf_init vf_init_normal(double mean, double std);
vf_init vf_init_uniform(double lo, double hi);
vf_init vf_init_constant(double value);
vf_init vf_init_zeros(void);
/* Fill x[0..n-1] from init with generator r. VF_ERR_ARG for an invalid spec (fan_in < 1, std < 0,
 * lo > hi, non-finite numbers). */
vf_status vf_init_fill(const vf_init *init, vf_rng *r, vf_real *x, int64_t n);

/* ---- the parameter store ------------------------------------------------------------------ */
typedef struct vf_params vf_params;

#define VF_PARAM_NAME_MAX 128     /* longest name, including the terminating NUL */

/* One registered tensor, as a model file or a checkpoint sees it. */
typedef struct vf_param_info {
    const char *name;             /* "layers.0.weight"; owned by the store */
    int64_t offset;               /* first element in the flat buffers */
    int64_t numel;
    int ndim;
    int64_t shape[VF_MAX_DIMS];
} vf_param_info;

vf_params *vf_params_new(void);                   /* NULL on allocation failure */
void vf_params_free(vf_params *p);
/* Registers tensor `name` of `shape` [ndim] (1 <= ndim <= VF_MAX_DIMS, extents >= 1); *id is its
 * handle. VF_ERR_ARG for a duplicate, empty or too long name, VF_ERR_STATE after finalize. */
vf_status vf_params_add(vf_params *p, const char *name, int ndim, const int64_t *shape,
                        vf_init init, int32_t *id);
/* Allocates the flat value and gradient buffers (gradients zeroed) and initializes tensor i from
 * vf_rng stream i of `seed`. On failure nothing is allocated and the store may be finalized again. */
vf_status vf_params_finalize(vf_params *p, uint64_t seed);
/* Runs every initializer again with a new seed (after finalize). */
vf_status vf_params_reinit(vf_params *p, uint64_t seed);
int vf_params_is_finalized(const vf_params *p);

int32_t vf_params_count(const vf_params *p);      /* number of tensors */
int64_t vf_params_size(const vf_params *p);       /* number of scalars: length of the flat buffers */
vf_status vf_params_info(const vf_params *p, int32_t id, vf_param_info *info);
int32_t vf_params_find(const vf_params *p, const char *name);   /* id, or -1 */

vf_real *vf_params_values(vf_params *p);          /* [size]; NULL before finalize */
vf_real *vf_params_grads(vf_params *p);           /* [size]; NULL before finalize */
vf_real *vf_params_data(vf_params *p, int32_t id);   /* tensor id's values; NULL if invalid */
vf_real *vf_params_grad(vf_params *p, int32_t id);   /* tensor id's gradient; NULL if invalid */
void vf_params_zero_grad(vf_params *p);
/* Leaf for tensor id on tape t, reading its value and adding to its gradient (VF_NOVAR and a
 * tape error for an invalid id or a store that is not finalized). */
vf_var vf_params_var(vf_params *p, vf_tape *t, int32_t id);

/* Non-trainable buffers (BatchNorm's running statistics): registered like parameters, in the same
 * name space, but kept in a separate flat array that the functions above never see: no gradient, not
 * in vf_params_size / vf_params_values (so an optimizer never touches them), not counted by
 * vf_params_count. Model files save and load them under their names as any tensor. Buffer ids are
 * their own (0 .. vf_params_buffer_count - 1). A module registers at least one parameter before its
 * buffers (the rollback after a failed constructor relies on it). */
vf_status vf_params_add_buffer(vf_params *p, const char *name, int ndim, const int64_t *shape,
                               vf_init init, int32_t *id);
int32_t vf_params_buffer_count(const vf_params *p);
int64_t vf_params_buffer_size(const vf_params *p);    /* scalars in all buffers */
vf_status vf_params_buffer_info(const vf_params *p, int32_t id, vf_param_info *info);
int32_t vf_params_find_buffer(const vf_params *p, const char *name);   /* id, or -1 */
vf_real *vf_params_buffers(vf_params *p);             /* [buffer size]; NULL before finalize */
vf_real *vf_params_buffer_data(vf_params *p, int32_t id);   /* NULL if invalid or not finalized */

/* Training mode (default 0, evaluation): read by modules whose forward differs between the two
 * (batch_norm: batch statistics and running-statistic updates in training, running statistics in
 * evaluation). Set it around training steps and clear it to evaluate or save. */
void vf_params_set_training(vf_params *p, int training);
int vf_params_training(const vf_params *p);

/* ---- linear layer ------------------------------------------------------------------------- */
typedef struct vf_linear_params {
    int64_t in_features, out_features;
    int bias;                     /* 1: y = act(x W^T + b); 0: no bias (default 1) */
    vf_activation act;            /* default VF_ACT_NONE */
    vf_init_kind init;            /* weight initializer (default VF_INIT_TORCH). The bias gets the
                                   * TORCH bound with TORCH, zeros otherwise. VF_INIT_ZEROS zeroes both */
    double init_scale;            /* std for VF_INIT_NORMAL, gain for VF_INIT_XAVIER_UNIFORM, bound b
                                   * of U(-b, b) for VF_INIT_UNIFORM, the value for VF_INIT_CONSTANT
                                   * (default 1) */
} vf_linear_params;

typedef struct vf_linear_layer {
    int64_t in_features, out_features;
    int32_t weight;               /* id of "<name>.weight" [out, in] */
    int32_t bias;                 /* id of "<name>.bias" [out], or -1 */
    vf_activation act;
} vf_linear_layer;

vf_linear_params vf_linear_default_params(int64_t in_features, int64_t out_features);
/* Registers "<name>.weight" and "<name>.bias" (just "weight", "bias" when name is "" or NULL). */
vf_status vf_linear_layer_init(vf_linear_layer *l, vf_params *p, const char *name,
                               const vf_linear_params *lp);
/* act(x W^T + b): x [n, in] -> [n, out] */
vf_var vf_linear_layer_forward(const vf_linear_layer *l, vf_params *p, vf_tape *t, vf_var x);

/* ---- MADE degrees and masks (Germain et al. 2015) ----------------------------------------- */
typedef enum vf_made_order {
    VF_ORDER_SEQUENTIAL = 0,      /* input i has degree i + 1 */
    VF_ORDER_REVERSED,            /* input i has degree d - i */
    VF_ORDER_RANDOM               /* a seeded random permutation of 1..d */
} vf_made_order;

/* "sequential", "reversed" or "random" (the names model files record). */
const char *vf_made_order_name(vf_made_order order);
/* Degrees of the d inputs: deg [d], a permutation of 1..d. */
vf_status vf_made_input_degrees(int64_t d, vf_made_order order, uint64_t seed, int32_t *deg);
/* Degrees of h hidden units for d inputs, in [lo, d-1] with lo = max(0, min(prev_min, d-1)):
 * cycling (random = 0): unit k gets lo + k mod (d - lo); random: uniform in [lo, d-1].
 * prev_min is the smallest degree of the layer below (1 for the inputs: Germain et al.'s choice;
 * 0 lets degree-0 units carry a context to every output). deg [h]. */
vf_status vf_made_hidden_degrees(int64_t d, int64_t h, int random, int32_t prev_min, vf_rng *r,
                                 int32_t *deg);
/* mask[o, i] = deg_out[o] >= deg_in[i] (strict = 0, hidden layers) or deg_out[o] > deg_in[i]
 * (strict = 1, output layer). deg_in [in], deg_out [out], mask [out, in] of 0/1. */
void vf_made_mask(const int32_t *deg_in, int64_t in, const int32_t *deg_out, int64_t out,
                  int strict, vf_real *mask);

/* ---- masked linear layer ------------------------------------------------------------------ */
typedef struct vf_masked_linear_layer {
    int64_t in_features, out_features;
    int32_t weight;               /* id of "<name>.weight" [out, in] */
    int32_t bias;                 /* id of "<name>.bias" [out] */
    const vf_real *mask;          /* [out, in] of 0/1; borrowed: must outlive the layer */
} vf_masked_linear_layer;

/* Registers "<name>.weight" (initializer `init`, fan_in = in) and "<name>.bias" (as for a linear
 * layer). `mask` [out, in] is borrowed. */
vf_status vf_masked_linear_layer_init(vf_masked_linear_layer *l, vf_params *p, const char *name,
                                      int64_t in_features, int64_t out_features,
                                      const vf_real *mask, vf_init_kind init);
/* x (W * mask)^T + b: x [n, in] -> [n, out] */
vf_var vf_masked_linear_layer_forward(const vf_masked_linear_layer *l, vf_params *p, vf_tape *t,
                                      vf_var x);
/* act(x (W * mask)^T + b), the activation fused into the product: x [n, in] -> [n, out] */
vf_var vf_masked_linear_layer_forward_act(const vf_masked_linear_layer *l, vf_params *p, vf_tape *t,
                                          vf_var x, vf_activation act);

/* ---- MLP ---------------------------------------------------------------------------------- */
#define VF_NN_MAX_HIDDEN 16
/* The widest hidden layer a spec may ask for (`hidden=WIDTHxLAYERS`, docs/cli.md): past it a typo
 * such as hidden=1000000000 would only fill memory before failing. */
#define VF_NN_MAX_WIDTH (1 << 20)

typedef struct vf_mlp_params {
    int64_t in_features, out_features;
    int64_t context_features;     /* > 0: a context [n, c] is concatenated to the input (default 0) */
    int n_hidden;                 /* number of hidden layers, 0..VF_NN_MAX_HIDDEN (default 2) */
    int64_t hidden[VF_NN_MAX_HIDDEN];   /* their widths (default 64) */
    vf_activation act;            /* after every hidden layer (default VF_ACT_RELU) */
    vf_init_kind init;            /* weights (default VF_INIT_TORCH) */
    int zero_init_output;         /* 1: the last layer starts at zero, so the output is 0 (default 0) */
} vf_mlp_params;

typedef struct vf_mlp vf_mlp;

vf_mlp_params vf_mlp_default_params(int64_t in_features, int64_t out_features);
/* Registers "<name>.layers.<i>.weight" / ".bias" for i = 0..n_hidden. */
vf_status vf_mlp_new(vf_params *p, const char *name, const vf_mlp_params *mp, vf_mlp **out);
void vf_mlp_free(vf_mlp *m);
/* x [n, in], context [n, c] (VF_NOVAR when c = 0) -> [n, out] */
vf_var vf_mlp_forward(const vf_mlp *m, vf_params *p, vf_tape *t, vf_var x, vf_var context);
const vf_mlp_params *vf_mlp_get_params(const vf_mlp *m);

/* ---- residual MLP ------------------------------------------------------------------------- */
/* h = W_in [x, c] + b_in; per block: u = W1 act(h) + b1 (+ W_c c + b_c with a context);
 * h = h + W2 act(u) + b2, W2 and b2 initialized to zero so every block starts as the identity;
 * y = W_out h + b_out. */
typedef struct vf_resmlp_params {
    int64_t in_features, out_features;
    int64_t context_features;     /* default 0 */
    int64_t hidden;               /* width of the residual stream (default 64) */
    int n_blocks;                 /* default 2 */
    vf_activation act;            /* default VF_ACT_RELU */
    vf_init_kind init;            /* default VF_INIT_TORCH */
    int zero_init_output;         /* default 0 */
} vf_resmlp_params;

typedef struct vf_resmlp vf_resmlp;

vf_resmlp_params vf_resmlp_default_params(int64_t in_features, int64_t out_features);
/* Registers "<name>.input", "<name>.blocks.<b>.linear1", ".linear2", ".context" and
 * "<name>.output" (each with .weight and .bias). */
vf_status vf_resmlp_new(vf_params *p, const char *name, const vf_resmlp_params *rp, vf_resmlp **out);
void vf_resmlp_free(vf_resmlp *m);
/* x [n, in], context [n, c] or VF_NOVAR -> [n, out] */
vf_var vf_resmlp_forward(const vf_resmlp *m, vf_params *p, vf_tape *t, vf_var x, vf_var context);
const vf_resmlp_params *vf_resmlp_get_params(const vf_resmlp *m);

/* ---- MADE --------------------------------------------------------------------------------- */
/* An autoregressive network: output block i depends only on the inputs j whose degree is below
 * input i's degree, and on the context, which reaches every hidden unit. With a context the hidden
 * degrees run over 0..d-1 (degree-0 units see only the context), so every output block, the
 * first in the order included, depends on the context; without one they run over 1..d-1.
 * Plain:    h = act(M_0 x + C c); h = act(M_l h) for l = 1..depth-1; y = M_out h.
 * Residual: h = M_0 x + C c; depth blocks h = h + M_2 act(M_1 act(h) + C_b c) (M_2 zero-initialized,
 *           hidden degrees shared so the skip keeps the property); y = M_out h.
 * Output layout: y [n, features * k], column i*k + m is value m of input dimension i (so y reshapes
 * to [n, features, k]). */
/* How hidden units are laid out by degree. Sorted (the default): unit degrees ascend through each
 * layer, so the masks are block triangular and the masked products skip the zero blocks. Interleaved:
 * degrees cycle through the layer (unit k gets lo + k mod span), as in models saved before sorted
 * layouts existed. Both give the same set of networks (a permutation of hidden units). */
typedef enum vf_made_hidden_layout {
    VF_HIDDEN_SORTED = 0,
    VF_HIDDEN_INTERLEAVED
} vf_made_hidden_layout;

typedef struct vf_made_params {
    int64_t features;             /* d >= 1 */
    int64_t hidden;               /* width of every hidden layer (default 64) */
    int depth;                    /* plain: hidden layers (>= 1, default 2); residual: blocks (default 2) */
    int residual;                 /* default 0 */
    int64_t context_features;     /* default 0 */
    int64_t output_multiplier;    /* k >= 1 values per input dimension (default 1) */
    vf_made_order order;          /* default VF_ORDER_SEQUENTIAL */
    int random_degrees;           /* hidden degrees drawn at random instead of cycling (default 0) */
    vf_made_hidden_layout hidden_layout; /* default VF_HIDDEN_SORTED */
    uint64_t seed;                /* for VF_ORDER_RANDOM and random_degrees (default 0) */
    vf_activation act;            /* default VF_ACT_RELU */
    vf_init_kind init;            /* default VF_INIT_TORCH */
    int zero_init_output;         /* default 0 */
} vf_made_params;

typedef struct vf_made vf_made;

vf_made_params vf_made_default_params(int64_t features);
/* Registers "<name>.input", "<name>.context", "<name>.hidden.<l>" (plain) or
 * "<name>.blocks.<b>.linear1/.linear2/.context" (residual), and "<name>.output". */
vf_status vf_made_new(vf_params *p, const char *name, const vf_made_params *mp, vf_made **out);
void vf_made_free(vf_made *m);
/* x [n, d], context [n, c] or VF_NOVAR -> [n, d * k] */
vf_var vf_made_forward(const vf_made *m, vf_params *p, vf_tape *t, vf_var x, vf_var context);
/* The outputs of one input dimension only: those of the dimension of degree k (1 <= k <= d), which
 * depend only on the inputs of degree < k, for n >= 1 rows. x_known [n, k-1] holds those inputs in
 * degree order (column j: the input of degree j + 1; VF_NOVAR when k = 1), context as above -> [n, k_out]
 * (k_out = output_multiplier), equal to columns i*k_out .. i*k_out + k_out - 1 of vf_made_forward for
 * the dimension i of degree k. Only the hidden units of degree < k are computed, so the d steps of
 * an autoregressive inversion cost far less than d full passes. */
vf_var vf_made_forward_step(const vf_made *m, vf_params *p, vf_tape *t, int64_t n, vf_var x_known,
                            vf_var context, int64_t k);
/* The input dimension whose degree is k (1 <= k <= d), or -1. */
int64_t vf_made_dim_of_degree(const vf_made *m, int64_t k);
/* Degrees of the inputs [d] (the autoregressive order: dimension i is generated at step deg[i]). */
const int32_t *vf_made_degrees(const vf_made *m);
const vf_made_params *vf_made_get_params(const vf_made *m);
/* Number of masked layers, and the mask [out, in] of layer l (0 = input layer, last = output). */
int vf_made_n_masks(const vf_made *m);
const vf_real *vf_made_mask_of(const vf_made *m, int l, int64_t *out_features, int64_t *in_features);

#ifdef __cplusplus
}
#endif
#endif
