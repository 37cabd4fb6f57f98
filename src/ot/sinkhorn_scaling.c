/* sinkhorn_scaling.c — the balanced Sinkhorn iterations of sinkhorn.c as matrix-vector scalings of a
 * stabilized kernel (vf_sinkhorn with method VF_SINKHORN_SCALING; Schmitzer, SIAM J. Sci. Comput.
 * 2019, "stabilized sparse scaling algorithms").
 *
 * The potentials are split as f / eps = fs + log u and g / eps = gs + log v: (fs, gs) are absorbed
 * log-potentials that define the kernel K_ij = exp(fs_i + gs_j - C_ij / eps), built once in double
 * with the vectorizable exponential (an exponent below -700 gives 0, not a denormal), and u, v are
 * scalings. The plan is P_ij = u_i K_ij v_j, and the log-domain updates of sinkhorn.c become
 *   u_i = a_i / sum_j K_ij v_j        (rows exact),     v_j = b_j / sum_i u_i K_ij   (columns exact),
 * the same iterates up to rounding. One iteration is one pass over K (the row's dot product with v,
 * then u_i times the row into the column sums while the row is in cache): no exponential, and the
 * cost matrix is not read. The column error of the plan with exact rows, sum_j |v_j colsum_j - b_j|
 * (or its L2 norm), is the stopping rule's, as in the log domain.
 *
 * Stabilization. When a scaling leaves [1 / TAU, TAU] it is absorbed into the log-potentials
 * (fs += log u, gs += log v, u = v = 1) and K is rebuilt (one exponential per entry). A row sum
 * sum_j K_ij v_j outside [LO, HI] (the first iteration at a small eps relative to the costs, where
 * every entry of a far row underflows) cannot give an accurate u_i: the iteration then absorbs the
 * scalings and finishes in the log domain (each remaining row by a max-shifted log-sum-exp over the
 * cost), and K is rebuilt from the exact potentials; a column sum outside [LO, HI] likewise sets gs
 * by the log-sum-exp. A zeroed entry stands for less than exp(-700) v_j <= 1e-304 TAU = 1e-254, so a
 * sum >= LO = 1e-200 is exact to 1e-50 relative. So the result does not depend on the thresholds,
 * only the speed: each absorption costs about one log-domain iteration..
 *
 * Sparse rows. Where the clouds lie far apart relative to eps, most entries of K are exactly 0
 * (SB-CFM from 8gaussians to moons at eps 0.02 keeps about 11% of the 512 x 512 entries, N(0, I) to
 * 8 Gaussians about 60%), and a pass over the dense rows mostly multiplies zeros. When at most an
 * eighth of the entries are nonzero, each kernel build also stores them by rows (column index and
 * value), and the iterations run over those (an entry costs about five times as much there as in a
 * dense row, so the break-even is near a fifth: at 11%, 1000 iterations took 2.2 times less time). Skipping an exact zero changes no sum (K_ij v_j and
 * u_i K_ij are +0, the scalings being positive and finite), and the sparse dot product keeps the
 * dense one's 32 partial sums (one FMA per entry), their order and their reduction tree, so the
 * iterates are the same to the last bit either way (tests/test_sinkhorn_scaling.c compares them bitwise). */
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include "ad/vmath.h"
#include "internal.h"
#include "ot/sinkhorn_internal.h"

#define TAU 1e50
#define LO 1e-200
#define HI 1e200
#define KERNEL_MIN_EXPONENT -700.0
#define SPARSE_MIN_ENTRIES 4096 /* smaller kernels stay dense (mode 1): their passes are cheap anyway */

static int sparse_mode = 1;             /* vf__sinkhorn_sparse_mode */
static atomic_llong sparse_kernels = 0; /* vf__sinkhorn_sparse_kernels */

int vf__sinkhorn_sparse_mode(int mode)
{
    int old = sparse_mode;
    sparse_mode = mode;
    return old;
}

int64_t vf__sinkhorn_sparse_kernels(void) { return (int64_t)atomic_load(&sparse_kernels); }

/* k [m] = exp(fsi + gs[j] - ie c[j]) (0 below exp(-700)) for a row c [m] of the cost; colsum (NULL
 * to skip) [m] += k. */
VF_HOT static void kernel_row(int64_t m, const double *restrict c, const double *restrict gs, double fsi, double ie,
                              double *restrict k, double *restrict colsum)
{
    for (int64_t j = 0; j < m; j++) {
        double x = fsi + gs[j] - ie * c[j];
        double e = vf__exp_neg_d(x);
        k[j] = x < KERNEL_MIN_EXPONENT ? 0.0 : e;
    }
    if (colsum)
        for (int64_t j = 0; j < m; j++) colsum[j] += k[j];
}

/* Eight doubles: one AVX-512 register, two AVX2 ones (the clones of VF_HOT pick the width). */
typedef double dvec8 __attribute__((vector_size(64)));

/* x = p[0..7], unaligned (a macro: a function returning dvec8 would change the ABI per clone) */
#define LOAD8(x, p) memcpy(&(x), (p), sizeof(x))

/* The sum of the 32 partial sums of a row's dot product by a fixed tree (the same for the dense and
 * the sparse rows). */
static inline double sum_partials(const double acc[32])
{
    double t[8];
    for (int l = 0; l < 8; l++) t[l] = (acc[l] + acc[l + 16]) + (acc[l + 8] + acc[l + 24]);
    return ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
}

/* sum_j k[j] v[j] in 32 partial sums (column j goes to sum j mod 32, in order) held in four vectors:
 * four independent FMA chains, so the loop runs at the FMA units' throughput rather than one FMA's
 * latency per 8 entries (with one chain of 8 partial sums this dot product was 55% of an SB-CFM
 * training step). The last m mod 32 columns go through a zero-padded copy (0 x 0 changes no sum), so
 * that every column takes the same path as in row_dot_sparse: a tail loop of its own was vectorized
 * by GCC as products and in-order additions, not FMAs, and rounded differently. */
VF_HOT static double row_dot(int64_t m, const double *restrict k, const double *restrict v)
{
    dvec8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (int64_t j = 0; j < m; j += 32) {
        dvec8 k0, k1, k2, k3, v0, v1, v2, v3;
        const double *kj = k + j, *vj = v + j;
        double kt[32], vt[32];
        if (j + 32 > m) { /* the last columns */
            memset(kt, 0, sizeof kt), memset(vt, 0, sizeof vt);
            memcpy(kt, kj, (size_t)(m - j) * sizeof *kt), memcpy(vt, vj, (size_t)(m - j) * sizeof *vt);
            kj = kt, vj = vt;
        }
        LOAD8(k0, kj), LOAD8(k1, kj + 8), LOAD8(k2, kj + 16), LOAD8(k3, kj + 24);
        LOAD8(v0, vj), LOAD8(v1, vj + 8), LOAD8(v2, vj + 16), LOAD8(v3, vj + 24);
        a0 += k0 * v0, a1 += k1 * v1, a2 += k2 * v2, a3 += k3 * v3;
    }
    double acc[32];
    memcpy(acc, &a0, sizeof a0), memcpy(acc + 8, &a1, sizeof a1);
    memcpy(acc + 16, &a2, sizeof a2), memcpy(acc + 24, &a3, sizeof a3);
    return sum_partials(acc);
}

/* colsum [m] += r k[j]. */
VF_HOT static void row_axpy(int64_t m, const double *restrict k, double r, double *restrict colsum)
{
    for (int64_t j = 0; j < m; j++) colsum[j] += r * k[j];
}

/* sum_j k[j] v[j] c[j]: a row's share of <P, C> before the factor u_i. */
VF_HOT static double row_cost(int64_t m, const double *restrict k, const double *restrict v, const double *restrict c)
{
    double acc[4] = {0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 4 <= m; j += 4)
        for (int q = 0; q < 4; q++) acc[q] += k[j + q] * v[j + q] * c[j + q];
    double s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
    for (; j < m; j++) s += k[j] * v[j] * c[j];
    return s;
}

/* ---- the kernel's nonzero entries by rows ------------------------------------------------------- */
typedef struct sparse_kernel {
    int64_t cap;    /* entries col and val hold (0: none allocated, the kernel stays dense) */
    int64_t *start; /* [n + 1]: row i's entries are start[i] .. start[i + 1] - 1, by increasing column */
    int32_t *col;   /* [cap] */
    double *val;    /* [cap] */
    int active;     /* 1 when they hold the current kernel */
} sparse_kernel;

/* Room for an eighth of the entries (all of them in mode 2), or none: in mode 0, for a small kernel,
 * or when the memory is not there (the dense rows then serve). */
static void sparse_open(sparse_kernel *sp, int64_t n, int64_t m)
{
    memset(sp, 0, sizeof *sp);
    if (sparse_mode == 0 || m > INT32_MAX || (sparse_mode == 1 && n * m < SPARSE_MIN_ENTRIES)) return;
    int64_t cap = sparse_mode == 2 ? n * m : n * m / 8;
    char *p = vf_malloc((size_t)(n + 1) * sizeof(int64_t) + (size_t)cap * (sizeof(double) + sizeof(int32_t)));
    if (!p) {
        vf_clear_error();
        return;
    }
    sp->start = (int64_t *)(void *)p;
    sp->val = (double *)(void *)(sp->start + n + 1);
    sp->col = (int32_t *)(void *)(sp->val + cap);
    sp->cap = cap;
}

/* The same sum as row_dot (k [m] dense) over row k's nonzero entries (col, val [nnz]): entry q goes to
 * partial sum col[q] mod 32, in column order, and the 32 sums are reduced by the same tree. */
VF_HOT static double row_dot_sparse(int64_t nnz, const int32_t *restrict col, const double *restrict val,
                                    const double *restrict v)
{
    double acc[32] = {0};
    for (int64_t q = 0; q < nnz; q++) acc[col[q] & 31] += val[q] * v[col[q]];
    return sum_partials(acc);
}

/* colsum [m] += r k over the row's nonzero entries. */
VF_HOT static void row_axpy_sparse(int64_t nnz, const int32_t *restrict col, const double *restrict val, double r,
                                   double *restrict colsum)
{
    for (int64_t q = 0; q < nnz; q++) colsum[col[q]] += r * val[q];
}

/* Row i of K dotted with v [m], from the sparse rows when they hold K, else from the dense ones. */
static double kernel_row_dot(const sparse_kernel *sp, const double *K, int64_t m, int64_t i, const double *v)
{
    if (!sp->active) return row_dot(m, K + i * m, v);
    int64_t q0 = sp->start[i];
    return row_dot_sparse(sp->start[i + 1] - q0, sp->col + q0, sp->val + q0, v);
}

/* colsum [m] += r K[i, :], the same way. */
static void kernel_row_axpy(const sparse_kernel *sp, const double *K, int64_t m, int64_t i, double r, double *colsum)
{
    if (!sp->active) {
        row_axpy(m, K + i * m, r, colsum);
        return;
    }
    int64_t q0 = sp->start[i];
    row_axpy_sparse(sp->start[i + 1] - q0, sp->col + q0, sp->val + q0, r, colsum);
}

/* K from (fs, gs); colsum (NULL to skip) [m] = K^T 1. With room in sp, its nonzero entries also go
 * there, row by row while the row is in cache (sp->active: they fitted). */
static void build_kernel(vf__sk_work *w, double ie, double *colsum, sparse_kernel *sp)
{
    const int64_t n = w->n, m = w->m;
    if (colsum) memset(colsum, 0, (size_t)m * sizeof *colsum);
    int64_t q = 0;
    sp->active = sp->cap > 0;
    for (int64_t i = 0; i < n; i++) {
        double *k = w->kernel + i * m;
        kernel_row(m, w->cost + i * m, w->gs, w->fs[i], ie, k, colsum);
        if (!sp->active) continue;
        sp->start[i] = q;
        for (int64_t j = 0; j < m; j++) {
            if (k[j] == 0) continue;
            if (q == sp->cap) { /* too many: the dense rows serve */
                sp->active = 0;
                break;
            }
            sp->col[q] = (int32_t)j;
            sp->val[q++] = k[j];
        }
    }
    if (sp->active) {
        sp->start[n] = q;
        atomic_fetch_add_explicit(&sparse_kernels, 1, memory_order_relaxed);
    }
}

/* fs += log u, gs += log v, u = v = 1: the same potentials, a kernel to rebuild. */
static void absorb(vf__sk_work *w)
{
    for (int64_t i = 0; i < w->n; i++) w->fs[i] += log(w->u[i]), w->u[i] = 1;
    for (int64_t j = 0; j < w->m; j++) w->gs[j] += log(w->v[j]), w->v[j] = 1;
}

/* gs = lb - log sum_i exp(fs_i - C_ij / eps): exact columns for the row potentials fs. */
static void exact_columns(vf__sk_work *w, double ie)
{
    vf__sinkhorn_col_lse(w->n, w->m, w->cost, w->fs, ie, w->colsum, w->e);
    for (int64_t j = 0; j < w->m; j++) w->gs[j] = w->lb[j] - w->colsum[j];
}

void vf__sinkhorn_scaling_stage(vf__sk_work *w, double eps, double tol, const vf_sinkhorn_options *o, int64_t max_it,
                                int64_t *it, double *err, double *cost)
{
    const int64_t n = w->n, m = w->m;
    const double ie = 1.0 / eps;
    double *K = w->kernel, *u = w->u, *v = w->v, *colsum = w->colsum;
    sparse_kernel sp;
    sparse_open(&sp, n, m);
    exact_columns(w, ie);
    for (int64_t i = 0; i < n; i++) u[i] = 1;
    for (int64_t j = 0; j < m; j++) v[j] = 1;
    build_kernel(w, ie, NULL, &sp);
    int64_t k = 0;
    for (;;) {
        /* rows exact: u_i = a_i / (K v)_i, and colsum = K^T u in the same pass */
        memset(colsum, 0, (size_t)m * sizeof *colsum);
        int64_t bad = n;
        for (int64_t i = 0; i < n; i++) {
            double s = kernel_row_dot(&sp, K, m, i, v);
            if (!(s >= LO && s <= HI)) {
                bad = i;
                break;
            }
            u[i] = w->a[i] / s;
            kernel_row_axpy(&sp, K, m, i, u[i], colsum);
        }
        if (bad < n) { /* rows bad.. in the log domain, then the kernel of the exact rows */
            absorb(w);
            for (int64_t i = bad; i < n; i++)
                w->fs[i] = w->la[i] - vf__sinkhorn_row_lse(m, w->cost + i * m, w->gs, 0, ie, w->e);
            build_kernel(w, ie, colsum, &sp);
        }
        k++;
        (*it)++;
        double e1 = 0, e2 = 0;
        for (int64_t j = 0; j < m; j++) {
            double d = v[j] * colsum[j] - w->b[j];
            e1 += fabs(d);
            e2 += d * d;
        }
        *err = o->error_norm == 2 ? sqrt(e2) : e1;
        if (!isfinite(*err) || ((k - 1) % o->check_every == 0 && *err <= tol) || *it >= max_it) {
            double pc = 0;
            for (int64_t i = 0; i < n; i++) pc += u[i] * row_cost(m, K + i * m, v, w->cost + i * m);
            *cost = pc;
            absorb(w);
            vf_free(sp.start);
            return;
        }
        /* columns exact: v_j = b_j / (K^T u)_j */
        int poor = 0;
        for (int64_t j = 0; j < m; j++) poor |= !(colsum[j] >= LO && colsum[j] <= HI);
        if (poor) {
            for (int64_t i = 0; i < n; i++) w->fs[i] += log(u[i]), u[i] = 1;
            for (int64_t j = 0; j < m; j++) v[j] = 1;
            exact_columns(w, ie);
            build_kernel(w, ie, NULL, &sp);
            continue;
        }
        int out = 0;
        for (int64_t j = 0; j < m; j++) {
            v[j] = w->b[j] / colsum[j];
            out |= !(v[j] >= 1 / TAU && v[j] <= TAU);
        }
        for (int64_t i = 0; i < n; i++) out |= !(u[i] >= 1 / TAU && u[i] <= TAU);
        if (out) {
            absorb(w);
            build_kernel(w, ie, NULL, &sp);
        }
    }
}
