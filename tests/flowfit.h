/* flowfit.h — a short maximum-likelihood fit of a 2-D flow, for tests that check a transform can learn.
 *
 * Usage
 *   (build flow over parameters p, vf_params_finalize(p, seed); draw train [n_train, 2], test [n_test, 2])
 *   double se, normal;
 *   double ll = ff_fit_2d(flow, p, &train, &test, &rng, steps, batch, 5e-3, &se, &normal);
 *
 * Adam at learning rate lr for `steps` steps, each on `batch` rows drawn with replacement from train with
 * r; returns the mean log-density of the test rows (-INFINITY on failure, with the reason on stderr),
 * *stderr_ll its standard error and *normal_ll the standard normal's on the same rows (either may be NULL).
 */
#ifndef VF_FLOWFIT_H
#define VF_FLOWFIT_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "varflow.h"

static inline double ff_fit_2d(const vf_flow *flow, vf_params *p, const vf_tensor *train, const vf_tensor *test,
                               vf_rng *r, int steps, int64_t batch, double lr, double *stderr_ll, double *normal_ll)
{
    const int64_t n_train = train->shape[0], n_test = test->shape[0];
    vf_adam_params ap = vf_adam_default_params();
    ap.lr = lr;
    vf_adam *opt = NULL;
    vf_adam_new(vf_params_size(p), &ap, &opt);
    vf_tape *t = vf_tape_new();
    vf_real *xb = malloc((size_t)(batch * 2) * sizeof *xb);
    double ll = -INFINITY;
    if (!opt || !t || !xb) goto done;
    for (int step = 0; step < steps; step++) {
        for (int64_t i = 0; i < batch; i++) {
            int64_t k = (int64_t)vf_rng_below(r, (uint64_t)n_train);
            xb[2 * i] = train->data[2 * k];
            xb[2 * i + 1] = train->data[2 * k + 1];
        }
        vf_params_zero_grad(p);
        vf_tape_reset(t);
        vf_var lp = vf_flow_log_prob(flow, p, t, vf_input(t, xb, 2, (int64_t[]){batch, 2}), VF_NOVAR);
        vf_var loss = vf_neg(t, vf_mean(t, lp, VF_ALL_AXES, 0));
        if (vf_backward(t, loss) != VF_OK || vf_adam_step(opt, vf_params_values(p), vf_params_grads(p)) != VF_OK) {
            fprintf(stderr, "training step %d: %s\n", step, vf_tape_error(t));
            goto done;
        }
    }
    vf_tape_reset(t);
    vf_var lp = vf_flow_log_prob(flow, p, t, vf_input(t, test->data, 2, (int64_t[]){n_test, 2}), VF_NOVAR);
    if (vf_tape_status(t) == VF_OK) {
        double sum = 0, sum2 = 0, sum_normal = 0;
        for (int64_t i = 0; i < n_test; i++) {
            double a = test->data[2 * i], b = test->data[2 * i + 1], v = (double)vf_value(t, lp)->data[i];
            sum += v;
            sum2 += v * v;
            sum_normal += -0.5 * (a * a + b * b) - log(2 * 3.14159265358979323846);
        }
        ll = sum / (double)n_test;
        if (stderr_ll) *stderr_ll = sqrt(fmax(0.0, sum2 / (double)n_test - ll * ll) / (double)(n_test - 1));
        if (normal_ll) *normal_ll = sum_normal / (double)n_test;
    } else {
        fprintf(stderr, "held-out log-density: %s\n", vf_tape_error(t));
    }
done:
    free(xb);
    vf_tape_free(t);
    vf_adam_free(opt);
    return ll;
}

#endif
