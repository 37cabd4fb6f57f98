/* gemm.c — dense matrix products: loops for a skinny shape (gemm_skinny.c), then OpenBLAS when the build
 * found it, the built-in kernel otherwise. */
#include "internal.h"
#if VF_HAVE_CBLAS
#include <cblas.h>
#endif

int vf__gemm_isa_cap = VF_GEMM_ISA_BEST;

int vf__gemm_cap_isa(int cap)
{
    int old = vf__gemm_isa_cap;
    vf__gemm_isa_cap = cap;
    return old;
}

#define GEMM_REAL float
#define GEMM_NAME vf__gemm_builtin_f32
#define GEMM_NR 16
#include "core/gemm_builtin.h"
#undef GEMM_REAL
#undef GEMM_NAME
#undef GEMM_NR

#define GEMM_REAL double
#define GEMM_NAME vf__gemm_builtin_f64
#define GEMM_NR 8
#include "core/gemm_builtin.h"
#undef GEMM_REAL
#undef GEMM_NAME
#undef GEMM_NR

const char *vf__gemm_backend(void)
{
#if VF_HAVE_CBLAS
    return "openblas";
#else
    return "builtin";
#endif
}

void vf__sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
               int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
#if VF_HAVE_CBLAS
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                (blasint)m, (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta, c,
                (blasint)ldc);
#else
    vf__gemm_builtin_f32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

size_t vf__gemm_workspace_bytes(int64_t m, int64_t n, int64_t k)
{
#if VF_HAVE_CBLAS
    (void)m, (void)n, (void)k;
    return 0; /* OpenBLAS keeps its own buffers */
#elif VF_USE_DOUBLE
    return vf__gemm_builtin_f64_workspace_bytes(m, n, k);
#else
    return vf__gemm_builtin_f32_workspace_bytes(m, n, k);
#endif
}

/* The product without the skinny loops: OpenBLAS when present (k = 0 on the built-in kernel, which
 * scales C by beta), else the built-in kernel with the caller's packing space. */
static void blocked_product(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, vf_real alpha,
                            const vf_real *a, int64_t lda, const vf_real *b, int64_t ldb, vf_real beta, vf_real *c,
                            int64_t ldc, void *work)
{
#if VF_USE_DOUBLE
#if VF_HAVE_CBLAS
    (void)work;
    if (k > 0)
        cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                    (blasint)m, (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta, c,
                    (blasint)ldc);
    else
        vf__gemm_builtin_f64(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
    vf__gemm_builtin_f64_ws(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, work);
#endif
#else
#if VF_HAVE_CBLAS
    (void)work;
    if (k > 0)
        vf__sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        vf__gemm_builtin_f32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
    vf__gemm_builtin_f32_ws(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, work);
#endif
#endif
}

void vf__gemm_ws(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, vf_real alpha, const vf_real *a,
                 int64_t lda, const vf_real *b, int64_t ldb, vf_real beta, vf_real *c, int64_t ldc, void *work)
{
    if (m <= 0 || n <= 0) return;
    if (vf__gemm_skinny(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
    blocked_product(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, work);
}

void vf__gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, vf_real alpha, const vf_real *a,
              int64_t lda, const vf_real *b, int64_t ldb, vf_real beta, vf_real *c, int64_t ldc)
{
    vf__gemm_ws(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL);
}

int64_t vf__gemm_strip_width(void) { return VF_USE_DOUBLE ? 8 : 16; }

int vf__gemm_fusing_pays(int64_t m, int64_t n, int64_t k)
{
    /* With OpenBLAS, its product plus the passes after it measured as fast as the fused built-in
     * kernel or faster (bench cfm, one thread: sampling 0.244-0.262 calls/s fused against
     * 0.261-0.281), and it threads. Without, the fused product does less work than the built-in one
     * plus passes (bench cfm sampling 0.264-0.271 calls/s against 0.242-0.247, run side by side). */
    if (VF_HAVE_CBLAS) return 0;
    int64_t least = VF_MIN(m, VF_MIN(n, k));
    return least > 0 && !(vf__gemm_skinny_available() && least <= VF_GEMM_SKINNY_MAX);
}

size_t vf__gemm_ranged_workspace_bytes(int64_t m, int64_t n, int64_t k)
{
#if VF_USE_DOUBLE
    return vf__gemm_builtin_f64_workspace_bytes(m, n, k);
#else
    return vf__gemm_builtin_f32_workspace_bytes(m, n, k);
#endif
}

void vf__gemm_ranged(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const vf_real *a, int64_t lda,
                     const vf_real *b, int64_t ldb, vf_real *c, int64_t ldc, const int64_t *klo, const int64_t *khi,
                     const int64_t *rlo, const vf_real *bias, int flags, const vf_gemm_epilogue *epilogue,
                     void *work)
{
#if VF_USE_DOUBLE
    vf__gemm_builtin_f64_ranged(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, klo, khi, rlo, bias, flags,
                                epilogue, work);
#else
    vf__gemm_builtin_f32_ranged(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, klo, khi, rlo, bias, flags,
                                epilogue, work);
#endif
}
