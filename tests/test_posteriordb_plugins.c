/* test_posteriordb_plugins.c — the example target plugins of examples/targets (posteriordb models),
 * loaded as `varflow vi` loads them: each one's analytic gradient against central differences at
 * random points of the unconstrained scale, its dimension and constrained dimension, the constraining
 * map (positive scales = exp of the last unconstrained coordinate; eight schools' theta = mu + tau z),
 * and a clear error for a missing data file. Skipped in builds without dlopen. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <varflow.h>
#include "vf_test.h"

#define PLUGINS VF_BINARY_DIR "/examples/targets/"
#define PDB VF_SHARED_DATA_DIR "/posteriordb/"

typedef struct plugin_case {
    const char *model, *posterior;
    int dim;
} plugin_case;

static const plugin_case cases[] = {
    {"eight_schools_noncentered", "eight_schools-eight_schools_noncentered", 10},
    {"blr", "sblrc-blr", 6},
    {"arK", "arK-arK", 7},
};

static void test_gradients(void)
{
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char spec[1024];
        snprintf(spec, sizeof spec, "plugin:" PLUGINS "%s.so:" PDB "%s.data.json", cases[c].model, cases[c].posterior);
        vf_target t;
        vf_status s = vf_target_from_spec(spec, &t);
        if (s == VF_ERR_UNSUPPORTED) {
            printf("skipped: no dlopen\n");
            return;
        }
        CHECK_STATUS(s, VF_OK);
        if (s != VF_OK) continue;
        CHECK(t.dim == cases[c].dim && t.constrain && t.constrained_dim == cases[c].dim);
        vf_rng r;
        vf_rng_init(&r, 7 + c, 0);
        double x[16], g[16], y[16], worst = 0;
        for (int rep = 0; rep < 5; rep++) {
            /* near the posterior's scale: blr's betas near 1 (sd 1e-3), log scales near 0 */
            for (int k = 0; k < t.dim; k++) x[k] = (c == 1 && k < 5 ? 1 + 1e-3 * vf_rng_normal(&r) : 0.5 * vf_rng_normal(&r));
            double lp = t.log_prob(t.state, x, g);
            CHECK(isfinite(lp));
            for (int k = 0; k < t.dim; k++) {
                double h = 1e-6 * (1 + fabs(x[k])), keep = x[k];
                if (c == 1 && k < 5) h = 1e-8;
                x[k] = keep + h;
                double up = t.log_prob(t.state, x, NULL);
                x[k] = keep - h;
                double down = t.log_prob(t.state, x, NULL);
                x[k] = keep;
                double fd = (up - down) / (2 * h), err = fabs(fd - g[k]) / (1 + fabs(g[k]));
                worst = fmax(worst, err);
                CHECK_MSG(err < 1e-4, "%s: d/dx[%d] %.9g, central difference %.9g", cases[c].model, k, g[k], fd);
            }
            t.constrain(t.state, x, y);
            int last = t.dim - 1;
            if (c == 0) { /* theta_j = mu + tau z_j, then mu, tau */
                double tau = exp(x[1]);
                CHECK_NEAR(y[8], x[0], 1e-12);
                CHECK_NEAR(y[9], tau, 1e-12 * tau);
                for (int j = 0; j < 8; j++) CHECK_NEAR(y[j], x[0] + tau * x[2 + j], 1e-12 * (1 + fabs(y[j])));
            } else {
                for (int k = 0; k < last; k++) CHECK_NEAR(y[k], x[k], 0);
                CHECK_NEAR(y[last], exp(x[last]), 1e-15 * exp(x[last]));
            }
        }
        printf("%s: worst relative gradient error %.2g\n", cases[c].model, worst);
        vf_target_free(&t);
    }
    vf_target t;
    vf_status s = vf_target_from_spec("plugin:" PLUGINS "arK.so:/no/such/file.json", &t);
    if (s != VF_ERR_UNSUPPORTED) {
        CHECK_STATUS(s, VF_ERR_IO);
        CHECK(strstr(vf_last_error(), "/no/such/file.json") != NULL);
    }
}

int main(void)
{
    RUN(test_gradients);
    return vf_test_summary();
}
