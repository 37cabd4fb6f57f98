/* internal.h — private helpers shared by every layer (not installed).
 *
 * vf__error(status, fmt, ...) records the thread's error message and returns status, so a failing
 * path reads `return vf__error(VF_ERR_ARG, "fit: batch size %d < 1", b);`.
 */
#ifndef VF_INTERNAL_H
#define VF_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "varflow.h"

#if defined(__GNUC__)
#define VF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VF_PRINTF(a, b)
#endif

/* Hot elementwise kernels are compiled for several x86 vector widths, picked at load time. For
 * static functions only: clang does not export a cloned function under its name (the link fails), so
 * an exported entry point calls a static VF_HOT kernel. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(VF_NO_CLONES)
#define VF_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VF_HOT
#endif

/* Square root in the precision of vf_real (sqrt of a float would round-trip through double). */
#if VF_USE_DOUBLE
#define vf__sqrt sqrt
#else
#define vf__sqrt sqrtf
#endif

#define VF_PI 3.14159265358979323846264338327950288

#define VF_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VF_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Record a message for vf_last_error() and return status. */
vf_status vf__error(vf_status status, const char *fmt, ...) VF_PRINTF(2, 3);
vf_status vf__verror(vf_status status, const char *fmt, va_list ap);
/* Removes the temporary files of the atomic writes in progress (src/io/atomic.c). Async-signal-safe:
 * for a program's signal handler that is about to end the process. */
void vf__atomic_remove_pending(void);
/* Overflow-checked a*b for sizes; returns 0 (and sets *out) on success, -1 on overflow. */
int vf__mul_size(size_t a, size_t b, size_t *out);
/* FNV-1a over n bytes, continuing from h (start with VF__HASH_START): a fingerprint, not a secret. */
#define VF__HASH_START 1469598103934665603ULL
uint64_t vf__hash_bytes(uint64_t h, const void *data, size_t n);

/* qsort comparator for doubles, ascending. */
static inline int vf__compare_doubles(const void *p, const void *q)
{
    double a = *(const double *)p, b = *(const double *)q;
    return (a > b) - (a < b);
}

/* Ascending sort of a [n] (finite values) by radix sort (src/core/sort.c); work: [2n] scratch. */
void vf__sort_doubles(double *a /* [n] */, int64_t n, uint64_t *work /* [2n] */);
/* The same, and idx [n] receives the original position of each sorted value (a stable argsort);
 * work [2n], iwork [n] scratch. */
void vf__argsort_doubles(double *a /* [n] */, int64_t *idx /* [n] */, int64_t n, uint64_t *work /* [2n] */,
                         int64_t *iwork /* [n] */);

/* Thread count for OpenMP loops (from vf_set_num_threads); 1 on a worker thread. */
int vf__threads(void);
/* Marks the calling thread as a worker of a parallel evaluation (1) or not (0), returning the previous
 * mark: a worker's ops and products run on it alone (vf__threads() is 1; src/ad/tape_pool.c). */
int vf__worker_enter(int on);
/* Sets OpenBLAS's thread count (when built with it) and returns the previous one (0 without it). */
int vf__blas_set_threads(int n);

/* ---- dense matrix product (src/core/gemm.c): C = alpha op(A) op(B) + beta C ---------------
 * Row-major. op(A) is [m, k], op(B) is [k, n], C is [m, n]; lda/ldb/ldc are row strides.
 * Uses OpenBLAS when built with it, otherwise the built-in cache-blocked kernel. */
void vf__gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, vf_real alpha,
              const vf_real *a, int64_t lda, const vf_real *b, int64_t ldb, vf_real beta,
              vf_real *c, int64_t ldc);
/* C = alpha op(A) op(B) + beta C by loops for one extent (k, n or m) of at most VF_GEMM_SKINNY_MAX
 * (src/core/gemm_skinny.c); returns 1 when it did the product, 0 for a shape or layout it leaves to the
 * blocked kernels (m, n or k of 0 included, and every shape where it is not available). vf__gemm and
 * vf__gemm_ws try it first. */
#define VF_GEMM_SKINNY_MAX 4
/* 1 when vf__gemm_skinny runs here (GCC or clang on x86-64 with AVX2 and FMA), 0 when it always
 * returns 0 (the blocked kernels then do every product). */
int vf__gemm_skinny_available(void);
int vf__gemm_skinny(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, vf_real alpha, const vf_real *a,
                    int64_t lda, const vf_real *b, int64_t ldb, vf_real beta, vf_real *c, int64_t ldc);
/* The same with packing space `work` of vf__gemm_workspace_bytes(m, n, k) bytes (0 with OpenBLAS;
 * work may then be NULL), so a caller that multiplies often (the tape) allocates it once. */
size_t vf__gemm_workspace_bytes(int64_t m, int64_t n, int64_t k);
void vf__gemm_ws(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, vf_real alpha, const vf_real *a,
                 int64_t lda, const vf_real *b, int64_t ldb, vf_real beta, vf_real *c, int64_t ldc, void *work);
/* The built-in kernel, always available (float and double), for tests and the benchmark. */
void vf__gemm_builtin_f32(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                          const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                          float *c, int64_t ldc);
void vf__gemm_builtin_f64(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                          const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                          double *c, int64_t ldc);
size_t vf__gemm_builtin_f32_workspace_bytes(int64_t m, int64_t n, int64_t k);
size_t vf__gemm_builtin_f64_workspace_bytes(int64_t m, int64_t n, int64_t k);
void vf__gemm_builtin_f32_ws(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                             const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                             int64_t ldc, void *work);
void vf__gemm_builtin_f64_ws(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                             const double *a, int64_t lda, const double *b, int64_t ldb, double beta, double *c,
                             int64_t ldc, void *work);
/* Tests only: the widest instruction set the built-in kernel's tiles may use (VF_GEMM_ISA_*; VF_GEMM_ISA_BEST,
 * the default, is the running CPU's best), so that a machine with AVX-512 also tests the AVX2 and
 * portable tiles. Returns the previous cap. Not to be changed while products run on other threads. */
enum { VF_GEMM_ISA_PORTABLE = 1, VF_GEMM_ISA_AVX2 = 2, VF_GEMM_ISA_AVX512 = 3, VF_GEMM_ISA_BEST = 4 };
int vf__gemm_cap_isa(int cap);
/* C = A op(B) + bias (+ C with VF_GEMM_ACCUMULATE in flags; then max(0, C) with VF_GEMM_RELU) in which
 * column strip s (columns [s W, (s+1) W), W = vf__gemm_strip_width()) sums only over depth
 * [klo[s], khi[s]): the built-in kernel on the nonzero blocks of a block-triangular operand, A packed
 * once (untransposed A read in place). bias [n] or NULL, added to every row, and the ReLU are fused
 * into the store. rlo (or NULL): strip s needs only rows >= rlo[s] (tiles above are skipped, their C
 * left unwritten). work: vf__gemm_ranged_workspace_bytes(m, n, k). */
#define VF_GEMM_ACCUMULATE 1
#define VF_GEMM_RELU 2
/* An epilogue of the ranged product: apply(ctx, row0, rows, col0, cols) runs once on each block of C
 * (rows [row0, row0 + rows), columns [col0, col0 + cols)) as soon as its values are final, while it is
 * still in cache; the blocks cover C (with rlo, rows the product left unwritten too). */
typedef struct vf_gemm_epilogue {
    void (*apply)(void *ctx, int64_t row0, int64_t rows, int64_t col0, int64_t cols);
    void *ctx;
} vf_gemm_epilogue;
int64_t vf__gemm_strip_width(void);
/* Products of fewer multiply-adds (m n k) stay on the calling thread. At 2 million, a default `varflow
 * fit` (MAF, 64x2, d = 2, batch 512) split its 512x64x64 products and ran 12% slower on 2 threads than
 * on 1 with twice the CPU time: half the rows' A and C cross to the other core, which costs about what
 * the half product saves. From 8 million (a 512-row layer of 128x128 and up) the split pays. */
#define VF__GEMM_SPLIT_MIN_WORK 8.0e6
/* 1 when an m x n x k product is best run by vf__gemm_ranged with its bias, ReLU or epilogue fused,
 * rather than by vf__gemm_ws followed by passes over C: a build without OpenBLAS, and not a shape for
 * the skinny loops. */
int vf__gemm_fusing_pays(int64_t m, int64_t n, int64_t k);
size_t vf__gemm_ranged_workspace_bytes(int64_t m, int64_t n, int64_t k);
/* epilogue: NULL, or run on C's blocks as above */
void vf__gemm_ranged(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const vf_real *a, int64_t lda,
                     const vf_real *b, int64_t ldb, vf_real *c, int64_t ldc, const int64_t *klo, const int64_t *khi,
                     const int64_t *rlo, const vf_real *bias, int flags, const vf_gemm_epilogue *epilogue,
                     void *work);
void vf__gemm_builtin_f32_ranged(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const float *a,
                                 int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc, const int64_t *klo,
                                 const int64_t *khi, const int64_t *rlo, const float *bias, int flags,
                                 const vf_gemm_epilogue *epilogue, void *work);
void vf__gemm_builtin_f64_ranged(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const double *a,
                                 int64_t lda, const double *b, int64_t ldb, double *c, int64_t ldc, const int64_t *klo,
                                 const int64_t *khi, const int64_t *rlo, const double *bias, int flags,
                                 const vf_gemm_epilogue *epilogue, void *work);
/* op(B) [k, n] packed whole for vf__gemm_ranged_packed (vf__gemm_packed_b_elems(n, k) elements), and
 * the ranged product with it: the same as vf__gemm_ranged with that op(B), without packing B per call
 * (for a B used by many products). */
size_t vf__gemm_packed_b_elems(int64_t n, int64_t k);
void vf__gemm_pack_b_whole(int trans_b, int64_t n, int64_t k, const vf_real *b, int64_t ldb, vf_real *out);
void vf__gemm_ranged_packed(int64_t m, int64_t n, int64_t k, const vf_real *a, int64_t lda, const vf_real *packed,
                            vf_real *c, int64_t ldc, const int64_t *klo, const int64_t *khi, const int64_t *rlo,
                            const vf_real *bias, int flags, const vf_gemm_epilogue *epilogue, void *work);
size_t vf__gemm_builtin_f32_packed_b_elems(int64_t n, int64_t k);
size_t vf__gemm_builtin_f64_packed_b_elems(int64_t n, int64_t k);
void vf__gemm_builtin_f32_pack_b_whole(int trans_b, int64_t n, int64_t k, const float *b, int64_t ldb, float *out);
void vf__gemm_builtin_f64_pack_b_whole(int trans_b, int64_t n, int64_t k, const double *b, int64_t ldb, double *out);
void vf__gemm_builtin_f32_ranged_packed(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                                        const float *packed, float *c, int64_t ldc, const int64_t *klo,
                                        const int64_t *khi, const int64_t *rlo, const float *bias, int flags,
                                        const vf_gemm_epilogue *epilogue, void *work);
void vf__gemm_builtin_f64_ranged_packed(int64_t m, int64_t n, int64_t k, const double *a, int64_t lda,
                                        const double *packed, double *c, int64_t ldc, const int64_t *klo,
                                        const int64_t *khi, const int64_t *rlo, const double *bias, int flags,
                                        const vf_gemm_epilogue *epilogue, void *work);
/* Name of the GEMM in use: "openblas" or "builtin". */
const char *vf__gemm_backend(void);
/* OpenBLAS's name for the kernels it chose ("Haswell", "SkylakeX", "Prescott", ...), or NULL in a build
 * without it. */
const char *vf__gemm_blas_core(void);
/* Single-precision GEMM through the active backend (for the sgemm benchmark in any build). */
void vf__sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
               int64_t ldc);

#endif
