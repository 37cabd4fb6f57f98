/* mcmc_gradient.c — the gradient-based kernels of vf_mcmc_run: MALA and HMC, in the target's
 * coordinates (mala, hmc) or the flow's latent space (neutra-mala, neutra-hmc), with the step size
 * adapted by dual averaging and an optional diagonal mass matrix (vf_mcmc.h).
 *
 * All chains advance together: one batched evaluation (vf__mcmc_eval) per gradient, so neutra makes
 * one pass through the flow per leapfrog step for every chain. Each chain draws its random numbers
 * from its own stream in a fixed order (momentum or noise, then the HMC jitter, then the accept
 * uniform), so a chain's path does not depend on the others. State arrays are [chains, d]. */
#include <math.h>
#include <string.h>
#include "mcmc_internal.h"

/* Dual averaging of Hoffman & Gelman (2014), algorithm 5: gamma 0.05, t0 10, kappa 0.75. */
typedef struct dual_avg {
    double mu, hbar, log_h, log_hbar;
    int64_t m;
} dual_avg;

static void da_start(dual_avg *a, double h)
{
    a->mu = log(10 * h);
    a->hbar = 0;
    a->log_h = log(h);
    a->log_hbar = 0;
    a->m = 0;
}

static void da_update(dual_avg *a, double alpha, double delta)
{
    a->m++;
    double m = (double)a->m, eta = 1 / (m + 10);
    a->hbar = (1 - eta) * a->hbar + eta * (delta - alpha);
    a->log_h = a->mu - sqrt(m) / 0.05 * a->hbar;
    if (a->log_h > 20) a->log_h = 20; /* keep exp finite while far from the target acceptance */
    if (a->log_h < -40) a->log_h = -40;
    double w = pow(m, -0.75);
    a->log_hbar = w * a->log_h + (1 - w) * a->log_hbar;
}

typedef struct chain_state {
    double *q, *lp, *g, *x;   /* [C, d], [C], [C, d], [C, d] */
} chain_state;

typedef struct grad_work {
    vf__mcmc_run *r;
    int hmc;
    chain_state cur, prop;
    double *mom, *minv, *h, *alpha;   /* [C, d], [C, d], [C], [C] */
    double *jit, *e0;                 /* [C] this iteration's HMC step, energy at its start */
    int *accept, *divergent, *alive;  /* [C] */
    double *wmean, *wm2;              /* [C, d] Welford sums for the mass matrix */
    dual_avg *da;                     /* [C] */
} grad_work;

/* Starting states: the caller's, uniform on [-2, 2]^d (up to 100 tries for a point in the support),
 * or (neutra) the flow's base draws. */
static vf_status start(grad_work *w)
{
    vf__mcmc_run *r = w->r;
    const vf_mcmc_params *mp = r->mp;
    vf__mcmc_space *s = r->space;
    int64_t C = r->chains, d = r->d;
    vf_status st = VF_OK;
    if (s->latent) {
        if (mp->init) {
            vf_real *buf = vf_malloc((size_t)(C * d) * sizeof *buf);
            if (!buf) return vf__error(VF_ERR_NOMEM, "mcmc: out of memory");
            for (int64_t i = 0; i < C * d; i++) buf[i] = (vf_real)mp->init[i];
            st = vf_flow_forward_rows(s->f, s->p, NULL, C, buf, NULL, 0, buf, NULL);
            for (int64_t i = 0; i < C * d; i++) w->cur.q[i] = (double)buf[i];
            vf_free(buf);
            if (st != VF_OK) return vf__error(st, "mcmc: the start points through the flow: %s", vf_last_error());
        } else {
            st = vf__mcmc_flow_draw(s, C, 1, r->rng, w->prop.x, w->cur.q, w->prop.lp);
            if (st != VF_OK) return st;
        }
        st = vf__mcmc_eval(s, C, w->cur.q, w->cur.lp, w->cur.g, w->cur.x);
    } else {
        if (mp->init) memcpy(w->cur.q, mp->init, (size_t)(C * d) * sizeof *w->cur.q);
        for (int tries = 0; st == VF_OK && tries < 100; tries++) {
            int all = 1;
            for (int64_t c = 0; c < C; c++) {
                if (tries > 0 && isfinite(w->cur.lp[c])) continue;
                all = 0;
                if (!mp->init)
                    for (int64_t k = 0; k < d; k++) w->cur.q[c * d + k] = -2 + 4 * vf_rng_uniform(r->rng + c);
            }
            if (all) break;
            st = vf__mcmc_eval(s, C, w->cur.q, w->cur.lp, w->cur.g, w->cur.x);
            if (mp->init) break;
        }
    }
    if (st != VF_OK) return st;
    r->res.grad_evals++;
    r->res.logp_evals++;
    for (int64_t c = 0; c < C; c++)
        if (!isfinite(w->cur.lp[c]))
            return vf__error(VF_ERR_NUMERIC, "mcmc: chain %lld has no start point in the support of target %s "
                                             "(log density -inf or a gradient not finite)", (long long)c, s->t->name);
    return VF_OK;
}

static void copy_row(chain_state *dst, const chain_state *src, int64_t c, int64_t d)
{
    memcpy(dst->q + c * d, src->q + c * d, (size_t)d * sizeof *dst->q);
    memcpy(dst->g + c * d, src->g + c * d, (size_t)d * sizeof *dst->g);
    memcpy(dst->x + c * d, src->x + c * d, (size_t)d * sizeof *dst->x);
    dst->lp[c] = src->lp[c];
}

/* Metropolis step for chain c given log alpha; sets alpha and accept. */
static void metropolis(grad_work *w, int64_t c, double log_alpha)
{
    double a = isnan(log_alpha) ? 0 : log_alpha >= 0 ? 1 : exp(log_alpha);
    w->alpha[c] = a;
    w->accept[c] = vf_rng_uniform(w->r->rng + c) < a;
    if (w->accept[c]) copy_row(&w->cur, &w->prop, c, w->r->d);
}

static vf_status mala_step(grad_work *w)
{
    vf__mcmc_run *r = w->r;
    int64_t C = r->chains, d = r->d;
    for (int64_t c = 0; c < C; c++) {
        double h = w->h[c];
        vf_rng_normal_fill_double(r->rng + c, w->mom + c * d, (size_t)d);
        for (int64_t k = 0; k < d; k++) {
            int64_t i = c * d + k;
            w->prop.q[i] = w->cur.q[i] + 0.5 * h * h * w->minv[i] * w->cur.g[i] + h * sqrt(w->minv[i]) * w->mom[i];
        }
    }
    vf_status st = vf__mcmc_eval(r->space, C, w->prop.q, w->prop.lp, w->prop.g, w->prop.x);
    if (st != VF_OK) return st;
    r->res.grad_evals++;
    r->res.logp_evals++;
    for (int64_t c = 0; c < C; c++) {
        double h = w->h[c], la = -INFINITY;
        w->divergent[c] = 0;
        if (isfinite(w->prop.lp[c])) {
            double fwd = 0, bwd = 0;
            for (int64_t k = 0; k < d; k++) {
                int64_t i = c * d + k;
                double a = w->prop.q[i] - w->cur.q[i] - 0.5 * h * h * w->minv[i] * w->cur.g[i];
                double b = w->cur.q[i] - w->prop.q[i] - 0.5 * h * h * w->minv[i] * w->prop.g[i];
                fwd += a * a / w->minv[i];
                bwd += b * b / w->minv[i];
            }
            la = w->prop.lp[c] - w->cur.lp[c] - (bwd - fwd) / (2 * h * h);
        }
        metropolis(w, c, la);
    }
    return VF_OK;
}

static double kinetic(const grad_work *w, int64_t c)
{
    double k = 0;
    for (int64_t j = 0; j < w->r->d; j++) k += w->minv[c * w->r->d + j] * w->mom[c * w->r->d + j] * w->mom[c * w->r->d + j];
    return 0.5 * k;
}

static vf_status hmc_step(grad_work *w)
{
    vf__mcmc_run *r = w->r;
    int64_t C = r->chains, d = r->d, L = r->mp->leapfrog;
    double *jit = w->jit;
    for (int64_t c = 0; c < C; c++) {
        vf_rng_normal_fill_double(r->rng + c, w->mom + c * d, (size_t)d);
        for (int64_t k = 0; k < d; k++) w->mom[c * d + k] /= sqrt(w->minv[c * d + k]);
        jit[c] = w->h[c] * (0.9 + 0.2 * vf_rng_uniform(r->rng + c));
        w->e0[c] = -w->cur.lp[c] + kinetic(w, c);
        w->alive[c] = 1;
        copy_row(&w->prop, &w->cur, c, d);
    }
    vf_status st = VF_OK;
    for (int64_t l = 0; l < L && st == VF_OK; l++) {
        for (int64_t c = 0; c < C; c++) {
            if (!w->alive[c]) {
                memcpy(w->prop.q + c * d, w->cur.q + c * d, (size_t)d * sizeof *w->prop.q);
                continue;
            }
            for (int64_t k = 0; k < d; k++) {
                int64_t i = c * d + k;
                w->mom[i] += 0.5 * jit[c] * w->prop.g[i];
                w->prop.q[i] += jit[c] * w->minv[i] * w->mom[i];
            }
        }
        st = vf__mcmc_eval(r->space, C, w->prop.q, w->prop.lp, w->prop.g, w->prop.x);
        r->res.grad_evals++;
        r->res.logp_evals++;
        for (int64_t c = 0; c < C && st == VF_OK; c++) {
            if (!w->alive[c]) continue;
            if (!isfinite(w->prop.lp[c])) {
                w->alive[c] = 0;
                continue;
            }
            for (int64_t k = 0; k < d; k++) w->mom[c * d + k] += 0.5 * jit[c] * w->prop.g[c * d + k];
            /* stop a trajectory as soon as it diverges, before it runs off to where the target overflows */
            if (!(-w->prop.lp[c] + kinetic(w, c) - w->e0[c] <= 1000)) w->alive[c] = 0;
        }
    }
    if (st != VF_OK) return st;
    for (int64_t c = 0; c < C; c++) {
        double dh = w->alive[c] ? -w->prop.lp[c] + kinetic(w, c) - w->e0[c] : INFINITY;
        w->divergent[c] = !(dh <= 1000);
        metropolis(w, c, w->divergent[c] ? -INFINITY : -dh);
    }
    return VF_OK;
}

/* The inverse mass from chain c's Welford sums over cnt states (Stan's regularization toward 1e-3). */
static void set_mass(grad_work *w, int64_t c, int64_t cnt)
{
    for (int64_t k = 0; k < w->r->d; k++) {
        int64_t i = c * w->r->d + k;
        double var = cnt > 1 ? w->wm2[i] / (double)(cnt - 1) : 1;
        double n = (double)cnt;
        w->minv[i] = n / (n + 5) * var + 1e-3 * 5 / (n + 5);
    }
}

static vf_status loop(grad_work *w)
{
    vf__mcmc_run *r = w->r;
    const vf_mcmc_params *mp = r->mp;
    int64_t C = r->chains, d = r->d, W = mp->warmup;
    double delta = mp->target_accept > 0 ? mp->target_accept : w->hmc ? 0.65 : 0.574;
    int64_t lo = (int64_t)(0.15 * (double)W), hi = (int64_t)(0.75 * (double)W);
    int mass = mp->diag_mass && hi - lo >= 10;
    vf_status st = start(w);
    for (int64_t it = 0; st == VF_OK && it < W + r->n; it++) {
        r->space->iteration = it;
        st = w->hmc ? hmc_step(w) : mala_step(w);
        if (st != VF_OK) break;
        int adapting = mp->adapt && it < W;
        for (int64_t c = 0; c < C; c++) {
            if (adapting) {
                da_update(w->da + c, w->alpha[c], delta);
                w->h[c] = exp(it == W - 1 ? w->da[c].log_hbar : w->da[c].log_h);
            }
            if (mass && it >= lo && it < hi) {
                double cnt = (double)(it - lo + 1);
                for (int64_t k = 0; k < d; k++) {
                    int64_t i = c * d + k;
                    double dv = w->cur.q[i] - w->wmean[i];
                    w->wmean[i] += dv / cnt;
                    w->wm2[i] += dv * (w->cur.q[i] - w->wmean[i]);
                }
                if (it == hi - 1) {
                    set_mass(w, c, hi - lo);
                    if (mp->adapt) da_start(w->da + c, w->h[c]);
                }
            }
            if (it >= W) {
                r->accepted += w->accept[c];
                r->res.divergences += w->divergent[c];
            }
        }
        if (it >= W) vf__mcmc_store(r, it - W, w->cur.x);
        if (st == VF_OK) st = vf__mcmc_progress(r, it);
    }
    double hs = 0;
    for (int64_t c = 0; c < C; c++) hs += w->h[c];
    r->res.step_size = hs / (double)C;
    return st;
}

vf_status vf__mcmc_gradient_run(vf__mcmc_run *r)
{
    const vf_mcmc_params *mp = r->mp;
    int64_t C = r->chains, d = r->d;
    size_t cd = (size_t)(C * d), cc = (size_t)C;
    grad_work w;
    memset(&w, 0, sizeof w);
    w.r = r;
    w.hmc = mp->sampler == VF_MCMC_HMC || mp->sampler == VF_MCMC_NEUTRA_HMC;
    double *blk = vf_calloc(cd * 10 + cc * 6, sizeof *blk);
    int *iblk = vf_calloc(cc * 3, sizeof *iblk);
    w.da = vf_calloc(cc, sizeof *w.da);
    if (!blk || !iblk || !w.da) {
        vf_free(blk);
        vf_free(iblk);
        vf_free(w.da);
        return vf__error(VF_ERR_NOMEM, "mcmc: out of memory for %lld chains", (long long)C);
    }
    double *b = blk;
    w.cur.q = b, b += cd;
    w.cur.g = b, b += cd;
    w.cur.x = b, b += cd;
    w.prop.q = b, b += cd;
    w.prop.g = b, b += cd;
    w.prop.x = b, b += cd;
    w.mom = b, b += cd;
    w.minv = b, b += cd;
    w.wmean = b, b += cd;
    w.wm2 = b, b += cd;
    w.cur.lp = b, b += cc;
    w.prop.lp = b, b += cc;
    w.h = b, b += cc;
    w.alpha = b, b += cc;
    w.jit = b, b += cc;
    w.e0 = b;
    w.accept = iblk;
    w.divergent = iblk + cc;
    w.alive = iblk + 2 * cc;
    double h0 = mp->step_size > 0 ? mp->step_size : (w.hmc ? 0.5 : 1.0) * pow((double)d, -0.25);
    for (size_t i = 0; i < cd; i++) w.minv[i] = 1;
    for (int64_t c = 0; c < C; c++) {
        w.h[c] = h0;
        da_start(w.da + c, h0);
    }
    vf_status st = loop(&w);
    vf_free(blk);
    vf_free(iblk);
    vf_free(w.da);
    return st;
}
