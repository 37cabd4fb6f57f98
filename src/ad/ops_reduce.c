/* ops_reduce.c — reductions (sum, mean, max, logsumexp) and ops along one axis (softmax,
 * log_softmax, cumsum).
 *
 * Every op here sees its input x as [outer, len, inner]: `len` is the extent of the reduced axis,
 * `outer` the product of the extents before it, `inner` the product of those after it (all axes:
 * [1, numel, 1]). The output of a reduction is then [outer, inner] in memory, whatever keepdim
 * says about its shape. A "line" is the len elements x[o, :, j], line number l = o * inner + j,
 * starting at (l / inner) * len * inner + l % inner with stride inner.
 * Sums accumulate in double. Loops split across threads only over lines (or blocks of lines), each
 * computed by one thread in a fixed order, so results do not depend on the thread count.
 * iarg[0] is the normalised axis (-1 for all axes), iarg[1] keepdim, farg[0] the scale of sum/mean.
 */
#include <math.h>
#include <string.h>
#include "ad/ad_internal.h"

/* RED_OMP_FOR(n): the loop that follows is split across threads when it touches n > 32768 elements. */
#if VF_HAVE_OPENMP
#define RED_PRAGMA(x) _Pragma(#x)
#define RED_OMP_FOR(n) RED_PRAGMA(omp parallel for if((n) > 32768) num_threads(vf__threads()))
#else
#define RED_OMP_FOR(n)
#endif

#define RED_BLOCK 64 /* columns summed together in sum_kernel */

typedef struct red_layout {
    int64_t outer, len, inner;
} red_layout;

/* Layout of x reduced over axis (-1: every axis). */
static red_layout red_layout_of(const vf_tensor *x, int64_t axis)
{
    red_layout r = {1, 1, 1};
    if (axis < 0) {
        r.len = vf_tensor_numel(x);
        return r;
    }
    for (int k = 0; k < x->ndim; k++) {
        if (k < axis) r.outer *= x->shape[k];
        else if (k == axis) r.len = x->shape[k];
        else r.inner *= x->shape[k];
    }
    return r;
}

static red_layout red_layout_node(vf_tape *t, const vf_node *n)
{
    return red_layout_of(&vf__in(t, n, 0)->value, n->iarg[0]);
}

/* First element of line l. */
static inline int64_t line_base(const red_layout *r, int64_t l)
{
    return (l / r->inner) * r->len * r->inner + l % r->inner;
}

/* ---- sum and mean ----------------------------------------------------------------------------
 * y[o, j] = scale * sum_k x[o, k, j] (scale 1 for sum, 1/len for mean), in double. With inner > 1
 * the columns are summed in blocks of RED_BLOCK so every row is read contiguously. */
static void sum_kernel(const red_layout *r, const vf_real *x, vf_real *y, double scale)
{
    const int64_t outer = r->outer, len = r->len, inner = r->inner;
    if (inner == 1) {
        RED_OMP_FOR(outer * len)
        for (int64_t o = 0; o < outer; o++) {
            double s = 0.0;
            for (int64_t k = 0; k < len; k++) s += x[o * len + k];
            y[o] = (vf_real)(s * scale);
        }
        return;
    }
    const int64_t nblk = (inner + RED_BLOCK - 1) / RED_BLOCK;
    RED_OMP_FOR(outer * len * inner)
    for (int64_t ob = 0; ob < outer * nblk; ob++) {
        const int64_t o = ob / nblk, j0 = (ob % nblk) * RED_BLOCK, w = VF_MIN(RED_BLOCK, inner - j0);
        double s[RED_BLOCK];
        for (int64_t jj = 0; jj < w; jj++) s[jj] = 0.0;
        for (int64_t k = 0; k < len; k++) {
            const vf_real *row = x + (o * len + k) * inner + j0;
            for (int64_t jj = 0; jj < w; jj++) s[jj] += row[jj];
        }
        for (int64_t jj = 0; jj < w; jj++) y[o * inner + j0 + jj] = (vf_real)(s[jj] * scale);
    }
}

static vf_status sum_fwd(vf_tape *t, vf_node *n)
{
    red_layout r = red_layout_node(t, n);
    sum_kernel(&r, vf__in(t, n, 0)->value.data, n->value.data, n->farg[0]);
    return VF_OK;
}

/* gx[o, k, j] += scale * gy[o, j] */
static void sum_vjp(vf_tape *t, vf_node *n)
{
    vf_real *gx = vf__in(t, n, 0)->grad;
    if (!gx) return;
    red_layout r = red_layout_node(t, n);
    const vf_real *gy = n->grad;
    const vf_real scale = (vf_real)n->farg[0];
    RED_OMP_FOR(r.outer * r.len * r.inner)
    for (int64_t o = 0; o < r.outer; o++)
        for (int64_t k = 0; k < r.len; k++) {
            vf_real *g = gx + (o * r.len + k) * r.inner;
            const vf_real *gyo = gy + o * r.inner;
            for (int64_t j = 0; j < r.inner; j++) g[j] += scale * gyo[j];
        }
}

static void sum_jvp(vf_tape *t, vf_node *n)
{
    red_layout r = red_layout_node(t, n);
    sum_kernel(&r, vf__in(t, n, 0)->tangent, n->tangent, n->farg[0]);
}

/* ---- max: y[o, j] = max_k x[o, k, j]; aux holds the first k reaching it -----------------------
 * NaN propagates: the first NaN of a line is its maximum. */
static vf_status max_fwd(vf_tape *t, vf_node *n)
{
    red_layout r = red_layout_node(t, n);
    const int64_t lines = r.outer * r.inner;
    int64_t *arg = vf__tape_alloc(t, (size_t)(lines ? lines : 1) * sizeof(int64_t));
    if (!arg) return VF_ERR_NOMEM;
    n->aux = arg;
    const vf_real *x = vf__in(t, n, 0)->value.data;
    vf_real *y = n->value.data;
    RED_OMP_FOR(lines * r.len)
    for (int64_t l = 0; l < lines; l++) {
        const vf_real *xl = x + line_base(&r, l);
        int64_t best = 0;
        vf_real m = xl[0];
        for (int64_t k = 1; k < r.len && m == m; k++) {
            vf_real v = xl[k * r.inner];
            if (v > m || v != v) {
                m = v;
                best = k;
            }
        }
        y[l] = m;
        arg[l] = best;
    }
    return VF_OK;
}

static void max_vjp(vf_tape *t, vf_node *n)
{
    vf_real *gx = vf__in(t, n, 0)->grad;
    if (!gx) return;
    red_layout r = red_layout_node(t, n);
    const int64_t *arg = n->aux;
    for (int64_t l = 0; l < r.outer * r.inner; l++) gx[line_base(&r, l) + arg[l] * r.inner] += n->grad[l];
}

static void max_jvp(vf_tape *t, vf_node *n)
{
    red_layout r = red_layout_node(t, n);
    const int64_t *arg = n->aux;
    const vf_real *dx = vf__in(t, n, 0)->tangent;
    for (int64_t l = 0; l < r.outer * r.inner; l++) n->tangent[l] = dx[line_base(&r, l) + arg[l] * r.inner];
}

/* ---- logsumexp: y = m + log sum_k exp(x_k - m), m the line's maximum --------------------------
 * Exact for infinite maxima (y = m) and NaN-propagating. Its derivative is softmax(x) = exp(x - y),
 * taken as 0 where y is not finite. */
static double line_max(const vf_real *xl, int64_t len, int64_t stride)
{
    double m = -INFINITY;
    for (int64_t k = 0; k < len; k++) {
        double v = xl[k * stride];
        if (v > m || v != v) m = v;
        if (m != m) break;
    }
    return m;
}

static vf_status logsumexp_fwd(vf_tape *t, vf_node *n)
{
    red_layout r = red_layout_node(t, n);
    const int64_t lines = r.outer * r.inner;
    const vf_real *x = vf__in(t, n, 0)->value.data;
    vf_real *y = n->value.data;
    RED_OMP_FOR(lines * r.len)
    for (int64_t l = 0; l < lines; l++) {
        const vf_real *xl = x + line_base(&r, l);
        double m = line_max(xl, r.len, r.inner);
        if (!isfinite(m)) {
            y[l] = (vf_real)m;
            continue;
        }
        double s = 0.0;
        for (int64_t k = 0; k < r.len; k++) s += exp((double)xl[k * r.inner] - m);
        y[l] = (vf_real)(m + log(s));
    }
    return VF_OK;
}

static void logsumexp_vjp(vf_tape *t, vf_node *n)
{
    vf_real *gx = vf__in(t, n, 0)->grad;
    if (!gx) return;
    red_layout r = red_layout_node(t, n);
    const vf_real *x = vf__in(t, n, 0)->value.data, *y = n->value.data, *gy = n->grad;
    const int64_t lines = r.outer * r.inner;
    RED_OMP_FOR(lines * r.len)
    for (int64_t l = 0; l < lines; l++) {
        if (!isfinite((double)y[l])) continue;
        const int64_t b = line_base(&r, l);
        for (int64_t k = 0; k < r.len; k++) {
            const int64_t i = b + k * r.inner;
            gx[i] += (vf_real)((double)gy[l] * exp((double)x[i] - (double)y[l]));
        }
    }
}

static void logsumexp_jvp(vf_tape *t, vf_node *n)
{
    red_layout r = red_layout_node(t, n);
    const vf_real *x = vf__in(t, n, 0)->value.data, *dx = vf__in(t, n, 0)->tangent, *y = n->value.data;
    const int64_t lines = r.outer * r.inner;
    RED_OMP_FOR(lines * r.len)
    for (int64_t l = 0; l < lines; l++) {
        double s = 0.0;
        if (isfinite((double)y[l])) {
            const int64_t b = line_base(&r, l);
            for (int64_t k = 0; k < r.len; k++) {
                const int64_t i = b + k * r.inner;
                s += exp((double)x[i] - (double)y[l]) * (double)dx[i];
            }
        }
        n->tangent[l] = (vf_real)s;
    }
}

static const vf_op_def sum_op = {"sum", sum_fwd, sum_vjp, sum_jvp, 0};
static const vf_op_def mean_op = {"mean", sum_fwd, sum_vjp, sum_jvp, 0};
static const vf_op_def max_op = {"max", max_fwd, max_vjp, max_jvp, 0};
static const vf_op_def logsumexp_op = {"logsumexp", logsumexp_fwd, logsumexp_vjp, logsumexp_jvp, 0};

/* Shared builder of the reductions: x [..] -> x's shape without `axis` (keepdim: with extent 1). */
static vf_var reduce(vf_tape *t, const vf_op_def *op, vf_var x, int axis, int keepdim)
{
    if (!vf__ok(t, op->name, 1, &x)) return VF_NOVAR;
    const vf_tensor v = vf__node(t, x)->value;
    int a = -1;
    if (axis != VF_ALL_AXES) {
        a = vf__axis(t, op->name, axis, v.ndim);
        if (a < 0) return VF_NOVAR;
    }
    red_layout r = red_layout_of(&v, a);
    if (r.len == 0 && (op == &max_op || op == &mean_op)) {
        char s[64];
        vf_tensor_shape_str(&v, s, sizeof s);
        return vf__fail(t, VF_ERR_SHAPE, "%s: the reduced axis of a %s tensor is empty", op->name, s);
    }
    int nd = 0;
    int64_t shape[VF_MAX_DIMS];
    for (int k = 0; k < v.ndim; k++) {
        int reduced = a < 0 || k == a;
        if (!reduced) shape[nd++] = v.shape[k];
        else if (keepdim) shape[nd++] = 1;
    }
    vf_var y = vf__push(t, op, 1, &x, nd, shape);
    if (y == VF_NOVAR) return VF_NOVAR;
    vf_node *n = vf__node(t, y);
    n->iarg[0] = a;
    n->iarg[1] = keepdim != 0;
    n->farg[0] = op == &mean_op ? 1.0 / (double)r.len : 1.0;
    return vf__run(t, y);
}

vf_var vf_sum(vf_tape *t, vf_var x, int axis, int keepdim) { return reduce(t, &sum_op, x, axis, keepdim); }
vf_var vf_mean(vf_tape *t, vf_var x, int axis, int keepdim) { return reduce(t, &mean_op, x, axis, keepdim); }
vf_var vf_max(vf_tape *t, vf_var x, int axis, int keepdim) { return reduce(t, &max_op, x, axis, keepdim); }
vf_var vf_logsumexp(vf_tape *t, vf_var x, int axis, int keepdim)
{
    return reduce(t, &logsumexp_op, x, axis, keepdim);
}

/* ---- softmax: y_k = exp(x_k - m) / sum_j exp(x_j - m) along the axis -------------------------
 * VJP gx = y * (gy - <gy, y>); JVP dy = y * (dx - <y, dx>), the dot products in double. */
static vf_status softmax_fwd(vf_tape *t, vf_node *n)
{
    red_layout r = red_layout_node(t, n);
    const int64_t lines = r.outer * r.inner;
    const vf_real *x = vf__in(t, n, 0)->value.data;
    vf_real *y = n->value.data;
    RED_OMP_FOR(lines * r.len)
    for (int64_t l = 0; l < lines; l++) {
        const int64_t b = line_base(&r, l);
        const double m = line_max(x + b, r.len, r.inner);
        double s = 0.0;
        for (int64_t k = 0; k < r.len; k++) {
            double e = exp((double)x[b + k * r.inner] - m);
            y[b + k * r.inner] = (vf_real)e;
            s += e;
        }
        for (int64_t k = 0; k < r.len; k++) y[b + k * r.inner] = (vf_real)((double)y[b + k * r.inner] / s);
    }
    return VF_OK;
}

/* out = y * (in - <in, y>) along each line (accumulating into out or not): the softmax Jacobian is
 * symmetric, so this is both the VJP (in = gy) and the JVP (in = dx). */
static void softmax_jacobian(const red_layout *r, const vf_real *y, const vf_real *in, vf_real *out, int accumulate)
{
    const int64_t lines = r->outer * r->inner;
    RED_OMP_FOR(lines * r->len)
    for (int64_t l = 0; l < lines; l++) {
        const int64_t b = line_base(r, l);
        double dot = 0.0;
        for (int64_t k = 0; k < r->len; k++) dot += (double)in[b + k * r->inner] * (double)y[b + k * r->inner];
        for (int64_t k = 0; k < r->len; k++) {
            const int64_t i = b + k * r->inner;
            const vf_real v = (vf_real)((double)y[i] * ((double)in[i] - dot));
            out[i] = accumulate ? out[i] + v : v;
        }
    }
}

static void softmax_vjp(vf_tape *t, vf_node *n)
{
    vf_real *gx = vf__in(t, n, 0)->grad;
    if (!gx) return;
    red_layout r = red_layout_node(t, n);
    softmax_jacobian(&r, n->value.data, n->grad, gx, 1);
}

static void softmax_jvp(vf_tape *t, vf_node *n)
{
    red_layout r = red_layout_node(t, n);
    softmax_jacobian(&r, n->value.data, vf__in(t, n, 0)->tangent, n->tangent, 0);
}

/* ---- log_softmax: y_k = x_k - logsumexp(x) along the axis ------------------------------------
 * VJP gx = gy - exp(y) * sum(gy); JVP dy = dx - <exp(y), dx>. */
static vf_status log_softmax_fwd(vf_tape *t, vf_node *n)
{
    red_layout r = red_layout_node(t, n);
    const int64_t lines = r.outer * r.inner;
    const vf_real *x = vf__in(t, n, 0)->value.data;
    vf_real *y = n->value.data;
    RED_OMP_FOR(lines * r.len)
    for (int64_t l = 0; l < lines; l++) {
        const int64_t b = line_base(&r, l);
        const double m = line_max(x + b, r.len, r.inner);
        double s = 0.0;
        for (int64_t k = 0; k < r.len; k++) s += exp((double)x[b + k * r.inner] - m);
        const double lse = m + log(s);
        for (int64_t k = 0; k < r.len; k++) y[b + k * r.inner] = (vf_real)((double)x[b + k * r.inner] - lse);
    }
    return VF_OK;
}

static void log_softmax_vjp(vf_tape *t, vf_node *n)
{
    vf_real *gx = vf__in(t, n, 0)->grad;
    if (!gx) return;
    red_layout r = red_layout_node(t, n);
    const vf_real *y = n->value.data, *gy = n->grad;
    const int64_t lines = r.outer * r.inner;
    RED_OMP_FOR(lines * r.len)
    for (int64_t l = 0; l < lines; l++) {
        const int64_t b = line_base(&r, l);
        double sg = 0.0;
        for (int64_t k = 0; k < r.len; k++) sg += gy[b + k * r.inner];
        for (int64_t k = 0; k < r.len; k++) {
            const int64_t i = b + k * r.inner;
            gx[i] += (vf_real)((double)gy[i] - exp((double)y[i]) * sg);
        }
    }
}

static void log_softmax_jvp(vf_tape *t, vf_node *n)
{
    red_layout r = red_layout_node(t, n);
    const vf_real *y = n->value.data, *dx = vf__in(t, n, 0)->tangent;
    vf_real *dy = n->tangent;
    const int64_t lines = r.outer * r.inner;
    RED_OMP_FOR(lines * r.len)
    for (int64_t l = 0; l < lines; l++) {
        const int64_t b = line_base(&r, l);
        double dot = 0.0;
        for (int64_t k = 0; k < r.len; k++) dot += exp((double)y[b + k * r.inner]) * (double)dx[b + k * r.inner];
        for (int64_t k = 0; k < r.len; k++) {
            const int64_t i = b + k * r.inner;
            dy[i] = (vf_real)((double)dx[i] - dot);
        }
    }
}

/* ---- cumsum: y_k = sum_{j <= k} x_j along the axis (running sum in double) --------------------
 * VJP gx_k += sum_{j >= k} gy_j (the reversed running sum); JVP is the cumsum of dx. */
static void cumsum_kernel(const red_layout *r, const vf_real *x, vf_real *y)
{
    const int64_t lines = r->outer * r->inner;
    RED_OMP_FOR(lines * r->len)
    for (int64_t l = 0; l < lines; l++) {
        const int64_t b = line_base(r, l);
        double s = 0.0;
        for (int64_t k = 0; k < r->len; k++) {
            s += x[b + k * r->inner];
            y[b + k * r->inner] = (vf_real)s;
        }
    }
}

static vf_status cumsum_fwd(vf_tape *t, vf_node *n)
{
    red_layout r = red_layout_node(t, n);
    cumsum_kernel(&r, vf__in(t, n, 0)->value.data, n->value.data);
    return VF_OK;
}

static void cumsum_vjp(vf_tape *t, vf_node *n)
{
    vf_real *gx = vf__in(t, n, 0)->grad;
    if (!gx) return;
    red_layout r = red_layout_node(t, n);
    const vf_real *gy = n->grad;
    const int64_t lines = r.outer * r.inner;
    RED_OMP_FOR(lines * r.len)
    for (int64_t l = 0; l < lines; l++) {
        const int64_t b = line_base(&r, l);
        double s = 0.0;
        for (int64_t k = r.len - 1; k >= 0; k--) {
            s += gy[b + k * r.inner];
            gx[b + k * r.inner] += (vf_real)s;
        }
    }
}

static void cumsum_jvp(vf_tape *t, vf_node *n)
{
    red_layout r = red_layout_node(t, n);
    cumsum_kernel(&r, vf__in(t, n, 0)->tangent, n->tangent);
}

static const vf_op_def softmax_op = {"softmax", softmax_fwd, softmax_vjp, softmax_jvp, 0};
static const vf_op_def log_softmax_op = {"log_softmax", log_softmax_fwd, log_softmax_vjp, log_softmax_jvp, 0};
static const vf_op_def cumsum_op = {"cumsum", cumsum_fwd, cumsum_vjp, cumsum_jvp, 0};

/* Shared builder of the ops along one axis: x [..] -> same shape. */
static vf_var along_axis(vf_tape *t, const vf_op_def *op, vf_var x, int axis)
{
    if (!vf__ok(t, op->name, 1, &x)) return VF_NOVAR;
    const vf_tensor v = vf__node(t, x)->value;
    if (axis == VF_ALL_AXES)
        return vf__fail(t, VF_ERR_ARG, "%s: needs one axis (VF_ALL_AXES is only for reductions)", op->name);
    int a = vf__axis(t, op->name, axis, v.ndim);
    if (a < 0) return VF_NOVAR;
    vf_var y = vf__push(t, op, 1, &x, v.ndim, v.shape);
    if (y == VF_NOVAR) return VF_NOVAR;
    vf__node(t, y)->iarg[0] = a;
    return vf__run(t, y);
}

vf_var vf_softmax(vf_tape *t, vf_var x, int axis) { return along_axis(t, &softmax_op, x, axis); }
vf_var vf_log_softmax(vf_tape *t, vf_var x, int axis) { return along_axis(t, &log_softmax_op, x, axis); }
vf_var vf_cumsum(vf_tape *t, vf_var x, int axis) { return along_axis(t, &cumsum_op, x, axis); }
