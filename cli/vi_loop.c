/* vi_loop.c — the `varflow vi` training loop (vi_loop.h). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "progress.h"
#include "vi_loop.h"

vi_options vi_default_options(void)
{
    vi_options o;
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
    return o;
}

static vf_status fail(vi_result *r, vf_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    return s;
}

static void draw(cli_progress *pg, int force, double t0, int64_t step, int64_t total, double loss, int64_t done0)
{
    if (!cli_progress_due(pg, force)) return;
    char line[200];
    double el = cli_now_seconds() - t0, rate = el > 0 ? (double)(step - done0) / el : 0.0;
    int k = snprintf(line, sizeof line, "step %lld/%lld  loss %.4f  %.1f steps/s  ETA ", (long long)step,
                     (long long)total, loss, rate);
    if (rate > 0) snprintf(line + k, sizeof line - (size_t)k, "%.0f s", (double)(total - step) / rate);
    else snprintf(line + k, sizeof line - (size_t)k, "-");
    cli_progress_draw(pg, line);
}

#define VI_RECENT 100

/* The temperature of step `step` (0-based): beta0 + (1 - beta0) step / anneal, then 1. */
static vf_status vi_anneal(vf_vi *v, const vi_options *o, int64_t step)
{
    double beta = step >= o->anneal ? 1.0 : o->beta0 + (1.0 - o->beta0) * (double)step / (double)o->anneal;
    return vf_vi_set_beta(v, beta);
}

vf_status vi_train(vf_vi *v, vf_params *p, const vi_options *o, FILE *log, vi_result *r)
{
    memset(r, 0, sizeof *r);
    r->loss = NAN;
    if (o->steps < 1 || o->batch < 1) return fail(r, VF_ERR_ARG, "need steps and batch >= 1");
    int64_t n = vf_params_size(p), total = o->steps;
    vf_adam_params ap = vf_adam_default_params();
    ap.lr = o->lr;
    vf_schedule sch = vf_schedule_default(o->lr, total);
    sch.kind = VF_SCHED_COSINE;
    sch.warmup_steps = o->warmup >= 0 ? o->warmup : (total / 10 < 100 ? total / 10 : 100);
    if (sch.warmup_steps >= total) sch.warmup_steps = total - 1;
    sch.final_fraction = 0.01;
    cli_progress pg = {o->progress, 0, 0, 0.0};
    vf_adam *opt = NULL;
    double recent[VI_RECENT];
    fit_state st;
    memset(&st, 0, sizeof st);
    vf_status s = vf_adam_new(n, &ap, &opt);
    if (s != VF_OK || (s = vf_schedule_check(&sch)) != VF_OK) {
        vf_adam_free(opt);
        return fail(r, s, "%s", vf_last_error());
    }
    st.size = n;
    st.best_valid = NAN;
    st.last_valid = NAN;
    if (o->resume) {
        vf_real *m, *vv;
        int64_t k;
        vf_adam_state(opt, &m, &vv, &k);
        if (o->resume->size != n) {
            vf_adam_free(opt);
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
    } else {
        vf_rng_init(&st.shuffle, o->seed, 17);
        vf_rng_init(&st.noise, o->seed, 19);
    }
    int64_t start = st.step, nrecent = 0;
    double t0 = cli_now_seconds() - st.seconds, tstart = cli_now_seconds();
    while (st.step < total) {
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
        recent[nrecent++ % VI_RECENT] = loss;
        st.seconds = cli_now_seconds() - t0;
        if (log && (st.step % o->log_every == 0 || st.step == total))
            fprintf(log, "{\"step\":%lld,\"loss\":%.9g,\"lr\":%.6g,\"seconds\":%.3f}\n", (long long)st.step, loss, lr,
                    st.seconds);
        draw(&pg, 0, tstart, st.step, total, loss, start);
        int pause = o->stop_after > 0 && st.step - start >= o->stop_after && st.step < total;
        if (o->checkpoint && (st.step % o->checkpoint_every == 0 || st.step == total || pause)) {
            vf_adam_state(opt, &st.adam_m, &st.adam_v, &st.adam_step);
            st.best = vf_params_values(p); /* borrowed: the checkpoint only reads them */
            st.buffer_size = vf_params_buffer_size(p);
            st.best_buffers = vf_params_buffers(p);
            s = o->checkpoint(o->checkpoint_ctx, &st);
            st.best = st.best_buffers = NULL;
            st.adam_m = st.adam_v = NULL;
            if (s != VF_OK) {
                fail(r, s, "%s", vf_last_error());
                goto done;
            }
        }
        if (pause) {
            r->paused = 1;
            break;
        }
    }
    s = VF_OK;
    if (nrecent > 0) {
        int64_t m = nrecent < VI_RECENT ? nrecent : VI_RECENT;
        double acc = 0;
        for (int64_t i = 0; i < m; i++) acc += recent[i];
        r->loss = acc / (double)m;
    } else {
        r->loss = st.last_train;
    }
done:
    draw(&pg, 1, tstart, st.step, total, st.last_train, start);
    cli_progress_end(&pg);
    if (o->anneal > 0) vf_vi_set_beta(v, 1.0);
    r->steps = st.step;
    r->seconds = cli_now_seconds() - t0;
    vf_adam_free(opt);
    return s;
}
