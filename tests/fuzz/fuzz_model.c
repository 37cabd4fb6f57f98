/* fuzz_model.c — libFuzzer target: any bytes as a model file, through both loaders (vf_flow_load and
 * vf_cnf_model_load); a file that loads is then used: log-densities of a few rows (and samples of a
 * flow), and a checkpoint's training state is read (vf_fit_checkpoint_read, what --resume does). A
 * loader must return an error for a bad file, never crash, leak or read out of bounds. */
#include <math.h>
#include <string.h>
#include "varflow.h"
#include "fuzz_util.h"

static void use_flow(vf_flow *f, vf_params *p)
{
    int64_t d = vf_flow_dim(f), c = vf_flow_context_dim(f);
    if (d < 1 || d > 256 || c < 0 || c > 256) return;
    enum { N = 3 };
    vf_real x[N * 256], ctx[256], lp[N];
    for (int64_t i = 0; i < N * d; i++) x[i] = (vf_real)(0.25 * (double)(i % 7) - 0.5);
    for (int64_t i = 0; i < c; i++) ctx[i] = (vf_real)0.1;
    vf_tape *t = vf_tape_new();
    if (!t) return;
    vf_flow_log_prob_rows(f, p, t, N, x, c ? ctx : NULL, c ? 1 : 0, lp);
    vf_rng r;
    vf_rng_init(&r, 1, 2);
    vf_flow_sample_rows(f, p, t, N, c ? ctx : NULL, c ? 1 : 0, &r, x, lp);
    vf_tape_free(t);
}

static void use_cnf(const vf_cnf_model *m)
{
    if (m->spec.field.dim < 1 || m->spec.field.dim > 64) return;
    enum { N = 2 };
    vf_real x[N * 64], lp[N];
    for (int64_t i = 0; i < N * m->spec.field.dim; i++) x[i] = (vf_real)(0.3 * (double)(i % 5) - 0.6);
    vf_cnf_sample_options o = vf_cnf_sample_default_options();
    o.ode.solver = VF_SOLVER_EULER;
    o.ode.steps = 2;
    vf_cnf_model_log_prob(m, N, x, NULL, &o, lp, NULL);
}

/* A checkpoint's state, as --resume reads it. */
static void read_state(const char *path, const vf_model_meta *meta, vf_params *p)
{
    vf_fit_state st;
    if (vf_fit_checkpoint_is(meta) && vf_fit_checkpoint_read(path, meta, p, &st) == VF_OK) vf_fit_state_free(&st);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *path = fuzz_as_file(data, size, ".safetensors");
    if (!path) return 0;
    vf_params *p = NULL;
    vf_flow *f = NULL;
    vf_model_meta meta;
    if (vf_flow_load(path, &p, &f, &meta) == VF_OK) {
        read_state(path, &meta, p);
        use_flow(f, p);
        vf_flow_free(f);
        vf_params_free(p);
        vf_model_meta_free(&meta);
    }
    vf_cnf_model *m = NULL;
    if (vf_cnf_model_load(path, &m, &meta) == VF_OK) {
        read_state(path, &meta, m->params);
        use_cnf(m);
        vf_cnf_model_free(m);
        vf_model_meta_free(&meta);
    }
    remove(path);
    vf_clear_error();
    return 0;
}
