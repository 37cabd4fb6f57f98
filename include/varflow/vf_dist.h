/* vf_dist.h — learnable base distributions for flows: diagonal normal, Student-t, uniform box and
 * Gaussian mixture (the standard normal, vf_dist_normal_new, is in vf_flow.h).
 *
 * Usage
 *   vf_params *p = vf_params_new();
 *   vf_dist_mixture_params mp = vf_dist_mixture_default_params(2, 8);     // d = 2, K = 8
 *   vf_dist *base = NULL;
 *   vf_dist_mixture_new(p, "base", &mp, &base);     // registers base.logits, base.means, base.log_scales
 *   vf_params_finalize(p, 42);
 *   vf_var lp = vf_dist_log_prob(base, p, t, z, VF_NOVAR);               // z [n, 2] -> [n]
 *   vf_var s  = vf_dist_sample(base, p, t, 100, VF_NOVAR, &rng);         // [100, 2]
 *
 *   // conditional: every parameter vector comes from an MLP of the context c [n, 3]
 *   vf_dist_diag_normal_params dp = vf_dist_diag_normal_default_params(2);
 *   dp.context = 3; dp.net.n_hidden = 1; dp.net.hidden[0] = 32;
 *   vf_dist_diag_normal_new(p, "cbase", &dp, &cbase);                   // registers cbase.net.*
 *
 * Everything is built on the tape: log_prob is differentiable in z, the parameters and the context;
 * samples are reparameterized (x = loc + scale * noise) so gradients reach loc and scale; the
 * exceptions are documented at each constructor.
 *
 * Two forms. Unconditional (context = 0): each parameter is a free tensor "<name>.<what>" in the
 * store. Conditional (context = c > 0): one vf_mlp "<name>.net" (tensors
 * "<name>.net.layers.<i>.weight" / ".bias") maps the context [n, c] to all parameter vectors of the
 * row at once, its output columns laid out as listed at each constructor; its last layer starts at
 * zero, so at initialization the conditional distribution equals the unconditional default.
 *
 * Constructors: invalid settings give VF_ERR_ARG with a message, an allocation failure
 * VF_ERR_NOMEM; on any failure nothing is allocated and nothing stays registered in the store.
 * describe() writes {"kind", "name", "dim", "context", every setting, "net": {...}} — all that is
 * needed to build the distribution again with the same parameter names (the uniform, which has no
 * parameters: {"kind", "dim", "context", "lo", "hi"}).
 */
#ifndef VF_DIST_H
#define VF_DIST_H

#include "vf_flow.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The conditioner of the conditional form (ignored when context = 0, but still validated). */
typedef struct vf_dist_net_params {
    int n_hidden;                         /* 0..VF_NN_MAX_HIDDEN hidden layers (default 2) */
    int64_t hidden[VF_NN_MAX_HIDDEN];     /* their widths, >= 1 (default 64) */
    vf_activation act;                    /* after every hidden layer (default VF_ACT_RELU) */
} vf_dist_net_params;

vf_dist_net_params vf_dist_net_default_params(void);

/* ---- diagonal normal: N(loc, diag(exp(log_scale))^2) ----------------------------------------- */
typedef struct vf_dist_diag_normal_params {
    int64_t dim;                  /* d >= 1 */
    int64_t context;              /* c >= 0 (default 0) */
    vf_dist_net_params net;
} vf_dist_diag_normal_params;

vf_dist_diag_normal_params vf_dist_diag_normal_default_params(int64_t d);
/* Unconditional: "<name>.loc" [d] and "<name>.log_scale" [d], both initialized to 0 (N(0, I)).
 * Conditional: "<name>.net" with output [n, 2d] = [loc | log_scale].
 * kind "diag_normal". */
vf_status vf_dist_diag_normal_new(vf_params *p, const char *name, const vf_dist_diag_normal_params *kp,
                                  vf_dist **out);

/* ---- Student-t, independent per dimension -------------------------------------------------- */
/* z_j = loc_j + exp(log_scale_j) t_j, t_j ~ t(nu_j), nu_j = softplus(raw_df_j) + df_min.
 * log p = sum_j [lgamma((nu+1)/2) - lgamma(nu/2) - log(nu pi)/2 - log_scale
 *                - (nu+1)/2 log(1 + ((z - loc)/scale)^2 / nu)],
 * differentiable in z, loc, log_scale and nu (through a digamma-based lgamma op).
 * Sampling: t = eps / sqrt(g / nu) with eps ~ N(0, 1) and g ~ chi^2(nu) = 2 Gamma(nu/2) drawn by
 * Marsaglia-Tsang. Reparameterized in loc, log_scale and nu (and the context through them): the
 * draw's derivative in nu comes from implicit reparameterization of the Gamma draw (Figurnov et
 * al. 2018), dG/da = -(dP/da)(a, G) / p(G; a) with P the Gamma CDF, holding the draw's quantile
 * fixed. */
typedef struct vf_dist_student_t_params {
    int64_t dim;                  /* d >= 1 */
    int64_t context;              /* c >= 0 (default 0) */
    double df_min;                /* floor of nu, > 0 (default 0.01) */
    double df_init;               /* nu at initialization, > df_min (default 5) */
    vf_dist_net_params net;
} vf_dist_student_t_params;

vf_dist_student_t_params vf_dist_student_t_default_params(int64_t d);
/* Unconditional: "<name>.loc" [d] (0), "<name>.log_scale" [d] (0), "<name>.raw_df" [d] (the constant
 * softplus^-1(df_init - df_min)). Conditional: "<name>.net" with output [n, 3d] =
 * [loc | log_scale | raw_df - softplus^-1(df_init - df_min)] (the offset is added, so a zero output
 * means nu = df_init). kind "student_t". */
vf_status vf_dist_student_t_new(vf_params *p, const char *name, const vf_dist_student_t_params *kp,
                                vf_dist **out);

/* One Gamma(shape, 1) draw (Marsaglia and Tsang 2000; for shape < 1 the boost
 * Gamma(shape + 1) U^(1/shape)); shape > 0 and finite, else NaN. The result is >= DBL_MIN. */
double vf_gamma_draw(vf_rng *r, double shape);

/* ---- uniform on the box [lo, hi]^d ---------------------------------------------------------- */
/* log p = -d log(hi - lo) inside the closed box, -inf outside (never NaN; no gradient to z, the
 * density being flat). Sampling by inverse CDF, x = lo + (hi - lo) u. No parameters; with c > 0
 * the context is accepted and ignored (as by the standard normal). kind "uniform". */
vf_status vf_dist_uniform_new(int64_t d, int64_t c, double lo, double hi, vf_dist **out);

/* ---- Gaussian mixture with K diagonal components ------------------------------------------- */
/* p(z) = sum_k softmax(logits)_k N(z; means_k, diag(exp(log_scales_k))^2); log p by logsumexp.
 * Sampling: the component of each row is drawn with vf_rng_categorical from softmax(logits)
 * (a discrete choice: no gradient reaches the logits through a sample), then
 * x = means_k + exp(log_scales_k) eps, reparameterized in the chosen component's mean and scale. */
typedef struct vf_dist_mixture_params {
    int64_t dim;                  /* d >= 1 */
    int64_t components;           /* K >= 1 */
    int64_t context;              /* c >= 0 (default 0) */
    double init_scale;            /* std of the initial means, >= 0 (default 1) */
    uint64_t seed;                /* conditional form only: seeds the mean offsets (default 0) */
    vf_dist_net_params net;
} vf_dist_mixture_params;

vf_dist_mixture_params vf_dist_mixture_default_params(int64_t d, int64_t k);
/* Unconditional: "<name>.logits" [K] (0), "<name>.means" [K, d] (N(0, init_scale^2) from the
 * store's seed), "<name>.log_scales" [K, d] (0).
 * Conditional: "<name>.net" with output [n, K + 2Kd] = [logits | means (K blocks of d) | log_scales
 * (K blocks of d)]; to the means are added fixed offsets [K, d] drawn N(0, init_scale^2) from
 * vf_rng(seed, 0) at construction (not parameters: rebuilt from "seed"), so the components start
 * apart. kind "gaussian_mixture". */
vf_status vf_dist_mixture_new(vf_params *p, const char *name, const vf_dist_mixture_params *kp, vf_dist **out);

#ifdef __cplusplus
}
#endif
#endif
