/* ad_internal.h — the tape's node structure and the op definition every op file fills in.
 *
 * Writing an op (see ops_unary.c for many examples):
 *   1. a forward kernel  `static vf_status foo_fwd(vf_tape *t, vf_node *n)`  writing n->value
 *      from the inputs' values (it may allocate n->aux with vf__tape_alloc for the backward pass);
 *   2. a VJP kernel      `static void foo_vjp(vf_tape *t, vf_node *n)`  that ADDS (+=) n->grad's
 *      contribution into the grad of every input whose grad is non-NULL (the tape zeroes those first;
 *      an op whose definition sets `writes_first` gets them unzeroed instead, and asks
 *      vf__grad_overwrite before each write whether to write or add: the hot products do, which
 *      saves a zeroing pass over most adjoints);
 *   3. a JVP kernel      `static void foo_jvp(vf_tape *t, vf_node *n)`  that WRITES n->tangent from
 *      the inputs' tangents, where a NULL input tangent means zero;
 *   4. `static const vf_op_def foo_op = {"foo", foo_fwd, foo_vjp, foo_jvp, 0};`
 *   5. the public builder: check arguments (vf__fail on error), vf__push the node with its output
 *      shape, store op arguments in iarg/farg, then `return vf__run(t, v);`.
 * All values, grads and tangents are contiguous and have the node's shape.
 */
#ifndef VF_AD_INTERNAL_H
#define VF_AD_INTERNAL_H

#include <string.h>
#include "internal.h"

typedef struct vf_node vf_node;

typedef struct vf_op_def {
    const char *name;
    vf_status (*fwd)(vf_tape *t, vf_node *n);
    void (*vjp)(vf_tape *t, vf_node *n);
    void (*jvp)(vf_tape *t, vf_node *n);
    int writes_first;         /* the VJP handles unzeroed input adjoints (vf__grad_overwrite / _ready) */
} vf_op_def;

enum vf_node_kind { VF_NODE_OP = 0, VF_NODE_CONST, VF_NODE_INPUT_GRAD, VF_NODE_PARAM };

#define VF_NODE_SMALL_INPUTS 4

struct vf_node {
    const vf_op_def *op;      /* NULL for leaves */
    int kind;                 /* enum vf_node_kind */
    int needs_grad;           /* some input (transitively) is a param or an input_grad leaf */
    int n_in;
    vf_var *in;               /* n_in handles: in_small or tape memory */
    vf_var in_small[VF_NODE_SMALL_INPUTS];
    int64_t iarg[4];          /* op's integer arguments (axis, flags, ...) */
    double farg[4];           /* op's real arguments (alpha, bounds, ...) */
    vf_tensor value;          /* contiguous */
    vf_real *grad;            /* adjoint, numel(value) entries; NULL when not needed */
    int grad_fresh;           /* during a backward pass: grad is allocated but unwritten (not zeroed) */
    vf_real *tangent;         /* forward-mode tangent; NULL means zero */
    void *aux;                /* op's saved data for backward (tape memory) */
};

/* What a layer derives from its weights, kept across resets while the tape's weights are frozen: a
 * masked layer's W * M, packed, and its forward plan; a dense layer's W packed (mask, wm and fwd_hi NULL). */
typedef struct vf__frozen_weight {
    const vf_real *w, *mask;     /* the key: the weight and mask data (NULL: dense), the block, the leading dimension */
    int64_t row0, out, in, ld;
    vf_real *wm;                 /* [out, in] */
    vf_real *packed;             /* (W * M)^T or W^T packed whole for the ranged product (vf__gemm_pack_b_whole) */
    int64_t *fwd_hi;             /* [out strips] */
} vf__frozen_weight;

struct vf_tape {
    vf_node *nodes;
    int32_t n_nodes, cap_nodes;
    vf_arena *arena;
    void *scratch;            /* the built-in GEMM's packing space, kept across resets */
    size_t scratch_bytes;
    vf_status status;
    char error[256];
    int no_grad;              /* inference mode (vf_tape_set_grad_enabled): ops may skip derivative state */
    int inference_ops;        /* an op was recorded in inference mode since the last reset */
    uint64_t backward_pass;   /* counts backward passes: lets an op's VJPs pass data within one pass only */
    int weights_frozen;       /* vf__tape_freeze_weights: parameters constant across resets */
    vf__frozen_weight *frozen; /* [n_frozen] (capacity cap_frozen): kept while frozen, freed on thaw */
    int32_t n_frozen, cap_frozen;
    struct vf_tape **helpers; /* [n_helpers]: the tapes of this tape's parallel evaluations' other
                               * threads (vf__tape_pool), kept with their memory for the next one */
    int n_helpers;
};

/* Declares the weights constant until called again with 0: an evaluation of many row blocks on one
 * parameter set (vf_flow_log_prob_rows and friends) resets the tape per block, and in inference mode
 * the masked layer then reuses W * M, packed, and its plan from the first block instead of rebuilding
 * them, and the dense layer of the built-in kernel its packed W^T (vf_cfm_transport's field evaluations too).
 * Thawing (0) frees what was kept. The caller must not change the parameters while frozen. Returns the
 * previous state, for the caller to restore:
 *   int was = vf__tape_freeze_weights(t, 1);  ... evaluations ...  vf__tape_freeze_weights(t, was); */
int vf__tape_freeze_weights(vf_tape *t, int frozen);

/* Tapes for evaluating independent blocks of rows (VF_EVAL_BLOCK_ROWS each) on several threads
 * (src/ad/tape_pool.c, whose head has the usage): one per worker, the caller's (or an own one) first,
 * all in inference mode with frozen weights while open (VF__POOL_INFERENCE), or all recording
 * (VF__POOL_RECORDING: for forward-mode derivatives within a block). */
enum { VF__POOL_INFERENCE = 0, VF__POOL_RECORDING = 1 };
typedef struct vf__tape_pool {
    int n;              /* workers: min(vf__threads(), blocks of the rows), 1 without OpenMP */
    vf_tape **tapes;    /* [n]; tapes[0] is the caller's tape, or `own` */
    vf_tape *own;       /* made by open when the caller passed no tape */
    int borrowed;       /* tapes[1..n) are the caller's helpers (kept by close), else made by open */
    int grad_was, frozen_was, opened; /* the caller's tape's modes, restored by close */
    int blas_threads_was; /* OpenBLAS's thread count, held at 1 while several workers are open */
} vf__tape_pool;
/* Evaluates rows [start, start + rows) (one block) on tape t (reset it first) as worker `worker`
 * (0..n-1: an index for the worker's own scratch); returns VF_OK or a status with its message. */
typedef vf_status (*vf__block_fn)(void *ctx, vf_tape *t, int worker, int64_t start, int64_t rows);
vf_status vf__tape_pool_open(vf__tape_pool *pool, vf_tape *caller /* or NULL */, int64_t rows, int mode);
/* fn for each block of rows [0, rows), in parallel; the first failing block's status (and message),
 * else VF_OK. */
vf_status vf__tape_pool_run(vf__tape_pool *pool, int64_t rows, vf__block_fn fn, void *ctx);
/* Restores the caller's tape (reset, its grad mode and frozen state) and OpenBLAS's thread count,
 * thaws and resets the helpers, frees the tapes it made. */
void vf__tape_pool_close(vf__tape_pool *pool);

/* Node of handle v (no checks). Pointers are invalidated by vf__push: re-fetch after it, and never
 * store a pointer into the node array (the tape re-aims each node's `in` when the array grows). */
static inline vf_node *vf__node(vf_tape *t, vf_var v) { return &t->nodes[v]; }
/* Input i of node n. */
static inline vf_node *vf__in(vf_tape *t, const vf_node *n, int i) { return &t->nodes[n->in[i]]; }
static inline int64_t vf__numel(const vf_node *n) { return vf_tensor_numel(&n->value); }

/* Record the tape's first error (also in vf_last_error) and return VF_NOVAR. */
vf_var vf__fail(vf_tape *t, vf_status s, const char *fmt, ...) VF_PRINTF(3, 4);
/* 1 if the tape is healthy and every handle is valid; else records an error (if none yet). */
int vf__ok(vf_tape *t, const char *op, int n, const vf_var *vars);
/* Tape memory, 64-byte aligned; NULL after recording VF_ERR_NOMEM on the tape. */
void *vf__tape_alloc(vf_tape *t, size_t bytes);
/* Packing space for a matrix product of m x n x k (NULL, with no error, when the GEMM needs none);
 * grown as needed and reused by every product on the tape. Sets *ok = 0 after recording VF_ERR_NOMEM. */
void *vf__tape_gemm_work(vf_tape *t, int64_t m, int64_t n, int64_t k, int *ok);
/* The same space by size: at least `bytes` (NULL with no error for 0); *ok = 0 after VF_ERR_NOMEM. */
void *vf__tape_scratch(vf_tape *t, size_t bytes, int *ok);
/* New op node with inputs and output shape; value allocated, not computed. VF_NOVAR on failure. */
vf_var vf__push(vf_tape *t, const vf_op_def *op, int n_in, const vf_var *in, int ndim,
                const int64_t *shape);
/* Run the forward kernel of node v; returns v, or VF_NOVAR after recording its error. */
vf_var vf__run(vf_tape *t, vf_var v);
/* Normalise axis (negative from the end) for a ndim-d value; -1 after recording an error. */
int vf__axis(vf_tape *t, const char *op, int axis, int ndim);
/* Broadcast shape of a and b (NumPy rules) into out; 0 on success, else records VF_ERR_SHAPE. */
int vf__broadcast_shape(vf_tape *t, const char *op, const vf_tensor *a, const vf_tensor *b,
                        int *ndim, int64_t *shape);

/* For a VJP of a `writes_first` op about to put its contribution into x's adjoint: 1 when that
 * adjoint holds nothing yet, so the caller must WRITE its contribution (not add it); it then counts
 * as written. 0: the caller adds, as every VJP does. */
static inline int vf__grad_overwrite(vf_node *x)
{
    int fresh = x->grad_fresh;
    x->grad_fresh = 0;
    return fresh;
}
/* Zeroes x's adjoint if it holds nothing yet (for a `writes_first` VJP that can only add to it). */
static inline void vf__grad_ready(vf_node *x)
{
    if (x->grad && x->grad_fresh) memset(x->grad, 0, (size_t)vf__numel(x) * sizeof(vf_real));
    x->grad_fresh = 0;
}

/* 1 when act's derivative is a function of its output alone (ReLU's is 1 exactly where the output is
 * positive), so a fused layer keeps no pre-activation for the derivatives: they read the output. */
static inline int vf__act_derivative_from_output(vf_activation act) { return act == VF_ACT_RELU; }

/* Activation functions shared by vf_activate and the fused linear layer (ops_unary.c).
 * y[i] = act(x[i]); the derivative kernel computes dx[i] (+)= dy[i] * act'(x[i]) given x and y. */
void vf__act_forward(vf_activation act, int64_t n, const vf_real *x, vf_real *y);
void vf__act_backward(vf_activation act, int64_t n, const vf_real *x, const vf_real *y,
                      const vf_real *dy, vf_real *dx, int accumulate);
/* y[i] = act(z[i]) and z[i] = act'(z[i]) in one pass (y and z distinct): a fused layer keeps the
 * derivative instead of the pre-activation, so its VJP and JVP multiply by it (vf__mul_derivative)
 * rather than evaluate act' again. */
void vf__act_forward_keep_derivative(vf_activation act, int64_t n, vf_real *z, vf_real *y);
/* out[i] = d[i] * g[i] (out == g allowed) */
void vf__mul_derivative(int64_t n, const vf_real *d, const vf_real *g, vf_real *out);
/* dy[i] = act'(x[i]) * dx[i] (the JVP of an activation). */
void vf__act_jvp(vf_activation act, int64_t n, const vf_real *x, const vf_real *y,
                 const vf_real *dx, vf_real *dy);

#endif
