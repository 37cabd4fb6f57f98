/* target_energies.c — the four 2-D energies of Rezende & Mohamed (2015, Table 1) as targets
 * log p(z) = -U(z):
 *   U1 = 1/2 ((|z| - 2) / 0.4)^2 - log(exp(-1/2 ((z1 - 2) / 0.6)^2) + exp(-1/2 ((z1 + 2) / 0.6)^2))
 *   U2 = 1/2 ((z2 - w1) / 0.4)^2
 *   U3 = -log(exp(-1/2 ((z2 - w1) / 0.35)^2) + exp(-1/2 ((z2 - w1 + w2) / 0.35)^2))
 *   U4 = -log(exp(-1/2 ((z2 - w1) / 0.4)^2) + exp(-1/2 ((z2 - w1 + w3) / 0.35)^2))
 * with w1 = sin(2 pi z1 / 4), w2 = 3 exp(-1/2 ((z1 - 1) / 0.6)^2), w3 = 3 sigmoid((z1 - 1) / 0.3).
 * U1 is normalizable on the plane (log Z = 1.8775); U2..U4 are not (they do not decay along z1), so
 * they are defined on the box [-4, 4]^2 with log p = -inf outside. The log Z values below come from
 * a 4001^2 trapezoid grid (tests/test_target.c re-derives them on a coarser grid).
 *
 * Exact samplers by rejection: U2..U4 from the uniform on the box with the bound exp(-U) <= M (M = 1
 * for U2, 2 for U3 and U4: a log-sum-exp of two terms <= 0); U1 from the ring envelope
 * 2 exp(-1/2 ((|z| - 2) / 0.4)^2) >= exp(-U1), itself drawn in polar coordinates (uniform angle; the
 * radius density r exp(-1/2 ((r - 2) / s)^2) on r > 0 by rejection from the mixture
 * (2 + |r - 2|) exp(-1/2 ((r - 2) / s)^2) of a normal and a two-sided Rayleigh), then accepted with
 * probability (e^a + e^b) / 2 of U1's two bumps. */
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

/* Rejection from the box: accept a uniform z when M u < exp(log p(z)). */
static void box_sample(double (*lp)(void *, const double *, double *), double m, vf_rng *r, double *z)
{
    for (;;) {
        z[0] = ENERGY_BOX * (2 * vf_rng_uniform(r) - 1);
        z[1] = ENERGY_BOX * (2 * vf_rng_uniform(r) - 1);
        if (m * vf_rng_uniform(r) < exp(lp(NULL, z, NULL))) return;
    }
}

static void u2_sample(void *state, vf_rng *r, double *z)
{
    (void)state;
    box_sample(u2_log_prob, 1.0, r, z);
}

static void u3_sample(void *state, vf_rng *r, double *z)
{
    (void)state;
    box_sample(u3_log_prob, 2.0, r, z);
}

static void u4_sample(void *state, vf_rng *r, double *z)
{
    (void)state;
    box_sample(u4_log_prob, 2.0, r, z);
}

static void u1_sample(void *state, vf_rng *r, double *z)
{
    (void)state;
    const double s = 0.4, wn = 2 * sqrt(2 * ENERGY_PI) * s, wr = 2 * s * s; /* the envelope's two masses */
    for (;;) {
        double dr = vf_rng_uniform(r) * (wn + wr) < wn ? s * vf_rng_normal(r)
                                                        : s * sqrt(-2 * log1p(-vf_rng_uniform(r))) *
                                                              (vf_rng_uniform(r) < 0.5 ? -1 : 1);
        double rad = 2 + dr;
        if (rad <= 0 || vf_rng_uniform(r) * (2 + fabs(dr)) >= rad) continue;
        double th = 2 * ENERGY_PI * vf_rng_uniform(r);
        z[0] = rad * cos(th);
        z[1] = rad * sin(th);
        double a = -0.5 * ((z[0] - 2) / 0.6) * ((z[0] - 2) / 0.6), b = -0.5 * ((z[0] + 2) / 0.6) * ((z[0] + 2) / 0.6);
        if (2 * vf_rng_uniform(r) < exp(a) + exp(b)) return;
    }
}

static vf_status make_energy(vf_target *out, double (*lp)(void *, const double *, double *), double log_z,
                             void (*sample)(void *, vf_rng *, double *))
{
    out->dim = 2;
    out->state = NULL;
    out->log_prob = lp;
    out->free = NULL;
    out->sample = sample; /* exact, by rejection */
    out->has_log_z = 1;
    out->log_z = log_z;
    return VF_OK;
}

vf_status vf__target_make_u1(const double *vals, const char *const *strs, vf_target *out)
{
    (void)vals, (void)strs;
    return make_energy(out, u1_log_prob, 1.8775016, u1_sample);
}

vf_status vf__target_make_u2(const double *vals, const char *const *strs, vf_target *out)
{
    (void)vals, (void)strs;
    return make_energy(out, u2_log_prob, 2.0820893, u2_sample);
}

vf_status vf__target_make_u3(const double *vals, const char *const *strs, vf_target *out)
{
    (void)vals, (void)strs;
    return make_energy(out, u3_log_prob, 2.6417051, u3_sample);
}

vf_status vf__target_make_u4(const double *vals, const char *const *strs, vf_target *out)
{
    (void)vals, (void)strs;
    return make_energy(out, u4_log_prob, 2.6845676, u4_sample);
}
