/* ode.c — deterministic solvers of vf_ode.h: the explicit Runge-Kutta family on fixed steps and
 * adaptive Dormand-Prince 5(4). Each step works on the caller's state and a few stage buffers of
 * the same size (allocated once per solve). */
#include <math.h>
#include <string.h>
#include "cnf/ode_internal.h"

static const char *const solver_names[VF_SOLVER_COUNT] = {"euler", "midpoint", "heun", "rk4",
                                                          "rk4_38", "dopri5", "em", "sheun"};

int vf_solver_from_name(const char *name)
{
    for (int s = 0; name && s < VF_SOLVER_COUNT; s++)
        if (strcmp(name, solver_names[s]) == 0) return s;
    return -1;
}

const char *vf_solver_name(vf_solver s) { return (unsigned)s < VF_SOLVER_COUNT ? solver_names[s] : "unknown"; }
int vf_solver_is_stochastic(vf_solver s) { return s == VF_SOLVER_EM || s == VF_SOLVER_SHEUN; }

vf_ode_options vf_ode_default_options(void)
{
    vf_ode_options o;
    memset(&o, 0, sizeof o);
    o.solver = VF_SOLVER_RK4;
    o.steps = 100;
    o.rtol = 1e-5;
    o.atol = 1e-5;
    o.max_steps = 100000;
    return o;
}

vf_status vf__ode_check_fixed(const char *who, const vf_ode_options *o, double t0, double t1)
{
    if (o->steps < 1) return vf__error(VF_ERR_ARG, "%s: steps must be >= 1 (got %lld)", who, (long long)o->steps);
    if (!isfinite(t0) || !isfinite(t1)) return vf__error(VF_ERR_ARG, "%s: times must be finite", who);
    if (!o->grid) return VF_OK;
    if (o->grid[0] != t0 || o->grid[o->steps] != t1)
        return vf__error(VF_ERR_ARG, "%s: the time grid must run from t0 = %g to t1 = %g (it runs from %g to %g)", who,
                         t0, t1, o->grid[0], o->grid[o->steps]);
    double dir = t1 >= t0 ? 1 : -1;
    for (int64_t i = 0; i < o->steps; i++)
        if (!isfinite(o->grid[i + 1]) || dir * (o->grid[i + 1] - o->grid[i]) < 0)
            return vf__error(VF_ERR_ARG, "%s: the time grid is not monotone at point %lld (%g after %g)", who,
                             (long long)(i + 1), o->grid[i + 1], o->grid[i]);
    return VF_OK;
}

vf_status vf__ode_check_finite(const char *who, const vf_real *x, int64_t size, double t)
{
    for (int64_t i = 0; i < size; i++)
        if (!isfinite((double)x[i]))
            return vf__error(VF_ERR_NUMERIC, "%s: the state became %s (element %lld) at t = %g", who,
                             isnan((double)x[i]) ? "NaN" : "infinite", (long long)i, t);
    return VF_OK;
}

/* out = x + h sum_j a[j] k[j] over the stages with a nonzero coefficient. */
static void combine(int64_t size, vf_real *restrict out, const vf_real *x, double h, int n_stages,
                    const double *a, vf_real *const *k)
{
    for (int64_t i = 0; i < size; i++) {
        double s = 0;
        for (int j = 0; j < n_stages; j++)
            if (a[j] != 0) s += a[j] * (double)k[j][i];
        out[i] = (vf_real)((double)x[i] + h * s);
    }
}

/* An explicit Runge-Kutta tableau with at most 4 stages. */
typedef struct rk_tableau {
    int stages;
    double c[4], a[4][4], b[4];
} rk_tableau;

static const rk_tableau tableaux[] = {
    [VF_SOLVER_EULER] = {1, {0}, {{0}}, {1}},
    [VF_SOLVER_MIDPOINT] = {2, {0, 0.5}, {{0}, {0.5}}, {0, 1}},
    [VF_SOLVER_HEUN] = {2, {0, 1}, {{0}, {1}}, {0.5, 0.5}},
    [VF_SOLVER_RK4] = {4, {0, 0.5, 0.5, 1}, {{0}, {0.5}, {0, 0.5}, {0, 0, 1}}, {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6}},
    [VF_SOLVER_RK4_38] = {4,
                          {0, 1.0 / 3, 2.0 / 3, 1},
                          {{0}, {1.0 / 3}, {-1.0 / 3, 1}, {1, -1, 1}},
                          {1.0 / 8, 3.0 / 8, 3.0 / 8, 1.0 / 8}},
};

static vf_status solve_fixed(vf_ode_field f, void *ctx, int64_t size, vf_real *x, double t0, double t1,
                             const vf_ode_options *o, vf_ode_stats *st)
{
    vf_status s = vf__ode_check_fixed("ode", o, t0, t1);
    if (s != VF_OK) return s;
    const rk_tableau *tb = &tableaux[o->solver];
    vf_real *buf = vf_malloc((size_t)(tb->stages + 1) * (size_t)size * sizeof *buf);
    if (!buf) return vf__error(VF_ERR_NOMEM, "ode: out of memory for %lld stage values", (long long)size);
    vf_real *k[4], *tmp = buf + (size_t)tb->stages * (size_t)size;
    for (int j = 0; j < tb->stages; j++) k[j] = buf + (size_t)j * (size_t)size;
    for (int64_t step = 0; step < o->steps && s == VF_OK; step++) {
        double t = vf__ode_time(o, t0, t1, step), h = vf__ode_time(o, t0, t1, step + 1) - t;
        for (int j = 0; j < tb->stages && s == VF_OK; j++) {
            const vf_real *at = x;
            if (j > 0) {
                combine(size, tmp, x, h, j, tb->a[j], k);
                at = tmp;
            }
            s = vf__ode_eval(f, ctx, t + tb->c[j] * h, size, at, k[j], st);
        }
        if (s != VF_OK) break;
        combine(size, tmp, x, h, tb->stages, tb->b, k);
        if ((s = vf__ode_check_finite("ode", tmp, size, t + h)) != VF_OK) break;
        memcpy(x, tmp, (size_t)size * sizeof *x);
        st->steps++;
        if (o->progress) o->progress(o->progress_ctx, (double)(step + 1) / (double)o->steps);
    }
    vf_free(buf);
    return s;
}

/* ---- Dormand-Prince 5(4) ------------------------------------------------------------------- */
static const double dp_c[7] = {0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1};
static const double dp_a[7][6] = {
    {0},
    {1.0 / 5},
    {3.0 / 40, 9.0 / 40},
    {44.0 / 45, -56.0 / 15, 32.0 / 9},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
    {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84},
};
/* 5th-order weights (= the last row of a) minus the embedded 4th-order ones */
static const double dp_e[7] = {71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40};

/* RMS over the state of v_i / (atol + rtol max(|x_i|, |y_i|)) (y NULL: |x_i| alone). */
static double scaled_rms(int64_t size, const vf_real *v, const vf_real *x, const vf_real *y, const vf_ode_options *o)
{
    double s = 0;
    for (int64_t i = 0; i < size; i++) {
        double m = fabs((double)x[i]);
        if (y) m = fmax(m, fabs((double)y[i]));
        double r = (double)v[i] / (o->atol + o->rtol * m);
        s += r * r;
    }
    return size > 0 ? sqrt(s / (double)size) : 0;
}

/* Hairer, Norsett & Wanner's first step (Solving ODEs I, II.4): from the sizes of x, f(x) and the
 * change of f over a trial Euler step. k0 = f(t0, x); tmp and k1 are scratch. */
static vf_status first_step(vf_ode_field f, void *ctx, int64_t size, const vf_real *x, double t0, double dir,
                            double span, const vf_ode_options *o, const vf_real *k0, vf_real *tmp, vf_real *k1,
                            vf_ode_stats *st, double *h)
{
    double d0 = scaled_rms(size, x, x, NULL, o), d1 = scaled_rms(size, k0, x, NULL, o);
    double h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
    h0 = fmin(h0, span);
    for (int64_t i = 0; i < size; i++) tmp[i] = (vf_real)((double)x[i] + dir * h0 * (double)k0[i]);
    vf_status s = vf__ode_eval(f, ctx, t0 + dir * h0, size, tmp, k1, st);
    if (s != VF_OK) return s;
    for (int64_t i = 0; i < size; i++) tmp[i] = k1[i] - k0[i];
    double d2 = scaled_rms(size, tmp, x, NULL, o) / h0;
    double h1 = fmax(d1, d2) <= 1e-15 ? fmax(1e-6, h0 * 1e-3) : pow(0.01 / fmax(d1, d2), 1.0 / 5);
    *h = fmin(fmin(100 * h0, h1), span);
    return VF_OK;
}

static vf_status solve_dopri5(vf_ode_field f, void *ctx, int64_t size, vf_real *x, double t0, double t1,
                              const vf_ode_options *o, vf_ode_stats *st)
{
    if (!(o->rtol > 0) || !(o->atol > 0))
        return vf__error(VF_ERR_ARG, "ode: dopri5 needs rtol > 0 and atol > 0 (got %g, %g)", o->rtol, o->atol);
    if (!isfinite(t0) || !isfinite(t1)) return vf__error(VF_ERR_ARG, "ode: times must be finite");
    if (o->max_steps < 1) return vf__error(VF_ERR_ARG, "ode: max_steps must be >= 1");
    if (t0 == t1) return VF_OK;
    double dir = t1 > t0 ? 1 : -1, span = fabs(t1 - t0);
    double min_step = o->min_step > 0 ? o->min_step : 1e-10 * span;
    vf_real *buf = vf_malloc((size_t)9 * (size_t)size * sizeof *buf);
    if (!buf) return vf__error(VF_ERR_NOMEM, "ode: out of memory for %lld stage values", (long long)size);
    vf_real *k[7], *y = buf + 7 * (size_t)size, *err = buf + 8 * (size_t)size;
    for (int j = 0; j < 7; j++) k[j] = buf + (size_t)j * (size_t)size;
    double t = t0, h = 0;
    vf_status s = vf__ode_eval(f, ctx, t, size, x, k[0], st);
    if (s == VF_OK) s = o->first_step > 0 ? VF_OK : first_step(f, ctx, size, x, t0, dir, span, o, k[0], y, k[1], st, &h);
    if (o->first_step > 0) h = fmin(o->first_step, span);
    while (s == VF_OK && dir * (t1 - t) > 0) {
        if (st->steps + st->rejected >= o->max_steps) {
            s = vf__error(VF_ERR_NUMERIC, "ode: dopri5 needed more than %lld steps (at t = %g of %g)",
                          (long long)o->max_steps, t, t1);
            break;
        }
        int last = h >= fabs(t1 - t);
        if (last) h = fabs(t1 - t);
        double hs = dir * h;
        for (int j = 1; j < 7 && s == VF_OK; j++) {
            combine(size, y, x, hs, j, dp_a[j], k);
            s = vf__ode_eval(f, ctx, j == 6 ? t + hs : t + dp_c[j] * hs, size, y, k[j], st);
        }
        if (s != VF_OK) break;
        /* y = the 5th-order solution (stage 7's input); err = h sum e_j k_j */
        for (int64_t i = 0; i < size; i++) {
            double e = 0;
            for (int j = 0; j < 7; j++) e += dp_e[j] * (double)k[j][i];
            err[i] = (vf_real)(hs * e);
        }
        double norm = scaled_rms(size, err, x, y, o);
        if (!isfinite(norm)) {
            /* a non-finite trial state: shrink the step, unless it is already as small as allowed */
            if (h <= min_step) {
                s = vf__ode_check_finite("ode", y, size, t + hs);
                if (s == VF_OK) s = vf__error(VF_ERR_NUMERIC, "ode: dopri5's error estimate is not finite at t = %g", t);
                break;
            }
            st->rejected++;
            h = fmax(h * 0.2, min_step);
            continue;
        }
        if (norm <= 1) {
            memcpy(x, y, (size_t)size * sizeof *x);
            memcpy(k[0], k[6], (size_t)size * sizeof *x); /* first same as last */
            t = last ? t1 : t + hs;
            st->steps++;
            if (o->progress) o->progress(o->progress_ctx, fabs(t - t0) / span);
        } else {
            st->rejected++;
            if (h <= min_step) {
                s = vf__error(VF_ERR_NUMERIC, "ode: dopri5's step fell below min_step = %g at t = %g (the field may be "
                              "stiff or singular there)", min_step, t);
                break;
            }
        }
        double factor = norm == 0 ? 10 : fmin(10, fmax(0.2, 0.9 * pow(norm, -0.2)));
        if (norm > 1) factor = fmin(factor, 1);
        h = fmax(h * factor, min_step);
    }
    vf_free(buf);
    return s;
}

vf_status vf_ode_solve(vf_ode_field f, void *ctx, int64_t size, vf_real *x, double t0, double t1,
                       const vf_ode_options *o, vf_ode_stats *stats)
{
    vf_ode_stats local;
    vf_ode_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!f || !o || (size > 0 && !x)) return vf__error(VF_ERR_ARG, "ode: NULL field, options or state");
    if (size < 0) return vf__error(VF_ERR_ARG, "ode: negative state size %lld", (long long)size);
    if ((unsigned)o->solver >= VF_SOLVER_COUNT) return vf__error(VF_ERR_ARG, "ode: unknown solver %d", (int)o->solver);
    if (vf_solver_is_stochastic(o->solver))
        return vf__error(VF_ERR_ARG, "ode: %s is an SDE solver (use vf_sde_solve)", vf_solver_name(o->solver));
    vf_status s = vf__ode_check_finite("ode", x, size, t0);
    if (s != VF_OK) return s;
    return o->solver == VF_SOLVER_DOPRI5 ? solve_dopri5(f, ctx, size, x, t0, t1, o, st)
                                         : solve_fixed(f, ctx, size, x, t0, t1, o, st);
}
