/* vi_loop.h — the training loop behind `varflow vi`: steps of a VI objective (vf_vi.h), optionally
 * annealed (beta0 -> 1 on log p~ over the first `anneal` steps), with
 * Adam, a cosine learning rate with linear warm-up, gradient-norm clipping, a progress line, JSON log
 * lines and checkpoints in the format of `varflow fit` (fit_checkpoint.h), so a stopped run resumes
 * exactly. The fit_state fields are used as: epoch = step = optimizer steps done, shuffle = the
 * sampling generator, noise = unused, last_train = the last step's loss, best = the current
 * parameters (VI keeps the last parameters), best_valid = NAN.
 *
 * Usage
 *   vi_options o = vi_default_options();  o.steps = 2000;  o.objective = VF_VI_PATH;
 *   vi_result r;
 *   if (vi_train(v, p, &o, log_or_NULL, &r) != VF_OK) fprintf(stderr, "%s\n", r.error);
 */
#ifndef VF_CLI_VI_LOOP_H
#define VF_CLI_VI_LOOP_H

#include <stdio.h>
#include "fit_loop.h"

typedef struct vi_options {
    int64_t steps;              /* optimizer steps [2000] */
    int64_t batch;              /* draws per step [256] */
    double lr;                  /* peak learning rate [1e-3] */
    double clip;                /* gradient-norm clip [5] */
    int64_t warmup;             /* warm-up steps; < 0: min(100, steps / 10) [-1] */
    vf_vi_objective objective;  /* [VF_VI_RKL] */
    uint64_t seed;              /* sampling seed [0] */
    int progress;               /* redraw a progress line on stderr [0] */
    int64_t log_every;          /* a JSON log line every this many steps (and the last) [10] */
    fit_checkpoint_fn checkpoint;   /* NULL: none */
    void *checkpoint_ctx;
    int64_t checkpoint_every;   /* steps between checkpoints [100] */
    int64_t stop_after;         /* > 0: end this run after that many steps, with a checkpoint [0] */
    const fit_state *resume;    /* not NULL: continue from this state (p holds its parameters) */
    int64_t anneal;             /* > 0: temperature beta rises linearly from beta0 to 1 over these steps [0] */
    double beta0;               /* the first step's beta, in (0, 1] [0.01] */
} vi_options;

typedef struct vi_result {
    double loss;                /* mean loss (the objective's, -ELBO for rkl/path) of the last min(100, steps) steps of this run */
    int64_t steps;              /* optimizer steps done in all (with the resumed ones) */
    int paused;                 /* 1 when stop_after ended the run early */
    double seconds;             /* training time, resumed runs included */
    char error[512];
} vi_result;

vi_options vi_default_options(void);

/* Trains the flow behind v (its store p) for o->steps steps. VF_ERR_NUMERIC when the loss or the
 * gradient stops being finite ("diverged at step k") or the target misbehaves (its message). */
vf_status vi_train(vf_vi *v, vf_params *p, const vi_options *o, FILE *log, vi_result *r);

#endif
