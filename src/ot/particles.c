/* particles.c — the particle-flow driver of vf_ot.h: checks, the step-size schedule, and the loop
 * moving x [n, d] in place by SVGD (toward a target), the MMD flow or the sliced-Wasserstein flow
 * (toward samples y [m, d]). Directions are in particles_svgd.c and particles_sliced.c.
 *
 * Ownership: x is the caller's and is updated in place; y and the target are borrowed. Work arrays
 * come from vf_malloc and are freed on every path. Randomness (the slicing directions) comes from a
 * generator seeded with o->seed, so a seed gives the same run. */
#include <math.h>
#include <string.h>
#include <strings.h>
#include "ot/ot_internal.h"
#include "varflow/vf_ot.h"

#define SVGD_MEDIAN_POINTS 1000
#define ADAGRAD_ALPHA 0.9
#define ADAGRAD_FUDGE 1e-6

static const char *const method_names[] = {"svgd", "mmd", "swf"};

int vf_particle_method_from_name(const char *name)
{
    for (int i = 0; name && i < 3; i++)
        if (strcasecmp(name, method_names[i]) == 0) return i;
    return -1;
}

const char *vf_particle_method_name(vf_particle_method m)
{
    return (int)m >= 0 && (int)m < 3 ? method_names[m] : "unknown";
}

vf_particle_options vf_particle_default_options(vf_particle_method method)
{
    vf_particle_options o;
    memset(&o, 0, sizeof o);
    o.method = method;
    o.steps = 500;
    o.schedule = VF_STEP_CONSTANT;
    o.final_fraction = 0.01;
    o.adagrad = 0;
    o.bandwidth = 0;
    o.slices = 16;
    o.seed = 0;
    switch (method) {
    case VF_PARTICLES_SVGD: o.step_size = 0.02; break;
    case VF_PARTICLES_MMD: o.step_size = 1.0; break;
    case VF_PARTICLES_SWF: o.step_size = 0.5; break;
    }
    return o;
}

double vf_particle_step_size(const vf_particle_options *o, int64_t t)
{
    if (!o) return NAN;
    if (o->schedule == VF_STEP_EXP && o->steps > 1)
        return o->step_size * pow(o->final_fraction, (double)t / (double)(o->steps - 1));
    return o->step_size;
}

static vf_status check_options(const vf_particle_options *o, const vf_target *target, int64_t m, const vf_real *y,
                               int64_t n, int64_t d, const vf_real *x)
{
    if (!o || !x || n < 1 || d < 1)
        return vf__error(VF_ERR_ARG, "particles: need options and particles x [n, d] (n %lld, d %lld)", (long long)n,
                         (long long)d);
    if ((int)o->method < 0 || (int)o->method > 2)
        return vf__error(VF_ERR_ARG, "particles: unknown method %d (svgd, mmd, swf)", (int)o->method);
    const char *name = method_names[o->method];
    if (o->steps < 1) return vf__error(VF_ERR_ARG, "particles %s: steps must be >= 1, got %lld", name, (long long)o->steps);
    if (!(o->step_size > 0) || !isfinite(o->step_size))
        return vf__error(VF_ERR_ARG, "particles %s: step size must be > 0, got %g", name, o->step_size);
    if (o->schedule != VF_STEP_CONSTANT && o->schedule != VF_STEP_EXP)
        return vf__error(VF_ERR_ARG, "particles %s: unknown schedule %d", name, (int)o->schedule);
    if (o->schedule == VF_STEP_EXP && !(o->final_fraction > 0 && o->final_fraction <= 1))
        return vf__error(VF_ERR_ARG, "particles %s: final fraction must lie in (0, 1], got %g", name, o->final_fraction);
    if (o->method == VF_PARTICLES_SVGD) {
        if (!target || !target->log_prob)
            return vf__error(VF_ERR_ARG, "particles svgd: needs a target (its score moves the particles)");
        if (target->dim != d)
            return vf__error(VF_ERR_SHAPE, "particles svgd: the target has dimension %lld, the particles %lld",
                             (long long)target->dim, (long long)d);
        if (n < 2 && o->bandwidth <= 0) return vf__error(VF_ERR_ARG, "particles svgd: the median bandwidth needs n >= 2");
        if (!isfinite(o->bandwidth)) return vf__error(VF_ERR_ARG, "particles svgd: bandwidth is not finite");
    } else {
        if (!y || m < 1) return vf__error(VF_ERR_ARG, "particles %s: needs target samples y [m, d], m >= 1", name);
        if (o->slices < 0 || (o->method == VF_PARTICLES_SWF && o->slices < 1))
            return vf__error(VF_ERR_ARG, "particles %s: slices must be >= %d, got %lld", name,
                             o->method == VF_PARTICLES_SWF ? 1 : 0, (long long)o->slices);
        for (int64_t i = 0; i < m * d; i++)
            if (!isfinite((double)y[i]))
                return vf__error(VF_ERR_ARG, "particles %s: y[%lld, %lld] is not finite", name, (long long)(i / d),
                                 (long long)(i % d));
    }
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite((double)x[i]))
            return vf__error(VF_ERR_ARG, "particles %s: x[%lld, %lld] is not finite", name, (long long)(i / d),
                             (long long)(i % d));
    return VF_OK;
}

vf_status vf_particles_run(const vf_particle_options *o, const vf_target *target, int64_t m, const vf_real *y,
                           int64_t n, int64_t d, vf_real *x, vf_particle_callback callback, void *user)
{
    vf_status s = check_options(o, target, m, y, n, d, x);
    if (s != VF_OK) return s;
    const char *name = method_names[o->method];
    int svgd = o->method == VF_PARTICLES_SVGD;
    /* dir [n, d]; svgd: scores [n, d], history [n, d], median work; mmd/swf: sliced work */
    size_t pairs = (size_t)(VF_MIN(n, SVGD_MEDIAN_POINTS) * (VF_MIN(n, SVGD_MEDIAN_POINTS) - 1) / 2);
    size_t extra = svgd ? (size_t)(2 * n * d) + pairs : vf__sliced_work_doubles(n, m, d);
    double *buf = vf_malloc(((size_t)(n * d) + extra) * sizeof *buf);
    if (!buf) return vf__error(VF_ERR_NOMEM, "particles %s: out of memory", name);
    double *dir = buf, *scores = dir + n * d, *hist = scores + n * d, *median_work = hist + n * d;
    double *work = dir + n * d;
    vf_rng rng;
    vf_rng_init(&rng, o->seed, 0x50415254u);
    if (callback && callback(0, n, d, x, user)) goto done;

    for (int64_t t = 0; t < o->steps; t++) {
        double tau = vf_particle_step_size(o, t);
        if (svgd) {
            s = vf_target_scores(target, n, x, NULL, scores);
            if (s != VF_OK) break;
            double sigma2;
            if (o->bandwidth > 0) {
                sigma2 = o->bandwidth * o->bandwidth;
            } else { /* Liu & Wang's heuristic: k = exp(-r^2 log(n + 1) / med^2) */
                double med2 = 0;
                s = vf__median_sq_distance(n, d, x, SVGD_MEDIAN_POINTS, median_work, &med2);
                if (s != VF_OK) break;
                sigma2 = med2 > 0 ? 0.5 * med2 / log((double)n + 1) : 1.0;
            }
            vf__svgd_phi(n, d, x, scores, sigma2, dir);
            for (int64_t i = 0; i < n * d; i++) {
                double g = dir[i];
                if (o->adagrad) {
                    hist[i] = t == 0 ? g * g : ADAGRAD_ALPHA * hist[i] + (1 - ADAGRAD_ALPHA) * g * g;
                    g /= ADAGRAD_FUDGE + sqrt(hist[i]);
                }
                x[i] = (vf_real)((double)x[i] + tau * g);
            }
        } else if (o->method == VF_PARTICLES_MMD) {
            s = vf__mmd_flow_grad(n, m, d, x, y, o->slices, &rng, work, dir);
            if (s != VF_OK) break;
            for (int64_t i = 0; i < n * d; i++) x[i] = (vf_real)((double)x[i] - tau * dir[i]);
        } else {
            s = vf__swf_velocity(n, m, d, x, y, o->slices, &rng, work, dir);
            if (s != VF_OK) break;
            for (int64_t i = 0; i < n * d; i++) x[i] = (vf_real)((double)x[i] + tau * dir[i]);
        }
        for (int64_t i = 0; i < n * d; i++)
            if (!isfinite((double)x[i])) {
                s = vf__error(VF_ERR_NUMERIC, "particles %s: a particle left the finite numbers at step %lld (lower the step size)",
                              name, (long long)(t + 1));
                break;
            }
        if (s != VF_OK) break;
        if (callback && callback(t + 1, n, d, x, user)) break;
    }
done:
    vf_free(buf);
    return s;
}
