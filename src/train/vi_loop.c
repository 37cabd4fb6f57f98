/* vi_loop.c — the reverse-KL training loop of `varflow vi` (vf_vi_train, vf_train.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "train/train_internal.h"
#include "vi/vi_internal.h"

vf_vi_options vf_vi_default_options(void)
{
    vf_vi_options o;
    memset(&o, 0, sizeof o);
    o.steps = 2000;
    o.batch = 256;
    o.lr = 1e-3;
    o.clip = 5.0;
    o.warmup = -1;
    o.objective = VF_VI_RKL;
    o.log_every = 10;
    o.checkpoint_every = 100;
    o.beta0 = 0.01;
    o.valid_every = 100;
    o.valid_draws = 4096;
    return o;
}

#define fail(r, s, ...) vf__train_fail((r)->error, s, __VA_ARGS__)

#define VI_RECENT 100
#define VI_STATE_MAX 8

/* The objective's state (FAB's buffer) as the checkpoint's extra arrays, borrowed: x [VI_STATE_MAX]. */
static int32_t export_state(vf_vi *v, vf_fit_extra *x)
{
    vf__state_array a[VI_STATE_MAX];
    int n = vf__vi_state(v, a, VI_STATE_MAX);
    for (int i = 0; i < n; i++) {
        snprintf(x[i].name, sizeof x[i].name, "%s", a[i].name);
        x[i].numel = a[i].numel;
        x[i].data = a[i].data;
    }
    return n;
}

/* The window of recent training losses whose mean is the result's loss, w [1 + VI_RECENT]: w[0] the
 * number of steps counted since the start (the window's write position), w[1 + i] the window's slot i.
 * A checkpoint stores its first 1 + filled values as an extra array, so that a resumed run reports
 * the uninterrupted run's loss. */
#define VI_RECENT_NAME "vi_recent_loss"

static int64_t recent_count(const double *w) { return (int64_t)w[0]; }

static int64_t recent_filled(const double *w) { return VF_MIN(recent_count(w), VI_RECENT); }

static void recent_add(double *w, double loss)
{
    w[1 + recent_count(w) % VI_RECENT] = loss;
    w[0] += 1;
}

/* A checkpoint's extra arrays back into the objective (before the first step), and the loss window. */
static vf_status import_state(vf_vi *v, const vf_fit_state *st, int64_t batch, double *w)
{
    if (st->n_extra <= 0) return VF_OK;
    vf__state_array a[VI_STATE_MAX];
    int32_t n = 0;
    for (int32_t i = 0; i < st->n_extra; i++) {
        const vf_fit_extra *x = &st->extra[i];
        if (strcmp(x->name, VI_RECENT_NAME) == 0) {
            int64_t count = x->numel >= 1 && x->data[0] >= 0 && x->data[0] < 9e15 ? (int64_t)x->data[0] : -1;
            int64_t filled = count < VI_RECENT ? count : VI_RECENT;
            if (count < 0 || (double)count != x->data[0] || x->numel != 1 + filled)
                return vf__error(VF_ERR_FORMAT, "the checkpoint's %s array is malformed", VI_RECENT_NAME);
            memcpy(w, x->data, sizeof(double) * (size_t)(1 + filled));
            continue;
        }
        if (n == VI_STATE_MAX) return vf__error(VF_ERR_FORMAT, "the checkpoint holds %d extra arrays", (int)st->n_extra);
        a[n++] = (vf__state_array){x->name, x->numel, x->data};
    }
    return n > 0 ? vf__vi_restore(v, a, n, batch) : VF_OK;
}

/* Validation (o->patience > 0) after step st->step: the objective's loss at the fixed draws of valid_rng
 * (a copy each time, so every validation scores the same base points); a lower loss keeps the
 * parameters in best and resets the patience counter. Sets *validated when it ran. */
static vf_status validate(vf_vi *v, vf_params *p, const vf_vi_options *o, const vf_rng *valid_rng, vf_fit_state *st,
                          vf_real *best, int *validated)
{
    *validated = 0;
    int64_t total = o->steps;
    if (o->patience <= 0 || st->step <= o->anneal || (st->step % o->valid_every != 0 && st->step != total))
        return VF_OK;
    vf_rng r = *valid_rng;
    double loss = NAN;
    vf_status s = vf_vi_loss(v, o->objective, o->valid_draws, &r, &loss);
    if (s != VF_OK) return vf__error(s, "validation after step %lld: %s", (long long)st->step, vf_last_error());
    *validated = 1;
    st->last_valid = loss;
    if (loss < st->best_valid) {
        st->best_valid = loss;
        st->best_epoch = st->step;
        st->bad = 0;
        memcpy(best, vf_params_values(p), sizeof(vf_real) * (size_t)st->size);
    } else {
        st->bad++;
    }
    return VF_OK;
}

/* The temperature of step `step` (0-based): beta0 + (1 - beta0) step / anneal, then 1. */
static vf_status vi_anneal(vf_vi *v, const vf_vi_options *o, int64_t step)
{
    double beta = step >= o->anneal ? 1.0 : o->beta0 + (1.0 - o->beta0) * (double)step / (double)o->anneal;
    return vf_vi_set_beta(v, beta);
}

vf_status vf_vi_train(vf_vi *v, vf_params *p, const vf_vi_options *o, FILE *log, vf_vi_result *r)
{
    memset(r, 0, sizeof *r);
    r->loss = NAN;
    r->valid_loss = NAN;
    if (o->steps < 1 || o->batch < 1) return fail(r, VF_ERR_ARG, "need steps and batch >= 1");
    if (o->patience < 0 || (o->patience > 0 && (o->valid_every < 1 || o->valid_draws < 2)))
        return fail(r, VF_ERR_ARG, "validation needs patience >= 0, valid_every >= 1 and valid_draws >= 2");
    if (o->patience > 0 && o->anneal >= o->steps)
        return fail(r, VF_ERR_ARG, "validation starts after the annealing: patience needs steps (%lld) above anneal "
                    "(%lld)", (long long)o->steps, (long long)o->anneal);
    int64_t n = vf_params_size(p), total = o->steps;
    vf_adam_params ap = vf_adam_default_params();
    ap.lr = o->lr;
    vf_schedule sch = vf__train_schedule(o->lr, total, o->warmup);
    vf_adam *opt = NULL;
    double recent[1 + VI_RECENT] = {0};
    vf_fit_state st;
    memset(&st, 0, sizeof st);
    int validating = o->patience > 0;
    vf_real *best = validating ? vf_malloc(sizeof(vf_real) * (size_t)(n > 0 ? n : 1)) : NULL;
    vf_status s = validating && !best ? vf__error(VF_ERR_NOMEM, "out of memory") : vf_adam_new(n, &ap, &opt);
    if (s != VF_OK || (s = vf_schedule_check(&sch)) != VF_OK) {
        vf_adam_free(opt);
        vf_free(best);
        return fail(r, s, "%s", vf_last_error());
    }
    st.size = n;
    st.best_valid = validating ? INFINITY : NAN;
    st.last_valid = NAN;
    vf_rng valid_rng;
    vf_rng_init(&valid_rng, o->seed, 29);
    if (o->resume) {
        vf_real *m, *vv;
        int64_t k;
        vf_adam_state(opt, &m, &vv, &k);
        if (o->resume->size != n) {
            vf_adam_free(opt);
            vf_free(best);
            return fail(r, VF_ERR_STATE, "the checkpoint's state does not match the flow");
        }
        memcpy(m, o->resume->adam_m, sizeof(vf_real) * (size_t)n);
        memcpy(vv, o->resume->adam_v, sizeof(vf_real) * (size_t)n);
        vf_adam_set_step(opt, o->resume->adam_step);
        st.step = st.epoch = o->resume->step;
        st.seconds = o->resume->seconds;
        st.shuffle = o->resume->shuffle;
        st.noise = o->resume->noise;
        st.last_train = o->resume->last_train;
        if (validating) { /* the validation's state (a counter may run before any best: +inf losses) */
            st.bad = o->resume->bad;
            st.last_valid = o->resume->last_valid;
            if (!isnan(o->resume->best_valid)) st.best_valid = o->resume->best_valid;
            if (o->resume->best_epoch > 0) {
                st.best_epoch = o->resume->best_epoch;
                memcpy(best, o->resume->best, sizeof(vf_real) * (size_t)n);
            }
        }
        if ((s = import_state(v, o->resume, o->batch, recent)) != VF_OK) {
            vf_adam_free(opt);
            vf_free(best);
            return fail(r, s, "%s", vf_last_error());
        }
    } else {
        vf_rng_init(&st.shuffle, o->seed, 17);
        vf_rng_init(&st.noise, o->seed, 19);
    }
    int64_t start = st.step;
    double t0 = vf__now_seconds() - st.seconds, tstart = vf__now_seconds();
    while (st.step < total && !(validating && st.bad >= o->patience)) {
        vf_params_zero_grad(p);
        double loss = NAN;
        s = o->anneal > 0 ? vi_anneal(v, o, st.step) : VF_OK;
        if (s == VF_OK) s = vf_vi_grad(v, o->objective, o->batch, &st.shuffle, &loss);
        if (s != VF_OK) {
            fail(r, s, "step %lld: %s", (long long)st.step + 1, vf_last_error());
            goto done;
        }
        if (!isfinite(loss) || vf_clip_grad_norm(vf_params_grads(p), n, o->clip, NULL) != VF_OK) {
            s = fail(r, VF_ERR_NUMERIC, "diverged at step %lld (loss %g or a gradient is not finite)",
                     (long long)st.step + 1, loss);
            goto done;
        }
        double lr = vf_schedule_lr(&sch, st.step);
        vf_adam_set_lr(opt, lr);
        vf_adam_step(opt, vf_params_values(p), vf_params_grads(p));
        st.step++;
        st.epoch = st.step;
        st.last_train = loss;
        recent_add(recent, loss);
        int validated;
        if ((s = validate(v, p, o, &valid_rng, &st, best, &validated)) != VF_OK) {
            fail(r, s, "%s", vf_last_error());
            goto done;
        }
        int stop = validated && st.bad >= o->patience;
        st.seconds = vf__now_seconds() - t0;
        if (log && (st.step % o->log_every == 0 || st.step == total || validated)) {
            fprintf(log, "{\"step\":%lld,\"loss\":%.9g,\"lr\":%.6g,", (long long)st.step, loss, lr);
            if (validated) fprintf(log, "\"valid_loss\":%.9g,", st.last_valid);
            fprintf(log, "\"seconds\":%.3f}\n", st.seconds);
            fflush(log); /* whole lines on disk: an interrupted run's log ends at a line's end */
        }
        vf__train_report(o->progress, o->progress_ctx, 0, 0, 0, st.step, total, start, tstart, loss, st.last_valid);
        int by_stop_after = o->stop_after > 0 && st.step - start >= o->stop_after;
        int by_interrupt = !by_stop_after && o->interrupt && *o->interrupt;
        int pause = (by_stop_after || by_interrupt) && st.step < total && !stop;
        if (o->checkpoint && (st.step % o->checkpoint_every == 0 || st.step == total || pause || stop)) {
            vf_adam_state(opt, &st.adam_m, &st.adam_v, &st.adam_step);
            /* borrowed: the checkpoint only reads them (the current parameters until a validation) */
            st.best = validating && st.best_epoch > 0 ? best : vf_params_values(p);
            st.buffer_size = vf_params_buffer_size(p);
            st.best_buffers = vf_params_buffers(p);
            vf_fit_extra extra[VI_STATE_MAX + 1];
            st.n_extra = export_state(v, extra);
            extra[st.n_extra++] = (vf_fit_extra){VI_RECENT_NAME, 1 + recent_filled(recent), recent};
            st.extra = extra;
            s = o->checkpoint(o->checkpoint_ctx, &st);
            st.best = st.best_buffers = NULL;
            st.extra = NULL;
            st.n_extra = 0;
            st.adam_m = st.adam_v = NULL;
            if (s != VF_OK) {
                fail(r, s, "%s", vf_last_error());
                goto done;
            }
        }
        if (pause) {
            r->paused = by_interrupt ? 2 : 1;
            break;
        }
    }
    s = VF_OK;
    if (validating && st.best_epoch > 0) { /* the best validated parameters */
        memcpy(vf_params_values(p), best, sizeof(vf_real) * (size_t)n);
        r->valid_loss = st.best_valid;
        r->best_step = st.best_epoch;
    }
    r->stopped_early = validating && st.bad >= o->patience; /* (no best at all: every loss was +inf) */
    if (recent_count(recent) > 0) {
        int64_t m = recent_filled(recent);
        double acc = 0;
        for (int64_t i = 0; i < m; i++) acc += recent[1 + i];
        r->loss = acc / (double)m;
    } else {
        r->loss = st.last_train;
    }
done:
    vf__train_report(o->progress, o->progress_ctx, s == VF_OK ? 1 : -1, 0, 0, st.step, total, start, tstart,
                     st.last_train, st.last_valid);
    if (o->anneal > 0) vf_vi_set_beta(v, 1.0);
    r->steps = st.step;
    r->seconds = vf__now_seconds() - t0;
    vf_adam_free(opt);
    vf_free(best);
    return s;
}
