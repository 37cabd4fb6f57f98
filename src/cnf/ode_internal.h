/* ode_internal.h — what the ODE and SDE solvers share (ode.c, sde.c). Not installed. */
#ifndef VF_ODE_INTERNAL_H
#define VF_ODE_INTERNAL_H

#include "internal.h"
#include "varflow/vf_ode.h"

/* Time of grid point i (0..steps) from t0 to t1: the caller's grid, else equal steps. */
static inline double vf__ode_time(const vf_ode_options *o, double t0, double t1, int64_t i)
{
    if (o->grid) return o->grid[i];
    return i == o->steps ? t1 : t0 + (t1 - t0) * ((double)i / (double)o->steps);
}

/* VF_OK when the fixed-step options are usable (steps >= 1; a grid starts at t0, ends at t1 and is
 * monotone in the direction of t1 - t0, with finite times); else VF_ERR_ARG naming what is wrong. */
vf_status vf__ode_check_fixed(const char *who, const vf_ode_options *o, double t0, double t1);

/* VF_OK when x [size] is finite; else VF_ERR_NUMERIC naming the element and time t. */
vf_status vf__ode_check_finite(const char *who, const vf_real *x, int64_t size, double t);

/* The field, counted: dxdt = f(t, x). */
static inline vf_status vf__ode_eval(vf_ode_field f, void *ctx, double t, int64_t size, const vf_real *x,
                                     vf_real *dxdt, vf_ode_stats *st)
{
    st->nfe++;
    return f(ctx, t, size, x, dxdt);
}

#endif
