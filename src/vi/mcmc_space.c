/* mcmc_space.c — where the chains of vf_mcmc_run move: log-densities and gradients of a batch of
 * states (one row per chain), in the target's coordinates or pulled back into a flow's latent space,
 * and draws from the flow with one random stream per chain.
 *
 * Pulled back (neutra): for latent z [m, d], x = T(z) by the flow's sampling direction on the tape
 * with z an input that wants a gradient; log p~(x) and g = grad log p~(x) come from the target in
 * double; the surrogate sum(x * stop(g)) + sum(log|det dx/dz|) is differentiated, so grad_z is
 * J^T g + grad log|det J|. The parameter gradients that backward adds to the store are zeroed. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "mcmc_internal.h"
#include "vi_internal.h"

vf_status vf__mcmc_space_init(vf__mcmc_space *s, const vf_target *t, const vf_flow *f, vf_params *p, int latent,
                              int64_t rows)
{
    memset(s, 0, sizeof *s);
    s->t = t;
    s->f = f;
    s->p = p;
    s->latent = latent;
    s->d = t->dim;
    s->cap = rows;
    s->iteration = -1;
    size_t nd = (size_t)(rows * s->d);
    s->zbuf = vf_malloc(nd * sizeof *s->zbuf);
    s->gc = vf_malloc(nd * sizeof *s->gc);
    s->xd = vf_malloc(nd * sizeof *s->xd);
    if (f) s->tape = vf_tape_new();
    if (!s->zbuf || !s->gc || !s->xd || (f && !s->tape)) {
        vf__mcmc_space_free(s);
        return vf__error(VF_ERR_NOMEM, "mcmc: out of memory");
    }
    return VF_OK;
}

void vf__mcmc_space_free(vf__mcmc_space *s)
{
    vf_free(s->zbuf);
    vf_free(s->gc);
    vf_free(s->xd);
    vf_tape_free(s->tape);
    memset(s, 0, sizeof *s);
}

/* The error for a NaN log-density at row `row` of the batch (0-based, as the library's other row
 * messages; its point x [d]): where and when. */
static vf_status nan_error(const vf__mcmc_space *s, int64_t row, const double *x)
{
    char when[64], at[160];
    if (s->iteration < 0) snprintf(when, sizeof when, "at the start points");
    else snprintf(when, sizeof when, "at iteration %lld", (long long)(s->iteration + 1));
    int len = 0;
    for (int64_t k = 0; k < s->d && k < 4 && len >= 0 && len < (int)sizeof at; k++)
        len += snprintf(at + len, sizeof at - (size_t)len, "%s%.6g", k ? ", " : "", x[k]);
    return vf__error(VF_ERR_NUMERIC, "mcmc: target %s is NaN %s, at row %lld of the batch (x = [%s%s])",
                     s->t->name, when, (long long)row, at, s->d > 4 ? ", ..." : "");
}

/* log p~ at the rows x [m, d] (grad [m, d] or NULL), in one batch when the target has one; -inf
 * outside the support, at a non-finite x (not given to the target) and where the gradient is not
 * finite; NaN is an error naming the row. */
static vf_status targets_at(const vf__mcmc_space *s, int64_t m, const double *x, double *lp, double *grad)
{
    int64_t d = s->d;
    vf_status st = vf__target_eval(s->t, m, x, lp, grad, 1);
    if (st != VF_OK) return vf__error(st, "mcmc: %s", vf_last_error());
    for (int64_t i = 0; i < m; i++) {
        double v = lp[i];
        if (isnan(v)) return nan_error(s, i, x + i * d);
        if (grad && isfinite(v))
            for (int64_t k = 0; k < d; k++)
                if (!isfinite(grad[i * d + k])) v = -INFINITY;
        lp[i] = v == INFINITY ? -INFINITY : v;
    }
    return VF_OK;
}

static vf_status tape_failed(const vf_tape *t, const char *what)
{
    return vf__error(vf_tape_status(t), "mcmc: %s: %s", what, vf_tape_error(t));
}

static vf_status eval_latent(vf__mcmc_space *s, int64_t m, const double *q, double *logp, double *grad, double *x)
{
    int64_t d = s->d;
    vf_tape *t = s->tape;
    for (int64_t i = 0; i < m * d; i++) s->zbuf[i] = (vf_real)q[i];
    vf_tape_reset(t);
    vf_tape_set_grad_enabled(t, grad != NULL);
    vf_var z = grad ? vf_input_grad(t, s->zbuf, 2, (int64_t[]){m, d}) : vf_input(t, s->zbuf, 2, (int64_t[]){m, d});
    vf_var ladj;
    vf_var xv = vf_flow_inverse(s->f, s->p, t, z, VF_NOVAR, &ladj);
    if (vf_tape_status(t) != VF_OK) return tape_failed(t, "the flow's sampling direction");
    const vf_real *xs = vf_value(t, xv)->data, *ls = vf_value(t, ladj)->data;
    double *g = grad ? grad : NULL;
    for (int64_t i = 0; i < m * d; i++) s->xd[i] = (double)xs[i];
    vf_status st = targets_at(s, m, s->xd, logp, g);
    if (st != VF_OK) return st;
    for (int64_t i = 0; i < m; i++) {
        double la = (double)ls[i];
        logp[i] = isfinite(logp[i]) && isfinite(la) ? logp[i] + la : -INFINITY;
        if (g)
            for (int64_t k = 0; k < d; k++) s->gc[i * d + k] = isfinite(logp[i]) ? (vf_real)g[i * d + k] : 0;
    }
    if (x) memcpy(x, s->xd, (size_t)(m * d) * sizeof *x);
    if (!grad) {
        vf_tape_set_grad_enabled(t, 1);
        return VF_OK;
    }
    vf_var gcv = vf_input(t, s->gc, 2, (int64_t[]){m, d});
    vf_var sur = vf_add(t, vf_sum(t, vf_mul(t, xv, gcv), VF_ALL_AXES, 0), vf_sum(t, ladj, VF_ALL_AXES, 0));
    if (vf_tape_status(t) != VF_OK) return tape_failed(t, "the pulled-back density");
    st = vf_backward(t, sur);
    vf_params_zero_grad(s->p);
    if (st != VF_OK) return tape_failed(t, "the gradient through the flow");
    const vf_real *gz = vf_grad(t, z);
    if (!gz) return vf__error(VF_ERR_STATE, "mcmc: no gradient with respect to the latent states");
    for (int64_t i = 0; i < m; i++) {
        int ok = isfinite(logp[i]);
        for (int64_t k = 0; k < d && ok; k++) ok = isfinite((double)gz[i * d + k]);
        if (!ok) logp[i] = -INFINITY;
        for (int64_t k = 0; k < d; k++) grad[i * d + k] = ok ? (double)gz[i * d + k] : 0;
    }
    return VF_OK;
}

vf_status vf__mcmc_eval(vf__mcmc_space *s, int64_t m, const double *q, double *logp, double *grad, double *x)
{
    if (m > s->cap) return vf__error(VF_ERR_ARG, "mcmc: %lld rows exceed the scratch (%lld)", (long long)m, (long long)s->cap);
    if (s->latent) return eval_latent(s, m, q, logp, grad, x);
    int64_t d = s->d;
    vf_status st = targets_at(s, m, q, logp, grad);
    if (st != VF_OK) return st;
    if (x && x != q) memcpy(x, q, (size_t)(m * d) * sizeof *x);
    return VF_OK;
}

vf_status vf__mcmc_flow_draw(vf__mcmc_space *s, int64_t m, int64_t k, vf_rng *rng, double *x, double *z, double *logq)
{
    int64_t d = s->d, rows = m * k;
    vf_tape *t = s->tape;
    const vf_dist *base = vf_flow_base(s->f);
    vf_tape_reset(t);
    vf_tape_set_grad_enabled(t, 0);
    vf_status st = VF_OK;
    vf_var *parts = vf_malloc((size_t)m * sizeof *parts);
    if (!parts) st = vf__error(VF_ERR_NOMEM, "mcmc: out of memory");
    for (int64_t c = 0; c < m && st == VF_OK; c++) parts[c] = vf_dist_sample(base, s->p, t, k, VF_NOVAR, rng + c);
    vf_var zv = VF_NOVAR, ladj = VF_NOVAR, xv = VF_NOVAR, lb = VF_NOVAR;
    if (st == VF_OK) {
        zv = m > 1 ? vf_concat(t, (int)m, parts, 0) : parts[0];
        xv = vf_flow_inverse(s->f, s->p, t, zv, VF_NOVAR, &ladj);
        lb = vf_dist_log_prob(base, s->p, t, zv, VF_NOVAR);
        if (vf_tape_status(t) != VF_OK) st = tape_failed(t, "drawing from the flow");
    }
    if (st == VF_OK) {
        const vf_real *xs = vf_value(t, xv)->data, *zs = vf_value(t, zv)->data;
        const vf_real *ls = vf_value(t, ladj)->data, *bs = vf_value(t, lb)->data;
        for (int64_t i = 0; i < rows * d; i++) {
            x[i] = (double)xs[i];
            if (z) z[i] = (double)zs[i];
        }
        for (int64_t i = 0; i < rows; i++) logq[i] = (double)bs[i] - (double)ls[i];
    }
    vf_free(parts);
    vf_tape_reset(t);
    vf_tape_set_grad_enabled(t, 1);
    return st;
}
