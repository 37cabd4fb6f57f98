/* alloc_fail.h — a counting vf_allocator that fails on demand, for out-of-memory tests
 * (SQLite's test_malloc idea: fail the 1st allocation, then the 2nd, ... until the operation
 * succeeds, and check that every failure is reported as VF_ERR_NOMEM and nothing leaks).
 *
 * Usage
 *   #include "alloc_fail.h"
 *
 *   // Count the allocations of some code (fail_at = 0: never fail):
 *   af_install(0, 0);
 *   ... code under test ...
 *   af_remove();
 *   printf("%ld allocations, %ld blocks still live\n", af.calls, af.live);
 *
 *   // Sweep: run `scenario` with allocation k failing, k = 1, 2, ... until a run needs no
 *   // failed allocation. The scenario must free everything it made on every path and return
 *   // the first non-OK status it saw (VF_OK if all went well and its results were right).
 *   static vf_status scenario(void *ctx) { ... }
 *   CHECK(af_sweep("tensor clone", scenario, NULL, 0) == 0);   // 0 problems; sticky = 0 or 1
 *
 * af_sweep checks, for every k: the status is VF_OK or VF_ERR_NOMEM; a VF_ERR_NOMEM comes with a
 * message in vf_last_error(); VF_OK is allowed after an injected failure only when the library
 * recovered (the scenario must then have verified its results); the number of live blocks is back
 * to zero after the scenario. It prints each problem on stderr and returns their count.
 * With sticky = 1 every allocation after the k-th fails too (a process that has run out of memory).
 * Requests above AF_MAX_BYTES always fail, so a bug that asks for an absurd size cannot hit the
 * real allocator (which under AddressSanitizer would abort instead of returning NULL).
 * Not thread-safe: the code under test must allocate from one thread at a time.
 */
#ifndef VF_ALLOC_FAIL_H
#define VF_ALLOC_FAIL_H

#include <stdio.h>
#include <stdlib.h>
#include <varflow.h>

#ifndef AF_MAX_BYTES
#define AF_MAX_BYTES ((size_t)1 << 31)
#endif

typedef struct af_state {
    long calls;     /* allocation requests seen (alloc and realloc) */
    long fail_at;   /* 1-based index of the request to fail; 0 = never */
    int sticky;     /* 1: fail every request after fail_at as well */
    long failures;  /* requests refused (injected or over AF_MAX_BYTES) */
    long live;      /* blocks handed out and not yet freed */
    long frees;     /* calls of free */
} af_state;

static af_state af;

static inline int af_refuse(size_t size)
{
    af.calls++;
    int fail = size > AF_MAX_BYTES;
    if (af.fail_at > 0 && (af.calls == af.fail_at || (af.sticky && af.calls > af.fail_at))) fail = 1;
    if (fail) af.failures++;
    return fail;
}

static inline void *af_alloc(size_t size, void *user)
{
    (void)user;
    if (af_refuse(size)) return NULL;
    void *p = malloc(size);
    if (p) af.live++;
    return p;
}

static inline void *af_realloc(void *p, size_t size, void *user)
{
    (void)user;
    if (af_refuse(size)) return NULL; /* p stays valid, as with realloc */
    void *q = realloc(p, size);
    if (q && !p) af.live++;
    return q;
}

static inline void af_free(void *p, void *user)
{
    (void)user;
    if (!p) return;
    af.frees++;
    af.live--;
    free(p);
}

/* Reset the counters and make varflow allocate through af (fail_at = 0: never fail). */
static inline void af_install(long fail_at, int sticky)
{
    static const vf_allocator hooks = {af_alloc, af_realloc, af_free, NULL};
    af.calls = 0;
    af.fail_at = fail_at;
    af.sticky = sticky;
    af.failures = 0;
    af.live = 0;
    af.frees = 0;
    vf_set_allocator(&hooks);
}

/* Back to malloc/realloc/free. */
static inline void af_remove(void) { vf_set_allocator(NULL); }

typedef vf_status (*af_scenario)(void *ctx);

/* Run fn with the k-th allocation failing, k = 1, 2, ... (at most max_k runs, 0 = 100000) until a
 * run sees no injected failure. Returns the number of problems found (0 = all paths safe). */
static inline int af_sweep_n(const char *name, af_scenario fn, void *ctx, int sticky, long max_k)
{
    int problems = 0;
    if (max_k <= 0) max_k = 100000;
    for (long k = 1; k <= max_k; k++) {
        vf_clear_error();
        af_install(k, sticky);
        vf_status s = fn(ctx);
        af_remove();
        long injected = af.failures;
        if (s != VF_OK && s != VF_ERR_NOMEM) {
            fprintf(stderr, "%s: allocation %ld failing (sticky %d): status %s (%s)\n", name, k, sticky,
                    vf_status_name(s), vf_last_error());
            problems++;
        }
        if (s == VF_ERR_NOMEM && vf_last_error()[0] == '\0') {
            fprintf(stderr, "%s: allocation %ld failing: VF_ERR_NOMEM without a message\n", name, k);
            problems++;
        }
        if (s == VF_ERR_NOMEM && injected == 0) {
            fprintf(stderr, "%s: VF_ERR_NOMEM although no allocation failed (k = %ld)\n", name, k);
            problems++;
        }
        if (af.live != 0) {
            fprintf(stderr, "%s: allocation %ld failing (sticky %d): %ld blocks leaked\n", name, k, sticky,
                    af.live);
            problems++;
        }
        if (injected == 0) return problems; /* the run needed fewer than k allocations: done */
    }
    fprintf(stderr, "%s: still failing after %ld allocations\n", name, max_k);
    return problems + 1;
}

static inline int af_sweep(const char *name, af_scenario fn, void *ctx, int sticky)
{
    return af_sweep_n(name, fn, ctx, sticky, 0);
}

#endif
