/* vf_cfm.h — conditional flow matching with a vector field: the regression loss on a probability
 * path, and transport of points by integrating the field.
 *
 * Usage (one I-CFM training step, then sampling; MeanFlow below works the same way with
 * vf_meanflow_times and vf_meanflow_loss, then vf_meanflow_sample)
 *   vf_path path = vf_path_default(VF_PATH_LINEAR); path.sigma = 0.1;
 *   vf_cfm_batch b = {n, d, x0, x1, t, z, NULL, NULL};       // x0 source, x1 data, t ~ U(0, 1), z ~ N(0, I)
 *   vf_var loss = vf_cfm_loss(v, p, tape, &path, &b);  // mean over rows of |v(x_t, t) - u_t|^2
 *   vf_backward(tape, loss); vf_adam_step(...);
 *
 *   vf_ode_options o = vf_ode_default_options(); o.solver = VF_SOLVER_EULER; o.steps = 100;
 *   vf_cfm_transport(v, p, NULL, n, x, NULL, NULL, 0.0, 1.0, &o, &stats);   // x [n, d]: source -> samples
 *
 *   vf_cfm_density_options dop = vf_cfm_density_default_options();            // exact divergence
 *   vf_cfm_log_prob(v, p, NULL, n, x, NULL, NULL, 0.0, 1.0, &o, &dop, lp, &stats);  // lp [n] = log p(x)
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

/* The score-matching loss of [SF]2M (Tong et al. 2024) and stochastic interpolants (Albergo et al.
 * 2023) for a second field s(x, t) that learns the score of the path's marginals: with the
 * conditional score -z / g(t) weighted by lambda(t) = g(t),
 *   mean_i |g(t_i) s(x_t_i, t_i) + z_i|^2   (summed over dimensions),
 * minimized by the marginal score grad log p_t. b->z is required, and every row's g(t_i) must be
 * > 0 (paths with noise: bridge, si_sqrt, si_sin2, linear with sigma > 0; VF_ERR_ARG otherwise). */
vf_var vf_cfm_score_loss(const vf_vfield *s, vf_params *p, vf_tape *t, const vf_path *path, const vf_cfm_batch *b);

/* x [n, d] carried from t0 to t1 along dx/dt = v(x, t, label) (a field without a second time); tape
 * NULL: one of its own. labels [n] or NULL; context [n, c] or NULL for a field with a context. */
vf_status vf_cfm_transport(const vf_vfield *v, vf_params *p, vf_tape *tape, int64_t n, vf_real *x,
                           const vf_real *context, const int64_t *labels, double t0, double t1,
                           const vf_ode_options *o, vf_ode_stats *stats);

/* ---- MeanFlow: average velocities for one- and few-step sampling ------------------------------
 * MeanFlow (Geng et al. 2025) learns the average velocity u(x, s, e) = (x_e - x_s) / (e - s) of the
 * flow between times s <= e, as a function of the start point x = x_s (this library's direction:
 * source at 0, data at 1), so that one step x_e = x_s + (e - s) u(x_s, s, e) replaces the ODE solve.
 * Differentiating x_e - x_s = (e - s) u along the trajectory in s gives the training target
 *   u(x_s, s, e) = v(x_s, s) + (e - s) d/ds u(x_s, s, e),   d/ds u = v . grad_x u + du/ds,
 * with v the conditional velocity x1 - x0 of the linear path and d/ds u one forward-mode JVP of the
 * network with tangents (v, 1, 0) on (x, s, e). The loss is the squared error against that target
 * held constant (no gradient through it), summed over dimensions and averaged over rows. The field
 * must be made with two_times = 1: its `time` input is s and its `r` input is e. At e = s the target
 * is v itself, plain flow matching.
 *
 * The paper's training choices are options (vf_meanflow_options; the defaults are what trained best
 * on 2-D data, docs/cnf.md):
 *   - adaptive loss weighting: each row's error e_i = |u - target|^2 is weighted by the constant
 *     w_i = 1 / (e_i + c)^p (no gradient through w) and the loss is mean_i w_i e_i. The paper's p = 1,
 *     c = 1e-3 is a robust, mode-seeking loss: where x_s leaves the velocity very uncertain (noise to
 *     a multimodal target) its minimizer is not the conditional mean, and on 2-D mixtures it trained
 *     worse than the plain squared error, so the default is p = 0 (p = 1/2: pseudo-Huber);
 *   - times (vf_meanflow_times): two draws from U(0, 1) (default) or a logit-normal
 *     sigmoid(N(mu, sigma^2)), s the smaller and e the larger; then on a fraction 1 - p_distinct of
 *     the rows e is set to s (plain flow matching rows). The paper found 25% of rows with s != e best
 *     (p_distinct = 0.25, the default). Its time runs the other way (data at 0), so its logit-normal
 *     (mu, sigma) = (-0.4, 1) is mu = +0.4 here. */
typedef enum vf_meanflow_time_dist {
    VF_MEANFLOW_TIME_UNIFORM = 0,      /* s, e from U(0, 1) */
    VF_MEANFLOW_TIME_LOGIT_NORMAL      /* s, e from sigmoid(N(mu, sigma^2)) */
} vf_meanflow_time_dist;

typedef struct vf_meanflow_options {
    double weight_p;                 /* adaptive weighting power p >= 0 (default 0: plain squared error) */
    double weight_c;                 /* its constant c > 0 (default 1e-3) */
    vf_meanflow_time_dist time_dist; /* default VF_MEANFLOW_TIME_UNIFORM */
    double time_mu, time_sigma;      /* logit-normal parameters (default 0.4, 1: the paper's) */
    double p_distinct;               /* fraction of rows with s != e, 0..1 (default 0.25) */
} vf_meanflow_options;

vf_meanflow_options vf_meanflow_default_options(void);

/* s [n], e [n]: training times by o (NULL: the defaults), 0 <= s <= e <= 1. VF_ERR_ARG for bad
 * options or arguments. */
vf_status vf_meanflow_times(const vf_meanflow_options *o, int64_t n, vf_rng *r, vf_real *s, vf_real *e);

typedef struct vf_meanflow_batch {
    int64_t n, d;
    const vf_real *x0, *x1;  /* [n, d] source and target, coupled row by row */
    const vf_real *s, *e;    /* [n] start and end times, 0 <= s <= e <= 1 */
    const int64_t *labels;   /* [n] or NULL */
    const vf_real *context;  /* [n, c] or NULL */
    const vf_meanflow_options *options; /* loss weighting (weight_p, weight_c); NULL: the defaults */
} vf_meanflow_batch;

/* mean_i w_i |u(x_s_i, s_i, e_i) - target_i|^2 (see above): a scalar on the tape. */
vf_var vf_meanflow_loss(const vf_vfield *v, vf_params *p, vf_tape *t, const vf_meanflow_batch *b);

/* x [n, d] from time 0 to 1 in `steps` equal jumps x <- x + h u(x, s, s + h) (steps = 1: one network
 * evaluation per row). tape NULL: one of its own. */
vf_status vf_meanflow_sample(const vf_vfield *v, vf_params *p, vf_tape *tape, int64_t n, vf_real *x,
                             const vf_real *context, const int64_t *labels, int64_t steps);

/* ---- couplings: which source point trains with which target point -------------------------------
 * Given a minibatch of sources x0 [n, d] and targets x1 [n, d], a coupling returns n index pairs
 * (i0[k], i1[k]); the k-th training pair is (x0[i0[k]], x1[i1[k]]).
 *   VF_COUPLING_INDEPENDENT  the rows as they come (i0 = i1 = identity): I-CFM, FM, RF, SI
 *   VF_COUPLING_OT           exact minibatch OT for the squared Euclidean cost (a permutation, never
 *                            with replacement; vf_ot_pairs_sqeuclidean): OT-CFM
 *   VF_COUPLING_SINKHORN     n pairs drawn with replacement from the entropic plan at eps (absolute,
 *                            in units of the squared distance; SB-CFM uses 2 sigma^2): SB-CFM, [SF]2M.
 *                            The plan is Sinkhorn's after at most max_iter iterations (marginals to
 *                            1e-6, or as close as a small eps gets in that many), by kernel scalings
 *                            (VF_SINKHORN_SCALING, vf_ot.h)
 * With labels1 [n] (the targets' class labels) OT and Sinkhorn couple within each class only: the
 * sources (i.i.d. noise) are split into groups of the classes' sizes in row order, and each group is
 * coupled with its class; i1 then lists every target once (OT) and a pair's label is labels1[i1[k]]. */
typedef enum vf_coupling_kind { VF_COUPLING_INDEPENDENT = 0, VF_COUPLING_OT, VF_COUPLING_SINKHORN } vf_coupling_kind;

typedef struct vf_coupling {
    vf_coupling_kind kind;
    double eps;            /* Sinkhorn's regularization (default 2 * 0.1^2 = 0.02) */
    int64_t max_iter;      /* Sinkhorn's iteration limit (default 10000; POT's sinkhorn, which torchcfm calls,
                            * stops at 1000). Each iteration is a pass over the n x n kernel (over its nonzero
                            * entries where few are): a small eps relative to the costs needs many */
} vf_coupling;

vf_coupling vf_coupling_default(vf_coupling_kind kind);
/* "independent", "ot", "sinkhorn"; -1 for an unknown name. */
int vf_coupling_from_name(const char *name);

/* i0, i1 [n]: the pairs. r: random numbers for Sinkhorn's draws (may be NULL otherwise). */
vf_status vf_coupling_pairs(const vf_coupling *c, int64_t n, int64_t d, const vf_real *x0, const vf_real *x1,
                            const int64_t *labels1, vf_rng *r, int64_t *i0, int64_t *i1);

/* ---- classifier-free guidance ---------------------------------------------------------------
 * Training drops each row's label to the null label (index `classes`) with probability p_drop
 * (typically 0.1-0.2), so one field learns both v(x, t, c) and v(x, t, null). Sampling then follows
 *   v_w(x, t, c) = (1 + w) v(x, t, c) - w v(x, t, null),
 * w = 0 being the plain conditional field and larger w sharper, more typical samples of class c. */

/* out[i] = labels[i], or classes with probability p_drop (0 <= p_drop <= 1); out may equal labels. */
vf_status vf_cfm_drop_labels(int64_t n, const int64_t *labels, int64_t classes, double p_drop, vf_rng *r,
                             int64_t *out);

/* vf_cfm_transport along the guided field v_w (labels required when guidance != 0; guidance 0 is
 * vf_cfm_transport itself). Each evaluation costs two network passes when guidance != 0. */
vf_status vf_cfm_transport_guided(const vf_vfield *v, vf_params *p, vf_tape *tape, int64_t n, vf_real *x,
                                  const vf_real *context, const int64_t *labels, double guidance, double t0,
                                  double t1, const vf_ode_options *o, vf_ode_stats *stats);

/* ---- likelihood ------------------------------------------------------------------------------
 * The flow carries the standard normal source at t0 to the model's density at t1. Along a path
 * d/dt log p_t(x(t)) = -div v(x(t), t), so log p_t1(x) = log N(z; 0, I) - integral_{t0}^{t1} div v dt
 * where z is x carried back to t0. vf_cfm_log_prob solves that ODE backwards with the divergence
 * integrated alongside (the state per row is x and the running integral), by any solver of vf_ode.h.
 * The divergence is exact (d forward-mode JVPs per evaluation, one per dimension: cost d + 1 passes)
 * or Hutchinson's estimate eps^T J eps with Rademacher probes drawn once per solve from `seed` (fixed
 * along the path, so the estimate is a smooth function of time and the adaptive solver stays
 * efficient; unbiased, with Monte Carlo error shrinking as 1 / sqrt(probes)). */
typedef enum vf_divergence { VF_DIVERGENCE_EXACT = 0, VF_DIVERGENCE_HUTCHINSON } vf_divergence;

typedef struct vf_cfm_density_options {
    vf_divergence divergence;  /* default VF_DIVERGENCE_EXACT */
    int probes;                /* Hutchinson: probes per row (default 1) */
    uint64_t seed;             /* Hutchinson: the probes' seed (default 0) */
} vf_cfm_density_options;

vf_cfm_density_options vf_cfm_density_default_options(void);

/* log_prob [n] of the points x [n, d] (the model's density at t1; the source N(0, I) at t0). The
 * field is evaluated on `tape` (NULL: one of its own), which records gradients meanwhile (forward
 * mode needs them) and is reset afterwards. stats may be NULL. */
vf_status vf_cfm_log_prob(const vf_vfield *v, vf_params *p, vf_tape *tape, int64_t n, const vf_real *x,
                          const vf_real *context, const int64_t *labels, double t0, double t1,
                          const vf_ode_options *o, const vf_cfm_density_options *dop, vf_real *log_prob,
                          vf_ode_stats *stats);

/* The same ODE run the other way, for sampling with log-densities: x [n, d] carried in place from t0
 * to t1 along the field (the guided field v_w when guidance != 0; labels [n] then required), and
 * div_integral [n] = integral_{t0}^{t1} div v_w(x(t), t) dt per row, so that a source point x0 with
 * log-density log p0(x0) arrives at x1 with log p1(x1) = log p0(x0) - div_integral (any source
 * density, any direction of time; vf_cfm_log_prob is this from t1 back to t0 plus log N(z; 0, I)).
 * Divergence options and costs as vf_cfm_log_prob (twice the passes with guidance). */
vf_status vf_cfm_transport_divergence(const vf_vfield *v, vf_params *p, vf_tape *tape, int64_t n, vf_real *x,
                                      const vf_real *context, const int64_t *labels, double guidance, double t0,
                                      double t1, const vf_ode_options *o, const vf_cfm_density_options *dop,
                                      vf_real *div_integral, vf_ode_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
