/* tensor.c — row-major strided tensors: allocation, views, copies. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

/* Row-major strides. Computed in unsigned arithmetic so that a caller's absurd shape given to
 * vf_tensor_wrap cannot overflow a signed integer; shapes accepted by check_shape never wrap. */
static void set_contiguous_strides(vf_tensor *t)
{
    uint64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = (int64_t)s;
        if (i > 0) s *= (uint64_t)t->shape[i];
    }
}

/* Valid shape: 0..VF_MAX_DIMS extents >= 0. *numel = their product. The product of the nonzero
 * extents must fit in bytes (size_t) too, so that the strides of a 0-size tensor stay finite. */
static vf_status check_shape(int ndim, const int64_t *shape, size_t *numel)
{
    if (ndim < 0 || ndim > VF_MAX_DIMS)
        return vf__error(VF_ERR_SHAPE, "tensor: %d dimensions (at most %d)", ndim, VF_MAX_DIMS);
    if (ndim > 0 && !shape) return vf__error(VF_ERR_ARG, "tensor: shape is NULL");
    size_t n = 1, span = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return vf__error(VF_ERR_SHAPE, "tensor: negative extent %lld", (long long)shape[i]);
        if (vf__mul_size(span, shape[i] ? (size_t)shape[i] : 1, &span) || span > SIZE_MAX / sizeof(vf_real) ||
            span > (size_t)INT64_MAX)
            return vf__error(VF_ERR_NOMEM, "tensor: size overflows");
        n = shape[i] ? n * (size_t)shape[i] : 0;
    }
    *numel = n;
    return VF_OK;
}

vf_tensor vf_tensor_wrap(vf_real *data, int ndim, const int64_t *shape)
{
    vf_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.ndim = ndim < 0 ? 0 : (ndim > VF_MAX_DIMS ? VF_MAX_DIMS : ndim);
    for (int i = 0; i < t.ndim; i++) t.shape[i] = shape[i];
    set_contiguous_strides(&t);
    return t;
}

vf_status vf_tensor_alloc(vf_tensor *t, int ndim, const int64_t *shape_in)
{
    size_t n, bytes;
    if (!t) return vf__error(VF_ERR_ARG, "tensor: output is NULL");
    vf_status s = check_shape(ndim, shape_in, &n);
    /* shape_in may be t->shape itself: copy it before t is cleared. */
    int64_t shape[VF_MAX_DIMS] = {0};
    for (int i = 0; !s && i < ndim; i++) shape[i] = shape_in[i];
    memset(t, 0, sizeof *t);
    if (s) return s;
    if (vf__mul_size(n, sizeof(vf_real), &bytes)) return vf__error(VF_ERR_NOMEM, "tensor: size overflows");
    void *p = vf_calloc(1, bytes);
    if (!p) return VF_ERR_NOMEM;
    *t = vf_tensor_wrap(p, ndim, shape);
    t->owned = p;
    return VF_OK;
}

void vf_tensor_free(vf_tensor *t)
{
    if (!t) return;
    vf_free(t->owned);
    memset(t, 0, sizeof *t);
}

int64_t vf_tensor_numel(const vf_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int vf_tensor_is_contiguous(const vf_tensor *t)
{
    uint64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && (uint64_t)t->stride[i] != s) return 0;
        s *= (uint64_t)t->shape[i];
    }
    return 1;
}

int vf_tensor_same_shape(const vf_tensor *a, const vf_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

vf_real *vf_tensor_at(const vf_tensor *t, const int64_t *idx)
{
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++) off += idx[i] * t->stride[i];
    return t->data + off;
}

static vf_status check_axis(const vf_tensor *t, int *axis, const char *what)
{
    if (!t) return vf__error(VF_ERR_ARG, "%s: NULL tensor", what);
    int a = *axis < 0 ? *axis + t->ndim : *axis;
    if (a < 0 || a >= t->ndim)
        return vf__error(VF_ERR_ARG, "%s: axis %d out of range for a %d-d tensor", what, *axis, t->ndim);
    *axis = a;
    return VF_OK;
}

vf_status vf_tensor_slice(const vf_tensor *t, int axis, int64_t start, int64_t stop, int64_t step,
                          vf_tensor *view)
{
    vf_status s = view ? check_axis(t, &axis, "slice") : vf__error(VF_ERR_ARG, "slice: NULL view");
    if (s) return s;
    if (step < 1) return vf__error(VF_ERR_ARG, "slice: step %lld < 1", (long long)step);
    if (start < 0 || stop > t->shape[axis] || start > stop)
        return vf__error(VF_ERR_ARG, "slice: [%lld, %lld) out of range 0..%lld", (long long)start,
                         (long long)stop, (long long)t->shape[axis]);
    /* ceil((stop - start) / step) without overflow for a large step. */
    int64_t count = stop == start ? 0 : (stop - start - 1) / step + 1;
    vf_tensor v = *t;
    v.owned = NULL;
    if (count > 0) v.data = t->data + start * t->stride[axis]; /* empty: keep a pointer inside t */
    v.shape[axis] = count;
    if (count > 1) v.stride[axis] = t->stride[axis] * step; /* step < extent here: no overflow */
    *view = v;
    return VF_OK;
}

vf_status vf_tensor_select(const vf_tensor *t, int axis, int64_t index, vf_tensor *view)
{
    vf_status s = view ? check_axis(t, &axis, "select") : vf__error(VF_ERR_ARG, "select: NULL view");
    if (s) return s;
    if (index < 0 || index >= t->shape[axis])
        return vf__error(VF_ERR_ARG, "select: index %lld out of range 0..%lld", (long long)index,
                         (long long)t->shape[axis] - 1);
    vf_tensor v = *t;
    v.owned = NULL;
    v.data = t->data + index * t->stride[axis];
    for (int i = axis; i < t->ndim - 1; i++) {
        v.shape[i] = t->shape[i + 1];
        v.stride[i] = t->stride[i + 1];
    }
    v.ndim = t->ndim - 1;
    *view = v;
    return VF_OK;
}

vf_status vf_tensor_transpose(const vf_tensor *t, int a, int b, vf_tensor *view)
{
    vf_status s = view ? check_axis(t, &a, "transpose") : vf__error(VF_ERR_ARG, "transpose: NULL view");
    if (!s) s = check_axis(t, &b, "transpose");
    if (s) return s;
    vf_tensor v = *t;
    v.owned = NULL;
    v.shape[a] = t->shape[b];
    v.shape[b] = t->shape[a];
    v.stride[a] = t->stride[b];
    v.stride[b] = t->stride[a];
    *view = v;
    return VF_OK;
}

vf_status vf_tensor_reshape(const vf_tensor *t, int ndim, const int64_t *shape, vf_tensor *view)
{
    size_t n;
    vf_status s = check_shape(ndim, shape, &n);
    if (s) return s;
    if ((int64_t)n != vf_tensor_numel(t))
        return vf__error(VF_ERR_SHAPE, "reshape: %lld elements cannot take a shape of %zu",
                         (long long)vf_tensor_numel(t), n);
    if (!vf_tensor_is_contiguous(t)) return vf__error(VF_ERR_ARG, "reshape: tensor is not contiguous");
    *view = vf_tensor_wrap(t->data, ndim, shape);
    return VF_OK;
}

/* Shape and strides of t seen as 4-D, leading axes of extent 1 added: the loops below then always
 * nest four deep. */
static void pad_to_4d(const vf_tensor *t, int64_t shape[4], int64_t stride[4])
{
    int off = 4 - t->ndim;
    for (int i = 0; i < 4; i++) {
        shape[i] = i < off ? 1 : t->shape[i - off];
        stride[i] = i < off ? 0 : t->stride[i - off];
    }
}

/* Visit every element of a (up to 4-D) in row-major order, copying from src to dst. */
vf_status vf_tensor_copy(vf_tensor *dst, const vf_tensor *src)
{
    if (!dst || !src) return vf__error(VF_ERR_ARG, "copy: NULL tensor");
    if (!vf_tensor_same_shape(dst, src)) {
        char a[64], b[64];
        vf_tensor_shape_str(dst, a, sizeof a);
        vf_tensor_shape_str(src, b, sizeof b);
        return vf__error(VF_ERR_SHAPE, "copy: destination %s, source %s", a, b);
    }
    int64_t sh[4], sd[4], ss[4];
    pad_to_4d(src, sh, ss);
    pad_to_4d(dst, sh, sd);
    for (int64_t i0 = 0; i0 < sh[0]; i0++)
        for (int64_t i1 = 0; i1 < sh[1]; i1++)
            for (int64_t i2 = 0; i2 < sh[2]; i2++) {
                vf_real *d = dst->data + i0 * sd[0] + i1 * sd[1] + i2 * sd[2];
                const vf_real *s = src->data + i0 * ss[0] + i1 * ss[1] + i2 * ss[2];
                for (int64_t i3 = 0; i3 < sh[3]; i3++) d[i3 * sd[3]] = s[i3 * ss[3]];
            }
    return VF_OK;
}

vf_status vf_tensor_clone(const vf_tensor *src_in, vf_tensor *out)
{
    /* out may be src_in itself: then src_in becomes the copy, and a buffer it owned is released. */
    if (!src_in || !out) return vf__error(VF_ERR_ARG, "clone: NULL tensor");
    const vf_tensor src = *src_in;
    vf_status s = vf_tensor_alloc(out, src.ndim, src.shape);
    if (s) {
        if (out == src_in) *out = src; /* unchanged on failure */
        return s;
    }
    s = vf_tensor_copy(out, &src);
    if (out == src_in) vf_free(src.owned);
    return s;
}

void vf_tensor_fill(vf_tensor *t, vf_real value)
{
    int64_t sh[4], st[4];
    pad_to_4d(t, sh, st);
    for (int64_t i0 = 0; i0 < sh[0]; i0++)
        for (int64_t i1 = 0; i1 < sh[1]; i1++)
            for (int64_t i2 = 0; i2 < sh[2]; i2++)
                for (int64_t i3 = 0; i3 < sh[3]; i3++)
                    t->data[i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3]] = value;
}

int vf_tensor_all_finite(const vf_tensor *t)
{
    int64_t sh[4], st[4];
    pad_to_4d(t, sh, st);
    for (int64_t i0 = 0; i0 < sh[0]; i0++)
        for (int64_t i1 = 0; i1 < sh[1]; i1++)
            for (int64_t i2 = 0; i2 < sh[2]; i2++)
                for (int64_t i3 = 0; i3 < sh[3]; i3++)
                    if (!isfinite(t->data[i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3]])) return 0;
    return 1;
}

void vf_tensor_shape_str(const vf_tensor *t, char *buf, size_t len)
{
    size_t pos = 0;
    if (len == 0) return;
    buf[0] = '\0';
    pos += (size_t)snprintf(buf + pos, len - pos, "[");
    for (int i = 0; i < t->ndim && pos < len; i++)
        pos += (size_t)snprintf(buf + pos, len - pos, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (pos < len) snprintf(buf + pos, len - pos, "]");
}
