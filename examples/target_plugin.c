/* target_plugin.c — your own unnormalized log-density as a plugin for `varflow vi`,
 * `varflow particles` and `varflow eval --metric ksd` (the ABI of docs/plugins.md).
 *
 * The target: a correlated 2-D Gaussian, log p~(x) = -1/2 x^T S^-1 x with S = [[1, rho], [rho, 1]],
 * whose normalizing constant is known, log Z = log(2 pi) + 1/2 log(1 - rho^2), so you can check what
 * `varflow vi` estimates. ARG (after the path) is rho, default 0.8.
 *
 * Build it as a shared library (no varflow header is needed) and pass its path:
 *
 *   cc -shared -fPIC -O2 target_plugin.c -o target_plugin.so
 *   varflow vi --target plugin:./target_plugin.so:0.9 --steps 500 -o q.safetensors
 *
 * varflow prints log Z with its standard error; for rho = 0.9 the exact value is 1.0075.
 * Targets always work in double precision. A log-density of -INFINITY means "outside the support";
 * NaN is an error that stops the run.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct target_state {
    double rho;
} target_state;

/* The five entry points. Declared here only so that -Wmissing-prototypes is quiet. */
void *varflow_target_init(const char *arg, char *err, unsigned long errlen);
int varflow_target_dim(void *state);
double varflow_target_log_prob(void *state, const double *x, double *grad);
int varflow_target_log_prob_batch(void *state, long long n, const double *x, double *logp, double *grad);
void varflow_target_free(void *state);

/* Optional. Called once with ARG ("" when none was given); returns the state passed to the others,
 * or NULL after writing a message into err. */
void *varflow_target_init(const char *arg, char *err, unsigned long errlen)
{
    double rho = 0.8;
    if (arg && *arg) {
        char *end;
        rho = strtod(arg, &end);
        if (*end != '\0' || !(rho > -1 && rho < 1)) {
            snprintf(err, errlen, "ARG must be a correlation in (-1, 1), not '%s'", arg);
            return NULL;
        }
    }
    target_state *s = malloc(sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->rho = rho;
    return s;
}

/* Required: the dimension. */
int varflow_target_dim(void *state)
{
    (void)state;
    return 2;
}

/* Required: log p~(x) up to a constant; when grad is not NULL, also d log p~ / dx into grad [2]. */
double varflow_target_log_prob(void *state, const double *x, double *grad)
{
    const double rho = ((const target_state *)state)->rho;
    const double c = 1 / (1 - rho * rho); /* S^-1 = c [[1, -rho], [-rho, 1]] */
    const double a = c * (x[0] - rho * x[1]), b = c * (x[1] - rho * x[0]);
    if (grad) {
        grad[0] = -a;
        grad[1] = -b;
    }
    return -0.5 * (x[0] * a + x[1] * b);
}

/* Optional: many points in one call, x [n, 2] row after row -> logp [n] and, when grad is not NULL,
 * grad [n, 2]. With it, varflow hands every batch of points it evaluates (a VI step's draws, an MCMC
 * iteration's chains, ...) to one call, where a simulator or a vectorized model can work on the whole
 * batch (for example `#pragma omp parallel for` over the rows of a thread-safe model). It must give
 * what varflow_target_log_prob gives. Return 0, or nonzero to stop the run with an error. */
int varflow_target_log_prob_batch(void *state, long long n, const double *x, double *logp, double *grad)
{
    for (long long i = 0; i < n; i++) logp[i] = varflow_target_log_prob(state, x + 2 * i, grad ? grad + 2 * i : NULL);
    return 0;
}

/* Optional: releases what init returned. */
void varflow_target_free(void *state) { free(state); }
