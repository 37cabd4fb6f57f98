/* train_internal.h — what the training loops of src/train share (not installed). */
#ifndef VF_TRAIN_INTERNAL_H
#define VF_TRAIN_INTERNAL_H

#include "internal.h"
#include "varflow/vf_train.h"

/* Monotonic wall-clock seconds. */
double vf__now_seconds(void);

/* The loops' learning-rate schedule: cosine from lr over `total` steps to 1% of it, after a linear
 * warm-up of `warmup` steps (< 0: min(100, total / 10); at most total - 1). */
vf_schedule vf__train_schedule(double lr, int64_t total, int64_t warmup);

/* Reports progress to o's callback (when set): rates and the ETA from the run's start time t0 and the
 * steps done since then (step - step0). */
void vf__train_report(vf_progress_fn fn, void *ctx, int done, int64_t epoch, int64_t epochs, int64_t step,
                      int64_t steps, int64_t step0, double t0, double train, double valid);

/* Formats a message into err [512] (a result's error field) and records it for vf_last_error();
 * returns s. */
vf_status vf__train_fail(char *err, vf_status s, const char *fmt, ...) VF_PRINTF(3, 4);

/* Data-parallel fits (vf_fit_options.rank, ranks, reduce). vf__fit_parallel: 1 when o shares the fit
 * among several processes. vf__fit_shard: the rows [*lo, *hi) of m this process takes (all of them for
 * one process). vf__fit_sum_shares: *sum summed over the processes, own being this process's status
 * for its share; returns VF_OK when every process succeeded, own when this one failed, VF_ERR_NUMERIC
 * ("... on another process") when another did (so all of them fail together), or the reduce's error;
 * one process: returns own. vf__fit_reduce_step: after this process's share of a step (*loss its
 * part of the loss, own its status, share its fraction of the batch's rows), the loss, the gradients
 * and the buffers (batch normalization's running statistics, each process's weighted by its share)
 * summed over the processes, with vf__fit_sum_shares's outcome. Every process must call them at the
 * same points, also after a failure of its own. */
int vf__fit_parallel(const vf_fit_options *o);
void vf__fit_shard(const vf_fit_options *o, int64_t m, int64_t *lo, int64_t *hi);
vf_status vf__fit_sum_shares(const vf_fit_options *o, double *sum, vf_status own);
vf_status vf__fit_reduce_step(const vf_fit_options *o, vf_params *p, double *loss, vf_status own, double share);
/* A process's share of a step on tape t: *part gets loss's value and, when finite, the backward pass
 * runs; returns its status, with the reason in why [why_size] on failure (loss VF_NOVAR: the tape's). */
vf_status vf__fit_share_backward(vf_tape *t, vf_var loss, double *part, char *why, size_t why_size);
/* Before a data-parallel fit: VF_OK on every process when all of them hold the same `count` arrays
 * (bytes[i] bytes at arrays[i]: data, initial parameters, ...) and the same settings [nsettings],
 * else VF_ERR_ARG with a message on every process (a fit of different data or options would be
 * garbage, and loops of different lengths would wait for each other forever). */
vf_status vf__fit_agree(const vf_fit_options *o, const void *const *arrays, const size_t *bytes, int count,
                        const int64_t *settings, int nsettings);

/* ---- the epoch bookkeeping of vf_fit_flow and vf_cnf_fit (fit_state.c) ---- */
/* st's best-parameter arrays for store p (size and buffer_size set, the rest 0); VF_ERR_NOMEM when
 * out of memory (free with vf_fit_state_free). */
vf_status vf__fit_state_alloc(vf_fit_state *st, vf_params *p);
/* A fresh run's state: the best parameters are p's, the generators shuffle (stream 7) and noise
 * (stream 11) are seeded by seed, the best validation value is INFINITY (validated) or NAN. */
void vf__fit_state_start(vf_fit_state *st, vf_params *p, uint64_t seed, int validated);
/* A resumed run's state: st (allocated) and the optimizer take rs (sizes checked; failures fill err
 * [512]). */
vf_status vf__fit_state_restore(const vf_fit_state *rs, vf_adam *opt, vf_fit_state *st, char *err);
/* After epoch e (the run began at epoch `first`) with validation value `valid` (ignored unless
 * validated): keeps p's parameters as the best when they are, counts patience, and writes the
 * checkpoint o->checkpoint when due (every o->checkpoint_every epochs, and when o->stop_after ends the
 * run; never when patience ends it). *end: 0 go on, 1 patience ran out, 2 paused by stop_after. A
 * checkpoint that cannot be written fills err [512] and returns its status. */
vf_status vf__fit_epoch_end(const vf_fit_options *o, vf_params *p, vf_adam *opt, vf_fit_state *st, int64_t e,
                            int64_t first, int64_t epochs, int64_t total, int validated, double valid, double t0,
                            int *end, char *err);
/* Epoch e's line of the JSON-lines log (nothing when log is NULL): epoch, step, train_<quantity> and
 * valid_<quantity> (st->last_train, st->last_valid, or null without validation), lr, seconds since
 * t0; quantity "nll" (flows) or "loss" (continuous flows). Flushed. */
void vf__fit_log_epoch(FILE *log, const char *quantity, int64_t e, const vf_fit_state *st, int validated, double lr,
                       double t0);
/* p's parameters and buffers <- the state's best ones (at the end of training). */
void vf__fit_state_keep_best(const vf_fit_state *st, vf_params *p);

/* A fitted model (vf_train.h): a flow with its store, or a continuous flow; owned metadata. */
struct vf_fitted {
    vf_fitted_kind kind;
    vf_flow *flow;          /* VF_FITTED_FLOW */
    vf_params *params;      /* VF_FITTED_FLOW: the flow's store */
    vf_cnf_model *cnf;      /* VF_FITTED_CNF */
    vf_model_meta meta;     /* owned (vf_malloc'd) keys and values */
    int64_t cap;            /* room in meta.keys and meta.values */
};

/* A new empty handle of `kind` (NULL + message when out of memory). */
vf_fitted *vf__fitted_new(vf_fitted_kind kind);
/* Drops every metadata entry. */
void vf__fitted_clear_meta(vf_fitted *m);

/* The rows of a table split as `varflow fit` splits them (vf_fit_table): train/valid copies of x and
 * of its contexts [*, c] and labels, in the order of a permutation seeded by seed (stream 3). */
typedef struct vf__split {
    int64_t nt, nv;
    vf_real *train, *valid;         /* [nt, d], [nv, d] */
    vf_real *train_ctx, *valid_ctx; /* [nt, c], [nv, c] or NULL */
    int64_t *train_lab, *valid_lab; /* [nt], [nv] or NULL */
} vf__split;

/* Checks the arguments of vf_fit_table (shared by both kinds) and splits the rows: nt >= min_train
 * rows remain for training. labels [n] / valid_labels [nv] may be NULL. Failures fill r. */
vf_status vf__fit_split(const vf_real *x, int64_t n, int64_t d, const vf_real *context, int64_t c,
                        const int64_t *labels, const vf_real *valid, int64_t nv, const vf_real *valid_context,
                        const int64_t *valid_labels, const vf_fit_table_options *o, int64_t min_train,
                        const char *too_few, vf__split *sp, vf_fit_result *r);
void vf__split_free(vf__split *sp);

/* vf_fit_table for a continuous-flow spec (fit_table_cnf.c); r is cleared, out not NULL unless
 * o->resume. */
vf_status vf__fit_table_cnf(const char *spec, const vf_real *x, int64_t n, int64_t d, const vf_real *valid,
                            int64_t nv, const vf_fit_table_options *o, vf_fitted **out, vf_fit_result *r);

/* ---- vf_fit_table's record, for both kinds (fit_record.c) ---- */
/* Replaces m's metadata by the run's settings (the keys a checkpoint carries too): fit.spec,
 * fit.data, fit.valid (given_valid: o->valid_name, else the fraction), fit.seed, fit.batch, fit.lr,
 * varflow_version, fit.standardize, [fit.dequantize = 1,] [fit.source]. */
vf_status vf__fit_settings_meta(vf_fitted *m, const char *spec, const vf_fit_table_options *o, int given_valid);
/* "lo,hi,alpha" of o's box (the fit.box metadata), or "" without one. */
void vf__fit_box_string(const vf_fit_table_options *o, char *out, size_t cap);
/* VF_ERR_ARG (through r) unless the model to resume (its fit.box) has the box of o, or neither has one. */
vf_status vf__fit_check_resume_box(const vf_fitted *m, const vf_fit_table_options *o, vf_fit_result *r);
/* Adds the training record: fit.epochs, fit.steps, fit.train_nll, fit.valid_nll (and with losses
 * fit.train_loss, fit.valid_loss); non-finite values are "null". */
vf_status vf__fit_result_meta(vf_fitted *m, const vf_fit_result *r, int losses);
/* Opens the JSON-lines training log at path (NULL: none, *log stays NULL) for a new run (resume_step
 * -1: emptied) or for one resumed from a checkpoint taken after resume_step optimizer steps: the
 * lines of later steps, which the interrupted run wrote after that checkpoint, and a last line cut
 * short are cut off (the file truncated in place), and the run appends to the rest, so that the log
 * reads as the uninterrupted run's. A file with a whole line without "step" is not a training log
 * and is only appended to. VF_ERR_IO naming the file. */
vf_status vf__open_training_log(const char *path, int64_t resume_step, FILE **log);
/* vf__open_training_log for o->log_path, resumed at o->resume_state's step with o->resume. */
vf_status vf__fit_open_log(const vf_fit_table_options *o, FILE **log, vf_fit_result *r);
/* Closes the log, VF_ERR_IO (stage LOG) when anything failed to reach the file. */
vf_status vf__fit_close_log(const vf_fit_table_options *o, FILE *log, vf_fit_result *r);

#define vf__fit_fail(r, st, s, ...) ((r)->stage = (st), vf__train_fail((r)->error, s, __VA_ARGS__))

#endif
