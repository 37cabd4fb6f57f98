/* sort.c — ascending sort of doubles by LSD radix sort (the sorted-projection metrics and particle
 * flows sort tens of thousands of values per direction; a comparison sort through qsort's callback is
 * several times slower).
 *
 * Each double is mapped to an unsigned 64-bit key that orders like the value (flip every bit of a
 * negative number, the sign bit of a non-negative one), then sorted by six 11-bit digits, least
 * significant first. One pass over the keys counts all six digits' histograms; a digit on which every
 * key agrees (the high exponent bits of values of one magnitude, typically) is skipped. Short arrays go
 * to insertion sort. NaN is not ordered meaningfully (callers check their inputs are finite); -0.0
 * sorts before +0.0.
 */
#include <string.h>
#include "internal.h"

enum { RADIX_BITS = 11, RADIX_BINS = 1 << RADIX_BITS, RADIX_DIGITS = 6, RADIX_SMALL = 64 };

static inline uint64_t key_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return (u >> 63) ? ~u : (u | UINT64_C(0x8000000000000000));
}

static inline double value_of(uint64_t k)
{
    uint64_t u = (k >> 63) ? (k & ~UINT64_C(0x8000000000000000)) : ~k;
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static void insertion_sort(double *a, int64_t n, int64_t *idx)
{
    for (int64_t i = 1; i < n; i++) {
        double v = a[i];
        int64_t t = idx ? idx[i] : 0, j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            if (idx) idx[j] = idx[j - 1];
            j--;
        }
        a[j] = v;
        if (idx) idx[j] = t;
    }
}

/* Sorts keys (and idx alongside when not NULL) using the work arrays kw [n] and iw [n] (iw only with
 * idx); the result ends in keys/idx. */
static void radix_sort_keys(uint64_t *keys, int64_t *idx, int64_t n, uint64_t *kw, int64_t *iw)
{
    static const int shifts[RADIX_DIGITS] = {0, 11, 22, 33, 44, 55};
    size_t count[RADIX_DIGITS][RADIX_BINS];
    memset(count, 0, sizeof count);
    for (int64_t i = 0; i < n; i++) {
        uint64_t k = keys[i];
        for (int d = 0; d < RADIX_DIGITS; d++) count[d][(k >> shifts[d]) & (RADIX_BINS - 1)]++;
    }
    uint64_t *src = keys, *dst = kw;
    int64_t *isrc = idx, *idst = iw;
    for (int d = 0; d < RADIX_DIGITS; d++) {
        size_t *c = count[d];
        if (c[(src[0] >> shifts[d]) & (RADIX_BINS - 1)] == (size_t)n) continue; /* every key has this digit */
        size_t sum = 0;
        for (int b = 0; b < RADIX_BINS; b++) {
            size_t t = c[b];
            c[b] = sum;
            sum += t;
        }
        for (int64_t i = 0; i < n; i++) {
            size_t pos = c[(src[i] >> shifts[d]) & (RADIX_BINS - 1)]++;
            dst[pos] = src[i];
            if (idx) idst[pos] = isrc[i];
        }
        uint64_t *kt = src;
        src = dst;
        dst = kt;
        int64_t *it = isrc;
        isrc = idst;
        idst = it;
    }
    if (src != keys) {
        memcpy(keys, src, (size_t)n * sizeof *keys);
        if (idx) memcpy(idx, isrc, (size_t)n * sizeof *idx);
    }
}

void vf__sort_doubles(double *a, int64_t n, uint64_t *work)
{
    if (n <= RADIX_SMALL) {
        insertion_sort(a, n, NULL);
        return;
    }
    uint64_t *keys = work;
    for (int64_t i = 0; i < n; i++) keys[i] = key_of(a[i]);
    radix_sort_keys(keys, NULL, n, work + n, NULL);
    for (int64_t i = 0; i < n; i++) a[i] = value_of(keys[i]);
}

void vf__argsort_doubles(double *a, int64_t *idx, int64_t n, uint64_t *work, int64_t *iwork)
{
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    if (n <= RADIX_SMALL) {
        insertion_sort(a, n, idx);
        return;
    }
    uint64_t *keys = work;
    for (int64_t i = 0; i < n; i++) keys[i] = key_of(a[i]);
    radix_sort_keys(keys, idx, n, work + n, iwork);
    for (int64_t i = 0; i < n; i++) a[i] = value_of(keys[i]);
}
