/* sinkhorn_internal.h — what the entropic OT files (sinkhorn*.c) share (private).
 *
 * Usage
 *   vf_status s = vf__sinkhorn_check("sinkhorn_unbalanced", n, m, cost, a, b, eps, 0);   // argument checks
 *   vf__sinkhorn_col_lse(n, m, cost, fs, 1 / eps, lse, tmp);   // lse_j = log sum_i exp(fs_i - C_ij / eps)
 */
#ifndef VF_SINKHORN_INTERNAL_H
#define VF_SINKHORN_INTERNAL_H

#include <stdint.h>
#include "varflow.h"
#include "varflow/vf_ot.h"

/* VF_ERR_ARG (message prefixed by who) unless n, m >= 1, cost [n, m] finite, eps > 0 and finite, and
 * a [n], b [m] (either may be NULL) positive, finite and, with normalized, summing to 1 within 1e-9. */
vf_status vf__sinkhorn_check(const char *who, int64_t n, int64_t m, const double *cost, const double *a,
                             const double *b, double eps, int normalized);

/* log sum_j exp(fsi + gs[j] - ie c[j]) over a row c [m] by the max-shifted log-sum-exp; e [m] scratch. */
double vf__sinkhorn_row_lse(int64_t m, const double *c, const double *gs, double fsi, double ie, double *e);

/* lse [m] = log sum_i exp(fs[i] - ie cost[i, j]) by a max-shifted log-sum-exp that streams the rows
 * of cost [n, m] (two passes); tmp [m] scratch. */
void vf__sinkhorn_col_lse(int64_t n, int64_t m, const double *cost, const double *fs, double ie, double *lse,
                          double *tmp);

/* The balanced solver's state (sinkhorn.c). Potentials are kept divided by eps: fs = f / eps,
 * gs = g / eps; la, lb the log weights, b their exponentials. The scaling method (sinkhorn_scaling.c)
 * also holds the kernel K [n, m] = exp(fs_i + gs_j - C_ij / eps) (0 where that is below exp(-700))
 * and the scalings u [n], v [m] (the plan is u_i K_ij v_j); the other pointers it leaves NULL. */
typedef struct vf__sk_work {
    int64_t n, m;
    const double *cost;
    double *fs, *gs, *la, *lb, *e, *colsum, *pc; /* [n], [m], [n], [m], [max(n, m)], [m], [m] */
    double *a, *b;                               /* [n], [m] */
    double *kernel, *u, *v;                          /* [n, m], [n], [m]: scaling only */
} vf__sk_work;

/* One eps stage of the scaling method: iterations at eps until the marginal error (checked as o says)
 * is <= tol or *it reaches max_it, with run_stage's contract in sinkhorn.c: on entry fs holds the row
 * potentials (g is computed exactly from them); on return (fs, gs) is the last plan with exact rows,
 * *err its column error and *cost its <P, C>. */
void vf__sinkhorn_scaling_stage(vf__sk_work *w, double eps, double tol, const vf_sinkhorn_options *o, int64_t max_it,
                                int64_t *it, double *err, double *cost);

/* Test hook: when the scaling method iterates over the kernel's nonzero entries instead of its dense
 * rows. 0: never; 1: when at most an eighth of the entries are nonzero (the default); 2: always.
 * Returns the previous mode. The result is the same to the last bit either way. */
int vf__sinkhorn_sparse_mode(int mode);

/* Test hook: the number of kernels the scaling method has iterated over sparsely so far. */
int64_t vf__sinkhorn_sparse_kernels(void);

#endif
