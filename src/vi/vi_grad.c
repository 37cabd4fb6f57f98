/* vi_grad.c — the gradient estimators of vf_vi.h (reverse KL by reparameterization and path, forward
 * KL and chi^2 by self-normalized weights), the temperature beta, and draws of q with their
 * importance weights.
 *
 * One gradient step (n draws, d dimensions):
 *   tape t:   z ~ base, x = T^-1(z) [n, d] and log q(x) [n] from vf_flow_sample (sampling direction);
 *   target:   log p~(x) [n] and g = grad log p~(x) [n, d] in double (vf_target_scores);
 *   path:     tape u: log q at x as an input with a gradient, through the density direction; its
 *             backward gives h = grad_x log q(x) [n, d], and the parameter gradients it adds are
 *             undone (the store's gradient buffer is saved before and restored after);
 *   tape t:   surrogate  rkl:  mean(log q) - sum(x * stop(g)) / n
 *                        path: -sum(x * stop(g - h)) / n
 *             and its backward adds the estimate to the store's gradients.
 * fkl:      x drawn without gradients; w~ = softmax(log w), log w = beta log p~ - log q (stop-gradient);
 *           tape t: log q at x as a constant input (density direction), surrogate -sum w~_i log q(x_i).
 * chi2:     the same with v = softmax(2 log w) and the surrogate -1/2 sum v_i log q(x_i) (the score-
 *           function gradient of 1/2 log E_q[w^2], since d/dtheta E_q[w^2] = -E_q[w^2 d log q]).
 * beta scales log p~ (and g) in every objective's loss and gradient, not in vf_vi_draw.
 * The vf_vi object owns the two tapes and the scratch arrays, grown as n grows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "varflow/vf_vi.h"
#include "vi_internal.h"

#define VI_DRAW_CHUNK 4096

struct vf_vi {
    const vf_flow *f;
    vf_params *p;
    const vf_target *target;
    int64_t d;
    vf_tape *t, *u;
    int64_t cap;        /* rows the scratch arrays hold */
    double *logp;       /* [cap] */
    double *g;          /* [cap, d] target scores */
    vf_real *gc;        /* [cap, d] the surrogate's constant */
    vf_real *xcopy;     /* [cap, d] x for the density pass */
    vf_real *saved;     /* [size] parameter gradients saved around the density pass (path only) */
    vf_real *wc;        /* [cap] the self-normalized weights of fkl / chi2 */
    double beta;        /* temperature on log p~ in the objectives [1] */
    vf__fab *fab;       /* the fab objective's state, made at its first use */
};

int vf_vi_objective_from_name(const char *name)
{
    if (!name) return -1;
    if (strcmp(name, "rkl") == 0) return VF_VI_RKL;
    if (strcmp(name, "path") == 0) return VF_VI_PATH;
    if (strcmp(name, "fkl") == 0) return VF_VI_FKL;
    if (strcmp(name, "chi2") == 0) return VF_VI_CHI2;
    if (strcmp(name, "fab") == 0) return VF_VI_FAB;
    return -1;
}

const char *vf_vi_objective_name(vf_vi_objective o)
{
    switch (o) {
    case VF_VI_RKL: return "rkl";
    case VF_VI_PATH: return "path";
    case VF_VI_FKL: return "fkl";
    case VF_VI_CHI2: return "chi2";
    case VF_VI_FAB: return "fab";
    }
    return "unknown";
}

vf_status vf_vi_set_beta(vf_vi *v, double beta)
{
    if (!v || !(beta > 0.0 && beta <= 1.0)) return vf__error(VF_ERR_ARG, "vi: the temperature beta %g is not in (0, 1]", beta);
    v->beta = beta;
    return VF_OK;
}

vf_status vf_vi_new(const vf_flow *f, vf_params *p, const vf_target *target, vf_vi **out)
{
    if (out) *out = NULL;
    if (!f || !p || !target || !out || !target->log_prob) return vf__error(VF_ERR_ARG, "vi: NULL argument");
    if (vf_flow_context_dim(f) != 0) return vf__error(VF_ERR_ARG, "vi: the flow must be unconditional");
    if (!vf_params_is_finalized(p)) return vf__error(VF_ERR_STATE, "vi: the parameter store is not finalized");
    if (vf_flow_dim(f) != target->dim)
        return vf__error(VF_ERR_SHAPE, "vi: the flow has dimension %lld but target %s has %lld",
                         (long long)vf_flow_dim(f), target->name, (long long)target->dim);
    vf_vi *v = vf_malloc(sizeof *v);
    if (!v) return vf__error(VF_ERR_NOMEM, "vi: out of memory");
    memset(v, 0, sizeof *v);
    v->f = f;
    v->p = p;
    v->target = target;
    v->d = target->dim;
    v->beta = 1.0;
    v->t = vf_tape_new();
    v->u = vf_tape_new();
    int64_t size = vf_params_size(p);
    v->saved = vf_malloc((size_t)(size > 0 ? size : 1) * sizeof *v->saved);
    if (!v->t || !v->u || !v->saved) {
        vf_vi_free(v);
        return vf__error(VF_ERR_NOMEM, "vi: out of memory");
    }
    *out = v;
    return VF_OK;
}

void vf_vi_free(vf_vi *v)
{
    if (!v) return;
    vf_tape_free(v->t);
    vf_tape_free(v->u);
    vf_free(v->logp);
    vf_free(v->g);
    vf_free(v->gc);
    vf_free(v->xcopy);
    vf_free(v->saved);
    vf_free(v->wc);
    vf__fab_free(v->fab);
    vf_free(v);
}

static vf_status reserve(vf_vi *v, int64_t n)
{
    if (n <= v->cap) return VF_OK;
    size_t nd = (size_t)(n * v->d);
    double *logp = vf_malloc((size_t)n * sizeof *logp), *g = vf_malloc(nd * sizeof *g);
    vf_real *gc = vf_malloc(nd * sizeof *gc), *xc = vf_malloc(nd * sizeof *xc), *wc = vf_malloc((size_t)n * sizeof *wc);
    if (!logp || !g || !gc || !xc || !wc) {
        vf_free(logp);
        vf_free(g);
        vf_free(gc);
        vf_free(xc);
        vf_free(wc);
        return vf__error(VF_ERR_NOMEM, "vi: out of memory for %lld draws", (long long)n);
    }
    vf_free(v->logp);
    vf_free(v->g);
    vf_free(v->gc);
    vf_free(v->xcopy);
    vf_free(v->wc);
    v->wc = wc;
    v->logp = logp;
    v->g = g;
    v->gc = gc;
    v->xcopy = xc;
    v->cap = n;
    return VF_OK;
}

static vf_status tape_failed(const vf_tape *t, const char *what)
{
    return vf__error(vf_tape_status(t), "vi: %s: %s", what, vf_tape_error(t));
}

/* h = grad_x log q(x) for x [n, d] (the path term), into v->gc as g - h; the store's gradients are
 * left as they were. Rows with a non-finite h keep gc = g. */
static vf_status path_term(vf_vi *v, int64_t n, const vf_real *x)
{
    int64_t nd = n * v->d, size = vf_params_size(v->p);
    vf_real *grads = vf_params_grads(v->p);
    memcpy(v->xcopy, x, (size_t)nd * sizeof *x);
    memcpy(v->saved, grads, (size_t)size * sizeof *grads);
    vf_tape_reset(v->u);
    vf_var xi = vf_input_grad(v->u, v->xcopy, 2, (int64_t[]){n, v->d});
    vf_var lq = vf_flow_log_prob(v->f, v->p, v->u, xi, VF_NOVAR);
    vf_var s = vf_sum(v->u, lq, VF_ALL_AXES, 0);
    vf_status st = vf_tape_status(v->u);
    if (st != VF_OK) return tape_failed(v->u, "log q at the draws");
    st = vf_backward(v->u, s);
    memcpy(grads, v->saved, (size_t)size * sizeof *grads);
    if (st != VF_OK) return tape_failed(v->u, "grad log q at the draws");
    const vf_real *h = vf_grad(v->u, xi);
    if (!h) return vf__error(VF_ERR_STATE, "vi: no gradient of log q with respect to the draws");
    for (int64_t i = 0; i < n; i++) {
        int ok = 1;
        for (int64_t k = 0; k < v->d; k++) ok &= isfinite((double)h[i * v->d + k]);
        if (ok)
            for (int64_t k = 0; k < v->d; k++) v->gc[i * v->d + k] = (vf_real)(v->g[i * v->d + k] - (double)h[i * v->d + k]);
    }
    return VF_OK;
}

/* The loss of fkl (chi2 = 0) or chi2 (chi2 = 1) from log w [n]: sum w~ log w - log mean w, with
 * w~ = softmax(log w), or 1/2 log mean w^2 (in double, by the maximum); +inf when no draw is inside the
 * support. When wc is not NULL it receives the self-normalized weights softmax(c log w), c = 1 or 2. */
static double weighted_loss(int64_t n, const double *logw, int chi2, vf_real *wc)
{
    double scale = chi2 ? 2.0 : 1.0, mx = -INFINITY, acc = 0, kl = 0;
    for (int64_t i = 0; i < n; i++)
        if (scale * logw[i] > mx) mx = scale * logw[i];
    if (mx == -INFINITY) return INFINITY;
    for (int64_t i = 0; i < n; i++) acc += exp(scale * logw[i] - mx);
    for (int64_t i = 0; i < n; i++) {
        double w = exp(scale * logw[i] - mx) / acc;
        if (wc) wc[i] = (vf_real)w;
        if (!chi2 && w > 0) kl += w * logw[i];
    }
    double lmean = mx + log(acc / (double)n);
    return chi2 ? 0.5 * lmean : kl - lmean;
}

/* The fkl and chi2 steps: draws without gradients, self-normalized weights (of w for fkl, w^2 for
 * chi2), then -c sum w~ log q(x) at the fixed draws (c = 1 for fkl, 1/2 for chi2). */
static vf_status weighted_grad(vf_vi *v, vf_vi_objective obj, int64_t n, vf_rng *r, double *loss)
{
    vf_tape *t = v->t;
    vf_tape_reset(t);
    vf_tape_set_grad_enabled(t, 0);
    vf_var lq;
    vf_var x = vf_flow_sample(v->f, v->p, t, n, VF_NOVAR, r, &lq);
    vf_tape_set_grad_enabled(t, 1);
    if (vf_tape_status(t) != VF_OK) return tape_failed(t, "sampling the flow");
    const vf_real *xd = vf_value(t, x)->data, *lqd = vf_value(t, lq)->data;
    memcpy(v->xcopy, xd, (size_t)(n * v->d) * sizeof *xd);
    vf_status s = vf_target_scores(v->target, n, v->xcopy, v->logp, NULL);
    if (s != VF_OK) return s;
    double *logw = v->g; /* [n] of the [n, d] scratch: no scores needed */
    int any = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite((double)lqd[i]))
            return vf__error(VF_ERR_NUMERIC, "vi grad: log q is not finite at draw %lld", (long long)i);
        logw[i] = v->logp[i] == -INFINITY ? -INFINITY : v->beta * v->logp[i] - (double)lqd[i];
        any |= logw[i] > -INFINITY;
    }
    if (!any) return vf__error(VF_ERR_NUMERIC, "vi grad: every draw of the batch is outside the support");
    int chi2 = obj == VF_VI_CHI2;
    double l = weighted_loss(n, logw, chi2, v->wc);
    if (loss) *loss = l;
    vf_tape_reset(t);
    vf_var xi = vf_input(t, v->xcopy, 2, (int64_t[]){n, v->d});
    vf_var lq2 = vf_flow_log_prob(v->f, v->p, t, xi, VF_NOVAR);
    vf_var w = vf_input(t, v->wc, 1, (int64_t[]){n});
    vf_var sur = vf_scale(t, vf_sum(t, vf_mul(t, lq2, w), VF_ALL_AXES, 0), chi2 ? -0.5 : -1.0);
    if (vf_tape_status(t) != VF_OK) return tape_failed(t, "the surrogate loss");
    s = vf_backward(t, sur);
    if (s != VF_OK) return tape_failed(t, "the backward pass");
    return VF_OK;
}

vf_status vf_vi_grad(vf_vi *v, vf_vi_objective obj, int64_t n, vf_rng *r, double *loss)
{
    if (!v || !r || n < 1) return vf__error(VF_ERR_ARG, "vi grad: bad arguments (n %lld)", (long long)n);
    if (obj == VF_VI_FAB) {
        vf_status fs = v->fab ? VF_OK : vf__fab_new(v->f, v->p, v->target, &v->fab);
        return fs == VF_OK ? vf__fab_grad(v->fab, n, r, loss) : fs;
    }
    if (obj != VF_VI_RKL && obj != VF_VI_PATH && obj != VF_VI_FKL && obj != VF_VI_CHI2)
        return vf__error(VF_ERR_ARG, "vi grad: unknown objective %d", (int)obj);
    vf_status s = reserve(v, n);
    if (s != VF_OK) return s;
    if (obj == VF_VI_FKL || obj == VF_VI_CHI2) return weighted_grad(v, obj, n, r, loss);
    vf_tape *t = v->t;
    vf_tape_reset(t);
    vf_var lq;
    vf_var x = vf_flow_sample(v->f, v->p, t, n, VF_NOVAR, r, &lq);
    if (vf_tape_status(t) != VF_OK) return tape_failed(t, "sampling the flow");
    const vf_real *xd = vf_value(t, x)->data, *lqd = vf_value(t, lq)->data;
    s = vf_target_scores(v->target, n, xd, v->logp, v->g);
    if (s != VF_OK) return s;
    double acc = 0, beta = v->beta;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite((double)lqd[i]))
            return vf__error(VF_ERR_NUMERIC, "vi grad: log q is not finite at draw %lld", (long long)i);
        acc += (double)lqd[i] - beta * v->logp[i];
    }
    if (loss) *loss = acc / (double)n;
    for (int64_t i = 0; i < n * v->d; i++) v->g[i] *= beta;
    for (int64_t i = 0; i < n * v->d; i++) v->gc[i] = (vf_real)v->g[i];
    if (obj == VF_VI_PATH) {
        s = path_term(v, n, xd);
        if (s != VF_OK) return s;
    }
    vf_var gc = vf_input(t, v->gc, 2, (int64_t[]){n, v->d});
    vf_var inner = vf_scale(t, vf_sum(t, vf_mul(t, x, gc), VF_ALL_AXES, 0), -1.0 / (double)n);
    vf_var sur = obj == VF_VI_RKL ? vf_add(t, vf_mean(t, lq, VF_ALL_AXES, 0), inner) : inner;
    if (vf_tape_status(t) != VF_OK) return tape_failed(t, "the surrogate loss");
    s = vf_backward(t, sur);
    if (s != VF_OK) return tape_failed(t, "the backward pass");
    return VF_OK;
}

vf_status vf_vi_draw(vf_vi *v, int64_t n, vf_rng *r, vf_real *x, double *logw, double *logq, double *logp)
{
    if (!v || !r || n < 0) return vf__error(VF_ERR_ARG, "vi draw: bad arguments");
    vf_tape *t = v->u;
    int64_t chunk = n < VI_DRAW_CHUNK ? n : VI_DRAW_CHUNK;
    vf_status s = reserve(v, chunk > 0 ? chunk : 1);
    if (s != VF_OK) return s;
    for (int64_t i0 = 0; i0 < n; i0 += chunk) {
        int64_t m = n - i0 < chunk ? n - i0 : chunk;
        vf_tape_reset(t);
        vf_tape_set_grad_enabled(t, 0);
        vf_var lq;
        vf_var xs = vf_flow_sample(v->f, v->p, t, m, VF_NOVAR, r, &lq);
        if (vf_tape_status(t) != VF_OK) {
            s = tape_failed(t, "sampling the flow");
            break;
        }
        const vf_real *xd = vf_value(t, xs)->data, *lqd = vf_value(t, lq)->data;
        s = vf_target_scores(v->target, m, xd, v->logp, NULL);
        if (s != VF_OK) {
            if (i0 > 0) s = vf__error(s, "%s (rows counted from draw %lld)", vf_last_error(), (long long)i0);
            break;
        }
        for (int64_t i = 0; i < m; i++) {
            if (x) memcpy(x + (i0 + i) * v->d, xd + i * v->d, (size_t)v->d * sizeof *x);
            if (logq) logq[i0 + i] = (double)lqd[i];
            if (logp) logp[i0 + i] = v->logp[i];
            if (logw) logw[i0 + i] = v->logp[i] == -INFINITY ? -INFINITY : v->logp[i] - (double)lqd[i];
        }
    }
    vf_tape_reset(t);
    vf_tape_set_grad_enabled(t, 1);
    return s;
}

vf_status vf_vi_loss(vf_vi *v, vf_vi_objective obj, int64_t n, vf_rng *r, double *loss)
{
    if (!v || !r || !loss || n < 2 || (int)obj < 0 || obj > VF_VI_FAB)
        return vf__error(VF_ERR_ARG, "vi loss: bad arguments (need n >= 2 draws)");
    double *logw = vf_malloc(sizeof(double) * (size_t)n);
    if (!logw) return vf__error(VF_ERR_NOMEM, "vi loss: out of memory for %lld draws", (long long)n);
    vf_status s = vf_vi_draw(v, n, r, NULL, logw, NULL, NULL);
    double sum = 0;
    for (int64_t i = 0; i < n && s == VF_OK; i++) {
        if (logw[i] == INFINITY || isnan(logw[i]))
            s = vf__error(VF_ERR_NUMERIC, "vi loss: log p~ - log q is %s at draw %lld", isnan(logw[i]) ? "NaN" : "+inf",
                          (long long)i);
        sum += logw[i];
    }
    int weighted = obj == VF_VI_FKL || obj == VF_VI_CHI2;
    if (s == VF_OK) /* -mean(log w) is +inf as soon as one draw is outside the support */
        *loss = weighted ? weighted_loss(n, logw, obj == VF_VI_CHI2, NULL) : -sum / (double)n;
    vf_free(logw);
    return s;
}

vf_status vf_vi_log_q(vf_vi *v, int64_t n, const vf_real *x, double *logq)
{
    if (!v || n < 0 || (n > 0 && (!x || !logq))) return vf__error(VF_ERR_ARG, "vi log q: bad arguments");
    vf_tape *t = v->u;
    vf_status s = VF_OK;
    for (int64_t i0 = 0; i0 < n; i0 += VI_DRAW_CHUNK) {
        int64_t m = n - i0 < VI_DRAW_CHUNK ? n - i0 : VI_DRAW_CHUNK;
        vf_tape_reset(t);
        vf_tape_set_grad_enabled(t, 0);
        vf_var xi = vf_input(t, x + i0 * v->d, 2, (int64_t[]){m, v->d});
        vf_var lq = vf_flow_log_prob(v->f, v->p, t, xi, VF_NOVAR);
        if (vf_tape_status(t) != VF_OK) {
            s = tape_failed(t, "log q");
            break;
        }
        const vf_real *lqd = vf_value(t, lq)->data;
        for (int64_t i = 0; i < m; i++) logq[i0 + i] = (double)lqd[i];
    }
    vf_tape_reset(t);
    vf_tape_set_grad_enabled(t, 1);
    return s;
}

/* ---- checkpoints -------------------------------------------------------------------------- */
int vf__vi_state(vf_vi *v, vf__state_array *a, int max)
{
    if (!v || !v->fab || max < VF__FAB_STATE_ARRAYS) return 0;
    return vf__fab_state(v->fab, a);
}

vf_status vf__vi_restore(vf_vi *v, const vf__state_array *a, int count, int64_t batch)
{
    int any_fab = 0;
    for (int i = 0; i < count; i++) any_fab |= a[i].name && strncmp(a[i].name, "fab.", 4) == 0;
    if (!any_fab) return VF_OK;
    if (v->fab) return vf__error(VF_ERR_STATE, "vi: FAB's state can only be restored before the first step");
    vf_status s = vf__fab_new(v->f, v->p, v->target, &v->fab);
    if (s == VF_OK && (s = vf__fab_restore(v->fab, a, count, batch)) != VF_OK) {
        vf__fab_free(v->fab);
        v->fab = NULL;
    }
    return s;
}
