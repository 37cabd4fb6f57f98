/* sde.c — SDE solvers of vf_ode.h for additive noise, dx = f(t, x) dt + g(t) dW, on fixed steps:
 * Euler-Maruyama (strong order 1 for additive noise) and stochastic Heun (the trapezoid on the drift
 * and on g, with one Brownian increment per step). */
#include <math.h>
#include <string.h>
#include "cnf/ode_internal.h"

static double diffusion_at(vf_sde_diffusion g, void *ctx, const vf_ode_options *o, double t)
{
    return g ? g(ctx, t) : o->sigma;
}

vf_status vf_sde_solve(vf_ode_field f, vf_sde_diffusion g, void *ctx, int64_t size, vf_real *x, double t0,
                       double t1, const vf_ode_options *o, vf_rng *r, vf_ode_stats *stats)
{
    vf_ode_stats local;
    vf_ode_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!f || !o || !r || (size > 0 && !x)) return vf__error(VF_ERR_ARG, "sde: NULL field, options, generator or state");
    if (size < 0) return vf__error(VF_ERR_ARG, "sde: negative state size %lld", (long long)size);
    if (!vf_solver_is_stochastic(o->solver))
        return vf__error(VF_ERR_ARG, "sde: solver %s is not an SDE solver (em or sheun)", vf_solver_name(o->solver));
    vf_status s = vf__ode_check_fixed("sde", o, t0, t1);
    if (s == VF_OK) s = vf__ode_check_finite("sde", x, size, t0);
    if (s != VF_OK) return s;
    int heun = o->solver == VF_SOLVER_SHEUN;
    vf_real *buf = vf_malloc((size_t)(heun ? 4 : 2) * (size_t)size * sizeof *buf);
    if (!buf) return vf__error(VF_ERR_NOMEM, "sde: out of memory for %lld values", (long long)size);
    vf_real *drift = buf, *noise = buf + size, *pred = heun ? buf + 2 * size : NULL, *drift2 = heun ? buf + 3 * size : NULL;
    for (int64_t step = 0; step < o->steps && s == VF_OK; step++) {
        double t = vf__ode_time(o, t0, t1, step), h = vf__ode_time(o, t0, t1, step + 1) - t;
        double g0 = diffusion_at(g, ctx, o, t), sq = sqrt(fabs(h));
        if (!isfinite(g0)) {
            s = vf__error(VF_ERR_NUMERIC, "sde: the diffusion is not finite at t = %g", t);
            break;
        }
        if ((s = vf__ode_eval(f, ctx, t, size, x, drift, st)) != VF_OK) break;
        vf_rng_normal_fill(r, noise, (size_t)size, 0.0, 1.0); /* dW / sqrt|h| */
        if (!heun) {
            for (int64_t i = 0; i < size; i++)
                x[i] = (vf_real)((double)x[i] + h * (double)drift[i] + g0 * sq * (double)noise[i]);
        } else {
            double g1 = diffusion_at(g, ctx, o, t + h);
            for (int64_t i = 0; i < size; i++)
                pred[i] = (vf_real)((double)x[i] + h * (double)drift[i] + g0 * sq * (double)noise[i]);
            if ((s = vf__ode_eval(f, ctx, t + h, size, pred, drift2, st)) != VF_OK) break;
            for (int64_t i = 0; i < size; i++)
                x[i] = (vf_real)((double)x[i] + 0.5 * h * ((double)drift[i] + (double)drift2[i]) +
                                 0.5 * (g0 + g1) * sq * (double)noise[i]);
        }
        s = vf__ode_check_finite("sde", x, size, t + h);
        if (s == VF_OK) st->steps++;
        if (s == VF_OK && o->progress) o->progress(o->progress_ctx, (double)(step + 1) / (double)o->steps);
    }
    vf_free(buf);
    return s;
}
