/* ops_shape.c — structural ops: concat, slice, gather, reshape. All of them copy.
 *
 * Like the reductions, concat, slice and gather see a tensor as [outer, len, inner] around their
 * axis (outer: product of the extents before it, inner: after it), so moving one index along the
 * axis moves a contiguous block of `inner` elements. Their VJPs add the same blocks back (gather's
 * scatter-add accumulates repeated indices); their JVPs apply the forward copy to the tangents.
 * iarg[0] is the normalised axis; slice keeps its start in iarg[1]; gather keeps its indices in aux.
 */
#include <stdio.h>
#include <string.h>
#include "ad/ad_internal.h"

/* Product of the extents of x before and after axis. */
static void around_axis(const vf_tensor *x, int axis, int64_t *outer, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int k = 0; k < axis; k++) *outer *= x->shape[k];
    for (int k = axis + 1; k < x->ndim; k++) *inner *= x->shape[k];
}

/* ---- concat: inputs of equal shape except along axis, stacked along it in order ------------- */
/* Copies block by block between y [outer, len_y, inner] and input i [outer, len_i, inner] at
 * offset off (along the axis) of y. dir 0: y <- x; 1: gx += gy. */
static void concat_blocks(int64_t outer, int64_t inner, int64_t len_y, int64_t len_i, int64_t off, vf_real *y,
                          vf_real *x, int dir)
{
    const int64_t w = len_i * inner;
    for (int64_t o = 0; o < outer; o++) {
        vf_real *yo = y + (o * len_y + off) * inner, *xo = x + o * w;
        if (dir == 0) {
            if (w == 1) *yo = *xo; /* one column: no copy call per row */
            else if (w) memcpy(yo, xo, (size_t)w * sizeof(vf_real));
        } else {
            for (int64_t j = 0; j < w; j++) xo[j] += yo[j];
        }
    }
}

static vf_status concat_fwd(vf_tape *t, vf_node *n)
{
    const int axis = (int)n->iarg[0];
    int64_t outer, inner, off = 0;
    around_axis(&n->value, axis, &outer, &inner);
    for (int i = 0; i < n->n_in; i++) {
        vf_node *x = vf__in(t, n, i);
        concat_blocks(outer, inner, n->value.shape[axis], x->value.shape[axis], off, n->value.data, x->value.data, 0);
        off += x->value.shape[axis];
    }
    return VF_OK;
}

static void concat_vjp(vf_tape *t, vf_node *n)
{
    const int axis = (int)n->iarg[0];
    int64_t outer, inner, off = 0;
    around_axis(&n->value, axis, &outer, &inner);
    for (int i = 0; i < n->n_in; i++) {
        vf_node *x = vf__in(t, n, i);
        if (x->grad) concat_blocks(outer, inner, n->value.shape[axis], x->value.shape[axis], off, n->grad, x->grad, 1);
        off += x->value.shape[axis];
    }
}

static void concat_jvp(vf_tape *t, vf_node *n)
{
    const int axis = (int)n->iarg[0];
    int64_t outer, inner, off = 0;
    around_axis(&n->value, axis, &outer, &inner);
    for (int i = 0; i < n->n_in; i++) {
        vf_node *x = vf__in(t, n, i);
        const int64_t len_i = x->value.shape[axis];
        if (x->tangent) {
            concat_blocks(outer, inner, n->value.shape[axis], len_i, off, n->tangent, x->tangent, 0);
        } else {
            for (int64_t o = 0; o < outer; o++)
                if (len_i * inner != 0)
                    memset(n->tangent + (o * n->value.shape[axis] + off) * inner, 0,
                           (size_t)(len_i * inner) * sizeof(vf_real));
        }
        off += len_i;
    }
}

static const vf_op_def concat_op = {"concat", concat_fwd, concat_vjp, concat_jvp, 0};

/* xs[0..n-1] [.., len_i, ..] (equal except along axis) -> [.., sum_i len_i, ..] */
vf_var vf_concat(vf_tape *t, int n, const vf_var *xs, int axis)
{
    if (!vf__ok(t, "concat", 0, NULL)) return VF_NOVAR;
    if (n < 1 || !xs) return vf__fail(t, VF_ERR_ARG, "concat: needs at least one input (got %d)", xs ? n : 0);
    if (!vf__ok(t, "concat", n, xs)) return VF_NOVAR;
    const vf_tensor first = vf__node(t, xs[0])->value;
    int a = vf__axis(t, "concat", axis, first.ndim);
    if (a < 0) return VF_NOVAR;
    int64_t shape[VF_MAX_DIMS];
    memcpy(shape, first.shape, sizeof shape);
    for (int i = 1; i < n; i++) {
        const vf_tensor *v = &vf__node(t, xs[i])->value;
        int same = v->ndim == first.ndim;
        for (int k = 0; same && k < first.ndim; k++)
            if (k != a && v->shape[k] != first.shape[k]) same = 0;
        if (!same) {
            char s0[64], si[64];
            vf_tensor_shape_str(&first, s0, sizeof s0);
            vf_tensor_shape_str(v, si, sizeof si);
            return vf__fail(t, VF_ERR_SHAPE, "concat: input 1 is %s but input %d is %s (only axis %d may differ)",
                            s0, i + 1, si, axis);
        }
        shape[a] += v->shape[a];
    }
    vf_var y = vf__push(t, &concat_op, n, xs, first.ndim, shape);
    if (y == VF_NOVAR) return VF_NOVAR;
    vf__node(t, y)->iarg[0] = a;
    return vf__run(t, y);
}

/* ---- slice: x[.., start:stop, ..] along axis ------------------------------------------------- */
/* dir 0: y <- x[.., start:stop, ..]; 1: gx[.., start:stop, ..] += gy. */
static void slice_blocks(vf_tape *t, vf_node *n, vf_real *x, vf_real *y, int dir)
{
    const vf_tensor *xv = &vf__in(t, n, 0)->value;
    const int axis = (int)n->iarg[0];
    int64_t outer, inner;
    around_axis(xv, axis, &outer, &inner);
    const int64_t w = n->value.shape[axis] * inner, start = n->iarg[1], len = xv->shape[axis];
    if (w == 0) return;
    for (int64_t o = 0; o < outer; o++) {
        vf_real *xo = x + (o * len + start) * inner, *yo = y + o * w;
        if (dir == 0) {
            if (w == 1) *yo = *xo; /* one column: no copy call per row */
            else memcpy(yo, xo, (size_t)w * sizeof(vf_real));
        } else {
            for (int64_t j = 0; j < w; j++) xo[j] += yo[j];
        }
    }
}

static vf_status slice_fwd(vf_tape *t, vf_node *n)
{
    slice_blocks(t, n, vf__in(t, n, 0)->value.data, n->value.data, 0);
    return VF_OK;
}

static void slice_vjp(vf_tape *t, vf_node *n)
{
    vf_real *gx = vf__in(t, n, 0)->grad;
    if (gx) slice_blocks(t, n, gx, n->grad, 1);
}

static void slice_jvp(vf_tape *t, vf_node *n) { slice_blocks(t, n, vf__in(t, n, 0)->tangent, n->tangent, 0); }

static const vf_op_def slice_op = {"slice", slice_fwd, slice_vjp, slice_jvp, 0};

/* x [.., len, ..] -> [.., stop - start, ..], 0 <= start <= stop <= len */
vf_var vf_slice(vf_tape *t, vf_var x, int axis, int64_t start, int64_t stop)
{
    if (!vf__ok(t, "slice", 1, &x)) return VF_NOVAR;
    const vf_tensor v = vf__node(t, x)->value;
    int a = vf__axis(t, "slice", axis, v.ndim);
    if (a < 0) return VF_NOVAR;
    if (start < 0 || stop < start || stop > v.shape[a]) {
        char s[64];
        vf_tensor_shape_str(&v, s, sizeof s);
        return vf__fail(t, VF_ERR_ARG, "slice: range [%lld, %lld) is not within 0..%lld (axis %d of %s)",
                        (long long)start, (long long)stop, (long long)v.shape[a], axis, s);
    }
    int64_t shape[VF_MAX_DIMS];
    memcpy(shape, v.shape, sizeof shape);
    shape[a] = stop - start;
    vf_var y = vf__push(t, &slice_op, 1, &x, v.ndim, shape);
    if (y == VF_NOVAR) return VF_NOVAR;
    vf_node *n = vf__node(t, y);
    n->iarg[0] = a;
    n->iarg[1] = start;
    return vf__run(t, y);
}

/* ---- gather: y[.., c, ..] = x[.., index[c], ..] along axis ----------------------------------- */
/* dir 0: y <- x at the indices; 1: gx at the indices += gy (repeated indices accumulate). */
static void gather_blocks(vf_tape *t, vf_node *n, vf_real *x, vf_real *y, int dir)
{
    const vf_tensor *xv = &vf__in(t, n, 0)->value;
    const int axis = (int)n->iarg[0];
    const int64_t *index = n->aux;
    int64_t outer, inner;
    around_axis(xv, axis, &outer, &inner);
    const int64_t count = n->value.shape[axis], len = xv->shape[axis];
    if (inner == 0) return;
    if (inner == 1) { /* along the last axis: single elements (a copy call per element would dominate) */
        for (int64_t o = 0; o < outer; o++) {
            vf_real *xr = x + o * len, *yr = y + o * count;
            if (dir == 0)
                for (int64_t c = 0; c < count; c++) yr[c] = xr[index[c]];
            else
                for (int64_t c = 0; c < count; c++) xr[index[c]] += yr[c];
        }
        return;
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < count; c++) {
            vf_real *xb = x + (o * len + index[c]) * inner, *yb = y + (o * count + c) * inner;
            if (dir == 0) memcpy(yb, xb, (size_t)inner * sizeof(vf_real));
            else
                for (int64_t j = 0; j < inner; j++) xb[j] += yb[j];
        }
}

static vf_status gather_fwd(vf_tape *t, vf_node *n)
{
    gather_blocks(t, n, vf__in(t, n, 0)->value.data, n->value.data, 0);
    return VF_OK;
}

static void gather_vjp(vf_tape *t, vf_node *n)
{
    vf_real *gx = vf__in(t, n, 0)->grad;
    if (gx) gather_blocks(t, n, gx, n->grad, 1);
}

static void gather_jvp(vf_tape *t, vf_node *n) { gather_blocks(t, n, vf__in(t, n, 0)->tangent, n->tangent, 0); }

static const vf_op_def gather_op = {"gather", gather_fwd, gather_vjp, gather_jvp, 0};

/* x [.., len, ..], index[0..count-1] in [0, len) -> [.., count, ..] */
vf_var vf_gather(vf_tape *t, vf_var x, int axis, const int64_t *index, int64_t count)
{
    if (!vf__ok(t, "gather", 1, &x)) return VF_NOVAR;
    const vf_tensor v = vf__node(t, x)->value;
    int a = vf__axis(t, "gather", axis, v.ndim);
    if (a < 0) return VF_NOVAR;
    if (count < 0) return vf__fail(t, VF_ERR_ARG, "gather: count %lld is negative", (long long)count);
    if (count > 0 && !index) return vf__fail(t, VF_ERR_ARG, "gather: index is NULL");
    for (int64_t c = 0; c < count; c++)
        if (index[c] < 0 || index[c] >= v.shape[a]) {
            char s[64];
            vf_tensor_shape_str(&v, s, sizeof s);
            return vf__fail(t, VF_ERR_ARG, "gather: index %lld (entry %lld) is out of range 0..%lld for axis %d of %s",
                            (long long)index[c], (long long)c, (long long)v.shape[a] - 1, axis, s);
        }
    int64_t *copy = vf__tape_alloc(t, (size_t)(count ? count : 1) * sizeof(int64_t));
    if (!copy) return VF_NOVAR;
    if (count) memcpy(copy, index, (size_t)count * sizeof(int64_t));
    int64_t shape[VF_MAX_DIMS];
    memcpy(shape, v.shape, sizeof shape);
    shape[a] = count;
    vf_var y = vf__push(t, &gather_op, 1, &x, v.ndim, shape);
    if (y == VF_NOVAR) return VF_NOVAR;
    vf_node *n = vf__node(t, y);
    n->iarg[0] = a;
    n->aux = copy;
    return vf__run(t, y);
}

/* ---- reshape: the same elements in row-major order under a new shape ------------------------ */
static vf_status reshape_fwd(vf_tape *t, vf_node *n)
{
    int64_t m = vf__numel(n);
    if (m) memcpy(n->value.data, vf__in(t, n, 0)->value.data, (size_t)m * sizeof(vf_real));
    return VF_OK;
}

static void reshape_vjp(vf_tape *t, vf_node *n)
{
    vf_real *gx = vf__in(t, n, 0)->grad;
    if (!gx) return;
    for (int64_t i = 0, m = vf__numel(n); i < m; i++) gx[i] += n->grad[i];
}

static void reshape_jvp(vf_tape *t, vf_node *n)
{
    int64_t m = vf__numel(n);
    if (m) memcpy(n->tangent, vf__in(t, n, 0)->tangent, (size_t)m * sizeof(vf_real));
}

static const vf_op_def reshape_op = {"reshape", reshape_fwd, reshape_vjp, reshape_jvp, 0};

/* x [..] -> shape [ndim] with the same element count */
vf_var vf_reshape(vf_tape *t, vf_var x, int ndim, const int64_t *shape)
{
    if (!vf__ok(t, "reshape", 1, &x)) return VF_NOVAR;
    const vf_tensor v = vf__node(t, x)->value;
    if (ndim < 0 || ndim > VF_MAX_DIMS)
        return vf__fail(t, VF_ERR_SHAPE, "reshape: %d dimensions requested (0 to %d allowed)", ndim, VF_MAX_DIMS);
    if (ndim > 0 && !shape) return vf__fail(t, VF_ERR_ARG, "reshape: shape is NULL");
    int64_t m = 1;
    int bad = 0;
    for (int k = 0; k < ndim; k++) {
        if (shape[k] < 0 || (shape[k] > 0 && m > INT64_MAX / shape[k])) bad = 1;
        else m *= shape[k];
    }
    vf_tensor want = vf_tensor_wrap(NULL, bad ? 0 : ndim, shape);
    if (bad || m != vf_tensor_numel(&v)) {
        char s[64], w[64] = "a shape with a negative or huge extent";
        vf_tensor_shape_str(&v, s, sizeof s);
        if (!bad) vf_tensor_shape_str(&want, w, sizeof w);
        return vf__fail(t, VF_ERR_SHAPE, "reshape: cannot reshape %s (%lld elements) to %s", s,
                        (long long)vf_tensor_numel(&v), w);
    }
    return vf__run(t, vf__push(t, &reshape_op, 1, &x, ndim, shape));
}
