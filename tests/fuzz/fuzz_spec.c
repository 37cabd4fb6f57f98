/* fuzz_spec.c — libFuzzer target: any bytes as a spec (CONTRACTS §2): the first byte picks the
 * dimension (1-4) and whether there is a context, the rest is the spec text for vf_flow_from_spec, the
 * continuous-flow spec parser, vf_target_from_spec and the toy data sets. What builds is used on a few
 * rows; a bad spec must give an error, never crash or leak.
 *
 * Specs with a number of four or more digits are skipped: a valid spec may ask for a 9999-wide network
 * or a 9999-dimensional target, whose memory is the user's request, not a bug (the limits on sizes
 * are unit-tested), and plugin targets and files named in a spec are never opened. */
#include <stdlib.h>
#include <string.h>
#include "varflow.h"

static void try_flow(const char *spec, int64_t d, int64_t c)
{
    vf_params *p = vf_params_new();
    vf_flow *f = NULL;
    if (!p) return;
    if (vf_flow_from_spec(spec, d, c, p, &f) == VF_OK && vf_params_size(p) <= 2000000 &&
        vf_params_finalize(p, 1) == VF_OK) {
        enum { N = 2 };
        vf_real x[N * 4] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f, 0.7f, -0.8f}, ctx[2] = {0.5f, -0.5f}, lp[N];
        vf_tape *t = vf_tape_new();
        if (t) {
            vf_flow_log_prob_rows(f, p, t, N, x, c ? ctx : NULL, c ? 1 : 0, lp);
            vf_tape_free(t);
        }
    }
    vf_flow_free(f);
    vf_params_free(p);
}

static void try_cnf(const char *spec, int64_t d)
{
    vf_cnf_spec s;
    vf_meanflow_options mo;
    if (vf_cnf_spec_from_string(spec, d, 0, &s, &mo) != VF_OK) return;
    vf_cnf_model *m = NULL;
    if (vf_cnf_model_new(&s, 1, &m) == VF_OK && vf_cnf_model_param_count(m) <= 2000000) {
        vf_real x[8] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f, 0.7f, -0.8f}, lp[2];
        vf_cnf_sample_options o = vf_cnf_sample_default_options();
        o.ode.solver = VF_SOLVER_EULER;
        o.ode.steps = 2;
        vf_cnf_model_log_prob(m, 2, x, NULL, &o, lp, NULL);
    }
    vf_cnf_model_free(m);
}

static void try_target(const char *spec)
{
    vf_target t;
    if (vf_target_from_spec(spec, &t) != VF_OK) return;
    if (t.dim >= 1 && t.dim <= 999) {
        double *x = calloc((size_t)t.dim, sizeof *x), *g = calloc((size_t)t.dim, sizeof *g);
        if (x && g) {
            for (int64_t i = 0; i < t.dim; i++) x[i] = 0.3 * (double)(i % 5) - 0.6;
            (void)t.log_prob(t.state, x, g);
            vf_rng r;
            vf_rng_init(&r, 1, 3);
            if (t.sample) t.sample(t.state, &r, x);
        }
        free(x);
        free(g);
    }
    vf_target_free(&t);
}

static void try_toy(const char *spec)
{
    vf_rng r;
    vf_rng_init(&r, 1, 4);
    vf_tensor out;
    memset(&out, 0, sizeof out);
    if (vf_toy_sample_spec(spec, 5, &r, &out) == VF_OK) vf_tensor_free(&out);
}

/* 1 when text has a run of four or more digits, or names a plugin or a file. */
static int skipped(const char *text)
{
    if (strstr(text, "plugin") || strstr(text, "means")) return 1;
    for (int run = 0; *text; text++) {
        run = *text >= '0' && *text <= '9' ? run + 1 : 0;
        if (run >= 4) return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1 || size > 4096) return 0;
    char *spec = malloc(size);
    if (!spec) return 0;
    memcpy(spec, data + 1, size - 1);
    spec[size - 1] = 0;
    int64_t d = 1 + data[0] % 4, c = (data[0] >> 2) & 1;
    if (!skipped(spec)) {
        try_flow(spec, d, c);
        try_cnf(spec, d);
        try_target(spec);
        try_toy(spec);
    }
    free(spec);
    vf_clear_error();
    return 0;
}
