/* vf_ode.h — ODE and SDE solvers for continuous flows: x'(t) = f(t, x), and dx = f(t, x) dt + g(t) dW.
 *
 * Usage
 *   vf_status field(void *ctx, double t, int64_t size, const vf_real *x, vf_real *dxdt);  // yours
 *   vf_ode_options o = vf_ode_default_options();     // rk4, 100 steps
 *   o.solver = VF_SOLVER_DOPRI5;                     // adaptive: rtol, atol, min_step, max_steps
 *   vf_ode_stats st;
 *   vf_ode_solve(field, ctx, size, x, 0.0, 1.0, &o, &st);   // x [size] carried from t = 0 to 1 in place
 *   vf_ode_solve(field, ctx, size, x, 1.0, 0.0, &o, &st);   // and back (time may run either way)
 *
 *   o.solver = VF_SOLVER_EM; o.sigma = 0.1;          // SDE with constant diffusion (or a g(t) callback)
 *   vf_sde_solve(field, NULL, ctx, size, x, 0.0, 1.0, &o, &rng, &st);
 *
 * The state is a flat array (a batch of rows is `n * d` values); the field fills dxdt for all of it.
 * Fixed-step solvers take `steps` equal steps from t0 to t1, or the caller's time grid (steps + 1
 * increasing or decreasing times, grid[0] = t0, grid[steps] = t1). Dopri5 (Dormand & Prince 1980,
 * 5th order with an embedded 4th-order error estimate, first-same-as-last) adapts its step to keep
 * the RMS over the state of err_i / (atol + rtol max(|x_i|, |x_i'|)) below 1, choosing its first step
 * as Hairer, Norsett & Wanner (1993) do. Euler-Maruyama and stochastic Heun (additive noise) take
 * fixed steps with Brownian increments of variance |dt|. Every solve counts field evaluations (nfe).
 *
 * Errors: VF_ERR_ARG for bad options (steps < 1, tolerances <= 0, an SDE solver given to
 * vf_ode_solve, ...); VF_ERR_NUMERIC when the state becomes NaN/Inf (with the time), when Dopri5's
 * step falls below min_step or it needs more than max_steps; a field's own status is passed on.
 * On an error x holds the last good state.
 */
#ifndef VF_ODE_H
#define VF_ODE_H

#include "vf_rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vf_solver {
    VF_SOLVER_EULER = 0,  /* order 1 */
    VF_SOLVER_MIDPOINT,   /* order 2 */
    VF_SOLVER_HEUN,       /* order 2 (explicit trapezoid) */
    VF_SOLVER_RK4,        /* order 4, the classic tableau */
    VF_SOLVER_RK4_38,     /* order 4, Kutta's 3/8 rule */
    VF_SOLVER_DOPRI5,     /* adaptive, order 5(4) */
    VF_SOLVER_EM,         /* SDE: Euler-Maruyama */
    VF_SOLVER_SHEUN,      /* SDE: stochastic Heun (additive noise) */
    VF_SOLVER_COUNT
} vf_solver;

/* "euler", "midpoint", "heun", "rk4", "rk4_38", "dopri5", "em", "sheun"; -1 for an unknown name. */
int vf_solver_from_name(const char *name);
const char *vf_solver_name(vf_solver s);
int vf_solver_is_stochastic(vf_solver s);   /* 1 for em and sheun */

/* Called after each accepted step of a solve with the fraction of [t0, t1] covered so far (1 at the
 * end); for progress displays. It cannot stop the solve. */
typedef void (*vf_ode_progress_fn)(void *ctx, double fraction);

typedef struct vf_ode_options {
    vf_solver solver;      /* default VF_SOLVER_RK4 */
    int64_t steps;         /* fixed-step solvers: number of steps (default 100) */
    const double *grid;    /* fixed-step solvers: steps + 1 times from t0 to t1, or NULL for equal steps */
    double rtol, atol;     /* dopri5: tolerances (default 1e-5, 1e-5) */
    double first_step;     /* dopri5: |first step|, 0 = automatic (default) */
    double min_step;       /* dopri5: smallest |step| before giving up (default 1e-10 |t1 - t0|) */
    int64_t max_steps;     /* dopri5: most accepted + rejected steps (default 100000) */
    double sigma;          /* SDE: constant diffusion g(t) = sigma when no diffusion callback (default 0) */
    vf_ode_progress_fn progress;   /* NULL (default) or called after each accepted step */
    void *progress_ctx;            /* passed to progress */
} vf_ode_options;

vf_ode_options vf_ode_default_options(void);

typedef struct vf_ode_stats {
    int64_t nfe;           /* field evaluations */
    int64_t steps;         /* accepted steps */
    int64_t rejected;      /* dopri5: rejected steps */
} vf_ode_stats;

/* dxdt [size] = f(t, x [size]); a status other than VF_OK stops the solve and is returned. */
typedef vf_status (*vf_ode_field)(void *ctx, double t, int64_t size, const vf_real *x, vf_real *dxdt);
/* g(t): the scalar diffusion of an SDE with additive noise. */
typedef double (*vf_sde_diffusion)(void *ctx, double t);

/* x [size] from t0 to t1 in place; stats may be NULL. */
vf_status vf_ode_solve(vf_ode_field f, void *ctx, int64_t size, vf_real *x, double t0, double t1,
                       const vf_ode_options *o, vf_ode_stats *stats);

/* dx = f(t, x) dt + g(t) dW, x [size] from t0 to t1 in place, with o->solver VF_SOLVER_EM or
 * VF_SOLVER_SHEUN; g NULL means g(t) = o->sigma. Noise from r (reproducible by seed). */
vf_status vf_sde_solve(vf_ode_field f, vf_sde_diffusion g, void *ctx, int64_t size, vf_real *x, double t0,
                       double t1, const vf_ode_options *o, vf_rng *r, vf_ode_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
