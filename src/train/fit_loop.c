/* fit_loop.c — minibatch maximum likelihood of a flow (vf_fit_flow, vf_train.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train/train_internal.h"
#include "varflow/vf_eval.h"

#define FIT_EVAL_CHUNK 16384 /* rows per call of vf_flow_log_prob_rows: 32 blocks for the threads */

vf_fit_options vf_fit_default_options(void)
{
    vf_fit_options o;
    memset(&o, 0, sizeof o);
    o.epochs = 100;
    o.steps = 0;
    o.batch = 512;
    o.lr = 1e-3;
    o.weight_decay = 0.0;
    o.clip = 5.0;
    o.warmup = -1;
    o.patience = 10;
    o.seed = 0;
    o.dequantize = 0;
    o.checkpoint_every = 1;
    o.ranks = 1;
    return o;
}

#define fail(r, s, ...) vf__train_fail((r)->error, s, __VA_ARGS__)

/* Adds independent U(0, 1) noise from noise to the n values of x. */
static void dequantize(vf_rng *noise, vf_real *x, int64_t n)
{
    for (int64_t k = 0; k < n; k++) x[k] = (vf_real)((double)x[k] + vf_rng_uniform(noise));
}

/* vf_fit_mean_nll over this process's share of each chunk of rows, the sums added up over the
 * processes. Every process draws the dequantization noise of whole chunks, so the generators stay
 * together, and calls reduce exactly once, also after a failure of its own. */
static vf_status mean_nll(const vf_flow *f, vf_params *p, vf_tape *t, const vf_real *x, const vf_real *context,
                          int64_t n, int64_t d, int64_t c, vf_rng *noise, const vf_fit_options *o, double *out)
{
    double sum = 0.0;
    int64_t chunk = n < FIT_EVAL_CHUNK ? n : FIT_EVAL_CHUNK;
    vf_real *lp = malloc(sizeof(vf_real) * (size_t)(chunk > 0 ? chunk : 1));
    vf_real *buf = noise ? malloc(sizeof(vf_real) * (size_t)(chunk * d > 0 ? chunk * d : 1)) : NULL;
    vf_status s = !lp || (noise && !buf) ? vf__error(VF_ERR_NOMEM, "out of memory") : VF_OK;
    for (int64_t i = 0; i < n && s == VF_OK; i += FIT_EVAL_CHUNK) {
        int64_t m = n - i < FIT_EVAL_CHUNK ? n - i : FIT_EVAL_CHUNK, lo, hi;
        const vf_real *rows = x + i * d;
        if (buf) {
            memcpy(buf, rows, sizeof(vf_real) * (size_t)(m * d));
            dequantize(noise, buf, m * d);
            rows = buf;
        }
        vf__fit_shard(o, m, &lo, &hi);
        if (hi == lo) continue;
        /* blocks of rows on the library's threads, one tape each */
        s = vf_flow_log_prob_rows(f, p, t, hi - lo, rows + lo * d, context ? context + (i + lo) * c : NULL,
                                  context ? hi - lo : 0, lp);
        for (int64_t k = 0; k < hi - lo && s == VF_OK; k++) sum -= (double)lp[k];
    }
    free(lp);
    free(buf);
    if ((s = vf__fit_sum_shares(o, &sum, s)) != VF_OK) return s;
    *out = sum / (double)n;
    return isfinite(*out) ? VF_OK : VF_ERR_NUMERIC;
}

vf_status vf_fit_mean_nll(const vf_flow *f, vf_params *p, vf_tape *t, const vf_real *x, const vf_real *context,
                          int64_t n, int64_t d, int64_t c, vf_rng *noise, double *out)
{
    return mean_nll(f, p, t, x, context, n, d, c, noise, NULL, out);
}

/* The step of a process of a data-parallel fit, after the batch is in buf / cbuf: its share's
 * gradient of the batch's mean NLL (-sum of its rows' log-densities / m), then the gradients, the
 * NLL and batch normalization's running statistics summed over the processes (the statistics then
 * averaged). Every process reaches the reductions, also after a failure of its own, and all of them
 * then fail together. */
static vf_status parallel_gradient(vf_flow *f, vf_params *p, vf_tape *t, const vf_fit_options *o, int64_t d,
                                   int64_t c, int64_t m, const vf_real *buf, const vf_real *cbuf, double *nll,
                                   vf_fit_result *r)
{
    int64_t lo, hi;
    vf__fit_shard(o, m, &lo, &hi);
    double part = 0.0; /* this process's part of the mean NLL */
    char why[sizeof r->error] = "";
    vf_status own = VF_OK;
    if (hi > lo) {
        vf_var x = vf_input(t, buf + lo * d, 2, (int64_t[]){hi - lo, d});
        vf_var cv = cbuf ? vf_input(t, cbuf + lo * c, 2, (int64_t[]){hi - lo, c}) : VF_NOVAR;
        vf_params_set_training(p, 1);
        vf_var loss = vf_scale(t, vf_sum(t, vf_flow_log_prob(f, p, t, x, cv), VF_ALL_AXES, 0), -1.0 / (double)m);
        vf_params_set_training(p, 0);
        own = vf__fit_share_backward(t, loss, &part, why, sizeof why);
    }
    vf_status s = vf__fit_reduce_step(o, p, &part, own, (double)(hi - lo) / (double)m);
    if (s != VF_OK) return fail(r, s, "%s", why[0] ? why : vf_last_error());
    *nll = part;
    if (!isfinite(*nll)) return fail(r, VF_ERR_NUMERIC, "the loss became %s", isnan(*nll) ? "NaN" : "infinite");
    return VF_OK;
}

/* One optimizer step on rows idx[0..m) of train (and of ctx [nt, c] when not NULL; cbuf holds them);
 * *nll receives the batch's mean NLL. */
static vf_status train_step(vf_flow *f, vf_params *p, vf_tape *t, vf_adam *opt, const vf_fit_options *o,
                            const vf_real *train, const vf_real *ctx, int64_t d, int64_t c, const size_t *idx,
                            int64_t m, vf_real *buf, vf_real *cbuf, vf_rng *noise, double *nll, vf_fit_result *r)
{
    for (int64_t k = 0; k < m; k++) memcpy(buf + k * d, train + (int64_t)idx[k] * d, sizeof(vf_real) * (size_t)d);
    for (int64_t k = 0; ctx && k < m; k++)
        memcpy(cbuf + k * c, ctx + (int64_t)idx[k] * c, sizeof(vf_real) * (size_t)c);
    if (noise) dequantize(noise, buf, m * d); /* the whole batch on every process: the generators stay together */
    vf_tape_reset(t);
    vf_params_zero_grad(p);
    if (vf__fit_parallel(o)) {
        vf_status s = parallel_gradient(f, p, t, o, d, c, m, buf, ctx ? cbuf : NULL, nll, r);
        if (s != VF_OK) return s;
    } else {
        vf_var x = vf_input(t, buf, 2, (int64_t[]){m, d});
        vf_var cv = ctx ? vf_input(t, cbuf, 2, (int64_t[]){m, c}) : VF_NOVAR;
        vf_params_set_training(p, 1);
        vf_var loss = vf_neg(t, vf_mean(t, vf_flow_log_prob(f, p, t, x, cv), VF_ALL_AXES, 0));
        vf_params_set_training(p, 0);
        if (loss == VF_NOVAR) return fail(r, vf_tape_status(t), "%s", vf_tape_error(t));
        *nll = (double)vf_value(t, loss)->data[0];
        if (!isfinite(*nll)) return fail(r, VF_ERR_NUMERIC, "the loss became %s", isnan(*nll) ? "NaN" : "infinite");
        vf_status s = vf_backward(t, loss);
        if (s != VF_OK) return fail(r, s, "%s", vf_last_error());
    }
    int64_t n = vf_params_size(p);
    if (vf_clip_grad_norm(vf_params_grads(p), n, o->clip, NULL) != VF_OK ||
        vf_adam_step(opt, vf_params_values(p), vf_params_grads(p)) != VF_OK)
        return fail(r, VF_ERR_NUMERIC, "a gradient became NaN or infinite");
    return VF_OK;
}

/* Rows of the batch that starts at row b of nt: `batch`, fewer at the end, and a last batch of fewer
 * than min_last rows merged into the one before it (min_last 2: a one-row step is a poor gradient, and
 * batch normalization cannot take it; 2 per process when the processes of a data-parallel fit
 * normalize their shares). */
static int64_t batch_rows(int64_t nt, int64_t batch, int64_t b, int64_t min_last)
{
    int64_t m = nt - b < batch ? nt - b : batch;
    return nt - (b + m) > 0 && nt - (b + m) < min_last ? nt - b : m;
}

/* Steps in one epoch of nt rows (the batches batch_rows makes). */
static int64_t batches_per_epoch(int64_t nt, int64_t batch, int64_t min_last)
{
    int64_t k = 0;
    for (int64_t b = 0; b < nt; b += batch_rows(nt, batch, b, min_last)) k++;
    return k;
}

vf_status vf_fit_flow(vf_flow *f, vf_params *p, const vf_real *train, const vf_real *train_context, int64_t nt,
                      const vf_real *valid, const vf_real *valid_context, int64_t nv, int64_t d, int64_t c,
                      const vf_fit_options *o, FILE *log, vf_fit_result *r)
{
    memset(r, 0, sizeof *r);
    r->valid_nll = NAN;
    if (nt < 1 || o->batch < 1 || d < 1) return fail(r, VF_ERR_ARG, "no training rows");
    if (c < 0 || (c > 0 && (!train_context || (nv > 0 && !valid_context))))
        return fail(r, VF_ERR_ARG, "a conditional flow needs the rows' contexts");
    if (c == 0) train_context = valid_context = NULL;
    if (o->checkpoint && o->checkpoint_every < 1) return fail(r, VF_ERR_ARG, "checkpoint interval below 1");
    if (vf__fit_parallel(o) && (!o->reduce || o->rank < 0 || o->rank >= o->ranks))
        return fail(r, VF_ERR_ARG, "process %d of %d: a data-parallel fit needs 0 <= rank < ranks and a reduce "
                    "function", o->rank, o->ranks);
    /* batch normalization on several processes normalizes each share: 2 rows or more in every one */
    int64_t min_last = vf__fit_parallel(o) && vf_params_buffer_size(p) > 0 ? 2 * (int64_t)o->ranks : 2;
    if (min_last > 2 && (o->batch < min_last || nt < min_last))
        return fail(r, VF_ERR_ARG, "batch normalization on %d processes needs batches of at least %lld rows (2 in "
                    "each process's share; got a batch of %lld and %lld training rows)", o->ranks,
                    (long long)min_last, (long long)o->batch, (long long)nt);
    int64_t n = vf_params_size(p);
    int64_t per_epoch = batches_per_epoch(nt, o->batch, min_last);
    int64_t total = o->steps > 0 ? o->steps : o->epochs * per_epoch;
    int64_t epochs = o->steps > 0 ? (o->steps + per_epoch - 1) / per_epoch : o->epochs;

    vf_adam_params ap = o->weight_decay > 0 ? vf_adamw_default_params() : vf_adam_default_params();
    ap.lr = o->lr;
    ap.weight_decay = o->weight_decay;
    vf_schedule sch = vf__train_schedule(o->lr, total, o->warmup);

    vf_status s = VF_ERR_NOMEM;
    vf_tape *t = vf_tape_new();
    vf_adam *opt = NULL;
    size_t *perm = malloc(sizeof(size_t) * (size_t)nt);
    /* a batch may take up to min_last - 1 extra rows (batch_rows) */
    vf_real *buf = malloc(sizeof(vf_real) * (size_t)((o->batch + min_last) * d));
    vf_real *cbuf = train_context ? malloc(sizeof(vf_real) * (size_t)((o->batch + min_last) * c)) : NULL;
    vf_fit_state st;
    double t0 = vf__now_seconds();
    vf_status sa = vf__fit_state_alloc(&st, p);
    if (!t || !perm || !buf || sa != VF_OK || (train_context && !cbuf)) {
        fail(r, s, "out of memory");
        goto done;
    }
    if ((s = vf_adam_new(n, &ap, &opt)) != VF_OK || (s = vf_schedule_check(&sch)) != VF_OK) {
        fail(r, s, "%s", vf_last_error());
        goto done;
    }
    if (o->resume) {
        if ((s = vf__fit_state_restore(o->resume, opt, &st, r->error)) != VF_OK) goto done;
    } else {
        vf__fit_state_start(&st, p, o->seed, nv > 0);
    }
    vf_rng *noise = o->dequantize ? &st.noise : NULL;
    if (vf__fit_parallel(o)) { /* every process must make the same call */
        const void *arrays[] = {train, train_context, valid, valid_context, vf_params_values(p), vf_params_buffers(p)};
        const size_t bytes[] = {sizeof(vf_real) * (size_t)(nt * d), sizeof(vf_real) * (size_t)(nt * c),
                                sizeof(vf_real) * (size_t)(nv * d), sizeof(vf_real) * (size_t)(nv * c),
                                sizeof(vf_real) * (size_t)n, sizeof(vf_real) * (size_t)vf_params_buffer_size(p)};
        const int64_t settings[] = {nt, nv, d, c, o->batch, total, epochs, (int64_t)o->seed, o->dequantize,
                                    st.step, st.epoch};
        if ((s = vf__fit_agree(o, arrays, bytes, 6, settings, 11)) != VF_OK) {
            fail(r, s, "%s", vf_last_error());
            goto done;
        }
    }
    t0 = vf__now_seconds() - st.seconds;
    int64_t first = st.epoch + 1;
    r->epochs = st.epoch;
    for (int64_t e = first; e <= epochs && st.step < total; e++) {
        vf_rng_permutation(&st.shuffle, (size_t)nt, perm);
        double sum = 0.0;
        int64_t rows = 0;
        for (int64_t b = 0, m = 0; b < nt && st.step < total; b += m) {
            m = batch_rows(nt, o->batch, b, min_last);
            double nll = 0.0;
            vf_adam_set_lr(opt, vf_schedule_lr(&sch, st.step));
            s = train_step(f, p, t, opt, o, train, train_context, d, c, perm + b, m, buf, cbuf, noise, &nll, r);
            if (s != VF_OK) {
                char why[sizeof r->error];
                memcpy(why, r->error, sizeof why);
                fail(r, s, "training diverged at step %lld (epoch %lld): %s", (long long)(st.step + 1),
                     (long long)e, why);
                goto done;
            }
            st.step++;
            sum += nll * (double)m;
            rows += m;
            vf__train_report(o->progress, o->progress_ctx, 0, e, epochs, st.step, total, 0, t0, sum / (double)rows,
                             st.last_valid);
        }
        r->epochs = e;
        double vnll = NAN;
        if (nv > 0) {
            if ((s = mean_nll(f, p, t, valid, valid_context, nv, d, c, noise, o, &vnll)) != VF_OK) {
                if (s == VF_ERR_NUMERIC)
                    fail(r, s, "training diverged: the validation NLL after epoch %lld is not finite", (long long)e);
                else fail(r, s, "the validation NLL after epoch %lld: %s", (long long)e, vf_last_error());
                goto done;
            }
        }
        st.last_valid = vnll;
        st.last_train = sum / (double)rows;
        vf__train_report(o->progress, o->progress_ctx, 0, e, epochs, st.step, total, 0, t0, st.last_train,
                         st.last_valid);
        vf__fit_log_epoch(log, "nll", e, &st, nv > 0, vf_schedule_lr(&sch, st.step - 1), t0);
        int end = 0;
        if ((s = vf__fit_epoch_end(o, p, opt, &st, e, first, epochs, total, nv > 0, vnll, t0, &end, r->error)) != VF_OK)
            goto done;
        if (end == 1) {
            r->stopped_early = 1;
            break;
        }
        if (end >= 2) { /* --stop-after (1) or the interrupt flag (2) */
            r->paused = end - 1;
            break;
        }
    }
    vf__train_report(o->progress, o->progress_ctx, 1, r->epochs, epochs, st.step, total, 0, t0, st.last_train,
                     st.last_valid);
    r->steps = st.step;
    r->best_epoch = st.best_epoch;
    r->seconds = vf__now_seconds() - t0;
    vf__fit_state_keep_best(&st, p);
    if ((s = mean_nll(f, p, t, train, train_context, nt, d, c, noise, o, &r->train_nll)) != VF_OK) {
        if (s == VF_ERR_NUMERIC) fail(r, s, "the training NLL of the kept parameters is not finite");
        else fail(r, s, "the training NLL of the kept parameters: %s", vf_last_error());
        goto done;
    }
    if (nv > 0) r->valid_nll = st.best_valid;
    s = VF_OK;
done:
    if (s != VF_OK)
        vf__train_report(o->progress, o->progress_ctx, -1, r->epochs, epochs, st.step, total, 0, t0, st.last_train,
                         st.last_valid);
    vf_adam_free(opt);
    vf_tape_free(t);
    free(perm);
    free(buf);
    free(cbuf);
    vf_fit_state_free(&st);
    vf_params_set_training(p, 0);
    return s;
}
