/* fit_state.c — the epoch bookkeeping both data-fitting loops share (vf_fit_flow in fit_loop.c and
 * vf_cnf_fit in cnf_fit.c): the training state's arrays, restoring it from a checkpoint, and what
 * happens after an epoch (best parameters, patience, --stop-after, checkpoints). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train/train_internal.h"

vf_status vf__fit_state_alloc(vf_fit_state *st, vf_params *p)
{
    memset(st, 0, sizeof *st);
    st->size = vf_params_size(p);
    st->buffer_size = vf_params_buffer_size(p);
    st->best = malloc(sizeof(vf_real) * (size_t)(st->size > 0 ? st->size : 1));
    st->best_buffers = malloc(sizeof(vf_real) * (size_t)(st->buffer_size > 0 ? st->buffer_size : 1));
    return st->best && st->best_buffers ? VF_OK : VF_ERR_NOMEM;
}

void vf__fit_state_start(vf_fit_state *st, vf_params *p, uint64_t seed, int validated)
{
    memcpy(st->best, vf_params_values(p), sizeof(vf_real) * (size_t)st->size);
    if (st->buffer_size) memcpy(st->best_buffers, vf_params_buffers(p), sizeof(vf_real) * (size_t)st->buffer_size);
    vf_rng_init(&st->shuffle, seed, 7);
    vf_rng_init(&st->noise, seed, 11);
    st->best_valid = validated ? INFINITY : NAN;
    st->last_train = st->last_valid = NAN;
}

vf_status vf__fit_state_restore(const vf_fit_state *rs, vf_adam *opt, vf_fit_state *st, char *err)
{
    int64_t n = st->size;
    if (rs->size != n)
        return vf__train_fail(err, VF_ERR_ARG, "the checkpoint holds %lld parameters, the model has %lld",
                              (long long)rs->size, (long long)n);
    if (rs->buffer_size != st->buffer_size)
        return vf__train_fail(err, VF_ERR_ARG, "the checkpoint holds %lld buffer values, the model has %lld",
                              (long long)rs->buffer_size, (long long)st->buffer_size);
    vf_real *m, *v;
    int64_t k;
    vf_adam_state(opt, &m, &v, &k);
    memcpy(m, rs->adam_m, sizeof(vf_real) * (size_t)n);
    memcpy(v, rs->adam_v, sizeof(vf_real) * (size_t)n);
    if (vf_adam_set_step(opt, rs->adam_step) != VF_OK) return vf__train_fail(err, VF_ERR_ARG, "%s", vf_last_error());
    memcpy(st->best, rs->best, sizeof(vf_real) * (size_t)n);
    memcpy(st->best_buffers, rs->best_buffers, sizeof(vf_real) * (size_t)st->buffer_size);
    vf_real *best = st->best, *best_buffers = st->best_buffers;
    *st = *rs;
    st->best = best;
    st->best_buffers = best_buffers;
    st->adam_m = st->adam_v = NULL; /* the optimizer's own arrays are lent only while a checkpoint is written */
    return VF_OK;
}

vf_status vf__fit_epoch_end(const vf_fit_options *o, vf_params *p, vf_adam *opt, vf_fit_state *st, int64_t e,
                            int64_t first, int64_t epochs, int64_t total, int validated, double valid, double t0,
                            int *end, char *err)
{
    *end = 0;
    st->epoch = e;
    if (!validated || valid < st->best_valid) {
        st->best_valid = valid;
        st->best_epoch = e;
        st->bad = 0;
        memcpy(st->best, vf_params_values(p), sizeof(vf_real) * (size_t)st->size);
        if (st->buffer_size) memcpy(st->best_buffers, vf_params_buffers(p), sizeof(vf_real) * (size_t)st->buffer_size);
    } else if (o->patience > 0 && ++st->bad >= o->patience) {
        *end = 1;
    }
    int by_stop_after = o->stop_after > 0 && e - first + 1 >= o->stop_after;
    int by_interrupt = !by_stop_after && o->interrupt && *o->interrupt;
    int pause = (by_stop_after || by_interrupt) && e < epochs && st->step < total && !*end;
    if (o->checkpoint && !*end && (e % o->checkpoint_every == 0 || pause)) {
        vf_adam_state(opt, &st->adam_m, &st->adam_v, &st->adam_step);
        st->seconds = vf__now_seconds() - t0;
        vf_status s = o->checkpoint(o->checkpoint_ctx, st);
        st->adam_m = st->adam_v = NULL;
        if (s != VF_OK) return vf__train_fail(err, s, "%s", vf_last_error());
    }
    if (pause) *end = by_interrupt ? 3 : 2;
    return VF_OK;
}

void vf__fit_log_epoch(FILE *log, const char *quantity, int64_t e, const vf_fit_state *st, int validated, double lr,
                       double t0)
{
    if (!log) return;
    fprintf(log, "{\"epoch\":%lld,\"step\":%lld,\"train_%s\":%.9g,\"valid_%s\":", (long long)e, (long long)st->step,
            quantity, st->last_train, quantity);
    if (validated) fprintf(log, "%.9g", st->last_valid);
    else fputs("null", log);
    fprintf(log, ",\"lr\":%.6g,\"seconds\":%.3f}\n", lr, vf__now_seconds() - t0);
    fflush(log);
}

void vf__fit_state_keep_best(const vf_fit_state *st, vf_params *p)
{
    memcpy(vf_params_values(p), st->best, sizeof(vf_real) * (size_t)st->size);
    if (st->buffer_size) memcpy(vf_params_buffers(p), st->best_buffers, sizeof(vf_real) * (size_t)st->buffer_size);
}
