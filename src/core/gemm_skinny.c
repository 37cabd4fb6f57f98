/* gemm_skinny.c — C = alpha op(A) op(B) + beta C when one extent (k, n or m) is at most
 * VF_GEMM_SKINNY_MAX, for vf__gemm and vf__gemm_ws.
 *
 * Usage (inside gemm.c, before the blocked product)
 *   if (vf__gemm_skinny(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
 *
 * Such products are a linear layer's first one at small d (x W^T with k = d + 1), its last one (n = d),
 * and their gradients (dW = dz^T x with n or m = d, dx = dz W with k = d). A blocked GEMM packs whole
 * panels for a handful of multiply-adds per element: OpenBLAS ran them at 13 to 38 GFLOP/s on the
 * project's Zen 3 (512x2x256, 2x256x512, 256x3x512, 512x256x3) against 94 on 512x256x256. Here the
 * small extent is a compile-time constant (one specialization per value), so its values stay in
 * registers, and the loops run on AVX2 vectors along a long extent:
 *   small depth (k): each row of C is a sum of k broadcast-times-row products of op(B) (B's rows, or
 *     a transposed copy of up to COLS columns at a time), one pass over the row;
 *   dot products (op(A) rows and op(B) columns both contiguous in p: A as stored, B transposed): two
 *     vector partial sums per output, each long row against the few short ones;
 *   long vectors (the long extent contiguous in memory: op(A) columns of a transposed A when n is
 *     small, op(B) rows of a plain B when m is small): 2 x VL outputs of the long side at a time,
 *     summed over p with the small side's values as broadcast scalars.
 * Measured there (microseconds, OpenBLAS first): 2x256x512 40 -> 24, 256x3x512 47 -> 18, 512x2x256
 * 38 -> 28; 512x256x3 and 512x256x2 (bound by writing C) about even. The other two layouts (n small
 * with neither operand transposed, m small with both transposed) go to the blocked product, as does
 * anything larger and any machine without AVX2 and FMA (vf__gemm_skinny_available). Sums run in a
 * fixed order, so results do not depend on the BLAS.
 */
#include <string.h>
#include "internal.h"

#if defined(__GNUC__) && defined(__x86_64__) && !defined(VF_NO_CLONES)
#define SKINNY_HAVE 1
#define SKINNY VF_GEMM_SKINNY_MAX
#define TARGET __attribute__((target("avx2,fma")))
#define INLINE TARGET static inline __attribute__((always_inline))
#define VL ((int64_t)(32 / sizeof(vf_real))) /* lanes of one AVX2 register */
#define COLS 1024                              /* columns of a transposed B copied at a time */
typedef vf_real vec __attribute__((vector_size(32)));

INLINE vec load(const vf_real *p)
{
    vec v;
    memcpy(&v, p, sizeof v);
    return v;
}
INLINE void save(vf_real *p, vec v) { memcpy(p, &v, sizeof v); }
INLINE vec splat(vf_real x) { return (vec){0} + x; }
INLINE vf_real lane_sum(vec v)
{
    vf_real l[VL];
    memcpy(l, &v, sizeof v);
    for (int64_t h = VL / 2; h >= 1; h /= 2) /* pairwise */
        for (int64_t i = 0; i < h; i++) l[i] += l[i + h];
    return l[0];
}
/* c = alpha s (+ beta c): beta = 0 never reads c (NaN there must not leak). */
INLINE void store(vf_real *c, vf_real s, vf_real alpha, vf_real beta)
{
    *c = beta == 0 ? alpha * s : alpha * s + beta * *c;
}

/* ---- small depth: C [m, n] with k = K <= SKINNY ----------------------------------------------
 * Row i of C is sum_p (alpha op(A)[i, p]) op(B)[p, :]: K streams of op(B)'s rows (B itself, or a
 * transposed copy of COLS columns at a time), one pass over the row. */
INLINE void small_depth(const int K, int ta, int tb, int64_t m, int64_t n, vf_real alpha, const vf_real *restrict a,
                        int64_t lda, const vf_real *restrict b, int64_t ldb, vf_real beta, vf_real *restrict c,
                        int64_t ldc)
{
    vf_real packed[SKINNY * COLS];
    for (int64_t j0 = 0; j0 < n; j0 += COLS) {
        int64_t w = VF_MIN((int64_t)COLS, n - j0), wv = w - w % VL;
        const vf_real *row[SKINNY];
        for (int p = 0; p < K; p++) {
            if (tb) {
                for (int64_t j = 0; j < w; j++) packed[p * COLS + j] = b[(j0 + j) * ldb + p];
                row[p] = packed + p * COLS;
            } else {
                row[p] = b + p * ldb + j0;
            }
        }
        for (int64_t i = 0; i < m; i++) {
            vf_real ai[SKINNY];
            vec av[SKINNY];
            for (int p = 0; p < K; p++) {
                ai[p] = alpha * (ta ? a[p * lda + i] : a[i * lda + p]);
                av[p] = splat(ai[p]);
            }
            vf_real *ci = c + i * ldc + j0;
            for (int64_t j = 0; j < wv; j += VL) {
                vec acc = av[0] * load(row[0] + j);
                for (int p = 1; p < K; p++) acc += av[p] * load(row[p] + j);
                save(ci + j, beta == 0 ? acc : acc + splat(beta) * load(ci + j));
            }
            for (int64_t j = wv; j < w; j++) {
                vf_real acc = ai[0] * row[0][j];
                for (int p = 1; p < K; p++) acc += ai[p] * row[p][j];
                ci[j] = beta == 0 ? acc : acc + beta * ci[j];
            }
        }
    }
}

/* ---- dot products: C[r * rs + q * qs] = sum_p u_r[p] v_q[p] over p < k, u_r = u + r * ldu (R of
 * them), v_q = v + q * ldv (K <= SKINNY of them): two vector partial sums per q, the last k mod VL
 * terms in a scalar. */
INLINE void dots(const int K, int64_t R, int64_t k, vf_real alpha, const vf_real *restrict u, int64_t ldu,
                 const vf_real *restrict v, int64_t ldv, vf_real beta, vf_real *restrict c, int64_t rs, int64_t qs)
{
    int64_t k2 = k - k % (2 * VL), k1 = k - k % VL;
    for (int64_t r = 0; r < R; r++) {
        const vf_real *ur = u + r * ldu;
        vec acc0[SKINNY], acc1[SKINNY];
        for (int q = 0; q < K; q++) acc0[q] = acc1[q] = (vec){0};
        for (int64_t p = 0; p < k2; p += 2 * VL) {
            vec x0 = load(ur + p), x1 = load(ur + p + VL);
            for (int q = 0; q < K; q++) {
                acc0[q] += x0 * load(v + q * ldv + p);
                acc1[q] += x1 * load(v + q * ldv + p + VL);
            }
        }
        if (k1 > k2) {
            vec x0 = load(ur + k2);
            for (int q = 0; q < K; q++) acc0[q] += x0 * load(v + q * ldv + k2);
        }
        for (int q = 0; q < K; q++) {
            vf_real tail = 0;
            for (int64_t p = k1; p < k; p++) tail += ur[p] * v[q * ldv + p];
            store(c + r * rs + q * qs, lane_sum(acc0[q] + acc1[q]) + tail, alpha, beta);
        }
    }
}

/* ---- long vectors: C[r * rs + q * qs] = sum_p x[p * ldx + r] y[q * yq + p * yp] over p < k, for
 * r < R (contiguous in x) and q < K <= SKINNY: 2 VL values of r at a time in registers, then VL,
 * then one by one. */
INLINE void long_block(const int K, const int NV, int64_t r0, int64_t k, vf_real alpha, const vf_real *restrict x,
                       int64_t ldx, const vf_real *restrict y, int64_t yq, int64_t yp, vf_real beta,
                       vf_real *restrict c, int64_t rs, int64_t qs)
{
    vec acc[SKINNY][2];
    for (int q = 0; q < K; q++) acc[q][0] = acc[q][1] = (vec){0};
    for (int64_t p = 0; p < k; p++) {
        const vf_real *xp = x + p * ldx + r0;
        vec x0 = load(xp), x1 = NV > 1 ? load(xp + VL) : x0;
        for (int q = 0; q < K; q++) {
            vec yv = splat(y[q * yq + p * yp]);
            acc[q][0] += yv * x0;
            if (NV > 1) acc[q][1] += yv * x1;
        }
    }
    for (int q = 0; q < K; q++)
        for (int h = 0; h < NV; h++) {
            vf_real l[VL];
            memcpy(l, &acc[q][h], sizeof l);
            vf_real *cq = c + (r0 + h * VL) * rs + q * qs;
            for (int64_t i = 0; i < VL; i++) store(cq + i * rs, l[i], alpha, beta);
        }
}

INLINE void long_vectors(const int K, int64_t R, int64_t k, vf_real alpha, const vf_real *restrict x, int64_t ldx,
                         const vf_real *restrict y, int64_t yq, int64_t yp, vf_real beta, vf_real *restrict c,
                         int64_t rs, int64_t qs)
{
    int64_t r0 = 0;
    for (; r0 + 2 * VL <= R; r0 += 2 * VL) long_block(K, 2, r0, k, alpha, x, ldx, y, yq, yp, beta, c, rs, qs);
    for (; r0 + VL <= R; r0 += VL) long_block(K, 1, r0, k, alpha, x, ldx, y, yq, yp, beta, c, rs, qs);
    for (int64_t r = r0; r < R; r++)
        for (int q = 0; q < K; q++) {
            vf_real s = 0;
            for (int64_t p = 0; p < k; p++) s += x[p * ldx + r] * y[q * yq + p * yp];
            store(c + r * rs + q * qs, s, alpha, beta);
        }
}

/* One specialization per small extent 1..SKINNY (the switch hands each kernel a constant). */
#define SPECIALIZE(K_, CALL)                                                                          \
    switch (K_) {                                                                                     \
    case 1: { const int K = 1; CALL; } break;                                                         \
    case 2: { const int K = 2; CALL; } break;                                                         \
    case 3: { const int K = 3; CALL; } break;                                                         \
    default: { const int K = 4; CALL; } break;                                                        \
    }

TARGET static void run_small_depth(int ta, int tb, int64_t m, int64_t n, int64_t k, vf_real alpha, const vf_real *a,
                                   int64_t lda, const vf_real *b, int64_t ldb, vf_real beta, vf_real *c, int64_t ldc)
{
    SPECIALIZE(k, small_depth(K, ta, tb, m, n, alpha, a, lda, b, ldb, beta, c, ldc))
}

TARGET static void run_dots(int small, int64_t R, int64_t k, vf_real alpha, const vf_real *u, int64_t ldu,
                            const vf_real *v, int64_t ldv, vf_real beta, vf_real *c, int64_t rs, int64_t qs)
{
    SPECIALIZE(small, dots(K, R, k, alpha, u, ldu, v, ldv, beta, c, rs, qs))
}

TARGET static void run_long_vectors(int small, int64_t R, int64_t k, vf_real alpha, const vf_real *x, int64_t ldx,
                                    const vf_real *y, int64_t yq, int64_t yp, vf_real beta, vf_real *c, int64_t rs,
                                    int64_t qs)
{
    SPECIALIZE(small, long_vectors(K, R, k, alpha, x, ldx, y, yq, yp, beta, c, rs, qs))
}
#endif /* SKINNY_HAVE */

int vf__gemm_skinny_available(void)
{
#if defined(SKINNY_HAVE)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int vf__gemm_skinny(int ta, int tb, int64_t m, int64_t n, int64_t k, vf_real alpha, const vf_real *a, int64_t lda,
                    const vf_real *b, int64_t ldb, vf_real beta, vf_real *c, int64_t ldc)
{
#if defined(SKINNY_HAVE)
    if (m <= 0 || n <= 0 || k <= 0 || !vf__gemm_skinny_available()) return 0;
    if (k <= SKINNY) {
        run_small_depth(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return 1;
    }
    if (n <= SKINNY && !ta && tb) { /* C[i, j] = A row i . B row j */
        run_dots((int)n, m, k, alpha, a, lda, b, ldb, beta, c, ldc, 1);
        return 1;
    }
    if (m <= SKINNY && !ta && tb) { /* the same with the rows of B as the long side */
        run_dots((int)m, n, k, alpha, b, ldb, a, lda, beta, c, 1, ldc);
        return 1;
    }
    if (n <= SKINNY && ta) { /* op(A)[i, p] = a[p lda + i]: contiguous in i */
        run_long_vectors((int)n, m, k, alpha, a, lda, b, tb ? ldb : 1, tb ? 1 : ldb, beta, c, ldc, 1);
        return 1;
    }
    if (m <= SKINNY && !tb) { /* op(B)[p, j] = b[p ldb + j]: contiguous in j */
        run_long_vectors((int)m, n, k, alpha, b, ldb, a, ta ? 1 : lda, ta ? lda : 1, beta, c, 1, ldc);
        return 1;
    }
#else
    (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)b, (void)ldb, (void)beta,
        (void)c, (void)ldc;
#endif
    return 0;
}
