/* test_arena.c — the bump allocator: 64-byte alignment, growth across chunks, blocks that never
 * overlap, reset reaching a steady state with no allocation per round, calloc zeroing, overflow. */
#include <stdint.h>
#include <string.h>
#include <varflow.h>
#include "alloc_fail.h"
#include "vf_test.h"

#define ALIGN 64

/* Allocate blocks of the given sizes, tag each with its index, then check every tag survived
 * (blocks do not overlap) and every block is 64-byte aligned. Returns 1 if all is well. */
static int alloc_pattern(vf_arena *a, int n, const size_t *sizes, unsigned char **blocks)
{
    int ok = 1;
    for (int i = 0; i < n; i++) {
        blocks[i] = vf_arena_alloc(a, sizes[i]);
        if (!blocks[i]) return 0;
        ok &= (uintptr_t)blocks[i] % ALIGN == 0;
        memset(blocks[i], (unsigned char)(i + 1), sizes[i]);
    }
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < sizes[i]; j++) ok &= blocks[i][j] == (unsigned char)(i + 1);
    return ok;
}

static size_t round_up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

static void test_alignment_and_used(void)
{
    af_install(0, 0);
    vf_arena *a = vf_arena_new(4096);
    CHECK(a != NULL);
    CHECK(vf_arena_used(a) == 0);
    size_t sizes[40], total = 0;
    unsigned char *blocks[40];
    for (int i = 0; i < 40; i++) {
        sizes[i] = (size_t)(1 + 37 * i % 200);
        total += round_up(sizes[i]);
    }
    CHECK(alloc_pattern(a, 40, sizes, blocks));
    CHECK(vf_arena_used(a) == total);
    /* Zero bytes: a valid aligned pointer, nothing used. */
    void *z = vf_arena_alloc(a, 0);
    CHECK(z != NULL && (uintptr_t)z % ALIGN == 0);
    CHECK(vf_arena_used(a) == total);
    vf_arena_free(a);
    af_remove();
    CHECK(af.live == 0);
}

static void test_growth(void)
{
    af_install(0, 0);
    vf_arena *a = vf_arena_new(1000);
    CHECK(a != NULL);
    long after_new = af.calls;
    size_t sizes[64];
    unsigned char *blocks[64];
    for (int i = 0; i < 64; i++) sizes[i] = 65 + (size_t)i; /* 128 bytes each after rounding */
    CHECK(alloc_pattern(a, 64, sizes, blocks));
    long chunks = af.calls - after_new;
    /* 64 x 128 = 8192 bytes from chunks of at least 1000, 2000, 4000, ... : more than one, and
     * since each new chunk at least doubles, no more than log2(8192 / 1000) + 2 of them. */
    CHECK_MSG(chunks >= 2 && chunks <= 5, "%ld chunks", chunks);
    CHECK(vf_arena_used(a) == 64 * 128);
    /* A block larger than any chunk so far gets a chunk of its own size. */
    unsigned char *big = vf_arena_alloc(a, 100000);
    CHECK(big != NULL && (uintptr_t)big % ALIGN == 0);
    if (big) memset(big, 0xab, 100000);
    int intact = 1;
    for (int i = 0; i < 64; i++)
        for (size_t j = 0; j < sizes[i]; j++) intact &= blocks[i][j] == (unsigned char)(i + 1);
    CHECK(intact);
    vf_arena_free(a);
    af_remove();
    CHECK(af.live == 0);
}

/* After one round and a reset, the same pattern of allocations needs no allocation at all. */
static void test_reset_steady_state(void)
{
    enum { N = 50 };
    size_t sizes[N];
    unsigned char *blocks[N];
    for (int i = 0; i < N; i++) sizes[i] = (size_t)(1 + (i * 7919) % 3000);
    sizes[17] = 20000; /* bigger than the first chunk */
    af_install(0, 0);
    vf_arena *a = vf_arena_new(2048);
    CHECK(a != NULL);
    CHECK(alloc_pattern(a, N, sizes, blocks));
    size_t used1 = vf_arena_used(a);
    vf_arena_reset(a);
    CHECK(vf_arena_used(a) == 0);
    long after_first = af.calls;
    for (int round = 0; round < 5; round++) {
        CHECK(alloc_pattern(a, N, sizes, blocks));
        CHECK(vf_arena_used(a) == used1);
        vf_arena_reset(a);
    }
    CHECK_MSG(af.calls == after_first, "%ld allocations after the first round", af.calls - after_first);
    /* One live chunk (plus the arena itself) in the steady state. */
    CHECK(af.live == 2);
    /* A smaller round fits too; a larger one grows again and then settles. */
    CHECK(alloc_pattern(a, N / 2, sizes, blocks));
    vf_arena_reset(a);
    CHECK(af.calls == after_first);
    size_t more[N + 10];
    unsigned char *mb[N + 10];
    for (int i = 0; i < N + 10; i++) more[i] = 4000;
    CHECK(alloc_pattern(a, N + 10, more, mb));
    vf_arena_reset(a);
    long settled = af.calls;
    CHECK(alloc_pattern(a, N + 10, more, mb));
    vf_arena_reset(a);
    CHECK(alloc_pattern(a, N, sizes, blocks));
    vf_arena_reset(a);
    CHECK(af.calls == settled);
    vf_arena_free(a);
    af_remove();
    CHECK(af.live == 0);
}

static void test_calloc(void)
{
    vf_arena *a = vf_arena_new(4096);
    CHECK(a != NULL);
    unsigned char *p = vf_arena_alloc(a, 1000);
    CHECK(p != NULL);
    if (p) memset(p, 0xff, 1000);
    vf_arena_reset(a);
    unsigned char *q = vf_arena_calloc(a, 1000);
    CHECK(q == p); /* the same memory comes back after a reset ... */
    int zero = 1;
    for (int i = 0; q && i < 1000; i++) zero &= q[i] == 0;
    CHECK(zero); /* ... zeroed */
    /* calloc in a fresh chunk too. */
    unsigned char *r = vf_arena_calloc(a, 50000);
    CHECK(r != NULL && (uintptr_t)r % ALIGN == 0);
    zero = 1;
    for (int i = 0; r && i < 50000; i++) zero &= r[i] == 0;
    CHECK(zero);
    vf_arena_free(a);
}

static void test_overflow_and_null(void)
{
    af_install(0, 0);
    vf_arena *a = vf_arena_new(0); /* default chunk size */
    CHECK(a != NULL);
    static const size_t huge[] = {SIZE_MAX, SIZE_MAX - 10, SIZE_MAX - 100, SIZE_MAX / 2 + 1, (size_t)1 << 40};
    for (size_t i = 0; i < sizeof huge / sizeof *huge; i++) {
        vf_clear_error();
        CHECK(vf_arena_alloc(a, huge[i]) == NULL);
        CHECK_MSG(vf_last_error()[0] != '\0', "size %zu: no message", huge[i]);
        CHECK(vf_arena_calloc(a, huge[i]) == NULL);
    }
    CHECK(vf_arena_used(a) == 0);
    /* Still usable. */
    void *p = vf_arena_alloc(a, 100);
    CHECK(p != NULL);
    CHECK(vf_arena_used(a) == 128);
    vf_arena_free(a);
    af_remove();
    CHECK(af.live == 0);
    vf_arena_free(NULL);
    vf_arena_reset(NULL);
    CHECK(vf_arena_used(NULL) == 0);
    CHECK(vf_arena_alloc(NULL, 10) == NULL);
}

int main(void)
{
    RUN(test_alignment_and_used);
    RUN(test_growth);
    RUN(test_reset_steady_state);
    RUN(test_calloc);
    RUN(test_overflow_and_null);
    return vf_test_summary();
}
