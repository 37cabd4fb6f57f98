/* test_ode.c — the ODE and SDE solvers of vf_ode.h: empirical convergence orders on a linear ODE with
 * a known solution (Euler 1, midpoint and Heun 2, both RK4 tableaux 4), time running backwards and a
 * caller's grid, Dopri5 within its tolerance (and tighter with a tighter one), the Ornstein-Uhlenbeck
 * marginal from Euler-Maruyama and stochastic Heun within Monte Carlo error, reproducibility by seed,
 * and every bad argument or numerical failure reported as an error. */
#include <math.h>
#include <stdlib.h>
#include "internal.h"
#include "varflow.h"
#include "vf_test.h"

/* The damped rotation x' = A x, A = [[-a, w], [-w, -a]], on rows of 2 values:
 * x(t) = exp(-a t) R(w t) x(0), R the rotation by -w t (clockwise). */
typedef struct rotation {
    double a, w;
    int64_t calls;
} rotation;

static vf_status rotation_field(void *ctx, double t, int64_t size, const vf_real *x, vf_real *dxdt)
{
    (void)t;
    rotation *r = ctx;
    r->calls++;
    for (int64_t i = 0; i + 1 < size; i += 2) {
        dxdt[i] = (vf_real)(-r->a * (double)x[i] + r->w * (double)x[i + 1]);
        dxdt[i + 1] = (vf_real)(-r->w * (double)x[i] - r->a * (double)x[i + 1]);
    }
    return VF_OK;
}

static void rotation_exact(const rotation *r, double t, const double x0[2], double out[2])
{
    double e = exp(-r->a * t), c = cos(r->w * t), s = sin(r->w * t);
    out[0] = e * (c * x0[0] + s * x0[1]);
    out[1] = e * (-s * x0[0] + c * x0[1]);
}

/* Max error at t = T of `solver` with `steps` equal steps, from x0 = (1, 0.5). */
static double rotation_error(vf_solver solver, int64_t steps, double T)
{
    rotation r = {0.5, 2.0, 0};
    const double x0[2] = {1.0, 0.5};
    vf_real x[2] = {(vf_real)x0[0], (vf_real)x0[1]};
    vf_ode_options o = vf_ode_default_options();
    o.solver = solver;
    o.steps = steps;
    vf_ode_stats st;
    CHECK_STATUS(vf_ode_solve(rotation_field, &r, 2, x, 0.0, T, &o, &st), VF_OK);
    static const int stages[] = {1, 2, 2, 4, 4};
    CHECK(st.nfe == steps * stages[solver] && st.steps == steps && r.calls == st.nfe);
    double want[2];
    rotation_exact(&r, T, x0, want);
    return fmax(fabs((double)x[0] - want[0]), fabs((double)x[1] - want[1]));
}

static void test_convergence_orders(void)
{
    static const struct {
        vf_solver s;
        int order;
        int64_t steps; /* coarse enough that float rounding stays far below the truncation error */
    } cases[] = {{VF_SOLVER_EULER, 1, 64}, {VF_SOLVER_MIDPOINT, 2, 16}, {VF_SOLVER_HEUN, 2, 16},
                 {VF_SOLVER_RK4, 4, 8}, {VF_SOLVER_RK4_38, 4, 8}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double e1 = rotation_error(cases[i].s, cases[i].steps, 2.0);
        double e2 = rotation_error(cases[i].s, 2 * cases[i].steps, 2.0);
        double e4 = rotation_error(cases[i].s, 4 * cases[i].steps, 2.0);
        double p1 = log2(e1 / e2), p2 = log2(e2 / e4);
        /* the observed order approaches the true one as the step shrinks */
        CHECK_MSG(fabs(p2 - cases[i].order) < 0.2 && fabs(p1 - cases[i].order) < 0.4,
                  "%s: observed orders %.3f, %.3f (errors %g %g %g), want %d", vf_solver_name(cases[i].s), p1, p2, e1,
                  e2, e4, cases[i].order);
    }
}

/* Forward then backward in time returns to the start; a caller's uneven grid works; a batch of rows
 * is solved row by row exactly as one row alone. */
static void test_backward_grid_and_batch(void)
{
    rotation r = {0.3, 1.0, 0};
    vf_real x[6] = {1, 0, -0.5, 2, 0.25, -1}, x0[6];
    memcpy(x0, x, sizeof x);
    vf_ode_options o = vf_ode_default_options();
    o.steps = 200;
    CHECK_STATUS(vf_ode_solve(rotation_field, &r, 6, x, 0.0, 1.5, &o, NULL), VF_OK);
    vf_real mid[6];
    memcpy(mid, x, sizeof x);
    CHECK_STATUS(vf_ode_solve(rotation_field, &r, 6, x, 1.5, 0.0, &o, NULL), VF_OK);
    for (int i = 0; i < 6; i++) CHECK_NEAR(x[i], x0[i], VF_USE_DOUBLE ? 1e-10 : 2e-5);
    /* rows independent: the second row alone gives the same numbers */
    vf_real one[2] = {x0[2], x0[3]};
    CHECK_STATUS(vf_ode_solve(rotation_field, &r, 2, one, 0.0, 1.5, &o, NULL), VF_OK);
    CHECK(one[0] == mid[2] && one[1] == mid[3]);
    /* an uneven grid, denser near the end: still RK4-accurate */
    double grid[41];
    for (int i = 0; i <= 40; i++) grid[i] = 1.5 * sqrt(i / 40.0);
    o.grid = grid;
    o.steps = 40;
    vf_real y[2] = {1, 0.5};
    CHECK_STATUS(vf_ode_solve(rotation_field, &r, 2, y, 0.0, 1.5, &o, NULL), VF_OK);
    double want[2], start[2] = {1, 0.5};
    rotation_exact(&r, 1.5, start, want);
    CHECK_NEAR(y[0], want[0], 1e-5);
    CHECK_NEAR(y[1], want[1], 1e-5);
}

/* The progress callback: once per accepted step, fractions rising to exactly 1, on a backward solve
 * too, and the solution the same as without it. */
typedef struct progress_log {
    int64_t calls;
    double last;
    int rising;
} progress_log;

static void log_progress(void *ctx, double fraction)
{
    progress_log *p = ctx;
    if (!(fraction > p->last && fraction <= 1)) p->rising = 0;
    p->last = fraction;
    p->calls++;
}

static void test_progress(void)
{
    const vf_solver solvers[] = {VF_SOLVER_EULER, VF_SOLVER_RK4, VF_SOLVER_DOPRI5};
    for (int k = 0; k < 3; k++)
        for (int back = 0; back < 2; back++) {
            rotation r = {0.5, 2.0, 0};
            vf_real x[2] = {1, 0.5}, y[2] = {1, 0.5};
            vf_ode_options o = vf_ode_default_options();
            o.solver = solvers[k];
            o.steps = 7;
            double t0 = back ? 2.0 : 0.0, t1 = back ? 0.0 : 2.0;
            vf_ode_stats st;
            CHECK_STATUS(vf_ode_solve(rotation_field, &r, 2, y, t0, t1, &o, NULL), VF_OK);
            progress_log pl = {0, 0.0, 1};
            o.progress = log_progress;
            o.progress_ctx = &pl;
            CHECK_STATUS(vf_ode_solve(rotation_field, &r, 2, x, t0, t1, &o, &st), VF_OK);
            CHECK_MSG(pl.calls == st.steps && pl.rising && pl.last == 1.0, "%s: %lld calls for %lld steps, last %g",
                      vf_solver_name(solvers[k]), (long long)pl.calls, (long long)st.steps, pl.last);
            CHECK(x[0] == y[0] && x[1] == y[1]);
        }
}

static void test_dopri5_tolerance(void)
{
    const double T = 3.0, x0[2] = {1.0, 0.5};
    double tols[] = {VF_USE_DOUBLE ? 1e-6 : 1e-4, VF_USE_DOUBLE ? 1e-9 : 1e-6};
    double err[2];
    int64_t nfe[2];
    for (int k = 0; k < 2; k++) {
        rotation r = {0.5, 2.0, 0};
        vf_real x[2] = {(vf_real)x0[0], (vf_real)x0[1]};
        vf_ode_options o = vf_ode_default_options();
        o.solver = VF_SOLVER_DOPRI5;
        o.rtol = o.atol = tols[k];
        vf_ode_stats st;
        CHECK_STATUS(vf_ode_solve(rotation_field, &r, 2, x, 0.0, T, &o, &st), VF_OK);
        double want[2];
        rotation_exact(&r, T, x0, want);
        err[k] = fmax(fabs((double)x[0] - want[0]), fabs((double)x[1] - want[1]));
        nfe[k] = st.nfe;
        CHECK(st.nfe == r.calls && st.nfe >= 6 * st.steps + 1);
        /* the global error of a tolerance-controlled solve stays within a small multiple of the tolerance */
        CHECK_MSG(err[k] <= 10 * tols[k], "dopri5 tol %g: error %g after %lld steps (%lld rejected)", tols[k], err[k],
                  (long long)st.steps, (long long)st.rejected);
        /* and backwards in time too */
        CHECK_STATUS(vf_ode_solve(rotation_field, &r, 2, x, T, 0.0, &o, &st), VF_OK);
        CHECK_NEAR(x[0], x0[0], 20 * tols[k]);
    }
    CHECK(err[1] < err[0] && nfe[1] > nfe[0]);
}

/* x' = x^2 blows up at t = 1 from x(0) = 1: dopri5 gives up with a clear error, and fixed steps
 * report the non-finite state. */
static vf_status blowup_field(void *ctx, double t, int64_t size, const vf_real *x, vf_real *dxdt)
{
    (void)ctx, (void)t;
    for (int64_t i = 0; i < size; i++) dxdt[i] = x[i] * x[i];
    return VF_OK;
}

static vf_status failing_field(void *ctx, double t, int64_t size, const vf_real *x, vf_real *dxdt)
{
    (void)ctx, (void)x;
    for (int64_t i = 0; i < size; i++) dxdt[i] = 0;
    return t > 0.5 ? vf__error(VF_ERR_IO, "field: simulated failure at t = %g", t) : VF_OK;
}

static void test_errors(void)
{
    vf_real x[1] = {1};
    vf_ode_options o = vf_ode_default_options();
    o.solver = VF_SOLVER_DOPRI5;
    o.max_steps = 100000;
    CHECK(vf_ode_solve(blowup_field, NULL, 1, x, 0.0, 2.0, &o, NULL) == VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "dopri5") != NULL || strstr(vf_last_error(), "became") != NULL);
    x[0] = 1;
    o.solver = VF_SOLVER_EULER;
    o.steps = 1000;
    CHECK(vf_ode_solve(blowup_field, NULL, 1, x, 0.0, 50.0, &o, NULL) == VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "infinite") != NULL);
    CHECK(isfinite((double)x[0])); /* the last good state is kept */
    x[0] = 1;
    o.steps = 0;
    CHECK(vf_ode_solve(blowup_field, NULL, 1, x, 0.0, 1.0, &o, NULL) == VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "steps") != NULL);
    o.steps = 10;
    o.solver = VF_SOLVER_EM;
    CHECK(vf_ode_solve(blowup_field, NULL, 1, x, 0.0, 1.0, &o, NULL) == VF_ERR_ARG);
    o.solver = VF_SOLVER_DOPRI5;
    o.rtol = 0;
    CHECK(vf_ode_solve(blowup_field, NULL, 1, x, 0.0, 1.0, &o, NULL) == VF_ERR_ARG);
    o = vf_ode_default_options();
    o.solver = (vf_solver)99;
    CHECK(vf_ode_solve(blowup_field, NULL, 1, x, 0.0, 1.0, &o, NULL) == VF_ERR_ARG);
    o = vf_ode_default_options();
    double bad_grid[3] = {0, 0.7, 0.5};
    o.grid = bad_grid;
    o.steps = 2;
    CHECK(vf_ode_solve(blowup_field, NULL, 1, x, 0.0, 0.5, &o, NULL) == VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "monotone") != NULL);
    o = vf_ode_default_options();
    vf_real nan_x[1] = {NAN};
    CHECK(vf_ode_solve(blowup_field, NULL, 1, nan_x, 0.0, 1.0, &o, NULL) == VF_ERR_NUMERIC);
    /* a field's own error is passed on */
    CHECK(vf_ode_solve(failing_field, NULL, 1, x, 0.0, 1.0, &o, NULL) == VF_ERR_IO);
    CHECK(vf_solver_from_name("rk4_38") == VF_SOLVER_RK4_38 && vf_solver_from_name("rk5") == -1 &&
          vf_solver_from_name(NULL) == -1 && strcmp(vf_solver_name(VF_SOLVER_SHEUN), "sheun") == 0);
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    o.solver = VF_SOLVER_RK4;
    CHECK(vf_sde_solve(blowup_field, NULL, NULL, 1, x, 0.0, 1.0, &o, &r, NULL) == VF_ERR_ARG);
}

/* Ornstein-Uhlenbeck dx = -theta x dt + sigma dW from x0: x(T) ~ N(x0 e^{-theta T},
 * sigma^2 (1 - e^{-2 theta T}) / (2 theta)). */
static vf_status ou_drift(void *ctx, double t, int64_t size, const vf_real *x, vf_real *dxdt)
{
    (void)t;
    double theta = *(const double *)ctx;
    for (int64_t i = 0; i < size; i++) dxdt[i] = (vf_real)(-theta * (double)x[i]);
    return VF_OK;
}

static double ou_sigma(void *ctx, double t)
{
    (void)ctx, (void)t;
    return 0.8;
}

static void test_ornstein_uhlenbeck(void)
{
    enum { N = 20000 };
    double theta = 1.0, sigma = 0.8, T = 1.0, x0 = 2.0;
    double mean = x0 * exp(-theta * T), var = sigma * sigma * (1 - exp(-2 * theta * T)) / (2 * theta);
    vf_real *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    for (int solver = VF_SOLVER_EM; solver <= VF_SOLVER_SHEUN; solver++) {
        for (int i = 0; i < N; i++) x[i] = (vf_real)x0;
        vf_ode_options o = vf_ode_default_options();
        o.solver = (vf_solver)solver;
        o.steps = 500;
        vf_rng r;
        vf_rng_init(&r, 42, 0);
        vf_ode_stats st;
        /* sheun takes g from the callback, em from o.sigma */
        if (solver == VF_SOLVER_EM) o.sigma = sigma;
        CHECK_STATUS(vf_sde_solve(ou_drift, solver == VF_SOLVER_SHEUN ? ou_sigma : NULL, &theta, N, x, 0.0, T, &o, &r,
                                  &st),
                     VF_OK);
        CHECK(st.steps == 500 && st.nfe == (solver == VF_SOLVER_EM ? 500 : 1000));
        double m = 0, v = 0;
        for (int i = 0; i < N; i++) m += (double)x[i];
        m /= N;
        for (int i = 0; i < N; i++) v += ((double)x[i] - m) * ((double)x[i] - m);
        v /= N - 1;
        /* 4 standard errors; the discretization bias (order dt = 0.002) is far smaller */
        double se_m = sqrt(var / N), se_v = var * sqrt(2.0 / (N - 1));
        CHECK_MSG(fabs(m - mean) < 4 * se_m, "%s mean %g want %g (se %g)", vf_solver_name((vf_solver)solver), m, mean, se_m);
        CHECK_MSG(fabs(v - var) < 4 * se_v, "%s variance %g want %g (se %g)", vf_solver_name((vf_solver)solver), v, var,
                  se_v);
        /* same seed, same paths */
        for (int i = 0; i < N; i++) y[i] = (vf_real)x0;
        vf_rng_init(&r, 42, 0);
        CHECK_STATUS(vf_sde_solve(ou_drift, solver == VF_SOLVER_SHEUN ? ou_sigma : NULL, &theta, N, y, 0.0, T, &o, &r,
                                  NULL),
                     VF_OK);
        CHECK(memcmp(x, y, N * sizeof *x) == 0);
    }
    free(x);
    free(y);
}

int main(void)
{
    RUN(test_convergence_orders);
    RUN(test_backward_grid_and_batch);
    RUN(test_dopri5_tolerance);
    RUN(test_progress);
    RUN(test_errors);
    RUN(test_ornstein_uhlenbeck);
    return vf_test_summary();
}
