/* batch_plugin.c — a target plugin with only the batch log-density (docs/plugins.md), for
 * tests/cli/test_vi.sh and test_mcmc.sh: N(0, I) in ARG dimensions (default 2), the same values and
 * gradients as gauss_plugin.c computed the same way, so fits with either are bit-identical. ARG
 * "fail" makes every batch report a failure (nonzero). */
#include <stdlib.h>
#include <string.h>

typedef struct plugin_state {
    int dim, fail;
} plugin_state;

void *varflow_target_init(const char *arg, char *err, unsigned long errlen);
int varflow_target_dim(void *state);
int varflow_target_log_prob_batch(void *state, long long n, const double *x, double *logp, double *grad);
void varflow_target_free(void *state);

void *varflow_target_init(const char *arg, char *err, unsigned long errlen)
{
    (void)err, (void)errlen;
    plugin_state *s = malloc(sizeof *s);
    if (!s) return NULL;
    s->fail = arg && strcmp(arg, "fail") == 0;
    s->dim = arg && *arg && !s->fail ? atoi(arg) : 2;
    return s;
}

int varflow_target_dim(void *state) { return ((plugin_state *)state)->dim; }

int varflow_target_log_prob_batch(void *state, long long n, const double *x, double *logp, double *grad)
{
    const plugin_state *s = state;
    if (s->fail) return 3;
    for (long long i = 0; i < n; i++) {
        const double *xi = x + i * s->dim;
        double q = 0;
        for (int k = 0; k < s->dim; k++) {
            q += xi[k] * xi[k];
            if (grad) grad[i * s->dim + k] = -xi[k];
        }
        logp[i] = -0.5 * q;
    }
    return 0;
}

void varflow_target_free(void *state) { free(state); }
