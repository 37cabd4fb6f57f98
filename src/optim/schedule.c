/* schedule.c — learning-rate schedules as pure functions of the step: constant, cosine or linear
 * decay to a final fraction, each optionally after a linear warm-up. */
#include <math.h>
#include "internal.h"

vf_schedule vf_schedule_default(double lr, int64_t total_steps)
{
    vf_schedule s = {VF_SCHED_CONSTANT, lr, total_steps, 0, 0.0};
    return s;
}

vf_status vf_schedule_check(const vf_schedule *s)
{
    if (!s) return vf__error(VF_ERR_ARG, "schedule: NULL");
    if ((int)s->kind < 0 || s->kind > VF_SCHED_LINEAR) return vf__error(VF_ERR_ARG, "schedule: unknown kind %d", (int)s->kind);
    if (!(isfinite(s->lr) && s->lr >= 0)) return vf__error(VF_ERR_ARG, "schedule: lr %g must be finite and >= 0", s->lr);
    if (s->warmup_steps < 0 || s->total_steps < 0) return vf__error(VF_ERR_ARG, "schedule: negative step counts");
    if (s->kind != VF_SCHED_CONSTANT && s->total_steps <= s->warmup_steps)
        return vf__error(VF_ERR_ARG, "schedule: total_steps %lld must exceed warmup_steps %lld",
                         (long long)s->total_steps, (long long)s->warmup_steps);
    if (!(s->final_fraction >= 0 && s->final_fraction <= 1))
        return vf__error(VF_ERR_ARG, "schedule: final_fraction %g must lie in [0, 1]", s->final_fraction);
    return VF_OK;
}

double vf_schedule_lr(const vf_schedule *s, int64_t step)
{
    if (!s) return 0.0;
    if (step < 0) step = 0;
    if (step < s->warmup_steps) return s->lr * (double)(step + 1) / (double)s->warmup_steps;
    double f = s->final_fraction < 0 ? 0 : (s->final_fraction > 1 ? 1 : s->final_fraction);
    int64_t span = s->total_steps - s->warmup_steps;
    double p = span > 0 ? (double)(step - s->warmup_steps) / (double)span : 1.0;
    if (p > 1) p = 1;
    switch (s->kind) {
    case VF_SCHED_CONSTANT: return s->lr;
    case VF_SCHED_COSINE: return s->lr * (f + (1.0 - f) * 0.5 * (1.0 + cos(3.14159265358979323846 * p)));
    case VF_SCHED_LINEAR: return s->lr * (1.0 - (1.0 - f) * p);
    }
    return s->lr;
}
