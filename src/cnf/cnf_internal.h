/* cnf_internal.h — private helpers of the continuous-flow model (cnf_box.c). */
#ifndef VF_CNF_INTERNAL_H
#define VF_CNF_INTERNAL_H

#include "varflow/vf_cnf_model.h"

/* 1 when the box is on (hi > lo). */
int vf__cnf_box_on(const vf_cnf_box *b);
/* x [n, d] -> y [n, d] = the logits (x and y may be the same array); logdet [n] = sum_j log dy/dx;
 * outside [n] = 1 for a row with a value outside the support (its y values there are set to 0 and
 * left out of logdet), else 0. */
void vf__cnf_box_to_field(const vf_cnf_box *b, int64_t n, int64_t d, const vf_real *x, vf_real *y, double *logdet,
                          unsigned char *outside);
/* yx [n, d]: logits y in, data x out (in place); logdet [n] (may be NULL) = sum_j log dy/dx at those
 * points, so that log p(x) = log p(y) + logdet. */
void vf__cnf_box_from_field(const vf_cnf_box *b, int64_t n, int64_t d, vf_real *yx, double *logdet);

#endif
