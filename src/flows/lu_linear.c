/* lu_linear.c — the LU-decomposed invertible linear map (Glow's 1x1 convolution for vectors), and the
 * triangular-solve op its inverse uses.
 *
 * Map. z = W x + bias per row, W = P L (U + diag(exp(log_s))), P fixed ((P v)_i = v_perm[i]), L unit
 * lower triangular, U strictly upper triangular. Row-major batches: with x a row of X [n, d],
 *   forward:  H = X (U + D)^T,  H2 = H L^T,  Z = H2 gathered at perm (columns),  Z += bias;
 *   inverse:  V = Z - bias gathered at inv, then solve L h = v, then (U + D) x = h, row by row;
 * log|det W| = sum(log_s) since |det P| = det L = 1 and det(U + D) = prod exp(log_s).
 * L and U are stored as full [d, d] parameters; the forward masks them (so the entries outside their
 * triangles get zero gradient), the solves read only their triangles.
 *
 * Op. vf_triangular_solve(a, b): X = B A^{-T} (row x of X solves A x = b). With G the gradient of X:
 *   dX = (dB - X dA^T) A^{-T}, so with Y = G A^{-1} (rows y solve A^T y = g):
 *   grad B += Y,  grad A -= Y^T X restricted to the triangle that is read,
 *   tangent X' rows solve A x' = b' - tri(A') x.
 * The forward saves nothing but its output; the VJP solves with A^T into space the forward allocates.
 * Substitutions accumulate in double.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "flows/flow_internal.h"
#include "nn/nn_internal.h"
#include "varflow/vf_transforms.h"

/* ---- triangular solve ------------------------------------------------------------------------ */

/* 1 if entry (i, j) of a [d, d] is read by a solve with these flags. */
static inline int tri_reads(int lower, int unit, int64_t i, int64_t j)
{
    if (i == j) return !unit;
    return lower ? i > j : i < j;
}

/* Solves op(A) x = b for each of the n rows of X in place (X holds B on entry), op(A) = A or A^T.
 * Only the triangle given by lower (and the diagonal unless unit) is read. */
static void tri_solve_rows(const vf_real *a, int64_t d, int lower, int unit, int trans, vf_real *x, int64_t n)
{
    const int forward = lower != trans; /* op(A) lower triangular: substitute from the first entry */
    for (int64_t r = 0; r < n; r++) {
        vf_real *xr = x + r * d;
        for (int64_t k = 0; k < d; k++) {
            const int64_t i = forward ? k : d - 1 - k;
            double acc = (double)xr[i];
            const int64_t j0 = forward ? 0 : i + 1, j1 = forward ? i : d;
            for (int64_t j = j0; j < j1; j++) {
                const vf_real aij = trans ? a[j * d + i] : a[i * d + j];
                acc -= (double)aij * (double)xr[j];
            }
            xr[i] = (vf_real)(unit ? acc : acc / (double)a[i * d + i]);
        }
    }
}

static vf_status trisolve_fwd(vf_tape *t, vf_node *n)
{
    const vf_node *a = vf__in(t, n, 0), *b = vf__in(t, n, 1);
    const int64_t d = a->value.shape[0], rows = b->value.shape[0];
    memcpy(n->value.data, b->value.data, (size_t)(rows * d) * sizeof(vf_real));
    tri_solve_rows(a->value.data, d, (int)n->iarg[0], (int)n->iarg[1], 0, n->value.data, rows);
    if (n->needs_grad) {
        n->aux = vf__tape_alloc(t, (size_t)(rows * d) * sizeof(vf_real) + 1);
        if (!n->aux) return VF_ERR_NOMEM;
    }
    return VF_OK;
}

static void trisolve_vjp(vf_tape *t, vf_node *n)
{
    vf_node *a = vf__in(t, n, 0), *b = vf__in(t, n, 1);
    vf_real *ga = a->grad, *gb = b->grad;
    if (!ga && !gb) return;
    const int lower = (int)n->iarg[0], unit = (int)n->iarg[1];
    const int64_t d = a->value.shape[0], rows = b->value.shape[0];
    vf_real *y = n->aux;
    memcpy(y, n->grad, (size_t)(rows * d) * sizeof(vf_real));
    tri_solve_rows(a->value.data, d, lower, unit, 1, y, rows); /* Y = G A^{-1} */
    if (gb)
        for (int64_t k = 0; k < rows * d; k++) gb[k] += y[k];
    if (ga) {
        const vf_real *x = n->value.data;
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = 0; j < d; j++) {
                if (!tri_reads(lower, unit, i, j)) continue;
                double s = 0.0;
                for (int64_t r = 0; r < rows; r++) s += (double)y[r * d + i] * (double)x[r * d + j];
                ga[i * d + j] -= (vf_real)s;
            }
    }
}

static void trisolve_jvp(vf_tape *t, vf_node *n)
{
    const vf_node *a = vf__in(t, n, 0), *b = vf__in(t, n, 1);
    const int lower = (int)n->iarg[0], unit = (int)n->iarg[1];
    const int64_t d = a->value.shape[0], rows = b->value.shape[0];
    const vf_real *ta = a->tangent, *tb = b->tangent, *x = n->value.data;
    vf_real *tx = n->tangent;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < d; i++) {
            double acc = tb ? (double)tb[r * d + i] : 0.0;
            for (int64_t j = 0; ta && j < d; j++)
                if (tri_reads(lower, unit, i, j)) acc -= (double)ta[i * d + j] * (double)x[r * d + j];
            tx[r * d + i] = (vf_real)acc;
        }
    tri_solve_rows(a->value.data, d, lower, unit, 0, tx, rows);
}

static const vf_op_def trisolve_op = {"triangular_solve", trisolve_fwd, trisolve_vjp, trisolve_jvp, 0};

vf_var vf_triangular_solve(vf_tape *t, vf_var a, vf_var b, int lower, int unit_diagonal)
{
    vf_var in[2] = {a, b};
    if (!vf__ok(t, "triangular_solve", 2, in)) return VF_NOVAR;
    const vf_tensor *av = &vf__node(t, a)->value, *bv = &vf__node(t, b)->value;
    if (av->ndim != 2 || av->shape[0] != av->shape[1] || bv->ndim != 2 || bv->shape[1] != av->shape[0]) {
        char sa[64], sb[64];
        vf_tensor_shape_str(av, sa, sizeof sa);
        vf_tensor_shape_str(bv, sb, sizeof sb);
        return vf__fail(t, VF_ERR_SHAPE, "triangular_solve: a %s must be [d, d] and b %s [n, d]", sa, sb);
    }
    const int64_t shape[2] = {bv->shape[0], bv->shape[1]};
    vf_var y = vf__push(t, &trisolve_op, 2, in, 2, shape);
    if (y == VF_NOVAR) return y;
    vf_node *n = vf__node(t, y);
    n->iarg[0] = lower ? 1 : 0;
    n->iarg[1] = unit_diagonal ? 1 : 0;
    return vf__run(t, y);
}

/* ---- the transform --------------------------------------------------------------------------- */

typedef struct lu_transform {
    vf_transform base;
    int32_t lower, upper, log_s, bias; /* parameter ids; bias -1 when absent */
    int64_t *perm, *inv;               /* [d] each */
    vf_real *masks;                    /* [3, d, d]: strictly lower, strictly upper, identity */
    int random_perm;
    uint64_t seed;
    double init_std;
} lu_transform;

/* The factors on the tape: *lm = I + strict_lower(lower) and the return value U + diag(exp(log_s)). */
static vf_var lu_factors(const lu_transform *m, vf_params *p, vf_tape *t, vf_var *lm, vf_var *log_s)
{
    const int64_t d = m->base.dim, sq[2] = {d, d};
    vf_var ml = vf_constant(t, m->masks, 2, sq);
    vf_var mu = vf_constant(t, m->masks + d * d, 2, sq);
    vf_var eye = vf_constant(t, m->masks + 2 * d * d, 2, sq);
    *log_s = vf_params_var(p, t, m->log_s);
    *lm = vf_add(t, vf_mul(t, ml, vf_params_var(p, t, m->lower)), eye);
    vf_var diag = vf_mul(t, eye, vf_exp(t, *log_s)); /* eye_ij s_j = diag(s) */
    return vf_add(t, vf_mul(t, mu, vf_params_var(p, t, m->upper)), diag);
}

/* [n] node equal to sign * sum(log_s) in every row of x. */
static vf_var lu_ladj(vf_tape *t, vf_var x, vf_var log_s, double sign)
{
    vf_var s = vf_scale(t, vf_sum(t, log_s, VF_ALL_AXES, 0), sign);
    return vf_add(t, vf__flow_zeros(t, vf__flow_rows(t, x)), s);
}

static vf_var lu_forward(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, vf_var *ladj)
{
    (void)ctx;
    const lu_transform *m = (const lu_transform *)tr;
    vf_var lm, log_s;
    vf_var um = lu_factors(m, p, t, &lm, &log_s);
    vf_var h = vf_matmul(t, vf_matmul(t, x, um, 0, 1), lm, 0, 1); /* rows L (U + D) x */
    vf_var z = vf_gather(t, h, 1, m->perm, tr->dim);
    if (m->bias >= 0) z = vf_bias_add(t, z, vf_params_var(p, t, m->bias));
    *ladj = lu_ladj(t, x, log_s, 1.0);
    return z;
}

static vf_var lu_inverse(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var z, vf_var ctx, vf_var *ladj)
{
    (void)ctx;
    const lu_transform *m = (const lu_transform *)tr;
    vf_var lm, log_s;
    vf_var um = lu_factors(m, p, t, &lm, &log_s);
    vf_var v = m->bias >= 0 ? vf_sub(t, z, vf_params_var(p, t, m->bias)) : z;
    vf_var h = vf_gather(t, v, 1, m->inv, tr->dim);
    h = vf_triangular_solve(t, lm, h, 1, 1);
    vf_var x = vf_triangular_solve(t, um, h, 0, 0);
    *ladj = lu_ladj(t, z, log_s, -1.0);
    return x;
}

static vf_status lu_describe(const vf_transform *tr, char *json, size_t len)
{
    const lu_transform *m = (const lu_transform *)tr;
    size_t pos = 0;
    vf_status s = vf__json_append(json, len, &pos,
                         "{\"kind\":\"lu_linear\",\"dim\":%lld,\"context\":%lld,\"bias\":%d,\"random_perm\":%d,"
                         "\"seed\":%llu,\"init_std\":%.17g,\"perm\":[",
                         (long long)tr->dim, (long long)tr->context, m->bias >= 0, m->random_perm,
                         (unsigned long long)m->seed, m->init_std);
    for (int64_t i = 0; s == VF_OK && i < tr->dim; i++)
        s = vf__json_append(json, len, &pos, "%s%lld", i ? "," : "", (long long)m->perm[i]);
    if (s == VF_OK) s = vf__json_append(json, len, &pos, "]}");
    return s;
}

static void lu_destroy(vf_transform *tr)
{
    lu_transform *m = (lu_transform *)tr;
    vf_free(m->perm);
    vf_free(m->inv);
    vf_free(m->masks);
    vf_free(m);
}

static const vf_transform_vtable lu_vt = {"lu_linear", lu_forward, lu_inverse, lu_describe, lu_destroy, NULL};

vf_lu_linear_params vf_lu_linear_default_params(int64_t d)
{
    vf_lu_linear_params kp;
    kp.dim = d;
    kp.context = 0;
    kp.bias = 1;
    kp.random_perm = 1;
    kp.seed = 0;
    kp.init_std = 0.0;
    return kp;
}

/* Registers lower, upper, log_s and (optionally) bias; all or nothing. */
static vf_status lu_register(lu_transform *m, vf_params *p, const char *name, const vf_lu_linear_params *kp)
{
    const int64_t d = kp->dim, sq[2] = {d, d};
    const vf_init tri = kp->init_std > 0.0 ? vf_init_normal(0.0, kp->init_std) : vf_init_zeros();
    const int32_t count = vf_params_count(p);
    char buf[VF_PARAM_NAME_MAX];
    vf_status s = vf__param_name(buf, sizeof buf, name, "lower");
    if (s == VF_OK) s = vf_params_add(p, buf, 2, sq, tri, &m->lower);
    if (s == VF_OK) s = vf__param_name(buf, sizeof buf, name, "upper");
    if (s == VF_OK) s = vf_params_add(p, buf, 2, sq, tri, &m->upper);
    if (s == VF_OK) s = vf__param_name(buf, sizeof buf, name, "log_s");
    if (s == VF_OK) s = vf_params_add(p, buf, 1, &d, vf_init_zeros(), &m->log_s);
    m->bias = -1;
    if (s == VF_OK && kp->bias) {
        s = vf__param_name(buf, sizeof buf, name, "bias");
        if (s == VF_OK) s = vf_params_add(p, buf, 1, &d, vf_init_zeros(), &m->bias);
    }
    if (s != VF_OK) vf__params_truncate(p, count);
    return s;
}

vf_status vf_lu_linear_new(vf_params *p, const char *name, const vf_lu_linear_params *kp, vf_transform **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "lu_linear: NULL output");
    *out = NULL;
    if (!p || !kp) return vf__error(VF_ERR_ARG, "lu_linear: NULL parameter store or settings");
    const int64_t d = kp->dim;
    if (d < 1 || kp->context < 0)
        return vf__error(VF_ERR_ARG, "lu_linear: dimension %lld (>= 1), context %lld (>= 0)", (long long)d,
                         (long long)kp->context);
    if (d > 46340) return vf__error(VF_ERR_ARG, "lu_linear: dimension %lld is too large for a dense map", (long long)d);
    if (!(kp->init_std >= 0.0) || !isfinite(kp->init_std))
        return vf__error(VF_ERR_ARG, "lu_linear: init_std %g must be finite and >= 0", kp->init_std);
    lu_transform *m = vf_calloc(1, sizeof *m);
    int64_t *perm = m ? vf_calloc((size_t)d, sizeof *perm) : NULL;
    int64_t *inv = perm ? vf_calloc((size_t)d, sizeof *inv) : NULL;
    vf_real *masks = inv ? vf_calloc((size_t)(3 * d * d), sizeof *masks) : NULL;
    vf_status s = masks ? lu_register(m, p, name, kp) : VF_ERR_NOMEM;
    if (s != VF_OK) {
        vf_free(masks);
        vf_free(inv);
        vf_free(perm);
        vf_free(m);
        return s;
    }
    for (int64_t i = 0; i < d; i++) perm[i] = i;
    if (kp->random_perm) { /* Fisher-Yates from stream 0 of the seed, as vf_permutation_new */
        vf_rng r;
        vf_rng_init(&r, kp->seed, 0);
        for (int64_t i = d - 1; i > 0; i--) {
            int64_t j = (int64_t)vf_rng_below(&r, (uint64_t)i + 1);
            int64_t tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
    }
    for (int64_t i = 0; i < d; i++) inv[perm[i]] = i;
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            masks[i * d + j] = i > j ? 1 : 0;
            masks[d * d + i * d + j] = i < j ? 1 : 0;
            masks[2 * d * d + i * d + j] = i == j ? 1 : 0;
        }
    m->base.vt = &lu_vt;
    m->base.dim = d;
    m->base.context = kp->context;
    m->perm = perm;
    m->inv = inv;
    m->masks = masks;
    m->random_perm = kp->random_perm ? 1 : 0;
    m->seed = kp->seed;
    m->init_std = kp->init_std;
    *out = &m->base;
    return VF_OK;
}
