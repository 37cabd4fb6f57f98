/* test_gemm.c — the built-in GEMM and the active backend against a double-precision triple loop. */
#include <stdlib.h>
#include "vf_test.h"
#include "internal.h"

/* C_ref = alpha op(A) op(B) + beta C0, in double. */
static void reference(int ta, int tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a, int64_t lda,
                      const double *b, int64_t ldb, double beta, const double *c0, double *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++)
                s += (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
            c[i * ldc + j] = alpha * s + beta * c0[i * ldc + j];
        }
}

/* One case: sizes, transposes, padded leading dimensions, alpha/beta. */
static void check_case(int64_t m, int64_t n, int64_t k, int ta, int tb, double alpha, double beta)
{
    int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    int64_t lda = ac + 3, ldb = bc + 1, ldc = n + 2;
    size_t na = (size_t)(ar * lda), nb = (size_t)(br * ldb), nc = (size_t)(m * ldc);
    double *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c0 = malloc(nc * sizeof *c0);
    double *cr = malloc(nc * sizeof *cr), *cd = malloc(nc * sizeof *cd);
    float *af = malloc(na * sizeof *af), *bf = malloc(nb * sizeof *bf), *cf = malloc(nc * sizeof *cf);
    float *cs = malloc(nc * sizeof *cs);
    vf_rng r;
    vf_rng_init(&r, (uint64_t)(m * 1000003 + n * 1009 + k), 1);
    for (size_t i = 0; i < na; i++) af[i] = (float)(a[i] = vf_rng_uniform(&r) - 0.5);
    for (size_t i = 0; i < nb; i++) bf[i] = (float)(b[i] = vf_rng_uniform(&r) - 0.5);
    for (size_t i = 0; i < nc; i++) {
        cs[i] = cf[i] = (float)(cd[i] = c0[i] = vf_rng_uniform(&r) - 0.5);
        cr[i] = c0[i];
    }
    reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, cr, ldc);
    vf__gemm_builtin_f64(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, cd, ldc);
    vf__gemm_builtin_f32(ta, tb, m, n, k, (float)alpha, af, lda, bf, ldb, (float)beta, cf, ldc);
    vf__sgemm(ta, tb, m, n, k, (float)alpha, af, lda, bf, ldb, (float)beta, cs, ldc);
    double e64 = 0, e32 = 0, es = 0, pad = 0;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            size_t q = (size_t)(i * ldc + j);
            e64 = fmax(e64, fabs(cd[q] - cr[q]));
            e32 = fmax(e32, fabs(cf[q] - cr[q]));
            es = fmax(es, fabs(cs[q] - cr[q]));
        }
        for (int64_t j = n; j < ldc; j++) { /* the padding columns must be untouched */
            size_t q = (size_t)(i * ldc + j);
            pad = fmax(pad, fabs(cd[q] - c0[q]) + fabs((double)cf[q] - (double)(float)c0[q]) +
                                fabs((double)cs[q] - (double)(float)c0[q]));
        }
    }
    /* Entries are sums of k products of magnitude <= 1/4: float rounding grows like k * 2^-24. */
    double tol32 = 1e-6 * (double)(k + 4);
    CHECK_MSG(e64 <= 1e-12 * (double)(k + 1), "f64 %lldx%lldx%lld t%d%d err %g", (long long)m, (long long)n,
              (long long)k, ta, tb, e64);
    CHECK_MSG(e32 <= tol32, "f32 %lldx%lldx%lld t%d%d err %g", (long long)m, (long long)n, (long long)k, ta, tb, e32);
    CHECK_MSG(es <= tol32, "sgemm (%s) %lldx%lldx%lld t%d%d err %g", vf__gemm_backend(), (long long)m,
              (long long)n, (long long)k, ta, tb, es);
    CHECK(pad == 0);
    free(a); free(b); free(c0); free(cr); free(cd); free(af); free(bf); free(cf); free(cs);
}

static void test_shapes(void)
{
    /* Sizes around the register tile (6 x 16) and the cache blocks (120 x 256 x 1024). */
    const int64_t sizes[][3] = {{1, 1, 1}, {5, 7, 3}, {6, 16, 1}, {7, 17, 9}, {13, 33, 257}, {121, 18, 300},
                                {64, 1030, 5}, {2, 3, 600}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                check_case(sizes[s][0], sizes[s][1], sizes[s][2], ta, tb, 1.0, 0.0);
                check_case(sizes[s][0], sizes[s][1], sizes[s][2], ta, tb, -0.5, 1.5);
            }
}

static void test_degenerate(void)
{
    /* k = 0: C = beta C. */
    double c[4] = {1, 2, 3, 4};
    vf__gemm_builtin_f64(0, 0, 2, 2, 0, 1.0, NULL, 1, NULL, 2, 2.0, c, 2);
    CHECK(c[0] == 2 && c[3] == 8);
    vf__gemm_builtin_f64(0, 0, 2, 2, 0, 1.0, NULL, 1, NULL, 2, 0.0, c, 2);
    CHECK(c[0] == 0 && c[3] == 0);
    /* beta = 0 must not read C: NaN there must not leak. */
    double a[2] = {1, 2}, b[2] = {3, 4}, cn[1] = {NAN};
    vf__gemm_builtin_f64(0, 0, 1, 1, 2, 1.0, a, 2, b, 1, 0.0, cn, 1);
    CHECK(cn[0] == 11);
    float af[2] = {1, 2}, bf[2] = {3, 4}, cf[1] = {NAN};
    vf__sgemm(0, 0, 1, 1, 2, 1.0f, af, 2, bf, 1, 0.0f, cf, 1);
    CHECK(cf[0] == 11);
}

/* An epilogue that records, for each entry of C, how often it ran there and the value it saw. */
typedef struct epilogue_record {
    const vf_real *c;
    int64_t ld;
    int *visits;   /* [m, n] */
    vf_real *seen; /* [m, n] */
} epilogue_record;

static void record_epilogue(void *ctx, int64_t row0, int64_t rows, int64_t col0, int64_t cols)
{
    epilogue_record *r = ctx;
    for (int64_t i = row0; i < row0 + rows; i++)
        for (int64_t j = col0; j < col0 + cols; j++) {
            r->visits[i * r->ld + j]++;
            r->seen[i * r->ld + j] = r->c[i * r->ld + j];
        }
}

/* The ranged product (vf__gemm_ranged): strip s of C sums only over depth [lo[s], hi[s]) (and, for odd
 * seeds, rows from rlo[s] on); random ranges (some empty), both transposes, accumulate or not, a fused
 * bias or none, a fused ReLU or none (half the seeds), partial row tiles and strips, depth over one
 * packing slice (the ReLU then only at a strip's last slice), against a double loop. For two seeds in
 * three an epilogue must have run exactly once on every entry, after its final value was written. */
static void check_ranged(int64_t m, int64_t n, int64_t k, int ta, int tb, int accumulate, uint64_t seed)
{
    int64_t w = vf__gemm_strip_width(), strips = (n + w - 1) / w;
    vf_real *a = malloc((size_t)(m * k) * sizeof *a), *b = malloc((size_t)(k * n) * sizeof *b);
    vf_real *c = malloc((size_t)(m * n) * sizeof *c), *c0 = malloc((size_t)(m * n) * sizeof *c0);
    int64_t *lo = malloc((size_t)strips * sizeof *lo), *hi = malloc((size_t)strips * sizeof *hi);
    void *work = malloc(vf__gemm_ranged_workspace_bytes(m, n, k) + 64);
    srand((unsigned)seed);
    for (int64_t i = 0; i < m * k; i++) a[i] = (vf_real)(rand() / (double)RAND_MAX - 0.5);
    for (int64_t i = 0; i < k * n; i++) b[i] = (vf_real)(rand() / (double)RAND_MAX - 0.5);
    for (int64_t i = 0; i < m * n; i++) c[i] = c0[i] = (vf_real)(rand() / (double)RAND_MAX - 0.5);
    for (int64_t s = 0; s < strips; s++) {
        lo[s] = rand() % (k + 1);
        hi[s] = s % 5 == 3 ? lo[s] : lo[s] + rand() % (k - lo[s] + 1); /* some empty ranges */
    }
    int64_t *rlo = malloc((size_t)strips * sizeof *rlo);
    for (int64_t s = 0; s < strips; s++) rlo[s] = seed % 2 ? rand() % (m + 1) : 0;
    vf_real *bias = malloc((size_t)n * sizeof *bias);
    for (int64_t j = 0; j < n; j++) bias[j] = (vf_real)(rand() / (double)RAND_MAX - 0.5);
    int with_bias = seed % 3 != 0, relu = seed % 4 >= 2, with_epilogue = seed % 3 != 1;
    int *visits = calloc((size_t)(m * n) + 1, sizeof *visits);
    vf_real *seen = malloc((size_t)(m * n + 1) * sizeof *seen);
    epilogue_record record = {c, n, visits, seen};
    vf_gemm_epilogue epilogue = {record_epilogue, &record};
    vf__gemm_ranged(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, c, n, lo, hi, seed % 2 ? rlo : NULL,
                    with_bias ? bias : NULL, (accumulate ? VF_GEMM_ACCUMULATE : 0) | (relu ? VF_GEMM_RELU : 0),
                    with_epilogue ? &epilogue : NULL, work);
    int64_t visit_errors = 0;
    for (int64_t i = 0; i < m && with_epilogue; i++)
        for (int64_t j = 0; j < n; j++)
            visit_errors += visits[i * n + j] != 1 || (i >= rlo[j / w] && seen[i * n + j] != c[i * n + j]);
    CHECK_MSG(visit_errors == 0, "ranged %lldx%lldx%lld: the epilogue missed, repeated or came early at %lld entries",
              (long long)m, (long long)n, (long long)k, (long long)visit_errors);
    double worst = 0;
    int64_t negative = 0; /* entries below 0 after a ReLU */
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            if (i < rlo[j / w]) continue; /* rows the call may skip */
            double want = (accumulate ? (double)c0[i * n + j] : 0) + (with_bias ? (double)bias[j] : 0);
            for (int64_t p = lo[j / w]; p < hi[j / w]; p++)
                want += (double)(ta ? a[p * m + i] : a[i * k + p]) * (double)(tb ? b[j * k + p] : b[p * n + j]);
            if (relu) {
                want = want < 0 ? 0 : want;
                negative += c[i * n + j] < 0;
            }
            worst = fmax(worst, fabs(want - (double)c[i * n + j]));
        }
    CHECK_MSG(worst <= (VF_USE_DOUBLE ? 1e-12 : 1e-4) * (double)(k + 1),
              "ranged %lldx%lldx%lld ta %d tb %d acc %d relu %d: %g", (long long)m, (long long)n, (long long)k, ta, tb,
              accumulate, relu, worst);
    CHECK(negative == 0);
    if (!ta) { /* with op(B) packed whole beforehand: the same numbers, bit for bit */
        vf_real *packed = malloc((vf__gemm_packed_b_elems(n, k) + 1) * sizeof *packed);
        vf_real *c2 = malloc((size_t)(m * n + 1) * sizeof *c2);
        memcpy(c2, c0, (size_t)(m * n) * sizeof *c2);
        vf__gemm_pack_b_whole(tb, n, k, b, tb ? k : n, packed);
        vf__gemm_ranged_packed(m, n, k, a, k, packed, c2, n, lo, hi, seed % 2 ? rlo : NULL, with_bias ? bias : NULL,
                               (accumulate ? VF_GEMM_ACCUMULATE : 0) | (relu ? VF_GEMM_RELU : 0), NULL, work);
        int64_t differ = 0;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                differ += i >= rlo[j / w] && memcmp(&c2[i * n + j], &c[i * n + j], sizeof *c2);
        CHECK_MSG(differ == 0, "ranged_packed %lldx%lldx%lld tb %d: %lld entries differ", (long long)m, (long long)n,
                  (long long)k, tb, (long long)differ);
        free(packed);
        free(c2);
    }
    free(a); free(b); free(c); free(c0); free(lo); free(hi); free(rlo); free(work); free(bias); free(visits);
    free(seen);
}

static void test_ranged(void)
{
    static const int64_t sizes[][3] = {{1, 1, 1}, {6, 16, 8}, {13, 37, 29}, {130, 70, 300}, {7, 1100, 20}, {9, 5, 0}};
    uint64_t seed = 1;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int acc = 0; acc < 2; acc++) check_ranged(sizes[i][0], sizes[i][1], sizes[i][2], ta, tb, acc, seed++);
}

/* The skinny products (vf__gemm_skinny, and vf__gemm through it) against the double loop: every small
 * extent 1..VF_GEMM_SKINNY_MAX in each of k, n and m, long extents below, at and past the vector width
 * (1, 15, 16, 17, 40, 300), both transposes, padded leading dimensions, beta 0 over NaN (never read)
 * and beta 1.5, untouched padding; and which layouts it must take (all but n small with neither
 * operand transposed and m small with both). */
static void check_skinny(int64_t m, int64_t n, int64_t k, int ta, int tb, double alpha, double beta)
{
    int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    int64_t lda = ac + 3, ldb = bc + 1, ldc = n + 2;
    size_t na = (size_t)(ar * lda), nb = (size_t)(br * ldb), nc = (size_t)(m * ldc);
    double *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c0 = malloc(nc * sizeof *c0);
    double *cr = malloc(nc * sizeof *cr);
    vf_real *av = malloc(na * sizeof *av), *bv = malloc(nb * sizeof *bv), *cs = malloc(nc * sizeof *cs);
    vf_real *cg = malloc(nc * sizeof *cg);
    vf_rng r;
    vf_rng_init(&r, (uint64_t)(m * 7919 + n * 104729 + k * 31 + ta * 2 + tb), 1);
    for (size_t i = 0; i < na; i++) av[i] = (vf_real)(a[i] = vf_rng_uniform(&r) - 0.5);
    for (size_t i = 0; i < nb; i++) bv[i] = (vf_real)(b[i] = vf_rng_uniform(&r) - 0.5);
    for (size_t i = 0; i < nc; i++) {
        double v = (double)(vf_real)(vf_rng_uniform(&r) - 0.5);
        int inside = (int64_t)(i % (size_t)ldc) < n;
        c0[i] = v;
        cs[i] = cg[i] = beta == 0 && inside ? (vf_real)NAN : (vf_real)v;
    }
    reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, cr, ldc);
    int took = vf__gemm_skinny(ta, tb, m, n, k, (vf_real)alpha, av, lda, bv, ldb, (vf_real)beta, cs, ldc);
    vf__gemm(ta, tb, m, n, k, (vf_real)alpha, av, lda, bv, ldb, (vf_real)beta, cg, ldc);
    int64_t small = VF_GEMM_SKINNY_MAX;
    int must = vf__gemm_skinny_available() &&
               (k <= small || (n <= small && (ta || tb)) || (m <= small && (!ta || !tb)));
    CHECK_MSG(took == must, "skinny %lldx%lldx%lld t%d%d: took %d, expected %d", (long long)m, (long long)n,
              (long long)k, ta, tb, took, must);
    double es = 0, eg = 0, pad = 0;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            size_t q = (size_t)(i * ldc + j);
            es = took ? fmax(es, fabs((double)cs[q] - cr[q])) : es; /* NaN fails the bound below */
            if (took && !(fabs((double)cs[q] - cr[q]) <= 1)) es = INFINITY;
            eg = fmax(eg, fabs((double)cg[q] - cr[q]));
            if (!(fabs((double)cg[q] - cr[q]) <= 1)) eg = INFINITY;
        }
        for (int64_t j = n; j < ldc; j++) {
            size_t q = (size_t)(i * ldc + j);
            pad = fmax(pad, fabs((double)cs[q] - c0[q]) + fabs((double)cg[q] - c0[q]));
        }
    }
    double tol = (VF_USE_DOUBLE ? 1e-13 : 1e-6) * (double)(k + 4);
    CHECK_MSG(es <= tol && eg <= tol, "skinny %lldx%lldx%lld t%d%d beta %g: err %g (direct), %g (vf__gemm)",
              (long long)m, (long long)n, (long long)k, ta, tb, beta, es, eg);
    CHECK(pad == 0);
    free(a); free(b); free(c0); free(cr); free(av); free(bv); free(cs); free(cg);
}

static void test_skinny(void)
{
    static const int64_t longs[] = {1, 15, 16, 17, 40, 300};
    for (int64_t s = 1; s <= VF_GEMM_SKINNY_MAX; s++)
        for (size_t x = 0; x < sizeof longs / sizeof longs[0]; x++)
            for (size_t y = 0; y < sizeof longs / sizeof longs[0]; y += 2)
                for (int ta = 0; ta < 2; ta++)
                    for (int tb = 0; tb < 2; tb++)
                        for (int bt = 0; bt < 2; bt++) {
                            double alpha = bt ? -0.75 : 1.0, beta = bt ? 1.5 : 0.0;
                            int64_t u = longs[x], v = longs[y];
                            check_skinny(u, v, s, ta, tb, alpha, beta); /* k small */
                            check_skinny(u, s, v + 5, ta, tb, alpha, beta); /* n small, k past it */
                            check_skinny(s, u, v + 5, ta, tb, alpha, beta); /* m small */
                        }
    /* no extent small: left to the blocked product */
    CHECK(vf__gemm_skinny(0, 1, 8, 8, 8, 1, NULL, 8, NULL, 8, 0, NULL, 8) == 0);
    CHECK(vf__gemm_skinny(0, 1, 8, 8, 0, 1, NULL, 8, NULL, 8, 0, NULL, 8) == 0);
}

/* The built-in products split C's rows among the library's threads: 1, 2, 3 and 4 threads give the
 * same bits, for the dense product (where the built-in kernel runs it) and the ranged one (row
 * limits, bias, ReLU, accumulation, an epilogue that must still run once on every entry, op(B)
 * packed whole), both transposes, rows that do not divide evenly. */
static void test_threads_same_bits(void)
{
    /* each at least VF__GEMM_SPLIT_MIN_WORK multiply-adds, so that every one is split */
    static const int64_t sizes[][3] = {{203, 70, 600}, {517, 130, 129}, {100, 33, 2500}};
    int old = vf_get_num_threads(), dense = strcmp(vf__gemm_backend(), "builtin") == 0;
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int64_t m = sizes[z][0], n = sizes[z][1], k = sizes[z][2], w = vf__gemm_strip_width();
                CHECK((double)m * (double)n * (double)k >= VF__GEMM_SPLIT_MIN_WORK);
                int64_t strips = (n + w - 1) / w;
                vf_real *a = malloc((size_t)(m * k) * sizeof *a), *b = malloc((size_t)(k * n) * sizeof *b);
                vf_real *c0 = malloc((size_t)(m * n) * sizeof *c0), *bias = malloc((size_t)n * sizeof *bias);
                vf_real *ref = malloc((size_t)(3 * m * n) * sizeof *ref), *got = malloc((size_t)(3 * m * n) * sizeof *got);
                vf_real *packed = malloc((vf__gemm_packed_b_elems(n, k) + 1) * sizeof *packed);
                int64_t *lo = malloc((size_t)strips * sizeof *lo), *hi = malloc((size_t)strips * sizeof *hi);
                int64_t *rlo = malloc((size_t)strips * sizeof *rlo);
                int *visits = malloc((size_t)(m * n) * sizeof *visits);
                vf_real *seen = malloc((size_t)(m * n) * sizeof *seen);
                srand((unsigned)(z * 4 + ta * 2 + tb + 1));
                for (int64_t i = 0; i < m * k; i++) a[i] = (vf_real)(rand() / (double)RAND_MAX - 0.5);
                for (int64_t i = 0; i < k * n; i++) b[i] = (vf_real)(rand() / (double)RAND_MAX - 0.5);
                for (int64_t i = 0; i < m * n; i++) c0[i] = (vf_real)(rand() / (double)RAND_MAX - 0.5);
                for (int64_t j = 0; j < n; j++) bias[j] = (vf_real)(rand() / (double)RAND_MAX - 0.5);
                for (int64_t s = 0; s < strips; s++) {
                    lo[s] = rand() % (k / 2);
                    hi[s] = lo[s] + 1 + rand() % (k - lo[s]);
                    rlo[s] = rand() % (m / 2);
                }
                vf__gemm_pack_b_whole(tb, n, k, b, tb ? k : n, packed);
                for (int threads = 1; threads <= 4; threads++) {
                    vf_set_num_threads(threads);
                    vf_real *c = threads == 1 ? ref : got;
                    for (int part = 0; part < 3; part++) memcpy(c + part * m * n, c0, (size_t)(m * n) * sizeof *c);
                    if (dense)
                        vf__gemm(ta, tb, m, n, k, 0.75, a, ta ? m : k, b, tb ? k : n, 0.5, c, n);
                    void *work = malloc(vf__gemm_ranged_workspace_bytes(m, n, k) + 64);
                    memset(visits, 0, (size_t)(m * n) * sizeof *visits);
                    epilogue_record record = {c + m * n, n, visits, seen};
                    vf_gemm_epilogue epilogue = {record_epilogue, &record};
                    vf__gemm_ranged(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, c + m * n, n, lo, hi, rlo, bias,
                                    VF_GEMM_ACCUMULATE | VF_GEMM_RELU, &epilogue, work);
                    int64_t visit_errors = 0;
                    for (int64_t i = 0; i < m * n; i++) visit_errors += visits[i] != 1;
                    CHECK_MSG(visit_errors == 0, "%d threads: the epilogue missed or repeated %lld entries", threads,
                              (long long)visit_errors);
                    if (!ta)
                        vf__gemm_ranged_packed(m, n, k, a, k, packed, c + 2 * m * n, n, lo, hi, NULL, bias, 0, NULL, work);
                    free(work);
                    if (threads > 1)
                        for (int part = 0; part < 3; part++)
                            CHECK_MSG(memcmp(ref + part * m * n, got + part * m * n, (size_t)(m * n) * sizeof *got) == 0,
                                      "%lldx%lldx%lld ta %d tb %d, %d threads: product %d has other bits", (long long)m,
                                      (long long)n, (long long)k, ta, tb, threads, part);
                }
                free(a); free(b); free(c0); free(bias); free(ref); free(got); free(packed); free(lo); free(hi);
                free(rlo); free(visits); free(seen);
            }
    vf_set_num_threads(old);
}

int main(void)
{
    RUN(test_shapes);
    RUN(test_degenerate);
    RUN(test_ranged);
    RUN(test_threads_same_bits);
    /* the narrower tiles too, where the CPU would pick a wider one */
    vf__gemm_cap_isa(VF_GEMM_ISA_AVX2);
    RUN(test_shapes);
    RUN(test_ranged);
    vf__gemm_cap_isa(VF_GEMM_ISA_PORTABLE);
    RUN(test_shapes);
    RUN(test_ranged);
    vf__gemm_cap_isa(VF_GEMM_ISA_BEST);
    RUN(test_skinny);
    return vf_test_summary();
}
