/* ops_linalg.c — matrix products: matmul, the fused linear layer, the MADE masked layer, bias add.
 *
 * Every product goes through gemm() below: OpenBLAS, or the built-in kernel with the tape's packing
 * space (allocated once, so a training step allocates nothing for its products). Weights are [out, in] as in
 * PyTorch, so a linear layer is y = act(x W^T + b) and one GEMM with B transposed.
 * Backward of a linear layer, with z = x W^T + b the pre-activation and dz = dy * act'(z):
 *   dW += dz^T x,   db += sum over rows of dz,   dx += dz W.
 * Forward mode: dz = dx W^T + x dW^T + db, dy = act'(z) dz.
 */
#include <string.h>
#include "ad/ad_internal.h"

/* C = alpha op(A) op(B) + beta C with the tape's workspace; 0 on success, -1 after a tape error. */
static int gemm(vf_tape *t, int ta, int tb, int64_t m, int64_t n, int64_t k, vf_real alpha, const vf_real *a,
                int64_t lda, const vf_real *b, int64_t ldb, vf_real beta, vf_real *c, int64_t ldc)
{
    int ok;
    void *work = vf__tape_gemm_work(t, m, n, k, &ok);
    if (!ok) return -1;
    vf__gemm_ws(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, work);
    return 0;
}

/* The ranged product through the tape's packing space; 0, or -1 after a tape error. */
static int gemm_ranged(vf_tape *t, int ta, int tb, int64_t m, int64_t n, int64_t k, const vf_real *a, int64_t lda,
                       const vf_real *b, int64_t ldb, vf_real *c, int64_t ldc, const int64_t *lo, const int64_t *hi,
                       const int64_t *row_lo, const vf_real *bias, int flags, const vf_gemm_epilogue *epilogue)
{
    int ok;
    void *work = vf__tape_scratch(t, vf__gemm_ranged_workspace_bytes(m, n, k), &ok);
    if (!ok) return -1;
    vf__gemm_ranged(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, lo, hi, row_lo, bias, flags, epilogue, work);
    return 0;
}

/* The same with op(B) packed whole beforehand (vf__gemm_pack_b_whole). */
static int gemm_ranged_packed(vf_tape *t, int64_t m, int64_t n, int64_t k, const vf_real *a, int64_t lda,
                              const vf_real *packed, vf_real *c, int64_t ldc, const int64_t *lo, const int64_t *hi,
                              const vf_real *bias, int flags, const vf_gemm_epilogue *epilogue)
{
    int ok;
    void *work = vf__tape_scratch(t, vf__gemm_ranged_workspace_bytes(m, n, k), &ok);
    if (!ok) return -1;
    vf__gemm_ranged_packed(m, n, k, a, lda, packed, c, ldc, lo, hi, NULL, bias, flags, epilogue, work);
    return 0;
}

/* The ranged product's column strips over `cols` columns (each with its own depth range). */
static int64_t strips_of(int64_t cols) { return (cols + vf__gemm_strip_width() - 1) / vf__gemm_strip_width(); }

/* ---- weights kept while frozen (vf__tape_freeze_weights) ----------------------------------- */

/* Whether layers keep what they derive from their weights: frozen weights, in inference mode. */
static int keeps_weights(const vf_tape *t) { return t->no_grad && t->weights_frozen; }

/* What is kept for this block of W and M (mask NULL: a dense layer's W) while the weights are frozen, or NULL. */
static const vf__frozen_weight *frozen_find(const vf_tape *t, const vf_real *w, const vf_real *mask, int64_t row0,
                                            int64_t out, int64_t in, int64_t ld)
{
    for (int32_t i = 0; i < t->n_frozen; i++) {
        const vf__frozen_weight *e = &t->frozen[i];
        if (e->w == w && e->mask == mask && e->row0 == row0 && e->out == out && e->in == in && e->ld == ld) return e;
    }
    return NULL;
}

/* Appends e to the kept entries; returns it, or NULL (e's buffers freed, the error cleared) when any of
 * them, or the list, could not be allocated: nothing is kept, and later blocks derive them again. */
static const vf__frozen_weight *frozen_append(vf_tape *t, vf__frozen_weight e, int complete)
{
    if (complete && t->n_frozen == t->cap_frozen) {
        int32_t cap = t->cap_frozen ? 2 * t->cap_frozen : 16;
        vf__frozen_weight *grown = vf_realloc(t->frozen, (size_t)cap * sizeof *grown);
        if (grown) {
            t->frozen = grown;
            t->cap_frozen = cap;
        }
        complete = grown != NULL;
    }
    if (!complete) {
        vf_free(e.wm);
        vf_free(e.packed);
        vf_free(e.fwd_hi);
        vf_clear_error();
        return NULL;
    }
    t->frozen[t->n_frozen] = e;
    return &t->frozen[t->n_frozen++];
}

/* Keeps W^T [in, out] of a dense layer's weight w [out, in], packed for the forward product (weights
 * frozen); returns the entry, or NULL when out of memory. */
static const vf__frozen_weight *frozen_dense_keep(vf_tape *t, const vf_real *w, int64_t out, int64_t in)
{
    vf__frozen_weight e = {w, NULL, 0, out, in, in, NULL,
                           vf_malloc(VF_MAX(vf__gemm_packed_b_elems(out, in), 1) * sizeof(vf_real)), NULL};
    if (e.packed) vf__gemm_pack_b_whole(1, out, in, w, in, e.packed);
    return frozen_append(t, e, e.packed != NULL);
}

/* ---- matmul ------------------------------------------------------------------------------- */
/* iarg: 0 trans_a, 1 trans_b, 2 m, 3 k; n is the output's second extent. */

static vf_status matmul_fwd(vf_tape *t, vf_node *n)
{
    vf_node *a = vf__in(t, n, 0), *b = vf__in(t, n, 1);
    int64_t m = n->value.shape[0], nn = n->value.shape[1], k = n->iarg[3];
    if (gemm(t, (int)n->iarg[0], (int)n->iarg[1], m, nn, k, 1, a->value.data, a->value.shape[1], b->value.data,
             b->value.shape[1], 0, n->value.data, nn))
        return VF_ERR_NOMEM;
    return VF_OK;
}

static void matmul_vjp(vf_tape *t, vf_node *n)
{
    vf_node *a = vf__in(t, n, 0), *b = vf__in(t, n, 1);
    int ta = (int)n->iarg[0], tb = (int)n->iarg[1];
    int64_t m = n->value.shape[0], nn = n->value.shape[1], k = n->iarg[3];
    int64_t lda = a->value.shape[1], ldb = b->value.shape[1];
    const vf_real *g = n->grad, *av = a->value.data, *bv = b->value.data;
    if (a->grad) {
        if (!ta) /* dA [m,k] += dC op(B)^T */
            gemm(t, 0, !tb, m, k, nn, 1, g, nn, bv, ldb, 1, a->grad, lda);
        else     /* dA [k,m] += op(B) dC^T */
            gemm(t, tb, 1, k, m, nn, 1, bv, ldb, g, nn, 1, a->grad, lda);
    }
    if (b->grad) {
        if (!tb) /* dB [k,n] += op(A)^T dC */
            gemm(t, !ta, 0, k, nn, m, 1, av, lda, g, nn, 1, b->grad, ldb);
        else     /* dB [n,k] += dC^T op(A) */
            gemm(t, 1, ta, nn, k, m, 1, g, nn, av, lda, 1, b->grad, ldb);
    }
}

static void matmul_jvp(vf_tape *t, vf_node *n)
{
    vf_node *a = vf__in(t, n, 0), *b = vf__in(t, n, 1);
    int ta = (int)n->iarg[0], tb = (int)n->iarg[1];
    int64_t m = n->value.shape[0], nn = n->value.shape[1], k = n->iarg[3];
    int64_t lda = a->value.shape[1], ldb = b->value.shape[1];
    vf_real beta = 0;
    if (a->tangent) {
        gemm(t, ta, tb, m, nn, k, 1, a->tangent, lda, b->value.data, ldb, 0, n->tangent, nn);
        beta = 1;
    }
    if (b->tangent)
        gemm(t, ta, tb, m, nn, k, 1, a->value.data, lda, b->tangent, ldb, beta, n->tangent, nn);
}

static const vf_op_def matmul_op = {"matmul", matmul_fwd, matmul_vjp, matmul_jvp, 0};

vf_var vf_matmul(vf_tape *t, vf_var a, vf_var b, int trans_a, int trans_b)
{
    vf_var in[2] = {a, b};
    if (!vf__ok(t, "matmul", 2, in)) return VF_NOVAR;
    const vf_tensor *av = &vf__node(t, a)->value, *bv = &vf__node(t, b)->value;
    if (av->ndim != 2 || bv->ndim != 2)
        return vf__fail(t, VF_ERR_SHAPE, "matmul: operands must be 2-d (got %d-d and %d-d)", av->ndim, bv->ndim);
    int64_t m = trans_a ? av->shape[1] : av->shape[0], k = trans_a ? av->shape[0] : av->shape[1];
    int64_t kb = trans_b ? bv->shape[1] : bv->shape[0], nn = trans_b ? bv->shape[0] : bv->shape[1];
    if (k != kb) {
        char sa[64], sb[64];
        vf_tensor_shape_str(av, sa, sizeof sa);
        vf_tensor_shape_str(bv, sb, sizeof sb);
        return vf__fail(t, VF_ERR_SHAPE, "matmul: inner extents differ: %s%s times %s%s", sa, trans_a ? "^T" : "",
                        sb, trans_b ? "^T" : "");
    }
    int64_t shape[2] = {m, nn};
    vf_var v = vf__push(t, &matmul_op, 2, in, 2, shape);
    if (v == VF_NOVAR) return v;
    vf_node *n = vf__node(t, v);
    n->iarg[0] = trans_a != 0;
    n->iarg[1] = trans_b != 0;
    n->iarg[2] = m;
    n->iarg[3] = k;
    return vf__run(t, v);
}

/* ---- shared helpers for the linear layers -------------------------------------------------- */

/* y[i, :] = b for every row i. y [rows, cols], b [cols] */
VF_HOT static void fill_row_bias(int64_t rows, int64_t cols, const vf_real *restrict b, vf_real *restrict y)
{
    for (int64_t i = 0; i < rows; i++) memcpy(y + i * cols, b, (size_t)cols * sizeof *y);
}

/* y[i, :] += b for every row i. y [rows, cols], b [cols] */
VF_HOT static void add_row_bias(int64_t rows, int64_t cols, const vf_real *restrict b, vf_real *restrict y)
{
    for (int64_t i = 0; i < rows; i++) {
        vf_real *yi = y + i * cols;
        for (int64_t j = 0; j < cols; j++) yi[j] += b[j];
    }
}

/* db[j] += sum_i dz[i, j]. dz [rows, cols], db [cols]; accumulated in double per column block. */
VF_HOT static void add_column_sums(int64_t rows, int64_t cols, const vf_real *restrict dz, vf_real *restrict db)
{
    enum { BLOCK = 256 };
    double acc[BLOCK];
    for (int64_t j0 = 0; j0 < cols; j0 += BLOCK) {
        int64_t w = VF_MIN((int64_t)BLOCK, cols - j0);
        for (int64_t j = 0; j < w; j++) acc[j] = 0;
        for (int64_t i = 0; i < rows; i++) {
            const vf_real *row = dz + i * cols + j0;
            for (int64_t j = 0; j < w; j++) acc[j] += (double)row[j];
        }
        for (int64_t j = 0; j < w; j++) db[j0 + j] += (vf_real)acc[j];
    }
}

/* Checks x [n, in], w [out, in], optional b [out]; fills n/in/out. 0 on success. */
static int check_linear(vf_tape *t, const char *op, vf_var x, vf_var w, vf_var b, int64_t *rows, int64_t *in,
                        int64_t *out)
{
    const vf_tensor *xv = &vf__node(t, x)->value, *wv = &vf__node(t, w)->value;
    char sx[64], sw[64];
    vf_tensor_shape_str(xv, sx, sizeof sx);
    vf_tensor_shape_str(wv, sw, sizeof sw);
    if (xv->ndim != 2 || wv->ndim != 2 || xv->shape[1] != wv->shape[1]) {
        vf__fail(t, VF_ERR_SHAPE, "%s: input %s does not fit weight %s (need [n, in] and [out, in])", op, sx, sw);
        return -1;
    }
    if (b != VF_NOVAR) {
        const vf_tensor *bv = &vf__node(t, b)->value;
        if (bv->ndim != 1 || bv->shape[0] != wv->shape[0]) {
            char sb[64];
            vf_tensor_shape_str(bv, sb, sizeof sb);
            vf__fail(t, VF_ERR_SHAPE, "%s: bias %s does not fit weight %s (need [out])", op, sb, sw);
            return -1;
        }
    }
    *rows = xv->shape[0];
    *in = xv->shape[1];
    *out = wv->shape[0];
    return 0;
}

/* A fused layer's activation, y = act(z) over z [rows, ld]: in place when y == z (nothing kept for
 * the derivatives), else with z replaced by act'(z), which the layer keeps for its VJP and JVP. */
static void activate_run(vf_activation act, int64_t n, vf_real *z, vf_real *y)
{
    if (z == y)
        vf__act_forward(act, n, z, y);
    else
        vf__act_forward_keep_derivative(act, n, z, y);
}

/* The activation as a product's epilogue: run on each block of z as soon as the product has finished
 * it (in cache), instead of in a pass over all of z after the product. */
typedef struct act_epilogue {
    vf_activation act;
    vf_real *z, *y;
    int64_t ld;
} act_epilogue;

static void apply_act(void *ctx, int64_t row0, int64_t rows, int64_t col0, int64_t cols)
{
    const act_epilogue *e = ctx;
    if (col0 == 0 && cols == e->ld) { /* whole rows: one contiguous run */
        activate_run(e->act, rows * cols, e->z + row0 * e->ld, e->y + row0 * e->ld);
        return;
    }
    for (int64_t i = row0; i < row0 + rows; i++)
        activate_run(e->act, cols, e->z + i * e->ld + col0, e->y + i * e->ld + col0);
}

/* dz = dy act'(z) for a fused layer's VJP or JVP (dz == dy allowed): from the output for ReLU, from the
 * kept derivative `deriv` (non-NULL) for the activations that keep one. */
static void activation_derivative(vf_activation act, int64_t n, const vf_real *deriv, const vf_real *y,
                                  const vf_real *dy, vf_real *dz)
{
    if (deriv)
        vf__mul_derivative(n, deriv, dy, dz);
    else
        vf__act_jvp(act, n, y, y, dy, dz); /* vf__act_derivative_from_output(act) */
}

/* ---- fused linear: y = act(x W^T + b) ------------------------------------------------------
 * inputs: x, W[, b]; iarg[0] = activation; aux = act'(z) (the derivative at the pre-activation z,
 * written over z by the forward pass) when the activation is neither the identity nor ReLU and the tape
 * records derivatives; without aux (inference mode, or ReLU, whose output gives its derivative) the
 * activation runs in place on the product, which saves a second [rows, out] buffer. */

static vf_status linear_fwd(vf_tape *t, vf_node *n)
{
    vf_node *x = vf__in(t, n, 0), *w = vf__in(t, n, 1);
    int64_t rows = n->value.shape[0], out = n->value.shape[1], in = x->value.shape[1];
    vf_activation act = (vf_activation)n->iarg[0];
    vf_real *z = n->aux ? (vf_real *)n->aux : n->value.data;
    const vf_real *bias = n->n_in == 3 ? vf__in(t, n, 2)->value.data : NULL;
    if (vf__gemm_fusing_pays(rows, out, in)) {
        /* the built-in kernel with the bias added in its first store, a ReLU in its last, any other
         * activation on each finished block of z: one product, no pass over z after it */
        int64_t strips = strips_of(out);
        int64_t *lo = vf__tape_alloc(t, (size_t)(2 * strips) * sizeof *lo), *hi = lo + strips;
        if (!lo) return VF_ERR_NOMEM;
        for (int64_t s = 0; s < strips; s++) lo[s] = 0, hi[s] = in;
        int relu = act == VF_ACT_RELU, fused_act = act != VF_ACT_NONE && !relu;
        act_epilogue e = {act, z, n->value.data, out};
        vf_gemm_epilogue ep = {apply_act, &e};
        /* frozen weights in inference mode: W^T packed in the first block and kept for the others */
        const vf__frozen_weight *kept = NULL;
        if (keeps_weights(t) && !(kept = frozen_find(t, w->value.data, NULL, 0, out, in, in)))
            kept = frozen_dense_keep(t, w->value.data, out, in);
        int failed = kept ? gemm_ranged_packed(t, rows, out, in, x->value.data, in, kept->packed, z, out, lo, hi, bias,
                                               relu ? VF_GEMM_RELU : 0, fused_act ? &ep : NULL)
                          : gemm_ranged(t, 0, 1, rows, out, in, x->value.data, in, w->value.data, in, z, out, lo, hi,
                                        NULL, bias, relu ? VF_GEMM_RELU : 0, fused_act ? &ep : NULL);
        return failed ? VF_ERR_NOMEM : VF_OK;
    }
    /* With a bias, z starts as the bias rows and the product accumulates onto it (beta = 1): one pass
     * over z instead of BLAS's zeroing pass (beta = 0) plus a bias pass after it. */
    vf_real beta = 0;
    if (bias) {
        fill_row_bias(rows, out, bias, z);
        beta = 1;
    }
    if (gemm(t, 0, 1, rows, out, in, 1, x->value.data, in, w->value.data, in, beta, z, out)) return VF_ERR_NOMEM;
    if (act != VF_ACT_NONE) activate_run(act, rows * out, z, n->value.data);
    return VF_OK;
}

static void linear_vjp(vf_tape *t, vf_node *n)
{
    vf_node *x = vf__in(t, n, 0), *w = vf__in(t, n, 1), *b = n->n_in == 3 ? vf__in(t, n, 2) : NULL;
    int64_t rows = n->value.shape[0], out = n->value.shape[1], in = x->value.shape[1];
    vf_activation act = (vf_activation)n->iarg[0];
    const vf_real *dz = n->grad;
    if (act != VF_ACT_NONE) {
        vf_real *tmp = vf__tape_alloc(t, (size_t)(rows * out) * sizeof *tmp);
        if (!tmp) return;
        activation_derivative(act, rows * out, n->aux, n->value.data, n->grad, tmp);
        dz = tmp;
    }
    /* writes_first: an input adjoint nothing has written yet is written (beta 0), not added to */
    if (w->grad) gemm(t, 1, 0, out, in, rows, 1, dz, out, x->value.data, in, vf__grad_overwrite(w) ? 0 : 1, w->grad, in);
    if (b && b->grad) {
        vf__grad_ready(b);
        add_column_sums(rows, out, dz, b->grad);
    }
    if (x->grad) gemm(t, 0, 0, rows, in, out, 1, dz, out, w->value.data, in, vf__grad_overwrite(x) ? 0 : 1, x->grad, in);
}

static void linear_jvp(vf_tape *t, vf_node *n)
{
    vf_node *x = vf__in(t, n, 0), *w = vf__in(t, n, 1), *b = n->n_in == 3 ? vf__in(t, n, 2) : NULL;
    int64_t rows = n->value.shape[0], out = n->value.shape[1], in = x->value.shape[1];
    vf_activation act = (vf_activation)n->iarg[0];
    vf_real *dz = n->tangent;
    if (act != VF_ACT_NONE) {
        dz = vf__tape_alloc(t, (size_t)(rows * out) * sizeof *dz);
        if (!dz) return;
    }
    vf_real beta = 0;
    if (x->tangent) {
        gemm(t, 0, 1, rows, out, in, 1, x->tangent, in, w->value.data, in, 0, dz, out);
        beta = 1;
    }
    if (w->tangent) {
        gemm(t, 0, 1, rows, out, in, 1, x->value.data, in, w->tangent, in, beta, dz, out);
        beta = 1;
    }
    if (beta == 0) memset(dz, 0, (size_t)(rows * out) * sizeof *dz);
    if (b && b->tangent) add_row_bias(rows, out, b->tangent, dz);
    if (act != VF_ACT_NONE) activation_derivative(act, rows * out, n->aux, n->value.data, dz, n->tangent);
}

static const vf_op_def linear_op = {"linear", linear_fwd, linear_vjp, linear_jvp, 1};

vf_var vf_linear(vf_tape *t, vf_var x, vf_var w, vf_var b, vf_activation act)
{
    vf_var in[3] = {x, w, b};
    int n_in = b == VF_NOVAR ? 2 : 3;
    int64_t rows, nin, out;
    if (!vf__ok(t, "linear", n_in, in)) return VF_NOVAR;
    if ((int)act < 0 || act >= VF_ACT_COUNT) return vf__fail(t, VF_ERR_ARG, "linear: unknown activation %d", (int)act);
    if (check_linear(t, "linear", x, w, b, &rows, &nin, &out)) return VF_NOVAR;
    int64_t shape[2] = {rows, out};
    vf_var v = vf__push(t, &linear_op, n_in, in, 2, shape);
    if (v == VF_NOVAR) return v;
    /* room for z, then act'(z), for the derivatives (unless the output serves) */
    if (act != VF_ACT_NONE && !vf__act_derivative_from_output(act) && !t->no_grad) {
        void *z = vf__tape_alloc(t, (size_t)(rows * out) * sizeof(vf_real));
        if (!z) {
            t->n_nodes--; /* no half-made node stays on the tape */
            return VF_NOVAR;
        }
        vf__node(t, v)->aux = z;
    }
    vf__node(t, v)->iarg[0] = act;
    return vf__run(t, v);
}

/* ---- MADE masked linear: y = x (W * M)^T + b ----------------------------------------------
 * inputs: x, W, M[, b]; iarg[0] = row0: the node uses rows [row0, row0 + out) of W, M and b and their
 * first `in` columns (in = x's width <= W's width; the whole matrices for vf_masked_linear);
 * iarg[1] = an activation applied to the result (fused: y = act(z), act'(z) kept for the derivatives;
 * ReLU runs in the product's store and keeps nothing, its output giving its derivative). aux: a
 * masked_aux (that block of W * M, contiguous, its block plan, act'(z)). The mask is a constant: it
 * never receives a gradient.
 *
 * Block plan. MADE masks with hidden units sorted by degree are block triangular: the inputs that
 * output o sees form a prefix [0, prefix(o)), and the outputs that see input i a suffix [first(i),
 * out). The plan groups outputs in runs of MASK_BLOCK (merging neighbours with the same prefix)
 * and multiplies each run only by its prefix of inputs; the input gradient likewise takes, per run
 * of inputs, only the outputs that see them. Everything outside those blocks is zero in W * M, so
 * the products are exact for any mask; a dense mask (or an interleaved layout) gives one block and
 * the plain product. */

enum { MASK_BLOCK = 16 };

typedef struct masked_aux {
    vf_real *wm;                 /* [out, in] = the used block of W * M */
    vf_real *deriv;              /* [rows, out] act'(z) at the pre-activation z, with an activation
                                  * that keeps one and a recording tape (else NULL) */
    /* per strip of vf__gemm_strip_width() columns: the depth ranges of the forward product (strips of
     * outputs: inputs [0, fwd_hi)) and of the input gradient (strips of inputs: outputs [dx_lo, out)) */
    int64_t *fwd_lo, *fwd_hi;    /* [out strips] */
    int64_t *dx_lo, *dx_hi;      /* [in strips] */
    int64_t *dw_lo, *dw_hi;      /* [in strips]: depth (batch rows) ranges of the weight gradient */
    int64_t n_out_blocks;        /* output runs: rows [out_start[b], out_start[b+1]) see inputs [0, prefix[b]) */
    int64_t *out_start, *prefix; /* [n_out_blocks + 1], [n_out_blocks] */
    int64_t n_in_blocks;         /* input runs: cols [in_start[j], in_start[j+1]) are seen by rows [first[j], out) */
    int64_t *in_start, *first;   /* [n_in_blocks + 1], [n_in_blocks] */
} masked_aux;

/* Groups indices 0..n-1 in runs of MASK_BLOCK with key max (take_max) or min of each member's key;
 * merges neighbouring runs with equal keys. start [n / MASK_BLOCK + 2], key [n / MASK_BLOCK + 1]. */
static int64_t group_runs(int64_t n, const int64_t *member_key, int take_max, int64_t *start, int64_t *key)
{
    int64_t runs = 0;
    for (int64_t a = 0; a < n; a += MASK_BLOCK) {
        int64_t b = VF_MIN(n, a + MASK_BLOCK), k = member_key[a];
        for (int64_t i = a + 1; i < b; i++) k = take_max ? VF_MAX(k, member_key[i]) : VF_MIN(k, member_key[i]);
        if (runs > 0 && key[runs - 1] == k) continue; /* extends the previous run */
        start[runs] = a;
        key[runs++] = k;
    }
    start[runs] = n;
    return runs;
}

/* dst [in] = wrow * mrow; returns one past the last index where mrow is nonzero (0 if none). One pass
 * that vectorizes: the last index is a running maximum of 32-bit offsets (the width of a float lane)
 * within chunks of up to 2^30 entries. */
VF_HOT static int64_t mask_row(int64_t in, const vf_real *restrict wrow, const vf_real *restrict mrow,
                               vf_real *restrict dst)
{
    int64_t last = 0;
    for (int64_t i0 = 0; i0 < in; i0 += (int64_t)1 << 30) {
        int32_t n = (int32_t)VF_MIN(in - i0, (int64_t)1 << 30), seen_max = 0;
        for (int32_t i = 0; i < n; i++) {
            dst[i0 + i] = wrow[i0 + i] * mrow[i0 + i];
            int32_t seen = mrow[i0 + i] != 0 ? i + 1 : 0;
            seen_max = seen > seen_max ? seen : seen_max;
        }
        if (seen_max > 0) last = i0 + seen_max;
    }
    return last;
}

/* wm [out, in] = W * M on rows [row0, row0 + out), columns [0, in) (leading dimension ld), and the
 * block plan of that part of the mask: the forward product's always, the input and weight gradients'
 * only when `backward` (a tape in inference mode never runs them); scratch [out + in]. */
static void mask_block_and_plan(const vf_real *w, const vf_real *mask, int64_t ld, int64_t row0, int64_t out,
                                int64_t in, int backward, int64_t *scratch, masked_aux *a)
{
    int64_t *pre = scratch, *first = scratch + out;
    for (int64_t o = 0; o < out; o++) /* pre[o]: one past the last input output o sees */
        pre[o] = mask_row(in, w + (row0 + o) * ld, mask + (row0 + o) * ld, a->wm + o * in);
    a->n_out_blocks = group_runs(out, pre, 1, a->out_start, a->prefix);
    int64_t sw = vf__gemm_strip_width();
    for (int64_t s = 0; s * sw < out; s++) {
        int64_t hi = 0;
        for (int64_t o = s * sw; o < VF_MIN(out, (s + 1) * sw); o++) hi = VF_MAX(hi, pre[o]);
        a->fwd_lo[s] = 0;
        a->fwd_hi[s] = hi;
    }
    if (!backward) {
        a->n_in_blocks = 0;
        return;
    }
    /* first[i]: the first output that sees input i (out if none); outputs come in increasing order */
    for (int64_t i = 0; i < in; i++) first[i] = out;
    for (int64_t o = 0; o < out; o++) {
        const vf_real *mrow = mask + (row0 + o) * ld;
        for (int64_t i = 0; i < pre[o]; i++) first[i] = mrow[i] != 0 && first[i] == out ? o : first[i];
    }
    a->n_in_blocks = group_runs(in, first, 0, a->in_start, a->first);
    for (int64_t s = 0; s * sw < in; s++) {
        int64_t lo = out;
        for (int64_t i = s * sw; i < VF_MIN(in, (s + 1) * sw); i++) lo = VF_MIN(lo, first[i]);
        a->dx_lo[s] = lo;
        a->dx_hi[s] = out;
        a->dw_lo[s] = 0;
    }
}


/* Keeps a copy of a's W * M, packed for the forward product, and its plan for later blocks (weights
 * frozen); returns the entry, or NULL when out of memory. */
static const vf__frozen_weight *frozen_mask_keep(vf_tape *t, const vf_real *w, const vf_real *mask, int64_t row0,
                                                 int64_t out, int64_t in, int64_t ld, const masked_aux *a)
{
    int64_t strips = strips_of(out);
    vf__frozen_weight e = {w, mask, row0, out, in, ld, vf_malloc((size_t)VF_MAX(out * in, 1) * sizeof(vf_real)),
                           vf_malloc(VF_MAX(vf__gemm_packed_b_elems(out, in), 1) * sizeof(vf_real)),
                           vf_malloc((size_t)VF_MAX(strips, 1) * sizeof(int64_t))};
    int complete = e.wm && e.packed && e.fwd_hi;
    if (complete) {
        memcpy(e.wm, a->wm, (size_t)(out * in) * sizeof(vf_real));
        vf__gemm_pack_b_whole(1, out, in, a->wm, in, e.packed);
        memcpy(e.fwd_hi, a->fwd_hi, (size_t)strips * sizeof(int64_t));
    }
    return frozen_append(t, e, complete);
}

static vf_status masked_fwd(vf_tape *t, vf_node *n)
{
    vf_node *x = vf__in(t, n, 0), *w = vf__in(t, n, 1), *m = vf__in(t, n, 2);
    int64_t rows = n->value.shape[0], out = n->value.shape[1], in = x->value.shape[1];
    int64_t ld = w->value.shape[1], row0 = n->iarg[0];
    vf_activation act = (vf_activation)n->iarg[1];
    masked_aux *a = n->aux;
    /* z is written where act'(z) is kept, else into the output (no activation, ReLU, or inference: in place) */
    vf_real *z = a->deriv ? a->deriv : n->value.data;
    /* frozen weights in inference mode: W * M (also packed for the product) and its plan are built in the
     * first block and kept */
    int frozen = keeps_weights(t);
    const vf__frozen_weight *kept = frozen ? frozen_find(t, w->value.data, m->value.data, row0, out, in, ld) : NULL;
    if (kept) {
        a->wm = kept->wm;
        int64_t strips = strips_of(out);
        for (int64_t s = 0; s < strips; s++) a->fwd_lo[s] = 0, a->fwd_hi[s] = kept->fwd_hi[s];
    } else {
        int64_t *scratch = vf__tape_alloc(t, (size_t)(out + in) * sizeof *scratch);
        if (!scratch) return VF_ERR_NOMEM;
        mask_block_and_plan(w->value.data, m->value.data, ld, row0, out, in, !t->no_grad, scratch, a);
        if (frozen) kept = frozen_mask_keep(t, w->value.data, m->value.data, row0, out, in, ld, a);
    }
    for (int64_t s = 0, strips = strips_of(in); s < strips; s++) a->dw_hi[s] = rows; /* dW sums all rows */
    const vf_real *bias = n->n_in == 4 ? vf__in(t, n, 3)->value.data + row0 : NULL; /* fused into the product */
    /* ReLU fused into the product's store, any other activation run on each finished block of z */
    int relu = act == VF_ACT_RELU, fused_act = act != VF_ACT_NONE && !relu;
    act_epilogue e = {act, z, n->value.data, out};
    vf_gemm_epilogue ep = {apply_act, &e};
    int flags = relu ? VF_GEMM_RELU : 0, failed;
    if (kept) /* W * M packed once for all the blocks */
        failed = gemm_ranged_packed(t, rows, out, in, x->value.data, in, kept->packed, z, out, a->fwd_lo, a->fwd_hi,
                                    bias, flags, fused_act ? &ep : NULL);
    else
        failed = gemm_ranged(t, 0, 1, rows, out, in, x->value.data, in, a->wm, in, z, out, a->fwd_lo, a->fwd_hi, NULL,
                             bias, flags, fused_act ? &ep : NULL);
    if (failed) return VF_ERR_NOMEM;
    return VF_OK;
}

static void masked_vjp(vf_tape *t, vf_node *n)
{
    vf_node *x = vf__in(t, n, 0), *w = vf__in(t, n, 1), *m = vf__in(t, n, 2);
    vf_node *b = n->n_in == 4 ? vf__in(t, n, 3) : NULL;
    int64_t rows = n->value.shape[0], out = n->value.shape[1], in = x->value.shape[1];
    int64_t ld = w->value.shape[1], row0 = n->iarg[0];
    const masked_aux *a = n->aux;
    vf_activation act = (vf_activation)n->iarg[1];
    const vf_real *g = n->grad; /* d loss / d z, z the pre-activation */
    if (act != VF_ACT_NONE) {
        vf_real *dz = vf__tape_alloc(t, (size_t)(rows * out) * sizeof *dz);
        if (!dz) return;
        activation_derivative(act, rows * out, a->deriv, n->value.data, n->grad, dz);
        g = dz;
    }
    if (w->grad) {
        /* gw = G^T x [out, in], computed only where a strip of inputs is seen (rows >= dx_lo); the
         * masked accumulation reads only entries under a nonzero mask, all of which were computed */
        vf_real *gw = vf__tape_alloc(t, (size_t)(out * in) * sizeof *gw);
        if (!gw) return;
        vf__grad_ready(w); /* added to entry by entry below */
        if (gemm_ranged(t, 1, 0, out, in, rows, g, out, x->value.data, in, gw, in, a->dw_lo, a->dw_hi, a->dx_lo, NULL,
                        0, NULL))
            return;
        for (int64_t k = 0; k < a->n_out_blocks; k++) {
            int64_t o0 = a->out_start[k], nb = a->out_start[k + 1] - o0, pre = a->prefix[k];
            for (int64_t o = o0; o < o0 + nb; o++) {
                vf_real *dst = w->grad + (row0 + o) * ld;
                const vf_real *mrow = m->value.data + (row0 + o) * ld, *src = gw + o * in;
                for (int64_t i = 0; i < pre; i++) dst[i] += mrow[i] != 0 ? src[i] * mrow[i] : 0;
            }
        }
    }
    if (b && b->grad) {
        vf__grad_ready(b);
        add_column_sums(rows, out, g, b->grad + row0);
    }
    if (x->grad) /* writes_first: an unwritten adjoint is written whole (strips with no range get 0) */
        gemm_ranged(t, 0, 0, rows, in, out, g, out, a->wm, in, x->grad, in, a->dx_lo, a->dx_hi, NULL, NULL,
                    vf__grad_overwrite(x) ? 0 : VF_GEMM_ACCUMULATE, NULL);
}

static void masked_jvp(vf_tape *t, vf_node *n)
{
    vf_node *x = vf__in(t, n, 0), *w = vf__in(t, n, 1), *m = vf__in(t, n, 2);
    vf_node *b = n->n_in == 4 ? vf__in(t, n, 3) : NULL;
    int64_t rows = n->value.shape[0], out = n->value.shape[1], in = x->value.shape[1];
    int64_t ld = w->value.shape[1], row0 = n->iarg[0];
    vf_activation act = (vf_activation)n->iarg[1];
    const masked_aux *a = n->aux;
    vf_real *dz = n->tangent, beta = 0;
    if (act != VF_ACT_NONE) {
        dz = vf__tape_alloc(t, (size_t)(rows * out) * sizeof *dz);
        if (!dz) return;
    }
    if (x->tangent) {
        gemm(t, 0, 1, rows, out, in, 1, x->tangent, in, a->wm, in, 0, dz, out);
        beta = 1;
    }
    if (w->tangent) {
        vf_real *dwm = vf__tape_alloc(t, (size_t)(out * in) * sizeof *dwm);
        if (!dwm) return;
        for (int64_t o = 0; o < out; o++)
            for (int64_t i = 0; i < in; i++)
                dwm[o * in + i] = w->tangent[(row0 + o) * ld + i] * m->value.data[(row0 + o) * ld + i];
        gemm(t, 0, 1, rows, out, in, 1, x->value.data, in, dwm, in, beta, dz, out);
        beta = 1;
    }
    if (beta == 0) memset(dz, 0, (size_t)(rows * out) * sizeof(vf_real));
    if (b && b->tangent) add_row_bias(rows, out, b->tangent + row0, dz);
    if (act != VF_ACT_NONE) activation_derivative(act, rows * out, a->deriv, n->value.data, dz, n->tangent);
}

static const vf_op_def masked_op = {"masked_linear", masked_fwd, masked_vjp, masked_jvp, 1};

vf_var vf_masked_linear_rows(vf_tape *t, vf_var x, vf_var w, vf_var mask, vf_var b, int64_t row0, int64_t n_rows,
                             vf_activation act)
{
    vf_var in[4] = {x, w, mask, b};
    int n_in = b == VF_NOVAR ? 3 : 4;
    if (!vf__ok(t, "masked_linear", n_in, in)) return VF_NOVAR;
    const vf_tensor *xv = &vf__node(t, x)->value, *wv = &vf__node(t, w)->value;
    if (xv->ndim != 2 || wv->ndim != 2 || xv->shape[1] > wv->shape[1]) {
        char sx[64], sw[64];
        vf_tensor_shape_str(xv, sx, sizeof sx);
        vf_tensor_shape_str(wv, sw, sizeof sw);
        return vf__fail(t, VF_ERR_SHAPE, "masked_linear: input %s does not fit weight %s (need [n, k] and [out, in] "
                        "with k <= in)", sx, sw);
    }
    int64_t rows = xv->shape[0], nin = xv->shape[1], out_all = wv->shape[0];
    if (!vf_tensor_same_shape(&vf__node(t, mask)->value, wv))
        return vf__fail(t, VF_ERR_SHAPE, "masked_linear: mask and weight shapes differ");
    if (b != VF_NOVAR) {
        const vf_tensor *bv = &vf__node(t, b)->value;
        if (bv->ndim != 1 || bv->shape[0] != out_all)
            return vf__fail(t, VF_ERR_SHAPE, "masked_linear: the bias must be [%lld]", (long long)out_all);
    }
    if ((int)act < 0 || act >= VF_ACT_COUNT) return vf__fail(t, VF_ERR_ARG, "masked_linear: unknown activation %d", (int)act);
    if (row0 < 0 || n_rows < 1 || row0 > out_all - n_rows)
        return vf__fail(t, VF_ERR_ARG, "masked_linear: rows [%lld, %lld) outside the weight's %lld rows", (long long)row0,
                        (long long)(row0 + n_rows), (long long)out_all);
    int64_t shape[2] = {rows, n_rows}, out = n_rows;
    vf_var v = vf__push(t, &masked_op, n_in, in, 2, shape);
    if (v == VF_NOVAR) return v;
    int64_t max_out_runs = out / MASK_BLOCK + 1, max_in_runs = nin / MASK_BLOCK + 1;
    masked_aux *a = vf__tape_alloc(t, sizeof *a);
    vf_real *wm = a ? vf__tape_alloc(t, (size_t)(out * (nin ? nin : 1)) * sizeof *wm) : NULL;
    /* act'(z) is kept for the derivatives (unless the output serves); in inference mode the activation
     * runs in place */
    int keep_deriv = act != VF_ACT_NONE && !vf__act_derivative_from_output(act) && !t->no_grad;
    vf_real *deriv = wm && keep_deriv ? vf__tape_alloc(t, (size_t)(rows * out) * sizeof *deriv) : NULL;
    if (keep_deriv && !deriv) wm = NULL;
    int64_t out_strips = strips_of(out), in_strips = strips_of(nin);
    int64_t n_plan = 2 * (max_out_runs + max_in_runs) + 2 + 2 * out_strips + 4 * in_strips;
    int64_t *plan = wm ? vf__tape_alloc(t, (size_t)n_plan * sizeof *plan) : NULL;
    if (!plan) {
        t->n_nodes--; /* no half-made node stays on the tape */
        return VF_NOVAR;
    }
    a->wm = wm;
    a->deriv = deriv;
    a->out_start = plan;
    a->prefix = plan + max_out_runs + 1;
    a->in_start = a->prefix + max_out_runs;
    a->first = a->in_start + max_in_runs + 1;
    a->fwd_lo = a->first + max_in_runs;
    a->fwd_hi = a->fwd_lo + out_strips;
    a->dx_lo = a->fwd_hi + out_strips;
    a->dx_hi = a->dx_lo + in_strips;
    a->dw_lo = a->dx_hi + in_strips;
    a->dw_hi = a->dw_lo + in_strips;
    a->n_out_blocks = a->n_in_blocks = 0;
    vf__node(t, v)->aux = a;
    vf__node(t, v)->iarg[0] = row0;
    vf__node(t, v)->iarg[1] = act;
    return vf__run(t, v);
}

vf_var vf_masked_linear(vf_tape *t, vf_var x, vf_var w, vf_var mask, vf_var b)
{
    vf_var in[4] = {x, w, mask, b};
    int n_in = b == VF_NOVAR ? 3 : 4;
    int64_t rows, nin, out;
    if (!vf__ok(t, "masked_linear", n_in, in)) return VF_NOVAR;
    if (check_linear(t, "masked_linear", x, w, b, &rows, &nin, &out)) return VF_NOVAR;
    return vf_masked_linear_rows(t, x, w, mask, b, 0, out, VF_ACT_NONE);
}

/* ---- bias add: y [n, d] = x [n, d] + b [d] ------------------------------------------------- */

static vf_status bias_fwd(vf_tape *t, vf_node *n)
{
    int64_t rows = n->value.shape[0], cols = n->value.shape[1];
    memcpy(n->value.data, vf__in(t, n, 0)->value.data, (size_t)(rows * cols) * sizeof(vf_real));
    add_row_bias(rows, cols, vf__in(t, n, 1)->value.data, n->value.data);
    return VF_OK;
}

static void bias_vjp(vf_tape *t, vf_node *n)
{
    vf_node *x = vf__in(t, n, 0), *b = vf__in(t, n, 1);
    int64_t rows = n->value.shape[0], cols = n->value.shape[1];
    if (x->grad)
        for (int64_t i = 0; i < rows * cols; i++) x->grad[i] += n->grad[i];
    if (b->grad) add_column_sums(rows, cols, n->grad, b->grad);
}

static void bias_jvp(vf_tape *t, vf_node *n)
{
    vf_node *x = vf__in(t, n, 0), *b = vf__in(t, n, 1);
    int64_t rows = n->value.shape[0], cols = n->value.shape[1];
    if (x->tangent) memcpy(n->tangent, x->tangent, (size_t)(rows * cols) * sizeof(vf_real));
    else memset(n->tangent, 0, (size_t)(rows * cols) * sizeof(vf_real));
    if (b->tangent) add_row_bias(rows, cols, b->tangent, n->tangent);
}

static const vf_op_def bias_op = {"bias_add", bias_fwd, bias_vjp, bias_jvp, 0};

vf_var vf_bias_add(vf_tape *t, vf_var x, vf_var b)
{
    vf_var in[2] = {x, b};
    if (!vf__ok(t, "bias_add", 2, in)) return VF_NOVAR;
    const vf_tensor *xv = &vf__node(t, x)->value, *bv = &vf__node(t, b)->value;
    if (xv->ndim != 2 || bv->ndim != 1 || bv->shape[0] != xv->shape[1]) {
        char sx[64], sb[64];
        vf_tensor_shape_str(xv, sx, sizeof sx);
        vf_tensor_shape_str(bv, sb, sizeof sb);
        return vf__fail(t, VF_ERR_SHAPE, "bias_add: input %s and bias %s (need [n, d] and [d])", sx, sb);
    }
    vf_var v = vf__push(t, &bias_op, 2, in, 2, xv->shape);
    return vf__run(t, v);
}
