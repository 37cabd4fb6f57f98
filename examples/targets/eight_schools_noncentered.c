/* eight_schools_noncentered.c — target plugin (docs/plugins.md) for posteriordb's
 * eight_schools-eight_schools_noncentered: Rubin's (1981) eight schools, non-centered.
 *
 * Model (posteriordb's Stan program, J schools; normal(m, s) has standard deviation s):
 *   mu ~ N(0, 5),  tau ~ HalfCauchy(0, 5),  z_j ~ N(0, 1),  theta_j = mu + tau z_j,
 *   y_j ~ N(theta_j, sigma_j)                                         j = 1..J (y, sigma: data)
 * Unconstrained parameters x = (mu, u, z_1..z_J) with tau = exp(u), so
 *   log p~(x) = -mu^2/50 - log(1 + tau^2/25) + u - sum z_j^2/2 - sum (y_j - mu - tau z_j)^2 / (2 sigma_j^2)
 * (the +u is log |d tau / d u|), and with r_j = (y_j - mu - tau z_j) / sigma_j^2 the gradient
 *   d/dmu = -mu/25 + sum r_j,   d/du = 1 - (2 tau^2/25) / (1 + tau^2/25) + tau sum r_j z_j,
 *   d/dz_j = -z_j + tau r_j.
 * varflow_target_constrain maps x to posteriordb's reference columns (theta_1..theta_J, mu, tau).
 *
 * ARG: the path of eight_schools-eight_schools_noncentered.data.json (keys J, y, sigma).
 *   varflow vi --target plugin:build/examples/targets/eight_schools_noncentered.so:DATA.json ...
 * Build: cc -shared -fPIC -O2 eight_schools_noncentered.c -o eight_schools_noncentered.so -lm */
#include <math.h>
#include "plugin.h"

typedef struct es_state {
    int J;
    double *y, *sigma;
} es_state;

void varflow_target_free(void *state)
{
    es_state *s = state;
    if (!s) return;
    free(s->y);
    free(s->sigma);
    free(s);
}

void *varflow_target_init(const char *arg, char *err, unsigned long errlen)
{
    json_doc doc;
    if (json_load(arg, &doc, err, errlen) != 0) return NULL;
    es_state *s = calloc(1, sizeof *s);
    double J = 0;
    int64_t ny = 0, ns = 0;
    int ok = s && json_number(&doc, "J", &J, err, errlen) == 0 &&
             (s->y = json_array(&doc, "y", &ny, err, errlen)) != NULL &&
             (s->sigma = json_array(&doc, "sigma", &ns, err, errlen)) != NULL;
    json_close(&doc);
    if (ok && (J < 1 || J > 1e6 || ny != (int64_t)J || ns != (int64_t)J)) {
        snprintf(err, errlen, "J = %g but y has %lld and sigma %lld values", J, (long long)ny, (long long)ns);
        ok = 0;
    }
    for (int64_t j = 0; ok && j < ns; j++)
        if (!(s->sigma[j] > 0)) {
            snprintf(err, errlen, "sigma[%lld] = %g is not positive", (long long)j + 1, s->sigma[j]);
            ok = 0;
        }
    if (!ok) {
        if (!s) snprintf(err, errlen, "out of memory");
        varflow_target_free(s);
        return NULL;
    }
    s->J = (int)J;
    return s;
}

int varflow_target_dim(void *state) { return ((es_state *)state)->J + 2; }

double varflow_target_log_prob(void *state, const double *x, double *grad)
{
    const es_state *s = state;
    double mu = x[0], u = x[1], tau = exp(u), t25 = tau * tau / 25.0;
    double lp = -mu * mu / 50.0 - log1p(t25) + u, sr = 0, srz = 0;
    for (int j = 0; j < s->J; j++) {
        double z = x[2 + j], e = s->y[j] - mu - tau * z, r = e / (s->sigma[j] * s->sigma[j]);
        lp += -0.5 * z * z - 0.5 * e * r;
        sr += r;
        srz += r * z;
        if (grad) grad[2 + j] = -z + tau * r;
    }
    if (grad) {
        grad[0] = -mu / 25.0 + sr;
        grad[1] = 1.0 - 2.0 * t25 / (1.0 + t25) + tau * srz;
    }
    return lp;
}

void varflow_target_constrain(void *state, const double *x, double *out)
{
    const es_state *s = state;
    double tau = exp(x[1]);
    for (int j = 0; j < s->J; j++) out[j] = x[0] + tau * x[2 + j];
    out[s->J] = x[0];
    out[s->J + 1] = tau;
}
