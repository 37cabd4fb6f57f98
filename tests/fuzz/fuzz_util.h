/* fuzz_util.h — shared by the libFuzzer targets (tests/fuzz/README.md): the fuzzer's bytes as a file
 * for the readers that take a path, as rows of raw floats, and the checks every target makes. */
#ifndef VF_FUZZ_UTIL_H
#define VF_FUZZ_UTIL_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "varflow.h"

/* A violated check: abort, which libFuzzer reports with the input. */
static inline void fuzz_require(int ok)
{
    if (!ok) abort();
}

/* 1 when a value of v [n] is NaN. */
static inline int fuzz_any_nan(const vf_real *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (isnan((double)v[i])) return 1;
    return 0;
}

/* 1 when every value of v [n] is finite, or -inf where allow_neg_inf. */
static inline int fuzz_all_finite(const vf_real *v, int64_t n, int allow_neg_inf)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite((double)v[i]) && !(allow_neg_inf && isinf((double)v[i]) && v[i] < 0)) return 0;
    return 1;
}

/* Rows of d raw floats (4 bytes each: NaN, infinities and huge values included) from data [size] into
 * x [max_rows, d]; returns how many rows there were, at most max_rows. */
static inline int64_t fuzz_float_rows(const unsigned char *data, size_t size, int64_t d, int64_t max_rows, vf_real *x)
{
    int64_t n = (int64_t)(size / (4 * (size_t)d));
    if (n > max_rows) n = max_rows;
    for (int64_t i = 0; i < n * d; i++) {
        float v;
        memcpy(&v, data + 4 * i, 4);
        x[i] = (vf_real)v;
    }
    return n;
}

/* Writes data [size] to a file of this process under $TMPDIR (or /tmp) with the given suffix; returns
 * its path (static storage), or NULL when it cannot be written. */
static inline const char *fuzz_as_file(const unsigned char *data, size_t size, const char *suffix)
{
    static char path[512];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/vf_fuzz_%ld%s", dir && *dir ? dir : "/tmp", (long)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    int ok = fwrite(data, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    return ok ? path : NULL;
}
#endif
