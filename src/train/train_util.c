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
