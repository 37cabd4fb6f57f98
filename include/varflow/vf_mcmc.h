/* vf_mcmc.h — Markov chain Monte Carlo on a target (vf_target.h), plain or assisted by a normalizing
 * flow (for instance one fitted by vf_vi.h), and the convergence diagnostics R-hat and bulk ESS.
 *
 * Usage
 *   vf_mcmc_params mp = vf_mcmc_default_params(VF_MCMC_NEUTRA_HMC);
 *   mp.chains = 4; mp.warmup = 500; mp.seed = 1;
 *   vf_real *draws = malloc(mp.chains * n * d * sizeof *draws);     // [chains * n, d], chain-major
 *   vf_mcmc_result res;
 *   if (vf_mcmc_run(&target, flow, p, &mp, n, draws, &res) != VF_OK)  // flow, p: NULL for mala / hmc
 *       fprintf(stderr, "%s\n", vf_last_error());
 *   double rhat[d], ess[d];
 *   vf_mcmc_diagnose(mp.chains, n, d, draws, rhat, ess);              // per coordinate
 *   // res.acceptance, res.grad_evals, res.step_size ...
 *
 * Samplers (every one leaves the target invariant; chains are independent, each with its own
 * random stream vf_rng_split(seed, chain), so results do not depend on the thread count):
 *   mala        Metropolis-adjusted Langevin: x' = x + (h^2/2) M^-1 g(x) + h M^-1/2 xi, accepted with
 *               the Metropolis-Hastings ratio including the asymmetric proposal densities.
 *   hmc         Hamiltonian Monte Carlo: momentum r ~ N(0, M), `leapfrog` leapfrog steps of size h
 *               (jittered uniformly in [0.9 h, 1.1 h] each iteration to avoid periodic orbits),
 *               accepted with probability min(1, exp(-(H' - H))); a trajectory whose energy error
 *               exceeds 1000 after any leapfrog step or leaves the support is a divergence (stopped
 *               there, rejected, counted).
 *   imh         independent Metropolis-Hastings with the flow q as proposal: x' ~ q, accepted with
 *               min(1, w(x') / w(x)), w = p~ / q. Exact when q = p (every move accepted).
 *   isir        iterated sampling importance resampling (Andrieu, Lee & Vihola 2018; Karagiannis &
 *               Andrieu 2013): each step draws `proposals` fresh points from q and picks the next
 *               state among them and the current one with probability proportional to w = p~ / q.
 *               "Acceptance" is the fraction of steps that moved to a fresh point.
 *   neutra-mala, neutra-hmc   (Hoffman et al. 2019) MALA or HMC in the flow's latent space on the
 *               pulled-back density log p~(T(z)) + log|det dT/dz|, T the flow's sampling direction
 *               (latent -> data); the draws returned are x = T(z). Gradients through the flow come
 *               from the autodiff tape (one pass for all chains per gradient).
 * Step size h (mala, hmc, neutra-*): adapted during warm-up by dual averaging (Hoffman & Gelman 2014,
 * gamma 0.05, t0 10, kappa 0.75) toward target_accept (default 0.574 for MALA, 0.65 for HMC), each
 * chain on its own, then fixed at the averaged value. With diag_mass, the inverse mass matrix M^-1 is
 * set to each chain's regularized draw variance over warm-up iterations [15%, 75%) and the step size
 * adaptation restarts for the last quarter. Chains start from a uniform draw on [-2, 2]^d (plain
 * samplers), the flow (imh, isir) or the flow's base (neutra), unless init is given.
 *
 * Diagnostics (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021), from m chains of n draws x [m, n]:
 *   each chain is split into halves (the middle draw of an odd n is left out); ranks over all draws
 *   (ties averaged) become normal scores z = Phi^-1((r - 3/8) / (S + 1/4));
 *   split R-hat   sqrt(var+ / W), W the mean within-half variance, var+ = (N - 1)/N W + B/N;
 *   R-hat         max of the split R-hat of the normal scores and of the normal scores of |x - median|;
 *   ESS           M N / tau, tau = -1 + 2 sum_k P_k with P_k = rho_2k + rho_2k+1 summed while positive
 *                 and made monotone (Geyer's initial monotone sequence), rho_t = 1 - (W - mean_m s_m^2
 *                 rho_t,m) / var+, per-half autocorrelations by FFT; capped at M N log10(M N);
 *   bulk ESS      the ESS of the normal scores.
 * The "split" functions work on the raw values (no ranks), for checks by hand.
 */
#ifndef VF_MCMC_H
#define VF_MCMC_H

#include "vf_flow.h"
#include "vf_target.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vf_mcmc_sampler {
    VF_MCMC_MALA = 0,
    VF_MCMC_HMC = 1,
    VF_MCMC_IMH = 2,
    VF_MCMC_ISIR = 3,
    VF_MCMC_NEUTRA_MALA = 4,
    VF_MCMC_NEUTRA_HMC = 5
} vf_mcmc_sampler;

/* "mala", "hmc", "imh", "isir", "neutra-mala", "neutra-hmc" -> the sampler; -1 for another name. */
int vf_mcmc_sampler_from_name(const char *name);
const char *vf_mcmc_sampler_name(vf_mcmc_sampler s);
/* 1 for the samplers that need a flow (imh, isir, neutra-*). */
int vf_mcmc_sampler_needs_flow(vf_mcmc_sampler s);

/* Called after every iteration (warm-up included): it of total; return nonzero to stop (VF_ERR_STATE). */
typedef int (*vf_mcmc_progress_fn)(void *ctx, int64_t it, int64_t total, double acceptance);

typedef struct vf_mcmc_params {
    vf_mcmc_sampler sampler;
    int64_t chains;          /* >= 1 (default 4) */
    int64_t warmup;          /* iterations discarded first, adapting the step size (default 500) */
    double step_size;        /* initial h > 0; 0 = a default from the dimension (default 0) */
    int adapt;               /* 1: dual averaging during warm-up (default 1) */
    double target_accept;    /* in (0, 1); 0 = 0.574 (MALA) or 0.65 (HMC) */
    int64_t leapfrog;        /* HMC steps per iteration (default 10) */
    int64_t proposals;       /* isir: fresh proposals per step (default 16) */
    int diag_mass;           /* 1: adapt a diagonal mass matrix during warm-up (default 0) */
    uint64_t seed;
    const double *init;      /* [chains, d] starting points in the target's coordinates, or NULL */
    vf_mcmc_progress_fn progress;
    void *progress_ctx;
} vf_mcmc_params;

vf_mcmc_params vf_mcmc_default_params(vf_mcmc_sampler s);

typedef struct vf_mcmc_result {
    double acceptance;       /* after warm-up, over all chains: accepted moves / iterations */
    double step_size;        /* final h, mean over chains (0 for imh, isir) */
    int64_t grad_evals;      /* gradient evaluations of the (pulled-back) target per chain, warm-up included */
    int64_t logp_evals;      /* log-density evaluations per chain, warm-up included */
    int64_t divergences;     /* HMC trajectories rejected as divergent after warm-up, all chains */
} vf_mcmc_result;

/* n >= 1 draws per chain after mp->warmup into draws [chains * n, d] (chain c's draw i in row
 * c * n + i), in the target's coordinates. f and p: the flow (unconditional, dimension = target's)
 * and its finalized store, needed by imh, isir and neutra-* (VF_ERR_ARG without), ignored otherwise;
 * p's gradient buffer is used as scratch by neutra-* (left zeroed). res may be NULL.
 * Errors: VF_ERR_ARG (bad settings, NULL), VF_ERR_SHAPE (flow and target dimensions differ),
 * VF_ERR_NUMERIC (the target is NaN at a point, a start point is outside the support, or every
 * proposal of an isir step has weight 0), VF_ERR_STATE (stopped by progress). */
vf_status vf_mcmc_run(const vf_target *t, const vf_flow *f, vf_params *p, const vf_mcmc_params *mp, int64_t n,
                      vf_real *draws /* [chains * n, d] */, vf_mcmc_result *res);

/* ---- diagnostics (all in double; x [m, n]: m >= 1 chains of n >= 4 draws of one quantity) ---- */
/* Rank-normalized split R-hat (max of bulk and folded), as above. A constant input gives NAN. */
vf_status vf_mcmc_rhat(int64_t m, int64_t n, const double *x /* [m, n] */, double *rhat);
/* Bulk ESS: ESS of the rank-normalized split chains. */
vf_status vf_mcmc_ess_bulk(int64_t m, int64_t n, const double *x /* [m, n] */, double *ess);
/* Split R-hat and ESS of the raw values (no rank normalization). */
vf_status vf_mcmc_split_rhat(int64_t m, int64_t n, const double *x /* [m, n] */, double *rhat);
vf_status vf_mcmc_split_ess(int64_t m, int64_t n, const double *x /* [m, n] */, double *ess);
/* Per coordinate of draws [m * n, d] (chain-major, as vf_mcmc_run writes them): rhat [d] and bulk
 * ess [d] (either may be NULL). */
vf_status vf_mcmc_diagnose(int64_t m, int64_t n, int64_t d, const vf_real *draws /* [m * n, d] */,
                           double *rhat /* [d] */, double *ess /* [d] */);

#ifdef __cplusplus
}
#endif
#endif
