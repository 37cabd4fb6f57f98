/* gemm.c — dense matrix products: loops for a skinny shape (gemm_skinny.c), then OpenBLAS when the build
 * found it and its kernels suit the CPU (blas_in_use), the built-in kernel otherwise. */
#include "internal.h"
#include <ctype.h>
#include <stdatomic.h>
#if VF_HAVE_CBLAS
#include <cblas.h>
#endif

/* The widest instruction set the tiles of gemm_builtin.h may use (vf__gemm_cap_isa). */
static int gemm_isa_cap = VF_GEMM_ISA_BEST;

int vf__gemm_cap_isa(int cap)
{
    int old = gemm_isa_cap;
    gemm_isa_cap = cap;
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

/* The built-in kernel's function `suffix` in the precision of vf_real. */
#if VF_USE_DOUBLE
#define BUILTIN(suffix) vf__gemm_builtin_f64##suffix
#else
#define BUILTIN(suffix) vf__gemm_builtin_f32##suffix
#endif

/* ---- the built-in kernel on several threads -------------------------------------------------
 * C's rows are cut into one contiguous range per thread (whole pairs of MR-row tiles: 12 rows), and
 * each thread runs the product of its rows with packing space of its own. Every element of C gets the
 * same operations in the same order as on one thread (a tile's rows are independent, and the tiles
 * start at the same rows), so the bits do not depend on the thread count. Products under
 * VF__GEMM_SPLIT_MIN_WORK multiply-adds (8 million, internal.h says why), or with fewer than 48 rows
 * a thread, stay on the calling thread, as does every product on a worker of a parallel evaluation
 * (vf__threads() is 1 there). */
enum { SPLIT_ALIGN = 12, SPLIT_MIN_ROWS = 48 };
/* A loop over the `parts` of a product, one part per thread (a plain loop without OpenMP, where
 * there is one part). */
#if VF_HAVE_OPENMP
#define FOR_EACH_PART _Pragma("omp parallel for schedule(static, 1) num_threads(parts)")
#else
#define FOR_EACH_PART
#endif

/* The number of parts (threads) an m x n x k product of the built-in kernel is cut into. */
static int row_threads(int64_t m, int64_t n, int64_t k)
{
#if VF_HAVE_OPENMP
    int t = vf__threads();
    if (t <= 1 || (double)m * (double)n * (double)k < VF__GEMM_SPLIT_MIN_WORK) return 1;
    return (int)VF_MAX(1, VF_MIN((int64_t)t, m / SPLIT_MIN_ROWS));
#else
    (void)m, (void)n, (void)k;
    return 1;
#endif
}

/* Rows [*r0, *r1) of part p of `parts`. */
static void row_range(int64_t m, int parts, int p, int64_t *r0, int64_t *r1)
{
    int64_t units = (m + SPLIT_ALIGN - 1) / SPLIT_ALIGN;
    *r0 = VF_MIN(m, units * p / parts * SPLIT_ALIGN);
    *r1 = VF_MIN(m, units * (p + 1) / parts * SPLIT_ALIGN);
}

/* Bytes rounded up to whole cache lines, so that each thread's space starts on one. */
static size_t whole_lines(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* The built-in kernel's packing space for one thread. */
static size_t builtin_space_one(int64_t m, int64_t n, int64_t k)
{
    return BUILTIN(_workspace_bytes)(m, n, k);
}

/* An epilogue seen from rows [row0, ...) of C: the part's block rows shifted back to C's. */
typedef struct shifted_epilogue {
    const vf_gemm_epilogue *inner;
    int64_t row0;
} shifted_epilogue;

static void apply_shifted(void *ctx, int64_t row0, int64_t rows, int64_t col0, int64_t cols)
{
    const shifted_epilogue *e = ctx;
    e->inner->apply(e->inner->ctx, e->row0 + row0, rows, col0, cols);
}

#if VF_HAVE_CBLAS
/* OpenBLAS's kernel sets that use AVX2 and FMA, and those of them that use AVX-512 (its names, as
 * openblas_get_corename reports them) */
static const char *const blas_avx2_cores[] = {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids",
                                              "excavator"};
static const char *const blas_avx512_cores[] = {"skylakex", "cooperlake", "sapphirerapids"};

/* 1 when OpenBLAS's kernels suit this CPU. A DYNAMIC_ARCH OpenBLAS picks them by CPU model, and one
 * that does not know the model falls back to old SSE kernels: Debian 12's OpenBLAS 0.3.21 runs its
 * "Prescott" kernels on a 5th-generation Xeon (model 207), 33 GFLOP/s single-threaded against 136 for
 * the built-in kernel and 166 for OpenBLAS's own SkylakeX kernels (OPENBLAS_CORETYPE=SkylakeX, which
 * must be set before the process starts). And on a CPU with AVX-512 the built-in kernel's AVX-512 tiles
 * beat OpenBLAS's AVX2 sets: on a 2-core AMD EPYC (Zen 5), for which Debian's OpenBLAS picks its
 * "Haswell" kernels, 155 GFLOP/s single-threaded at 2048^3 against 108 (and 204 for its SkylakeX
 * kernels, when set by hand). So on an x86-64 CPU with AVX-512 OpenBLAS counts as suited only with one
 * of its AVX-512 kernel sets, on one with AVX2 and FMA only with one of its AVX2 sets; elsewhere it is
 * taken as it comes. */
static int same_name(const char *x, const char *y) /* ASCII, ignoring case */
{
    for (; *x && *y; x++, y++)
        if (tolower((unsigned char)*x) != tolower((unsigned char)*y)) return 0;
    return *x == *y;
}

static int blas_suits_cpu(void)
{
    static atomic_int decided = 0; /* 0: not yet; 1: suits; 2: does not */
    int d = atomic_load_explicit(&decided, memory_order_relaxed);
    if (d) return d == 1;
    int suits = 1;
#if defined(__GNUC__) && defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
        const char *const *cores = avx512 ? blas_avx512_cores : blas_avx2_cores;
        size_t n = avx512 ? sizeof blas_avx512_cores / sizeof *cores : sizeof blas_avx2_cores / sizeof *cores;
        const char *core = openblas_get_corename();
        suits = 0;
        for (size_t i = 0; core && i < n; i++)
            if (same_name(core, cores[i])) suits = 1;
    }
#endif
    atomic_store_explicit(&decided, suits ? 1 : 2, memory_order_relaxed);
    return suits;
}
#endif

/* 1 when the dense products go to OpenBLAS: built with it, and its kernels suit the CPU. (Where they
 * do not, OpenBLAS's fallback kernels run about a quarter of the built-in kernel's speed per core,
 * and the built-in kernel threads as well.) */
static int blas_in_use(void)
{
#if VF_HAVE_CBLAS
    return blas_suits_cpu();
#else
    return 0;
#endif
}

const char *vf__gemm_backend(void) { return blas_in_use() ? "openblas" : "builtin"; }

const char *vf__gemm_blas_core(void)
{
#if VF_HAVE_CBLAS
    return openblas_get_corename();
#else
    return NULL;
#endif
}

#if VF_HAVE_CBLAS
/* OpenBLAS's product FN (cblas_sgemm, cblas_dgemm) on the arguments of the functions below */
#define VF_CBLAS_PRODUCT(FN)                                                                                \
    FN(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (blasint)m,  \
       (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc)
#if VF_USE_DOUBLE
#define VF_CBLAS_GEMM cblas_dgemm
#else
#define VF_CBLAS_GEMM cblas_sgemm
#endif
#endif

void vf__sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
               int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
#if VF_HAVE_CBLAS
    if (blas_in_use()) {
        VF_CBLAS_PRODUCT(cblas_sgemm);
        return;
    }
#endif
    vf__gemm_builtin_f32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

size_t vf__gemm_workspace_bytes(int64_t m, int64_t n, int64_t k)
{
    /* with OpenBLAS in use none (it keeps its own buffers); when it is passed over (decided once per
     * process), the built-in kernel's, for each thread the product runs on */
    if (blas_in_use()) return 0;
    int parts = row_threads(m, n, k);
    size_t one = builtin_space_one(m, n, k);
    return parts > 1 ? (size_t)parts * whole_lines(one) : one;
}

/* The built-in product, its rows on the library's threads (work, when given, holds every thread's
 * space: vf__gemm_workspace_bytes); without work, one allocation for all the threads, made here. */
static void builtin_rows(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, vf_real alpha, const vf_real *a,
                         int64_t lda, const vf_real *b, int64_t ldb, vf_real beta, vf_real *c, int64_t ldc,
                         void *work)
{
    int parts = k > 0 ? row_threads(m, n, k) : 1;
    size_t each = whole_lines(builtin_space_one(m, n, k));
    void *own = NULL;
    if (parts > 1 && !work && !(work = own = vf_malloc((size_t)parts * each))) {
        vf_clear_error();
        parts = 1; /* one thread, which finds its own space or loops */
    }
    if (parts <= 1) {
        BUILTIN(_ws)(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, work);
        return;
    }
    FOR_EACH_PART
    for (int p = 0; p < parts; p++) {
        int64_t r0, r1;
        row_range(m, parts, p, &r0, &r1);
        if (r0 < r1)
            BUILTIN(_ws)(trans_a, trans_b, r1 - r0, n, k, alpha, trans_a ? a + r0 : a + r0 * lda, lda, b, ldb, beta,
                         c + r0 * ldc, ldc, (char *)work + (size_t)p * each);
    }
    vf_free(own);
}

/* The product without the skinny loops: OpenBLAS when in use (k = 0 on the built-in kernel, which
 * scales C by beta), else the built-in kernel with the caller's packing space (NULL: its own). */
static void blocked_product(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, vf_real alpha,
                            const vf_real *a, int64_t lda, const vf_real *b, int64_t ldb, vf_real beta, vf_real *c,
                            int64_t ldc, void *work)
{
#if VF_HAVE_CBLAS
    if (k > 0 && blas_in_use()) {
        VF_CBLAS_PRODUCT(VF_CBLAS_GEMM);
        return;
    }
#endif
    builtin_rows(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, work);
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
    if (blas_in_use()) return 0;
    int64_t least = VF_MIN(m, VF_MIN(n, k));
    return least > 0 && !(vf__gemm_skinny_available() && least <= VF_GEMM_SKINNY_MAX);
}

/* Column strips of an n-column C (each with its own depth range in a ranged product). */
static int64_t strips_of(int64_t n) { return (n + vf__gemm_strip_width() - 1) / vf__gemm_strip_width(); }

/* A ranged product's space per thread: packing, then its strips' row limits shifted to its rows. */
static size_t ranged_space_one(int64_t m, int64_t n, int64_t k)
{
    return whole_lines(builtin_space_one(m, n, k)) + whole_lines((size_t)VF_MAX(strips_of(n), 1) * sizeof(int64_t));
}

size_t vf__gemm_ranged_workspace_bytes(int64_t m, int64_t n, int64_t k)
{
    int parts = row_threads(m, n, k);
    return parts > 1 ? (size_t)parts * ranged_space_one(m, n, k) : builtin_space_one(m, n, k);
}

/* The ranged product on one thread: op(B) from b (packed NULL) or packed whole. */
static void ranged_one(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const vf_real *a, int64_t lda,
                       const vf_real *b, int64_t ldb, const vf_real *packed, vf_real *c, int64_t ldc,
                       const int64_t *klo, const int64_t *khi, const int64_t *rlo, const vf_real *bias, int flags,
                       const vf_gemm_epilogue *epilogue, void *work)
{
    if (packed)
        BUILTIN(_ranged_packed)(m, n, k, a, lda, packed, c, ldc, klo, khi, rlo, bias, flags, epilogue, work);
    else
        BUILTIN(_ranged)(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, klo, khi, rlo, bias, flags, epilogue, work);
}

/* The ranged product, its rows on the library's threads (work: vf__gemm_ranged_workspace_bytes). */
static void ranged_rows(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const vf_real *a, int64_t lda,
                        const vf_real *b, int64_t ldb, const vf_real *packed, vf_real *c, int64_t ldc,
                        const int64_t *klo, const int64_t *khi, const int64_t *rlo, const vf_real *bias, int flags,
                        const vf_gemm_epilogue *epilogue, void *work)
{
    int parts = row_threads(m, n, k);
    if (parts <= 1) {
        ranged_one(trans_a, trans_b, m, n, k, a, lda, b, ldb, packed, c, ldc, klo, khi, rlo, bias, flags, epilogue,
                   work);
        return;
    }
    size_t each = ranged_space_one(m, n, k), pack = whole_lines(builtin_space_one(m, n, k));
    int64_t strips = strips_of(n);
    FOR_EACH_PART
    for (int p = 0; p < parts; p++) {
        int64_t r0, r1;
        row_range(m, parts, p, &r0, &r1);
        if (r0 >= r1) continue;
        char *space = (char *)work + (size_t)p * each;
        int64_t *part_rlo = NULL;
        if (rlo) { /* the strips' first rows, counted from the part's first row */
            part_rlo = (int64_t *)(space + pack);
            for (int64_t s = 0; s < strips; s++) part_rlo[s] = VF_MAX(rlo[s] - r0, 0);
        }
        shifted_epilogue se = {epilogue, r0};
        vf_gemm_epilogue part_epilogue = {apply_shifted, &se};
        ranged_one(trans_a, trans_b, r1 - r0, n, k, trans_a ? a + r0 : a + r0 * lda, lda, b, ldb, packed, c + r0 * ldc,
                   ldc, klo, khi, part_rlo, bias, flags, epilogue ? &part_epilogue : NULL, space);
    }
}

void vf__gemm_ranged(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const vf_real *a, int64_t lda,
                     const vf_real *b, int64_t ldb, vf_real *c, int64_t ldc, const int64_t *klo, const int64_t *khi,
                     const int64_t *rlo, const vf_real *bias, int flags, const vf_gemm_epilogue *epilogue,
                     void *work)
{
    ranged_rows(trans_a, trans_b, m, n, k, a, lda, b, ldb, NULL, c, ldc, klo, khi, rlo, bias, flags, epilogue, work);
}

size_t vf__gemm_packed_b_elems(int64_t n, int64_t k) { return BUILTIN(_packed_b_elems)(n, k); }

void vf__gemm_pack_b_whole(int trans_b, int64_t n, int64_t k, const vf_real *b, int64_t ldb, vf_real *out)
{
    BUILTIN(_pack_b_whole)(trans_b, n, k, b, ldb, out);
}

void vf__gemm_ranged_packed(int64_t m, int64_t n, int64_t k, const vf_real *a, int64_t lda, const vf_real *packed,
                            vf_real *c, int64_t ldc, const int64_t *klo, const int64_t *khi, const int64_t *rlo,
                            const vf_real *bias, int flags, const vf_gemm_epilogue *epilogue, void *work)
{
    ranged_rows(0, 0, m, n, k, a, lda, NULL, 0, packed, c, ldc, klo, khi, rlo, bias, flags, epilogue, work);
}
