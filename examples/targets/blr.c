/* blr.c — target plugin (docs/plugins.md) for posteriordb's sblrc-blr: Bayesian linear regression.
 *
 * Model (posteriordb's Stan program blr; normal(m, s) has standard deviation s):
 *   beta_d ~ N(0, 10) (d = 1..D),  sigma ~ HalfNormal(0, 10),  y_i ~ N(X_i beta, sigma)  (i = 1..N)
 * Unconstrained parameters x = (beta_1..beta_D, s) with sigma = exp(s), so with r_i = y_i - X_i beta
 *   log p~(x) = -|beta|^2/200 - sigma^2/200 + s - N s - sum r_i^2 / (2 sigma^2)
 * (the +s is log |d sigma / d s|) and the gradient
 *   d/dbeta = -beta/100 + X^T r / sigma^2,   d/ds = 1 - N - sigma^2/100 + sum r_i^2 / sigma^2.
 * varflow_target_constrain maps x to posteriordb's reference columns (beta_1..beta_D, sigma).
 *
 * ARG: the path of sblrc-blr.data.json (keys N, D, X [N][D], y [N]).
 *   varflow vi --target plugin:build/examples/targets/blr.so:DATA.json ...
 * Build: cc -shared -fPIC -O2 blr.c -o blr.so -lm */
#include <math.h>
#include "plugin.h"

typedef struct blr_state {
    int N, D;
    double *X, *y;              /* X [N, D], y [N] */
} blr_state;

void varflow_target_free(void *state)
{
    blr_state *s = state;
    if (!s) return;
    free(s->X);
    free(s->y);
    free(s);
}

void *varflow_target_init(const char *arg, char *err, unsigned long errlen)
{
    json_doc doc;
    if (json_load(arg, &doc, err, errlen) != 0) return NULL;
    blr_state *s = calloc(1, sizeof *s);
    double N = 0, D = 0;
    int64_t nx = 0, ny = 0;
    int ok = s && json_number(&doc, "N", &N, err, errlen) == 0 && json_number(&doc, "D", &D, err, errlen) == 0 &&
             (s->X = json_array(&doc, "X", &nx, err, errlen)) != NULL &&
             (s->y = json_array(&doc, "y", &ny, err, errlen)) != NULL;
    json_close(&doc);
    if (ok && (N < 1 || D < 1 || N > 1e7 || D > 1e4 || ny != (int64_t)N || nx != (int64_t)N * (int64_t)D)) {
        snprintf(err, errlen, "N = %g, D = %g but X has %lld and y %lld values", N, D, (long long)nx, (long long)ny);
        ok = 0;
    }
    if (!ok) {
        if (!s) snprintf(err, errlen, "out of memory");
        varflow_target_free(s);
        return NULL;
    }
    s->N = (int)N;
    s->D = (int)D;
    return s;
}

int varflow_target_dim(void *state) { return ((blr_state *)state)->D + 1; }

double varflow_target_log_prob(void *state, const double *x, double *grad)
{
    const blr_state *st = state;
    int D = st->D;
    double ls = x[D], sigma = exp(ls), v = sigma * sigma, lp = -v / 200.0 + ls - st->N * ls, rr = 0;
    if (grad)
        for (int d = 0; d < D; d++) grad[d] = 0;
    for (int i = 0; i < st->N; i++) {
        const double *xi = st->X + (size_t)i * (size_t)D;
        double r = st->y[i];
        for (int d = 0; d < D; d++) r -= xi[d] * x[d];
        rr += r * r;
        if (grad)
            for (int d = 0; d < D; d++) grad[d] += xi[d] * r / v;
    }
    for (int d = 0; d < D; d++) {
        lp -= x[d] * x[d] / 200.0;
        if (grad) grad[d] -= x[d] / 100.0;
    }
    lp -= 0.5 * rr / v;
    if (grad) grad[D] = 1.0 - st->N - v / 100.0 + rr / v;
    return lp;
}

void varflow_target_constrain(void *state, const double *x, double *out)
{
    const blr_state *st = state;
    for (int d = 0; d < st->D; d++) out[d] = x[d];
    out[st->D] = exp(x[st->D]);
}
