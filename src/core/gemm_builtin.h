/* gemm_builtin.h — the built-in GEMM, written once and included by gemm.c for float and for double
 * (with GEMM_REAL, GEMM_NAME and GEMM_NR defined).
 *
 * Goto/BLIS structure: C is cut into NC-column panels; for each KC-deep slice of k, the matching slice of
 * op(B) is packed into NR-wide column strips (k-major), then for each MC-row block of C the slice of op(A)
 * is packed into MR-high row strips (k-major), and a register-blocked MR x NR micro-kernel multiplies
 * strip pairs. Packing absorbs the transposes and pads edges with zeros, so the micro-kernel has no
 * branches; edge tiles are written back through a small buffer. The packing buffers are the caller's
 * `work` (vf__gemm_workspace_bytes long) or, when work is NULL, come from vf_malloc; if that fails the
 * product falls back to a plain triple loop, so the routine cannot fail.
 */
#include <string.h>

#define GEMM_MR 6 /* the micro-kernel below is unrolled for exactly 6 rows */
#define GEMM_KC 256
#define GEMM_MC 120
#define GEMM_NC 1024

#define GEMM_CAT2(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT2(a, b)
#define GEMM_FN(x) GEMM_CAT(GEMM_NAME, x)
#if defined(__GNUC__)
#define GEMM_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define GEMM_ALWAYS_INLINE inline
#endif

/* op(A)[i, p] for a row-major A with leading dimension lda. */
#define GEMM_A(i, p) (trans_a ? a[(p) * lda + (i)] : a[(i) * lda + (p)])
#define GEMM_B(p, j) (trans_b ? b[(j) * ldb + (p)] : b[(p) * ldb + (j)])

/* Pack rows [i0, i0+mc) x depth [p0, p0+kc) of op(A) into MR-row strips: strip s holds, for each p,
 * the MR values op(A)[i0 + s*MR + r, p0 + p], r < MR (zero past the edge). */
static void GEMM_FN(_pack_a)(int trans_a, const GEMM_REAL *a, int64_t lda, int64_t i0, int64_t mc, int64_t p0,
                             int64_t kc, GEMM_REAL *restrict out)
{
    for (int64_t s = 0; s < mc; s += GEMM_MR) {
        int64_t rows = VF_MIN(GEMM_MR, mc - s);
        if (rows == GEMM_MR && trans_a) {
            /* a full strip of a transposed A: MR consecutive values per depth step (a fixed-length
             * copy the compiler keeps inline; a variable-length one became a memcpy call per step) */
            for (int64_t p = 0; p < kc; p++) {
                const GEMM_REAL *src = a + (p0 + p) * lda + i0 + s;
                for (int r = 0; r < GEMM_MR; r++) out[p * GEMM_MR + r] = src[r];
            }
        } else if (rows == GEMM_MR) {
            for (int r = 0; r < GEMM_MR; r++) {
                const GEMM_REAL *src = a + (i0 + s + r) * lda + p0;
                for (int64_t p = 0; p < kc; p++) out[p * GEMM_MR + r] = src[p];
            }
        } else {
            for (int64_t p = 0; p < kc; p++) {
                int64_t r = 0;
                for (; r < rows; r++) out[p * GEMM_MR + r] = GEMM_A(i0 + s + r, p0 + p);
                for (; r < GEMM_MR; r++) out[p * GEMM_MR + r] = 0;
            }
        }
        out += kc * GEMM_MR;
    }
}

/* Pack depth [p0, p0+kc) x columns [j0, j0+nc) of op(B) into NR-column strips, k-major. */
static void GEMM_FN(_pack_b)(int trans_b, const GEMM_REAL *b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0,
                             int64_t nc, GEMM_REAL *restrict out)
{
    for (int64_t s = 0; s < nc; s += GEMM_NR) {
        int64_t cols = VF_MIN(GEMM_NR, nc - s);
        if (!trans_b && cols == GEMM_NR) {
            for (int64_t p = 0; p < kc; p++) {
                const GEMM_REAL *src = b + (p0 + p) * ldb + j0 + s;
                for (int64_t c = 0; c < GEMM_NR; c++) out[p * GEMM_NR + c] = src[c];
            }
        } else if (trans_b) {
            /* column j of op(B) is row j of b: read each contiguously, zeros past the edge */
            int64_t c = 0;
            for (; c < cols; c++) {
                const GEMM_REAL *src = b + (j0 + s + c) * ldb + p0;
                for (int64_t p = 0; p < kc; p++) out[p * GEMM_NR + c] = src[p];
            }
            for (; c < GEMM_NR; c++)
                for (int64_t p = 0; p < kc; p++) out[p * GEMM_NR + c] = 0;
        } else {
            for (int64_t p = 0; p < kc; p++) {
                int64_t c = 0;
                for (; c < cols; c++) out[p * GEMM_NR + c] = GEMM_B(p0 + p, j0 + s + c);
                for (; c < GEMM_NR; c++) out[p * GEMM_NR + c] = 0;
            }
        }
        out += kc * GEMM_NR;
    }
}

/* C[0..mr, 0..nr) = alpha acc + beta C + bias (beta == 0: C is not read; bias [nr] or NULL), then
 * max(0, C) when relu (NaN stays NaN, the relu activation's rule): the store of an edge tile, and of
 * every tile without GCC/clang (a full tile is stored from its registers, `_put_*`). */
static GEMM_ALWAYS_INLINE void GEMM_FN(_store)(GEMM_REAL (*acc)[GEMM_NR], GEMM_REAL *restrict c, int64_t ldc, int mr,
                                               int nr, GEMM_REAL alpha, GEMM_REAL beta, const GEMM_REAL *restrict bias,
                                               int relu)
{
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++) {
            GEMM_REAL v = alpha * acc[r][j];
            if (beta != 0) v += beta * c[r * ldc + j];
            if (bias) v += bias[j];
            c[r * ldc + j] = relu && v < 0 ? 0 : v;
        }
}

/* The micro-kernel: C[0..mr, 0..nr) = alpha sum_p A[r, p] b[p, j] + beta C + bias, for r < MR, j < NR,
 * where A[r, p] = a[r row_step + p depth_step] (a packed strip: 1 and MR; MR rows of a row-major matrix
 * read in place: lda and 1) and b is a packed NR-wide strip.
 *
 * With GCC/clang the MR x NR tile must stay in vector registers for the whole depth loop, so the loop
 * is written twice with vector extensions: `_tile_whole` holds a row in one NR-lane vector (64 bytes:
 * one AVX-512 register), `_tile_split` in two half-width vectors (32 bytes: AVX2's registers, which
 * the 12 accumulators, two B vectors and a broadcast just fit). A vector type wider than the target's
 * registers would be split by the compiler through the stack, an order of magnitude slower, so each
 * width is compiled only for the instruction set it fits; `_tiles` picks one from the running CPU.
 * A full tile is stored straight from the accumulators (`_put_*`, the rule of `_store` on registers);
 * an edge tile goes through `_store`. */
#if defined(__GNUC__)
typedef GEMM_REAL GEMM_FN(_whole_vec) __attribute__((vector_size(GEMM_NR * sizeof(GEMM_REAL))));
typedef GEMM_REAL GEMM_FN(_half_vec) __attribute__((vector_size(GEMM_NR / 2 * sizeof(GEMM_REAL))));

/* c[0..W) = alpha acc + beta c + bias (beta == 0: c is not read; bias NULL: none), then max(0, c) when
 * relu (NaN stays NaN), for an accumulator vector of W lanes (by address: a vector argument by value
 * would change the ABI outside the target's instruction set, which clang warns about). */
#define GEMM_DEFINE_PUT(SUFFIX, VEC)                                                                         \
    static inline __attribute__((always_inline)) void GEMM_FN(SUFFIX)(GEMM_REAL *restrict c, const VEC *acc,  \
                                                                       GEMM_REAL alpha, GEMM_REAL beta,       \
                                                                       const GEMM_REAL *restrict bias, int relu) \
    {                                                                                                        \
        VEC v = *acc * alpha;                                                                                \
        if (beta != 0) {                                                                                     \
            VEC old;                                                                                         \
            memcpy(&old, c, sizeof old);                                                                     \
            v += beta * old;                                                                                 \
        }                                                                                                    \
        if (bias) {                                                                                          \
            VEC add;                                                                                         \
            memcpy(&add, bias, sizeof add);                                                                  \
            v += add;                                                                                        \
        }                                                                                                    \
        if (relu) {                                                                                          \
            VEC zero = {0};                                                                                  \
            v = (VEC)((__typeof__(v < zero))v & ~(v < zero));                                                \
        }                                                                                                    \
        memcpy(c, &v, sizeof v);                                                                             \
    }
GEMM_DEFINE_PUT(_put_whole, GEMM_FN(_whole_vec))
GEMM_DEFINE_PUT(_put_half, GEMM_FN(_half_vec))
#undef GEMM_DEFINE_PUT

/* scale = {alpha, beta}, in memory: the tiles read it only after the depth loop, behind a compiler
 * barrier, so that the two scalars do not hold registers during the loop (with them GCC kept one of
 * the twelve accumulators on the stack, at half the speed). */
#define GEMM_TILE_PARAMS                                                                                   \
    int64_t kc, const GEMM_REAL *restrict a, int64_t row_step, int64_t depth_step, const GEMM_REAL *restrict b, \
        GEMM_REAL *restrict c, int64_t ldc, int mr, int nr, const GEMM_REAL *scale, const GEMM_REAL *restrict bias, \
        int relu
#define GEMM_SCALE_AFTER_LOOP                                                                              \
    __asm__ volatile("" : : "r"(scale) : "memory");                                                        \
    GEMM_REAL alpha = scale[0], beta = scale[1]

/* Six rows of a tile held in vectors V0..V5 (the row-vector and pair tiles below): the depth step
 * V_r += A[r * row_step] bv (A's rows at offsets s1..s5 of A), the store of all six from the registers
 * by PUT, and their copy into acc [MR][NR] for the edge store. */
#define GEMM_ROWS_FMA(V, A, BV)                                                                            \
    (V##0 += (A)[0] * (BV), V##1 += (A)[s1] * (BV), V##2 += (A)[s2] * (BV), V##3 += (A)[s3] * (BV),       \
     V##4 += (A)[s4] * (BV), V##5 += (A)[s5] * (BV))
#define GEMM_ROWS_PUT(PUT, C, V)                                                                           \
    do {                                                                                                   \
        GEMM_FN(PUT)((C), &V##0, alpha, beta, bias, relu);                                                 \
        GEMM_FN(PUT)((C) + ldc, &V##1, alpha, beta, bias, relu);                                           \
        GEMM_FN(PUT)((C) + 2 * ldc, &V##2, alpha, beta, bias, relu);                                       \
        GEMM_FN(PUT)((C) + 3 * ldc, &V##3, alpha, beta, bias, relu);                                       \
        GEMM_FN(PUT)((C) + 4 * ldc, &V##4, alpha, beta, bias, relu);                                       \
        GEMM_FN(PUT)((C) + 5 * ldc, &V##5, alpha, beta, bias, relu);                                       \
    } while (0)
#define GEMM_ROWS_COPY(ACC, V)                                                                             \
    do {                                                                                                   \
        memcpy((ACC)[0], &V##0, sizeof V##0);                                                              \
        memcpy((ACC)[1], &V##1, sizeof V##1);                                                              \
        memcpy((ACC)[2], &V##2, sizeof V##2);                                                              \
        memcpy((ACC)[3], &V##3, sizeof V##3);                                                              \
        memcpy((ACC)[4], &V##4, sizeof V##4);                                                              \
        memcpy((ACC)[5], &V##5, sizeof V##5);                                                              \
    } while (0)

/* A tile held as one vector of type VEC per row: the whole NR lanes (`_tile_whole`, for AVX-512), or
 * the NR / 2 lanes of a strip with at most that many live columns (`_tile_narrow`: a product's last,
 * narrow strip; the upper half of its buffered edge store is left unset, which `_store` does not read).
 * A tile whose LIVE columns are all there is stored from its registers by PUT. */
#define GEMM_DEFINE_ROW_VECTOR_TILE(SUFFIX, VEC, PUT, LIVE)                                                \
    static inline __attribute__((always_inline)) void GEMM_FN(SUFFIX)(GEMM_TILE_PARAMS)                    \
    {                                                                                                      \
        typedef VEC vec;                                                                                   \
        const int64_t s1 = row_step, s2 = 2 * row_step, s3 = 3 * row_step, s4 = 4 * row_step;              \
        const int64_t s5 = 5 * row_step;                                                                   \
        vec c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0}, c4 = {0}, c5 = {0};                                    \
        for (int r = 0; r < GEMM_MR; r++) { /* C's tile, read or written after the loop */                 \
            __builtin_prefetch(c + r * ldc, 1);                                                            \
            __builtin_prefetch(c + r * ldc + (LIVE) - 1, 1);                                               \
        }                                                                                                  \
        for (int64_t p = 0; p < kc; p++, a += depth_step) {                                                \
            vec bv;                                                                                        \
            memcpy(&bv, b + p * GEMM_NR, sizeof bv);                                                       \
            GEMM_ROWS_FMA(c, a, bv);                                                                       \
        }                                                                                                  \
        GEMM_SCALE_AFTER_LOOP;                                                                             \
        if (mr == GEMM_MR && nr == (LIVE)) {                                                               \
            GEMM_ROWS_PUT(PUT, c, c);                                                                      \
            return;                                                                                        \
        }                                                                                                  \
        GEMM_REAL acc[GEMM_MR][GEMM_NR];                                                                   \
        GEMM_ROWS_COPY(acc, c);                                                                            \
        GEMM_FN(_store)(acc, c, ldc, mr, nr, alpha, beta, bias, relu);                                     \
    }
GEMM_DEFINE_ROW_VECTOR_TILE(_tile_whole, GEMM_FN(_whole_vec), _put_whole, GEMM_NR)
GEMM_DEFINE_ROW_VECTOR_TILE(_tile_narrow, GEMM_FN(_half_vec), _put_half, GEMM_NR / 2)
#undef GEMM_DEFINE_ROW_VECTOR_TILE

/* Two tiles down a column held at once, 2 MR rows as one vector of type VEC each (`_tile_pair` with
 * whole NR-lane rows, for AVX-512; `_tile_pair_narrow` with NR / 2 lanes, for a strip with at most that
 * many live columns, on AVX2 and AVX-512): the first tile's A at a, the second's at a2 (same steps);
 * the first has MR rows, the second mr2. Twelve accumulators hide the FMA latency where one tile's six
 * cannot keep two FMA units busy (measured: 110 against OpenBLAS's 166 GFLOP/s at 2048^3 on a Xeon
 * with two 512-bit FMA units). A's rows are offsets from one pointer per tile, not twelve pointers:
 * with A read in place GCC otherwise ran out of registers and reloaded row pointers in the loop. A
 * tile whose LIVE columns are all there is stored from its registers by PUT. */
#define GEMM_DEFINE_PAIR_TILE(SUFFIX, VEC, PUT, LIVE)                                                      \
    static inline __attribute__((always_inline)) void GEMM_FN(SUFFIX)(                                     \
        int64_t kc, const GEMM_REAL *restrict a, const GEMM_REAL *restrict a2, int64_t row_step,           \
        int64_t depth_step, const GEMM_REAL *restrict b, GEMM_REAL *restrict c, int64_t ldc, int mr2, int nr,   \
        const GEMM_REAL *scale, const GEMM_REAL *restrict bias, int relu)                                  \
    {                                                                                                      \
        typedef VEC vec;                                                                                   \
        const int64_t s1 = row_step, s2 = 2 * row_step, s3 = 3 * row_step, s4 = 4 * row_step;              \
        const int64_t s5 = 5 * row_step;                                                                   \
        vec c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0}, c4 = {0}, c5 = {0};                                    \
        vec d0 = {0}, d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0}, d5 = {0};                                    \
        for (int r = 0; r < 2 * GEMM_MR; r++) { /* C's tiles, read or written after the loop */            \
            __builtin_prefetch(c + r * ldc, 1);                                                            \
            __builtin_prefetch(c + r * ldc + (LIVE) - 1, 1);                                               \
        }                                                                                                  \
        for (int64_t p = 0; p < kc; p++, a += depth_step, a2 += depth_step) {                              \
            vec bv;                                                                                        \
            memcpy(&bv, b + p * GEMM_NR, sizeof bv);                                                       \
            GEMM_ROWS_FMA(c, a, bv);                                                                       \
            GEMM_ROWS_FMA(d, a2, bv);                                                                      \
        }                                                                                                  \
        GEMM_SCALE_AFTER_LOOP;                                                                             \
        GEMM_REAL *lower = c + GEMM_MR * ldc; /* the second tile's rows */                                 \
        if (nr == (LIVE)) {                                                                                \
            GEMM_ROWS_PUT(PUT, c, c);                                                                      \
            if (mr2 == GEMM_MR) {                                                                          \
                GEMM_ROWS_PUT(PUT, lower, d);                                                              \
                return;                                                                                    \
            }                                                                                              \
        }                                                                                                  \
        GEMM_REAL acc[GEMM_MR][GEMM_NR];                                                                   \
        if (nr != (LIVE)) {                                                                                \
            GEMM_ROWS_COPY(acc, c);                                                                        \
            GEMM_FN(_store)(acc, c, ldc, GEMM_MR, nr, alpha, beta, bias, relu);                            \
        }                                                                                                  \
        GEMM_ROWS_COPY(acc, d);                                                                            \
        GEMM_FN(_store)(acc, lower, ldc, mr2, nr, alpha, beta, bias, relu);                                \
    }
GEMM_DEFINE_PAIR_TILE(_tile_pair, GEMM_FN(_whole_vec), _put_whole, GEMM_NR)
GEMM_DEFINE_PAIR_TILE(_tile_pair_narrow, GEMM_FN(_half_vec), _put_half, GEMM_NR / 2)
#undef GEMM_DEFINE_PAIR_TILE

/* One tile across two adjacent full strips at once (for AVX-512, the plain product's packed operands):
 * MR rows of 2 NR columns as twelve vectors, B's two strips at b and b2. Per depth step it loads two
 * B vectors and six A values for twelve multiply-adds, where a pair of tiles down one strip loads one
 * B vector and twelve A values: on a CPU whose loads, not its FMA units, bound the pair (a Zen 5
 * EPYC: 180 against 219 GFLOP/s in L1), the wider tile runs faster. The sums are the same in the same
 * order, so the results are the same bits. No bias or ReLU (the plain product has neither). */
static inline __attribute__((always_inline)) void GEMM_FN(_tile_wide2)(int64_t kc, const GEMM_REAL *restrict a,
                                                                       const GEMM_REAL *restrict b,
                                                                       const GEMM_REAL *restrict b2,
                                                                       GEMM_REAL *restrict c, int64_t ldc, int mr,
                                                                       const GEMM_REAL *scale)
{
    typedef GEMM_FN(_whole_vec) vec;
    const GEMM_REAL *bias = NULL;
    const int relu = 0;
    vec c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0}, c4 = {0}, c5 = {0};
    vec d0 = {0}, d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0}, d5 = {0};
    for (int r = 0; r < GEMM_MR; r++) { /* C's tile, read or written after the loop */
        __builtin_prefetch(c + r * ldc, 1);
        __builtin_prefetch(c + r * ldc + 2 * GEMM_NR - 1, 1);
    }
    for (int64_t p = 0; p < kc; p++, a += GEMM_MR) { /* packed A: its MR values of depth p together */
        vec bv, bw;
        memcpy(&bv, b + p * GEMM_NR, sizeof bv);
        memcpy(&bw, b2 + p * GEMM_NR, sizeof bw);
        GEMM_REAL x;
        x = a[0], c0 += x * bv, d0 += x * bw;
        x = a[1], c1 += x * bv, d1 += x * bw;
        x = a[2], c2 += x * bv, d2 += x * bw;
        x = a[3], c3 += x * bv, d3 += x * bw;
        x = a[4], c4 += x * bv, d4 += x * bw;
        x = a[5], c5 += x * bv, d5 += x * bw;
    }
    GEMM_SCALE_AFTER_LOOP;
    if (mr == GEMM_MR) {
        GEMM_ROWS_PUT(_put_whole, c, c);
        GEMM_ROWS_PUT(_put_whole, c + GEMM_NR, d);
        return;
    }
    GEMM_REAL acc[GEMM_MR][GEMM_NR];
    GEMM_ROWS_COPY(acc, c);
    GEMM_FN(_store)(acc, c, ldc, mr, GEMM_NR, alpha, beta, bias, relu);
    GEMM_ROWS_COPY(acc, d);
    GEMM_FN(_store)(acc, c + GEMM_NR, ldc, mr, GEMM_NR, alpha, beta, bias, relu);
}
#undef GEMM_ROWS_FMA
#undef GEMM_ROWS_PUT
#undef GEMM_ROWS_COPY

static inline __attribute__((always_inline)) void GEMM_FN(_tile_split)(GEMM_TILE_PARAMS)
{
    typedef GEMM_FN(_half_vec) vec;
    enum { H = GEMM_NR / 2 };
    const int64_t s1 = row_step, s2 = 2 * row_step, s3 = 3 * row_step, s4 = 4 * row_step, s5 = 5 * row_step;
    vec c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
    vec c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
    for (int r = 0; r < GEMM_MR; r++) { /* C's tile, read or written after the loop: fetched meanwhile */
        __builtin_prefetch(c + r * ldc, 1);
        __builtin_prefetch(c + r * ldc + GEMM_NR - 1, 1);
    }
    for (int64_t p = 0; p < kc; p++, a += depth_step) {
        vec b0, b1;
        memcpy(&b0, b + p * GEMM_NR, sizeof b0);
        memcpy(&b1, b + p * GEMM_NR + H, sizeof b1);
        GEMM_REAL x;
        x = a[0], c00 += x * b0, c01 += x * b1;
        x = a[s1], c10 += x * b0, c11 += x * b1;
        x = a[s2], c20 += x * b0, c21 += x * b1;
        x = a[s3], c30 += x * b0, c31 += x * b1;
        x = a[s4], c40 += x * b0, c41 += x * b1;
        x = a[s5], c50 += x * b0, c51 += x * b1;
    }
    GEMM_SCALE_AFTER_LOOP;
    if (mr == GEMM_MR && nr == GEMM_NR) {
        const GEMM_REAL *bias_hi = bias ? bias + H : NULL;
        GEMM_FN(_put_half)(c, &c00, alpha, beta, bias, relu);
        GEMM_FN(_put_half)(c + H, &c01, alpha, beta, bias_hi, relu);
        GEMM_FN(_put_half)(c + ldc, &c10, alpha, beta, bias, relu);
        GEMM_FN(_put_half)(c + ldc + H, &c11, alpha, beta, bias_hi, relu);
        GEMM_FN(_put_half)(c + 2 * ldc, &c20, alpha, beta, bias, relu);
        GEMM_FN(_put_half)(c + 2 * ldc + H, &c21, alpha, beta, bias_hi, relu);
        GEMM_FN(_put_half)(c + 3 * ldc, &c30, alpha, beta, bias, relu);
        GEMM_FN(_put_half)(c + 3 * ldc + H, &c31, alpha, beta, bias_hi, relu);
        GEMM_FN(_put_half)(c + 4 * ldc, &c40, alpha, beta, bias, relu);
        GEMM_FN(_put_half)(c + 4 * ldc + H, &c41, alpha, beta, bias_hi, relu);
        GEMM_FN(_put_half)(c + 5 * ldc, &c50, alpha, beta, bias, relu);
        GEMM_FN(_put_half)(c + 5 * ldc + H, &c51, alpha, beta, bias_hi, relu);
        return;
    }
    GEMM_REAL acc[GEMM_MR][GEMM_NR];
    memcpy(acc[0], &c00, sizeof c00), memcpy(acc[0] + H, &c01, sizeof c01);
    memcpy(acc[1], &c10, sizeof c10), memcpy(acc[1] + H, &c11, sizeof c11);
    memcpy(acc[2], &c20, sizeof c20), memcpy(acc[2] + H, &c21, sizeof c21);
    memcpy(acc[3], &c30, sizeof c30), memcpy(acc[3] + H, &c31, sizeof c31);
    memcpy(acc[4], &c40, sizeof c40), memcpy(acc[4] + H, &c41, sizeof c41);
    memcpy(acc[5], &c50, sizeof c50), memcpy(acc[5] + H, &c51, sizeof c51);
    GEMM_FN(_store)(acc, c, ldc, mr, nr, alpha, beta, bias, relu);
}

#undef GEMM_TILE_PARAMS
#undef GEMM_SCALE_AFTER_LOOP
#endif /* __GNUC__ */

/* A column of `count` tiles down one NR-wide strip of C: tile t reads A at a + t a_step (with the
 * row and depth steps of the micro-kernel) and writes rows [t MR, t MR + mr) of c, where mr is MR
 * except mr_last for the last tile. One call per strip, so the instruction-set dispatch and the call
 * are paid per strip, not per tile. */
#define GEMM_TILES_PARAMS                                                                                   \
    int64_t count, int64_t a_step, int64_t kc, const GEMM_REAL *restrict a, int64_t row_step,                 \
        int64_t depth_step, const GEMM_REAL *restrict b, GEMM_REAL *restrict c, int64_t ldc, int mr_last,       \
        int nr, GEMM_REAL alpha, GEMM_REAL beta, const GEMM_REAL *restrict bias, int relu
#define GEMM_TILE_ARGS(t)                                                                                   \
    kc, a + (t) * a_step, row_step, depth_step, b, c + (t) * GEMM_MR * ldc, ldc,                              \
        (t) == count - 1 ? mr_last : GEMM_MR, nr, scale, bias, relu
#define GEMM_TILES_ARGS                                                                                     \
    count, a_step, kc, a, row_step, depth_step, b, c, ldc, mr_last, nr, alpha, beta, bias, relu
#if defined(__GNUC__)
/* The column with WIDE as the micro-kernel of full-width strips, two tiles at a time by `_tile_pair`
 * when PAIRED (and an odd last tile by WIDE); a strip with at most NR / 2 live columns takes
 * `_tile_pair_narrow` when NARROW_PAIRED, else (and for an odd last tile) the one-vector
 * `_tile_narrow`. The baseline build pairs neither: its 16-byte registers would hold twelve
 * 8-lane accumulators only through the stack. `_tiles_*` calls it with the steps of A as constants
 * for the two common layouts (packed A: 1 and MR; A read in place: lda and 1): with them the compiler
 * addresses A from one register per row and a displacement, without the index arithmetic in the depth
 * loop (on the Xeon with AVX-512 the dense product went from 115 to 138 GFLOP/s). Other steps (a
 * transposed A read in place: 1 and lda) take the general instance. */
#define GEMM_DEFINE_TILES(SUFFIX, WIDE, PAIRED, NARROW_PAIRED, ATTR)                                       \
    ATTR static inline __attribute__((always_inline)) void GEMM_FN(SUFFIX##_column)(GEMM_TILES_PARAMS)      \
    {                                                                                                      \
        const GEMM_REAL scale[2] = {alpha, beta};                                                          \
        int64_t t = 0;                                                                                     \
        if (nr <= GEMM_NR / 2) {                                                                           \
            for (; (NARROW_PAIRED) && t + 1 < count; t += 2)                                               \
                GEMM_FN(_tile_pair_narrow)(kc, a + t * a_step, a + (t + 1) * a_step, row_step, depth_step, b, \
                                           c + t * GEMM_MR * ldc, ldc, t + 1 == count - 1 ? mr_last : GEMM_MR, \
                                           nr, scale, bias, relu);                                         \
            for (; t < count; t++) GEMM_FN(_tile_narrow)(GEMM_TILE_ARGS(t));                               \
            return;                                                                                        \
        }                                                                                                  \
        if (PAIRED)                                                                                        \
            for (; t + 1 < count; t += 2)                                                                  \
                GEMM_FN(_tile_pair)(kc, a + t * a_step, a + (t + 1) * a_step, row_step, depth_step, b,     \
                                    c + t * GEMM_MR * ldc, ldc, t + 1 == count - 1 ? mr_last : GEMM_MR, nr, \
                                    scale, bias, relu);                                                    \
        for (; t < count; t++) GEMM_FN(WIDE)(GEMM_TILE_ARGS(t));                                           \
    }                                                                                                      \
    ATTR static void GEMM_FN(SUFFIX)(GEMM_TILES_PARAMS)                                                     \
    {                                                                                                      \
        if (row_step == 1 && depth_step == GEMM_MR)                                                        \
            GEMM_FN(SUFFIX##_column)(count, a_step, kc, a, 1, GEMM_MR, b, c, ldc, mr_last, nr, alpha, beta,   \
                                     bias, relu);                                                          \
        else if (depth_step == 1)                                                                          \
            GEMM_FN(SUFFIX##_column)(count, a_step, kc, a, row_step, 1, b, c, ldc, mr_last, nr, alpha, beta,  \
                                     bias, relu);                                                          \
        else                                                                                               \
            GEMM_FN(SUFFIX##_column)(GEMM_TILES_ARGS);                                                     \
    }
#if defined(__x86_64__) && !defined(VF_NO_CLONES)
#define GEMM_HAVE_DISPATCH 1
GEMM_DEFINE_TILES(_tiles_avx512, _tile_whole, 1, 1, __attribute__((target("avx512f,avx512vl,avx2,fma"))))
/* A column of `count` tiles across two adjacent full strips of packed B (b, and b + kc NR), A packed. */
__attribute__((target("avx512f,avx512vl,avx2,fma"))) static void GEMM_FN(_tiles2_avx512)(
    int64_t count, int64_t kc, const GEMM_REAL *restrict a, const GEMM_REAL *restrict b, GEMM_REAL *restrict c,
    int64_t ldc, int mr_last, GEMM_REAL alpha, GEMM_REAL beta)
{
    const GEMM_REAL scale[2] = {alpha, beta};
    for (int64_t t = 0; t < count; t++)
        GEMM_FN(_tile_wide2)(kc, a + t * GEMM_MR * kc, b, b + kc * GEMM_NR, c + t * GEMM_MR * ldc, ldc,
                             t == count - 1 ? mr_last : GEMM_MR, scale);
}
GEMM_DEFINE_TILES(_tiles_avx2, _tile_split, 0, 1, __attribute__((target("avx2,fma"))))
#endif
GEMM_DEFINE_TILES(_tiles_base, _tile_split, 0, 0, )
#undef GEMM_DEFINE_TILES
#else
static void GEMM_FN(_tiles_base)(GEMM_TILES_PARAMS)
{
    for (int64_t t = 0; t < count; t++) {
        GEMM_REAL acc[GEMM_MR][GEMM_NR];
        const GEMM_REAL *at = a + t * a_step;
        for (int r = 0; r < GEMM_MR; r++)
            for (int j = 0; j < GEMM_NR; j++) acc[r][j] = 0;
        for (int64_t p = 0; p < kc; p++)
            for (int r = 0; r < GEMM_MR; r++)
                for (int j = 0; j < GEMM_NR; j++) acc[r][j] += at[r * row_step + p * depth_step] * b[p * GEMM_NR + j];
        GEMM_FN(_store)(acc, c + t * GEMM_MR * ldc, ldc, t == count - 1 ? mr_last : GEMM_MR, nr, alpha, beta, bias,
                        relu);
    }
}
#endif

/* Two full strips' tile columns at once where the CPU has AVX-512 (GEMM_FN(_tiles2_avx512)): 1 when
 * done, 0 when the caller is to do them one strip at a time. */
static inline int GEMM_FN(_tiles2)(int64_t count, int64_t kc, const GEMM_REAL *restrict a, const GEMM_REAL *restrict b,
                                   GEMM_REAL *restrict c, int64_t ldc, int mr_last, GEMM_REAL alpha, GEMM_REAL beta)
{
#if defined(GEMM_HAVE_DISPATCH)
    if (gemm_isa_cap >= VF_GEMM_ISA_AVX512 && __builtin_cpu_supports("avx512f")) {
        GEMM_FN(_tiles2_avx512)(count, kc, a, b, c, ldc, mr_last, alpha, beta);
        return 1;
    }
#else
    (void)count, (void)kc, (void)a, (void)b, (void)c, (void)ldc, (void)mr_last, (void)alpha, (void)beta;
#endif
    return 0;
}

/* The tile column kernel for the running CPU. */
static inline void GEMM_FN(_tiles)(GEMM_TILES_PARAMS)
{
#if defined(GEMM_HAVE_DISPATCH)
    if (gemm_isa_cap >= VF_GEMM_ISA_AVX512 && __builtin_cpu_supports("avx512f")) {
        GEMM_FN(_tiles_avx512)(GEMM_TILES_ARGS);
        return;
    }
    if (gemm_isa_cap >= VF_GEMM_ISA_AVX2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        GEMM_FN(_tiles_avx2)(GEMM_TILES_ARGS);
        return;
    }
#endif
    GEMM_FN(_tiles_base)(GEMM_TILES_ARGS);
}
#undef GEMM_TILES_PARAMS
#undef GEMM_TILE_ARGS
#undef GEMM_TILES_ARGS

/* Reference triple loop, used only when the packing buffers cannot be allocated. */
static void GEMM_FN(_naive)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, GEMM_REAL alpha,
                            const GEMM_REAL *a, int64_t lda, const GEMM_REAL *b, int64_t ldb, GEMM_REAL beta,
                            GEMM_REAL *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++) s += (double)GEMM_A(i, p) * (double)GEMM_B(p, j);
            c[i * ldc + j] = (GEMM_REAL)(alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j]));
        }
}

/* n rounded up to whole strips */
static int64_t GEMM_FN(_rounded_width)(int64_t n) { return (n + GEMM_NR - 1) / GEMM_NR * GEMM_NR; }

/* Elements of packing space for an m x n x k product: a KC x NC panel of B and an MC x KC block of A. */
static size_t GEMM_FN(_work_elems)(int64_t m, int64_t n, int64_t k)
{
    int64_t kc_max = VF_MIN(k, GEMM_KC);
    int64_t nc_max = VF_MIN((n + GEMM_NR - 1) / GEMM_NR * GEMM_NR, GEMM_NC);
    int64_t mc_max = VF_MIN((m + GEMM_MR - 1) / GEMM_MR * GEMM_MR, GEMM_MC);
    return (size_t)(kc_max * nc_max + kc_max * mc_max);
}

size_t GEMM_FN(_workspace_bytes)(int64_t m, int64_t n, int64_t k)
{
    if (m <= 0 || n <= 0 || k <= 0) return 0;
    return GEMM_FN(_work_elems)(m, n, k) * sizeof(GEMM_REAL);
}

void GEMM_FN(_ws)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, GEMM_REAL alpha, const GEMM_REAL *a,
                  int64_t lda, const GEMM_REAL *b, int64_t ldb, GEMM_REAL beta, GEMM_REAL *c, int64_t ldc,
                  void *work)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
        return;
    }
    int64_t kc_max = VF_MIN(k, GEMM_KC);
    int64_t nc_max = VF_MIN((n + GEMM_NR - 1) / GEMM_NR * GEMM_NR, GEMM_NC);
    GEMM_REAL *own = NULL;
    if (!work) {
        own = vf_malloc(GEMM_FN(_work_elems)(m, n, k) * sizeof(GEMM_REAL));
        if (!own) {
            vf_clear_error();
            GEMM_FN(_naive)(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }
        work = own;
    }
    GEMM_REAL *pack_b = work, *pack_a = pack_b + kc_max * nc_max;
    for (int64_t j0 = 0; j0 < n; j0 += GEMM_NC) {
        int64_t nc = VF_MIN(GEMM_NC, n - j0);
        for (int64_t p0 = 0; p0 < k; p0 += GEMM_KC) {
            int64_t kc = VF_MIN(GEMM_KC, k - p0);
            GEMM_REAL beta_here = p0 == 0 ? beta : 1;   /* later k-slices accumulate */
            GEMM_FN(_pack_b)(trans_b, b, ldb, p0, kc, j0, nc, pack_b);
            for (int64_t i0 = 0; i0 < m; i0 += GEMM_MC) {
                int64_t mc = VF_MIN(GEMM_MC, m - i0);
                GEMM_FN(_pack_a)(trans_a, a, lda, i0, mc, p0, kc, pack_a);
                int64_t tiles = (mc + GEMM_MR - 1) / GEMM_MR;
                int mr_last = (int)(mc - (tiles - 1) * GEMM_MR);
                for (int64_t jr = 0; jr < nc; jr += GEMM_NR) {
                    if (jr + 2 * GEMM_NR <= nc && GEMM_FN(_tiles2)(tiles, kc, pack_a, pack_b + jr * kc,
                                                                   c + i0 * ldc + j0 + jr, ldc, mr_last, alpha,
                                                                   beta_here)) {
                        jr += GEMM_NR; /* two strips done */
                        continue;
                    }
                    GEMM_FN(_tiles)(tiles, GEMM_MR * kc, kc, pack_a, 1, GEMM_MR, pack_b + jr * kc,
                                    c + i0 * ldc + j0 + jr, ldc, mr_last, (int)VF_MIN(GEMM_NR, nc - jr), alpha,
                                    beta_here, NULL, 0);
                }
            }
        }
    }
    vf_free(own);
}

/* C = A op(B) + bias (+ C with VF_GEMM_ACCUMULATE in flags; then max(0, C) with VF_GEMM_RELU, applied
 * by each strip's last store) where column strip s of C (columns [s NR, (s+1) NR)) sums
 * only over the depth range [klo[s], khi[s]): the product of a block-triangular (masked) matrix without
 * its zero blocks. A is packed once per block of rows for every strip (a sequence of narrow GEMM calls
 * would pack it once per call), and C is written directly (no clearing pass). bias [n] or NULL is added
 * to every row in the strip's first write (fused: no separate pass). A strip with an empty range gets
 * the bias (or zeros; when accumulating, C plus the bias). rlo (or NULL): strip s needs only rows >=
 * rlo[s]; row tiles entirely above that are skipped and their part of C is left unwritten. epilogue
 * (or NULL) runs on each MC x NC block of C after the block's last depth slice, while the block is in
 * cache. `work` as for GEMM_FN(_ws) (required). packed (or NULL): op(B) already packed whole by
 * GEMM_FN(_pack_b_whole), then b, ldb and trans_b are not read. */
static void GEMM_FN(_ranged_driver)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const GEMM_REAL *a,
                                    int64_t lda, const GEMM_REAL *b, int64_t ldb, const GEMM_REAL *packed, GEMM_REAL *c,
                                    int64_t ldc, const int64_t *klo, const int64_t *khi, const int64_t *rlo,
                                    const GEMM_REAL *bias, int flags, const vf_gemm_epilogue *epilogue, void *work)
{
    if (m <= 0 || n <= 0) return;
    int accumulate = (flags & VF_GEMM_ACCUMULATE) != 0, relu = (flags & VF_GEMM_RELU) != 0;
    int64_t n_strips = (n + GEMM_NR - 1) / GEMM_NR;
    for (int64_t s = 0; s < n_strips; s++) /* strips with nothing to sum (all of them when k = 0) */
        if (klo[s] >= khi[s] || k <= 0)
            for (int64_t i = rlo ? VF_MAX(rlo[s], 0) : 0; i < m; i++)
                for (int64_t j = s * GEMM_NR; j < VF_MIN(n, (s + 1) * GEMM_NR); j++) {
                    GEMM_REAL v = (accumulate ? c[i * ldc + j] : 0) + (bias ? bias[j] : 0);
                    c[i * ldc + j] = relu && v < 0 ? 0 : v;
                }
    if (k <= 0) {
        if (epilogue) epilogue->apply(epilogue->ctx, 0, m, 0, n);
        return;
    }
    int64_t kc_max = VF_MIN(k, GEMM_KC);
    int64_t nc_max = VF_MIN((n + GEMM_NR - 1) / GEMM_NR * GEMM_NR, GEMM_NC);
    GEMM_REAL *pack_b = work, *pack_a = pack_b + kc_max * nc_max;
    for (int64_t j0 = 0; j0 < n; j0 += GEMM_NC) {
        int64_t nc = VF_MIN(GEMM_NC, n - j0);
        for (int64_t p0 = 0; p0 < k; p0 += GEMM_KC) {
            int64_t kc = VF_MIN(GEMM_KC, k - p0), any = 0;
            int last = p0 + kc >= k; /* the panel's blocks are final after this slice: the epilogue's turn */
            for (int64_t jr = 0; jr < nc && !any; jr += GEMM_NR) {
                int64_t st = (j0 + jr) / GEMM_NR;
                any = VF_MAX(klo[st], p0) < VF_MIN(khi[st], p0 + kc);
            }
            if (!any && !(last && epilogue)) continue;
            const GEMM_REAL *panel = pack_b; /* op(B)'s rows [p0, p0 + kc), columns [j0, j0 + nc), packed */
            if (packed)
                panel = packed + j0 * k + p0 * GEMM_FN(_rounded_width)(nc);
            else if (any)
                GEMM_FN(_pack_b)(trans_b, b, ldb, p0, kc, j0, nc, pack_b);
            for (int64_t i0 = 0; i0 < m; i0 += GEMM_MC) {
                int64_t mc = VF_MIN(GEMM_MC, m - i0);
                if (!any) { /* nothing to add in this slice: only the epilogue */
                    epilogue->apply(epilogue->ctx, i0, mc, j0, nc);
                    continue;
                }
                /* A is read in place by full row tiles (op(A)'s row i, depth p at a[i lda + p], or at
                 * a[p lda + i] when transposed); only a last partial tile is packed. Transposed A is
                 * packed whole when more than 3 strips reuse it: in place, the depth loop steps across
                 * rows of a, which cost more than packing once it is reread by many strips (Xeon,
                 * 128 x n x 512: in place 1.6x faster at n = 8, 1.3x at 16, even at 48, slower from 64) */
                int64_t direct = !trans_a || nc <= 3 * GEMM_NR ? mc / GEMM_MR * GEMM_MR : 0;
                int64_t row_step = trans_a ? 1 : lda, depth_step = trans_a ? lda : 1;
                if (direct < mc) GEMM_FN(_pack_a)(trans_a, a, lda, i0 + direct, mc - direct, p0, kc, pack_a);
                for (int64_t jr = 0; jr < nc; jr += GEMM_NR) {
                    int64_t st = (j0 + jr) / GEMM_NR;
                    int64_t lo = VF_MAX(klo[st], p0), hi = VF_MIN(khi[st], p0 + kc);
                    if (lo >= hi) continue;
                    /* the strip's first slice writes, later ones (or an accumulating call) add */
                    GEMM_REAL beta = accumulate || lo > klo[st] ? 1 : 0;
                    int nr = (int)VF_MIN(GEMM_NR, nc - jr);
                    const GEMM_REAL *bs = panel + jr * kc + (lo - p0) * GEMM_NR;
                    const GEMM_REAL *bias_here = bias && lo == klo[st] ? bias + j0 + jr : NULL;
                    int relu_here = relu && hi == khi[st]; /* the strip's last slice */
                    int64_t ir0 = 0; /* row tiles entirely above rlo[st] are skipped */
                    if (rlo)
                        while (ir0 < mc && i0 + ir0 + VF_MIN(GEMM_MR, mc - ir0) <= rlo[st]) ir0 += GEMM_MR;
                    if (ir0 < direct)
                        GEMM_FN(_tiles)((direct - ir0) / GEMM_MR, GEMM_MR * row_step, hi - lo,
                                        a + (i0 + ir0) * row_step + lo * depth_step, row_step, depth_step, bs,
                                        c + (i0 + ir0) * ldc + j0 + jr, ldc, GEMM_MR, nr, 1, beta, bias_here,
                                        relu_here);
                    int64_t packed0 = VF_MAX(ir0, direct), tiles = (mc - packed0 + GEMM_MR - 1) / GEMM_MR;
                    if (tiles > 0)
                        GEMM_FN(_tiles)(tiles, GEMM_MR * kc, hi - lo,
                                        pack_a + (packed0 - direct) * kc + (lo - p0) * GEMM_MR, 1, GEMM_MR, bs,
                                        c + (i0 + packed0) * ldc + j0 + jr, ldc,
                                        (int)(mc - packed0 - (tiles - 1) * GEMM_MR), nr, 1, beta, bias_here,
                                        relu_here);
                }
                if (last && epilogue) epilogue->apply(epilogue->ctx, i0, mc, j0, nc);
            }
        }
    }
}

void GEMM_FN(_ranged)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const GEMM_REAL *a, int64_t lda,
                      const GEMM_REAL *b, int64_t ldb, GEMM_REAL *c, int64_t ldc, const int64_t *klo, const int64_t *khi,
                      const int64_t *rlo, const GEMM_REAL *bias, int flags, const vf_gemm_epilogue *epilogue,
                      void *work)
{
    GEMM_FN(_ranged_driver)(trans_a, trans_b, m, n, k, a, lda, b, ldb, NULL, c, ldc, klo, khi, rlo, bias, flags,
                            epilogue, work);
}

/* Elements of op(B) [k, n] packed whole: every KC x NC panel as the products pack it, panel (j0, p0)
 * at j0 k + p0 (its width rounded up to NR). */
size_t GEMM_FN(_packed_b_elems)(int64_t n, int64_t k)
{
    return n <= 0 || k <= 0 ? 0 : (size_t)(k * GEMM_FN(_rounded_width)(n));
}

void GEMM_FN(_pack_b_whole)(int trans_b, int64_t n, int64_t k, const GEMM_REAL *b, int64_t ldb, GEMM_REAL *out)
{
    for (int64_t j0 = 0; j0 < n; j0 += GEMM_NC) {
        int64_t nc = VF_MIN(GEMM_NC, n - j0);
        for (int64_t p0 = 0; p0 < k; p0 += GEMM_KC)
            GEMM_FN(_pack_b)(trans_b, b, ldb, p0, VF_MIN(GEMM_KC, k - p0), j0, nc,
                             out + j0 * k + p0 * GEMM_FN(_rounded_width)(nc));
    }
}

/* The ranged product with op(B) packed whole (GEMM_FN(_pack_b_whole)): for a B used by many products. */
void GEMM_FN(_ranged_packed)(int64_t m, int64_t n, int64_t k, const GEMM_REAL *a, int64_t lda, const GEMM_REAL *packed,
                             GEMM_REAL *c, int64_t ldc, const int64_t *klo, const int64_t *khi, const int64_t *rlo,
                             const GEMM_REAL *bias, int flags, const vf_gemm_epilogue *epilogue, void *work)
{
    GEMM_FN(_ranged_driver)(0, 0, m, n, k, a, lda, NULL, 0, packed, c, ldc, klo, khi, rlo, bias, flags, epilogue,
                            work);
}

void GEMM_NAME(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, GEMM_REAL alpha, const GEMM_REAL *a,
               int64_t lda, const GEMM_REAL *b, int64_t ldb, GEMM_REAL beta, GEMM_REAL *c, int64_t ldc)
{
    GEMM_FN(_ws)(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL);
}

#undef GEMM_A
#undef GEMM_B
#undef GEMM_FN
#undef GEMM_ALWAYS_INLINE
#undef GEMM_CAT
#undef GEMM_CAT2
#undef GEMM_MR
#undef GEMM_KC
#undef GEMM_MC
#undef GEMM_NC
