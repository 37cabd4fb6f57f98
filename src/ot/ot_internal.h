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

/* theta [d]: a uniformly random unit vector (normalized N(0, I) draw; directions.c). */
void vf__random_direction(vf_rng *r, int64_t d, double *theta);
/* The generator stream of the sliced distances' directions (vf_rng_init(&r, seed, this)). */
#define VF__DIRECTIONS_STREAM 0x534c4943u

/* ---- particle-flow directions (particles_*.c), each for x [n, d] ---------------------------- */

/* SVGD's direction phi [n, d] (Liu & Wang 2016) with the RBF kernel exp(-r^2 / (2 sigma2)):
 *   phi_i = (1/n) sum_j k(x_j, x_i) s_j + k(x_j, x_i) (x_i - x_j) / sigma2,   s [n, d] the scores. */
void vf__svgd_phi(int64_t n, int64_t d, const vf_real *x, const double *s, double sigma2, double *phi);

/* The MMD flow's gradient grad [n, d] for the negative distance kernel toward y [m, d]:
 *   grad_i = mean_j (x_i - y_j) / |x_i - y_j| - mean_k (x_i - x_k) / |x_i - x_k|
 * (the Wasserstein gradient of F = E|X - Y| - E|X - X'| / 2 = MMD^2 / 2 + const). slices = 0: this
 * sum exactly, O(n m d); slices > 0: its sliced estimate c_d mean_l g_l(<theta_l, x_i>) theta_l over
 * `slices` random directions, g_l the 1-D gradient from ranks (sorting), O(slices (n + m) log(n + m)).
 * work: vf__sliced_work_doubles(n, m, d) doubles. */
size_t vf__sliced_work_doubles(int64_t n, int64_t m, int64_t d);
vf_status vf__mmd_flow_grad(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, int64_t slices,
                            vf_rng *r, double *work, double *grad);

/* The sliced-Wasserstein flow's velocity v [n, d] (Liutkus et al. 2019) toward y [m, d]:
 *   v_i = (d / L) sum_l (Q_l((rank_l(i) + 1/2) / n) - <theta_l, x_i>) theta_l,
 * Q_l the quantile function of the projected y (linear between the sorted values at (j + 1/2) / m), L = slices >= 1 (the factor d makes the
 * expected step over random directions the full 1-D displacement). */
vf_status vf__swf_velocity(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, int64_t slices,
                           vf_rng *r, double *work, double *v);

#endif
