/* test_data.c — the 2-D toy data sets: exact support and moments against Monte Carlo error, equal
 * mixture weights by chi-square, determinism by seed, the scale key, and errors for bad specs.
 *
 * Moment checks: the sample mean of a per-point statistic f must be within 4 standard errors
 * (sd(f) / sqrt(n), estimated from the same sample) of its exact value; with fixed seeds each check
 * is deterministic, and a correct sampler fails one with probability about 6e-5 per seed.
 * Chi-square checks use the 0.999 quantile of the chi-square law with k - 1 degrees of freedom.
 */
#include <stdlib.h>
#include "vf_test.h"
#include "varflow.h"

#define PI 3.14159265358979323846
#define N_STAT 100000
/* 0.999 quantiles of chi-square with 3, 4 and 7 degrees of freedom. */
#define CHI2_3 16.266
#define CHI2_4 18.467
#define CHI2_7 24.322
/* Float builds store points with 24-bit mantissas. */
#define GEOM_TOL (VF_USE_DOUBLE ? 1e-12 : 2e-6)

static vf_tensor draw(const char *spec, int64_t n, uint64_t seed)
{
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    vf_tensor x;
    vf_status s = vf_toy_sample_spec(spec, n, &r, &x);
    CHECK_MSG(s == VF_OK, "%s: %s", spec, vf_last_error());
    return x;
}

typedef double (*stat_fn)(double x, double y);

/* Mean of f over the rows of x [n, 2] and its standard error. */
static void moment(const vf_tensor *x, stat_fn f, double *mean, double *se)
{
    int64_t n = x->shape[0];
    double s = 0.0, s2 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double v = f(x->data[2 * i], x->data[2 * i + 1]);
        s += v;
        s2 += v * v;
    }
    double m = s / (double)n;
    double var = s2 / (double)n - m * m;
    *mean = m;
    *se = sqrt(var > 0.0 ? var / (double)n : 0.0);
}

/* CHECK that E f = expected within 4 standard errors (plus a floor for exactly-determined values). */
#define CHECK_MOMENT(x, f, expected)                                                              \
    do {                                                                                          \
        double m_, se_;                                                                           \
        moment(&(x), f, &m_, &se_);                                                               \
        CHECK_NEAR(m_, expected, 4.0 * se_ + 1e-9);                                               \
    } while (0)

static double f_x(double x, double y) { (void)y; return x; }
static double f_y(double x, double y) { (void)x; return y; }
static double f_xx(double x, double y) { (void)y; return x * x; }
static double f_yy(double x, double y) { (void)x; return y * y; }
static double f_r2(double x, double y) { return x * x + y * y; }

static double chi_square(const int64_t *counts, int k, int64_t n)
{
    double e = (double)n / k, c = 0.0;
    for (int i = 0; i < k; i++) c += ((double)counts[i] - e) * ((double)counts[i] - e) / e;
    return c;
}

static void test_names(void)
{
    const char *const *names = vf_toy_names();
    const char *expected[] = {"moons",          "8gaussians",  "checkerboard",   "pinwheel",
                              "2spirals",       "rings",       "scurve",         "sf2m-gaussians",
                              "sf2m-moons",     "sf2m-scurve", "sf2m-8gaussians", "sf2m-moons7"};
    int k = 0;
    for (; names[k]; k++) {
        CHECK(k < 12);
        if (k < 12) CHECK(strcmp(names[k], expected[k]) == 0);
        const char *d = vf_toy_defaults(names[k]);
        CHECK(d != NULL && strstr(d, "scale=1") != NULL);
    }
    CHECK(k == 12);
    /* The documented defaults (test_shape_finite_and_defaults_string checks they are the ones used). */
    CHECK(strcmp(vf_toy_defaults("moons"), "noise=0.1,scale=1") == 0);
    CHECK(strcmp(vf_toy_defaults("8gaussians"), "noise=0.5,scale=1") == 0);
    CHECK(strcmp(vf_toy_defaults("checkerboard"), "scale=1") == 0);
    CHECK(strcmp(vf_toy_defaults("pinwheel"), "radial=0.3,tangential=0.1,arms=5,rate=0.25,scale=1") == 0);
    CHECK(strcmp(vf_toy_defaults("2spirals"), "noise=0.1,scale=1") == 0);
    CHECK(strcmp(vf_toy_defaults("rings"), "noise=0.08,scale=1") == 0);
    CHECK(strcmp(vf_toy_defaults("scurve"), "noise=0.1,scale=1") == 0);
    CHECK(vf_toy_defaults("nope") == NULL);
    CHECK(vf_toy_defaults(NULL) == NULL);
}

static void test_shape_finite_and_defaults_string(void)
{
    for (const char *const *p = vf_toy_names(); *p; p++) {
        vf_tensor x = draw(*p, 1000, 1);
        CHECK(x.ndim == 2 && x.shape[0] == 1000 && x.shape[1] == 2 && x.owned != NULL);
        CHECK(vf_tensor_all_finite(&x));
        /* The defaults string is itself a valid option string giving the same points. */
        vf_rng r;
        vf_rng_init(&r, 1, 0);
        vf_tensor y;
        CHECK_STATUS(vf_toy_sample(*p, vf_toy_defaults(*p), 1000, &r, &y), VF_OK);
        CHECK(y.data && memcmp(x.data, y.data, sizeof(vf_real) * 2000) == 0);
        vf_tensor_free(&x);
        vf_tensor_free(&y);
    }
}

static void test_determinism(void)
{
    for (const char *const *p = vf_toy_names(); *p; p++) {
        vf_tensor a = draw(*p, 500, 7), b = draw(*p, 500, 7), c = draw(*p, 500, 8);
        CHECK_MSG(memcmp(a.data, b.data, sizeof(vf_real) * 1000) == 0, "%s: same seed, different points", *p);
        CHECK_MSG(memcmp(a.data, c.data, sizeof(vf_real) * 1000) != 0, "%s: seeds 7 and 8 agree", *p);
        vf_tensor_free(&a);
        vf_tensor_free(&b);
        vf_tensor_free(&c);
    }
}

static void test_scale(void)
{
    for (const char *const *p = vf_toy_names(); *p; p++) {
        char spec[64];
        snprintf(spec, sizeof spec, "%s:scale=2.5", *p);
        vf_tensor a = draw(*p, 300, 3), b = draw(spec, 300, 3);
        double worst = 0.0;
        for (int i = 0; i < 600; i++) {
            double d = fabs((double)b.data[i] - 2.5 * (double)a.data[i]) / (1.0 + fabs(2.5 * (double)a.data[i]));
            if (d > worst) worst = d;
        }
        CHECK_MSG(worst < GEOM_TOL, "%s: scale=2.5 is off by %g", *p, worst);
        vf_tensor_free(&a);
        vf_tensor_free(&b);
    }
}

/* ---- 8gaussians ------------------------------------------------------------------------- */

static int nearest_centre(double x, double y, double *dist)
{
    int best = 0;
    double bd = HUGE_VAL;
    for (int k = 0; k < 8; k++) {
        double cx = 4.0 * cos(k * PI / 4) / 1.414, cy = 4.0 * sin(k * PI / 4) / 1.414;
        double d = hypot(x - cx, y - cy);
        if (d < bd) {
            bd = d;
            best = k;
        }
    }
    *dist = bd;
    return best;
}

static void test_8gaussians(void)
{
    vf_tensor x = draw("8gaussians", N_STAT, 11);
    CHECK_MOMENT(x, f_x, 0.0);
    CHECK_MOMENT(x, f_y, 0.0);
    /* E x1^2 = (E c1^2 + 0.5^2) / 1.414^2 with E c1^2 = 16 * (1 + 1 + 4 * 0.5) / 8 = 8. */
    double exact = (8.0 + 0.25) / (1.414 * 1.414);
    CHECK_MOMENT(x, f_xx, exact);
    CHECK_MOMENT(x, f_yy, exact);
    int64_t counts[8] = {0};
    for (int64_t i = 0; i < N_STAT; i++) {
        double d;
        counts[nearest_centre(x.data[2 * i], x.data[2 * i + 1], &d)]++;
    }
    CHECK(chi_square(counts, 8, N_STAT) < CHI2_7);
    vf_tensor_free(&x);

    /* Residual to the nearest centre: E |r|^2 = 2 (noise / 1.414)^2. With noise 0.2 the centres are
     * 7.6 sd apart from the bisectors, so the nearest centre is the true one. */
    x = draw("8gaussians:noise=0.2", N_STAT, 13);
    double s = 0.0, s2 = 0.0;
    for (int64_t i = 0; i < N_STAT; i++) {
        double d;
        nearest_centre(x.data[2 * i], x.data[2 * i + 1], &d);
        s += d * d;
        s2 += d * d * d * d;
    }
    double m = s / N_STAT, se = sqrt((s2 / N_STAT - m * m) / N_STAT);
    CHECK_NEAR(m, 2.0 * 0.04 / (1.414 * 1.414), 4.0 * se);
    vf_tensor_free(&x);

    /* Without noise every point is exactly a centre. */
    x = draw("8gaussians:noise=0", 1000, 12);
    for (int64_t i = 0; i < 1000; i++) {
        double d;
        nearest_centre(x.data[2 * i], x.data[2 * i + 1], &d);
        CHECK(d < 4 * GEOM_TOL);
    }
    vf_tensor_free(&x);
}

/* ---- the [SF]2M Table 2 sets: first and second moments against their closed forms ------------ */

static double f_pooled(double x, double y) { return 0.5 * (x + y); }
static double f_pooled2(double x, double y) { return 0.5 * (x * x + y * y); }

static void test_sf2m_sets(void)
{
    /* 5 (cos a, sin a) + N(0, 1) + N(0, 1e-8): E x^2 = 25 / 2 + 1 + 1e-8 */
    vf_tensor x = draw("sf2m-gaussians", N_STAT, 21);
    CHECK_MOMENT(x, f_x, 0.0);
    CHECK_MOMENT(x, f_y, 0.0);
    CHECK_MOMENT(x, f_xx, 13.5 + 1e-8);
    CHECK_MOMENT(x, f_yy, 13.5 + 1e-8);
    vf_tensor_free(&x);
    /* 2 m - (1, 0), m make_moons(0.05): E m = (1/2, 1/4), E m1^2 = 1 + n^2, E m2^2 = 5/8 - 1/pi + n^2 */
    x = draw("sf2m-moons", N_STAT, 22);
    CHECK_MOMENT(x, f_x, 0.0);
    CHECK_MOMENT(x, f_y, 0.5);
    CHECK_MOMENT(x, f_xx, 4.0 * 1.0025 - 4.0 * 0.5 + 1.0);
    CHECK_MOMENT(x, f_yy, 4.0 * (0.625 - 1.0 / PI + 0.0025));
    vf_tensor_free(&x);
    /* 1.5 (sin t, sign t (cos t - 1)), t ~ U(-3 pi / 2, 3 pi / 2): E sin^2 = 1/2, E cos = -2 / (3 pi) */
    x = draw("sf2m-scurve", N_STAT, 23);
    CHECK_MOMENT(x, f_x, 0.0);
    CHECK_MOMENT(x, f_y, 0.0);
    CHECK_MOMENT(x, f_xx, 2.25 * (0.5 + 0.0025));
    CHECK_MOMENT(x, f_yy, 2.25 * (1.5 + 4.0 / (3.0 * PI) + 0.0025));
    vf_tensor_free(&x);
    /* 3 (4 c + 0.5 z): E x^2 = 9 (16 / 2 + 1/4) */
    x = draw("sf2m-8gaussians", N_STAT, 24);
    CHECK_MOMENT(x, f_x, 0.0);
    CHECK_MOMENT(x, f_xx, 74.25);
    CHECK_MOMENT(x, f_yy, 74.25);
    vf_tensor_free(&x);
    /* standardized over both columns pooled, times 7: pooled mean 0, pooled second moment 49 */
    x = draw("sf2m-moons7", N_STAT, 25);
    CHECK_MOMENT(x, f_pooled, 0.0);
    CHECK_MOMENT(x, f_pooled2, 49.0);
    vf_tensor_free(&x);
}

/* ---- checkerboard ------------------------------------------------------------------------- */

static double frac_x(double x, double y) { (void)y; return x / 2 - floor(x / 2); }
static double frac_y(double x, double y) { (void)x; return y / 2 - floor(y / 2); }

static void test_checkerboard(void)
{
    vf_tensor x = draw("checkerboard", N_STAT, 21);
    int64_t counts[8] = {0}, outside = 0;
    for (int64_t i = 0; i < N_STAT; i++) {
        double a = x.data[2 * i] / 2, b = x.data[2 * i + 1] / 2;
        int ia = (int)floor(a), ib = (int)floor(b);
        if (a < -2 || a >= 2 || b < -2 || b >= 2 || ((ia + ib) & 1)) {
            outside++;
            continue;
        }
        counts[(ia + 2) * 2 + (ib + 2) / 2]++;      /* 4 columns x 2 black squares per column */
    }
    CHECK(outside == 0);
    CHECK(chi_square(counts, 8, N_STAT) < CHI2_7);
    /* Uniform inside each square: the position within its square has mean 1/2 on each axis. */
    CHECK_MOMENT(x, frac_x, 0.5);
    CHECK_MOMENT(x, frac_y, 0.5);
    vf_tensor_free(&x);
}

/* ---- moons ---------------------------------------------------------------------------- */

static void test_moons(void)
{
    /* Noise-free points lie on the two half-circles (undoing x = 2 p + (-1, -0.2)). */
    vf_tensor x = draw("moons:noise=0", 2000, 31);
    int64_t outer = 0;
    for (int64_t i = 0; i < 2000; i++) {
        double px = (x.data[2 * i] + 1.0) / 2.0, py = (x.data[2 * i + 1] + 0.2) / 2.0;
        double ro = hypot(px, py), ri = hypot(px - 1.0, py - 0.5);
        int on_outer = fabs(ro - 1.0) < 4 * GEOM_TOL && py >= -4 * GEOM_TOL;
        int on_inner = fabs(ri - 1.0) < 4 * GEOM_TOL && py <= 0.5 + 4 * GEOM_TOL;
        CHECK(on_outer || on_inner);
        outer += on_outer;
    }
    /* Each moon has probability 1/2: 4 standard deviations of a binomial(2000, 1/2). */
    CHECK_NEAR((double)outer, 1000.0, 4 * sqrt(500.0));
    vf_tensor_free(&x);

    /* With noise sigma = 0.1: E x = (0, 0.3), E x1^2 = 3 + 4 s^2, E x2^2 = 2.34 - 4/pi + 4 s^2. */
    double s2 = 0.01;
    x = draw("moons", N_STAT, 32);
    CHECK_MOMENT(x, f_x, 0.0);
    CHECK_MOMENT(x, f_y, 0.3);
    CHECK_MOMENT(x, f_xx, 3.0 + 4 * s2);
    CHECK_MOMENT(x, f_yy, 2.34 - 4.0 / PI + 4 * s2);
    vf_tensor_free(&x);
    x = draw("moons:noise=0.3", N_STAT, 33);
    CHECK_MOMENT(x, f_xx, 3.0 + 4 * 0.09);
    vf_tensor_free(&x);
}

/* ---- pinwheel ------------------------------------------------------------------------- */

static void test_pinwheel(void)
{
    /* Without noise: radius 2, angle -(2 pi k / 5 + 0.25 e), arms equally likely. */
    vf_tensor x = draw("pinwheel:radial=0,tangential=0", 5000, 41);
    int64_t counts[5] = {0}, misses = 0;
    for (int64_t i = 0; i < 5000; i++) {
        double a = x.data[2 * i], b = x.data[2 * i + 1];
        CHECK(fabs(hypot(a, b) - 2.0) < 8 * GEOM_TOL);
        int found = -1;
        for (int k = 0; k < 5; k++) {
            double ang = -(2 * PI * k / 5 + 0.25 * exp(1.0));
            if (hypot(a - 2 * cos(ang), b - 2 * sin(ang)) < 8 * GEOM_TOL) found = k;
        }
        if (found < 0)
            misses++;
        else
            counts[found]++;
    }
    CHECK(misses == 0);
    CHECK(chi_square(counts, 5, 5000) < CHI2_4);
    vf_tensor_free(&x);

    /* With noise: E |x|^2 = 4 (E r^2 + E s^2) = 4 (1 + 0.3^2 + 0.1^2); mean 0 by 5-fold symmetry. */
    x = draw("pinwheel", N_STAT, 42);
    CHECK_MOMENT(x, f_x, 0.0);
    CHECK_MOMENT(x, f_y, 0.0);
    CHECK_MOMENT(x, f_r2, 4.0 * (1.0 + 0.09 + 0.01));
    vf_tensor_free(&x);
    x = draw("pinwheel:arms=3,radial=0.5", N_STAT, 43);
    CHECK_MOMENT(x, f_r2, 4.0 * (1.0 + 0.25 + 0.01));
    vf_tensor_free(&x);
}

/* ---- 2spirals ------------------------------------------------------------------------- */

/* E |d|^2 for d = (-u cos u + a, u sin u + b), u = 3 pi sqrt(U), a, b ~ U(0, 1/2): with the density
 * 2u / (3 pi)^2 of u, E u^2 = 9 pi^2 / 2, E u cos u = -4 / (3 pi), E u sin u = 2 (9 pi^2 - 4) / (9 pi^2). */
static double spiral_d2(void)
{
    double eu2 = 4.5 * PI * PI, eucos = -4.0 / (3.0 * PI), eusin = 2.0 * (9 * PI * PI - 4) / (9 * PI * PI);
    return eu2 - 2 * 0.25 * eucos + 2 * 0.25 * eusin + 2.0 / 12.0;
}

static void test_2spirals(void)
{
    vf_tensor x = draw("2spirals", N_STAT, 51);
    CHECK_MOMENT(x, f_x, 0.0);
    CHECK_MOMENT(x, f_y, 0.0);
    CHECK_MOMENT(x, f_r2, spiral_d2() / 9.0 + 2 * 0.01);
    vf_tensor_free(&x);
    x = draw("2spirals:noise=0", N_STAT, 52);
    CHECK_MOMENT(x, f_r2, spiral_d2() / 9.0);
    vf_tensor_free(&x);
    x = draw("2spirals:noise=0.5", N_STAT, 53);
    CHECK_MOMENT(x, f_r2, spiral_d2() / 9.0 + 2 * 0.25);
    vf_tensor_free(&x);
}

/* ---- rings ---------------------------------------------------------------------------- */

static double f_ring_excess(double x, double y)
{
    double r2 = x * x + y * y, k = floor(sqrt(r2) / 0.75 + 0.5);
    k = k < 1 ? 1 : (k > 4 ? 4 : k);
    return r2 - 0.5625 * k * k;
}

static void test_rings(void)
{
    vf_tensor x = draw("rings:noise=0", 8000, 61);
    int64_t counts[4] = {0}, misses = 0;
    for (int64_t i = 0; i < 8000; i++) {
        double r = hypot(x.data[2 * i], x.data[2 * i + 1]);
        int k = (int)floor(r / 0.75 + 0.5) - 1;
        if (k < 0 || k > 3 || fabs(r - 0.75 * (k + 1)) > 8 * GEOM_TOL)
            misses++;
        else
            counts[k]++;
    }
    CHECK(misses == 0);
    CHECK(chi_square(counts, 4, 8000) < CHI2_3);
    vf_tensor_free(&x);

    /* E |x|^2 = 9 (1 + 9/16 + 1/4 + 1/16) / 4 + 2 noise^2; uniform angle gives mean 0. */
    x = draw("rings", N_STAT, 62);
    CHECK_MOMENT(x, f_x, 0.0);
    CHECK_MOMENT(x, f_y, 0.0);
    CHECK_MOMENT(x, f_r2, 9.0 * 1.875 / 4.0 + 2 * 0.0064);
    /* With R the nearest ring's radius (rings 0.75 apart = 4.7 noise sd to the midpoint, so R is the
     * true one): |x|^2 - R^2 = 2 R e_radial + |e|^2 has mean 2 noise^2. */
    CHECK_MOMENT(x, f_ring_excess, 2 * 0.0064);
    vf_tensor_free(&x);
}

/* ---- scurve --------------------------------------------------------------------------- */

static void test_scurve(void)
{
    /* Noise-free: p = x / 2 satisfies p1^2 + (1 - |p2|)^2 = 1, |p2| <= 2, and p2 has the sign opposite
     * to t while p1 = sin t. */
    vf_tensor x = draw("scurve:noise=0", 4000, 71);
    for (int64_t i = 0; i < 4000; i++) {
        double a = x.data[2 * i] / 2, b = x.data[2 * i + 1] / 2;
        CHECK(fabs(a * a + (1 - fabs(b)) * (1 - fabs(b)) - 1.0) < 8 * GEOM_TOL);
        CHECK(fabs(b) <= 2.0 + GEOM_TOL);
    }
    vf_tensor_free(&x);

    /* t ~ U(-3pi/2, 3pi/2): E sin^2 t = 1/2, E cos t = -2 / (3 pi), E (cos t - 1)^2 = 3/2 + 4 / (3 pi). */
    double s2 = 0.01;
    x = draw("scurve", N_STAT, 72);
    CHECK_MOMENT(x, f_x, 0.0);
    CHECK_MOMENT(x, f_y, 0.0);
    CHECK_MOMENT(x, f_xx, 4.0 * (0.5 + s2));
    CHECK_MOMENT(x, f_yy, 4.0 * (1.5 + 4.0 / (3.0 * PI) + s2));
    vf_tensor_free(&x);
    x = draw("scurve:noise=0.3", N_STAT, 73);
    CHECK_MOMENT(x, f_xx, 4.0 * (0.5 + 0.09));
    CHECK_MOMENT(x, f_yy, 4.0 * (1.5 + 4.0 / (3.0 * PI) + 0.09));
    vf_tensor_free(&x);
}

/* ---- errors ----------------------------------------------------------------------------- */

static void expect_arg_error(const char *spec, int64_t n, const char *needle)
{
    vf_rng r;
    vf_rng_init(&r, 0, 0);
    vf_tensor x;
    x.data = (vf_real *)&r;     /* must be cleared on failure */
    vf_status s = vf_toy_sample_spec(spec, n, &r, &x);
    CHECK_MSG(s == VF_ERR_ARG, "%s: status %d", spec, (int)s);
    CHECK_MSG(x.data == NULL && x.owned == NULL, "%s: output not left empty", spec);
    CHECK_MSG(strstr(vf_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", spec, vf_last_error(), needle);
}

static void test_errors(void)
{
    expect_arg_error("nope", 10, "moons, 8gaussians, checkerboard, pinwheel, 2spirals, rings, scurve");
    expect_arg_error("Moons", 10, "unknown set 'Moons'");
    expect_arg_error("", 10, "unknown set");
    expect_arg_error("moons:bogus=1", 10, "valid: noise, scale");
    expect_arg_error("checkerboard:noise=0.1", 10, "valid: scale");
    expect_arg_error("moons:noise", 10, "key=value");
    expect_arg_error("moons:noise=", 10, "noise");
    expect_arg_error("moons:noise=abc", 10, "'abc'");
    expect_arg_error("moons:noise=0.1x", 10, "'0.1x'");
    expect_arg_error("moons:noise=1e400", 10, "'1e400'");
    expect_arg_error("moons:noise=nan", 10, "'nan'");
    expect_arg_error("moons:noise=-0.1", 10, ">= 0");
    expect_arg_error("moons:noise=0.1,", 10, "key=value");
    expect_arg_error("pinwheel:arms=2.5", 10, "whole number");
    expect_arg_error("pinwheel:arms=0", 10, "arms");
    expect_arg_error("moons", 0, "at least 1");
    expect_arg_error("moons", -5, "at least 1");

    vf_rng r;
    vf_rng_init(&r, 0, 0);
    vf_tensor x;
    CHECK_STATUS(vf_toy_sample("moons", NULL, 10, NULL, &x), VF_ERR_ARG);
    CHECK_STATUS(vf_toy_sample(NULL, NULL, 10, &r, &x), VF_ERR_ARG);
    CHECK_STATUS(vf_toy_sample("moons", NULL, 10, &r, NULL), VF_ERR_ARG);
    CHECK_STATUS(vf_toy_sample_spec(NULL, 10, &r, &x), VF_ERR_ARG);
    CHECK_STATUS(vf_toy_sample("moons", "", 10, &r, &x), VF_OK);
    vf_tensor_free(&x);
}

/* Every allocation failure comes back as VF_ERR_NOMEM with nothing leaked. */
static int fail_alloc;
static void *failing_alloc(size_t size, void *user) { (void)user; return fail_alloc ? NULL : malloc(size); }
static void *failing_realloc(void *p, size_t size, void *user) { (void)user; return fail_alloc ? NULL : realloc(p, size); }
static void plain_free(void *p, void *user) { (void)user; free(p); }

static void test_nomem(void)
{
    vf_allocator a = {failing_alloc, failing_realloc, plain_free, NULL};
    vf_set_allocator(&a);
    fail_alloc = 1;
    vf_rng r;
    vf_rng_init(&r, 0, 0);
    vf_tensor x;
    CHECK_STATUS(vf_toy_sample("rings", NULL, 100, &r, &x), VF_ERR_NOMEM);
    CHECK(x.data == NULL);
    fail_alloc = 0;
    vf_set_allocator(NULL);
}

int main(void)
{
    RUN(test_names);
    RUN(test_shape_finite_and_defaults_string);
    RUN(test_determinism);
    RUN(test_scale);
    RUN(test_8gaussians);
    RUN(test_checkerboard);
    RUN(test_moons);
    RUN(test_pinwheel);
    RUN(test_2spirals);
    RUN(test_rings);
    RUN(test_scurve);
    RUN(test_sf2m_sets);
    RUN(test_errors);
    RUN(test_nomem);
    return vf_test_summary();
}
