/* fuzz_values.c — libFuzzer target: the evaluation contract of vf_eval.h under any parameters and
 * inputs. The bytes pick a preset and a dimension (1-4), shift the initialized parameters by amounts up
 * to a chosen scale (0 to 1e6), and give the rows (raw floats: NaN, infinities and huge values
 * included). Log-densities, forward and inverse maps must then either succeed with finite results
 * (a log-density may be -inf) or return VF_ERR_NUMERIC with a message: a NaN or infinity returned
 * with VF_OK, another status, or a crash is a failure (abort). A row holding a NaN must be reported
 * by every call; an infinite row by the maps, and by the log-density unless that is -inf there.
 * Bytes that pick a continuous flow instead test its log-densities (with or without a box) and its
 * samples by one of the solvers the same way. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_util.h"

static const char *const specs[] = {
    "maf:transforms=2,hidden=4x1",           "iaf:transforms=2,hidden=4x1",
    "maf:transforms=2,hidden=4x1,residual=1", "nsf:transforms=2,hidden=4x1,bins=3",
    "nsf:coupling=1,transforms=2,hidden=4x1,bins=3", "realnvp:transforms=2,hidden=4x1",
    "nice:transforms=2,hidden=4x1",           "glow:transforms=2,hidden=4x1",
    "planar:transforms=2",                    "radial:transforms=2",
    "maf:transforms=1,hidden=4x1,base=student_t", "maf:transforms=1,hidden=4x1,base=mixture2",
    "realnvp:transforms=1,hidden=4x1,base=diag_normal", "nsf:transforms=1,hidden=4x1,bins=4,act=silu",
};
/* continuous flows: a first byte from CNF_FIRST on picks one of these (below it, a flow) */
static const char *const cnf_specs[] = {"cfm:hidden=4x1", "otcfm:hidden=4x1,sigma=0.1", "sbcfm:hidden=4x1",
                                        "si:hidden=4x1", "meanflow:hidden=4x1", "fm:hidden=4x1,act=tanh"};
enum { N_SPECS = sizeof specs / sizeof specs[0], N_CNF = sizeof cnf_specs / sizeof cnf_specs[0], CNF_FIRST = 224,
       MAX_ROWS = 8, MAX_D = 4 };

/* The first n_shift parameters of p (cyclically) shifted by up to scale, one byte of data [size]
 * each; returns the bytes used. */
static size_t shift_params(vf_params *p, double scale, size_t n_shift, const unsigned char *data, size_t size)
{
    vf_real *w = vf_params_values(p);
    int64_t np = vf_params_size(p);
    size_t used = 0;
    for (; used < n_shift && used < size && np > 0; used++)
        w[used % (size_t)np] += (vf_real)(scale * ((double)data[used] - 127.5) / 127.5);
    return used;
}

/* The contract of one call: VF_OK with acceptable values, or VF_ERR_NUMERIC with a message. */
static void check(vf_status s, int ok_values)
{
    if (s == VF_OK && !ok_values) abort();                  /* a NaN or infinity escaped silently */
    if (s != VF_OK && (s != VF_ERR_NUMERIC || !vf_last_error()[0])) abort();
    vf_clear_error();
}

/* A continuous flow: log-densities of the rows (box or not) and samples by a solver the bytes pick;
 * the same contract (finite, a log-density -inf only outside a box or for an infinite row; else
 * VF_ERR_NUMERIC with a message; a NaN row always refused). */
static void cnf_values(const char *spec, int64_t d, double scale, size_t n_shift, int flags, const unsigned char *data,
                       size_t size)
{
    vf_cnf_spec cs;
    vf_meanflow_options mo;
    vf_cnf_model *m = NULL;
    if (vf_cnf_spec_from_string(spec, d, 0, &cs, &mo) != VF_OK || vf_cnf_model_new(&cs, 7, &m) != VF_OK) {
        vf_clear_error();
        return;
    }
    size_t used = shift_params(m->params, scale, n_shift, data, size);
    data += used, size -= used;
    int box = flags & 1;
    if (box && vf_cnf_model_set_box(m, -2, 3, 1e-3) != VF_OK) abort();
    vf_real x[MAX_ROWS * MAX_D], lp[MAX_ROWS];
    int64_t n = fuzz_float_rows(data, size, d, MAX_ROWS, x);
    static const vf_solver solvers[] = {VF_SOLVER_EULER, VF_SOLVER_MIDPOINT, VF_SOLVER_HEUN, VF_SOLVER_RK4,
                                        VF_SOLVER_RK4_38, VF_SOLVER_DOPRI5, VF_SOLVER_EM, VF_SOLVER_SHEUN};
    vf_cnf_sample_options o = vf_cnf_sample_default_options();
    o.ode.solver = solvers[(flags >> 1) % 8];
    o.ode.steps = 3;
    o.ode.max_steps = 200;
    if (n > 0 && o.ode.solver != VF_SOLVER_EM && o.ode.solver != VF_SOLVER_SHEUN) {
        vf_status s = vf_cnf_model_log_prob(m, n, x, NULL, &o, lp, NULL);
        if (s != VF_OK && (s == VF_ERR_ARG || !vf_last_error()[0])) abort(); /* UNSUPPORTED: MeanFlow */
        if (fuzz_any_nan(x, n * d) && s == VF_OK) abort();
        for (int64_t i = 0; s == VF_OK && i < n; i++)
            if (!isfinite((double)lp[i]) && !(isinf((double)lp[i]) && lp[i] < 0)) abort();
        vf_clear_error();
    }
    vf_rng r;
    vf_rng_init(&r, 5, 6);
    vf_real xs[MAX_ROWS * MAX_D];
    vf_status s = vf_cnf_model_sample(m, MAX_ROWS, NULL, NULL, &r, &o, xs, NULL, NULL);
    if (s == VF_OK && !fuzz_all_finite(xs, MAX_ROWS * d, 0)) abort(); /* a sample must be a point */
    if (s != VF_OK && !vf_last_error()[0]) abort();
    vf_clear_error();
    vf_cnf_model_free(m);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 4) return 0;
    static const double scales[] = {0, 0.1, 1, 10, 1e3, 1e6};
    if (data[0] >= CNF_FIRST) {
        cnf_values(cnf_specs[(data[0] - CNF_FIRST) % N_CNF], 1 + data[1] % MAX_D, scales[data[2] % 6], data[3],
                   data[1] / MAX_D, data + 4, size - 4);
        return 0;
    }
    const char *spec = specs[data[0] % N_SPECS];
    int64_t d = 1 + data[1] % MAX_D;
    double scale = scales[data[2] % 6];
    size_t n_shift = data[3];
    data += 4, size -= 4;
    vf_params *p = vf_params_new();
    vf_flow *f = NULL;
    if (!p || vf_flow_from_spec(spec, d, 0, p, &f) != VF_OK || vf_params_finalize(p, 7) != VF_OK) {
        vf_flow_free(f);
        vf_params_free(p);
        vf_clear_error();
        return 0;
    }
    size_t used = shift_params(p, scale, n_shift, data, size);
    data += used, size -= used;
    vf_real x[MAX_ROWS * MAX_D], z[MAX_ROWS * MAX_D], back[MAX_ROWS * MAX_D], lp[MAX_ROWS], ladj[MAX_ROWS];
    int64_t n = fuzz_float_rows(data, size, d, MAX_ROWS, x);
    vf_tape *t = vf_tape_new();
    if (t && n > 0) {
        int finite_in = fuzz_all_finite(x, n * d, 0), nan_in = fuzz_any_nan(x, n * d);
        vf_status s = vf_flow_log_prob_rows(f, p, t, n, x, NULL, 0, lp);
        check(s, fuzz_all_finite(lp, n, 1));
        if (nan_in && s == VF_OK) abort();                  /* a NaN row cannot have a log-density */
        for (int64_t i = 0; s == VF_OK && i < n; i++)       /* an infinite row: -inf at most */
            if (!fuzz_all_finite(x + i * d, d, 0) && !(isinf((double)lp[i]) && lp[i] < 0)) abort();
        s = vf_flow_forward_rows(f, p, t, n, x, NULL, 0, z, ladj);
        check(s, fuzz_all_finite(z, n * d, 0) && fuzz_all_finite(ladj, n, 0));
        if (!finite_in && s == VF_OK) abort();              /* a NaN or infinite row cannot map to finite values */
        s = vf_flow_inverse_rows(f, p, t, n, x, NULL, 0, back, ladj);
        check(s, fuzz_all_finite(back, n * d, 0) && fuzz_all_finite(ladj, n, 0));
    }
    vf_tape_free(t);
    vf_flow_free(f);
    vf_params_free(p);
    return 0;
}
