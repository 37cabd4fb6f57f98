/* cfm.c — the flow-matching loss of a vector field on a probability path, and transport of points
 * through the field with the ODE solvers (vf_cfm.h). */
#include <math.h>
#include <string.h>
#include "ad/ad_internal.h"
#include "varflow/vf_cfm.h"
#include "varflow/vf_eval.h"

vf_var vf_cfm_loss(const vf_vfield *v, vf_params *p, vf_tape *t, const vf_path *path, const vf_cfm_batch *b)
{
    if (!vf__ok(t, "cfm_loss", 0, NULL)) return VF_NOVAR;
    if (!v || !p || !path || !b) return vf__fail(t, VF_ERR_ARG, "cfm_loss: NULL argument");
    const vf_vfield_params *vp = vf_vfield_get_params(v);
    int64_t n = b->n, d = b->d;
    if (n < 1 || d != vp->dim)
        return vf__fail(t, VF_ERR_SHAPE, "cfm_loss: need n >= 1 rows of the field's dimension %lld (got [%lld, %lld])",
                        (long long)vp->dim, (long long)n, (long long)d);
    if ((vp->context > 0) != (b->context != NULL))
        return vf__fail(t, VF_ERR_ARG, "cfm_loss: the field takes a context of width %lld", (long long)vp->context);
    vf_real *xt = vf__tape_alloc(t, (size_t)(n * d) * sizeof *xt), *ut = vf__tape_alloc(t, (size_t)(n * d) * sizeof *ut);
    if (!xt || !ut) return VF_NOVAR;
    vf_status s = vf_path_sample(path, n, d, b->x0, b->x1, b->t, b->z, xt, ut, NULL);
    if (s != VF_OK) return vf__fail(t, s, "cfm_loss: %s", vf_last_error());
    vf_var time = vf_input(t, b->t, 2, (int64_t[]){n, 1});
    vf_var ctx = b->context ? vf_input(t, b->context, 2, (int64_t[]){n, vp->context}) : VF_NOVAR;
    vf_var pred = vf_vfield_forward(v, p, t, vf_input(t, xt, 2, (int64_t[]){n, d}), time, VF_NOVAR, ctx, b->labels);
    vf_var err = vf_sub(t, pred, vf_input(t, ut, 2, (int64_t[]){n, d}));
    return vf_scale(t, vf_sum(t, vf_square(t, err), VF_ALL_AXES, 0), 1.0 / (double)n);
}

vf_var vf_cfm_score_loss(const vf_vfield *s, vf_params *p, vf_tape *t, const vf_path *path, const vf_cfm_batch *b)
{
    if (!vf__ok(t, "cfm_score_loss", 0, NULL)) return VF_NOVAR;
    if (!s || !p || !path || !b) return vf__fail(t, VF_ERR_ARG, "cfm_score_loss: NULL argument");
    const vf_vfield_params *vp = vf_vfield_get_params(s);
    int64_t n = b->n, d = b->d;
    if (n < 1 || d != vp->dim)
        return vf__fail(t, VF_ERR_SHAPE, "cfm_score_loss: need n >= 1 rows of the field's dimension %lld (got [%lld, %lld])",
                        (long long)vp->dim, (long long)n, (long long)d);
    if (!b->z) return vf__fail(t, VF_ERR_ARG, "cfm_score_loss: the score loss needs the noise z");
    if ((vp->context > 0) != (b->context != NULL))
        return vf__fail(t, VF_ERR_ARG, "cfm_score_loss: the field takes a context of width %lld", (long long)vp->context);
    vf_real *xt = vf__tape_alloc(t, (size_t)(n * d) * sizeof *xt), *ut = vf__tape_alloc(t, (size_t)(n * d) * sizeof *ut);
    vf_real *g = vf__tape_alloc(t, (size_t)n * sizeof *g);
    if (!xt || !ut || !g) return VF_NOVAR;
    vf_status st = vf_path_sample(path, n, d, b->x0, b->x1, b->t, b->z, xt, ut, NULL);
    if (st != VF_OK) return vf__fail(t, st, "cfm_score_loss: %s", vf_last_error());
    for (int64_t i = 0; i < n; i++) {
        double gi = 0;
        if ((st = vf_path_coefficients(path, (double)b->t[i], NULL, NULL, &gi, NULL, NULL, NULL)) != VF_OK)
            return vf__fail(t, st, "cfm_score_loss: %s", vf_last_error());
        if (!(gi > 0))
            return vf__fail(t, VF_ERR_ARG, "cfm_score_loss: the path has no noise at t = %g (row %lld): no score there",
                            (double)b->t[i], (long long)i);
        g[i] = (vf_real)gi;
    }
    vf_var time = vf_input(t, b->t, 2, (int64_t[]){n, 1});
    vf_var ctx = b->context ? vf_input(t, b->context, 2, (int64_t[]){n, vp->context}) : VF_NOVAR;
    vf_var pred = vf_vfield_forward(s, p, t, vf_input(t, xt, 2, (int64_t[]){n, d}), time, VF_NOVAR, ctx, b->labels);
    /* g s + z = g (s - score): the score -z / g weighted by lambda = g, finite as g -> 0 */
    vf_var err = vf_add(t, vf_mul(t, pred, vf_input(t, g, 2, (int64_t[]){n, 1})), vf_input(t, b->z, 2, (int64_t[]){n, d}));
    return vf_scale(t, vf_sum(t, vf_square(t, err), VF_ALL_AXES, 0), 1.0 / (double)n);
}

typedef struct transport_ctx {
    const vf_vfield *v;
    vf_params *p;
    vf__tape_pool *pool;      /* the tapes, one per thread */
    int64_t d, c, n;
    const vf_real *context;   /* [n, c] or NULL */
    const int64_t *labels;    /* [n] or NULL */
    double guidance;          /* w of classifier-free guidance (0: none) */
    vf_real *time;            /* [VF_EVAL_BLOCK_ROWS], the evaluation's time */
    const vf_real *x;         /* [n, d]: the evaluation's points */
    vf_real *dxdt;            /* [n, d]: their velocities */
} transport_ctx;

/* dxdt = v(x, t) for the rows of one block, on tape t (inference mode). */
static vf_status transport_block(void *ctx, vf_tape *t, int worker, int64_t start, int64_t m)
{
    (void)worker;
    transport_ctx *c = ctx;
    vf_tape_reset(t);
    vf_var xv = vf_input(t, c->x + start * c->d, 2, (int64_t[]){m, c->d});
    vf_var tv = vf_input(t, c->time, 2, (int64_t[]){m, 1});
    vf_var cv = c->context ? vf_input(t, c->context + start * c->c, 2, (int64_t[]){m, c->c}) : VF_NOVAR;
    vf_var rv = vf_vfield_get_params(c->v)->two_times ? tv : VF_NOVAR; /* MeanFlow: v(x, t) = u(x, t, t) */
    vf_var out = vf_vfield_forward(c->v, c->p, t, xv, tv, rv, cv, c->labels ? c->labels + start : NULL);
    if (c->guidance != 0) { /* (1 + w) v(x, t, c) - w v(x, t, null) */
        vf_var uncond = vf_vfield_forward(c->v, c->p, t, xv, tv, rv, cv, NULL);
        out = vf_sub(t, vf_scale(t, out, 1 + c->guidance), vf_scale(t, uncond, c->guidance));
    }
    vf_status s = vf_tape_status(t);
    if (s != VF_OK) return vf__error(s, "cfm_transport: %s", vf_tape_error(t));
    memcpy(c->dxdt + start * c->d, vf_value(t, out)->data, (size_t)(m * c->d) * sizeof *c->dxdt);
    return VF_OK;
}

/* dxdt = v(x, t) for all rows, the blocks on the pool's threads. */
static vf_status transport_field(void *ctx, double tm, int64_t size, const vf_real *x, vf_real *dxdt)
{
    transport_ctx *c = ctx;
    for (int64_t i = 0; i < VF_EVAL_BLOCK_ROWS; i++) c->time[i] = (vf_real)tm;
    c->n = size / c->d;
    c->x = x;
    c->dxdt = dxdt;
    return vf__tape_pool_run(c->pool, c->n, transport_block, c);
}

vf_status vf_cfm_drop_labels(int64_t n, const int64_t *labels, int64_t classes, double p_drop, vf_rng *r,
                             int64_t *out)
{
    if (n < 0 || classes < 1 || !(p_drop >= 0 && p_drop <= 1) || !r || (n > 0 && (!labels || !out)))
        return vf__error(VF_ERR_ARG, "cfm_drop_labels: need n >= 0, classes >= 1, 0 <= p_drop <= 1 (got %g) and "
                         "non-NULL arrays", p_drop);
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] > classes)
            return vf__error(VF_ERR_ARG, "cfm_drop_labels: label %lld of row %lld is outside 0..%lld",
                             (long long)labels[i], (long long)i, (long long)classes);
        out[i] = vf_rng_uniform(r) < p_drop ? classes : labels[i];
    }
    return VF_OK;
}

vf_status vf_cfm_transport(const vf_vfield *v, vf_params *p, vf_tape *tape, int64_t n, vf_real *x,
                           const vf_real *context, const int64_t *labels, double t0, double t1,
                           const vf_ode_options *o, vf_ode_stats *stats)
{
    return vf_cfm_transport_guided(v, p, tape, n, x, context, labels, 0.0, t0, t1, o, stats);
}

vf_status vf_cfm_transport_guided(const vf_vfield *v, vf_params *p, vf_tape *tape, int64_t n, vf_real *x,
                                  const vf_real *context, const int64_t *labels, double guidance, double t0,
                                  double t1, const vf_ode_options *o, vf_ode_stats *stats)
{
    if (!v || !p || !o || (n > 0 && !x)) return vf__error(VF_ERR_ARG, "cfm_transport: NULL argument");
    if (!isfinite(guidance)) return vf__error(VF_ERR_ARG, "cfm_transport: guidance must be finite (got %g)", guidance);
    if (guidance != 0 && (!labels || vf_vfield_get_params(v)->classes < 1))
        return vf__error(VF_ERR_ARG, "cfm_transport: guidance needs a labelled field and labels");
    const vf_vfield_params *vp = vf_vfield_get_params(v);
    if (n < 0) return vf__error(VF_ERR_ARG, "cfm_transport: negative row count %lld", (long long)n);
    if ((vp->context > 0) != (context != NULL))
        return vf__error(VF_ERR_ARG, "cfm_transport: the field takes a context of width %lld", (long long)vp->context);
    transport_ctx c = {v, p, NULL, vp->dim, vp->context, n, context, labels, guidance, NULL, NULL, NULL};
    c.time = vf_malloc(VF_EVAL_BLOCK_ROWS * sizeof *c.time);
    if (!c.time) return vf__error(VF_ERR_NOMEM, "cfm_transport: out of memory");
    /* one tape per thread, in inference mode with the parameters frozen over the solve (layers keep
     * their packed weights); the caller's tape is restored at the end */
    vf__tape_pool pool;
    vf_status s = vf__tape_pool_open(&pool, tape, n, VF__POOL_INFERENCE);
    c.pool = &pool;
    if (s == VF_OK) s = vf_ode_solve(transport_field, &c, n * vp->dim, x, t0, t1, o, stats);
    vf__tape_pool_close(&pool);
    vf_free(c.time);
    return s;
}
