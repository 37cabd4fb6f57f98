/* test_ops_binary.c — add, sub, mul, div and where: forward values (hand-computed and against a
 * multi-index reference), gradients by central differences and forward/reverse duality on every
 * broadcasting pattern, thread-count independence, and errors. */
#include <stdlib.h>
#include "vf_test.h"
#include "gradcheck.h"

typedef vf_var (*binop_fn)(vf_tape *, vf_var, vf_var);
typedef struct binop {
    const char *name;
    binop_fn f;
    char sym;
} binop;

static const binop OPS[4] = {{"add", vf_add, '+'}, {"sub", vf_sub, '-'}, {"mul", vf_mul, '*'}, {"div", vf_div, '/'}};

static vf_var build_binop(vf_tape *t, const vf_var *in, void *ctx)
{
    const binop *op = ctx;
    return op->f(t, in[0], in[1]);
}

static vf_real apply(char sym, vf_real a, vf_real b)
{
    switch (sym) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    default: return a / b;
    }
}

/* A broadcasting pattern: shapes of a and b, and the shape NumPy gives their combination. */
typedef struct pattern {
    int nda;
    int64_t sa[4];
    int ndb;
    int64_t sb[4];
    int ndy;
    int64_t sy[4];
} pattern;

static const pattern PATTERNS[] = {
    {2, {2, 3}, 2, {2, 3}, 2, {2, 3}},             /* equal shapes */
    {2, {2, 3}, 1, {3}, 2, {2, 3}},                /* row broadcast */
    {1, {3}, 2, {2, 3}, 2, {2, 3}},                /* row broadcast, other side */
    {2, {2, 1}, 2, {1, 3}, 2, {2, 3}},             /* outer product */
    {0, {0}, 2, {2, 3}, 2, {2, 3}},                /* scalar op tensor */
    {2, {2, 3}, 0, {0}, 2, {2, 3}},                /* tensor op scalar */
    {2, {3, 1}, 1, {4}, 2, {3, 4}},                /* column against row */
    {4, {2, 1, 3, 1}, 3, {4, 1, 2}, 4, {2, 4, 3, 2}},
    {4, {2, 3, 2, 2}, 1, {2}, 4, {2, 3, 2, 2}},    /* 4-D row broadcast */
    {3, {3, 1, 2}, 4, {2, 3, 1, 1}, 4, {2, 3, 1, 2}},
    {4, {1, 2, 1, 3}, 4, {2, 1, 2, 1}, 4, {2, 2, 2, 3}},
    {3, {1, 2, 3}, 2, {2, 3}, 3, {1, 2, 3}},       /* leading 1 only */
};
#define N_PATTERNS (int)(sizeof PATTERNS / sizeof PATTERNS[0])

static int64_t numel(int nd, const int64_t *s)
{
    int64_t n = 1;
    for (int k = 0; k < nd; k++) n *= s[k];
    return n;
}

/* Flat index into an operand of shape (nd, s) of the output multi-index idx (ndy axes). */
static int64_t operand_index(int nd, const int64_t *s, int ndy, const int64_t *idx)
{
    int64_t off = 0;
    for (int k = 0; k < nd; k++) {
        int64_t i = idx[ndy - nd + k];
        off = off * s[k] + (s[k] == 1 ? 0 : i);
    }
    return off;
}

/* Output multi-index of flat position f. */
static void unravel(int64_t f, int ndy, const int64_t *sy, int64_t *idx)
{
    for (int k = ndy - 1; k >= 0; k--) {
        idx[k] = f % sy[k];
        f /= sy[k];
    }
}

static void fill_operands(const pattern *p, vf_real *a, vf_real *b, uint64_t seed)
{
    gc_fill(a, numel(p->nda, p->sa), seed, 0.0, 1.0);
    gc_fill(b, numel(p->ndb, p->sb), seed + 1, 1.5, 0.3); /* away from 0 for div */
}

static void test_hand_values(void)
{
    vf_tape *t = vf_tape_new();
    vf_real m[6] = {1, 2, 3, 4, 5, 6}, r[3] = {10, 20, 30}, col[2] = {1, 2}, row[3] = {3, 4, 5};
    vf_var a = vf_input(t, m, 2, (int64_t[]){2, 3});
    vf_var y = vf_add(t, a, vf_input(t, r, 1, (int64_t[]){3}));
    const vf_real add[6] = {11, 22, 33, 14, 25, 36};
    CHECK(vf_value(t, y)->ndim == 2 && vf_value(t, y)->shape[0] == 2 && vf_value(t, y)->shape[1] == 3);
    for (int i = 0; i < 6; i++) CHECK(vf_value(t, y)->data[i] == add[i]);

    y = vf_mul(t, vf_input(t, col, 2, (int64_t[]){2, 1}), vf_input(t, row, 2, (int64_t[]){1, 3}));
    const vf_real mul[6] = {3, 4, 5, 6, 8, 10};
    for (int i = 0; i < 6; i++) CHECK(vf_value(t, y)->data[i] == mul[i]);

    y = vf_sub(t, vf_scalar(t, 2.0), a);
    const vf_real sub[6] = {1, 0, -1, -2, -3, -4};
    CHECK(vf_value(t, y)->ndim == 2);
    for (int i = 0; i < 6; i++) CHECK(vf_value(t, y)->data[i] == sub[i]);

    vf_real num[3] = {1, 2, 4}, den[2] = {2, 4};
    y = vf_div(t, vf_input(t, num, 2, (int64_t[]){1, 3}), vf_input(t, den, 2, (int64_t[]){2, 1}));
    const vf_real dv[6] = {0.5, 1, 2, 0.25, 0.5, 1};
    for (int i = 0; i < 6; i++) CHECK(vf_value(t, y)->data[i] == dv[i]);

    /* d/d b of sum(a * b), a [2, 3], b [3]: column sums of a; d/d a: b on every row. */
    vf_var ag = vf_input_grad(t, m, 2, (int64_t[]){2, 3});
    vf_var bg = vf_input_grad(t, r, 1, (int64_t[]){3});
    vf_var loss = vf_sum(t, vf_mul(t, ag, bg), VF_ALL_AXES, 0);
    CHECK_STATUS(vf_backward(t, loss), VF_OK);
    const vf_real gb[3] = {5, 7, 9};
    for (int i = 0; i < 3; i++) CHECK(vf_grad(t, bg)[i] == gb[i]);
    for (int i = 0; i < 6; i++) CHECK(vf_grad(t, ag)[i] == r[i % 3]);
    CHECK(vf_value(t, loss)->data[0] == 1 * 10 + 2 * 20 + 3 * 30 + 4 * 10 + 5 * 20 + 6 * 30);
    vf_tape_free(t);
}

/* Every pattern, every op: output shape and each value against the multi-index reference. */
static void test_forward_reference(void)
{
    vf_tape *t = vf_tape_new();
    for (int pi = 0; pi < N_PATTERNS; pi++) {
        const pattern *p = &PATTERNS[pi];
        vf_real a[64], b[64];
        fill_operands(p, a, b, 100 + (uint64_t)pi);
        for (int oi = 0; oi < 4; oi++) {
            vf_tape_reset(t);
            vf_var y = OPS[oi].f(t, vf_input(t, a, p->nda, p->sa), vf_input(t, b, p->ndb, p->sb));
            CHECK_MSG(y != VF_NOVAR, "%s pattern %d: %s", OPS[oi].name, pi, vf_tape_error(t));
            if (y == VF_NOVAR) continue;
            const vf_tensor *v = vf_value(t, y);
            CHECK(v->ndim == p->ndy);
            for (int k = 0; k < p->ndy; k++) CHECK(v->shape[k] == p->sy[k]);
            for (int64_t f = 0; f < numel(p->ndy, p->sy); f++) {
                int64_t idx[4];
                unravel(f, p->ndy, p->sy, idx);
                vf_real want = apply(OPS[oi].sym, a[operand_index(p->nda, p->sa, p->ndy, idx)],
                                     b[operand_index(p->ndb, p->sb, p->ndy, idx)]);
                CHECK_MSG(v->data[f] == want, "%s pattern %d element %lld: %g != %g", OPS[oi].name, pi,
                          (long long)f, (double)v->data[f], (double)want);
            }
        }
    }
    vf_tape_free(t);
}

/* Central differences and <u, J v> duality: both inputs, then each one alone (the other constant). */
static void test_gradcheck_all_patterns(void)
{
    for (int pi = 0; pi < N_PATTERNS; pi++) {
        const pattern *p = &PATTERNS[pi];
        for (int oi = 0; oi < 4; oi++) {
            for (int which = 0; which < 3; which++) {
                vf_real a[64], b[64];
                fill_operands(p, a, b, 200 + (uint64_t)pi);
                gc_input in[2] = {{a, p->nda, {0}, which != 2}, {b, p->ndb, {0}, which != 1}};
                memcpy(in[0].shape, p->sa, sizeof p->sa);
                memcpy(in[1].shape, p->sb, sizeof p->sb);
                int ok = gradcheck(OPS[oi].name, build_binop, (void *)&OPS[oi], 2, in);
                CHECK_MSG(ok, "%s pattern %d (differentiating %s)", OPS[oi].name, pi,
                          which == 0 ? "both" : which == 1 ? "a" : "b");
            }
        }
    }
}

/* Large inputs take the threaded paths: forward, the VJP (column sums of the row-broadcast operand)
 * against a serial double reference, and bit-identical results for 1 and 4 threads. */
static void run_large(int threads, vf_real *y_out, vf_real *ga_out, vf_real *gb_out, const vf_real *a,
                      const vf_real *b, const vf_real *seed, int64_t n, int64_t d)
{
    int old = vf_set_num_threads(threads);
    vf_tape *t = vf_tape_new();
    vf_var va = vf_input_grad(t, a, 2, (int64_t[]){n, d});
    vf_var vb = vf_input_grad(t, b, 1, (int64_t[]){d});
    vf_var y = vf_mul(t, va, vb);
    CHECK_STATUS(vf_backward_seed(t, y, seed), VF_OK);
    memcpy(y_out, vf_value(t, y)->data, (size_t)(n * d) * sizeof(vf_real));
    memcpy(ga_out, vf_grad(t, va), (size_t)(n * d) * sizeof(vf_real));
    memcpy(gb_out, vf_grad(t, vb), (size_t)d * sizeof(vf_real));
    vf_tape_free(t);
    vf_set_num_threads(old);
}

static void test_large_row_broadcast(void)
{
    const int64_t n = 400, d = 150;
    vf_real *a = malloc((size_t)(n * d) * sizeof *a), *s = malloc((size_t)(n * d) * sizeof *s), b[150];
    vf_real *y1 = malloc((size_t)(n * d) * sizeof *y1), *y4 = malloc((size_t)(n * d) * sizeof *y4);
    vf_real *ga1 = malloc((size_t)(n * d) * sizeof *ga1), *ga4 = malloc((size_t)(n * d) * sizeof *ga4);
    vf_real gb1[150], gb4[150];
    gc_fill(a, n * d, 5, 0.0, 1.0);
    gc_fill(s, n * d, 6, 0.0, 1.0);
    gc_fill(b, d, 7, 0.0, 1.0);
    run_large(1, y1, ga1, gb1, a, b, s, n, d);
    run_large(4, y4, ga4, gb4, a, b, s, n, d);
    CHECK(memcmp(y1, y4, (size_t)(n * d) * sizeof *y1) == 0);
    CHECK(memcmp(ga1, ga4, (size_t)(n * d) * sizeof *ga1) == 0);
    CHECK(memcmp(gb1, gb4, sizeof gb1) == 0);
    int bad = 0;
    for (int64_t i = 0; i < n * d; i++) bad += y1[i] != a[i] * b[i % d] || ga1[i] != s[i] * b[i % d];
    CHECK(bad == 0);
    for (int64_t j = 0; j < d; j++) {
        double want = 0.0, scale = 0.0;
        for (int64_t r = 0; r < n; r++) {
            want += (double)(s[r * d + j] * a[r * d + j]);
            scale += fabs((double)(s[r * d + j] * a[r * d + j]));
        }
        CHECK_NEAR(gb1[j], want, 1e-6 * scale + 1e-12);
    }
    free(a);
    free(s);
    free(y1);
    free(y4);
    free(ga1);
    free(ga4);
}

/* ---- where ---------------------------------------------------------------------------------- */
static vf_var build_where(vf_tape *t, const vf_var *in, void *ctx)
{
    (void)ctx;
    return vf_where(t, in[0], in[1], in[2]);
}

static void test_where_values(void)
{
    vf_tape *t = vf_tape_new();
    vf_real c[2] = {1, 0}, a[6] = {1, 2, 3, 4, 5, 6}, b = -1;
    vf_var y = vf_where(t, vf_input(t, c, 2, (int64_t[]){2, 1}), vf_input(t, a, 2, (int64_t[]){2, 3}),
                        vf_input(t, &b, 0, NULL));
    const vf_real want[6] = {1, 2, 3, -1, -1, -1};
    CHECK(vf_value(t, y)->ndim == 2 && vf_value(t, y)->shape[1] == 3);
    for (int i = 0; i < 6; i++) CHECK(vf_value(t, y)->data[i] == want[i]);

    /* The branch not taken may hold inf or NaN without touching the result. */
    vf_real c2[3] = {1, 0, -2}, a2[3] = {1, NAN, 3}, b2[3] = {INFINITY, 2, NAN};
    y = vf_where(t, vf_input(t, c2, 1, (int64_t[]){3}), vf_input(t, a2, 1, (int64_t[]){3}),
                 vf_input(t, b2, 1, (int64_t[]){3}));
    CHECK(vf_value(t, y)->data[0] == 1 && vf_value(t, y)->data[1] == 2 && vf_value(t, y)->data[2] == 3);
    vf_tape_free(t);
}

static void test_where_gradcheck(void)
{
    static const struct {
        int nd[3];
        int64_t s[3][4];
    } cases[] = {
        {{2, 2, 2}, {{2, 3}, {2, 3}, {2, 3}}},
        {{1, 2, 0}, {{3}, {2, 3}, {0}}},
        {{2, 2, 2}, {{2, 1}, {1, 3}, {2, 3}}},
        {{2, 0, 2}, {{2, 3}, {0}, {2, 3}}},
        {{4, 3, 3}, {{2, 1, 1, 2}, {3, 1, 1}, {1, 4, 2}}},
        {{1, 2, 2}, {{3}, {2, 3}, {2, 3}}},
    };
    for (int ci = 0; ci < (int)(sizeof cases / sizeof cases[0]); ci++) {
        vf_real c[64], a[64], b[64];
        int64_t nc = numel(cases[ci].nd[0], cases[ci].s[0]);
        int ones = 0;
        for (int64_t i = 0; i < nc; i++) {
            c[i] = (i + ci) % 3 != 0 ? (vf_real)(1 + i) : 0; /* any nonzero picks a */
            ones += c[i] != 0;
        }
        CHECK(nc == 1 || (ones > 0 && ones < nc)); /* both branches exercised */
        gc_fill(a, numel(cases[ci].nd[1], cases[ci].s[1]), 40 + (uint64_t)ci, 0.0, 1.0);
        gc_fill(b, numel(cases[ci].nd[2], cases[ci].s[2]), 50 + (uint64_t)ci, 0.0, 1.0);
        for (int which = 0; which < 3; which++) {
            gc_input in[3] = {{c, cases[ci].nd[0], {0}, 0},
                              {a, cases[ci].nd[1], {0}, which != 2},
                              {b, cases[ci].nd[2], {0}, which != 1}};
            for (int k = 0; k < 3; k++) memcpy(in[k].shape, cases[ci].s[k], sizeof in[k].shape);
            CHECK_MSG(gradcheck("where", build_where, NULL, 3, in), "where case %d, which %d", ci, which);
        }
    }
}

/* The "double where" idiom: 1/x only where cond holds, with x = 0 elsewhere, keeps every gradient
 * finite because where selects (0 * inf never happens inside where). cond gets no gradient. */
static void test_where_no_nan(void)
{
    vf_tape *t = vf_tape_new();
    vf_real x[4] = {0, 2, -1, 4}, c[4] = {0, 1, 0, 1}, one = 1, zero = 0;
    vf_var vx = vf_input_grad(t, x, 1, (int64_t[]){4});
    vf_var vc = vf_input_grad(t, c, 1, (int64_t[]){4});
    vf_var safe = vf_where(t, vc, vx, vf_scalar(t, one));
    vf_var y = vf_where(t, vc, vf_div(t, vf_scalar(t, one), safe), vf_scalar(t, zero));
    vf_var loss = vf_sum(t, y, VF_ALL_AXES, 0);
    CHECK_STATUS(vf_backward(t, loss), VF_OK);
    const vf_real *g = vf_grad(t, vx);
    CHECK(g[0] == 0 && g[2] == 0);
    CHECK_NEAR(g[1], -0.25, 1e-7);
    CHECK_NEAR(g[3], -0.0625, 1e-7);
    for (int i = 0; i < 4; i++) CHECK(vf_grad(t, vc)[i] == 0);

    /* forward mode: a tangent on cond alone gives a zero tangent; on x, the picked branch's. */
    vf_real dc[4] = {1, 1, 1, 1}, dx[4] = {1, 1, 1, 1};
    CHECK_STATUS(vf_set_tangent(t, vc, dc), VF_OK);
    CHECK_STATUS(vf_jvp(t), VF_OK);
    const vf_real *ty = vf_tangent(t, y);
    for (int i = 0; i < 4; i++) CHECK(ty && ty[i] == 0);
    CHECK_STATUS(vf_set_tangent(t, vx, dx), VF_OK);
    CHECK_STATUS(vf_jvp(t), VF_OK);
    ty = vf_tangent(t, y);
    CHECK(ty[0] == 0 && ty[2] == 0);
    CHECK_NEAR(ty[1], -0.25, 1e-7);
    CHECK_NEAR(ty[3], -0.0625, 1e-7);
    vf_tape_free(t);
}

/* ---- errors --------------------------------------------------------------------------------- */
static void test_errors(void)
{
    vf_tape *t = vf_tape_new();
    vf_real a[6] = {0}, b[4] = {0};
    vf_var va = vf_input(t, a, 2, (int64_t[]){2, 3});
    vf_var vb = vf_input(t, b, 1, (int64_t[]){4});
    CHECK(vf_add(t, va, vb) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_SHAPE);
    CHECK(strstr(vf_tape_error(t), "add") && strstr(vf_tape_error(t), "[2, 3]") && strstr(vf_tape_error(t), "[4]"));
    CHECK(vf_mul(t, va, va) == VF_NOVAR); /* sticky */
    CHECK_STATUS(vf_tape_status(t), VF_ERR_SHAPE);

    for (int oi = 0; oi < 4; oi++) {
        vf_tape_reset(t);
        va = vf_input(t, a, 2, (int64_t[]){2, 3});
        vb = vf_input(t, b, 2, (int64_t[]){2, 2});
        CHECK(OPS[oi].f(t, va, vb) == VF_NOVAR);
        CHECK_STATUS(vf_tape_status(t), VF_ERR_SHAPE);
        CHECK(strstr(vf_tape_error(t), OPS[oi].name) != NULL);
    }

    vf_tape_reset(t);
    va = vf_input(t, a, 2, (int64_t[]){2, 3});
    CHECK(vf_sub(t, va, VF_NOVAR) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);
    CHECK(vf_add(t, va, va) == VF_NOVAR);

    vf_tape_reset(t);
    va = vf_input(t, a, 2, (int64_t[]){2, 3});
    vb = vf_input(t, b, 1, (int64_t[]){4});
    vf_var c = vf_input(t, a, 1, (int64_t[]){3});
    CHECK(vf_where(t, vb, va, c) == VF_NOVAR); /* cond [4] against [2, 3] */
    CHECK_STATUS(vf_tape_status(t), VF_ERR_SHAPE);
    CHECK(strstr(vf_tape_error(t), "where") != NULL);
    CHECK(vf_where(t, c, va, c) == VF_NOVAR);
    vf_tape_reset(t);
    va = vf_input(t, a, 2, (int64_t[]){2, 3});
    vb = vf_input(t, b, 1, (int64_t[]){4});
    CHECK(vf_where(t, va, va, vb) == VF_NOVAR); /* a [2, 3] against b [4] */
    CHECK_STATUS(vf_tape_status(t), VF_ERR_SHAPE);
    CHECK(vf_add(NULL, 0, 0) == VF_NOVAR);
    vf_tape_free(t);
}

int main(void)
{
    RUN(test_hand_values);
    RUN(test_forward_reference);
    RUN(test_gradcheck_all_patterns);
    RUN(test_large_row_broadcast);
    RUN(test_where_values);
    RUN(test_where_gradcheck);
    RUN(test_where_no_nan);
    RUN(test_errors);
    return vf_test_summary();
}
