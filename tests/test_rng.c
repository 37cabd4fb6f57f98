/* test_rng.c — Philox4x32-10 known answers, reproducibility, thread-count invariance, and the
 * distributions' statistics (moments, Kolmogorov-Smirnov, chi-square) at fixed seeds.
 *
 * Statistical tolerances: a Monte Carlo mean of n iid values f(x) is checked within 5 standard
 * errors sqrt(Var f / n), with Var f from the exact moments of the distribution. Chi-square and KS
 * statistics are compared with their 1 - 1e-4 (chi-square) and 1 - 1e-3 (KS) quantiles.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "vf_test.h"

/* ---- known answers ---------------------------------------------------------------------------
 * Random123's kat_vectors, "philox4x32 10 CTR[4] KEY[2] -> OUT[4]". vf_rng puts the block counter
 * in counter words 0-1, the stream in words 2-3 and the seed in the key, so each vector is reached
 * with seed = KEY1:KEY0, stream = CTR3:CTR2, counter = CTR1:CTR0. */
static void kat(const uint32_t ctr[4], const uint32_t key[2], const uint32_t want[4])
{
    vf_rng r;
    uint32_t got[4];
    uint64_t block = (uint64_t)ctr[1] << 32 | ctr[0];
    vf_rng_init(&r, (uint64_t)key[1] << 32 | key[0], (uint64_t)ctr[3] << 32 | ctr[2]);
    r.counter = block;
    vf_rng_block(&r, got);
    for (int i = 0; i < 4; i++)
        CHECK_MSG(got[i] == want[i], "philox(%08x %08x %08x %08x / %08x %08x) word %d: %08x, expected %08x",
                  ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1], i, got[i], want[i]);
    CHECK(r.counter == block + 1); /* wraps from UINT64_MAX to 0 */
}

static void test_known_answers(void)
{
    static const uint32_t zero_c[4] = {0, 0, 0, 0}, zero_k[2] = {0, 0};
    static const uint32_t zero_out[4] = {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u};
    static const uint32_t ff_c[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
    static const uint32_t ff_k[2] = {0xffffffffu, 0xffffffffu};
    static const uint32_t ff_out[4] = {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu};
    static const uint32_t pi_c[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};
    static const uint32_t pi_k[2] = {0xa4093822u, 0x299f31d0u};
    static const uint32_t pi_out[4] = {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u};
    kat(zero_c, zero_k, zero_out);
    kat(ff_c, ff_k, ff_out);
    kat(pi_c, pi_k, pi_out);
}

/* The scalar draws are fixed functions of the block words (checked on the all-zero block). */
static void test_draws_from_block(void)
{
    vf_rng r;
    vf_rng_init(&r, 0, 0);
    CHECK(vf_rng_u64(&r) == ((uint64_t)0x6627e8d5u << 32 | 0xe169c58du));
    CHECK(r.counter == 1);
    vf_rng_init(&r, 0, 0);
    double u = vf_rng_uniform(&r);
    double want = (double)(((uint64_t)0x6627e8d5u << 21) ^ (0xe169c58du >> 11)) / 9007199254740992.0;
    CHECK(u == want);
    /* vf_rng_normal: Box-Muller of the same block, first of the pair. */
    vf_rng_init(&r, 0, 0);
    double z = vf_rng_normal(&r);
    double u1 = 1.0 - want;
    double u2 = (double)(((uint64_t)0xbc57ac4cu << 21) ^ (0x9b00dbd8u >> 11)) / 9007199254740992.0;
    CHECK_NEAR(z, sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2), 1e-12);
}

static void test_reproducible(void)
{
    vf_rng a, b, c, d;
    vf_rng_init(&a, 12345, 7);
    vf_rng_init(&b, 12345, 7);
    vf_rng_init(&c, 12346, 7);
    vf_rng_init(&d, 12345, 8);
    int same_ab = 1, same_ac = 0, same_ad = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t xa = vf_rng_u64(&a), xb = vf_rng_u64(&b), xc = vf_rng_u64(&c), xd = vf_rng_u64(&d);
        same_ab &= xa == xb;
        same_ac += xa == xc;
        same_ad += xa == xd;
    }
    CHECK(same_ab);
    CHECK(same_ac == 0);
    CHECK(same_ad == 0);
    /* Seeds differing only in the high word give different streams too. */
    vf_rng_init(&a, 1, 0);
    vf_rng_init(&b, (uint64_t)1 << 32 | 1, 0);
    CHECK(vf_rng_u64(&a) != vf_rng_u64(&b));
}

/* ---- fills -------------------------------------------------------------------------------- */
#define NFILL 200001 /* above the 65536 threshold of the parallel loops; odd */

static void test_fill_thread_invariance(void)
{
    vf_real *a = malloc(NFILL * sizeof *a), *b = malloc(NFILL * sizeof *b);
    double *da = malloc(NFILL * sizeof *da), *db = malloc(NFILL * sizeof *db);
    CHECK(a && b && da && db);
    if (!a || !b || !da || !db) goto done;
    int old = vf_set_num_threads(1);
    for (int kind = 0; kind < 3; kind++) {
        for (int threads = 2; threads <= 3; threads++) {
            vf_rng r1, r2;
            vf_rng_init(&r1, 99, 3);
            vf_rng_init(&r2, 99, 3);
            r1.counter = r2.counter = 1000; /* a fill continues from the current counter */
            vf_set_num_threads(1);
            if (kind == 0) vf_rng_uniform_fill(&r1, a, NFILL, -1.0, 2.0);
            if (kind == 1) vf_rng_normal_fill(&r1, a, NFILL, 0.5, 2.0);
            if (kind == 2) vf_rng_normal_fill_double(&r1, da, NFILL);
            vf_set_num_threads(threads);
            if (kind == 0) vf_rng_uniform_fill(&r2, b, NFILL, -1.0, 2.0);
            if (kind == 1) vf_rng_normal_fill(&r2, b, NFILL, 0.5, 2.0);
            if (kind == 2) vf_rng_normal_fill_double(&r2, db, NFILL);
            if (kind < 2) CHECK_MSG(memcmp(a, b, NFILL * sizeof *a) == 0, "fill %d differs with %d threads", kind, threads);
            else CHECK_MSG(memcmp(da, db, NFILL * sizeof *da) == 0, "double fill differs with %d threads", threads);
            CHECK(r1.counter == 1000 + (NFILL + 1) / 2);
            CHECK(r2.counter == r1.counter);
        }
    }
    /* Element 2j and 2j+1 come from block (start + j): check at spots across the whole range. */
    {
        vf_rng r, q;
        vf_rng_init(&r, 5, 11);
        vf_set_num_threads(2);
        vf_rng_uniform_fill(&r, a, NFILL, 0.0, 1.0);
        static const size_t spots[] = {0, 1, 2, 3, 65535, 65536, 100000, 100001, 150000, NFILL - 1};
        for (size_t s = 0; s < sizeof spots / sizeof *spots; s++) {
            size_t i = spots[s];
            uint32_t w[4];
            vf_rng_init(&q, 5, 11);
            q.counter = i / 2;
            vf_rng_block(&q, w);
            uint32_t hi = i % 2 ? w[2] : w[0], lo = i % 2 ? w[3] : w[1];
            double u = (double)(((uint64_t)hi << 21) ^ (lo >> 11)) / 9007199254740992.0;
            vf_real want = (vf_real)u;
            if (want >= (vf_real)1.0) want = a[i]; /* rounded up to hi: the fill keeps it below */
            CHECK_MSG(a[i] == want, "uniform_fill element %zu: %.9g, expected %.9g", i, (double)a[i], (double)want);
        }
    }
    vf_set_num_threads(old);
done:
    free(a);
    free(b);
    free(da);
    free(db);
}

/* Two calls equal one call when the first has an even length (element i sits in block i / 2);
 * after an odd length the second call starts at the next whole block, skipping one value. */
static void test_fill_split(void)
{
    enum { N = 1001 };
    static vf_real one[N], two[N];
    for (int n1 = 400; n1 <= 401; n1++) {
        vf_rng r, s;
        vf_rng_init(&r, 77, 1);
        vf_rng_init(&s, 77, 1);
        vf_rng_normal_fill(&r, one, N, 0.0, 1.0);
        vf_rng_normal_fill(&s, two, (size_t)n1, 0.0, 1.0);
        CHECK(s.counter == (uint64_t)(n1 + 1) / 2);
        vf_rng_normal_fill(&s, two + n1, (size_t)(N - n1), 0.0, 1.0);
        CHECK(memcmp(one, two, (size_t)n1 * sizeof *one) == 0);
        if (n1 % 2 == 0) {
            CHECK(memcmp(one, two, sizeof one) == 0);
        } else {
            CHECK(memcmp(one + n1 + 1, two + n1, (size_t)(N - n1 - 1) * sizeof *one) == 0);
            CHECK(one[n1] != two[n1]);
        }
    }
}

/* A uniform fill stays inside [lo, hi) even where lo + (hi - lo) u rounds up to hi. */
static void test_uniform_fill_range(void)
{
    enum { N = 4096 };
    static vf_real x[N];
    vf_rng r;
    vf_rng_init(&r, 3, 0);
    vf_rng_uniform_fill(&r, x, N, 2.0, 5.0);
    int inside = 1;
    for (int i = 0; i < N; i++) inside &= x[i] >= (vf_real)2.0 && x[i] < (vf_real)5.0;
    CHECK(inside);
    /* A range one ulp wide: every draw must be lo exactly (hi is excluded). */
#if VF_USE_DOUBLE
    double lo = 1.0, hi = 1.0 + DBL_EPSILON;
#else
    double lo = 1.0, hi = 1.0 + (double)FLT_EPSILON;
#endif
    vf_rng_uniform_fill(&r, x, N, lo, hi);
    int all_lo = 1;
    for (int i = 0; i < N; i++) all_lo &= x[i] == (vf_real)1.0;
    CHECK(all_lo);
    vf_rng_uniform_fill(&r, x, 0, 0.0, 1.0); /* n = 0 writes nothing and draws nothing */
    uint64_t c = r.counter;
    vf_rng_uniform_fill(&r, x, 0, 0.0, 1.0);
    CHECK(r.counter == c);
}

/* ---- moments ------------------------------------------------------------------------------ */
/* Check the central moments k = 1..4 of x (true mean mu) against m[1..4], given m[1..8]: the
 * estimate of E(x - mu)^k is a mean of iid values with variance m[2k] - m[k]^2. */
static void check_moments(const char *what, const double *x, size_t n, double mu, const double m[9])
{
    double s[5] = {0, 0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - mu, p = d;
        for (int k = 1; k <= 4; k++) {
            s[k] += p;
            p *= d;
        }
    }
    for (int k = 1; k <= 4; k++) {
        double est = s[k] / (double)n;
        double se = sqrt((m[2 * k] - m[k] * m[k]) / (double)n);
        CHECK_MSG(fabs(est - m[k]) <= 5.0 * se, "%s: central moment %d = %.6g, expected %.6g +- 5 x %.3g", what, k,
                  est, m[k], se);
    }
}

#define NMOM 1000000

static void test_uniform_moments(void)
{
    /* U(0,1): E(x - 1/2)^k = 2^-k / (k + 1) for even k, 0 for odd k. */
    double m[9];
    for (int k = 0; k <= 8; k++) m[k] = k % 2 ? 0.0 : pow(0.5, k) / (k + 1);
    double *x = malloc(NMOM * sizeof *x);
    vf_real *y = malloc(NMOM * sizeof *y);
    CHECK(x && y);
    if (x && y) {
        vf_rng r;
        vf_rng_init(&r, 2024, 0);
        for (size_t i = 0; i < NMOM; i++) x[i] = vf_rng_uniform(&r);
        check_moments("vf_rng_uniform", x, NMOM, 0.5, m);
        /* U(-3, 1) = 4 U(0,1) - 3 through the fill, mapped back. */
        vf_rng_uniform_fill(&r, y, NMOM, -3.0, 1.0);
        for (size_t i = 0; i < NMOM; i++) x[i] = ((double)y[i] + 3.0) / 4.0;
        check_moments("vf_rng_uniform_fill", x, NMOM, 0.5, m);
    }
    free(x);
    free(y);
}

static void test_normal_moments(void)
{
    /* N(0,1): E z^k = 0, 1, 0, 3, 0, 15, 0, 105 for k = 1..8. */
    static const double m[9] = {1, 0, 1, 0, 3, 0, 15, 0, 105};
    double *x = malloc(NMOM * sizeof *x);
    vf_real *y = malloc(NMOM * sizeof *y);
    CHECK(x && y);
    if (x && y) {
        vf_rng r;
        vf_rng_init(&r, 31337, 2);
        for (size_t i = 0; i < NMOM; i++) x[i] = vf_rng_normal(&r);
        check_moments("vf_rng_normal", x, NMOM, 0.0, m);
        vf_rng_normal_fill_double(&r, x, NMOM);
        check_moments("vf_rng_normal_fill_double", x, NMOM, 0.0, m);
        vf_rng_normal_fill(&r, y, NMOM, -2.0, 3.0);
        for (size_t i = 0; i < NMOM; i++) x[i] = ((double)y[i] + 2.0) / 3.0;
        check_moments("vf_rng_normal_fill", x, NMOM, 0.0, m);
    }
    free(x);
    free(y);
}

/* ---- Kolmogorov-Smirnov --------------------------------------------------------------------- */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* sup |F_n - F| for sorted x against the N(shift, 1) CDF. */
static double ks_normal(const double *x, size_t n, double shift)
{
    double d = 0.0;
    for (size_t i = 0; i < n; i++) {
        double f = 0.5 * erfc(-(x[i] - shift) / sqrt(2.0));
        double lo = f - (double)i / (double)n, hi = (double)(i + 1) / (double)n - f;
        if (lo > d) d = lo;
        if (hi > d) d = hi;
    }
    return d;
}

static void test_normal_ks(void)
{
    enum { N = 200000 };
    double *x = malloc(N * sizeof *x);
    CHECK(x != NULL);
    if (!x) return;
    vf_rng r;
    vf_rng_init(&r, 4242, 0);
    vf_rng_normal_fill_double(&r, x, N);
    qsort(x, N, sizeof *x, cmp_double);
    double crit = 1.9495 / sqrt((double)N); /* asymptotic 0.999 quantile of sqrt(n) D */
    double d = ks_normal(x, N, 0.0);
    CHECK_MSG(d < crit, "KS D = %.5f >= %.5f", d, crit);
    /* The test has power: a shift of 0.02 sd is detected at this n. */
    CHECK(ks_normal(x, N, 0.02) > crit);
    free(x);
}

/* ---- chi-square ----------------------------------------------------------------------------- */
/* Upper 1e-4 quantile of chi-square with df degrees of freedom (Wilson-Hilferty). */
static double chi2_crit(int df)
{
    double z = 3.719, a = 2.0 / (9.0 * df);
    double c = 1.0 - a + z * sqrt(a);
    return df * c * c * c;
}

static double chi2_stat(const long *count, const double *p, int k, long n)
{
    double s = 0.0;
    for (int i = 0; i < k; i++) {
        double e = p[i] * (double)n;
        s += ((double)count[i] - e) * ((double)count[i] - e) / e;
    }
    return s;
}

static void test_below(void)
{
    vf_rng r;
    vf_rng_init(&r, 8, 0);
    CHECK(vf_rng_below(&r, 1) == 0);
    CHECK(vf_rng_below(&r, 0) == 0);
    enum { K = 7, N = 700000 };
    long count[K] = {0};
    double p[K];
    int in_range = 1;
    for (int i = 0; i < K; i++) p[i] = 1.0 / K;
    for (long i = 0; i < N; i++) {
        uint64_t v = vf_rng_below(&r, K);
        in_range &= v < K;
        if (v < K) count[v]++;
    }
    CHECK(in_range);
    double s = chi2_stat(count, p, K, N);
    CHECK_MSG(s < chi2_crit(K - 1), "below(7): chi2 %.2f >= %.2f", s, chi2_crit(K - 1));
    /* n = 2/3 of 2^64: plain modulo would put 2/3 of the draws below n/2; unbiased gives 1/2. */
    uint64_t n = UINT64_MAX / 3 * 2;
    long low = 0, m = 100000;
    for (long i = 0; i < m; i++) {
        uint64_t v = vf_rng_below(&r, n);
        in_range &= v < n;
        low += v < n / 2;
    }
    CHECK(in_range);
    CHECK_NEAR((double)low / (double)m, 0.5, 5.0 * sqrt(0.25 / (double)m));
}

static void test_categorical(void)
{
    vf_rng r;
    vf_rng_init(&r, 9, 0);
    static const double w[5] = {1, 2, 3, 0, 4};
    enum { N = 100000 };
    long count[5] = {0};
    size_t idx = 99;
    for (long i = 0; i < N; i++) {
        CHECK_STATUS(vf_rng_categorical(&r, w, 5, &idx), VF_OK);
        if (idx < 5) count[idx]++;
    }
    CHECK(count[3] == 0);
    long nz[4] = {count[0], count[1], count[2], count[4]};
    double p[4] = {0.1, 0.2, 0.3, 0.4};
    double s = chi2_stat(nz, p, 4, N);
    CHECK_MSG(s < chi2_crit(3), "categorical: chi2 %.2f >= %.2f", s, chi2_crit(3));

    /* Weights whose sum overflows a double still give a fair draw. */
    static const double big[3] = {1e308, 1e308, 1e308};
    long cb[3] = {0};
    for (long i = 0; i < 30000; i++) {
        CHECK_STATUS(vf_rng_categorical(&r, big, 3, &idx), VF_OK);
        if (idx < 3) cb[idx]++;
    }
    double p3[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
    CHECK_MSG(chi2_stat(cb, p3, 3, 30000) < chi2_crit(2), "categorical with huge weights: %ld %ld %ld", cb[0], cb[1],
              cb[2]);
    /* Tiny (subnormal) weights are fine too. */
    static const double tiny[2] = {4.9e-324, 0.0};
    CHECK_STATUS(vf_rng_categorical(&r, tiny, 2, &idx), VF_OK);
    CHECK(idx == 0);

    /* Errors: negative, NaN, infinite, all zero, none. */
    double bad[3] = {1, -1, 1};
    vf_clear_error();
    CHECK_STATUS(vf_rng_categorical(&r, bad, 3, &idx), VF_ERR_ARG);
    CHECK(vf_last_error()[0] != '\0');
    bad[1] = NAN;
    CHECK_STATUS(vf_rng_categorical(&r, bad, 3, &idx), VF_ERR_ARG);
    bad[1] = INFINITY;
    CHECK_STATUS(vf_rng_categorical(&r, bad, 3, &idx), VF_ERR_ARG);
    static const double zeros[3] = {0, 0, 0};
    vf_clear_error();
    CHECK_STATUS(vf_rng_categorical(&r, zeros, 3, &idx), VF_ERR_ARG);
    CHECK(vf_last_error()[0] != '\0');
    CHECK_STATUS(vf_rng_categorical(&r, w, 0, &idx), VF_ERR_ARG);
    CHECK_STATUS(vf_rng_categorical(&r, NULL, 3, &idx), VF_ERR_ARG);
    CHECK_STATUS(vf_rng_categorical(&r, w, 5, NULL), VF_ERR_ARG);
}

static void test_permutation(void)
{
    vf_rng r;
    vf_rng_init(&r, 10, 0);
    size_t perm[100];
    int seen[100] = {0}, ok = 1;
    vf_rng_permutation(&r, 100, perm);
    for (int i = 0; i < 100; i++) {
        ok &= perm[i] < 100;
        if (perm[i] < 100) seen[perm[i]]++;
    }
    for (int i = 0; i < 100; i++) ok &= seen[i] == 1;
    CHECK(ok);
    vf_rng_permutation(&r, 0, perm); /* nothing to do */
    vf_rng_permutation(&r, 1, perm);
    CHECK(perm[0] == 0);

    /* All 6 orders of 3 equally likely. */
    enum { N = 60000 };
    long count[6] = {0};
    for (long i = 0; i < N; i++) {
        vf_rng_permutation(&r, 3, perm);
        int code = (int)(perm[0] * 3 + perm[1]); /* first two determine the order */
        static const int rank[9] = {-1, 0, 1, 2, -1, 3, 4, 5, -1};
        int k = rank[code];
        CHECK(k >= 0 && perm[2] == 3 - perm[0] - perm[1]);
        if (k >= 0) count[k]++;
    }
    double p[6];
    for (int i = 0; i < 6; i++) p[i] = 1.0 / 6;
    double s = chi2_stat(count, p, 6, N);
    CHECK_MSG(s < chi2_crit(5), "permutation of 3: chi2 %.2f >= %.2f", s, chi2_crit(5));
}

static void test_bernoulli(void)
{
    vf_rng r;
    vf_rng_init(&r, 11, 0);
    long ones = 0, n = 100000, zero_p = 0, one_p = 0;
    for (long i = 0; i < n; i++) {
        ones += vf_rng_bernoulli(&r, 0.3);
        zero_p += vf_rng_bernoulli(&r, 0.0);
        one_p += vf_rng_bernoulli(&r, 1.0);
    }
    CHECK_NEAR((double)ones / (double)n, 0.3, 5.0 * sqrt(0.21 / (double)n));
    CHECK(zero_p == 0);
    CHECK(one_p == n);
}

/* Pearson correlation of uniforms from two generators. */
static double corr(vf_rng *a, vf_rng *b, long n)
{
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    for (long i = 0; i < n; i++) {
        double x = vf_rng_uniform(a), y = vf_rng_uniform(b);
        sa += x;
        sb += y;
        saa += x * x;
        sbb += y * y;
        sab += x * y;
    }
    double ma = sa / n, mb = sb / n;
    return (sab / n - ma * mb) / sqrt((saa / n - ma * ma) * (sbb / n - mb * mb));
}

static void test_split(void)
{
    vf_rng r;
    vf_rng_init(&r, 12, 5);
    vf_rng_u64(&r);
    uint64_t c = r.counter;
    vf_rng s0 = vf_rng_split(&r, 0), s1 = vf_rng_split(&r, 1), s0b = vf_rng_split(&r, 0);
    CHECK(r.counter == c); /* does not advance r */
    CHECK(s0.stream == s0b.stream && s0.counter == s0b.counter); /* deterministic */
    CHECK(s0.stream != s1.stream);
    CHECK(s0.stream != r.stream && s1.stream != r.stream);
    /* A split of a split differs from both. */
    vf_rng s00 = vf_rng_split(&s0, 0);
    CHECK(s00.stream != s0.stream && s00.stream != s1.stream);

    int same = 0;
    vf_rng a = s0, b = s1;
    for (int i = 0; i < 1000; i++) same += vf_rng_u64(&a) == vf_rng_u64(&b);
    CHECK(same == 0);

    long n = 100000;
    double lim = 5.0 / sqrt((double)n); /* sd of a null correlation is 1 / sqrt(n) */
    a = s0;
    b = s1;
    double c01 = corr(&a, &b, n);
    CHECK_MSG(fabs(c01) < lim, "split 0 vs 1: correlation %.4f", c01);
    vf_rng parent = r;
    a = s0;
    double cp0 = corr(&parent, &a, n);
    CHECK_MSG(fabs(cp0) < lim, "parent vs split 0: correlation %.4f", cp0);
    /* Neighbouring indices of the parent at the same counter: lag-0 correlation of 8 splits. */
    for (uint64_t k = 2; k < 8; k++) {
        vf_rng x = vf_rng_split(&r, k), y = vf_rng_split(&r, k + 1);
        double ck = corr(&x, &y, 20000);
        CHECK_MSG(fabs(ck) < 5.0 / sqrt(20000.0), "split %llu vs %llu: correlation %.4f", (unsigned long long)k,
                  (unsigned long long)k + 1, ck);
    }
}

int main(void)
{
    RUN(test_known_answers);
    RUN(test_draws_from_block);
    RUN(test_reproducible);
    RUN(test_fill_thread_invariance);
    RUN(test_fill_split);
    RUN(test_uniform_fill_range);
    RUN(test_uniform_moments);
    RUN(test_normal_moments);
    RUN(test_normal_ks);
    RUN(test_below);
    RUN(test_categorical);
    RUN(test_permutation);
    RUN(test_bernoulli);
    RUN(test_split);
    return vf_test_summary();
}
