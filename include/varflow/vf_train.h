/* vf_train.h — training: the loops behind `varflow fit` and `varflow vi`, their checkpoints, and
 * one-call functions that do what those commands do around the loop (standardization, the
 * validation split, dequantization, data-dependent initialization, the model file's metadata).
 * The CLI and the Python binding are thin callers of these; nothing here prints.
 *
 * Usage (the one-call API; the Python binding's sequence)
 *   vf_fit_table_options o = vf_fit_table_default_options();
 *   o.fit.epochs = 50;  o.fit.seed = 1;             // the loop's options (vf_fit_options below)
 *   vf_fitted *m = NULL;
 *   vf_fit_result r;
 *   if (vf_fit_table("nsf:transforms=5,hidden=64x2", x, n, d, NULL, 0, NULL, 0, NULL, &o, &m, &r) != VF_OK)
 *       fprintf(stderr, "%s\n", r.error);           // x [n, d]; 10% held out for validation
 *   printf("%g nats per row\n", r.valid_nll);
 *   vf_fitted_save(m, "model.safetensors");         // vf_flow_load (or vf_cnf_model_load) reads it
 *   vf_fitted_log_prob(m, k, rows, NULL, NULL, lp);   // lp [k] = log p(rows); vf_fitted_sample draws
 *   vf_flow *f = vf_fitted_flow(m);  vf_params *p = vf_fitted_params(m);   // borrowed
 *   vf_fitted_free(m);
 *   vf_fitted_load("model.safetensors", &m);       // either kind, with its metadata
 *
 *   vf_target t;  vf_target_from_spec("gauss:d=2", &t);          // variational inference, the same way
 *   vf_vi_run_options vo = vf_vi_run_default_options();  vo.vi.steps = 500;
 *   vf_vi_summary vs;
 *   if (vf_vi_run(&t, NULL, &vo, &m, &vs) == VF_OK) printf("log Z %g +- %g\n", vs.log_z, vs.log_z_stderr);
 *   vf_fitted_free(m);  vf_target_free(&t);
 *
 * The spec decides the kind of model: a flow preset (vf_presets.h: "maf", "nsf", ...) gives a
 * normalizing flow fitted by maximum likelihood (VF_FITTED_FLOW: vf_fitted_flow, vf_fitted_params);
 * a continuous-flow objective ("cfm", "otcfm", "sbcfm", "fm", "rf", "si", "meanflow") gives a
 * vf_cnf_model trained by flow matching (VF_FITTED_CNF: vf_fitted_cnf). Both save with
 * vf_fitted_save and carry the same fit.* metadata `varflow fit` writes.
 *
 * Usage (the loop alone, on a flow you built and finalized)
 *   vf_fit_options o = vf_fit_default_options();
 *   o.epochs = 20; o.patience = 5;
 *   vf_fit_result r;
 *   vf_status s = vf_fit_flow(flow, p, train, NULL, nt, valid, NULL, nv, d, 0, &o, log_or_NULL, &r);
 *   // on VF_OK the store p holds the best parameters (lowest validation NLL, or the last ones when
 *   // there is no validation set) and r has the summary; on failure (VF_ERR_NUMERIC: the loss or a
 *   // gradient became NaN or infinite) r.error says why.
 *
 * Progress. Instead of drawing anything, the loops call o.progress(o.progress_ctx, &pr) after every
 * step and epoch with what a progress line shows (vf_progress); the callback decides how often to
 * draw. The CLI's cli/progress.c draws it on a terminal.
 */
#ifndef VF_TRAIN_H
#define VF_TRAIN_H

#include <signal.h>
#include <stdio.h>
#include "vf_cfm.h"
#include "vf_cnf_model.h"
#include "vf_flow.h"
#include "vf_model.h"
#include "vf_rng.h"
#include "vf_vi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- progress ------------------------------------------------------------------------------ */
typedef struct vf_progress {
    int64_t epoch, epochs;      /* the current epoch (1-based) and the epochs planned (0 in VI: no epochs) */
    int64_t step, steps;        /* optimizer steps done and planned */
    double train_loss;          /* running mean loss of this epoch (VI: the last step's loss) */
    double valid_loss;          /* the last validation loss (NAN: none yet, or no validation) */
    double steps_per_second;    /* of this run */
    double eta_seconds;         /* time left at that rate (NAN: unknown) */
    int done;                   /* 0 during training; 1 the final report; -1 after a failure */
} vf_progress;

typedef void (*vf_progress_fn)(void *ctx, const vf_progress *p);

/* ---- the maximum-likelihood loop of a flow ------------------------------------------------- */
/* Minibatch maximum likelihood with Adam/AdamW, a cosine schedule with linear warm-up, gradient-norm
 * clipping, and early stopping on the validation NLL that keeps the best parameters. With dequantize
 * set, every training batch and every NLL evaluation adds fresh U(0, 1) noise to each value (integer
 * data made continuous; the noise comes from a generator seeded by seed).
 *
 * Modes. Training steps run with vf_params_set_training(p, 1) (batch_norm uses batch statistics and
 * updates its running statistics); every evaluation (validation, the final NLL) and the parameters
 * left in p run in evaluation mode. The best epoch's buffers are kept with its parameters.
 *
 * Checkpoints. With o.checkpoint set, the loop calls it after every o.checkpoint_every-th epoch (and
 * after the last epoch of a run cut short by o.stop_after) with the complete training state: the
 * parameters in p, the optimizer (moments and step count), the generators, the best parameters and
 * validation NLL, the patience counter. A run started with o.resume set to such a state continues
 * exactly as the uninterrupted run would have (same batches, noise, learning rates and updates), as
 * long as the data, batch size and seed are the same. No checkpoint is written after an epoch that
 * fails (divergence) or that ends the run by early stopping.
 *
 * Interruption. With o.interrupt pointing at a flag (a signal handler's: the CLI sets it on Ctrl-C),
 * a run whose flag has become nonzero ends at the end of the current epoch (VI: step) as o.stop_after
 * ends one: a checkpoint is written (with o.checkpoint), the best parameters so far are left in p,
 * and the result says paused. */

/* Everything a checkpoint holds besides the flow's parameters (which stay in the store). */
/* An objective's own state beyond the parameters (VI with FAB: the replay buffer and the HMC step
 * sizes), as a named array of doubles; a checkpoint stores it as the F64 tensor "fit.extra.<name>",
 * so it loads back exactly in either build. */
typedef struct vf_fit_extra {
    char name[48];
    int64_t numel;
    double *data;           /* [numel] */
} vf_fit_extra;

typedef struct vf_fit_state {
    int64_t epoch;          /* epochs completed */
    int64_t step;           /* optimizer steps done */
    int64_t bad;            /* epochs since the best validation NLL (patience counter) */
    int64_t best_epoch;     /* epoch of the best parameters (0: none yet) */
    double best_valid;      /* best validation NLL so far (INFINITY: none yet; NAN without validation) */
    double last_train;      /* the last epoch's mean train NLL */
    double last_valid;      /* the last epoch's validation NLL (NAN without validation) */
    double seconds;         /* training time so far */
    vf_rng shuffle, noise;  /* the shuffling and dequantization generators, positioned after `epoch` */
    int64_t size;           /* number of parameters: the length of the arrays below */
    vf_real *best;          /* [size] the best parameters */
    int64_t buffer_size;    /* scalars in the store's buffers (batch_norm running statistics) */
    vf_real *best_buffers;  /* [buffer_size] the buffers that go with the best parameters */
    vf_real *adam_m;        /* [size] Adam's first moments */
    vf_real *adam_v;        /* [size] Adam's second moments */
    int64_t adam_step;      /* Adam's update count */
    int32_t n_extra;        /* the objective's own state (vf_vi_train: FAB's), or 0 */
    vf_fit_extra *extra;    /* [n_extra]: borrowed when handed to a checkpoint function, owned (data
                             * too) when filled by vf_fit_checkpoint_read */
} vf_fit_state;

/* Called with the state after an epoch; a non-VF_OK status stops training with that error (r.error
 * gets vf_last_error()). */
typedef vf_status (*vf_fit_checkpoint_fn)(void *ctx, const vf_fit_state *st);

/* Sums n values in place over the processes of a data-parallel fit: values points to n vf_real
 * (is_double 0) or n double (is_double 1), and every process must get the same sums, bit for bit (a
 * reduction to one process and a broadcast). A non-VF_OK status (with its message) stops the fit. */
typedef vf_status (*vf_fit_reduce_fn)(void *ctx, void *values, int64_t n, int is_double);

typedef struct vf_fit_options {
    int64_t epochs;         /* passes over the training rows (used when steps == 0) [100] */
    int64_t steps;          /* > 0: stop after this many optimizer steps instead [0] */
    int64_t batch;          /* rows per step (the last batch of an epoch may be smaller) [512] */
    double lr;              /* peak learning rate [1e-3] */
    double weight_decay;    /* > 0 selects AdamW with this decay; 0 is Adam [0] */
    double clip;            /* global gradient-norm clip (> 0) [5] */
    int64_t warmup;         /* warm-up steps; < 0: min(100, total / 10) [-1] */
    int64_t patience;       /* stop after this many epochs without a better validation NLL; 0: never [10] */
    uint64_t seed;          /* shuffling and dequantization seed (vf_fit_table: also initialization, split) [0] */
    int dequantize;         /* 1: add U(0, 1) noise to every value of every batch and evaluation [0] */
    vf_progress_fn progress;        /* NULL: no progress reports [NULL] */
    void *progress_ctx;             /* passed to progress [NULL] */
    vf_fit_checkpoint_fn checkpoint;   /* NULL: no checkpoints [NULL] */
    void *checkpoint_ctx;           /* passed to checkpoint [NULL] */
    int64_t checkpoint_every;       /* checkpoint after every this many epochs (>= 1) [1] */
    int64_t stop_after;             /* > 0: end this run after that many epochs (a checkpoint is written
                                     * then; the schedule still spans all epochs) [0] */
    const vf_fit_state *resume;     /* not NULL: continue from this state (p holds its parameters) [NULL] */
    /* Data parallel over `ranks` processes (MPI ranks: `varflow fit` under mpirun). Every process makes
     * the same call (data, options, seed, parameters) and works on rows [m rank / ranks,
     * m (rank + 1) / ranks) of each batch of m rows and of each evaluation; reduce sums the gradients,
     * the losses and batch normalization's running statistics (weighted by the shares) over the
     * processes, so every process takes the same steps and ends with the same parameters; the
     * processes check at the start that they hold the same data, settings and initial parameters
     * (else VF_ERR_ARG on all). Give progress, checkpoint and log to one process (rank 0) only: if
     * that process fails there, it returns while the others wait in their next reduction, and the
     * caller must end them (MPI_Abort). vf_fit_flow, vf_cnf_fit and vf_fit_table take them (a
     * continuous flow's batch, coupling included, is drawn whole on every process). ranks <= 1: one
     * process, reduce unused [0, 1, NULL, NULL] */
    int rank, ranks;
    vf_fit_reduce_fn reduce;
    void *reduce_ctx;
    /* not NULL: end the run at the end of the epoch in which *interrupt became nonzero, as stop_after
     * would (with ranks > 1 every process must read the same value there: leave it NULL) [NULL] */
    const volatile sig_atomic_t *interrupt;
} vf_fit_options;

/* Where a vf_fit_table call failed (so a caller can word its message or pick an exit code). */
typedef enum vf_fit_stage {
    VF_FIT_STAGE_NONE = 0,      /* no failure */
    VF_FIT_STAGE_INPUT,         /* the arrays or options (too few rows, a dimension mismatch, ...) */
    VF_FIT_STAGE_SPEC,          /* the spec (unknown name or key, bad value) */
    VF_FIT_STAGE_STANDARDIZE,   /* the standardization statistics (e.g. a non-finite value) */
    VF_FIT_STAGE_INIT,          /* the data-dependent initialization */
    VF_FIT_STAGE_TRAIN,         /* the loop (divergence, a checkpoint that could not be written) */
    VF_FIT_STAGE_LOG,           /* the log file could not be opened or written */
    VF_FIT_STAGE_ESTIMATE       /* vf_vi_run: the importance-sampling estimates after training */
} vf_fit_stage;

typedef struct vf_fit_result {
    double train_nll;       /* mean NLL (nats per row) of the kept parameters on the training rows
                             * (continuous flows: the exact NLL of up to nll_rows rows, NAN when not computed) */
    double valid_nll;       /* the same on the validation rows (NAN when there are none) */
    double train_loss;      /* continuous flows: mean training loss of the last epoch (flows: NAN) */
    double valid_loss;      /* continuous flows: the kept parameters' validation loss (NAN without) */
    int64_t steps;          /* optimizer steps done */
    int64_t epochs;         /* epochs begun (the last may be partial with steps) */
    int64_t best_epoch;     /* epoch (1-based) whose parameters were kept */
    int stopped_early;      /* 1 when patience ran out */
    int paused;             /* 1 when o.stop_after ended the run before the last epoch, 2 when o.interrupt did */
    double seconds;         /* wall time of the training loop */
    int64_t train_rows;     /* vf_fit_table: rows trained on (after the split) */
    int64_t valid_rows;     /* vf_fit_table: validation rows */
    int64_t params;         /* vf_fit_table: the model's parameter count */
    vf_fit_stage stage;     /* vf_fit_table: where it failed (VF_FIT_STAGE_NONE on success) */
    char error[512];        /* on failure: what went wrong, one line (also in vf_last_error()) */
} vf_fit_result;

vf_fit_options vf_fit_default_options(void);

/* Mean NLL of x [n, d] (context [n, c] or NULL) under the flow, in chunks of rows through
 * vf_flow_log_prob_rows (its blocks on the library's threads, the same bits on any number); VF_ERR_NUMERIC
 * when it is not finite. noise, when not NULL, dequantizes: each value gets fresh U(0, 1) noise drawn from it. */
vf_status vf_fit_mean_nll(const vf_flow *f, vf_params *p, vf_tape *t, const vf_real *x /* [n, d] */,
                          const vf_real *context /* [n, c] or NULL */, int64_t n, int64_t d, int64_t c,
                          vf_rng *noise, double *out);

/* Trains p (finalized) on train [nt, d] and validates on valid [nv, d] (nv may be 0); a conditional
 * flow (c > 0) takes the rows' contexts train_context [nt, c] and valid_context [nv, c]. log, when not
 * NULL, receives one JSON line per epoch: epoch, step, train_nll, valid_nll, lr, seconds. */
vf_status vf_fit_flow(vf_flow *f, vf_params *p, const vf_real *train /* [nt, d] */,
                      const vf_real *train_context /* [nt, c] or NULL */, int64_t nt,
                      const vf_real *valid /* [nv, d] */, const vf_real *valid_context /* [nv, c] or NULL */,
                      int64_t nv, int64_t d, int64_t c, const vf_fit_options *o, FILE *log, vf_fit_result *r);

/* ---- checkpoints (the format of `varflow fit --checkpoint`) ---------------------------------
 * A checkpoint is a model file (vf_flow_save_with, or vf_cnf_model_save for a continuous flow) whose
 * model tensors are the CURRENT parameters (so vf_flow_load / vf_cnf_model_load, logprob and sample
 * accept it), plus training state that the loaders ignore:
 *   tensors  "fit.adam.m.<param>", "fit.adam.v.<param>" (Adam's moments) and "fit.best.<param>" (the
 *            best parameters so far), each with its parameter's shape, and "fit.best.<buffer>" (the
 *            buffers, e.g. batch_norm running statistics, that go with the best parameters), and
 *            "fit.extra.<name>" (F64, 1-D) for each of the state's extra arrays;
 *   metadata "fit.resume.epoch", ".step", ".bad", ".best_epoch", ".best_valid", ".last_train",
 *            ".last_valid", ".seconds", ".adam_step", ".shuffle" and ".noise" (generator positions as
 *            "key0 key1 counter stream"), ".train_rows" and ".dim" (checked on resume), beside the run's
 *            usual fit.* keys (fit.epochs, fit.steps and fit.train_nll, or fit.train_loss for a
 *            continuous flow, are the state's). Reals are written with 17 significant digits, so they
 *            load back exactly.
 *
 *   vf_fit_ckpt ck = {path, flow, p, n_meta, keys, values, nt, d};   // continuous flow: {path, NULL,
 *                                                                    // m->params, ..., d, m}
 *   o.checkpoint = vf_fit_checkpoint_write;  o.checkpoint_ctx = &ck;     // written atomically
 *   ...
 *   vf_fit_state st;
 *   if (vf_fit_checkpoint_read(path, &meta, p, &st) == VF_OK) { o.resume = &st; ... vf_fit_state_free(&st); }
 */
typedef struct vf_fit_ckpt {
    const char *path;            /* the checkpoint file */
    const vf_flow *flow;
    vf_params *p;                /* finalized; holds the current parameters when called */
    int64_t n_meta;              /* the run's own metadata: keys [n_meta] -> values [n_meta] */
    const char *const *keys;
    const char *const *values;
    int64_t train_rows, dim;     /* recorded for the checks on resume */
    const vf_cnf_model *cnf;     /* not NULL: a continuous flow's checkpoint (flow NULL, p its params) */
} vf_fit_ckpt;

/* A vf_fit_checkpoint_fn: ctx is a vf_fit_ckpt. VF_ERR_IO / VF_ERR_NOMEM with a message naming the file. */
vf_status vf_fit_checkpoint_write(void *ctx, const vf_fit_state *st);

/* The state in checkpoint `path` whose metadata (from vf_flow_load or vf_cnf_model_load) is meta and
 * whose model's store is p: st gets owned arrays (free with vf_fit_state_free). VF_ERR_FORMAT (message names the file)
 * when the file is not a checkpoint or its state does not match p. */
vf_status vf_fit_checkpoint_read(const char *path, const vf_model_meta *meta, vf_params *p, vf_fit_state *st);
void vf_fit_state_free(vf_fit_state *st);

/* 1 when meta is a checkpoint's (has fit.resume.* keys). */
int vf_fit_checkpoint_is(const vf_model_meta *meta);

/* ---- the flow-matching loop of a continuous flow ------------------------------------------
 * Minibatch regression of a continuous flow's field (vf_cnf_model.h) on its objective, with the
 * optimizer, schedule and clipping of vf_fit_flow (the vf_fit_options fields epochs, steps, batch,
 * lr, weight_decay, clip, warmup, patience, seed, dequantize, progress, checkpoint, checkpoint_every,
 * stop_after, resume: every one of them), and early stopping on a validation loss that keeps the best
 * parameters.
 *
 * A training batch: rows of the (standardized) targets in a shuffled order; sources drawn fresh from
 * the model's source (or rows of a source table drawn uniformly with replacement, or, for reflow,
 * the fixed sources paired with each target row); the objective's coupling within the batch (by class
 * when there are labels); labels dropped to the null label with probability p_uncond; times
 * t ~ U(0, 1) (U(1e-3, 1 - 1e-3) for paths whose velocity is infinite at the ends); noise z ~ N(0, I).
 * MeanFlow rows take two times s <= e by vf_meanflow_times (data->meanflow; by default e = s on 75%
 * of the rows: plain flow matching), and the validation rows all have e = s and no adaptive
 * weights: the flow-matching error, a fixed regression target, where MeanFlow's own target moves
 * with the network (its validation loss rose while one-step samples improved, so the kept
 * parameters were those of epoch 1).
 * Models with a score field add the score loss (vf_cfm_score_loss) on the same points.
 *
 * The validation loss is the same loss on the validation rows with one draw of sources, couplings,
 * times and noise made before training (seeded), so it is comparable from epoch to epoch; labels
 * are not dropped there.
 *
 * Dequantization (o.dequantize; integer data): every target value of every training batch, and of
 * the validation draw, gets fresh U(0, 1) noise in original units (u / std_j in the standardized
 * units of the model's mean / std, so train and valid hold the standardized integers).
 *
 * Checkpoints and resume: as vf_fit_flow (o.checkpoint, checkpoint_every, stop_after, resume, the
 * vf_fit_state above): the state's shuffle generator orders the rows, its noise generator makes every
 * other draw of a training batch (dequantization, sources, couplings, label dropout, times, noise),
 * last_train / last_valid / best_valid are losses, not NLLs. A resumed run continues bit for bit as
 * the uninterrupted one with the same data, batch size, seed and options. Write the checkpoint with
 * vf_fit_checkpoint_write and a vf_fit_ckpt whose cnf is the model.
 *
 *   vf_cnf_fit_data data = {train, nt, labels, valid, nv, vlabels, NULL, 0, NULL, NULL, 0, NULL};
 *   vf_fit_options o = vf_fit_default_options();
 *   vf_cnf_fit_result r;
 *   if (vf_cnf_fit(model, &data, &o, log_or_NULL, &r) != VF_OK) ... r.error ...
 */
typedef struct vf_cnf_fit_data {
    const vf_real *train;          /* [nt, d] targets, standardized */
    int64_t nt;
    const int64_t *train_labels;   /* [nt] in 0..classes-1, or NULL */
    const vf_real *valid;          /* [nv, d] standardized, or NULL */
    int64_t nv;
    const int64_t *valid_labels;   /* [nv] or NULL */
    const vf_real *source;         /* [ns, d] source rows (a data source), or NULL */
    int64_t ns;
    const vf_real *train_x0;       /* [nt, d] fixed sources paired with the targets (reflow), or NULL */
    const vf_real *valid_x0;       /* [nv, d] the same for the validation rows, or NULL */
    int distill;                   /* 1: every time is 0, so the field learns the jump x1 - x0 from x0 (with
                                    * fixed pairs on the linear path: one-step distillation) */
    const vf_meanflow_options *meanflow; /* MeanFlow's loss weighting and times, or NULL: the defaults */
} vf_cnf_fit_data;

typedef struct vf_cnf_fit_result {
    double train_loss;     /* mean training loss of the last epoch */
    double valid_loss;     /* the kept parameters' validation loss (NAN without validation) */
    int64_t steps, epochs, best_epoch;
    int stopped_early;
    int paused;            /* 1 when o.stop_after ended the run before the last epoch, 2 when o.interrupt did */
    double seconds;
    char error[512];
} vf_cnf_fit_result;

/* Trains m's field in place; on VF_OK m holds the best parameters (lowest validation loss, else
 * the last). log: one JSON line per epoch (epoch, step, train_loss, valid_loss, lr, seconds). */
vf_status vf_cnf_fit(vf_cnf_model *m, const vf_cnf_fit_data *data, const vf_fit_options *o, FILE *log,
                     vf_cnf_fit_result *r);

/* Mean exact negative log-likelihood (nats per row, original units) of the first min(n, limit) rows
 * of x [n, d] (original units), labels [n] or NULL; rk4 with 100 steps. */
vf_status vf_cnf_mean_nll(const vf_cnf_model *m, const vf_real *x /* [n, d] */, const int64_t *labels /* [n] */,
                          int64_t n, int64_t limit, double *out);

/* 1 when spec's name (before ':') is a continuous-flow objective: cfm, otcfm, sbcfm, fm, rf, si, meanflow. */
int vf_fit_is_cnf_spec(const char *spec);

/* A continuous-flow spec NAME[:key=value,...] for d columns and `classes` labels (0: unconditional)
 * into s and MeanFlow's options mo, as `varflow fit --model` reads it. Keys: hidden=WxL or W1xW2x...,
 * act, residual=0|1, time=input|sinusoidal, freq, sigma, coupling=independent|ot|sinkhorn, eps,
 * iters, source=gaussian|student[:df=D], df, p_uncond (default 0.1 with classes), embed, score=0|1;
 * meanflow also distinct, times=uniform|logit_normal, time_mu, time_sigma, weight_p, weight_c.
 * VF_ERR_ARG with a message naming the key (without the spec) when it is malformed. */
vf_status vf_cnf_spec_from_string(const char *spec, int64_t d, int64_t classes, vf_cnf_spec *s,
                                  vf_meanflow_options *mo);

/* ---- the reverse-KL loop of variational inference -----------------------------------------
 * Steps of a reverse-KL objective (vf_vi.h) with Adam, a cosine learning rate with linear warm-up,
 * gradient-norm clipping, progress reports, JSON log lines and checkpoints in the format above, so a
 * stopped run resumes exactly. The vf_fit_state fields are used as: epoch = step = optimizer steps
 * done, shuffle = the sampling generator, noise = unused, last_train = the last step's loss; without
 * validation best = the current parameters (VI keeps the last ones) and best_valid = NAN; with
 * patience > 0, best, best_epoch (a step), best_valid, last_valid and bad are the validation's.
 *
 *   vf_vi_options o = vf_vi_default_options();  o.steps = 2000;  o.objective = VF_VI_PATH;
 *   vf_vi_result r;
 *   if (vf_vi_train(v, p, &o, log_or_NULL, &r) != VF_OK) ... r.error ...
 */
typedef struct vf_vi_options {
    int64_t steps;              /* optimizer steps [2000] */
    int64_t batch;              /* draws per step [256] */
    double lr;                  /* peak learning rate [1e-3] */
    double clip;                /* gradient-norm clip [5] */
    int64_t warmup;             /* warm-up steps; < 0: min(100, steps / 10) [-1] */
    vf_vi_objective objective;  /* [VF_VI_RKL] */
    uint64_t seed;              /* sampling seed [0] */
    vf_progress_fn progress;    /* NULL: no progress reports [NULL] */
    void *progress_ctx;         /* passed to progress [NULL] */
    int64_t log_every;          /* a JSON log line every this many steps (and the last) [10] */
    vf_fit_checkpoint_fn checkpoint;   /* NULL: none */
    void *checkpoint_ctx;
    int64_t checkpoint_every;   /* steps between checkpoints [100] */
    int64_t stop_after;         /* > 0: end this run after that many steps, with a checkpoint [0] */
    const vf_fit_state *resume; /* not NULL: continue from this state (p holds its parameters) */
    int64_t anneal;             /* > 0: temperature beta on log p~ rises linearly from beta0 to 1 over
                                 * these steps (vf_vi_set_beta; back to 1 at the end) [0] */
    double beta0;               /* the first step's beta, in (0, 1] [0.01] */
    int64_t patience;           /* > 0: validate every valid_every steps (after the annealing) and stop
                                 * after this many validations without a lower validation loss; the
                                 * best parameters are restored at the end. 0: no validation [0] */
    int64_t valid_every;        /* steps between validations (and the last step) [100] */
    int64_t valid_draws;        /* the validation draws: the same valid_draws base points every time
                                 * (seed, stream 29), scored by vf_vi_loss [4096] */
    const volatile sig_atomic_t *interrupt; /* not NULL: end the run after the step in which *interrupt
                                             * became nonzero, as stop_after would [NULL] */
} vf_vi_options;

typedef struct vf_vi_result {
    double loss;                /* mean loss of the last min(100, steps) steps of this run (the objective's
                                 * own: -ELBO for rkl and path) */
    int64_t steps;              /* optimizer steps done in all (with the resumed ones) */
    int paused;                 /* 1 when stop_after ended the run early, 2 when interrupt did */
    double seconds;             /* training time, resumed runs included */
    char error[512];
    double valid_loss;          /* the best validation loss (NAN without validation) */
    int64_t best_step;          /* the step of the restored best parameters (0: none, no validation) */
    int stopped_early;          /* 1 when patience ended the run */
} vf_vi_result;

vf_vi_options vf_vi_default_options(void);

/* Trains the flow behind v (its store p) for o->steps steps. VF_ERR_NUMERIC when the loss or the
 * gradient stops being finite ("diverged at step k") or the target misbehaves (its message). */
vf_status vf_vi_train(vf_vi *v, vf_params *p, const vf_vi_options *o, FILE *log, vf_vi_result *r);

/* ---- fitted models: a flow or a continuous flow with its metadata --------------------------- */
typedef struct vf_fitted vf_fitted;

typedef enum vf_fitted_kind {
    VF_FITTED_FLOW = 0,     /* a normalizing flow and its parameter store */
    VF_FITTED_CNF = 1       /* a continuous flow (vf_cnf_model.h) */
} vf_fitted_kind;

/* Wraps a flow and its finalized store (ownership moves to the handle, also on failure). */
vf_status vf_fitted_from_flow(vf_flow *f, vf_params *p, vf_fitted **out);
vf_fitted_kind vf_fitted_get_kind(const vf_fitted *m); /* (VF_FITTED_FLOW for NULL) */
vf_flow *vf_fitted_flow(const vf_fitted *m);        /* borrowed; NULL for a continuous flow */
vf_params *vf_fitted_params(const vf_fitted *m);    /* borrowed: the flow's (or the continuous flow's) store */
vf_cnf_model *vf_fitted_cnf(const vf_fitted *m);    /* borrowed; NULL for a flow */
int64_t vf_fitted_dim(const vf_fitted *m);
int64_t vf_fitted_param_count(const vf_fitted *m);
/* The value of metadata key (e.g. "fit.valid_nll"), or NULL. */
const char *vf_fitted_meta_get(const vf_fitted *m, const char *key);
/* All the metadata (borrowed; valid until the handle changes), e.g. for vf_fit_checkpoint_read. */
const vf_model_meta *vf_fitted_meta(const vf_fitted *m);
/* Adds key = value to the metadata (replacing an existing key's value); both copied. */
vf_status vf_fitted_set_meta(vf_fitted *m, const char *key, const char *value);
/* Writes the model file (atomically) with the metadata; vf_flow_load / vf_cnf_model_load read it. */
vf_status vf_fitted_save(const vf_fitted *m, const char *path);
void vf_fitted_free(vf_fitted *m);
/* A model file of either kind (a flow, or a continuous flow: vf_cnf_model_file_is_cnf decides) with
 * its metadata into a new handle (a checkpoint loads as its current flow). */
vf_status vf_fitted_load(const char *path, vf_fitted **out);
/* out [n] = log p(x) of the rows x [n, d]; context [n, c] for a conditional flow, labels [n] for a
 * class-conditional continuous flow (each NULL otherwise). Continuous flows: rk4 with 100 steps and
 * the exact divergence (vf_cnf_model_log_prob; none for MeanFlow or data-source models). */
vf_status vf_fitted_log_prob(const vf_fitted *m, int64_t n, const vf_real *x /* [n, d] */,
                             const vf_real *context /* [n, c] or NULL */, const int64_t *labels /* [n] or NULL */,
                             vf_real *out /* [n] */);
/* out [n, d]: n draws (a generator seeded by seed); context / labels as above. */
vf_status vf_fitted_sample(const vf_fitted *m, int64_t n, const vf_real *context /* [n, c] or NULL */,
                           const int64_t *labels /* [n] or NULL */, uint64_t seed, vf_real *out /* [n, d] */);

/* ---- fit a table in one call --------------------------------------------------------------- */
typedef struct vf_fit_table_options {
    vf_fit_options fit;         /* the loop (progress, epochs, batch, lr, seed, dequantize, ...) */
    double valid_fraction;      /* rows of x held out for validation when valid is NULL, in [0, 1);
                                 * 0: no validation (the last epoch's parameters are kept) [0.1] */
    int standardize;            /* 1: the model's first step maps each column to (x - mean) / std of the
                                 * training rows (part of the saved model) [1] */
    int64_t valid_dim;          /* columns of valid when it is given; 0: d (a binding passes its array's
                                 * width, so a mismatch is an error, not a misread) [0] */
    const char *data_name;      /* recorded as fit.data and named in messages ["array"] */
    const char *valid_name;     /* recorded as fit.valid when valid is given [NULL: "array"] */
    const char *log_path;       /* one JSON line per epoch into this file (flows: epoch, step, train_nll,
                                 * valid_nll, lr, seconds; continuous flows: train_loss, valid_loss) [NULL] */
    const char *checkpoint;     /* write a checkpoint (format above) to this path [NULL] */
    vf_fitted *resume;          /* continue this checkpoint's run (its model, loaded by the caller with
                                 * vf_fitted_load, is trained in place; *out is not set) [NULL] */
    const vf_fit_state *resume_state;   /* with resume: the state vf_fit_checkpoint_read gave [NULL] */
    /* continuous flows only */
    const int64_t *labels;      /* [n] class labels 0..K-1: a class-conditional model (K = largest + 1) [NULL] */
    const int64_t *valid_labels;    /* [nv] labels of valid's rows (needed with valid and labels) [NULL] */
    const vf_real *source;      /* [source_rows, d] data-to-data transport: source rows drawn with
                                 * replacement instead of the noise source [NULL] */
    int64_t source_rows;
    const char *source_name;    /* recorded as fit.source ["array"] */
    int64_t nll_rows;           /* rows (training and validation each) for the exact NLLs at the end, when
                                 * d <= 16 (not for meanflow or a data source); 0: none [1000] */
    double box_lo, box_hi;      /* box_hi > box_lo: every value lies in [box_lo, box_hi] and the model sees the
                                 * logits (vf_cnf_model.h, "Data on a box"; standardized after them); not with
                                 * dequantize or a data source [0, 0: none] */
    double box_alpha;           /* the box's squeeze, 0 <= alpha < 0.5 [VF_CNF_BOX_ALPHA] */
} vf_fit_table_options;

vf_fit_table_options vf_fit_table_default_options(void);

/* Fits the model of `spec` to the rows of x [n, d] as `varflow fit` does: a validation split of
 * o->valid_fraction of the rows (a seeded shuffle) unless valid [nv, d] is given, standardization,
 * dequantization (o->fit.dequantize: x must hold integers), the flow's data-dependent
 * initialization, the loop, and the metadata (fit.spec, fit.data, fit.valid, fit.seed, fit.batch,
 * fit.lr, varflow_version, fit.standardize, [fit.dequantize,] fit.epochs, fit.steps, fit.train_nll,
 * fit.valid_nll). context [n, c] (valid_context [nv, c]) makes a conditional flow (c > 0; flows
 * only). On VF_OK *out is a new handle (free with vf_fitted_free); on failure r->error and
 * vf_last_error() say why and r->stage where.
 * A continuous-flow spec (vf_fit_is_cnf_spec) trains a vf_cnf_model by vf_cnf_fit on the
 * standardized rows instead (labels, a data source: the options above; no context), with the same
 * dequantization (statistics of the noisy values; fresh noise in every batch; the exact NLLs of
 * noisy rows), checkpoints and resume (the resumed model must match: its fit.spec, labels or none,
 * data source or none); it reports train_loss / valid_loss and the exact NLLs of up to o->nll_rows
 * rows (r->train_nll, r->valid_nll; NAN when not computed), and records the keys above plus
 * [fit.source,] fit.train_loss and fit.valid_loss. */
vf_status vf_fit_table(const char *spec, const vf_real *x /* [n, d] */, int64_t n, int64_t d,
                       const vf_real *context /* [n, c] or NULL */, int64_t c,
                       const vf_real *valid /* [nv, d] or NULL */, int64_t nv,
                       const vf_real *valid_context /* [nv, c] or NULL */, const vf_fit_table_options *o,
                       vf_fitted **out, vf_fit_result *r);

/* ---- variational inference in one call --------------------------------------------------- */
#define VF_VI_DEFAULT_FLOW "nsf_coupling:transforms=8,hidden=64x2,bins=8,bound=5"
#define VF_VI_DEFAULT_FLOW_1D "nsf:transforms=4,hidden=64x2,bins=8,bound=5"

typedef struct vf_vi_run_options {
    vf_vi_options vi;           /* the loop (steps, batch, lr, objective, seed, progress, ...) */
    double box;                 /* > 0: a scaled tanh last in the sampling direction, so every draw lies in
                                 * (-box, box)^d; 0: none; < 0: vf_vi_default_box [-1] */
    int64_t is_samples;         /* draws for the importance-sampling estimates (>= 2) [10000] */
    const char *target_spec;    /* recorded as vi.target [NULL: the target's name] */
    const char *log_path;       /* a JSON line every vi.log_every steps: step, loss, lr, seconds [NULL] */
    const char *checkpoint;     /* write checkpoints (the format of vf_fit_checkpoint_write) here [NULL] */
    vf_fitted *resume;          /* continue this checkpoint's run in place (*out is not set) [NULL] */
    const vf_fit_state *resume_state;   /* with resume: its state [NULL] */
    vf_real *draws;             /* [is_samples, d] or NULL: receives the importance-sampling draws of q */
    double *log_weights;        /* [is_samples] or NULL: their log p~(x) - log q(x) */
} vf_vi_run_options;

typedef struct vf_vi_summary {
    double elbo, elbo_stderr;   /* mean log weight and its standard error */
    double log_z, log_z_stderr; /* log mean weight, delta-method standard error */
    double ess, ess_fraction;   /* (sum w)^2 / sum w^2 and that over is_samples */
    double khat;                /* PSIS k-hat (above 0.7: the estimates are not reliable) */
    double forward_ess_fraction;    /* from exact draws of the target (NAN when it has none) */
    double log_z_true;          /* the target's known log Z (NAN when unknown) */
    double loss;                /* mean loss (-ELBO) of the last 100 training steps */
    int64_t steps;              /* optimizer steps done in all */
    int paused;                 /* 1 when vi.stop_after ended the run early, 2 when vi.interrupt did */
    double seconds;             /* training time */
    int64_t params;             /* the flow's parameter count */
    int64_t is_samples;         /* draws behind the estimates */
    double box;                 /* the box used (0: none) */
    char flow[256];             /* the flow spec used */
    vf_fit_stage stage;         /* where it failed (VF_FIT_STAGE_NONE on success) */
    char error[512];            /* on failure: what went wrong (also in vf_last_error()) */
    double valid_loss;          /* with vi.patience: the best validation loss (else NAN) */
    int64_t best_step;          /* with vi.patience: the step whose parameters the model holds (else 0) */
    int stopped_early;          /* 1 when vi.patience ended the training */
} vf_vi_summary;

vf_vi_run_options vf_vi_run_default_options(void);
/* The box `varflow vi` puts on target t by default: 4 for u2, u3, u4 (which live on [-4, 4]^2), else 0. */
double vf_vi_default_box(const vf_target *t);

/* Fits a flow q to the unnormalized density of t by reverse KL, as `varflow vi` does: the flow of
 * flow_spec (NULL: VF_VI_DEFAULT_FLOW, in 1-D VF_VI_DEFAULT_FLOW_1D) for t->dim, behind the box map
 * when o->box > 0, initialized from o->vi.seed; vf_vi_train; then o->is_samples draws of q (a
 * generator of their own, stream 23) for the importance-sampling summary, and the forward ESS from
 * exact draws when t has a sampler. The model's metadata: vi.target, vi.flow, vi.objective, vi.seed,
 * vi.batch, vi.lr, vi.box, vi.steps, varflow_version, vi.elbo, vi.log_z, vi.log_z_stderr,
 * vi.ess_fraction, vi.khat, vi.steps_done, vi.loss. On VF_OK *out is a new handle (a flow; save it
 * with vf_fitted_save); on failure s->error and vf_last_error() say why, s->stage where
 * (VF_FIT_STAGE_SPEC: a bad flow spec). t is borrowed. */
vf_status vf_vi_run(const vf_target *t, const char *flow_spec, const vf_vi_run_options *o, vf_fitted **out,
                    vf_vi_summary *s);

#ifdef __cplusplus
}
#endif

#endif
