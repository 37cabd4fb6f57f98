/* tape.c — the tape: nodes in creation order, leaves, the sticky error, and the two sweeps.
 *
 * Nodes live in one growing array; their values, grads and tangents in the tape's arena, all of it
 * released by vf_tape_reset. Reverse mode walks the array backwards calling each op's VJP on nodes
 * that lead to a leaf wanting a gradient; forward mode walks it forwards calling JVPs on nodes that
 * have a tangent-carrying input.
 */
#include <stdio.h>
#include <string.h>
#include "ad/ad_internal.h"

vf_tape *vf_tape_new(void)
{
    vf_tape *t = vf_calloc(1, sizeof *t);
    if (!t) return NULL;
    t->arena = vf_arena_new((size_t)1 << 20);
    if (!t->arena) {
        vf_free(t);
        return NULL;
    }
    return t;
}

int vf__tape_freeze_weights(vf_tape *t, int frozen)
{
    if (!t) return 0;
    int was = t->weights_frozen;
    t->weights_frozen = frozen != 0;
    if (frozen) return was;
    for (int32_t i = 0; i < t->n_frozen; i++) {
        vf_free(t->frozen[i].wm);
        vf_free(t->frozen[i].packed);
        vf_free(t->frozen[i].fwd_hi);
    }
    vf_free(t->frozen);
    t->frozen = NULL;
    t->n_frozen = t->cap_frozen = 0;
    return was;
}

void vf_tape_free(vf_tape *t)
{
    if (!t) return;
    for (int i = 0; i < t->n_helpers; i++) vf_tape_free(t->helpers[i]);
    vf_free(t->helpers);
    vf__tape_freeze_weights(t, 0);
    vf_arena_free(t->arena);
    vf_free(t->scratch);
    vf_free(t->nodes);
    vf_free(t);
}

void vf_tape_set_grad_enabled(vf_tape *t, int enabled)
{
    if (t) t->no_grad = !enabled;
}

int vf_tape_grad_enabled(const vf_tape *t) { return t && !t->no_grad; }

void vf_tape_reset(vf_tape *t)
{
    if (!t) return;
    t->n_nodes = 0;
    t->inference_ops = 0;
    t->status = VF_OK;
    t->error[0] = '\0';
    vf_arena_reset(t->arena);
}

vf_status vf_tape_status(const vf_tape *t) { return t ? t->status : VF_ERR_ARG; }
const char *vf_tape_error(const vf_tape *t) { return t ? t->error : "no tape"; }
int32_t vf_tape_size(const vf_tape *t) { return t ? t->n_nodes : 0; }

vf_var vf__fail(vf_tape *t, vf_status s, const char *fmt, ...)
{
    if (t && t->status == VF_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->error, sizeof t->error, fmt, ap);
        va_end(ap);
        t->status = s;
        vf__error(s, "%s", t->error);
    }
    return VF_NOVAR;
}

int vf__ok(vf_tape *t, const char *op, int n, const vf_var *vars)
{
    if (!t) {
        vf__error(VF_ERR_ARG, "%s: no tape", op);
        return 0;
    }
    if (t->status != VF_OK) return 0;
    for (int i = 0; i < n; i++) {
        if (vars[i] < 0 || vars[i] >= t->n_nodes) {
            vf__fail(t, VF_ERR_ARG, "%s: argument %d is not a node of this tape", op, i + 1);
            return 0;
        }
    }
    return 1;
}

void *vf__tape_alloc(vf_tape *t, size_t bytes)
{
    void *p = vf_arena_alloc(t->arena, bytes);
    if (!p) vf__fail(t, VF_ERR_NOMEM, "tape: out of memory (%zu bytes)", bytes);
    return p;
}

/* `shape_in` may point into the node array (a builder passing an input's shape): it is copied before
 * the array can move. */
void *vf__tape_gemm_work(vf_tape *t, int64_t m, int64_t n, int64_t k, int *ok)
{
    return vf__tape_scratch(t, vf__gemm_workspace_bytes(m, n, k), ok);
}

void *vf__tape_scratch(vf_tape *t, size_t bytes, int *ok)
{
    *ok = 1;
    if (bytes == 0) return NULL;
    if (bytes > t->scratch_bytes) {
        void *p = vf_realloc(t->scratch, bytes);
        if (!p) {
            *ok = 0;
            vf__fail(t, VF_ERR_NOMEM, "tape: out of memory for matrix-product workspace (%zu bytes)", bytes);
            return NULL;
        }
        t->scratch = p;
        t->scratch_bytes = bytes;
    }
    return t->scratch;
}

static vf_var new_node(vf_tape *t, int ndim, const int64_t *shape_in, vf_node **out)
{
    if (ndim < 0 || ndim > VF_MAX_DIMS)
        return vf__fail(t, VF_ERR_SHAPE, "tape: %d dimensions (at most %d)", ndim, VF_MAX_DIMS);
    if (ndim > 0 && !shape_in) return vf__fail(t, VF_ERR_ARG, "tape: shape is NULL");
    int64_t shape[VF_MAX_DIMS] = {0};
    for (int i = 0; i < ndim; i++) shape[i] = shape_in[i];
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return vf__fail(t, VF_ERR_SHAPE, "tape: negative extent %lld", (long long)shape[i]);
        if (vf__mul_size(numel, (size_t)shape[i], &numel) || numel > SIZE_MAX / sizeof(vf_real))
            return vf__fail(t, VF_ERR_NOMEM, "tape: tensor size overflows");
    }
    if (t->n_nodes == t->cap_nodes) {
        if (t->cap_nodes > INT32_MAX / 2) return vf__fail(t, VF_ERR_NOMEM, "tape: too many nodes");
        int32_t cap = t->cap_nodes ? t->cap_nodes * 2 : 256;
        size_t bytes;
        if (vf__mul_size((size_t)cap, sizeof(vf_node), &bytes))
            return vf__fail(t, VF_ERR_NOMEM, "tape: too many nodes");
        vf_node *nodes = vf_realloc(t->nodes, bytes);
        if (!nodes) return vf__fail(t, VF_ERR_NOMEM, "tape: out of memory for nodes");
        t->nodes = nodes;
        t->cap_nodes = cap;
        /* A node with few inputs keeps them in its own in_small, and `in` pointed there: re-aim
         * it into the moved array (larger input lists live in tape memory and stay put). */
        for (int32_t i = 0; i < t->n_nodes; i++)
            if (nodes[i].n_in <= VF_NODE_SMALL_INPUTS) nodes[i].in = nodes[i].in_small;
    }
    vf_node *n = &t->nodes[t->n_nodes];
    memset(n, 0, sizeof *n);
    n->value = vf_tensor_wrap(NULL, ndim, shape);
    n->in = n->in_small;
    *out = n;
    return t->n_nodes++;
}

static vf_var leaf(vf_tape *t, int kind, const vf_real *data, vf_real *grad, int ndim, const int64_t *shape,
                   int copy)
{
    vf_node *n = NULL;
    if (!vf__ok(t, "leaf", 0, NULL)) return VF_NOVAR;
    vf_var v = new_node(t, ndim, shape, &n);
    if (v == VF_NOVAR) return v;
    int64_t numel = vf__numel(n);
    if (!data && numel > 0) {
        t->n_nodes--;
        return vf__fail(t, VF_ERR_ARG, "tape: leaf data is NULL");
    }
    n->kind = kind;
    n->needs_grad = kind == VF_NODE_PARAM || kind == VF_NODE_INPUT_GRAD;
    if (copy) {
        vf_real *buf = vf__tape_alloc(t, (size_t)numel * sizeof(vf_real));
        if (!buf) {
            t->n_nodes--; /* no half-made node stays on the tape */
            return VF_NOVAR;
        }
        n = vf__node(t, v);
        if (numel) memcpy(buf, data, (size_t)numel * sizeof(vf_real));
        n->value.data = buf;
    } else {
        n->value.data = (vf_real *)data; /* borrowed; never written through */
    }
    n->grad = kind == VF_NODE_PARAM ? grad : NULL;
    return v;
}

vf_var vf_input(vf_tape *t, const vf_real *data, int ndim, const int64_t *shape)
{
    return leaf(t, VF_NODE_CONST, data, NULL, ndim, shape, 0);
}

vf_var vf_input_grad(vf_tape *t, const vf_real *data, int ndim, const int64_t *shape)
{
    return leaf(t, VF_NODE_INPUT_GRAD, data, NULL, ndim, shape, 0);
}

vf_var vf_param(vf_tape *t, const vf_real *data, vf_real *grad, int ndim, const int64_t *shape)
{
    if (t && t->status == VF_OK && !grad) return vf__fail(t, VF_ERR_ARG, "vf_param: gradient buffer is NULL");
    return leaf(t, VF_NODE_PARAM, data, grad, ndim, shape, 0);
}

vf_var vf_constant(vf_tape *t, const vf_real *data, int ndim, const int64_t *shape)
{
    return leaf(t, VF_NODE_CONST, data, NULL, ndim, shape, 1);
}

vf_var vf_zeros(vf_tape *t, int ndim, const int64_t *shape)
{
    vf_node *n = NULL;
    if (!vf__ok(t, "zeros", 0, NULL)) return VF_NOVAR;
    if (ndim > 0 && !shape) return vf__fail(t, VF_ERR_ARG, "zeros: shape is NULL");
    vf_var v = new_node(t, ndim, shape, &n);
    if (v == VF_NOVAR) return v;
    vf_real *buf = vf_arena_calloc(t->arena, (size_t)vf__numel(n) * sizeof(vf_real));
    if (!buf) {
        t->n_nodes--; /* no half-made node stays on the tape */
        return vf__fail(t, VF_ERR_NOMEM, "zeros: out of memory");
    }
    n = vf__node(t, v);
    n->kind = VF_NODE_CONST;
    n->value.data = buf;
    return v;
}

vf_var vf_scalar(vf_tape *t, double value)
{
    vf_real x = (vf_real)value;
    return leaf(t, VF_NODE_CONST, &x, NULL, 0, NULL, 1);
}

vf_var vf__push(vf_tape *t, const vf_op_def *op, int n_in, const vf_var *in_arg, int ndim, const int64_t *shape)
{
    vf_node *n = NULL;
    if (!vf__ok(t, op->name, n_in, in_arg)) return VF_NOVAR;
    t->inference_ops |= t->no_grad; /* such a node kept no derivative state */
    /* A few inputs may sit in another node's in_small, which moves when the array grows: copy them.
     * More than VF_NODE_SMALL_INPUTS live in tape or caller memory, which stays put. */
    vf_var small[VF_NODE_SMALL_INPUTS];
    const vf_var *in = in_arg;
    if (n_in <= VF_NODE_SMALL_INPUTS) {
        for (int i = 0; i < n_in; i++) small[i] = in_arg[i];
        in = small;
    }
    vf_var v = new_node(t, ndim, shape, &n);
    if (v == VF_NOVAR) return v;
    n->op = op;
    n->kind = VF_NODE_OP;
    n->n_in = n_in;
    if (n_in > VF_NODE_SMALL_INPUTS) {
        vf_var *ins = vf__tape_alloc(t, (size_t)n_in * sizeof *ins);
        if (!ins) {
            t->n_nodes--; /* no half-made node stays on the tape */
            return VF_NOVAR;
        }
        n = vf__node(t, v);
        n->in = ins;
    }
    for (int i = 0; i < n_in; i++) {
        n->in[i] = in[i];
        n->needs_grad |= t->nodes[in[i]].needs_grad;
    }
    int64_t numel = vf__numel(n);
    vf_real *data = vf__tape_alloc(t, (size_t)numel * sizeof(vf_real));
    if (!data) {
        t->n_nodes--;
        return VF_NOVAR;
    }
    vf__node(t, v)->value.data = data;
    return v;
}

vf_var vf__run(vf_tape *t, vf_var v)
{
    if (v == VF_NOVAR || t->status != VF_OK) return VF_NOVAR;
    vf_node *n = vf__node(t, v);
    vf_status s = n->op->fwd(t, n);
    if (s != VF_OK) {
        if (t->status == VF_OK) vf__fail(t, s, "%s: %s", n->op->name, vf_last_error());
        if (v == t->n_nodes - 1) t->n_nodes--; /* no half-made node stays on the tape */
        return VF_NOVAR;
    }
    return v;
}

int vf__axis(vf_tape *t, const char *op, int axis, int ndim)
{
    int a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim) {
        vf__fail(t, VF_ERR_ARG, "%s: axis %d out of range for a %d-d tensor", op, axis, ndim);
        return -1;
    }
    return a;
}

int vf__broadcast_shape(vf_tape *t, const char *op, const vf_tensor *a, const vf_tensor *b, int *ndim,
                        int64_t *shape)
{
    int nd = VF_MAX(a->ndim, b->ndim);
    for (int i = 0; i < nd; i++) {
        int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[64], sb[64];
            vf_tensor_shape_str(a, sa, sizeof sa);
            vf_tensor_shape_str(b, sb, sizeof sb);
            vf__fail(t, VF_ERR_SHAPE, "%s: shapes %s and %s do not broadcast", op, sa, sb);
            return -1;
        }
        shape[i] = da == 1 ? db : da;
    }
    *ndim = nd;
    return 0;
}

vf_var vf_detach(vf_tape *t, vf_var y)
{
    if (!vf__ok(t, "detach", 1, &y)) return VF_NOVAR;
    vf_node *n = vf__node(t, y);
    vf_tensor v = n->value; /* arena memory: stays put when the node array grows */
    return leaf(t, VF_NODE_CONST, v.data, NULL, v.ndim, v.shape, 0);
}

/* ---- reading ------------------------------------------------------------------------------ */
static int valid(const vf_tape *t, vf_var v) { return t && v >= 0 && v < t->n_nodes; }

const vf_tensor *vf_value(const vf_tape *t, vf_var v) { return valid(t, v) ? &t->nodes[v].value : NULL; }
const vf_real *vf_grad(const vf_tape *t, vf_var v) { return valid(t, v) ? t->nodes[v].grad : NULL; }
const vf_real *vf_tangent(const vf_tape *t, vf_var v) { return valid(t, v) ? t->nodes[v].tangent : NULL; }

/* ---- reverse mode ------------------------------------------------------------------------- */
/* Zeroes the adjoints of nodes 0..y that nothing wrote in this pass (they read as 0 by vf_grad). */
static void zero_unwritten(vf_tape *t, vf_var y)
{
    for (vf_var i = 0; i <= y; i++) vf__grad_ready(vf__node(t, i));
}

vf_status vf_backward_seed(vf_tape *t, vf_var y, const vf_real *seed)
{
    if (!vf__ok(t, "backward", 1, &y)) return t ? (t->status ? t->status : VF_ERR_ARG) : VF_ERR_ARG;
    if (!seed) return vf__error(VF_ERR_ARG, "backward: seed is NULL");
    if (t->no_grad || t->inference_ops)
        return vf__error(VF_ERR_STATE, "backward: the tape holds ops recorded in inference mode (gradients disabled)");
    t->backward_pass++;
    /* Fresh adjoints for every non-parameter node between the leaves and y, unzeroed: each is zeroed
     * (or, by a `writes_first` op, written) just before its first use, while it is in cache, and any
     * still unwritten at the end is zeroed then. Parameters' adjoints are the caller's accumulators. */
    for (vf_var i = 0; i <= y; i++) {
        vf_node *n = vf__node(t, i);
        n->grad_fresh = 0;
        if (n->kind == VF_NODE_PARAM) continue;
        n->grad = NULL;
        if (!n->needs_grad) continue;
        size_t bytes = (size_t)vf__numel(n) * sizeof(vf_real);
        vf_real *g = vf_arena_alloc(t->arena, bytes);
        if (!g) {
            zero_unwritten(t, i - 1);
            vf__fail(t, VF_ERR_NOMEM, "backward: out of memory");
            return VF_ERR_NOMEM;
        }
        n = vf__node(t, i);
        n->grad = g;
        n->grad_fresh = 1;
    }
    vf_node *out = vf__node(t, y);
    if (!out->needs_grad) { /* nothing depends on a parameter */
        zero_unwritten(t, y);
        return VF_OK;
    }
    int64_t ny = vf__numel(out);
    if (out->kind == VF_NODE_PARAM) {
        for (int64_t i = 0; i < ny; i++) out->grad[i] += seed[i];
        zero_unwritten(t, y);
        return VF_OK;
    }
    memcpy(out->grad, seed, (size_t)ny * sizeof(vf_real));
    out->grad_fresh = 0;
    for (vf_var i = y; i >= 0; i--) {
        vf_node *n = vf__node(t, i);
        if (!(n->op && n->needs_grad && n->grad)) continue;
        vf__grad_ready(n); /* no consumer wrote it: zero, as its VJP reads it */
        if (!n->op->writes_first)
            for (int k = 0; k < n->n_in; k++) vf__grad_ready(vf__in(t, n, k));
        n->op->vjp(t, n);
    }
    zero_unwritten(t, y); /* adjoints no VJP reached */
    return t->status;
}

vf_status vf_backward(vf_tape *t, vf_var y)
{
    if (!vf__ok(t, "backward", 1, &y)) return t ? (t->status ? t->status : VF_ERR_ARG) : VF_ERR_ARG;
    if (vf__numel(vf__node(t, y)) != 1) {
        char s[64];
        vf_tensor_shape_str(&vf__node(t, y)->value, s, sizeof s);
        vf__fail(t, VF_ERR_SHAPE, "backward: output has shape %s; use vf_backward_seed for non-scalars", s);
        return VF_ERR_SHAPE;
    }
    vf_real one = 1;
    return vf_backward_seed(t, y, &one);
}

/* ---- forward mode ------------------------------------------------------------------------- */
vf_status vf_set_tangent(vf_tape *t, vf_var leaf_var, const vf_real *tangent)
{
    if (!vf__ok(t, "set_tangent", 1, &leaf_var)) return t ? (t->status ? t->status : VF_ERR_ARG) : VF_ERR_ARG;
    vf_node *n = vf__node(t, leaf_var);
    if (n->op) {
        vf__fail(t, VF_ERR_ARG, "set_tangent: node %d is not a leaf", (int)leaf_var);
        return VF_ERR_ARG;
    }
    if (!tangent) {
        n->tangent = NULL;
        return VF_OK;
    }
    size_t bytes = (size_t)vf__numel(n) * sizeof(vf_real);
    vf_real *d = vf__tape_alloc(t, bytes);
    if (!d) return VF_ERR_NOMEM;
    memcpy(d, tangent, bytes);
    vf__node(t, leaf_var)->tangent = d;
    return VF_OK;
}

vf_status vf_jvp(vf_tape *t)
{
    if (!vf__ok(t, "jvp", 0, NULL)) return t ? (t->status ? t->status : VF_ERR_ARG) : VF_ERR_ARG;
    if (t->no_grad || t->inference_ops)
        return vf__error(VF_ERR_STATE, "jvp: the tape holds ops recorded in inference mode (derivatives disabled)");
    for (vf_var i = 0; i < t->n_nodes; i++) {
        vf_node *n = vf__node(t, i);
        if (!n->op) continue;
        n->tangent = NULL;
        int any = 0;
        for (int k = 0; k < n->n_in; k++) any |= vf__in(t, n, k)->tangent != NULL;
        if (!any) continue;
        vf_real *d = vf_arena_alloc(t->arena, (size_t)vf__numel(n) * sizeof(vf_real));
        if (!d) {
            vf__fail(t, VF_ERR_NOMEM, "jvp: out of memory");
            return VF_ERR_NOMEM;
        }
        n = vf__node(t, i);
        n->tangent = d;
        n->op->jvp(t, n);
    }
    return t->status;
}
