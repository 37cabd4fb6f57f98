/* vmath.h — branch-free exp and log kernels that GCC and clang auto-vectorize (private).
 *
 * Usage (inside a loop over arrays, so the loop vectorizes; libm's exp/log are calls that do not)
 *   for (i = 0; i < n; i++) e[i] = vf__exp_neg_f(u[i] - mx);       // exp(x) for x <= 0, float
 *   for (i = 0; i < n; i++) e[i] = vf__exp_neg_d_fast(v[i] - mx);   // the same to 2.2e-10 relative
 *   for (i = 0; i < n; i++) y[i] = vf__exp_f(x[i]);                 // exp(x), float, any x
 *   for (i = 0; i < n; i++) l[i] = vf__log_d(q[i]);                 // log(x), double, any x
 *   for (i = 0; i < n; i++) p[i] = vf__log1p_d(e[i]);               // log(1 + f), f in [-0.3, 1]
 *   (the _f variants in float, the _d ones in double)
 *
 * All are plain C on scalars: no intrinsics, no float-to-int conversions, selects instead of
 * branches, integer work only on the bits (shifts, adds), so the vectorizer can widen them. Range
 * reduction follows Cody and Waite: x = k ln2 + r with ln2 split in a part exact in few bits and a
 * remainder; exp(r) is its Taylor polynomial, log(1 + f) = 2 atanh(f / (2 + f)) its odd series.
 * Accuracy (tests/test_vmath.c checks it against libm over the whole range): a few ulps, doubles
 * within about 2 ulps, except vf__exp_neg_d_fast (2.2e-10 relative, for results that end in
 * float). NaN in gives NaN out.
 */
#ifndef VF_VMATH_H
#define VF_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* The Cody-Waite split of ln2 for doubles: LN2_HI has its low 32 bits 0, so k LN2_HI is exact for
 * |k| < 2^20 (fdlibm's constants). */
#define VF__LN2_HI 6.93147180369123816490e-01
#define VF__LN2_LO 1.90821492927058770002e-10

/* The float exps' common part, for |x| <= 104: k = round(x / ln2) by adding 1.5 * 2^23 (whose float
 * then holds k in its low bits), |r| <= ln2/2 with r = x - k ln2 (Cody-Waite: ln2 to 15 bits, so
 * k times it is exact, plus the remainder), and exp(r) by Taylor to r^7 (truncation below 3e-8
 * relative). Returns exp(r); *k gets k. */
static inline float vf__exp_reduced_f(float x, int32_t *k)
{
    const float shifter = 12582912.0f; /* 1.5 * 2^23 */
    float t = x * 1.44269504088896341f + shifter;
    float kf = t - shifter;
    float r = x - kf * 0.693145751953125f;
    r = r - kf * 1.4286068202862268e-6f; /* ln2 - 0.693145751953125 */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t tb, sb;
    memcpy(&tb, &t, sizeof tb);
    memcpy(&sb, &shifter, sizeof sb);
    *k = (int32_t)(tb - sb);
    return p;
}

/* 2^k as a float, for -126 <= k <= 127 (the exponent bits). */
static inline float vf__pow2i_f(int32_t k)
{
    uint32_t eb = (uint32_t)(k + 127) << 23;
    float v;
    memcpy(&v, &eb, sizeof v);
    return v;
}

/* exp(x) for x <= 0 in float: x below -87 is raised to -87 (2^k stays normal; exp(-87) = 1.6e-38
 * stands for anything smaller). */
static inline float vf__exp_neg_f(float x)
{
    int32_t k;
    float p = vf__exp_reduced_f(x < -87.0f ? -87.0f : x, &k);
    return p * vf__pow2i_f(k);
}

/* exp(x) for any float x: x held in [-104, 88.8] (exp(-104) rounds to 0, exp(88.8) overflows to
 * +inf) and 2^k applied as two factors 2^(k/2) 2^(k - k/2), both normal for |k| <= 150, so the
 * product rounds to a subnormal or overflows exactly where exp does. NaN gives NaN, -inf 0, +inf
 * +inf. A few ulps (tests/test_vmath.c). */
static inline float vf__exp_f(float x)
{
    int32_t k;
    float p = vf__exp_reduced_f(x < -104.0f ? -104.0f : (x > 88.8f ? 88.8f : x), &k);
    int32_t k1 = k / 2;
    return (p * vf__pow2i_f(k1)) * vf__pow2i_f(k - k1);
}

/* exp(x) for x <= 0 in double: as vf__exp_neg_f with 1.5 * 2^52, x raised to -708 (exp(-708) =
 * 3e-308 stands for anything smaller) and Taylor to r^13 (truncation below 5e-18 relative). */
static inline double vf__exp_neg_d(double x)
{
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    x = x < -708.0 ? -708.0 : x;
    double t = x * 1.4426950408889634074 + shifter;
    double kf = t - shifter;
    double r = x - kf * VF__LN2_HI;
    r = r - kf * VF__LN2_LO;
    double p = 1.0 / 6227020800.0; /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t tb, sb;
    memcpy(&tb, &t, sizeof tb);
    memcpy(&sb, &shifter, sizeof sb);
    uint64_t eb = (tb - sb + 1023u) << 52; /* k + 1023 in the exponent field (k >= -1022) */
    double scale;
    memcpy(&scale, &eb, sizeof scale);
    return p * scale;
}

/* exp(x) for x <= 0 in double to about 2.2e-10 relative (not to the ulp): for softmaxes whose
 * results feed a float computation (the float build's spline knots). As vf__exp_neg_d, but
 * r = x - k ln2 in one step (|k| <= 1022: error below 6e-14) and exp(r) = 1 + r + r^2 q(r) with q
 * of degree 5 interpolating (exp(r) - 1 - r) / r^2 at the Chebyshev nodes of [-ln2/2, ln2/2]
 * (tests/test_vmath.c checks 3e-10 against libm over [-708, 0]), evaluated by Estrin's scheme for
 * a short dependency chain. exp(0) = 1 exactly; x below -708 is raised to -708; NaN gives NaN. */
static inline double vf__exp_neg_d_fast(double x)
{
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    x = x < -708.0 ? -708.0 : x;
    double t = x * 1.4426950408889634074 + shifter;
    double kf = t - shifter;
    double r = x - kf * 0.69314718055994530942;
    double r2 = r * r, r4 = r2 * r2;
    double q01 = 0.5000000013457727 + 0.16666666681614198 * r;
    double q23 = 0.041666465006037864 + 0.008333310934463593 * r;
    double q45 = 0.0013933641032195612 + 0.00019890980861711084 * r;
    double p = 1.0 + (r + r2 * ((q01 + r2 * q23) + r4 * q45));
    uint64_t tb, sb;
    memcpy(&tb, &t, sizeof tb);
    memcpy(&sb, &shifter, sizeof sb);
    uint64_t eb = (tb - sb + 1023u) << 52; /* k + 1023 in the exponent field (k >= -1022) */
    double scale;
    memcpy(&scale, &eb, sizeof scale);
    return p * scale;
}

/* log(1 + f) for f in [0, 1] in float: with s = f / (2 + f) in [0, 1/3], log(1 + f) = 2 atanh(s)
 * = 2 (s + s^3/3 + ... + s^15/15) (truncation below 2e-8 relative); small f keeps its accuracy. */
static inline float vf__log1p_f(float f)
{
    float s = f / (2.0f + f), z = s * s;
    float q = 1.0f / 15.0f;
    q = q * z + 1.0f / 13.0f;
    q = q * z + 1.0f / 11.0f;
    q = q * z + 1.0f / 9.0f;
    q = q * z + 1.0f / 7.0f;
    q = q * z + 1.0f / 5.0f;
    q = q * z + 1.0f / 3.0f;
    return 2.0f * s + 2.0f * s * (z * q);
}

/* log(1 + f) for f in [-0.3, 1] in double: with s = f / (2 + f) in [-0.18, 1/3],
 * log(1 + f) = 2 atanh(s) = 2 (s + s^3/3 + ... + s^35/35) (truncation below 2e-18 relative at
 * s = 1/3); 1 + f is never formed, so small f keeps its relative accuracy. */
static inline double vf__log1p_d(double f)
{
    double s = f / (2.0 + f), z = s * s;
    double q = 1.0 / 35.0;
    q = q * z + 1.0 / 33.0;
    q = q * z + 1.0 / 31.0;
    q = q * z + 1.0 / 29.0;
    q = q * z + 1.0 / 27.0;
    q = q * z + 1.0 / 25.0;
    q = q * z + 1.0 / 23.0;
    q = q * z + 1.0 / 21.0;
    q = q * z + 1.0 / 19.0;
    q = q * z + 1.0 / 17.0;
    q = q * z + 1.0 / 15.0;
    q = q * z + 1.0 / 13.0;
    q = q * z + 1.0 / 11.0;
    q = q * z + 1.0 / 9.0;
    q = q * z + 1.0 / 7.0;
    q = q * z + 1.0 / 5.0;
    q = q * z + 1.0 / 3.0;
    return 2.0 * s + 2.0 * s * (z * q);
}

/* log(x) in double: x = 2^k m with m in [sqrt(1/2), sqrt(2)) (subnormals scaled by 2^54 first),
 * log x = k LN2_HI + (k LN2_LO + log1p(m - 1)), m - 1 exact, log1p by the atanh series to s^25
 * (|s| <= 0.18: truncation below 1e-20 relative). Special values by selection:
 * log(+inf) = +inf, log(0) = -inf, log(x < 0) = NaN, NaN stays NaN. */
static inline double vf__log_d(double x)
{
    const double two54 = 18014398509481984.0, magic = 4503599627370496.0; /* 2^54, 2^52 */
    int sub = x < 2.2250738585072014e-308;
    double xs = sub ? x * two54 : x;
    uint64_t b;
    memcpy(&b, &xs, sizeof b);
    uint64_t eb = (b >> 52) & 0x7ffu, mb = (b & 0x000fffffffffffffu) | 0x3ff0000000000000u;
    uint64_t kb = eb | 0x4330000000000000u; /* the double 2^52 + eb */
    double m, kd;
    memcpy(&m, &mb, sizeof m);
    memcpy(&kd, &kb, sizeof kd);
    kd = kd - magic - 1023.0 - (sub ? 54.0 : 0.0);
    int big = m > 1.4142135623730951;
    m = big ? 0.5 * m : m;
    kd = big ? kd + 1.0 : kd;
    /* log1p(f) for f = m - 1 in [-0.3, 0.42]: s in [-0.18, 0.18], the atanh series to s^25 */
    double f = m - 1.0, s = f / (2.0 + f), z = s * s;
    double q = 1.0 / 25.0;
    q = q * z + 1.0 / 23.0;
    q = q * z + 1.0 / 21.0;
    q = q * z + 1.0 / 19.0;
    q = q * z + 1.0 / 17.0;
    q = q * z + 1.0 / 15.0;
    q = q * z + 1.0 / 13.0;
    q = q * z + 1.0 / 11.0;
    q = q * z + 1.0 / 9.0;
    q = q * z + 1.0 / 7.0;
    q = q * z + 1.0 / 5.0;
    q = q * z + 1.0 / 3.0;
    double l = kd * VF__LN2_HI + (kd * VF__LN2_LO + (2.0 * s + 2.0 * s * (z * q)));
    l = x == INFINITY ? x : l;
    return x > 0.0 ? l : (x == 0.0 ? -INFINITY : NAN); /* NaN and x < 0: NaN */
}

#endif
