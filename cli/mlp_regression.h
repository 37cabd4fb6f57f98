/* mlp_regression.h — the engine's reference workload, shared by `varflow bench engine` and
 * `varflow demo`: an MLP 3 -> 256 -> 256 -> 256 -> 2 (SiLU) regressing a smooth 2-output function of
 * 3 inputs with mean squared error, trained with Adam.
 *
 * Usage
 *   mlp_regression r;
 *   if (mlp_regression_init(&r, 512, 42) != VF_OK) ...;      // batch 512, seed 42
 *   mlp_regression_batch(&r, &rng, x, y);                    // a fresh batch x [512, 3], y [512, 2]
 *   double loss;
 *   mlp_regression_step(&r, x, y, &loss);                    // forward, backward, Adam
 *   mlp_regression_free(&r);
 */
#ifndef VF_CLI_MLP_REGRESSION_H
#define VF_CLI_MLP_REGRESSION_H

#include "varflow.h"

#define MLP_REG_IN 3
#define MLP_REG_OUT 2
#define MLP_REG_HIDDEN 256
#define MLP_REG_LAYERS 3          /* hidden layers */
#define MLP_REG_NOISE 0.1         /* standard deviation of the label noise */

typedef struct mlp_regression {
    int64_t batch;
    vf_params *params;
    vf_mlp *net;
    vf_adam *opt;
    vf_tape *tape;
} mlp_regression;

vf_status mlp_regression_init(mlp_regression *r, int64_t batch, uint64_t seed);
void mlp_regression_free(mlp_regression *r);
/* The noiseless target f(x): x [n, 3] -> y [n, 2]. */
void mlp_regression_target(int64_t n, const vf_real *x, vf_real *y);
/* x [batch, 3] ~ N(0, I); y [batch, 2] = f(x) + MLP_REG_NOISE * N(0, I). */
void mlp_regression_batch(const mlp_regression *r, vf_rng *rng, vf_real *x, vf_real *y);
/* One training step on x [batch, 3], y [batch, 2]; *loss = mean squared error before the update. */
vf_status mlp_regression_step(mlp_regression *r, const vf_real *x, const vf_real *y, double *loss);
/* Mean squared error of the current network on x [n, 3], y [n, 2] (no update). */
vf_status mlp_regression_eval(mlp_regression *r, int64_t n, const vf_real *x, const vf_real *y, double *mse);
/* Matrix-product FLOPs of one training step: 6 * batch * sum(in * out) (forward, and the two
 * backward products; the convention PyTorch comparisons use). */
double mlp_regression_flops(int64_t batch);

#endif
