/* mcmc_internal.h — the pieces of vf_mcmc_run (src/vi/mcmc*.c): the space a chain moves in (the
 * target's coordinates, or the flow's latent space for neutra) with its batched log-density and
 * gradient, draws from the flow with one random stream per chain, and the two kinds of kernels. */
#ifndef VF_MCMC_INTERNAL_H
#define VF_MCMC_INTERNAL_H

#include "internal.h"
#include "varflow/vf_mcmc.h"

typedef struct vf__mcmc_space {
    const vf_target *t;
    const vf_flow *f;       /* NULL for mala / hmc */
    vf_params *p;
    vf_tape *tape;          /* NULL without a flow */
    int latent;             /* 1: states are latent z, log density pulled back through x = T(z) */
    int64_t d, cap;         /* dimension; rows the scratch holds */
    vf_real *zbuf, *gc;     /* [cap, d] */
    double *xd;             /* [cap, d] */
    int64_t iteration;      /* the run's current iteration (0-based; -1 while finding start points), for messages */
} vf__mcmc_space;

vf_status vf__mcmc_space_init(vf__mcmc_space *s, const vf_target *t, const vf_flow *f, vf_params *p, int latent,
                              int64_t rows);
void vf__mcmc_space_free(vf__mcmc_space *s);

/* For states q [m, d]: logp [m] (the target's, or pulled back when latent; -inf outside the support
 * or where the gradient is not finite), grad [m, d] of it (NULL to skip), x [m, d] the points in the
 * target's coordinates (NULL to skip). VF_ERR_NUMERIC when the target is NaN. */
vf_status vf__mcmc_eval(vf__mcmc_space *s, int64_t m, const double *q /* [m, d] */, double *logp /* [m] */,
                        double *grad /* [m, d] */, double *x /* [m, d] */);

/* k draws of the flow for each of m chains, chain c from rng[c]: rows c k .. c k + k - 1 of
 * x [m k, d] (target coordinates), z [m k, d] (latent; NULL to skip) and logq [m k]. */
vf_status vf__mcmc_flow_draw(vf__mcmc_space *s, int64_t m, int64_t k, vf_rng *rng /* [m] */, double *x,
                             double *z, double *logq);

/* The run's bookkeeping shared by the kernels. */
typedef struct vf__mcmc_run {
    const vf_mcmc_params *mp;
    vf__mcmc_space *space;
    int64_t chains, d, n;
    vf_rng *rng;            /* [chains] */
    vf_real *draws;         /* [chains * n, d] */
    vf_mcmc_result res;     /* counts per chain (evals), totals (accepted, divergences) */
    int64_t accepted;       /* after warm-up, all chains */
} vf__mcmc_run;

/* Stores the states x [chains, d] as draw `i` (0-based after warm-up) of every chain. */
void vf__mcmc_store(vf__mcmc_run *r, int64_t i, const double *x /* [chains, d] */);
/* Calls the progress callback; VF_ERR_STATE when it asks to stop. */
vf_status vf__mcmc_progress(vf__mcmc_run *r, int64_t it);

/* The kernels: mala / hmc / neutra-* (mcmc_gradient.c) and imh / isir (mcmc_independent.c). */
vf_status vf__mcmc_gradient_run(vf__mcmc_run *r);
vf_status vf__mcmc_independent_run(vf__mcmc_run *r);

#endif
