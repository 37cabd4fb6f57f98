/* mcmc.c — vf_mcmc_run: argument checks, the per-chain random streams and the space the chains move
 * in; the kernels themselves are in mcmc_gradient.c (mala, hmc, neutra-*) and mcmc_independent.c
 * (imh, isir). */
#include <math.h>
#include <string.h>
#include "mcmc_internal.h"

static const char *const sampler_names[] = {"mala", "hmc", "imh", "isir", "neutra-mala", "neutra-hmc"};

int vf_mcmc_sampler_from_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < 6; i++)
        if (strcmp(name, sampler_names[i]) == 0) return i;
    return -1;
}

const char *vf_mcmc_sampler_name(vf_mcmc_sampler s)
{
    return (int)s >= 0 && (int)s < 6 ? sampler_names[s] : "unknown";
}

int vf_mcmc_sampler_needs_flow(vf_mcmc_sampler s)
{
    return s == VF_MCMC_IMH || s == VF_MCMC_ISIR || s == VF_MCMC_NEUTRA_MALA || s == VF_MCMC_NEUTRA_HMC;
}

vf_mcmc_params vf_mcmc_default_params(vf_mcmc_sampler s)
{
    vf_mcmc_params mp;
    memset(&mp, 0, sizeof mp);
    mp.sampler = s;
    mp.chains = 4;
    mp.warmup = 500;
    mp.adapt = 1;
    mp.leapfrog = 10;
    mp.proposals = 16;
    return mp;
}

void vf__mcmc_store(vf__mcmc_run *r, int64_t i, const double *x)
{
    for (int64_t c = 0; c < r->chains; c++)
        for (int64_t k = 0; k < r->d; k++) r->draws[(c * r->n + i) * r->d + k] = (vf_real)x[c * r->d + k];
}

vf_status vf__mcmc_progress(vf__mcmc_run *r, int64_t it)
{
    if (!r->mp->progress) return VF_OK;
    int64_t after = it + 1 - r->mp->warmup;
    double acc = after > 0 ? (double)r->accepted / (double)(after * r->chains) : NAN;
    if (r->mp->progress(r->mp->progress_ctx, it + 1, r->mp->warmup + r->n, acc))
        return vf__error(VF_ERR_STATE, "mcmc: stopped after %lld iterations", (long long)(it + 1));
    return VF_OK;
}

static vf_status check(const vf_target *t, const vf_flow *f, vf_params *p, const vf_mcmc_params *mp, int64_t n,
                       const vf_real *draws)
{
    if (!t || !mp || !draws || !t->log_prob || t->dim < 1) return vf__error(VF_ERR_ARG, "mcmc: NULL argument");
    if (vf_mcmc_sampler_from_name(vf_mcmc_sampler_name(mp->sampler)) < 0)
        return vf__error(VF_ERR_ARG, "mcmc: unknown sampler %d", (int)mp->sampler);
    if (n < 1 || mp->chains < 1 || mp->warmup < 0)
        return vf__error(VF_ERR_ARG, "mcmc: need n >= 1 draws, chains >= 1 and warmup >= 0 (got %lld, %lld, %lld)",
                         (long long)n, (long long)mp->chains, (long long)mp->warmup);
    if (!(mp->step_size >= 0) || !isfinite(mp->step_size))
        return vf__error(VF_ERR_ARG, "mcmc: step size %g is not a non-negative number", mp->step_size);
    if (!(mp->target_accept >= 0 && mp->target_accept < 1))
        return vf__error(VF_ERR_ARG, "mcmc: target acceptance %g is not in (0, 1)", mp->target_accept);
    if (mp->leapfrog < 1 || mp->proposals < 1)
        return vf__error(VF_ERR_ARG, "mcmc: leapfrog steps (%lld) and proposals (%lld) must be >= 1",
                         (long long)mp->leapfrog, (long long)mp->proposals);
    if (!vf_mcmc_sampler_needs_flow(mp->sampler)) return VF_OK;
    if (!f || !p) return vf__error(VF_ERR_ARG, "mcmc: sampler %s needs a flow", vf_mcmc_sampler_name(mp->sampler));
    if (vf_flow_context_dim(f) != 0) return vf__error(VF_ERR_ARG, "mcmc: the flow must be unconditional");
    if (!vf_params_is_finalized(p)) return vf__error(VF_ERR_STATE, "mcmc: the flow's parameter store is not finalized");
    if (vf_flow_dim(f) != t->dim)
        return vf__error(VF_ERR_SHAPE, "mcmc: the flow has dimension %lld but target %s has %lld",
                         (long long)vf_flow_dim(f), t->name, (long long)t->dim);
    return VF_OK;
}

vf_status vf_mcmc_run(const vf_target *t, const vf_flow *f, vf_params *p, const vf_mcmc_params *mp, int64_t n,
                      vf_real *draws, vf_mcmc_result *res)
{
    if (res) memset(res, 0, sizeof *res);
    vf_status st = check(t, f, p, mp, n, draws);
    if (st != VF_OK) return st;
    int needs = vf_mcmc_sampler_needs_flow(mp->sampler);
    int latent = mp->sampler == VF_MCMC_NEUTRA_MALA || mp->sampler == VF_MCMC_NEUTRA_HMC;
    int64_t rows = mp->sampler == VF_MCMC_ISIR ? mp->chains * mp->proposals : mp->chains;
    vf__mcmc_run r;
    memset(&r, 0, sizeof r);
    vf__mcmc_space space;
    st = vf__mcmc_space_init(&space, t, needs ? f : NULL, p, latent, rows);
    if (st != VF_OK) return st;
    r.mp = mp;
    r.space = &space;
    r.chains = mp->chains;
    r.d = t->dim;
    r.n = n;
    r.draws = draws;
    r.rng = vf_malloc((size_t)mp->chains * sizeof *r.rng);
    if (!r.rng) st = vf__error(VF_ERR_NOMEM, "mcmc: out of memory");
    if (st == VF_OK) {
        vf_rng root;
        vf_rng_init(&root, mp->seed, 0);
        for (int64_t c = 0; c < mp->chains; c++) r.rng[c] = vf_rng_split(&root, (uint64_t)c);
        st = mp->sampler == VF_MCMC_IMH || mp->sampler == VF_MCMC_ISIR ? vf__mcmc_independent_run(&r)
                                                                        : vf__mcmc_gradient_run(&r);
    }
    r.res.acceptance = (double)r.accepted / (double)(n * mp->chains);
    if (res) *res = r.res;
    vf_free(r.rng);
    vf__mcmc_space_free(&space);
    return st;
}
