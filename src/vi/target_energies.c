/* target_energies.c — the four 2-D energies of Rezende & Mohamed (2015, Table 1) as targets
 * log p(z) = -U(z):
 *   U1 = 1/2 ((|z| - 2) / 0.4)^2 - log(exp(-1/2 ((z1 - 2) / 0.6)^2) + exp(-1/2 ((z1 + 2) / 0.6)^2))
 *   U2 = 1/2 ((z2 - w1) / 0.4)^2
 *   U3 = -log(exp(-1/2 ((z2 - w1) / 0.35)^2) + exp(-1/2 ((z2 - w1 + w2) / 0.35)^2))
 *   U4 = -log(exp(-1/2 ((z2 - w1) / 0.4)^2) + exp(-1/2 ((z2 - w1 + w3) / 0.35)^2))
 * with w1 = sin(2 pi z1 / 4), w2 = 3 exp(-1/2 ((z1 - 1) / 0.6)^2), w3 = 3 sigmoid((z1 - 1) / 0.3).
 * U1 is normalizable on the plane (log Z = 1.8775); U2..U4 are not (they do not decay along z1), so
 * they are defined on the box [-4, 4]^2 with log p = -inf outside. The log Z values below come from
 * a 4001^2 trapezoid grid (tests/test_target.c re-derives them on a coarser grid). */
#include <math.h>
#include "vi/vi_internal.h"

#define ENERGY_PI 3.14159265358979323846
#define ENERGY_BOX 4.0

/* log(exp(a) + exp(b)) and its weights da = e^a / (e^a + e^b), db = 1 - da. */
static double lse2(double a, double b, double *da, double *db)
{
    double m = a > b ? a : b;
    double ea = exp(a - m), eb = exp(b - m), s = ea + eb;
    *da = ea / s;
    *db = eb / s;
    return m + log(s);
}

static double u1_log_prob(void *state, const double *z, double *grad)
{
    (void)state;
    double r = sqrt(z[0] * z[0] + z[1] * z[1]);
    double q = (r - 2) / 0.4;
    double a = -0.5 * ((z[0] - 2) / 0.6) * ((z[0] - 2) / 0.6);
    double b = -0.5 * ((z[0] + 2) / 0.6) * ((z[0] + 2) / 0.6);
    double wa, wb;
    double l = lse2(a, b, &wa, &wb);
    if (grad) {
        /* d/dz of -1/2 q^2 = -q / 0.4 * z / r (0 at the origin, where r's gradient is undefined) */
        double c = r > 0 ? -q / 0.4 / r : 0;
        grad[0] = c * z[0] + wa * (-(z[0] - 2) / 0.36) + wb * (-(z[0] + 2) / 0.36);
        grad[1] = c * z[1];
    }
    return -0.5 * q * q + l;
}

static int outside_box(const double *z, double *grad)
{
    if (fabs(z[0]) <= ENERGY_BOX && fabs(z[1]) <= ENERGY_BOX) return 0;
    if (grad) grad[0] = grad[1] = 0;
    return 1;
}

static double w1_of(double z1, double *dw) /* sin(2 pi z1 / 4) */
{
    *dw = (ENERGY_PI / 2) * cos(ENERGY_PI / 2 * z1);
    return sin(ENERGY_PI / 2 * z1);
}

static double u2_log_prob(void *state, const double *z, double *grad)
{
    (void)state;
    if (outside_box(z, grad)) return -INFINITY;
    double dw1, w1 = w1_of(z[0], &dw1);
    double e = (z[1] - w1) / 0.4;
    if (grad) {
        grad[0] = e / 0.4 * dw1;
        grad[1] = -e / 0.4;
    }
    return -0.5 * e * e;
}

static double u3_log_prob(void *state, const double *z, double *grad)
{
    (void)state;
    if (outside_box(z, grad)) return -INFINITY;
    double dw1, w1 = w1_of(z[0], &dw1);
    double t = (z[0] - 1) / 0.6;
    double w2 = 3 * exp(-0.5 * t * t), dw2 = -w2 * t / 0.6;
    double ea = (z[1] - w1) / 0.35, eb = (z[1] - w1 + w2) / 0.35;
    double wa, wb;
    double l = lse2(-0.5 * ea * ea, -0.5 * eb * eb, &wa, &wb);
    if (grad) {
        grad[0] = wa * (ea / 0.35 * dw1) + wb * (-eb / 0.35 * (dw2 - dw1));
        grad[1] = -(wa * ea + wb * eb) / 0.35;
    }
    return l;
}

static double u4_log_prob(void *state, const double *z, double *grad)
{
    (void)state;
    if (outside_box(z, grad)) return -INFINITY;
    double dw1, w1 = w1_of(z[0], &dw1);
    double s = 1 / (1 + exp(-(z[0] - 1) / 0.3));
    double w3 = 3 * s, dw3 = 3 * s * (1 - s) / 0.3;
    double ea = (z[1] - w1) / 0.4, eb = (z[1] - w1 + w3) / 0.35;
    double wa, wb;
    double l = lse2(-0.5 * ea * ea, -0.5 * eb * eb, &wa, &wb);
    if (grad) {
        grad[0] = wa * (ea / 0.4 * dw1) + wb * (-eb / 0.35 * (dw3 - dw1));
        grad[1] = -(wa * ea / 0.4 + wb * eb / 0.35);
    }
    return l;
}

static vf_status make_energy(vf_target *out, double (*lp)(void *, const double *, double *), double log_z)
{
    out->dim = 2;
    out->state = NULL;
    out->log_prob = lp;
    out->free = NULL;
    out->sample = NULL; /* no exact sampler */
    out->has_log_z = 1;
    out->log_z = log_z;
    return VF_OK;
}

vf_status vf__target_make_u1(const double *vals, const char *const *strs, vf_target *out)
{
    (void)vals, (void)strs;
    return make_energy(out, u1_log_prob, 1.8775016);
}

vf_status vf__target_make_u2(const double *vals, const char *const *strs, vf_target *out)
{
    (void)vals, (void)strs;
    return make_energy(out, u2_log_prob, 2.0820893);
}

vf_status vf__target_make_u3(const double *vals, const char *const *strs, vf_target *out)
{
    (void)vals, (void)strs;
    return make_energy(out, u3_log_prob, 2.6417051);
}

vf_status vf__target_make_u4(const double *vals, const char *const *strs, vf_target *out)
{
    (void)vals, (void)strs;
    return make_energy(out, u4_log_prob, 2.6845676);
}
