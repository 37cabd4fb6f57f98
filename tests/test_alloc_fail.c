/* test_alloc_fail.c — every allocation-failure path: for k = 1, 2, ... the k-th allocation fails
 * (once, or from then on), and the operation must report VF_ERR_NOMEM with a message, never
 * crash, and free everything (counted by alloc_fail.h, and by LeakSanitizer in the ASan build).
 * A run that recovers from a one-off failure (the arena retries after a failed reset) must give
 * exactly the results of a run without failures. */
#include <math.h>
#include <string.h>
#include <varflow.h>
#include "ad/ad_internal.h"
#include "alloc_fail.h"
#include "vf_test.h"

/* ---- (a) a tape: leaves, ops, detach, reverse and forward mode, reset and a second round ---- */
enum { NB = 4, NI = 3, NO = 5, CHAIN = 300, BIG = 300000 };

typedef struct tape_result {
    double loss, loss2, tangent;
    size_t used; /* arena bytes of round one */
    vf_real gw[NO * NI], gb[NO], gx[NB * NI];
} tape_result;

typedef struct tape_ctx {
    vf_real x[NB * NI], w[NO * NI], b[NO], c[NB * NO], tw[NO * NI];
    vf_real ones_b[NB], ones_o[NO];
    vf_real *big;         /* BIG values: a constant larger than the tape's first arena chunk */
    size_t lead;          /* > 0: start each round with a constant of this many values */
    int chain;            /* 1: round one has the chain (and the big constant), and a round two follows */
    tape_result ref;      /* from a run without failures */
    int have_ref;
} tape_ctx;

/* Status of a failed tape, after checking it carries a message (VF_ERR_STATE flags a problem). */
static vf_status tape_failure(vf_tape *t)
{
    vf_status s = vf_tape_status(t);
    if (s == VF_OK) return VF_ERR_STATE;              /* a builder failed without recording why */
    if (vf_tape_error(t)[0] == '\0') return VF_ERR_STATE;
    return s;
}

/* a = exp(tanh(x W^T + b)) * c + detach(exp(...)) (+ a chain summing to 1 in round one);
 * loss = 1^T a 1 + sum(softmax(a, 1)) + mean(logsumexp(a, 1)), shapes:
 * x [4, 3], W [5, 3], b [5], c [4, 5]; the chain adds a scalar CHAIN times so the node array grows
 * past its first 256 slots. */
static vf_var build(vf_tape *t, tape_ctx *cx, tape_result *r, int with_chain, vf_var *xv, vf_var *wv)
{
    if (cx->lead) vf_constant(t, cx->big, 1, (int64_t[]){(int64_t)cx->lead});
    vf_var x = vf_input_grad(t, cx->x, 2, (int64_t[]){NB, NI});
    vf_var w = vf_param(t, cx->w, r->gw, 2, (int64_t[]){NO, NI});
    vf_var b = vf_param(t, cx->b, r->gb, 1, (int64_t[]){NO});
    vf_var h = vf_linear(t, x, w, b, VF_ACT_TANH);
    vf_var e = vf_exp(t, h);
    vf_var c = vf_constant(t, cx->c, 2, (int64_t[]){NB, NO});
    vf_var a = vf_add(t, vf_mul(t, e, c), vf_detach(t, e));
    if (with_chain) {
        vf_constant(t, cx->big, 1, (int64_t[]){BIG}); /* only to make the arena grow */
        vf_var one = vf_scalar(t, 1.0 / CHAIN);
        vf_var s = vf_mul(t, one, vf_scalar(t, 0.0));
        for (int i = 0; i < CHAIN; i++) s = vf_add(t, s, one);
        a = vf_add(t, a, s); /* + 1 */
    }
    vf_var rowsum = vf_matmul(t, vf_input(t, cx->ones_b, 2, (int64_t[]){1, NB}), a, 0, 0); /* [1, NO] */
    vf_var mm = vf_matmul(t, rowsum, vf_input(t, cx->ones_o, 2, (int64_t[]){NO, 1}), 0, 0); /* [1, 1] */
    /* + sum(softmax(a, 1)) (= NB) + mean(logsumexp(a, 1)): reductions along an axis and over all. */
    vf_var sm = vf_sum(t, vf_softmax(t, a, 1), VF_ALL_AXES, 0);    /* [] */
    vf_var lse = vf_mean(t, vf_logsumexp(t, a, 1, 0), VF_ALL_AXES, 0); /* [] */
    *xv = x;
    *wv = w;
    return vf_add(t, mm, vf_add(t, sm, lse)); /* [1, 1] */
}

static vf_status tape_run(tape_ctx *cx, tape_result *r)
{
    memset(r, 0, sizeof *r);
    vf_tape *t = vf_tape_new();
    if (!t) return vf_last_error()[0] ? VF_ERR_NOMEM : VF_ERR_STATE;
    vf_status s = VF_OK;
    vf_var x, w;
    vf_var loss = build(t, cx, r, cx->chain, &x, &w);
    if (loss == VF_NOVAR) {
        s = tape_failure(t);
        CHECK(vf_value(t, loss) == NULL);
        goto done;
    }
    r->loss = vf_value(t, loss)->data[0];
    s = vf_backward(t, loss);
    if (s != VF_OK) {
        if (vf_tape_status(t) != s || vf_tape_error(t)[0] == '\0') s = VF_ERR_STATE;
        goto done;
    }
    const vf_real *gx = vf_grad(t, x);
    if (!gx) {
        s = VF_ERR_STATE;
        goto done;
    }
    memcpy(r->gx, gx, sizeof r->gx);
    s = vf_set_tangent(t, w, cx->tw);
    if (s == VF_OK) s = vf_jvp(t);
    if (s != VF_OK) {
        if (vf_tape_status(t) != s || vf_tape_error(t)[0] == '\0') s = VF_ERR_STATE;
        goto done;
    }
    const vf_real *tl = vf_tangent(t, loss);
    if (!tl) {
        s = VF_ERR_STATE;
        goto done;
    }
    r->tangent = tl[0];
    r->used = vf_arena_used(t->arena);

    if (!cx->chain) goto done;
    /* Second round on the reset tape (the arena merges its chunks here), without the chain. */
    vf_tape_reset(t);
    loss = build(t, cx, r, 0, &x, &w);
    if (loss == VF_NOVAR) {
        s = tape_failure(t);
        goto done;
    }
    r->loss2 = vf_value(t, loss)->data[0];
    s = vf_backward(t, loss);
    if (s != VF_OK && (vf_tape_status(t) != s || vf_tape_error(t)[0] == '\0')) s = VF_ERR_STATE;
done:
    vf_tape_free(t);
    return s;
}

static vf_status tape_scenario(void *ctx)
{
    tape_ctx *cx = ctx;
    tape_result r;
    vf_status s = tape_run(cx, &r);
    r.used = cx->ref.used; /* depends on the leading constant */
    if (s == VF_OK && cx->have_ref && memcmp(&r, &cx->ref, sizeof r) != 0) {
        fprintf(stderr, "tape scenario: results differ from the run without failures (fail_at %ld)\n", af.fail_at);
        return VF_ERR_NUMERIC;
    }
    return s;
}

static void test_tape_oom(void)
{
    static tape_ctx cx;
    for (int i = 0; i < NB * NI; i++) cx.x[i] = (vf_real)(0.1 * (i % 7) - 0.3);
    for (int i = 0; i < NO * NI; i++) {
        cx.w[i] = (vf_real)(0.05 * (i % 5) - 0.1);
        cx.tw[i] = (vf_real)(i % 3 - 1);
    }
    for (int i = 0; i < NO; i++) cx.b[i] = (vf_real)(0.01 * i);
    for (int i = 0; i < NB * NO; i++) cx.c[i] = (vf_real)(1 + i % 4);
    for (int i = 0; i < NB; i++) cx.ones_b[i] = 1;
    for (int i = 0; i < NO; i++) cx.ones_o[i] = 1;
    cx.big = calloc(BIG > (1 << 18) ? BIG : (1 << 18), sizeof *cx.big); /* also holds 1 MiB */
    cx.chain = 1;
    CHECK(cx.big != NULL);
    if (!cx.big) return;

    /* Reference, and a count of the allocations it makes. */
    af_install(0, 0);
    CHECK_STATUS(tape_run(&cx, &cx.ref), VF_OK);
    af_remove();
    long needed = af.calls;
    CHECK(af.live == 0);
    CHECK_MSG(needed >= 6, "only %ld allocations: the scenario misses the paths it should reach", needed);
    cx.have_ref = 1;
    /* Sanity of the reference: the chain adds 1 to every entry of a, so 1^T a 1 grows by NB * NO,
     * the logsumexp of each row by 1, and the softmax is unchanged. */
    CHECK_NEAR(cx.ref.loss - cx.ref.loss2, NB * NO + 1, 1e-3 * fabs(cx.ref.loss));

    CHECK(af_sweep("tape (fail once)", tape_scenario, &cx, 0) == 0);
    CHECK(af_sweep("tape (fail from then on)", tape_scenario, &cx, 1) == 0);

    /* Most builders take their memory from an arena chunk that is already there, so the sweep above
     * fails only the few that open a chunk. Shift where the first 1 MiB chunk of the tape runs out
     * by a leading constant of 1 MiB - r bytes, r = 64, 128, ...: every arena request of round one
     * (values, op scratch, adjoints, tangents) is then, for some r, the one that needs a new chunk.
     * One round only (the reset was swept above); fail once (the tape error is sticky, so nothing
     * allocates after the failure and failing the later requests too would change nothing). */
    cx.chain = 0;
    cx.have_ref = 0;
    CHECK_STATUS(tape_run(&cx, &cx.ref), VF_OK);
    cx.have_ref = 1;
    int problems = 0;
    for (size_t r = 64; r <= cx.ref.used + 64; r += 64) {
        cx.lead = (((size_t)1 << 20) - r) / sizeof(vf_real);
        problems += af_sweep("tape with a leading constant", tape_scenario, &cx, 0);
    }
    CHECK(problems == 0);
    free(cx.big);
}

/* A tape that failed for lack of memory is usable again after vf_tape_reset. */
static void test_tape_recovers(void)
{
    vf_tape *t = vf_tape_new();
    CHECK(t != NULL);
    if (!t) return;
    vf_real x[3] = {0, 1, 2};
    vf_real *big = calloc(BIG, sizeof *big);
    CHECK(big != NULL);
    vf_var a = vf_input(t, x, 1, (int64_t[]){3});
    af_install(1, 1); /* everything fails from now on */
    vf_clear_error();
    vf_var c = big ? vf_constant(t, big, 1, (int64_t[]){BIG}) : VF_NOVAR; /* needs a new chunk: fails */
    vf_var e = vf_exp(t, a);                                        /* sticky: not run */
    af_remove();
    CHECK(c == VF_NOVAR && e == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_NOMEM);
    CHECK(vf_tape_error(t)[0] != '\0' && vf_last_error()[0] != '\0');
    CHECK(vf_tape_size(t) == 1); /* the failed constant left no node behind */
    vf_tape_reset(t);
    CHECK(vf_tape_status(t) == VF_OK);
    a = vf_input(t, x, 1, (int64_t[]){3});
    e = vf_exp(t, a);
    CHECK(e != VF_NOVAR && vf_value(t, e)->data[2] == (vf_real)exp(2.0));
    vf_tape_free(t);
    free(big);
}

/* ---- (b) tensors and arenas ---------------------------------------------------------------- */
static vf_status tensor_scenario(void *ctx)
{
    (void)ctx;
    vf_status s = VF_OK;
    vf_tensor a = {0}, b = {0}, c = {0};
    vf_arena *ar = NULL;
    if ((s = vf_tensor_alloc(&a, 2, (int64_t[]){50, 40})) != VF_OK) goto done;
    for (int i = 0; i < 2000; i++) a.data[i] = (vf_real)i;
    vf_tensor view;
    if ((s = vf_tensor_slice(&a, 1, 3, 40, 4, &view)) != VF_OK) goto done;
    if ((s = vf_tensor_clone(&view, &b)) != VF_OK) goto done;
    c = view;
    if ((s = vf_tensor_clone(&c, &c)) != VF_OK) { /* in place: c must stay a view on failure */
        if (c.owned) s = VF_ERR_STATE;
        c.owned = NULL;
        goto done;
    }
    if (b.data[41] != a.data[4 * 40 + 3 + 4] || c.data[10 * 10 + 9] != a.data[10 * 40 + 3 + 36]) {
        s = VF_ERR_NUMERIC;
        goto done;
    }
    ar = vf_arena_new(256);
    if (!ar) {
        s = VF_ERR_NOMEM;
        goto done;
    }
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 20; i++) {
            size_t bytes = (size_t)(50 + 97 * i);
            unsigned char *p = i % 2 ? vf_arena_calloc(ar, bytes) : vf_arena_alloc(ar, bytes);
            if (!p) {
                s = VF_ERR_NOMEM;
                goto done;
            }
            if (i % 2 && (p[0] != 0 || p[bytes - 1] != 0)) {
                s = VF_ERR_NUMERIC;
                goto done;
            }
            memset(p, 0xee, bytes);
        }
        vf_arena_reset(ar);
    }
done:
    vf_arena_free(ar);
    vf_tensor_free(&a);
    vf_tensor_free(&b);
    vf_tensor_free(&c);
    return s;
}

static void test_tensor_arena_oom(void)
{
    af_install(0, 0);
    CHECK_STATUS(tensor_scenario(NULL), VF_OK);
    af_remove();
    CHECK(af.calls >= 5 && af.live == 0);
    CHECK(af_sweep("tensors and arena (fail once)", tensor_scenario, NULL, 0) == 0);
    CHECK(af_sweep("tensors and arena (fail from then on)", tensor_scenario, NULL, 1) == 0);
}

/* ---- the allocator hooks themselves ---------------------------------------------------------- */
static void test_hooks(void)
{
    af_install(1, 0);
    vf_clear_error();
    CHECK(vf_malloc(10) == NULL);
    CHECK(strstr(vf_last_error(), "out of memory") != NULL);
    void *p = vf_malloc(0); /* second request succeeds; size 0 gives a real block */
    CHECK(p != NULL && af.live == 1);
    vf_clear_error();
    af.fail_at = af.calls + 1;
    void *q = vf_realloc(p, 1000);
    CHECK(q == NULL && vf_last_error()[0] != '\0' && af.live == 1); /* p is still valid */
    q = vf_realloc(p, 1000);
    CHECK(q != NULL);
    vf_free(q);
    vf_free(NULL);
    CHECK(af.live == 0);
    long calls = af.calls;
    vf_clear_error();
    CHECK(vf_calloc((size_t)1 << 40, (size_t)1 << 40) == NULL); /* n * size overflows */
    CHECK(vf_calloc(SIZE_MAX, 2) == NULL);
    CHECK(vf_last_error()[0] != '\0');
    CHECK(af.calls == calls); /* refused before reaching the allocator */
    unsigned char *z = vf_calloc(7, 9);
    int zero = z != NULL;
    for (int i = 0; z && i < 63; i++) zero &= z[i] == 0;
    CHECK(zero);
    vf_free(z);
    af_remove();
    CHECK(af.live == 0);
    /* Incomplete hooks fall back to malloc/realloc/free. */
    vf_allocator partial = {af_alloc, NULL, af_free, NULL};
    af_install(1, 1);
    vf_set_allocator(&partial);
    void *m = vf_malloc(16);
    CHECK(m != NULL && af.calls == 0);
    vf_free(m);
    af_remove();
}

int main(void)
{
    RUN(test_hooks);
    RUN(test_tensor_arena_oom);
    RUN(test_tape_recovers);
    RUN(test_tape_oom);
    return vf_test_summary();
}
