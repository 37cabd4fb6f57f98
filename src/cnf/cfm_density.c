/* cfm_density.c — log-densities of a continuous flow by integrating the divergence of its vector
 * field along the ODE (vf_cfm.h, "likelihood"): exact, through one forward-mode JVP per dimension,
 * or Hutchinson's estimate with probes fixed for the whole solve. */
#include <math.h>
#include <string.h>
#include "ad/ad_internal.h"
#include "varflow/vf_cfm.h"
#include "varflow/vf_eval.h"

vf_cfm_density_options vf_cfm_density_default_options(void)
{
    vf_cfm_density_options d;
    d.divergence = VF_DIVERGENCE_EXACT;
    d.probes = 1;
    d.seed = 0;
    return d;
}

typedef struct density_ctx {
    const vf_vfield *v;
    vf_params *p;
    vf__tape_pool *pool;        /* the tapes, one per thread (recording: the JVPs need it) */
    int64_t n, d, c;
    const vf_real *context;     /* [n, c] or NULL */
    const int64_t *labels;      /* [n] or NULL */
    double guidance;            /* w of classifier-free guidance (0: none) */
    vf_divergence div;
    int probes;
    const vf_real *eps;         /* [probes, n, d] Rademacher probes (Hutchinson), else NULL */
    vf_real *x;                 /* [workers, block, d]: each worker's rows of its block, contiguous */
    vf_real *time;              /* [workers, block] */
    vf_real *tangent;           /* [workers, block, d] */
    double tm;                  /* the evaluation's time, state [n, d + 1] and its derivative */
    const vf_real *state;
    vf_real *dstate;
} density_ctx;

/* One block of rows [start, start + m) on tape t, with worker `worker`'s scratch: dstate rows =
 * (v(x, t), div v(x, t)) from state rows (x, L). */
static vf_status density_block(void *ctx, vf_tape *t, int worker, int64_t start, int64_t m)
{
    density_ctx *c = ctx;
    int64_t d = c->d, w = d + 1;
    const vf_real *state = c->state;
    vf_real *dstate = c->dstate;
    vf_real *xs = c->x + (int64_t)worker * VF_EVAL_BLOCK_ROWS * d, *times = c->time + (int64_t)worker * VF_EVAL_BLOCK_ROWS;
    vf_real *tangent = c->tangent + (int64_t)worker * VF_EVAL_BLOCK_ROWS * d;
    for (int64_t i = 0; i < m; i++) memcpy(xs + i * d, state + (start + i) * w, (size_t)d * sizeof *xs);
    for (int64_t i = 0; i < m; i++) times[i] = (vf_real)c->tm;
    vf_tape_reset(t);
    vf_var xv = vf_input(t, xs, 2, (int64_t[]){m, d});
    vf_var tv = vf_input(t, times, 2, (int64_t[]){m, 1});
    vf_var cv = c->context ? vf_input(t, c->context + start * c->c, 2, (int64_t[]){m, c->c}) : VF_NOVAR;
    vf_var rv = vf_vfield_get_params(c->v)->two_times ? tv : VF_NOVAR; /* MeanFlow: v(x, t) = u(x, t, t) */
    vf_var out = vf_vfield_forward(c->v, c->p, t, xv, tv, rv, cv, c->labels ? c->labels + start : NULL);
    if (c->guidance != 0) { /* (1 + w) v(x, t, c) - w v(x, t, null): the JVP runs through both passes */
        vf_var uncond = vf_vfield_forward(c->v, c->p, t, xv, tv, rv, cv, NULL);
        out = vf_sub(t, vf_scale(t, out, 1 + c->guidance), vf_scale(t, uncond, c->guidance));
    }
    vf_status s = vf_tape_status(t);
    if (s != VF_OK) return vf__error(s, "cfm_log_prob: %s", vf_tape_error(t));
    const vf_real *vo = vf_value(t, out)->data;
    double div[VF_EVAL_BLOCK_ROWS];
    for (int64_t i = 0; i < m; i++) {
        memcpy(dstate + (start + i) * w, vo + i * d, (size_t)d * sizeof *dstate);
        div[i] = 0;
    }
    int sweeps = c->div == VF_DIVERGENCE_EXACT ? (int)d : c->probes;
    for (int k = 0; k < sweeps; k++) {
        if (c->div == VF_DIVERGENCE_EXACT) { /* e_k: column k of the Jacobian */
            memset(tangent, 0, (size_t)(m * d) * sizeof *tangent);
            for (int64_t i = 0; i < m; i++) tangent[i * d + k] = 1;
        } else {
            memcpy(tangent, c->eps + ((int64_t)k * c->n + start) * d, (size_t)(m * d) * sizeof *tangent);
        }
        if ((s = vf_set_tangent(t, xv, tangent)) != VF_OK || (s = vf_jvp(t)) != VF_OK)
            return vf__error(s, "cfm_log_prob: %s", vf_tape_error(t)[0] ? vf_tape_error(t) : vf_last_error());
        const vf_real *jv = vf_tangent(t, out); /* J v [m, d] (NULL: zero) */
        if (!jv) continue;
        for (int64_t i = 0; i < m; i++) {
            if (c->div == VF_DIVERGENCE_EXACT) {
                div[i] += (double)jv[i * d + k];
            } else {
                double e = 0;
                for (int64_t j = 0; j < d; j++) e += (double)tangent[i * d + j] * (double)jv[i * d + j];
                div[i] += e / c->probes;
            }
        }
    }
    for (int64_t i = 0; i < m; i++) dstate[(start + i) * w + d] = (vf_real)div[i];
    return VF_OK;
}

/* The augmented field for all rows, the blocks on the pool's threads. */
static vf_status density_field(void *ctx, double tm, int64_t size, const vf_real *state, vf_real *dstate)
{
    density_ctx *c = ctx;
    (void)size;
    c->tm = tm;
    c->state = state;
    c->dstate = dstate;
    return vf__tape_pool_run(c->pool, c->n, density_block, c);
}

vf_status vf_cfm_transport_divergence(const vf_vfield *v, vf_params *p, vf_tape *tape, int64_t n, vf_real *x,
                                      const vf_real *context, const int64_t *labels, double guidance, double t0,
                                      double t1, const vf_ode_options *o, const vf_cfm_density_options *dop,
                                      vf_real *div_integral, vf_ode_stats *stats)
{
    if (!v || !p || !o || !dop || (n > 0 && (!x || !div_integral)))
        return vf__error(VF_ERR_ARG, "cfm_log_prob: NULL argument");
    const vf_vfield_params *vp = vf_vfield_get_params(v);
    if (n < 0) return vf__error(VF_ERR_ARG, "cfm_log_prob: negative row count %lld", (long long)n);
    if ((vp->context > 0) != (context != NULL))
        return vf__error(VF_ERR_ARG, "cfm_log_prob: the field takes a context of width %lld", (long long)vp->context);
    if (!isfinite(guidance)) return vf__error(VF_ERR_ARG, "cfm_log_prob: guidance must be finite (got %g)", guidance);
    if (guidance != 0 && (!labels || vp->classes < 1))
        return vf__error(VF_ERR_ARG, "cfm_log_prob: guidance needs a labelled field and labels");
    if (dop->divergence != VF_DIVERGENCE_EXACT && dop->divergence != VF_DIVERGENCE_HUTCHINSON)
        return vf__error(VF_ERR_ARG, "cfm_log_prob: unknown divergence estimator %d", (int)dop->divergence);
    if (dop->divergence == VF_DIVERGENCE_HUTCHINSON && dop->probes < 1)
        return vf__error(VF_ERR_ARG, "cfm_log_prob: Hutchinson needs probes >= 1 (got %d)", dop->probes);
    if (n == 0) return VF_OK;
    int64_t d = vp->dim, w = d + 1;
    density_ctx c = {v, p, NULL, n, d, vp->context, context, labels, guidance, dop->divergence, dop->probes,
                     NULL, NULL, NULL, NULL, 0, NULL, NULL};
    /* one tape per thread, recording (forward mode needs it); the caller's tape is restored at the end */
    vf__tape_pool pool;
    vf_status s = vf__tape_pool_open(&pool, tape, n, VF__POOL_RECORDING);
    if (s != VF_OK) return s;
    c.pool = &pool;
    size_t rows = (size_t)pool.n * VF_EVAL_BLOCK_ROWS; /* each worker's scratch */
    vf_real *state = vf_malloc((size_t)(n * w) * sizeof *state);
    vf_real *eps = dop->divergence == VF_DIVERGENCE_HUTCHINSON
                       ? vf_malloc((size_t)dop->probes * (size_t)(n * d) * sizeof *eps) : NULL;
    c.x = vf_malloc(rows * (size_t)d * sizeof *c.x);
    c.tangent = vf_malloc(rows * (size_t)d * sizeof *c.tangent);
    c.time = vf_malloc(rows * sizeof *c.time);
    if (!state || !c.x || !c.tangent || !c.time || (dop->divergence == VF_DIVERGENCE_HUTCHINSON && !eps)) {
        s = vf__error(VF_ERR_NOMEM, "cfm_log_prob: out of memory for %lld rows", (long long)n);
        goto done;
    }
    if (eps) { /* Rademacher probes, +-1 with equal probability */
        vf_rng r;
        vf_rng_init(&r, dop->seed, 0x48555443u);
        size_t total = (size_t)dop->probes * (size_t)(n * d);
        vf_rng_uniform_fill(&r, eps, total, 0.0, 1.0);
        for (size_t i = 0; i < total; i++) eps[i] = eps[i] < (vf_real)0.5 ? (vf_real)-1 : (vf_real)1;
        c.eps = eps;
    }
    for (int64_t i = 0; i < n; i++) {
        memcpy(state + i * w, x + i * d, (size_t)d * sizeof *state);
        state[i * w + d] = 0;
    }
    s = vf_ode_solve(density_field, &c, n * w, state, t0, t1, o, stats);
    if (s == VF_OK) {
        for (int64_t i = 0; i < n; i++) {
            memcpy(x + i * d, state + i * w, (size_t)d * sizeof *x);
            div_integral[i] = state[i * w + d];
        }
    }
done:
    vf__tape_pool_close(&pool);
    vf_free(state);
    vf_free(eps);
    vf_free(c.x);
    vf_free(c.tangent);
    vf_free(c.time);
    return s;
}

vf_status vf_cfm_log_prob(const vf_vfield *v, vf_params *p, vf_tape *tape, int64_t n, const vf_real *x,
                          const vf_real *context, const int64_t *labels, double t0, double t1,
                          const vf_ode_options *o, const vf_cfm_density_options *dop, vf_real *log_prob,
                          vf_ode_stats *stats)
{
    if (!v || !p || !o || !dop || (n > 0 && (!x || !log_prob)))
        return vf__error(VF_ERR_ARG, "cfm_log_prob: NULL argument");
    if (n <= 0) return n < 0 ? vf__error(VF_ERR_ARG, "cfm_log_prob: negative row count %lld", (long long)n) : VF_OK;
    int64_t d = vf_vfield_get_params(v)->dim;
    vf_real *z = vf_malloc((size_t)(n * d) * sizeof *z);
    if (!z) return vf__error(VF_ERR_NOMEM, "cfm_log_prob: out of memory for %lld rows", (long long)n);
    memcpy(z, x, (size_t)(n * d) * sizeof *z);
    /* x carried back to t0; log_prob receives integral_{t1}^{t0} div v dt meanwhile */
    vf_status s = vf_cfm_transport_divergence(v, p, tape, n, z, context, labels, 0.0, t1, t0, o, dop, log_prob, stats);
    if (s == VF_OK) {
        const double half_log_2pi = 0.91893853320467274178;
        for (int64_t i = 0; i < n; i++) { /* log N(z; 0, I) + integral_{t1}^{t0} div v dt */
            double q = 0;
            for (int64_t j = 0; j < d; j++) q += (double)z[i * d + j] * (double)z[i * d + j];
            log_prob[i] = (vf_real)(-0.5 * q - (double)d * half_log_2pi + (double)log_prob[i]);
        }
    }
    vf_free(z);
    return s;
}
