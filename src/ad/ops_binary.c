/* ops_binary.c — broadcasting elementwise ops: add, sub, mul, div and where.
 *
 * Broadcasting follows NumPy: shapes are aligned at their last axis, and an extent of 1 (or a
 * missing leading axis) repeats to match the other operand. Every kernel walks the output once and
 * needs, for each output element i, the matching element of each operand. A bc_plan describes that
 * mapping and picks the fastest loop that fits:
 *   BC_FLAT      every operand has the output's shape: index i everywhere;
 *   BC_SCALAR_x  operand x is a single element, the others have the output's shape;
 *   BC_ROW_x     operand x is [..., d] of the output's trailing axes (e.g. [n, d] op [d]); it
 *                repeats with period p = numel(x), so its index is i mod p;
 *   BC_GENERAL   anything else (up to 4-D): per-operand strides, 0 on broadcast axes.
 * The VJP of an operand that was broadcast sums the output gradient over the repeated axes; that
 * sum runs serially into a double accumulator (so results do not depend on the thread count), while
 * loops whose writes are all distinct may use OpenMP over their outer index.
 * All values, grads and tangents are contiguous (see ad_internal.h).
 */
#include <string.h>
#include "ad/ad_internal.h"

enum { BC_FLAT, BC_SCALAR_A, BC_SCALAR_B, BC_ROW_A, BC_ROW_B, BC_GENERAL };
enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV };

/* Loops over more than 32768 elements whose writes are distinct may split across threads. */
#if VF_HAVE_OPENMP
#define BC_OMP_FOR _Pragma("omp parallel for if(par_ && n_ > 32768) num_threads(vf__threads())")
#else
#define BC_OMP_FOR
#endif

/* Operands are numbered 0 (a), 1 (b), 2 (c: the condition of where; for add..div a stand-in with
 * the output's shape that no kernel reads). */
typedef struct bc_plan {
    int mode;                 /* BC_* above */
    int64_t n;                /* output element count */
    int64_t period;           /* numel of the repeated operand in BC_ROW_x */
    int64_t shape[4];         /* output shape, padded with leading 1s to 4-D */
    int64_t st[3][4];         /* element strides of each operand over the padded shape; 0 where broadcast */
    int full[3];              /* 1 if the operand has the output's shape (no reduction in its VJP) */
} bc_plan;

/* Fills p from the operands' shapes x[0..2] and the output shape out. */
static void bc_plan_make(const vf_tensor *out, const vf_tensor *const x[3], bc_plan *p)
{
    int per[3];
    memset(p, 0, sizeof *p);
    p->n = vf_tensor_numel(out);
    for (int k = 0; k < 4; k++) p->shape[k] = 1;
    for (int k = 0; k < out->ndim; k++) p->shape[4 - out->ndim + k] = out->shape[k];
    for (int o = 0; o < 3; o++) {
        int64_t sh[4] = {1, 1, 1, 1}, stride = 1;
        for (int k = 0; k < x[o]->ndim; k++) sh[4 - x[o]->ndim + k] = x[o]->shape[k];
        for (int k = 3; k >= 0; k--) {
            p->st[o][k] = (sh[k] == 1 && p->shape[k] != 1) ? 0 : stride;
            stride *= sh[k];
        }
        /* full: same padded shape. periodic: 1s, then exactly the output's trailing extents. */
        int first = 0;
        while (first < 4 && sh[first] == 1) first++;
        int full = 1, periodic = 1;
        for (int k = 0; k < 4; k++) {
            if (sh[k] != p->shape[k]) full = 0;
            if (k >= first && sh[k] != p->shape[k]) periodic = 0;
        }
        p->full[o] = full;
        per[o] = periodic;
    }
    int64_t na = vf_tensor_numel(x[0]), nb = vf_tensor_numel(x[1]);
    if (p->full[0] && p->full[1] && p->full[2]) p->mode = BC_FLAT;
    else if (p->full[1] && p->full[2] && na == 1) p->mode = BC_SCALAR_A;
    else if (p->full[0] && p->full[2] && nb == 1) p->mode = BC_SCALAR_B;
    else if (p->full[1] && p->full[2] && per[0]) p->mode = BC_ROW_A, p->period = na;
    else if (p->full[0] && p->full[2] && per[1]) p->mode = BC_ROW_B, p->period = nb;
    else p->mode = BC_GENERAL;
}

/* The plan of node n (inputs in[0], in[1] and, for where, in[2] as the condition). */
static void bc_plan_node(vf_tape *t, const vf_node *n, bc_plan *p)
{
    const vf_tensor *x[3];
    if (n->n_in == 3) {
        x[0] = &vf__in(t, n, 1)->value;
        x[1] = &vf__in(t, n, 2)->value;
        x[2] = &vf__in(t, n, 0)->value;
    } else {
        x[0] = &vf__in(t, n, 0)->value;
        x[1] = &vf__in(t, n, 1)->value;
        x[2] = &n->value;
    }
    bc_plan_make(&n->value, x, p);
}

/* Runs the statement(s) in __VA_ARGS__ for every output element i, with ia, ib, ic the matching
 * elements of operands a, b, c. PAR: 1 if the statement's writes are distinct for distinct i (the
 * loop may then be split across threads), 0 if it accumulates into a broadcast operand. */
#define BC_IDX_UNUSED (void)ia, (void)ib, (void)ic
#define BC_FOR(P, PAR, ...)                                                                        \
    do {                                                                                           \
        const bc_plan *p_ = (P);                                                                   \
        const int par_ = (PAR);                                                                    \
        const int64_t n_ = p_->n;                                                                  \
        (void)par_;                                                                                \
        if (n_ == 0) break;                                                                        \
        switch (p_->mode) {                                                                        \
        case BC_FLAT:                                                                              \
            BC_OMP_FOR                                                                             \
            for (int64_t i = 0; i < n_; i++) {                                                     \
                const int64_t ia = i, ib = i, ic = i;                                              \
                BC_IDX_UNUSED;                                                                     \
                __VA_ARGS__;                                                                       \
            }                                                                                      \
            break;                                                                                 \
        case BC_SCALAR_A:                                                                          \
            BC_OMP_FOR                                                                             \
            for (int64_t i = 0; i < n_; i++) {                                                     \
                const int64_t ia = 0, ib = i, ic = i;                                              \
                BC_IDX_UNUSED;                                                                     \
                __VA_ARGS__;                                                                       \
            }                                                                                      \
            break;                                                                                 \
        case BC_SCALAR_B:                                                                          \
            BC_OMP_FOR                                                                             \
            for (int64_t i = 0; i < n_; i++) {                                                     \
                const int64_t ia = i, ib = 0, ic = i;                                              \
                BC_IDX_UNUSED;                                                                     \
                __VA_ARGS__;                                                                       \
            }                                                                                      \
            break;                                                                                 \
        case BC_ROW_A: {                                                                           \
            const int64_t per_ = p_->period, rows_ = n_ / per_;                                    \
            BC_OMP_FOR                                                                             \
            for (int64_t r_ = 0; r_ < rows_; r_++)                                                 \
                for (int64_t j_ = 0; j_ < per_; j_++) {                                            \
                    const int64_t i = r_ * per_ + j_, ia = j_, ib = i, ic = i;                     \
                    BC_IDX_UNUSED;                                                                 \
                    __VA_ARGS__;                                                                   \
                }                                                                                  \
            break;                                                                                 \
        }                                                                                          \
        case BC_ROW_B: {                                                                           \
            const int64_t per_ = p_->period, rows_ = n_ / per_;                                    \
            BC_OMP_FOR                                                                             \
            for (int64_t r_ = 0; r_ < rows_; r_++)                                                 \
                for (int64_t j_ = 0; j_ < per_; j_++) {                                            \
                    const int64_t i = r_ * per_ + j_, ia = i, ib = j_, ic = i;                     \
                    BC_IDX_UNUSED;                                                                 \
                    __VA_ARGS__;                                                                   \
                }                                                                                  \
            break;                                                                                 \
        }                                                                                          \
        default: {                                                                                 \
            const int64_t *s_ = p_->shape;                                                         \
            const int64_t(*st_)[4] = p_->st;                                                       \
            for (int64_t i0 = 0; i0 < s_[0]; i0++)                                                 \
                for (int64_t i1 = 0; i1 < s_[1]; i1++)                                             \
                    for (int64_t i2 = 0; i2 < s_[2]; i2++) {                                       \
                        const int64_t base_ = ((i0 * s_[1] + i1) * s_[2] + i2) * s_[3];            \
                        const int64_t a_ = i0 * st_[0][0] + i1 * st_[0][1] + i2 * st_[0][2];       \
                        const int64_t b_ = i0 * st_[1][0] + i1 * st_[1][1] + i2 * st_[1][2];       \
                        const int64_t c_ = i0 * st_[2][0] + i1 * st_[2][1] + i2 * st_[2][2];       \
                        for (int64_t i3 = 0; i3 < s_[3]; i3++) {                                   \
                            const int64_t i = base_ + i3, ia = a_ + i3 * st_[0][3],                \
                                          ib = b_ + i3 * st_[1][3], ic = c_ + i3 * st_[2][3];      \
                            BC_IDX_UNUSED;                                                         \
                            __VA_ARGS__;                                                           \
                        }                                                                          \
                    }                                                                              \
        }                                                                                          \
        }                                                                                          \
    } while (0)

/* Zeroed double accumulator of operand o's size, or NULL after recording VF_ERR_NOMEM. */
static double *bc_acc(vf_tape *t, int64_t numel)
{
    double *acc = vf__tape_alloc(t, (size_t)(numel ? numel : 1) * sizeof(double));
    if (acc) memset(acc, 0, (size_t)numel * sizeof(double));
    return acc;
}

/* G[IDX] += EXPR for every output element; when the operand (plan slot K, NUMEL elements) was
 * broadcast, the repeated contributions are summed in double first. */
#define BC_GRAD(P, K, G, NUMEL, IDX, EXPR)                                                         \
    do {                                                                                           \
        vf_real *g_ = (G);                                                                         \
        if (!g_) break;                                                                            \
        if ((P)->full[K]) {                                                                        \
            BC_FOR(P, 1, g_[IDX] += (EXPR));                                                       \
            break;                                                                                 \
        }                                                                                          \
        const int64_t m_ = (NUMEL);                                                                \
        double *acc_ = bc_acc(t, m_);                                                              \
        if (!acc_) break;                                                                          \
        BC_FOR(P, 0, acc_[IDX] += (double)(EXPR));                                                 \
        for (int64_t k_ = 0; k_ < m_; k_++) g_[k_] += (vf_real)acc_[k_];                           \
    } while (0)

/* ---- add, sub, mul, div ----------------------------------------------------------------------
 * y = a op b with a, b and y as broadcast; iarg[0] is BIN_*. */
static vf_status binary_fwd(vf_tape *t, vf_node *n)
{
    bc_plan p;
    bc_plan_node(t, n, &p);
    const vf_real *a = vf__in(t, n, 0)->value.data, *b = vf__in(t, n, 1)->value.data;
    vf_real *y = n->value.data;
    switch (n->iarg[0]) {
    case BIN_ADD: BC_FOR(&p, 1, y[i] = a[ia] + b[ib]); break;
    case BIN_SUB: BC_FOR(&p, 1, y[i] = a[ia] - b[ib]); break;
    case BIN_MUL: BC_FOR(&p, 1, y[i] = a[ia] * b[ib]); break;
    default: BC_FOR(&p, 1, y[i] = a[ia] / b[ib]); break;
    }
    return VF_OK;
}

/* da += reduce(gy * dy/da), db += reduce(gy * dy/db); for div dy/db = -a/b^2 = -y/b. */
static void binary_vjp(vf_tape *t, vf_node *n)
{
    bc_plan p;
    bc_plan_node(t, n, &p);
    vf_node *na = vf__in(t, n, 0), *nb = vf__in(t, n, 1);
    const vf_real *a = na->value.data, *b = nb->value.data, *y = n->value.data, *gy = n->grad;
    int64_t ma = vf__numel(na), mb = vf__numel(nb);
    switch (n->iarg[0]) {
    case BIN_ADD:
        BC_GRAD(&p, 0, na->grad, ma, ia, gy[i]);
        BC_GRAD(&p, 1, nb->grad, mb, ib, gy[i]);
        break;
    case BIN_SUB:
        BC_GRAD(&p, 0, na->grad, ma, ia, gy[i]);
        BC_GRAD(&p, 1, nb->grad, mb, ib, -gy[i]);
        break;
    case BIN_MUL:
        BC_GRAD(&p, 0, na->grad, ma, ia, gy[i] * b[ib]);
        BC_GRAD(&p, 1, nb->grad, mb, ib, gy[i] * a[ia]);
        break;
    default:
        BC_GRAD(&p, 0, na->grad, ma, ia, gy[i] / b[ib]);
        BC_GRAD(&p, 1, nb->grad, mb, ib, -gy[i] * y[i] / b[ib]);
        break;
    }
}

/* dy = da op' + db op'; a NULL tangent is zero (at least one is non-NULL). */
static void binary_jvp(vf_tape *t, vf_node *n)
{
    bc_plan p;
    bc_plan_node(t, n, &p);
    const vf_node *na = vf__in(t, n, 0), *nb = vf__in(t, n, 1);
    const vf_real *a = na->value.data, *b = nb->value.data, *y = n->value.data;
    const vf_real *da = na->tangent, *db = nb->tangent;
    vf_real *dy = n->tangent;
    switch (n->iarg[0]) {
    case BIN_ADD:
        if (da && db) BC_FOR(&p, 1, dy[i] = da[ia] + db[ib]);
        else if (da) BC_FOR(&p, 1, dy[i] = da[ia]);
        else BC_FOR(&p, 1, dy[i] = db[ib]);
        break;
    case BIN_SUB:
        if (da && db) BC_FOR(&p, 1, dy[i] = da[ia] - db[ib]);
        else if (da) BC_FOR(&p, 1, dy[i] = da[ia]);
        else BC_FOR(&p, 1, dy[i] = -db[ib]);
        break;
    case BIN_MUL:
        if (da && db) BC_FOR(&p, 1, dy[i] = da[ia] * b[ib] + a[ia] * db[ib]);
        else if (da) BC_FOR(&p, 1, dy[i] = da[ia] * b[ib]);
        else BC_FOR(&p, 1, dy[i] = a[ia] * db[ib]);
        break;
    default:
        if (da && db) BC_FOR(&p, 1, dy[i] = (da[ia] - y[i] * db[ib]) / b[ib]);
        else if (da) BC_FOR(&p, 1, dy[i] = da[ia] / b[ib]);
        else BC_FOR(&p, 1, dy[i] = -y[i] * db[ib] / b[ib]);
        break;
    }
}

static const vf_op_def add_op = {"add", binary_fwd, binary_vjp, binary_jvp, 0};
static const vf_op_def sub_op = {"sub", binary_fwd, binary_vjp, binary_jvp, 0};
static const vf_op_def mul_op = {"mul", binary_fwd, binary_vjp, binary_jvp, 0};
static const vf_op_def div_op = {"div", binary_fwd, binary_vjp, binary_jvp, 0};

/* Shared builder: a [bc], b [bc] -> broadcast shape. */
static vf_var binary(vf_tape *t, const vf_op_def *op, int kind, vf_var a, vf_var b)
{
    vf_var in[2] = {a, b};
    int nd = 0;
    int64_t shape[VF_MAX_DIMS];
    if (!vf__ok(t, op->name, 2, in)) return VF_NOVAR;
    if (vf__broadcast_shape(t, op->name, &vf__node(t, a)->value, &vf__node(t, b)->value, &nd, shape))
        return VF_NOVAR;
    vf_var y = vf__push(t, op, 2, in, nd, shape);
    if (y == VF_NOVAR) return VF_NOVAR;
    vf__node(t, y)->iarg[0] = kind;
    return vf__run(t, y);
}

vf_var vf_add(vf_tape *t, vf_var a, vf_var b) { return binary(t, &add_op, BIN_ADD, a, b); }
vf_var vf_sub(vf_tape *t, vf_var a, vf_var b) { return binary(t, &sub_op, BIN_SUB, a, b); }
vf_var vf_mul(vf_tape *t, vf_var a, vf_var b) { return binary(t, &mul_op, BIN_MUL, a, b); }
vf_var vf_div(vf_tape *t, vf_var a, vf_var b) { return binary(t, &div_op, BIN_DIV, a, b); }

/* ---- where -----------------------------------------------------------------------------------
 * y = cond != 0 ? a : b, inputs (cond, a, b) broadcast to one shape. The gradient goes only into
 * the branch that was picked, by selection (never by multiplying with a mask), so an inf or NaN in
 * the other branch's gradient cannot leak in. cond gets no gradient and its tangent is ignored. */
static vf_status where_fwd(vf_tape *t, vf_node *n)
{
    bc_plan p;
    bc_plan_node(t, n, &p);
    const vf_real *c = vf__in(t, n, 0)->value.data, *a = vf__in(t, n, 1)->value.data,
                  *b = vf__in(t, n, 2)->value.data;
    vf_real *y = n->value.data;
    BC_FOR(&p, 1, y[i] = c[ic] != 0 ? a[ia] : b[ib]);
    return VF_OK;
}

static void where_vjp(vf_tape *t, vf_node *n)
{
    bc_plan p;
    bc_plan_node(t, n, &p);
    vf_node *na = vf__in(t, n, 1), *nb = vf__in(t, n, 2);
    const vf_real *c = vf__in(t, n, 0)->value.data, *gy = n->grad;
    BC_GRAD(&p, 0, na->grad, vf__numel(na), ia, c[ic] != 0 ? gy[i] : (vf_real)0);
    BC_GRAD(&p, 1, nb->grad, vf__numel(nb), ib, c[ic] != 0 ? (vf_real)0 : gy[i]);
}

static void where_jvp(vf_tape *t, vf_node *n)
{
    bc_plan p;
    bc_plan_node(t, n, &p);
    const vf_real *c = vf__in(t, n, 0)->value.data;
    const vf_real *da = vf__in(t, n, 1)->tangent, *db = vf__in(t, n, 2)->tangent;
    vf_real *dy = n->tangent;
    if (da && db) BC_FOR(&p, 1, dy[i] = c[ic] != 0 ? da[ia] : db[ib]);
    else if (da) BC_FOR(&p, 1, dy[i] = c[ic] != 0 ? da[ia] : (vf_real)0);
    else if (db) BC_FOR(&p, 1, dy[i] = c[ic] != 0 ? (vf_real)0 : db[ib]);
    else memset(dy, 0, (size_t)vf__numel(n) * sizeof(vf_real)); /* only cond had a tangent */
}

static const vf_op_def where_op = {"where", where_fwd, where_vjp, where_jvp, 0};

vf_var vf_where(vf_tape *t, vf_var cond, vf_var a, vf_var b)
{
    vf_var in[3] = {cond, a, b};
    int nd = 0, nd2 = 0;
    int64_t shape[VF_MAX_DIMS], shape2[VF_MAX_DIMS];
    if (!vf__ok(t, "where", 3, in)) return VF_NOVAR;
    if (vf__broadcast_shape(t, "where", &vf__node(t, a)->value, &vf__node(t, b)->value, &nd, shape))
        return VF_NOVAR;
    vf_tensor ab = vf_tensor_wrap(NULL, nd, shape);
    if (vf__broadcast_shape(t, "where", &vf__node(t, cond)->value, &ab, &nd2, shape2)) return VF_NOVAR;
    return vf__run(t, vf__push(t, &where_op, 3, in, nd2, shape2));
}
