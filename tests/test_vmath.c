/* test_vmath.c — the branch-free exp/log kernels of src/ad/vmath.h against libm: every kernel
 * over its whole domain (a dense grid plus random points, and for log random exponents from the
 * subnormals to the largest double) within a few ulps, and the edge cases (0, -0, the clamp points,
 * overflow and underflow points, infinities, NaN, 1); the reduced-precision double exp within its stated relative error.
 */
#include <float.h>
#include <stdint.h>
#include "vf_test.h"
#include "ad/vmath.h"

/* |got - want| in units of want's float (or double) ulp. */
static double ulps_f(double got, double want) { return fabs(got - want) / (FLT_EPSILON * fmax(fabs(want), FLT_MIN)); }
static double ulps_d(double got, double want) { return fabs(got - want) / (DBL_EPSILON * fmax(fabs(want), DBL_MIN)); }

static uint64_t next_u64(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15u;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}
static double unit(uint64_t *s) { return (double)(next_u64(s) >> 11) * 0x1p-53; }

static void test_exp_neg_f(void)
{
    double worst = 0;
    uint64_t r = 1;
    for (int i = 0; i <= 200000; i++) {
        float x = i < 100000 ? (float)(-87.0 * i / 100000.0) : (float)(-87.0 * unit(&r));
        worst = fmax(worst, ulps_f((double)vf__exp_neg_f(x), exp((double)x)));
    }
    CHECK_MSG(worst <= 4, "exp_neg_f: %.2f ulps", worst);
    CHECK(vf__exp_neg_f(0.0f) == 1.0f && vf__exp_neg_f(-0.0f) == 1.0f);
    CHECK(ulps_f((double)vf__exp_neg_f(-1e-30f), 1.0) <= 1);
    /* below -87 the clamp: exp(-87), finite and positive */
    CHECK(vf__exp_neg_f(-1000.0f) == vf__exp_neg_f(-87.0f) && vf__exp_neg_f(-INFINITY) == vf__exp_neg_f(-87.0f));
    CHECK(vf__exp_neg_f(-87.0f) > 0 && ulps_f((double)vf__exp_neg_f(-87.0f), exp(-87.0)) <= 4);
    CHECK(isnan(vf__exp_neg_f(NAN)));
}

static void test_exp_f(void)
{
    double worst = 0, worst_sub = 0;
    uint64_t r = 5;
    /* the normal range of results, a grid and random points */
    for (int i = 0; i <= 200000; i++) {
        float x = i < 100000 ? (float)(-87.3 + 176.0 * i / 100000.0) : (float)(-87.3 + 176.0 * unit(&r));
        worst = fmax(worst, ulps_f((double)vf__exp_f(x), exp((double)x)));
    }
    CHECK_MSG(worst <= 4, "exp_f: %.2f ulps", worst);
    /* subnormal results: within a subnormal spacing or two */
    for (int i = 0; i <= 20000; i++) {
        float x = (float)(-103.9 + 16.6 * i / 20000.0);
        worst_sub = fmax(worst_sub, ulps_f((double)vf__exp_f(x), exp((double)x)));
    }
    CHECK_MSG(worst_sub <= 2, "exp_f, subnormal results: %.2f spacings", worst_sub);
    CHECK(vf__exp_f(0.0f) == 1.0f && vf__exp_f(-0.0f) == 1.0f);
    CHECK(ulps_f((double)vf__exp_f(1e-30f), 1.0) <= 1 && ulps_f((double)vf__exp_f(1.0f), exp(1.0)) <= 2);
    /* overflow exactly where float exp overflows (log FLT_MAX = 88.7228), underflow to 0 below -104 */
    CHECK(isfinite(vf__exp_f(88.72f)) && ulps_f((double)vf__exp_f(88.72f), exp((double)88.72f)) <= 4);
    CHECK(vf__exp_f(88.73f) == INFINITY && vf__exp_f(1000.0f) == INFINITY && vf__exp_f(INFINITY) == INFINITY);
    CHECK(vf__exp_f(-104.0f) == 0.0f && vf__exp_f(-1000.0f) == 0.0f && vf__exp_f(-INFINITY) == 0.0f);
    CHECK(isnan(vf__exp_f(NAN)));
}

static void test_exp_neg_d(void)
{
    double worst = 0;
    uint64_t r = 2;
    for (int i = 0; i <= 200000; i++) {
        double x = i < 100000 ? -708.0 * i / 100000.0 : -708.0 * unit(&r);
        worst = fmax(worst, ulps_d(vf__exp_neg_d(x), exp(x)));
    }
    for (int i = 0; i < 10000; i++) { /* small arguments, where exp is near 1 */
        double x = -ldexp(unit(&r), -(int)(next_u64(&r) % 60));
        worst = fmax(worst, ulps_d(vf__exp_neg_d(x), exp(x)));
    }
    CHECK_MSG(worst <= 4, "exp_neg_d: %.2f ulps", worst);
    CHECK(vf__exp_neg_d(0.0) == 1.0 && vf__exp_neg_d(-0.0) == 1.0);
    CHECK(vf__exp_neg_d(-1e6) == vf__exp_neg_d(-708.0) && vf__exp_neg_d(-INFINITY) == vf__exp_neg_d(-708.0));
    CHECK(vf__exp_neg_d(-708.0) > 0 && ulps_d(vf__exp_neg_d(-708.0), exp(-708.0)) <= 4);
    CHECK(isnan(vf__exp_neg_d(NAN)));
}

/* The reduced-precision double exp: relative error within 3e-10 over its domain (the polynomial's
 * own error is 2.2e-10 at the ends of the reduced range), exp(0) exactly 1, the same clamp. */
static void test_exp_neg_d_fast(void)
{
    double worst = 0;
    uint64_t r = 5;
    for (int i = 0; i <= 400000; i++) {
        double x = i < 200000 ? -708.0 * i / 200000.0 : -708.0 * unit(&r);
        worst = fmax(worst, fabs(vf__exp_neg_d_fast(x) - exp(x)) / exp(x));
    }
    for (int i = 0; i < 10000; i++) { /* small arguments, and the reduced range's ends */
        double x = -ldexp(unit(&r), -(int)(next_u64(&r) % 60));
        worst = fmax(worst, fabs(vf__exp_neg_d_fast(x) - exp(x)) / exp(x));
        double k = (double)(next_u64(&r) % 1000), y = -(k + 0.5) * 0.69314718055994530942 + 1e-12 * (unit(&r) - 0.5);
        worst = fmax(worst, fabs(vf__exp_neg_d_fast(y) - exp(y)) / exp(y));
    }
    CHECK_MSG(worst <= 3e-10, "exp_neg_d_fast: %.3g relative", worst);
    CHECK_MSG(worst > 1e-11, "exp_neg_d_fast: %.3g relative (better than its polynomial can be: not the kernel tested?)",
              worst);
    CHECK(vf__exp_neg_d_fast(0.0) == 1.0 && vf__exp_neg_d_fast(-0.0) == 1.0);
    CHECK(vf__exp_neg_d_fast(-1e6) == vf__exp_neg_d_fast(-708.0));
    CHECK(vf__exp_neg_d_fast(-INFINITY) == vf__exp_neg_d_fast(-708.0));
    CHECK(vf__exp_neg_d_fast(-708.0) > 0 && fabs(vf__exp_neg_d_fast(-708.0) / exp(-708.0) - 1) <= 3e-10);
    CHECK(isnan(vf__exp_neg_d_fast(NAN)));
}

static void test_log1p(void)
{
    double worst_f = 0, worst_d = 0;
    uint64_t r = 3;
    for (int i = 0; i <= 100000; i++) {
        float f = (float)(i / 100000.0);
        worst_f = fmax(worst_f, ulps_f((double)vf__log1p_f(f), log1p((double)f)));
        double fd = -0.3 + 1.3 * i / 100000.0;
        worst_d = fmax(worst_d, ulps_d(vf__log1p_d(fd), log1p(fd)));
    }
    for (int i = 0; i < 10000; i++) { /* tiny arguments keep their relative accuracy */
        double u = ldexp(0.5 + 0.5 * unit(&r), -(int)(next_u64(&r) % 120));
        worst_f = fmax(worst_f, ulps_f((double)vf__log1p_f((float)u), log1p((double)(float)u)));
        worst_d = fmax(worst_d, ulps_d(vf__log1p_d(u), log1p(u)));
        worst_d = fmax(worst_d, ulps_d(vf__log1p_d(-0.3 * u), log1p(-0.3 * u)));
    }
    CHECK_MSG(worst_f <= 4, "log1p_f: %.2f ulps", worst_f);
    CHECK_MSG(worst_d <= 4, "log1p_d: %.2f ulps", worst_d);
    CHECK(vf__log1p_f(0.0f) == 0.0f && vf__log1p_d(0.0) == 0.0);
    CHECK(isnan(vf__log1p_f(NAN)) && isnan(vf__log1p_d(NAN)));
}

static void test_log_d(void)
{
    double worst = 0;
    uint64_t r = 4;
    for (int i = 0; i < 200000; i++) { /* every binade, subnormals included */
        double x = ldexp(0.5 + 0.5 * unit(&r), (int)(next_u64(&r) % 2098) - 1073);
        worst = fmax(worst, ulps_d(vf__log_d(x), log(x)));
    }
    for (int i = 0; i <= 100000; i++) { /* near 1, where log is small */
        double x = 0.5 + 1.5 * i / 100000.0;
        worst = fmax(worst, ulps_d(vf__log_d(x), log(x)));
        double y = 1.0 + ldexp(unit(&r) - 0.5, -(int)(next_u64(&r) % 50));
        worst = fmax(worst, ulps_d(vf__log_d(y), log(y)));
    }
    CHECK_MSG(worst <= 4, "log_d: %.2f ulps", worst);
    CHECK(vf__log_d(1.0) == 0.0);
    CHECK(ulps_d(vf__log_d(DBL_MAX), log(DBL_MAX)) <= 2 && ulps_d(vf__log_d(DBL_TRUE_MIN), log(DBL_TRUE_MIN)) <= 2);
    CHECK(ulps_d(vf__log_d(DBL_MIN), log(DBL_MIN)) <= 2);
    CHECK(vf__log_d(INFINITY) == INFINITY && vf__log_d(0.0) == -INFINITY && vf__log_d(-0.0) == -INFINITY);
    CHECK(isnan(vf__log_d(-1.0)) && isnan(vf__log_d(-INFINITY)) && isnan(vf__log_d(NAN)));
}

int main(void)
{
    RUN(test_exp_neg_f);
    RUN(test_exp_f);
    RUN(test_exp_neg_d);
    RUN(test_exp_neg_d_fast);
    RUN(test_log1p);
    RUN(test_log_d);
    return vf_test_summary();
}
