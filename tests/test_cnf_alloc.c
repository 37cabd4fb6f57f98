/* test_cnf_alloc.c — out of memory in the continuous-flow layer: every allocation of an ODE solve,
 * an SDE solve and a vector field's construction, transport and log-densities fails in turn (once, and from then
 * on), and each failure is VF_ERR_NOMEM with a message and no leak (alloc_fail.h). */
#include "alloc_fail.h"
#include "vf_test.h"

static vf_status decay(void *ctx, double t, int64_t size, const vf_real *x, vf_real *dxdt)
{
    (void)ctx, (void)t;
    for (int64_t i = 0; i < size; i++) dxdt[i] = -x[i];
    return VF_OK;
}

static vf_status ode_scenario(void *ctx)
{
    (void)ctx;
    static const vf_solver solvers[] = {VF_SOLVER_EULER, VF_SOLVER_RK4, VF_SOLVER_DOPRI5};
    for (int s = 0; s < 3; s++) {
        vf_real x[4] = {1, 2, 3, 4};
        vf_ode_options o = vf_ode_default_options();
        o.solver = solvers[s];
        o.steps = 10;
        vf_status st = vf_ode_solve(decay, NULL, 4, x, 0, 1, &o, NULL);
        if (st != VF_OK) return st;
        if (!(x[0] > 0.34 && x[0] < 0.37)) return VF_ERR_NUMERIC; /* e^-1 (Euler: 0.9^10 = 0.349) */
    }
    vf_real y[4] = {1, 2, 3, 4};
    vf_ode_options o = vf_ode_default_options();
    o.solver = VF_SOLVER_SHEUN;
    o.steps = 5;
    o.sigma = 0.1;
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    return vf_sde_solve(decay, NULL, NULL, 4, y, 0, 1, &o, &r, NULL);
}

static vf_status field_scenario(void *ctx)
{
    (void)ctx;
    vf_params *p = vf_params_new();
    if (!p) return VF_ERR_NOMEM;
    vf_vfield *v = NULL;
    vf_vfield_params vp = vf_vfield_default_params(2);
    vp.classes = 2;
    vp.n_hidden = 1;
    vp.hidden[0] = 8;
    vf_status s = vf_vfield_new(p, "field", &vp, &v);
    if (s == VF_OK) s = vf_params_finalize(p, 1);
    vf_real x[6] = {0, 1, 2, 3, 4, 5};
    int64_t labels[3] = {0, 1, 2};
    vf_ode_options o = vf_ode_default_options();
    o.solver = VF_SOLVER_HEUN;
    o.steps = 3;
    if (s == VF_OK) s = vf_cfm_transport(v, p, NULL, 3, x, NULL, labels, 0, 1, &o, NULL);
    vf_real lp[3];
    vf_cfm_density_options dop = vf_cfm_density_default_options();
    if (s == VF_OK) s = vf_cfm_log_prob(v, p, NULL, 3, x, NULL, labels, 0, 1, &o, &dop, lp, NULL);
    dop.divergence = VF_DIVERGENCE_HUTCHINSON;
    dop.probes = 2;
    if (s == VF_OK) s = vf_cfm_log_prob(v, p, NULL, 3, x, NULL, labels, 0, 1, &o, &dop, lp, NULL);
    vf_vfield_free(v);
    vf_params_free(p);
    return s;
}

static void test_oom(void)
{
    CHECK(af_sweep("ode and sde solves (fail once)", ode_scenario, NULL, 0) == 0);
    CHECK(af_sweep("ode and sde solves (fail from then on)", ode_scenario, NULL, 1) == 0);
    CHECK(af_sweep("vector field and transport (fail once)", field_scenario, NULL, 0) == 0);
    CHECK(af_sweep("vector field and transport (fail from then on)", field_scenario, NULL, 1) == 0);
}

int main(void)
{
    RUN(test_oom);
    return vf_test_summary();
}
