/* mcmc_independent.c — the kernels of vf_mcmc_run whose proposals come from the flow q and do not
 * depend on the current state: independent Metropolis-Hastings (imh) and iterated sampling
 * importance resampling (isir), both driven by the importance weights w = p~ / q.
 *
 * imh:  x' ~ q, accepted with min(1, w(x') / w(x)).
 * isir: K fresh draws x_1..x_K ~ q beside the current x_0; the next state is x_j with probability
 *       w(x_j) / sum_i w(x_i), i = 0..K (Andrieu, Lee & Vihola 2018, i-SIR with N = K + 1).
 * Each iteration draws every chain's K proposals in one pass through the flow, chain c's from its
 * own stream (vf__mcmc_flow_draw), then takes its accept uniform from the same stream. */
#include <math.h>
#include <string.h>
#include "mcmc_internal.h"

typedef struct indep_work {
    double *x, *lw;               /* [C, d], [C] current states and their log weights */
    double *px, *plq, *plp, *wt;  /* [C K, d], [C K], [C K], [K + 1] */
} indep_work;

/* Log weights log p~ - log q of the rows px [m, d] given plq [m], into plp; -inf where not finite. */
static vf_status weigh(vf__mcmc_run *r, indep_work *w, int64_t m)
{
    vf_status st = vf__mcmc_eval(r->space, m, w->px, w->plp, NULL, NULL);
    if (st != VF_OK) return st;
    for (int64_t i = 0; i < m; i++)
        w->plp[i] = isfinite(w->plp[i]) && isfinite(w->plq[i]) ? w->plp[i] - w->plq[i] : -INFINITY;
    return VF_OK;
}

static vf_status start(vf__mcmc_run *r, indep_work *w)
{
    int64_t C = r->chains, d = r->d;
    vf__mcmc_space *s = r->space;
    vf_status st = VF_OK;
    if (r->mp->init) {
        vf_real *buf = vf_malloc((size_t)(C * d + C) * sizeof *buf);
        if (!buf) return vf__error(VF_ERR_NOMEM, "mcmc: out of memory");
        for (int64_t i = 0; i < C * d; i++) buf[i] = (vf_real)(w->px[i] = r->mp->init[i]);
        st = vf_flow_log_prob_rows(s->f, s->p, s->tape, C, buf, NULL, 0, buf + C * d);
        for (int64_t c = 0; c < C; c++) w->plq[c] = (double)buf[C * d + c];
        vf_free(buf);
        if (st == VF_OK) st = weigh(r, w, C);
        if (st != VF_OK) return st;
        memcpy(w->x, w->px, (size_t)(C * d) * sizeof *w->x);
        memcpy(w->lw, w->plp, (size_t)C * sizeof *w->lw);
    } else {
        for (int64_t c = 0; c < C; c++) w->lw[c] = -INFINITY;
        for (int tries = 0; tries < 100; tries++) {
            st = vf__mcmc_flow_draw(s, C, 1, r->rng, w->px, NULL, w->plq);
            if (st == VF_OK) st = weigh(r, w, C);
            if (st != VF_OK) return st;
            int all = 1;
            for (int64_t c = 0; c < C; c++) {
                if (!isfinite(w->lw[c]) && isfinite(w->plp[c])) {
                    memcpy(w->x + c * d, w->px + c * d, (size_t)d * sizeof *w->x);
                    w->lw[c] = w->plp[c];
                }
                all &= isfinite(w->lw[c]);
            }
            r->res.logp_evals++;
            if (all) break;
        }
    }
    for (int64_t c = 0; c < C; c++)
        if (!isfinite(w->lw[c]))
            return vf__error(VF_ERR_NUMERIC, "mcmc: chain %lld has no start point with a positive weight p~/q for "
                                             "target %s", (long long)c, s->t->name);
    return VF_OK;
}

/* One step of chain c given its K proposals' log weights w->plp[c K ..]; 1 when it moved. */
static vf_status step(vf__mcmc_run *r, indep_work *w, int64_t c, int64_t K, int *moved)
{
    int64_t d = r->d;
    const double *plw = w->plp + c * K;
    int64_t pick = -1;
    if (r->mp->sampler == VF_MCMC_IMH) {
        double la = plw[0] - w->lw[c];
        double u = vf_rng_uniform(r->rng + c);
        if (la >= 0 || u < exp(la)) pick = 0;
    } else {
        double mx = w->lw[c];
        for (int64_t j = 0; j < K; j++) mx = plw[j] > mx ? plw[j] : mx;
        w->wt[0] = exp(w->lw[c] - mx);
        for (int64_t j = 0; j < K; j++) w->wt[j + 1] = exp(plw[j] - mx);
        size_t idx;
        vf_status st = vf_rng_categorical(r->rng + c, w->wt, (size_t)(K + 1), &idx);
        if (st != VF_OK) return vf__error(VF_ERR_NUMERIC, "mcmc: isir chain %lld: the weights cannot be resampled", (long long)c);
        pick = (int64_t)idx - 1;
    }
    *moved = pick >= 0;
    if (pick >= 0) {
        memcpy(w->x + c * d, w->px + (c * K + pick) * d, (size_t)d * sizeof *w->x);
        w->lw[c] = plw[pick];
    }
    return VF_OK;
}

vf_status vf__mcmc_independent_run(vf__mcmc_run *r)
{
    const vf_mcmc_params *mp = r->mp;
    int64_t C = r->chains, d = r->d, K = mp->sampler == VF_MCMC_ISIR ? mp->proposals : 1;
    indep_work w;
    size_t ck = (size_t)(C * K);
    double *blk = vf_calloc((size_t)(C * d) + (size_t)C + ck * (size_t)d + 2 * ck + (size_t)(K + 1), sizeof *blk);
    if (!blk) return vf__error(VF_ERR_NOMEM, "mcmc: out of memory for %lld chains", (long long)C);
    w.x = blk;
    w.lw = w.x + C * d;
    w.px = w.lw + C;
    w.plq = w.px + ck * (size_t)d;
    w.plp = w.plq + ck;
    w.wt = w.plp + ck;
    vf_status st = start(r, &w);
    for (int64_t it = 0; st == VF_OK && it < mp->warmup + r->n; it++) {
        r->space->iteration = it;
        st = vf__mcmc_flow_draw(r->space, C, K, r->rng, w.px, NULL, w.plq);
        if (st == VF_OK) st = weigh(r, &w, C * K);
        r->res.logp_evals += K;
        for (int64_t c = 0; c < C && st == VF_OK; c++) {
            int moved = 0;
            st = step(r, &w, c, K, &moved);
            if (it >= mp->warmup) r->accepted += moved;
        }
        if (st == VF_OK && it >= mp->warmup) vf__mcmc_store(r, it - mp->warmup, w.x);
        if (st == VF_OK) st = vf__mcmc_progress(r, it);
    }
    vf_free(blk);
    return st;
}
