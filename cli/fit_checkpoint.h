/* fit_checkpoint.h — `varflow fit --checkpoint` / `--resume`: the training state of fit_loop.h in a
 * flow model file.
 *
 * A checkpoint is a model file (vf_flow_save_with) whose flow tensors are the CURRENT parameters (so
 * vf_flow_load, logprob and sample accept it), plus training state that vf_flow_load ignores:
 *   tensors  "fit.adam.m.<param>", "fit.adam.v.<param>" (Adam's moments) and "fit.best.<param>" (the
 *            best parameters so far), each with its parameter's shape, and "fit.best.<buffer>" (the
 *            buffers, e.g. batch_norm running statistics, that go with the best parameters);
 *   metadata "fit.resume.epoch", ".step", ".bad", ".best_epoch", ".best_valid", ".last_train",
 *            ".last_valid", ".seconds", ".adam_step", ".shuffle" and ".noise" (generator positions as
 *            "key0 key1 counter stream"), ".train_rows" and ".dim" (checked on resume), beside the run's
 *            usual fit.* keys. Reals are written with 17 significant digits, so they load back exactly.
 *
 * Usage
 *   fit_ckpt ck = {path, flow, p, n_meta, keys, values, nt, d};
 *   o.checkpoint = fit_checkpoint_write;  o.checkpoint_ctx = &ck;     // written atomically
 *   ...
 *   fit_state st;
 *   if (fit_checkpoint_read(path, &meta, p, &st) == VF_OK) { o.resume = &st; ... fit_state_free(&st); }
 */
#ifndef VF_CLI_FIT_CHECKPOINT_H
#define VF_CLI_FIT_CHECKPOINT_H

#include "fit_loop.h"

typedef struct fit_ckpt {
    const char *path;            /* the checkpoint file */
    const vf_flow *flow;
    vf_params *p;                /* finalized; holds the current parameters when called */
    int64_t n_meta;              /* the run's own metadata: keys [n_meta] -> values [n_meta] */
    const char *const *keys;
    const char *const *values;
    int64_t train_rows, dim;     /* recorded for the checks on resume */
} fit_ckpt;

/* A fit_checkpoint_fn: ctx is a fit_ckpt. VF_ERR_IO / VF_ERR_NOMEM with a message naming the file. */
vf_status fit_checkpoint_write(void *ctx, const fit_state *st);

/* The state in checkpoint `path` whose metadata (from vf_flow_load) is meta and whose flow's store
 * is p: st gets owned arrays (free with fit_state_free). VF_ERR_FORMAT (message names the file) when
 * the file is not a checkpoint or its state does not match p. */
vf_status fit_checkpoint_read(const char *path, const vf_model_meta *meta, vf_params *p, fit_state *st);
void fit_state_free(fit_state *st);

/* 1 when meta is a checkpoint's (has fit.resume.* keys). */
int fit_checkpoint_is(const vf_model_meta *meta);

#endif
