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
 * only the speed: each absorption costs about one log-domain iteration. */
#include <math.h>
#include <string.h>
#include "ad/vmath.h"
#include "internal.h"
#include "ot/sinkhorn_internal.h"

#define TAU 1e50
#define LO 1e-200
#define HI 1e200
#define KERNEL_MIN_EXPONENT -700.0

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

/* sum_j k[j] v[j] with 32 partial sums in four vectors: four independent FMA chains, so the loop runs
 * at the FMA units' throughput rather than one FMA's latency per 8 entries (with one chain of 8 partial
 * sums this dot product was 55% of an SB-CFM training step), reduced in registers by a fixed tree. */
VF_HOT static double row_dot(int64_t m, const double *restrict k, const double *restrict v)
{
    dvec8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    int64_t j = 0;
    for (; j + 32 <= m; j += 32) {
        dvec8 k0, k1, k2, k3, v0, v1, v2, v3;
        LOAD8(k0, k + j), LOAD8(k1, k + j + 8), LOAD8(k2, k + j + 16), LOAD8(k3, k + j + 24);
        LOAD8(v0, v + j), LOAD8(v1, v + j + 8), LOAD8(v2, v + j + 16), LOAD8(v3, v + j + 24);
        a0 += k0 * v0, a1 += k1 * v1, a2 += k2 * v2, a3 += k3 * v3;
    }
    dvec8 t = (a0 + a2) + (a1 + a3);
    double l[8];
    memcpy(l, &t, sizeof l);
    double s = ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
    for (; j < m; j++) s += k[j] * v[j];
    return s;
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

/* K from (fs, gs); colsum (NULL to skip) [m] = K^T 1. */
static void build_kernel(vf__sk_work *w, double ie, double *colsum)
{
    const int64_t n = w->n, m = w->m;
    if (colsum) memset(colsum, 0, (size_t)m * sizeof *colsum);
    for (int64_t i = 0; i < n; i++) kernel_row(m, w->cost + i * m, w->gs, w->fs[i], ie, w->kernel + i * m, colsum);
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
    exact_columns(w, ie);
    for (int64_t i = 0; i < n; i++) u[i] = 1;
    for (int64_t j = 0; j < m; j++) v[j] = 1;
    build_kernel(w, ie, NULL);
    int64_t k = 0;
    for (;;) {
        /* rows exact: u_i = a_i / (K v)_i, and colsum = K^T u in the same pass */
        memset(colsum, 0, (size_t)m * sizeof *colsum);
        int64_t bad = n;
        for (int64_t i = 0; i < n; i++) {
            double s = row_dot(m, K + i * m, v);
            if (!(s >= LO && s <= HI)) {
                bad = i;
                break;
            }
            u[i] = w->a[i] / s;
            row_axpy(m, K + i * m, u[i], colsum);
        }
        if (bad < n) { /* rows bad.. in the log domain, then the kernel of the exact rows */
            absorb(w);
            for (int64_t i = bad; i < n; i++)
                w->fs[i] = w->la[i] - vf__sinkhorn_row_lse(m, w->cost + i * m, w->gs, 0, ie, w->e);
            build_kernel(w, ie, colsum);
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
            return;
        }
        /* columns exact: v_j = b_j / (K^T u)_j */
        int poor = 0;
        for (int64_t j = 0; j < m; j++) poor |= !(colsum[j] >= LO && colsum[j] <= HI);
        if (poor) {
            for (int64_t i = 0; i < n; i++) w->fs[i] += log(u[i]), u[i] = 1;
            for (int64_t j = 0; j < m; j++) v[j] = 1;
            exact_columns(w, ie);
            build_kernel(w, ie, NULL);
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
            build_kernel(w, ie, NULL);
        }
    }
}
