/* vf_rng.h — counter-based random numbers (Philox4x32-10), reproducible whatever the thread count.
 *
 * Usage
 *   vf_rng r;
 *   vf_rng_init(&r, 42, 0);                       // seed, stream
 *   double u = vf_rng_uniform(&r);                // [0, 1)
 *   vf_rng_normal_fill(&r, x, n, 0.0, 1.0);       // n standard normals into x
 *   vf_rng_permutation(&r, n, perm);              // random permutation of 0..n-1
 *
 * The state is a key (from seed and stream) and a 64-bit block counter. Fill functions map element i
 * to a fixed block, so they may be split across threads and still give identical results.
 * vf_rng_split() derives an independent generator (e.g. one per chain or per worker).
 */
#ifndef VF_RNG_H
#define VF_RNG_H

#include "vf_core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vf_rng {
    uint32_t key[2];      /* from seed and stream */
    uint64_t counter;     /* index of the next unused 128-bit block */
    uint64_t stream;
} vf_rng;

void vf_rng_init(vf_rng *r, uint64_t seed, uint64_t stream);
/* An independent generator for sub-stream `index`; does not advance r. */
vf_rng vf_rng_split(const vf_rng *r, uint64_t index);
/* One raw 128-bit block as four 32-bit words; advances the counter by one. */
void vf_rng_block(vf_rng *r, uint32_t out[4]);

uint64_t vf_rng_u64(vf_rng *r);
double vf_rng_uniform(vf_rng *r);          /* U[0,1) with 53 random bits */
double vf_rng_normal(vf_rng *r);           /* N(0,1) */
/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t vf_rng_below(vf_rng *r, uint64_t n);

/* Fills use ceil(n/2) blocks (two values per block), so two fills equal one fill of the combined
 * length only when the first length is even. */
/* out[i] ~ U[lo, hi), i < n; a value that rounds to hi in vf_real is replaced by the largest below. */
void vf_rng_uniform_fill(vf_rng *r, vf_real *out, size_t n, double lo, double hi);
/* out[i] ~ N(mean, sd^2), i < n. */
void vf_rng_normal_fill(vf_rng *r, vf_real *out, size_t n, double mean, double sd);
void vf_rng_normal_fill_double(vf_rng *r, double *out, size_t n);
/* Index drawn with probability weights[i] / sum(weights); weights >= 0, finite, sum > 0.
 * Returns VF_ERR_ARG otherwise. */
vf_status vf_rng_categorical(vf_rng *r, const double *weights, size_t k, size_t *index);
/* Uniformly random permutation of 0..n-1 (Fisher-Yates). */
void vf_rng_permutation(vf_rng *r, size_t n, size_t *perm);
/* Bernoulli(p). */
int vf_rng_bernoulli(vf_rng *r, double p);

#ifdef __cplusplus
}
#endif
#endif
