/* rng.c — Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
 *
 * A block is the 10-round Philox bijection of a 128-bit counter under a 64-bit key:
 * counter = (block index lo, block index hi, stream lo, stream hi), key = seed.
 * Element i of a fill maps to block (start + i / per_block), so results do not depend on how the
 * loop is split across threads.
 */
#include <math.h>
#include "internal.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

static void philox(const uint32_t key_in[2], uint64_t block, uint64_t stream, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = key_in[0], k1 = key_in[1];
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = mulhilo(PHILOX_M0, c0, &hi0);
        uint32_t lo1 = mulhilo(PHILOX_M1, c2, &hi1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

void vf_rng_init(vf_rng *r, uint64_t seed, uint64_t stream)
{
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->counter = 0;
    r->stream = stream;
}

vf_rng vf_rng_split(const vf_rng *r, uint64_t index)
{
    /* A new stream: hash (stream, index) through one Philox block so nearby indices decorrelate. */
    uint32_t h[4];
    philox(r->key, index, r->stream ^ 0x5851F42D4C957F2DULL, h);
    vf_rng s = *r;
    s.stream = ((uint64_t)h[0] << 32 | h[1]);
    s.counter = 0;
    return s;
}

void vf_rng_block(vf_rng *r, uint32_t out[4]) { philox(r->key, r->counter++, r->stream, out); }

#if VF_USE_DOUBLE
#define nextafter_real nextafter
#else
#define nextafter_real nextafterf
#endif

static inline double u53(uint32_t hi, uint32_t lo)
{
    return (double)(((uint64_t)hi << 21) ^ (lo >> 11)) * (1.0 / 9007199254740992.0);
}

uint64_t vf_rng_u64(vf_rng *r)
{
    uint32_t b[4];
    vf_rng_block(r, b);
    return (uint64_t)b[0] << 32 | b[1];
}

double vf_rng_uniform(vf_rng *r)
{
    uint32_t b[4];
    vf_rng_block(r, b);
    return u53(b[0], b[1]);
}

/* Box-Muller on one block: two normals. u1 in (0, 1] so the log is finite. */
static inline void normal_pair(const uint32_t b[4], double *z0, double *z1)
{
    double u1 = 1.0 - u53(b[0], b[1]);
    double u2 = u53(b[2], b[3]);
    double rad = sqrt(-2.0 * log(u1));
    double ang = 6.283185307179586476925 * u2;
    *z0 = rad * cos(ang);
    *z1 = rad * sin(ang);
}

double vf_rng_normal(vf_rng *r)
{
    uint32_t b[4];
    double z0, z1;
    vf_rng_block(r, b);
    normal_pair(b, &z0, &z1);
    return z0;
}

uint64_t vf_rng_below(vf_rng *r, uint64_t n)
{
    if (n <= 1) return 0;
    /* Rejection on the top multiple of n (Lemire would be faster; this is clearly unbiased). */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t v = vf_rng_u64(r);
        if (v < limit) return v % n;
    }
}

/* lo + w u rounded to vf_real, kept below hi: with u close to 1 the sum (or its conversion to
 * float) can round up to hi itself, which [lo, hi) excludes; such a value becomes `top`, the largest
 * vf_real below hi (or lo if there is none above lo). */
static inline vf_real uniform_in(double lo, double w, double u, double hi, vf_real top)
{
    vf_real x = (vf_real)(lo + w * u);
    return (double)x >= hi && w > 0.0 ? top : x;
}

void vf_rng_uniform_fill(vf_rng *r, vf_real *out, size_t n, double lo, double hi)
{
    uint64_t base = r->counter;
    size_t blocks = (n + 1) / 2;
    double w = hi - lo;
    vf_real top = (vf_real)hi;
    if ((double)top >= hi) top = nextafter_real(top, (vf_real)lo);
    if ((double)top < lo) top = (vf_real)lo;
#if VF_HAVE_OPENMP
#pragma omp parallel for schedule(static) if (n > 65536) num_threads(vf__threads())
#endif
    for (size_t j = 0; j < blocks; j++) {
        uint32_t b[4];
        philox(r->key, base + j, r->stream, b);
        out[2 * j] = uniform_in(lo, w, u53(b[0], b[1]), hi, top);
        if (2 * j + 1 < n) out[2 * j + 1] = uniform_in(lo, w, u53(b[2], b[3]), hi, top);
    }
    r->counter = base + blocks;
}

void vf_rng_normal_fill_double(vf_rng *r, double *out, size_t n)
{
    uint64_t base = r->counter;
    size_t blocks = (n + 1) / 2;
#if VF_HAVE_OPENMP
#pragma omp parallel for schedule(static) if (n > 65536) num_threads(vf__threads())
#endif
    for (size_t j = 0; j < blocks; j++) {
        uint32_t b[4];
        double z0, z1;
        philox(r->key, base + j, r->stream, b);
        normal_pair(b, &z0, &z1);
        out[2 * j] = z0;
        if (2 * j + 1 < n) out[2 * j + 1] = z1;
    }
    r->counter = base + blocks;
}

void vf_rng_normal_fill(vf_rng *r, vf_real *out, size_t n, double mean, double sd)
{
    uint64_t base = r->counter;
    size_t blocks = (n + 1) / 2;
#if VF_HAVE_OPENMP
#pragma omp parallel for schedule(static) if (n > 65536) num_threads(vf__threads())
#endif
    for (size_t j = 0; j < blocks; j++) {
        uint32_t b[4];
        double z0, z1;
        philox(r->key, base + j, r->stream, b);
        normal_pair(b, &z0, &z1);
        out[2 * j] = (vf_real)(mean + sd * z0);
        if (2 * j + 1 < n) out[2 * j + 1] = (vf_real)(mean + sd * z1);
    }
    r->counter = base + blocks;
}

vf_status vf_rng_categorical(vf_rng *r, const double *weights, size_t k, size_t *index)
{
    double total = 0.0, wmax = 0.0;
    if (!weights || !index || k == 0) return vf__error(VF_ERR_ARG, "categorical: no weights");
    for (size_t i = 0; i < k; i++) {
        if (!(weights[i] >= 0.0) || !isfinite(weights[i]))
            return vf__error(VF_ERR_ARG, "categorical: weight %zu is %g (must be finite and >= 0)", i,
                             weights[i]);
        if (weights[i] > wmax) wmax = weights[i];
    }
    if (!(wmax > 0.0)) return vf__error(VF_ERR_ARG, "categorical: weights sum to zero");
    /* Work with weights / max so the sum cannot overflow (it lies in [1, k]). */
    for (size_t i = 0; i < k; i++) total += weights[i] / wmax;
    double u = vf_rng_uniform(r) * total, acc = 0.0;
    size_t last = 0;
    for (size_t i = 0; i < k; i++) {
        if (weights[i] <= 0.0) continue;
        last = i;
        acc += weights[i] / wmax;
        if (u < acc) {
            *index = i;
            return VF_OK;
        }
    }
    *index = last; /* rounding: u landed at the very top */
    return VF_OK;
}

void vf_rng_permutation(vf_rng *r, size_t n, size_t *perm)
{
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)vf_rng_below(r, i);
        size_t tmp = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = tmp;
    }
}

int vf_rng_bernoulli(vf_rng *r, double p) { return vf_rng_uniform(r) < p; }
