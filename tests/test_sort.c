/* test_sort.c — the radix sort of doubles (src/core/sort.c) against qsort on mixed signs, magnitudes
 * from 1e-300 to 1e300, subnormals, zeros of both signs and many ties, at sizes around the
 * insertion-sort threshold and far above it; the argsort's indices point at the original values and
 * keep equal values in their original order. */
#include <stdlib.h>
#include "internal.h"
#include "vf_test.h"
#include "varflow.h"

static double draw(vf_rng *r, int kind)
{
    double u = vf_rng_uniform(r);
    switch (kind) {
    case 0: return vf_rng_normal(r);                                  /* one magnitude */
    case 1: return (u < 0.5 ? -1 : 1) * pow(10.0, 600 * vf_rng_uniform(r) - 300); /* every magnitude */
    case 2: return (double)(int)(5 * u) - 2;                          /* ties, zeros */
    case 3: return u < 0.1 ? -0.0 : u < 0.2 ? 0.0 : u < 0.3 ? 4.9e-324 : u < 0.4 ? -4.9e-324 : vf_rng_normal(r);
    default: return 1e6 + u;                                          /* same exponent */
    }
}

static void test_matches_qsort(void)
{
    const int64_t sizes[] = {0, 1, 2, 63, 64, 65, 1000, 4097, 100000};
    for (int kind = 0; kind < 5; kind++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            int64_t n = sizes[s];
            double *a = malloc((size_t)(n + 1) * sizeof *a), *b = malloc((size_t)(n + 1) * sizeof *b);
            double *c = malloc((size_t)(n + 1) * sizeof *c);
            uint64_t *work = malloc((size_t)(2 * n + 1) * sizeof *work);
            int64_t *idx = malloc((size_t)(n + 1) * sizeof *idx), *iwork = malloc((size_t)(n + 1) * sizeof *iwork);
            vf_rng r;
            vf_rng_init(&r, (uint64_t)(kind * 100 + (int)s), 0);
            for (int64_t i = 0; i < n; i++) a[i] = b[i] = c[i] = draw(&r, kind);
            qsort(b, (size_t)n, sizeof *b, vf__compare_doubles);
            vf__sort_doubles(a, n, work);
            int same = 1;
            for (int64_t i = 0; i < n; i++) same &= a[i] == b[i];
            CHECK_MSG(same, "kind %d n %lld: differs from qsort", kind, (long long)n);
            double *d = malloc((size_t)(n + 1) * sizeof *d);
            for (int64_t i = 0; i < n; i++) d[i] = c[i];
            vf__argsort_doubles(d, idx, n, work, iwork);
            int ok = 1;
            for (int64_t i = 0; i < n; i++) {
                ok &= d[i] == b[i] && c[idx[i]] == d[i];
                if (i > 0 && d[i] == d[i - 1] && signbit(d[i]) == signbit(d[i - 1])) ok &= idx[i] > idx[i - 1];
            }
            CHECK_MSG(ok, "kind %d n %lld: argsort wrong or unstable", kind, (long long)n);
            free(a), free(b), free(c), free(d), free(work), free(idx), free(iwork);
        }
}

/* -0.0 before +0.0, and subnormals in their place. */
static void test_signed_zeros(void)
{
    double a[70];
    uint64_t work[140];
    for (int i = 0; i < 70; i++) a[i] = (i % 3 == 0) ? 0.0 : (i % 3 == 1) ? -0.0 : -4.9e-324;
    vf__sort_doubles(a, 70, work);
    int ok = 1;
    for (int i = 0; i < 70; i++) {
        int want = i < 23 ? 2 : i < 46 ? 1 : 0; /* -denormal (23 of them), then -0 (23), then +0 (24) */
        int got = a[i] == -4.9e-324 ? 2 : signbit(a[i]) ? 1 : 0;
        ok &= want == got;
    }
    CHECK(ok);
}

int main(void)
{
    RUN(test_matches_qsort);
    RUN(test_signed_zeros);
    return vf_test_summary();
}
