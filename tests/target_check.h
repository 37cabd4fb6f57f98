/* target_check.h — checks a vf_target's analytic gradient against central differences.
 *
 * Usage
 *   double x[2] = {0.3, -1};
 *   CHECK(target_gradient_error(&t, x) < 1e-5);
 */
#ifndef VF_TARGET_CHECK_H
#define VF_TARGET_CHECK_H

#include <math.h>
#include <string.h>
#include "varflow.h"

/* max over coordinates of |analytic - central difference| / (1 + |analytic|) at x0 [dim] (dim <= 16),
 * with the step 1e-5 (1 + |x_k|). */
static inline double target_gradient_error(const vf_target *t, const double *x0)
{
    double x[16], g[16], worst = 0;
    memcpy(x, x0, (size_t)t->dim * sizeof *x);
    t->log_prob(t->state, x, g);
    for (int64_t k = 0; k < t->dim; k++) {
        double h = 1e-5 * (1 + fabs(x[k])), keep = x[k];
        x[k] = keep + h;
        double up = t->log_prob(t->state, x, NULL);
        x[k] = keep - h;
        double down = t->log_prob(t->state, x, NULL);
        x[k] = keep;
        double e = fabs(g[k] - (up - down) / (2 * h)) / (1 + fabs(g[k]));
        if (e > worst) worst = e;
    }
    return worst;
}

#endif
