/* gauss_plugin.c — a target plugin for test_target (CONTRACTS §3): N(0, I) in ARG dimensions
 * (default 2), with a gradient. ARG "fail" makes init fail with a message. Built as a MODULE by
 * tests/CMakeLists.txt; also the shape of a user's plugin (cc -shared -fPIC -O2 ...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct plugin_state {
    int dim;
} plugin_state;

void *varflow_target_init(const char *arg, char *err, unsigned long errlen);
int varflow_target_dim(void *state);
double varflow_target_log_prob(void *state, const double *x, double *grad);
void varflow_target_free(void *state);

void *varflow_target_init(const char *arg, char *err, unsigned long errlen)
{
    if (arg && strcmp(arg, "fail") == 0) {
        snprintf(err, errlen, "asked to fail");
        return NULL;
    }
    plugin_state *s = malloc(sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->dim = arg && *arg ? atoi(arg) : 2;
    return s;
}

int varflow_target_dim(void *state) { return ((plugin_state *)state)->dim; }

double varflow_target_log_prob(void *state, const double *x, double *grad)
{
    const plugin_state *s = state;
    double q = 0;
    for (int k = 0; k < s->dim; k++) {
        q += x[k] * x[k];
        if (grad) grad[k] = -x[k];
    }
    return -0.5 * q;
}

void varflow_target_free(void *state) { free(state); }
