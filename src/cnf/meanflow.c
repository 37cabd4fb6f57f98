/* meanflow.c — MeanFlow's training loss through a forward-mode JVP, and its one- and few-step
 * sampler (vf_cfm.h). */
#include <math.h>
#include <string.h>
#include "ad/ad_internal.h"
#include "varflow/vf_cfm.h"
#include "varflow/vf_eval.h"

vf_meanflow_options vf_meanflow_default_options(void)
{
    vf_meanflow_options o;
    o.weight_p = 0.0; /* the paper's p = 1 is mode-seeking on multimodal 2-D data (docs/cnf.md) */
    o.weight_c = 1e-3;
    o.time_dist = VF_MEANFLOW_TIME_UNIFORM;
    o.time_mu = 0.4;
    o.time_sigma = 1.0;
    o.p_distinct = 0.25;
    return o;
}

static int weights_ok(const vf_meanflow_options *o)
{
    return isfinite(o->weight_p) && o->weight_p >= 0 && isfinite(o->weight_c) && o->weight_c > 0;
}

static double draw_time(const vf_meanflow_options *o, vf_rng *r)
{
    if (o->time_dist == VF_MEANFLOW_TIME_UNIFORM) return vf_rng_uniform(r);
    double z = o->time_mu + o->time_sigma * vf_rng_normal(r);
    return 1.0 / (1.0 + exp(-z));
}

vf_status vf_meanflow_times(const vf_meanflow_options *o, int64_t n, vf_rng *r, vf_real *s, vf_real *e)
{
    vf_meanflow_options def = vf_meanflow_default_options();
    if (!o) o = &def;
    if (!r || (n > 0 && (!s || !e)) || n < 0) return vf__error(VF_ERR_ARG, "meanflow_times: NULL argument or n < 0");
    if ((o->time_dist != VF_MEANFLOW_TIME_UNIFORM && o->time_dist != VF_MEANFLOW_TIME_LOGIT_NORMAL) ||
        !isfinite(o->time_mu) || !isfinite(o->time_sigma) || o->time_sigma < 0 || !(o->p_distinct >= 0 && o->p_distinct <= 1))
        return vf__error(VF_ERR_ARG, "meanflow_times: bad options (time_dist %d, mu %g, sigma %g, p_distinct %g)",
                         (int)o->time_dist, o->time_mu, o->time_sigma, o->p_distinct);
    for (int64_t i = 0; i < n; i++) {
        double a = draw_time(o, r), c = draw_time(o, r);
        if (a > c) {
            double tmp = a;
            a = c;
            c = tmp;
        }
        if (vf_rng_uniform(r) >= o->p_distinct) c = a;
        s[i] = (vf_real)a;
        e[i] = (vf_real)c;
        if (s[i] > e[i]) e[i] = s[i]; /* rounding to float keeps the order, but be sure */
    }
    return VF_OK;
}

vf_var vf_meanflow_loss(const vf_vfield *v, vf_params *p, vf_tape *t, const vf_meanflow_batch *b)
{
    if (!vf__ok(t, "meanflow_loss", 0, NULL)) return VF_NOVAR;
    if (!v || !p || !b || !b->x0 || !b->x1 || !b->s || !b->e) return vf__fail(t, VF_ERR_ARG, "meanflow_loss: NULL argument");
    const vf_vfield_params *vp = vf_vfield_get_params(v);
    int64_t n = b->n, d = b->d;
    vf_meanflow_options def = vf_meanflow_default_options();
    const vf_meanflow_options *o = b->options ? b->options : &def;
    if (!vp->two_times) return vf__fail(t, VF_ERR_ARG, "meanflow_loss: the field needs two times (two_times = 1)");
    if (!weights_ok(o))
        return vf__fail(t, VF_ERR_ARG, "meanflow_loss: need weight_p >= 0 and weight_c > 0 (got %g, %g)", o->weight_p,
                        o->weight_c);
    if (n < 1 || d != vp->dim)
        return vf__fail(t, VF_ERR_SHAPE, "meanflow_loss: need n >= 1 rows of the field's dimension %lld", (long long)vp->dim);
    if ((vp->context > 0) != (b->context != NULL))
        return vf__fail(t, VF_ERR_ARG, "meanflow_loss: the field takes a context of width %lld", (long long)vp->context);
    if (!vf_tape_grad_enabled(t)) return vf__fail(t, VF_ERR_STATE, "meanflow_loss: needs a tape that records gradients");
    for (int64_t i = 0; i < n; i++)
        if (!(b->s[i] >= 0 && b->s[i] <= b->e[i] && b->e[i] <= 1))
            return vf__fail(t, VF_ERR_ARG, "meanflow_loss: row %lld has s = %g, e = %g (need 0 <= s <= e <= 1)",
                            (long long)i, (double)b->s[i], (double)b->e[i]);
    vf_real *xs = vf__tape_alloc(t, (size_t)(n * d) * sizeof *xs), *vel = vf__tape_alloc(t, (size_t)(n * d) * sizeof *vel);
    vf_real *ones = vf__tape_alloc(t, (size_t)n * sizeof *ones), *target = vf__tape_alloc(t, (size_t)(n * d) * sizeof *target);
    if (!xs || !vel || !ones || !target) return VF_NOVAR;
    for (int64_t i = 0; i < n; i++) {
        double s = (double)b->s[i];
        ones[i] = 1;
        for (int64_t j = 0; j < d; j++) {
            double a = (double)b->x0[i * d + j], c = (double)b->x1[i * d + j];
            xs[i * d + j] = (vf_real)((1 - s) * a + s * c);
            vel[i * d + j] = (vf_real)(c - a);
        }
    }
    vf_var xv = vf_input(t, xs, 2, (int64_t[]){n, d});
    vf_var sv = vf_input(t, b->s, 2, (int64_t[]){n, 1});
    vf_var ev = vf_input(t, b->e, 2, (int64_t[]){n, 1});
    vf_var cv = b->context ? vf_input(t, b->context, 2, (int64_t[]){n, vp->context}) : VF_NOVAR;
    vf_var u = vf_vfield_forward(v, p, t, xv, sv, ev, cv, b->labels);
    if (vf_tape_status(t) != VF_OK) return VF_NOVAR;
    /* d/ds u along the trajectory: tangents (v, 1, 0) on (x, s, e) */
    vf_status st = vf_set_tangent(t, xv, vel);
    if (st == VF_OK) st = vf_set_tangent(t, sv, ones);
    if (st == VF_OK) st = vf_jvp(t);
    if (st != VF_OK) return vf__fail(t, st, "meanflow_loss: %s", vf_last_error());
    const vf_real *du = vf_tangent(t, u);
    for (int64_t i = 0; i < n; i++) {
        double h = (double)b->e[i] - (double)b->s[i];
        for (int64_t j = 0; j < d; j++)
            target[i * d + j] = (vf_real)((double)vel[i * d + j] + h * (du ? (double)du[i * d + j] : 0.0));
    }
    vf_var err = vf_sub(t, u, vf_input(t, target, 2, (int64_t[]){n, d})); /* the target is a constant */
    vf_var rows = vf_sum(t, vf_square(t, err), 1, 1);                     /* [n, 1] */
    if (o->weight_p > 0 && vf_tape_status(t) == VF_OK) {
        /* adaptive weights w_i = 1 / (e_i + c)^p, constants (the paper's stop-gradient) */
        vf_real *w = vf__tape_alloc(t, (size_t)n * sizeof *w);
        if (!w) return VF_NOVAR;
        const vf_real *rv = vf_value(t, rows)->data;
        for (int64_t i = 0; i < n; i++) w[i] = (vf_real)pow((double)rv[i] + o->weight_c, -o->weight_p);
        rows = vf_mul(t, rows, vf_input(t, w, 2, (int64_t[]){n, 1}));
    }
    return vf_scale(t, vf_sum(t, rows, VF_ALL_AXES, 0), 1.0 / (double)n);
}

typedef struct meanflow_sample_ctx {
    const vf_vfield *v;
    vf_params *p;
    int64_t d, c, steps;
    vf_real *x;               /* [n, d], moved in place */
    const vf_real *context;   /* [n, c] or NULL */
    const int64_t *labels;    /* [n] or NULL */
    vf_real *times;           /* [workers, 2, VF_EVAL_BLOCK_ROWS]: each worker's start and end times */
} meanflow_sample_ctx;

/* All the jumps of one block of rows, on tape t: x += (s1 - s0) u(x, s0, s1). The blocks' rows
 * never meet, so a block runs its steps alone. */
static vf_status meanflow_sample_block(void *ctx, vf_tape *t, int worker, int64_t start, int64_t m)
{
    meanflow_sample_ctx *mc = ctx;
    int64_t d = mc->d;
    vf_real *times = mc->times + (int64_t)worker * 2 * VF_EVAL_BLOCK_ROWS, *x = mc->x + start * d;
    for (int64_t k = 0; k < mc->steps; k++) {
        double s0 = (double)k / (double)mc->steps, s1 = k + 1 == mc->steps ? 1.0 : (double)(k + 1) / (double)mc->steps;
        for (int64_t i = 0; i < m; i++) times[i] = (vf_real)s0, times[VF_EVAL_BLOCK_ROWS + i] = (vf_real)s1;
        vf_tape_reset(t);
        vf_var xv = vf_input(t, x, 2, (int64_t[]){m, d});
        vf_var sv = vf_input(t, times, 2, (int64_t[]){m, 1}), ev = vf_input(t, times + VF_EVAL_BLOCK_ROWS, 2, (int64_t[]){m, 1});
        vf_var cv = mc->context ? vf_input(t, mc->context + start * mc->c, 2, (int64_t[]){m, mc->c}) : VF_NOVAR;
        vf_var u = vf_vfield_forward(mc->v, mc->p, t, xv, sv, ev, cv, mc->labels ? mc->labels + start : NULL);
        vf_status s = vf_tape_status(t);
        if (s != VF_OK) return vf__error(s, "meanflow_sample: %s", vf_tape_error(t));
        const vf_real *ud = vf_value(t, u)->data;
        for (int64_t i = 0; i < m * d; i++) x[i] = (vf_real)((double)x[i] + (s1 - s0) * (double)ud[i]);
    }
    return VF_OK;
}

vf_status vf_meanflow_sample(const vf_vfield *v, vf_params *p, vf_tape *tape, int64_t n, vf_real *x,
                             const vf_real *context, const int64_t *labels, int64_t steps)
{
    if (!v || !p || (n > 0 && !x)) return vf__error(VF_ERR_ARG, "meanflow_sample: NULL argument");
    const vf_vfield_params *vp = vf_vfield_get_params(v);
    if (!vp->two_times) return vf__error(VF_ERR_ARG, "meanflow_sample: the field needs two times (two_times = 1)");
    if (n < 0 || steps < 1)
        return vf__error(VF_ERR_ARG, "meanflow_sample: need n >= 0 and steps >= 1 (got %lld, %lld)", (long long)n,
                         (long long)steps);
    if ((vp->context > 0) != (context != NULL))
        return vf__error(VF_ERR_ARG, "meanflow_sample: the field takes a context of width %lld", (long long)vp->context);
    meanflow_sample_ctx mc = {v, p, vp->dim, vp->context, steps, x, context, labels, NULL};
    /* one tape per thread, in inference mode with the parameters frozen over the steps (layers keep
     * their packed weights); the caller's tape is restored at the end */
    vf__tape_pool pool;
    vf_status s = vf__tape_pool_open(&pool, tape, n, VF__POOL_INFERENCE);
    if (s == VF_OK && !(mc.times = vf_malloc((size_t)pool.n * 2 * VF_EVAL_BLOCK_ROWS * sizeof *mc.times)))
        s = vf__error(VF_ERR_NOMEM, "meanflow_sample: out of memory");
    if (s == VF_OK) s = vf__tape_pool_run(&pool, n, meanflow_sample_block, &mc);
    vf__tape_pool_close(&pool);
    vf_free(mc.times);
    return s;
}
