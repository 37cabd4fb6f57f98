/* cnf_fit.h — the training loop behind `varflow fit --model cfm|otcfm|...` and `varflow reflow`:
 * minibatch regression of a continuous flow's field (vf_cnf_model.h) on its objective, with
 * Adam/AdamW, the cosine schedule with linear warm-up and gradient clipping of fit_loop.h, and early
 * stopping on a validation loss that keeps the best parameters.
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
 * Usage
 *   cnf_fit_data data = {train, nt, labels, valid, nv, vlabels, NULL, 0, NULL, NULL};
 *   fit_options o = fit_default_options();   // epochs, steps, batch, lr, weight_decay, clip, warmup, patience, seed, progress
 *   cnf_fit_result r;
 *   if (cnf_fit(model, &data, &o, log_or_NULL, &r) != VF_OK) fprintf(stderr, "%s\n", r.error);
 */
#ifndef VF_CLI_CNF_FIT_H
#define VF_CLI_CNF_FIT_H

#include <stdio.h>
#include "fit_loop.h"
#include "varflow.h"

typedef struct cnf_fit_data {
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
} cnf_fit_data;

typedef struct cnf_fit_result {
    double train_loss;     /* mean training loss of the last epoch */
    double valid_loss;     /* the kept parameters' validation loss (NAN without validation) */
    int64_t steps, epochs, best_epoch;
    int stopped_early;
    double seconds;
    char error[512];
} cnf_fit_result;

/* Trains m's field in place; on VF_OK m holds the best parameters (lowest validation loss, else
 * the last). log: one JSON line per epoch (epoch, step, train_loss, valid_loss, lr, seconds). */
vf_status cnf_fit(vf_cnf_model *m, const cnf_fit_data *data, const fit_options *o, FILE *log, cnf_fit_result *r);

/* Mean exact negative log-likelihood (nats per row, original units) of the first min(n, limit) rows
 * of x [n, d] (original units), labels [n] or NULL; rk4 with 100 steps. */
vf_status cnf_mean_nll(const vf_cnf_model *m, const vf_real *x, const int64_t *labels, int64_t n, int64_t limit,
                       double *out);

#endif
