/* directions.c — unit directions for the sliced distances and flows: random (normalized N(0, I)
 * draws) and quasi-random (a randomly shifted Halton sequence mapped to N(0, I) by Box-Muller, then
 * normalized: directions spread more evenly over the sphere than independent ones, so sliced
 * estimates from few directions vary less).
 *
 * The Halton point i (i = 1, 2, ...) has coordinate j = the radical inverse of i in the j-th prime
 * base; a Cranley-Patterson shift (one uniform per coordinate, from the seed) makes the set random
 * while keeping its spread, so averages over it are unbiased. Coordinates 2l and 2l + 1 go through
 * Box-Muller together (r = sqrt(-2 log u), angle 2 pi v), giving d standard normals per point. */
#include <math.h>
#include "ot_internal.h"
#include "varflow/vf_ot.h"

void vf__random_direction(vf_rng *r, int64_t d, double *theta)
{
    double s;
    do {
        vf_rng_normal_fill_double(r, theta, (size_t)d);
        s = 0;
        for (int64_t k = 0; k < d; k++) s += theta[k] * theta[k];
    } while (s == 0);
    s = 1 / sqrt(s);
    for (int64_t k = 0; k < d; k++) theta[k] *= s;
}

/* The first `count` primes into p [count] (trial division: count is a dimension, small). */
static void first_primes(int64_t count, int64_t *p)
{
    int64_t found = 0;
    for (int64_t c = 2; found < count; c++) {
        int prime = 1;
        for (int64_t k = 0; k < found && p[k] * p[k] <= c; k++)
            if (c % p[k] == 0) {
                prime = 0;
                break;
            }
        if (prime) p[found++] = c;
    }
}

/* The radical inverse of i in base b: the digits of i mirrored behind the point. */
static double radical_inverse(uint64_t i, int64_t b)
{
    double inv = 1.0 / (double)b, f = inv, x = 0;
    while (i > 0) {
        x += f * (double)(i % (uint64_t)b);
        i /= (uint64_t)b;
        f *= inv;
    }
    return x;
}

vf_status vf_directions(int64_t k, int64_t d, vf_directions_kind kind, uint64_t seed, double *dirs)
{
    if (k < 1 || d < 1 || !dirs)
        return vf__error(VF_ERR_ARG, "directions: need k >= 1, d >= 1 and an output array (got k %lld, d %lld)",
                         (long long)k, (long long)d);
    if (kind != VF_DIRECTIONS_RANDOM && kind != VF_DIRECTIONS_QMC)
        return vf__error(VF_ERR_ARG, "directions: unknown kind %d", (int)kind);
    vf_rng r;
    vf_rng_init(&r, seed, VF__DIRECTIONS_STREAM);
    if (kind == VF_DIRECTIONS_RANDOM) {
        for (int64_t l = 0; l < k; l++) vf__random_direction(&r, d, dirs + l * d);
        return VF_OK;
    }
    int64_t dims = d + (d & 1); /* Box-Muller takes coordinates in pairs */
    int64_t *primes = vf_malloc((size_t)dims * sizeof *primes);
    double *shift = vf_malloc((size_t)dims * sizeof *shift), *z = vf_malloc((size_t)dims * sizeof *z);
    if (!primes || !shift || !z) {
        vf_free(primes);
        vf_free(shift);
        vf_free(z);
        return vf__error(VF_ERR_NOMEM, "directions: out of memory");
    }
    first_primes(dims, primes);
    for (int64_t j = 0; j < dims; j++) shift[j] = vf_rng_uniform(&r);
    for (int64_t l = 0; l < k; l++) {
        double s = 0;
        for (int64_t j = 0; j < dims; j += 2) {
            double u = radical_inverse((uint64_t)l + 1, primes[j]) + shift[j];
            double v = radical_inverse((uint64_t)l + 1, primes[j + 1]) + shift[j + 1];
            u -= floor(u);
            v -= floor(v);
            double rad = sqrt(-2 * log(1 - u)); /* 1 - u in (0, 1]: finite */
            z[j] = rad * cos(2 * VF_PI * v);
            z[j + 1] = rad * sin(2 * VF_PI * v);
        }
        for (int64_t j = 0; j < d; j++) s += z[j] * z[j];
        if (s == 0) { /* u = 0 exactly: the zero vector has no direction; take the first axis */
            z[0] = 1;
            s = 1;
        }
        s = 1 / sqrt(s);
        for (int64_t j = 0; j < d; j++) dirs[l * d + j] = z[j] * s;
    }
    vf_free(primes);
    vf_free(shift);
    vf_free(z);
    return VF_OK;
}
