/* vf_paths.h — probability paths of flow matching and stochastic interpolants: given endpoints x0
 * (source) and x1 (target), a time t and Gaussian noise z, the point x_t on the path, the velocity a
 * vector field regresses onto, and, where defined, the score of the conditional path.
 *
 * Usage (one minibatch of a flow-matching step)
 *   vf_path path = vf_path_default(VF_PATH_BRIDGE);       // sigma 0.1 (SB-CFM's Brownian bridge)
 *   vf_path_sample(&path, n, d, x0, x1, t, z, xt, ut, score); // xt, ut, score [n, d]; score may be NULL
 *   ... loss = mean |v(xt, t) - ut|^2 (+ lambda(t)^2 |s(xt, t) - score|^2 for [SF]2M) ...
 *
 * Every path is x_t = a(t) x0 + b(t) x1 + g(t) z with z ~ N(0, I) (t in [0, 1] per row; x0 at t = 0,
 * x1 at t = 1) and conditional velocity u_t = a'(t) x0 + b'(t) x1 + g'(t) z:
 *
 *   VF_PATH_LINEAR    a = 1 - t, b = t, g = sigma                  (I-CFM / rectified flow; sigma may be 0)
 *   VF_PATH_LIPMAN    a = 1 - (1 - sigma) t, b = t, g = 0          (Lipman et al. 2023, sigma = sigma_min)
 *   VF_PATH_VP        a = cos(pi t / 2), b = sin(pi t / 2), g = 0  (variance preserving / trigonometric)
 *   VF_PATH_BRIDGE    a = 1 - t, b = t, g = sigma sqrt(t (1 - t))  (Brownian bridge: SB-CFM, [SF]2M)
 *   VF_PATH_SI_SQRT   a = 1 - t, b = t, g = sqrt(sigma t (1 - t))   (stochastic interpolant, Albergo et al. 2023)
 *   VF_PATH_SI_SIN2   a = 1 - t, b = t, g = sigma sin^2(pi t)       (stochastic interpolant)
 *
 * The score of the conditional path given (x0, x1) is -(x_t - a x0 - b x1) / g^2 = -z / g, defined
 * where g(t) > 0 (NaN would be its value where g = 0: those paths return VF_ERR_ARG when a score is
 * asked for at such a t, and paths with g = 0 everywhere have no score). The bridge's velocity term
 * g'(t) z is finite for t in (0, 1); at t = 0 or 1 exactly it is infinite, so times must lie in
 * (0, 1) for the bridge and VF_PATH_SI_SQRT (sample t from [eps, 1 - eps]).
 */
#ifndef VF_PATHS_H
#define VF_PATHS_H

#include "vf_core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vf_path_kind {
    VF_PATH_LINEAR = 0,
    VF_PATH_LIPMAN,
    VF_PATH_VP,
    VF_PATH_BRIDGE,
    VF_PATH_SI_SQRT,
    VF_PATH_SI_SIN2,
    VF_PATH_COUNT
} vf_path_kind;

/* "linear", "lipman", "vp", "bridge", "si_sqrt", "si_sin2"; -1 for an unknown name. */
int vf_path_from_name(const char *name);
const char *vf_path_name(vf_path_kind k);

typedef struct vf_path {
    vf_path_kind kind;
    double sigma;          /* the path's noise (or sigma_min for lipman); >= 0 */
} vf_path;

/* The kind with its usual sigma: linear 0, lipman 1e-4, vp 0, bridge 0.1, si_sqrt 1, si_sin2 1. */
vf_path vf_path_default(vf_path_kind kind);

/* The coefficients at time t: a, b, g and their time derivatives (any may be NULL). VF_ERR_ARG for an
 * unknown kind, a negative or non-finite sigma, or a t outside [0, 1] (outside (0, 1) where g' is
 * infinite at the ends). */
vf_status vf_path_coefficients(const vf_path *path, double t, double *a, double *b, double *g, double *da,
                               double *db, double *dg);

/* Per row i of n: xt[i] = a(t_i) x0[i] + b(t_i) x1[i] + g(t_i) z[i] and ut[i] = a' x0 + b' x1 + g' z;
 * score[i] = -z[i] / g(t_i) when score is not NULL. x0, x1, z, xt, ut, score are [n, d]; t is [n];
 * z may be NULL for paths whose g is zero everywhere. */
vf_status vf_path_sample(const vf_path *path, int64_t n, int64_t d, const vf_real *x0, const vf_real *x1,
                         const vf_real *t, const vf_real *z, vf_real *xt, vf_real *ut, vf_real *score);

#ifdef __cplusplus
}
#endif
#endif
