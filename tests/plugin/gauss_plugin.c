/* gauss_plugin.c — a target plugin for test_target and tests/cli/test_vi.sh (CONTRACTS §3): N(0, I)
 * in ARG dimensions (default 2), with a gradient. ARG "fail" makes init fail with a message; ARG
 * "nan" gives a 2-D target whose log-density is NaN where x1 > 1 (a plugin bug to be reported). Built as a MODULE by
 * tests/CMakeLists.txt; also the shape of a user's plugin (cc -shared -fPIC -O2 ...). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct plugin_state {
    int dim, nan;
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
    s->nan = arg && strcmp(arg, "nan") == 0;
    s->dim = arg && *arg && !s->nan ? atoi(arg) : 2;
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
    if (s->nan && x[0] > 1) return NAN;
    return -0.5 * q;
}

void varflow_target_free(void *state) { free(state); }
