/* fit_loop.h — the training loop behind `varflow fit`: minibatch maximum likelihood of a flow on a
 * data table, with Adam/AdamW, a cosine schedule with linear warm-up, gradient-norm clipping, and
 * early stopping on the validation NLL that keeps the best parameters. With dequantize set, every
 * training batch and every NLL evaluation adds fresh U(0, 1) noise to each value (integer data made
 * continuous; the noise comes from a generator seeded by seed). With progress set, a one-line status
 * (epoch, step, running train NLL, last validation NLL, steps/s, ETA) is redrawn on stderr with "\r"
 * at most ten times a second and ended with a newline.
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
 * Usage
 *   fit_options o = fit_default_options();
 *   o.epochs = 20; o.patience = 5;
 *   fit_result r;
 *   vf_status s = fit_flow(flow, p, train, nt, valid, nv, d, &o, log_file_or_NULL, &r);
 *   // on VF_OK the store p holds the best parameters (lowest validation NLL, or the last ones when
 *   // there is no validation set) and r has the summary; on failure
 *   // (VF_ERR_NUMERIC: the loss or a gradient became NaN or infinite); r.error says why.
 */
#ifndef VF_CLI_FIT_LOOP_H
#define VF_CLI_FIT_LOOP_H

#include <stdio.h>
#include "varflow.h"

/* Everything a checkpoint holds besides the flow's parameters (which stay in the store). */
typedef struct fit_state {
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
} fit_state;

/* Called with the state after an epoch; a non-VF_OK status stops training with that error (r.error
 * gets vf_last_error()). */
typedef vf_status (*fit_checkpoint_fn)(void *ctx, const fit_state *st);

typedef struct fit_options {
    int64_t epochs;         /* passes over the training rows (used when steps == 0) [100] */
    int64_t steps;          /* > 0: stop after this many optimizer steps instead [0] */
    int64_t batch;          /* rows per step (the last batch of an epoch may be smaller) [512] */
    double lr;              /* peak learning rate [1e-3] */
    double weight_decay;    /* > 0 selects AdamW with this decay; 0 is Adam [0] */
    double clip;            /* global gradient-norm clip (> 0) [5] */
    int64_t warmup;         /* warm-up steps; < 0: min(100, total / 10) [-1] */
    int64_t patience;       /* stop after this many epochs without a better validation NLL; 0: never [10] */
    uint64_t seed;          /* shuffling and dequantization seed [0] */
    int dequantize;         /* 1: add U(0, 1) noise to every value of every batch and evaluation [0] */
    int progress;           /* 1: redraw a progress line on stderr (a terminal) [0] */
    fit_checkpoint_fn checkpoint;   /* NULL: no checkpoints [NULL] */
    void *checkpoint_ctx;           /* passed to checkpoint [NULL] */
    int64_t checkpoint_every;       /* checkpoint after every this many epochs (>= 1) [1] */
    int64_t stop_after;             /* > 0: end this run after that many epochs (a checkpoint is written
                                     * then; the schedule still spans all epochs) [0] */
    const fit_state *resume;        /* not NULL: continue from this state (p holds its parameters) [NULL] */
} fit_options;

typedef struct fit_result {
    double train_nll;       /* mean NLL (nats per row) of the kept parameters on the training rows */
    double valid_nll;       /* the same on the validation rows (NAN when there are none) */
    int64_t steps;          /* optimizer steps done */
    int64_t epochs;         /* epochs begun (the last may be partial with --steps) */
    int64_t best_epoch;     /* epoch (1-based) whose parameters were kept */
    int stopped_early;      /* 1 when patience ran out */
    int paused;             /* 1 when o.stop_after ended the run before the last epoch */
    double seconds;         /* wall time of the training loop */
    char error[512];        /* on failure: what went wrong, one line */
} fit_result;

fit_options fit_default_options(void);

/* The training options shared by the fitting commands, option `name` with value v into o:
 * --lr, --weight-decay, --clip (numbers: positive, weight decay non-negative), --epochs, --steps,
 * --batch, --checkpoint-every, --stop-after (whole numbers >= 1), --warmup, --patience (>= 0).
 * Returns 1 when name is one of them (*have_epochs = 1 for --epochs), 0 when it is not, -1 after
 * printing the usage error of command cmd (the caller returns 2). */
int fit_parse_option(const char *cmd, const char *name, const char *v, fit_options *o, int *have_epochs);

/* Mean NLL of x [n, d] under the flow, in chunks; VF_ERR_NUMERIC when it is not finite. noise, when
 * not NULL, dequantizes: each value gets fresh U(0, 1) noise drawn from it. */
vf_status fit_mean_nll(const vf_flow *f, vf_params *p, vf_tape *t, const vf_real *x /* [n, d] */, int64_t n,
                       int64_t d, vf_rng *noise, double *out);

/* Trains p (finalized) on train [nt, d] and validates on valid [nv, d] (nv may be 0). log, when not
 * NULL, receives one JSON line per epoch: epoch, step, train_nll, valid_nll, lr, seconds. */
vf_status fit_flow(vf_flow *f, vf_params *p, const vf_real *train /* [nt, d] */, int64_t nt,
                   const vf_real *valid /* [nv, d] */, int64_t nv, int64_t d, const fit_options *o, FILE *log,
                   fit_result *r);

#endif
