/* vf_vi.h — variational inference with normalizing flows: fit a flow q to an unnormalized target
 * p~ = Z p (vf_target.h) by the reverse KL divergence, then judge and correct it by importance sampling.
 *
 * Usage (the training loop; `varflow vi` is this plus checkpoints and logging)
 *   vf_flow *f; vf_params *p;  ... vf_flow_from_spec("nsf_coupling:transforms=8", 2, 0, p, &f) ...
 *   vf_vi *v = NULL;
 *   vf_vi_new(f, p, &target, &v);                        // borrows f, p (finalized) and target
 *   for (step ...) {
 *       vf_params_zero_grad(p);
 *       double loss;                                     // mean(log q - log p~) = -ELBO estimate
 *       if (vf_vi_grad(v, VF_VI_PATH, 256, &rng, &loss) != VF_OK) break;   // or VF_VI_RKL
 *       vf_adam_step(opt, vf_params_values(p), vf_params_grads(p));
 *   }
 *   double *logw = malloc(n * sizeof *logw);
 *   vf_vi_draw(v, n, &rng, x, logw, NULL, NULL);        // x [n, d] ~ q, logw = log p~(x) - log q(x)
 *   vf_is_stats st;
 *   vf_is_summarize(n, logw, &st);                      // log Z +- stderr, ESS, k-hat, ELBO
 *   if (st.khat > 0.7) ... the weights are too heavy-tailed to trust
 *   vf_vi_free(v);
 *
 * Objectives (loss = E_q[log q(x) - log p~(x)] = KL(q || p) - log Z >= -log Z):
 *   VF_VI_RKL   the reparameterization gradient: x = T^-1(z), z ~ base, run through the flow's sampling
 *               direction on the tape; the target enters through its gradient g = grad log p~(x) as
 *               the surrogate mean(log q(x)) - mean(<x, stop(g)>), so any vf_target works.
 *   VF_VI_PATH  the path ("sticking the landing") gradient of Roeder et al. (2017), Vaitl et al.
 *               (2024): the same minus the score term E[d/dtheta log q_theta(x)|x fixed] (zero in
 *               expectation), i.e. mean <x, stop(grad_x log q(x) - g)> differentiated through the
 *               sampling pass; grad_x log q is computed by a second, density-direction pass at the
 *               drawn x whose parameter gradients are discarded. It vanishes when q = p, so its
 *               variance does too near convergence. Rows whose grad_x log q is not finite (a draw
 *               that rounds onto a box boundary in a float build) contribute only through g.
 *   VF_VI_FKL   forward KL(p || q) from q's own draws (no draws of p needed): the gradient
 *               -sum_i w~_i d/dtheta log q_theta(x_i) with x_i fixed and the self-normalized weights
 *               w~ = softmax(log p~ - log q) held constant (stop-gradient); log q at the draws is a
 *               second, density-direction pass. Mass-covering, but only as good as q's coverage.
 *   VF_VI_CHI2  the chi^2 (alpha = 2) divergence through the CUBO 1/2 log E_q[w^2] (mass-covering):
 *               since d/dtheta E_q[w^2] = -E_q[w^2 d/dtheta log q], the gradient -1/2 sum_i v_i
 *               d/dtheta log q_theta(x_i) at fixed draws with v = softmax(2 log w) (log-sum-exp form,
 *               stop-gradient), computed as fkl's. (The reparameterization form of this gradient,
 *               which moves the draws, drifts q away from p: a batch far from p has tiny weights and
 *               a falling batch estimate, so it is not used.)
 * A temperature beta (vf_vi_set_beta) replaces log p~ by beta log p~ in every objective but fab (whose AIS targets p~^2 / q itself).
 *   VF_VI_FAB   Flow Annealed importance sampling Bootstrap (Midgley et al. 2023): minimizes the
 *               alpha = 2 divergence D_2(p || q), mass-covering. Each call runs annealed importance
 *               sampling from n draws of q toward p~^2 / q (8 levels, one 3-step HMC transition each,
 *               step sizes adapted toward acceptance 0.65), stores the points and their weights in a
 *               prioritized replay buffer of 64 n rows, and takes the gradient of -mean(a log q(x))
 *               over n rows drawn from the buffer in proportion to their weights, with
 *               a = min(q_old(x) / q(x), 10) correcting for the parameters having moved since the row
 *               was stored (its weight is corrected the same way); until the buffer holds 4 n rows, the
 *               fresh AIS points with self-normalized weights. Needs the target's gradient and a flow
 *               with a cheap density direction too. n must stay the same between calls; the buffer is
 *               not saved in checkpoints. *loss is still the negative ELBO at the draws of q.
 * Errors: VF_ERR_NUMERIC naming the row when the target's log-density is NaN or -inf at a draw, or
 * its gradient is not finite, or log q is not finite; the parameter gradients are then partial.
 *
 * Importance sampling (all in double; logw [n] are log p~(x_i) - log q(x_i) for x_i ~ q):
 *   log Z      log of the mean weight (log-sum-exp), with the delta-method standard error
 *              sd(w) / (sqrt(n) mean(w)) (reliable only when k-hat < 0.7);
 *   ESS        (sum w)^2 / sum w^2 ("reverse" ESS; ess_fraction = ESS / n);
 *   forward ESS from weights at exact draws of the target x_i ~ p: n / (mean(w) mean(1/w)), the
 *              estimate of (sum w)^2 / sum w^2 under q that needs no draws from q (Midgley et al. 2023);
 *   k-hat      Pareto-smoothed importance sampling (Vehtari et al. 2024): the generalized Pareto
 *              shape fitted to the M = min(n/5, 3 sqrt(n)) largest weights (exceedances over the
 *              next one) by Zhang & Stephens' (2009) estimator with Vehtari's weak prior toward 0.5
 *              (weight 10 / (M + 10)); above 0.7 the estimates are not to be trusted.
 */
#ifndef VF_VI_H
#define VF_VI_H

#include "vf_flow.h"
#include "vf_target.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- objectives --------------------------------------------------------------------------- */
typedef enum vf_vi_objective {
    VF_VI_RKL = 0,      /* reverse KL, reparameterization gradient */
    VF_VI_PATH = 1,     /* reverse KL, path (sticking-the-landing) gradient */
    VF_VI_FKL = 2,      /* forward KL, self-normalized importance weights from q's own draws */
    VF_VI_CHI2 = 3,     /* chi^2 (alpha = 2) divergence: 1/2 log E_q[w^2], score-function gradient */
    VF_VI_FAB = 4       /* alpha = 2 divergence by AIS toward p~^2 / q with a replay buffer (FAB) */
} vf_vi_objective;

/* "rkl", "path", "fkl", "chi2", "fab" -> VF_VI_RKL, VF_VI_PATH, VF_VI_FKL, VF_VI_CHI2, VF_VI_FAB; -1 for
 * another name. */
int vf_vi_objective_from_name(const char *name);
const char *vf_vi_objective_name(vf_vi_objective o);

typedef struct vf_vi vf_vi;

/* Borrows the flow f (unconditional), its finalized store p and the target, which must outlive v.
 * VF_ERR_SHAPE when the dimensions differ, VF_ERR_ARG for a conditional flow or NULL arguments,
 * VF_ERR_STATE when p is not finalized. */
vf_status vf_vi_new(const vf_flow *f, vf_params *p, const vf_target *target, vf_vi **out);
void vf_vi_free(vf_vi *v);

/* One gradient estimate from n >= 1 fresh draws of q: ADDS d loss / d theta to vf_params_grads(p)
 * (zero them first) and sets *loss (may be NULL) to the objective's own loss estimate, with
 * log w_i = beta log p~(x_i) - log q(x_i) (beta from vf_vi_set_beta, 1 by default):
 *   rkl, path  -mean(log w) (the negative ELBO; >= -log Z);
 *   fkl        sum w~_i log w_i - log mean w, w~ = w / sum w (the self-normalized estimate of
 *              KL(p || q) >= 0); draws with log p~ = -inf get zero weight (VF_ERR_NUMERIC if all do);
 *   chi2       1/2 log mean w^2 (the CUBO of Dieng et al. 2017; >= log Z in expectation of
 *              exp(2 CUBO), equal when q = p). fkl and chi2 need no target gradient. */
vf_status vf_vi_grad(vf_vi *v, vf_vi_objective obj, int64_t n, vf_rng *r, double *loss);

/* The objective's loss estimate (as vf_vi_grad's *loss, at beta = 1) from n >= 2 draws of q without
 * gradients: -mean(log w) for rkl, path and fab, the fkl and chi2 formulas above for those. Given
 * the same generator state it draws the same base points, so two parameter sets can be compared on
 * common draws (validation: vf_vi_options.patience). +INFINITY when every draw is outside the
 * support (and for rkl, path and fab when any is). */
vf_status vf_vi_loss(vf_vi *v, vf_vi_objective obj, int64_t n, vf_rng *r, double *loss);

/* The temperature beta in (0, 1] applied to log p~ by vf_vi_grad (annealing: raise it to 1 over the
 * first steps); vf_vi_draw's weights always use beta = 1. VF_ERR_ARG outside (0, 1]. */
vf_status vf_vi_set_beta(vf_vi *v, double beta);

/* n draws of q without gradients, in chunks: x [n, d] (NULL to skip), logw [n] = log p~ - log q,
 * logq [n], logp [n] (each NULL to skip). A draw where log p~ is -inf (outside the support) gets
 * logw = -inf; NaN is VF_ERR_NUMERIC naming the row. */
vf_status vf_vi_draw(vf_vi *v, int64_t n, vf_rng *r, vf_real *x /* [n, d] */, double *logw /* [n] */,
                     double *logq /* [n] */, double *logp /* [n] */);

/* log q(x) for rows x [n, d] (no gradients), into logq [n]. */
vf_status vf_vi_log_q(vf_vi *v, int64_t n, const vf_real *x /* [n, d] */, double *logq /* [n] */);

/* ---- importance-sampling estimates -------------------------------------------------------- */
typedef struct vf_is_stats {
    int64_t n;                  /* number of weights */
    double log_z;               /* log mean w */
    double log_z_stderr;        /* delta method: sd(w) / (sqrt(n) mean w) */
    double ess;                 /* (sum w)^2 / sum w^2 */
    double ess_fraction;        /* ess / n */
    double elbo;                /* mean log w */
    double elbo_stderr;         /* sd(log w) / sqrt(n) (NAN when a log w is -inf) */
    double khat;                /* PSIS shape; NAN when n < 25 or the tail is flat */
} vf_is_stats;

/* The estimates above from logw [n] (n >= 2). -inf entries are zero weights; NaN or +inf, or all
 * -inf, give VF_ERR_NUMERIC. */
vf_status vf_is_summarize(int64_t n, const double *logw /* [n] */, vf_is_stats *out);

/* Pareto-smoothed importance sampling: *khat as above, and when smoothed is not NULL the log weights
 * with the M largest replaced by the fitted generalized Pareto's expected order statistics
 * (capped at the largest raw weight) — smoothed may equal logw. n < 25 or a flat tail: *khat = NAN
 * and smoothed = logw. */
vf_status vf_psis(int64_t n, const double *logw /* [n] */, double *smoothed /* [n] or NULL */, double *khat);

/* Fit of the generalized Pareto distribution to exceedances x [m] (m >= 5, all >= 0, sorted
 * ascending, largest > 0) by Zhang & Stephens (2009) with the weak prior above: shape *k, scale *sigma. */
vf_status vf_gpd_fit(int64_t m, const double *x /* [m] */, double *k, double *sigma);

/* Forward ESS fraction from logw [n] at exact draws of the target (x_i ~ p): 1 / (mean w mean 1/w),
 * in (0, 1]. */
vf_status vf_is_forward_ess(int64_t n, const double *logw /* [n] */, double *ess_fraction);

/* Self-normalized importance-weighted means of k functions: f [n, k] (row i: the functions at x_i)
 * -> mean [k] = sum w f / sum w, stderr [k] (NULL to skip) = sqrt(sum w^2 (f - mean)^2) / sum w. */
vf_status vf_is_expect(int64_t n, int64_t k, const double *logw /* [n] */, const double *f /* [n, k] */,
                       double *mean /* [k] */, double *stderr /* [k] */);

#ifdef __cplusplus
}
#endif
#endif
