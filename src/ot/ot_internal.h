/* ot_internal.h — helpers shared by the kernel Stein discrepancy and the particle flows (src/ot/). */
#ifndef VF_OT_INTERNAL_H
#define VF_OT_INTERNAL_H

#include "internal.h"

/* The median of the squared distances between the distinct pairs of the first min(n, max_points)
 * rows of x [n, d] (the mean of the two middle values for an even count), by selection in O(p^2).
 * work: p (p - 1) / 2 doubles, or NULL to allocate. VF_ERR_ARG when fewer than 2 rows. */
vf_status vf__median_sq_distance(int64_t n, int64_t d, const vf_real *x, int64_t max_points, double *work,
                                 double *out);

/* The k-th smallest (0-based) of a [n], reordering a (Hoare's selection, expected O(n)). */
double vf__select_kth(double *a, int64_t n, int64_t k);

/* theta [d]: a uniformly random unit vector (normalized N(0, I) draw). */
void vf__random_direction(vf_rng *r, int64_t d, double *theta);

#endif
