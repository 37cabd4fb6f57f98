/* fab.c — Flow Annealed importance sampling Bootstrap (Midgley et al. 2023), the `fab` objective of
 * vf_vi_grad: fit q by the alpha = 2 divergence D_2(p || q), whose minimizer is p and whose
 * gradient is estimated from annealed importance sampling (AIS) toward g = p~^2 / q, with a
 * prioritized replay buffer.
 *
 * One call (n draws):
 *   AIS:    x ~ q (no gradient), then K = FAB_LEVELS levels beta_j = j / K of
 *           log f_beta = (1 - 2 beta) log q + 2 beta log p~ (f_0 = q, f_1 = g); before level j the
 *           log weight gains log f_j(x) - log f_{j-1}(x) = 2 (beta_j - beta_{j-1}) (log p~ - log q),
 *           then one HMC transition (FAB_LEAPFROG leapfrog steps) leaves f_j invariant. The step size
 *           of each level adapts toward acceptance 0.65 (Robbins-Monro on log h, across calls).
 *           grad_x log q comes from a density-direction pass with x an input wanting a gradient; the
 *           parameter gradients that pass adds are undone (saved and restored).
 *   buffer: the n AIS points join a ring of FAB_BUFFER_BATCHES * n rows with their log weights and
 *           log q at the current parameters.
 *   loss:   n rows drawn from the buffer with probability proportional to their weights; with
 *           log a = -(stop(log q_theta(x)) - log q_old(x)) (the (1 - alpha) correction for alpha = 2),
 *           loss = -mean(min(e^log a, FAB_CLIP) log q_theta(x)); the rows' log weights gain log a and
 *           their log q_old becomes log q_theta(x). Until the buffer holds FAB_MIN_BATCHES * n rows the
 *           fresh AIS points are used directly: loss = -sum(w_i log q(x_i)) / sum(w_i).
 *   *loss:  mean(log q - log p~) at the x ~ q that started AIS (the negative ELBO, as the other
 *           objectives report). */
#include <math.h>
#include <string.h>
#include "varflow/vf_vi.h"
#include "vi_internal.h"

enum { FAB_LEVELS = 8, FAB_LEAPFROG = 3, FAB_BUFFER_BATCHES = 64, FAB_MIN_BATCHES = 4 };
#define FAB_CLIP 10.0
#define FAB_ACCEPT 0.65

struct vf__fab {
    const vf_flow *f;
    vf_params *p;
    const vf_target *t;
    int64_t d, n;            /* dimension; rows the scratch holds */
    vf_tape *tape;
    double log_h[FAB_LEVELS];
    /* scratch [n, d] / [n] */
    double *x, *x1, *mom, *gq, *gp, *g1, *lq, *lp, *lq1, *lp1, *logw;
    vf_real *xr, *saved, *wr;
    /* the buffer: cap rows, len filled, next the ring position */
    int64_t cap, len, next;
    double *bx, *blw, *blq;  /* [cap, d], [cap], [cap] */
    int64_t *pick;           /* [n] */
    double *prob;            /* [cap] */
    double counts[3];        /* vf__fab_state's "fab.counts" */
};

/* Frees the per-batch scratch and the buffer, leaving them NULL (n = 0). */
static void free_scratch(vf__fab *fb)
{
    double **arrs[] = {&fb->x, &fb->x1, &fb->mom, &fb->gq, &fb->gp, &fb->g1, &fb->lq, &fb->lp, &fb->lq1, &fb->lp1,
                       &fb->logw, &fb->bx, &fb->blw, &fb->blq, &fb->prob};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
        vf_free(*arrs[i]);
        *arrs[i] = NULL;
    }
    vf_free(fb->xr);
    vf_free(fb->wr);
    vf_free(fb->pick);
    fb->xr = fb->wr = NULL;
    fb->pick = NULL;
    fb->n = fb->cap = fb->len = fb->next = 0;
}

void vf__fab_free(vf__fab *fb)
{
    if (!fb) return;
    free_scratch(fb);
    vf_tape_free(fb->tape);
    vf_free(fb->saved);
    vf_free(fb);
}

vf_status vf__fab_new(const vf_flow *f, vf_params *p, const vf_target *t, vf__fab **out)
{
    *out = NULL;
    vf__fab *fb = vf_calloc(1, sizeof *fb);
    if (!fb) return vf__error(VF_ERR_NOMEM, "fab: out of memory");
    fb->f = f;
    fb->p = p;
    fb->t = t;
    fb->d = t->dim;
    for (int j = 0; j < FAB_LEVELS; j++) fb->log_h[j] = log(0.5 / pow((double)fb->d, 0.25));
    fb->tape = vf_tape_new();
    int64_t size = vf_params_size(p);
    fb->saved = vf_malloc((size_t)(size > 0 ? size : 1) * sizeof *fb->saved);
    if (!fb->tape || !fb->saved) {
        vf__fab_free(fb);
        return vf__error(VF_ERR_NOMEM, "fab: out of memory");
    }
    *out = fb;
    return VF_OK;
}

static vf_status reserve(vf__fab *fb, int64_t n)
{
    if (n == fb->n) return VF_OK;
    if (fb->n > 0) return vf__error(VF_ERR_ARG, "fab: the batch size changed from %lld to %lld", (long long)fb->n, (long long)n);
    size_t nd = (size_t)(n * fb->d), cap = (size_t)(n * FAB_BUFFER_BATCHES);
    int ok = 1;
    double **rows[] = {&fb->x, &fb->x1, &fb->mom, &fb->gq, &fb->gp, &fb->g1};
    for (size_t i = 0; i < 6; i++) ok &= (*rows[i] = vf_malloc(nd * sizeof(double))) != NULL;
    double **cols[] = {&fb->lq, &fb->lp, &fb->lq1, &fb->lp1, &fb->logw};
    for (size_t i = 0; i < 5; i++) ok &= (*cols[i] = vf_malloc((size_t)n * sizeof(double))) != NULL;
    fb->xr = vf_malloc(nd * sizeof *fb->xr);
    fb->wr = vf_malloc((size_t)n * sizeof *fb->wr);
    fb->pick = vf_malloc((size_t)n * sizeof *fb->pick);
    fb->bx = vf_malloc(cap * (size_t)fb->d * sizeof *fb->bx);
    fb->blw = vf_malloc(cap * sizeof *fb->blw);
    fb->blq = vf_malloc(cap * sizeof *fb->blq);
    fb->prob = vf_malloc(cap * sizeof *fb->prob);
    if (!ok || !fb->xr || !fb->wr || !fb->pick || !fb->bx || !fb->blw || !fb->blq || !fb->prob) {
        free_scratch(fb);
        return vf__error(VF_ERR_NOMEM, "fab: out of memory for a batch of %lld", (long long)n);
    }
    fb->n = n;
    fb->cap = (int64_t)cap;
    return VF_OK;
}

static vf_status tape_failed(const vf_tape *t, const char *what)
{
    return vf__error(vf_tape_status(t), "fab: %s: %s", what, vf_tape_error(t));
}

/* log q [m] and grad_x log q [m, d] at x [m, d] (parameter gradients left as they were); log p~ [m]
 * and its gradient [m, d]. Rows outside the support get log p~ = -inf. */
static vf_status densities(vf__fab *fb, int64_t m, const double *x, double *lq, double *gq, double *lp, double *gp)
{
    int64_t d = fb->d, size = vf_params_size(fb->p);
    vf_real *grads = vf_params_grads(fb->p);
    for (int64_t i = 0; i < m * d; i++) fb->xr[i] = (vf_real)x[i];
    memcpy(fb->saved, grads, (size_t)size * sizeof *grads);
    vf_tape *t = fb->tape;
    vf_tape_reset(t);
    vf_var xi = vf_input_grad(t, fb->xr, 2, (int64_t[]){m, d});
    vf_var l = vf_flow_log_prob(fb->f, fb->p, t, xi, VF_NOVAR);
    vf_var s = vf_sum(t, l, VF_ALL_AXES, 0);
    if (vf_tape_status(t) != VF_OK) return tape_failed(t, "log q");
    vf_status st = vf_backward(t, s);
    memcpy(grads, fb->saved, (size_t)size * sizeof *grads);
    if (st != VF_OK) return tape_failed(t, "grad log q");
    const vf_real *lv = vf_value(t, l)->data, *gv = vf_grad(t, xi);
    if ((st = vf__target_eval(fb->t, m, x, lp, gp, 1)) != VF_OK) return vf__error(st, "fab: %s", vf_last_error());
    for (int64_t i = 0; i < m; i++) {
        lq[i] = (double)lv[i];
        for (int64_t k = 0; k < d; k++) gq[i * d + k] = gv ? (double)gv[i * d + k] : 0;
        double v = lp[i];
        if (isnan(v)) return vf__error(VF_ERR_NUMERIC, "fab: target %s is NaN at an AIS point", fb->t->name);
        for (int64_t k = 0; k < d && isfinite(v); k++)
            if (!isfinite(gp[i * d + k])) v = -INFINITY;
        lp[i] = v == INFINITY ? -INFINITY : v;
    }
    return VF_OK;
}

/* log f_beta and its gradient for row i. */
static double level(double beta, double lq, double lp)
{
    return isfinite(lq) && isfinite(lp) ? (1 - 2 * beta) * lq + 2 * beta * lp : -INFINITY;
}

/* One HMC transition of every row toward f_beta (level j's step size), updating x, lq, lp, gq, gp. */
static vf_status hmc(vf__fab *fb, int64_t n, int j, double beta, vf_rng *r)
{
    int64_t d = fb->d;
    double h = exp(fb->log_h[j]);
    vf_rng_normal_fill_double(r, fb->mom, (size_t)(n * d));
    double *start = vf_malloc((size_t)n * sizeof *start);
    if (!start) return vf__error(VF_ERR_NOMEM, "fab: out of memory");
    for (int64_t i = 0; i < n; i++) {
        double k = 0;
        for (int64_t c = 0; c < d; c++) k += 0.5 * fb->mom[i * d + c] * fb->mom[i * d + c];
        start[i] = -level(beta, fb->lq[i], fb->lp[i]) + k;
    }
    memcpy(fb->x1, fb->x, (size_t)(n * d) * sizeof *fb->x1);
    for (int64_t i = 0; i < n * d; i++) fb->g1[i] = (1 - 2 * beta) * fb->gq[i] + 2 * beta * fb->gp[i];
    double *gq1 = vf_malloc((size_t)(n * d) * sizeof *gq1), *gp1 = vf_malloc((size_t)(n * d) * sizeof *gp1);
    vf_status st = gq1 && gp1 ? VF_OK : vf__error(VF_ERR_NOMEM, "fab: out of memory");
    for (int l = 0; l < FAB_LEAPFROG && st == VF_OK; l++) {
        for (int64_t i = 0; i < n * d; i++) {
            fb->mom[i] += 0.5 * h * fb->g1[i];
            fb->x1[i] += h * fb->mom[i];
        }
        st = densities(fb, n, fb->x1, fb->lq1, gq1, fb->lp1, gp1);
        if (st != VF_OK) break;
        for (int64_t i = 0; i < n; i++) {
            int ok = isfinite(level(beta, fb->lq1[i], fb->lp1[i]));
            for (int64_t c = 0; c < d; c++) {
                int64_t k = i * d + c;
                fb->g1[k] = ok ? (1 - 2 * beta) * gq1[k] + 2 * beta * gp1[k] : 0;
                fb->mom[k] += 0.5 * h * fb->g1[k];
            }
        }
    }
    double acc = 0;
    for (int64_t i = 0; i < n && st == VF_OK; i++) {
        double k = 0;
        for (int64_t c = 0; c < d; c++) k += 0.5 * fb->mom[i * d + c] * fb->mom[i * d + c];
        double e1 = -level(beta, fb->lq1[i], fb->lp1[i]) + k, la = start[i] - e1;
        double a = isnan(la) ? 0 : la >= 0 ? 1 : exp(la);
        acc += a;
        if (vf_rng_uniform(r) < a) {
            memcpy(fb->x + i * d, fb->x1 + i * d, (size_t)d * sizeof *fb->x);
            memcpy(fb->gq + i * d, gq1 + i * d, (size_t)d * sizeof *fb->gq);
            memcpy(fb->gp + i * d, gp1 + i * d, (size_t)d * sizeof *fb->gp);
            fb->lq[i] = fb->lq1[i];
            fb->lp[i] = fb->lp1[i];
        }
    }
    if (st == VF_OK) fb->log_h[j] += 0.1 * (acc / (double)n - FAB_ACCEPT);
    vf_free(start);
    vf_free(gq1);
    vf_free(gp1);
    return st;
}

/* -sum(a_i log q(x_i)) / norm differentiated into (added to) the store's gradients; x [m, d],
 * a [m] >= 0, norm > 0. */
static vf_status weighted_nll(vf__fab *fb, int64_t m, const double *x, const double *a, double norm)
{
    int64_t d = fb->d;
    for (int64_t i = 0; i < m * d; i++) fb->xr[i] = (vf_real)x[i];
    for (int64_t i = 0; i < m; i++) fb->wr[i] = (vf_real)(-a[i] / norm);
    vf_tape *t = fb->tape;
    vf_tape_reset(t);
    vf_var xi = vf_input(t, fb->xr, 2, (int64_t[]){m, d});
    vf_var l = vf_flow_log_prob(fb->f, fb->p, t, xi, VF_NOVAR);
    vf_var loss = vf_sum(t, vf_mul(t, l, vf_input(t, fb->wr, 1, (int64_t[]){m})), VF_ALL_AXES, 0);
    if (vf_tape_status(t) != VF_OK) return tape_failed(t, "the FAB loss");
    vf_status st = vf_backward(t, loss);
    if (st != VF_OK) return tape_failed(t, "the FAB loss's backward pass");
    return VF_OK;
}

vf_status vf__fab_ais(vf__fab *fb, int64_t n, vf_rng *r, double *loss, double *x, double *logw)
{
    vf_status st = reserve(fb, n);
    if (st != VF_OK) return st;
    int64_t d = fb->d;
    /* x ~ q */
    vf_tape *t = fb->tape;
    vf_tape_reset(t);
    vf_tape_set_grad_enabled(t, 0);
    vf_var xs = vf_flow_sample(fb->f, fb->p, t, n, VF_NOVAR, r, NULL);
    if (vf_tape_status(t) != VF_OK) {
        vf_tape_set_grad_enabled(t, 1);
        return tape_failed(t, "sampling the flow");
    }
    const vf_real *xv = vf_value(t, xs)->data;
    for (int64_t i = 0; i < n * d; i++) fb->x[i] = (double)xv[i];
    vf_tape_reset(t);
    vf_tape_set_grad_enabled(t, 1);
    st = densities(fb, n, fb->x, fb->lq, fb->gq, fb->lp, fb->gp);
    if (st != VF_OK) return st;
    double acc = 0;
    int64_t fin = 0;
    for (int64_t i = 0; i < n; i++) {
        fb->logw[i] = 0;
        if (isfinite(fb->lp[i]) && isfinite(fb->lq[i])) acc += fb->lq[i] - fb->lp[i], fin++;
    }
    if (loss) *loss = fin > 0 ? acc / (double)fin : INFINITY;
    /* AIS toward p~^2 / q */
    for (int j = 0; j < FAB_LEVELS; j++) {
        double b0 = (double)j / FAB_LEVELS, b1 = (double)(j + 1) / FAB_LEVELS;
        for (int64_t i = 0; i < n; i++) {
            double dl = isfinite(fb->lp[i]) && isfinite(fb->lq[i]) ? 2 * (b1 - b0) * (fb->lp[i] - fb->lq[i]) : -INFINITY;
            fb->logw[i] += dl;
        }
        st = hmc(fb, n, j, b1, r);
        if (st != VF_OK) return st;
    }
    if (x) memcpy(x, fb->x, (size_t)(n * d) * sizeof *x);
    if (logw) memcpy(logw, fb->logw, (size_t)n * sizeof *logw);
    return VF_OK;
}

vf_status vf__fab_grad(vf__fab *fb, int64_t n, vf_rng *r, double *loss)
{
    vf_status st = vf__fab_ais(fb, n, r, loss, NULL, NULL);
    if (st != VF_OK) return st;
    int64_t d = fb->d;
    vf_tape *t = fb->tape;
    /* into the buffer, log q at the current parameters */
    for (int64_t i = 0; i < n; i++) {
        int64_t k = fb->next;
        memcpy(fb->bx + k * d, fb->x + i * d, (size_t)d * sizeof *fb->bx);
        fb->blw[k] = fb->logw[i];
        fb->blq[k] = fb->lq[i];
        fb->next = (fb->next + 1) % fb->cap;
        if (fb->len < fb->cap) fb->len++;
    }
    double mx = -INFINITY;
    if (fb->len < FAB_MIN_BATCHES * n) { /* the fresh AIS points, self-normalized */
        for (int64_t i = 0; i < n; i++) mx = fb->logw[i] > mx ? fb->logw[i] : mx;
        if (!isfinite(mx)) return vf__error(VF_ERR_NUMERIC, "fab: every AIS weight is zero (no draw in the target's support)");
        double sa = 0;
        for (int64_t i = 0; i < n; i++) sa += (fb->lp1[i] = exp(fb->logw[i] - mx));
        return weighted_nll(fb, n, fb->x, fb->lp1, sa);
    }
    /* n rows from the buffer, with probability proportional to their weights */
    for (int64_t k = 0; k < fb->len; k++) mx = fb->blw[k] > mx ? fb->blw[k] : mx;
    if (!isfinite(mx)) return vf__error(VF_ERR_NUMERIC, "fab: every buffer weight is zero");
    for (int64_t k = 0; k < fb->len; k++) fb->prob[k] = exp(fb->blw[k] - mx);
    for (int64_t i = 0; i < n; i++) {
        size_t idx;
        st = vf_rng_categorical(r, fb->prob, (size_t)fb->len, &idx);
        if (st != VF_OK) return vf__error(VF_ERR_NUMERIC, "fab: the buffer weights cannot be resampled");
        fb->pick[i] = (int64_t)idx;
        memcpy(fb->x1 + i * d, fb->bx + (int64_t)idx * d, (size_t)d * sizeof *fb->x1);
    }
    /* log a = log q_old - log q_theta at the picked rows, from a first pass without gradients */
    vf_tape_reset(t);
    vf_tape_set_grad_enabled(t, 0);
    for (int64_t i = 0; i < n * d; i++) fb->xr[i] = (vf_real)fb->x1[i];
    vf_var lqv = vf_flow_log_prob(fb->f, fb->p, t, vf_input(t, fb->xr, 2, (int64_t[]){n, d}), VF_NOVAR);
    if (vf_tape_status(t) != VF_OK) {
        vf_tape_set_grad_enabled(t, 1);
        return tape_failed(t, "log q at the buffer's rows");
    }
    const vf_real *lqd = vf_value(t, lqv)->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t k = fb->pick[i];
        double la = fb->blq[k] - (double)lqd[i];
        fb->lp1[i] = isfinite(la) ? fmin(exp(la), FAB_CLIP) : 0;
        fb->lq1[i] = (double)lqd[i];
    }
    vf_tape_reset(t);
    vf_tape_set_grad_enabled(t, 1);
    st = weighted_nll(fb, n, fb->x1, fb->lp1, (double)n); /* -mean(a log q) */
    if (st != VF_OK) return st;
    for (int64_t i = 0; i < n; i++) {
        int64_t k = fb->pick[i];
        if (isfinite(fb->lq1[i])) {
            fb->blw[k] += fb->blq[k] - fb->lq1[i];
            fb->blq[k] = fb->lq1[i];
        }
    }
    return VF_OK;
}

/* ---- checkpoints -------------------------------------------------------------------------- */
int vf__fab_state(vf__fab *fb, vf__state_array a[VF__FAB_STATE_ARRAYS])
{
    if (fb->n == 0) return 0;
    fb->counts[0] = (double)fb->n;
    fb->counts[1] = (double)fb->len;
    fb->counts[2] = (double)fb->next;
    a[0] = (vf__state_array){"fab.counts", 3, fb->counts};
    a[1] = (vf__state_array){"fab.log_h", FAB_LEVELS, fb->log_h};
    a[2] = (vf__state_array){"fab.x", fb->len * fb->d, fb->bx};
    a[3] = (vf__state_array){"fab.logw", fb->len, fb->blw};
    a[4] = (vf__state_array){"fab.logq", fb->len, fb->blq};
    return VF__FAB_STATE_ARRAYS;
}

static const vf__state_array *find_array(const vf__state_array *a, int count, const char *name)
{
    for (int i = 0; i < count; i++)
        if (a[i].name && strcmp(a[i].name, name) == 0) return &a[i];
    return NULL;
}

vf_status vf__fab_restore(vf__fab *fb, const vf__state_array *a, int count, int64_t batch)
{
    static const char *const names[VF__FAB_STATE_ARRAYS] = {"fab.counts", "fab.log_h", "fab.x", "fab.logw",
                                                            "fab.logq"};
    const vf__state_array *g[VF__FAB_STATE_ARRAYS];
    for (int i = 0; i < VF__FAB_STATE_ARRAYS; i++)
        if (!(g[i] = find_array(a, count, names[i])) || (g[i]->numel > 0 && !g[i]->data))
            return vf__error(VF_ERR_FORMAT, "fab: the saved state has no %s", names[i]);
    if (fb->n != 0) return vf__error(VF_ERR_STATE, "fab: the state can only be restored before the first step");
    const double *c = g[0]->data;
    if (g[0]->numel != 3 || !(c[0] >= 1 && c[0] <= 1e15 && c[0] == floor(c[0])))
        return vf__error(VF_ERR_FORMAT, "fab: the saved state's counts are malformed");
    if (c[0] != (double)batch) /* before anything is sized by it */
        return vf__error(VF_ERR_FORMAT, "fab: the saved state is of batch size %.0f, this run's is %lld", c[0],
                         (long long)batch);
    int64_t n = (int64_t)c[0];
    vf_status st = reserve(fb, n);
    if (st != VF_OK) return st;
    double len = c[1], next = c[2];
    int ok = len >= 0 && len <= (double)fb->cap && len == floor(len) && next >= 0 && next < (double)fb->cap &&
             next == floor(next) && (len == (double)fb->cap || next == len) && g[1]->numel == FAB_LEVELS &&
             g[2]->numel == (int64_t)len * fb->d && g[3]->numel == (int64_t)len && g[4]->numel == (int64_t)len;
    if (!ok) {
        free_scratch(fb);
        return vf__error(VF_ERR_FORMAT, "fab: the saved replay buffer (%g rows at %g, batch %lld, dimension %lld) does "
                         "not fit this run", len, next, (long long)n, (long long)fb->d);
    }
    fb->len = (int64_t)len;
    fb->next = (int64_t)next;
    memcpy(fb->log_h, g[1]->data, sizeof fb->log_h);
    if (fb->len > 0) {
        memcpy(fb->bx, g[2]->data, (size_t)(fb->len * fb->d) * sizeof *fb->bx);
        memcpy(fb->blw, g[3]->data, (size_t)fb->len * sizeof *fb->blw);
        memcpy(fb->blq, g[4]->data, (size_t)fb->len * sizeof *fb->blq);
    }
    return VF_OK;
}
