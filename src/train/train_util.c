/* train_util.c — the clock, schedule, progress report and failure message the loops share. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include "train/train_internal.h"

double vf__now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

vf_schedule vf__train_schedule(double lr, int64_t total, int64_t warmup)
{
    vf_schedule sch = vf_schedule_default(lr, total);
    sch.kind = VF_SCHED_COSINE;
    sch.warmup_steps = warmup >= 0 ? warmup : (total / 10 < 100 ? total / 10 : 100);
    if (sch.warmup_steps >= total) sch.warmup_steps = total - 1;
    sch.final_fraction = 0.01;
    return sch;
}

void vf__train_report(vf_progress_fn fn, void *ctx, int done, int64_t epoch, int64_t epochs, int64_t step,
                      int64_t steps, int64_t step0, double t0, double train, double valid)
{
    if (!fn) return;
    double el = vf__now_seconds() - t0, rate = el > 0 ? (double)(step - step0) / el : 0.0;
    vf_progress p = {epoch, epochs, step, steps, train, valid, rate, rate > 0 ? (double)(steps - step) / rate : NAN,
                     done};
    fn(ctx, &p);
}

vf_status vf__train_fail(char *err, vf_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, 512, fmt, ap);
    va_end(ap);
    vf__error(s, "%s", err);
    return s;
}

int vf__fit_parallel(const vf_fit_options *o) { return o && o->ranks > 1; }

void vf__fit_shard(const vf_fit_options *o, int64_t m, int64_t *lo, int64_t *hi)
{
    int64_t ranks = vf__fit_parallel(o) ? o->ranks : 1, rank = vf__fit_parallel(o) ? o->rank : 0;
    *lo = m * rank / ranks;
    *hi = m * (rank + 1) / ranks;
}

vf_status vf__fit_sum_shares(const vf_fit_options *o, double *sum, vf_status own)
{
    if (!vf__fit_parallel(o)) return own;
    double v[2] = {*sum, own != VF_OK}; /* the sum, and how many processes failed */
    vf_status s = o->reduce(o->reduce_ctx, v, 2, 1);
    if (s != VF_OK) return s;
    *sum = v[0];
    if (own != VF_OK) return own;
    return v[1] > 0 ? vf__error(VF_ERR_NUMERIC, "another of the %d processes failed", o->ranks) : VF_OK;
}

vf_status vf__fit_reduce_step(const vf_fit_options *o, vf_params *p, double *loss, vf_status own, double share)
{
    if (own != VF_OK || !isfinite(*loss)) vf_params_zero_grad(p); /* nothing of a failed share is summed */
    vf_status s = vf__fit_sum_shares(o, loss, own);
    if (s != VF_OK) return s; /* every process knows a failure: all skip the gradients alike */
    s = o->reduce(o->reduce_ctx, vf_params_grads(p), vf_params_size(p), 0);
    int64_t nb = vf_params_buffer_size(p);
    if (s == VF_OK && nb > 0) {
        /* running = (1 - mom) running + mom batch statistic on each process, from the same running:
         * the share-weighted sum is the running statistic of the share-weighted batch statistic (a
         * process without rows, whose statistics did not move, weighs 0) */
        vf_real *b = vf_params_buffers(p);
        for (int64_t k = 0; k < nb; k++) b[k] = (vf_real)((double)b[k] * share);
        s = o->reduce(o->reduce_ctx, b, nb, 0);
    }
    return s;
}

vf_status vf__fit_agree(const vf_fit_options *o, const void *const *arrays, const size_t *bytes, int count,
                        const int64_t *settings, int nsettings)
{
    uint64_t h = vf__hash_bytes(VF__HASH_START, settings, sizeof *settings * (size_t)nsettings);
    for (int i = 0; i < count; i++)
        if (arrays[i]) h = vf__hash_bytes(h, arrays[i], bytes[i]);
    /* three 20-bit pieces c and their squares, summed: all equal exactly when K sum(c^2) = (sum c)^2
     * (integers below 2^53, so the sums are exact in double) */
    double v[6];
    for (int j = 0; j < 3; j++) {
        double c = (double)((h >> (20 * j)) & 0xFFFFF);
        v[2 * j] = c;
        v[2 * j + 1] = c * c;
    }
    vf_status s = o->reduce(o->reduce_ctx, v, 6, 1);
    if (s != VF_OK) return s;
    for (int j = 0; j < 3; j++)
        if ((double)o->ranks * v[2 * j + 1] != v[2 * j] * v[2 * j])
            return vf__error(VF_ERR_ARG, "the %d processes of a data-parallel fit do not hold the same data, "
                             "settings and initial parameters (each must make the same call)", o->ranks);
    return VF_OK;
}

vf_status vf__fit_share_backward(vf_tape *t, vf_var loss, double *part, char *why, size_t why_size)
{
    if (loss == VF_NOVAR) {
        snprintf(why, why_size, "%s", vf_tape_error(t));
        return vf_tape_status(t);
    }
    *part = (double)vf_value(t, loss)->data[0];
    vf_status s = isfinite(*part) ? vf_backward(t, loss) : VF_OK;
    if (s != VF_OK) snprintf(why, why_size, "%s", vf_last_error());
    return s;
}
