/* arK.c — target plugin (docs/plugins.md) for posteriordb's arK-arK: an autoregressive AR(K) model.
 *
 * Model (posteriordb's Stan program arK; normal(m, s) has standard deviation s):
 *   alpha ~ N(0, 10),  beta_k ~ N(0, 10) (k = 1..K),  sigma ~ HalfCauchy(0, 2.5),
 *   y_t ~ N(alpha + sum_k beta_k y_{t-k}, sigma)                   t = K+1..T
 * Unconstrained parameters x = (alpha, beta_1..beta_K, s) with sigma = exp(s), so with
 * r_t = y_t - alpha - sum_k beta_k y_{t-k} and M = T - K terms
 *   log p~(x) = -alpha^2/200 - |beta|^2/200 - log(1 + sigma^2/6.25) + s - M s - sum r_t^2 / (2 sigma^2)
 * (the +s is log |d sigma / d s|) and the gradient
 *   d/dalpha = -alpha/100 + sum r_t / sigma^2,   d/dbeta_k = -beta_k/100 + sum r_t y_{t-k} / sigma^2,
 *   d/ds = 1 - M - (2 sigma^2/6.25) / (1 + sigma^2/6.25) + sum r_t^2 / sigma^2.
 * varflow_target_constrain maps x to posteriordb's reference columns (alpha, beta_1..beta_K, sigma).
 *
 * ARG: the path of arK-arK.data.json (keys K, T, y [T]).
 *   varflow vi --target plugin:build/examples/targets/arK.so:DATA.json ...
 * Build: cc -shared -fPIC -O2 arK.c -o arK.so -lm */
#include <math.h>
#include "plugin.h"

typedef struct ark_state {
    int K, T;
    double *y;                  /* [T] */
} ark_state;

void varflow_target_free(void *state)
{
    ark_state *s = state;
    if (!s) return;
    free(s->y);
    free(s);
}

void *varflow_target_init(const char *arg, char *err, unsigned long errlen)
{
    json_doc doc;
    if (json_load(arg, &doc, err, errlen) != 0) return NULL;
    ark_state *s = calloc(1, sizeof *s);
    double K = 0, T = 0;
    int64_t ny = 0;
    int ok = s && json_number(&doc, "K", &K, err, errlen) == 0 && json_number(&doc, "T", &T, err, errlen) == 0 &&
             (s->y = json_array(&doc, "y", &ny, err, errlen)) != NULL;
    json_close(&doc);
    if (ok && (K < 1 || K > 1000 || T <= K || T > 1e7 || ny != (int64_t)T)) {
        snprintf(err, errlen, "K = %g, T = %g but y has %lld values (need T > K >= 1)", K, T, (long long)ny);
        ok = 0;
    }
    if (!ok) {
        if (!s) snprintf(err, errlen, "out of memory");
        varflow_target_free(s);
        return NULL;
    }
    s->K = (int)K;
    s->T = (int)T;
    return s;
}

int varflow_target_dim(void *state) { return ((ark_state *)state)->K + 2; }

double varflow_target_log_prob(void *state, const double *x, double *grad)
{
    const ark_state *st = state;
    int K = st->K, M = st->T - K;
    double alpha = x[0], ls = x[K + 1], sigma = exp(ls), v = sigma * sigma, c = v / 6.25;
    double lp = -alpha * alpha / 200.0 - log1p(c) + ls - M * ls, rr = 0, sr = 0;
    if (grad)
        for (int k = 1; k <= K; k++) grad[k] = 0;
    for (int t = K; t < st->T; t++) {
        double r = st->y[t] - alpha;
        for (int k = 1; k <= K; k++) r -= x[k] * st->y[t - k];
        rr += r * r;
        sr += r;
        if (grad)
            for (int k = 1; k <= K; k++) grad[k] += r * st->y[t - k] / v;
    }
    for (int k = 1; k <= K; k++) {
        lp -= x[k] * x[k] / 200.0;
        if (grad) grad[k] -= x[k] / 100.0;
    }
    lp -= 0.5 * rr / v;
    if (grad) {
        grad[0] = -alpha / 100.0 + sr / v;
        grad[K + 1] = 1.0 - M - 2.0 * c / (1.0 + c) + rr / v;
    }
    return lp;
}

void varflow_target_constrain(void *state, const double *x, double *out)
{
    const ark_state *st = state;
    for (int k = 0; k <= st->K; k++) out[k] = x[k];
    out[st->K + 1] = exp(x[st->K + 1]);
}
