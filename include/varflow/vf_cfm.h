/* vf_cfm.h — conditional flow matching with a vector field: the regression loss on a probability
 * path, and transport of points by integrating the field.
 *
 * Usage (one I-CFM training step, then sampling)
 *   vf_path path = vf_path_default(VF_PATH_LINEAR); path.sigma = 0.1;
 *   vf_cfm_batch b = {n, d, x0, x1, t, z, NULL, NULL};       // x0 source, x1 data, t ~ U(0, 1), z ~ N(0, I)
 *   vf_var loss = vf_cfm_loss(v, p, tape, &path, &b);  // mean over rows of |v(x_t, t) - u_t|^2
 *   vf_backward(tape, loss); vf_adam_step(...);
 *
 *   vf_ode_options o = vf_ode_default_options(); o.solver = VF_SOLVER_EULER; o.steps = 100;
 *   vf_cfm_transport(v, p, NULL, n, x, NULL, NULL, 0.0, 1.0, &o, &stats);   // x [n, d]: source -> samples
 *
 * The loss is the squared error summed over dimensions and averaged over rows (torchcfm's and
 * Lipman et al.'s convention up to the factor d). Transport evaluates the field on a tape of its own
 * (or the caller's, reset at every evaluation) in inference mode, in blocks of VF_EVAL_BLOCK_ROWS
 * rows, so memory stays bounded for any n; any fixed-step or adaptive solver of vf_ode.h works, and
 * time may run backwards (t0 = 1, t1 = 0 maps data to the source).
 */
#ifndef VF_CFM_H
#define VF_CFM_H

#include "vf_ode.h"
#include "vf_paths.h"
#include "vf_vfield.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vf_cfm_batch {
    int64_t n, d;
    const vf_real *x0;       /* [n, d] source points */
    const vf_real *x1;       /* [n, d] target points, paired with x0 row by row (the coupling) */
    const vf_real *t;        /* [n] times in [0, 1] ((0, 1) for paths with open ends) */
    const vf_real *z;        /* [n, d] N(0, I) noise, or NULL for a noiseless path */
    const int64_t *labels;   /* [n] class labels for a labelled field, or NULL (the null label) */
    const vf_real *context;  /* [n, c] for a field with a context, else NULL */
} vf_cfm_batch;

/* mean_i |v(x_t_i, t_i, label_i) - u_t_i|^2 on the path: a scalar on the tape. Errors (bad path,
 * shapes, labels) are recorded on the tape. */
vf_var vf_cfm_loss(const vf_vfield *v, vf_params *p, vf_tape *t, const vf_path *path, const vf_cfm_batch *b);

/* x [n, d] carried from t0 to t1 along dx/dt = v(x, t, label) (a field without a second time); tape
 * NULL: one of its own. labels [n] or NULL; context [n, c] or NULL for a field with a context. */
vf_status vf_cfm_transport(const vf_vfield *v, vf_params *p, vf_tape *tape, int64_t n, vf_real *x,
                           const vf_real *context, const int64_t *labels, double t0, double t1,
                           const vf_ode_options *o, vf_ode_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
