/* counted_gauss.h — a test target: N(0, S) in 2-D, S = [[1, r], [r, 1]], r = 0.6, unnormalized, with a
 * point and a batch log-density that count their calls (the batch form's own evaluations are not point
 * calls). fail_at > 0 makes the batch function fail at that call (returning 7, after leaving
 * fail_message with vf_set_error when it is not NULL).
 *
 *   counted_gauss c;
 *   vf_target t = counted_gauss_target(&c, 1);   // 0: point function only
 *   ... c.point, c.batch, c.rows (rows given to the batch function), c.bad_rows (non-finite ones) */
#ifndef COUNTED_GAUSS_H
#define COUNTED_GAUSS_H

#include <math.h>
#include <string.h>
#include <varflow.h>

typedef struct counted_gauss {
    long point, batch, rows, bad_rows, fail_at;
    const char *fail_message;
} counted_gauss;

static double counted_gauss_value(const double *x, double *grad)
{
    const double r = 0.6, k = 1.0 / (1.0 - r * r);
    if (grad) {
        grad[0] = -k * (x[0] - r * x[1]);
        grad[1] = -k * (x[1] - r * x[0]);
    }
    return -0.5 * k * (x[0] * x[0] - 2 * r * x[0] * x[1] + x[1] * x[1]);
}

static double counted_gauss_point(void *state, const double *x, double *grad)
{
    ((counted_gauss *)state)->point++;
    return counted_gauss_value(x, grad);
}

static int counted_gauss_batch(void *state, int64_t n, const double *x, double *logp, double *grad)
{
    counted_gauss *c = state;
    c->rows += n;
    if (++c->batch == c->fail_at) {
        if (c->fail_message) vf_set_error(VF_ERR_NUMERIC, "%s", c->fail_message);
        return 7;
    }
    for (int64_t i = 0; i < n; i++) {
        c->bad_rows += !isfinite(x[2 * i]) || !isfinite(x[2 * i + 1]);
        logp[i] = counted_gauss_value(x + 2 * i, grad ? grad + 2 * i : NULL);
    }
    return 0;
}

/* The target over c (zeroed), named "batched" or "pointwise". */
static vf_target counted_gauss_target(counted_gauss *c, int batched)
{
    memset(c, 0, sizeof *c);
    vf_target t;
    memset(&t, 0, sizeof t);
    t.dim = 2;
    t.log_prob = counted_gauss_point;
    t.log_prob_batch = batched ? counted_gauss_batch : NULL;
    t.state = c;
    strcpy(t.name, batched ? "batched" : "pointwise");
    return t;
}

#endif
