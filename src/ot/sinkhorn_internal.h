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

#endif
