/* tape_pool.c — independent blocks of rows evaluated on several threads, one tape per thread.
 *
 * Usage (log-densities, samples, vector-field evaluations of fixed parameters):
 *   vf__tape_pool pool;
 *   if ((s = vf__tape_pool_open(&pool, t, n, VF__POOL_INFERENCE)) != VF_OK) return s; // t: caller's
 *   s = vf__tape_pool_run(&pool, n, eval_block, &ctx);   // n rows, any number of times
 *   vf__tape_pool_close(&pool);
 *
 * Blocks. The rows are cut into blocks of VF_EVAL_BLOCK_ROWS (the last one shorter), and
 * eval_block(ctx, t, worker, start, rows) evaluates one.
 *
 * Tapes. Worker w runs its blocks on tape w: tape 0 is the caller's (run by the calling thread), the
 * others are the caller's tape's helpers, made on first use and freed with it, so that the next
 * evaluation finds their memory ready (a fresh tape's first block costs a few times a warm one's);
 * without a caller's tape the pool makes and frees its own. The pool puts every tape in inference
 * mode with frozen weights (vf__tape_freeze_weights), or with VF__POOL_RECORDING in gradient mode
 * (for blocks that take forward-mode derivatives), and restores the caller's tape on close.
 *
 * Same bits. While several workers run, each is a worker thread (vf__worker_enter): its ops see one
 * thread (vf__threads() is 1), and OpenBLAS, where it runs the products, is held to one thread from
 * open to close (not per run: a solve runs the pool once per field evaluation), so a
 * block runs what a one-thread evaluation runs and gives the same bits whatever the thread count.
 * (OpenBLAS's thread count is the process's: another thread of the program gets one OpenBLAS thread
 * meanwhile too.)
 *
 * Errors. A failing block stops the blocks after it that have not started; run returns the status and
 * message of the failing block with the lowest index, re-recorded on the calling thread (a worker's
 * vf_last_error is its own). Without OpenMP, or with one thread or one block, there is one worker and
 * no thread is started.
 */
#include <stdio.h>
#include <string.h>
#include "ad/ad_internal.h"
#include "varflow/vf_eval.h"
#if VF_HAVE_OPENMP
#include <omp.h>
#endif

static int64_t blocks_of(int64_t rows) { return (rows + VF_EVAL_BLOCK_ROWS - 1) / VF_EVAL_BLOCK_ROWS; }

static int workers_for(int64_t blocks)
{
#if VF_HAVE_OPENMP
    int64_t w = vf__threads();
    return (int)VF_MAX(1, VF_MIN(w, blocks));
#else
    (void)blocks;
    return 1;
#endif
}

/* The caller's helpers grown to at least `count` tapes (they stay with it: a later evaluation finds
 * their memory ready). */
static vf_status grow_helpers(vf_tape *caller, int count)
{
    if (caller->n_helpers >= count) return VF_OK;
    vf_tape **h = vf_realloc(caller->helpers, (size_t)count * sizeof *h);
    if (!h) return VF_ERR_NOMEM;
    caller->helpers = h;
    while (caller->n_helpers < count) {
        if (!(h[caller->n_helpers] = vf_tape_new())) return VF_ERR_NOMEM;
        caller->n_helpers++;
    }
    return VF_OK;
}

vf_status vf__tape_pool_open(vf__tape_pool *pool, vf_tape *caller, int64_t rows, int mode)
{
    memset(pool, 0, sizeof *pool);
    pool->n = workers_for(blocks_of(rows));
    pool->tapes = vf_calloc((size_t)pool->n, sizeof *pool->tapes);
    if (!pool->tapes) return vf__error(VF_ERR_NOMEM, "out of memory (tapes for %d threads)", pool->n);
    pool->tapes[0] = caller ? caller : (pool->own = vf_tape_new());
    pool->borrowed = caller && grow_helpers(caller, pool->n - 1) == VF_OK;
    for (int w = 1; w < pool->n && pool->tapes[w - 1]; w++)
        pool->tapes[w] = pool->borrowed ? caller->helpers[w - 1] : vf_tape_new();
    if (!pool->tapes[pool->n - 1]) {
        vf__tape_pool_close(pool);
        return vf__error(VF_ERR_NOMEM, "out of memory (tapes for evaluation)");
    }
    pool->grad_was = vf_tape_grad_enabled(pool->tapes[0]);
    int inference = mode == VF__POOL_INFERENCE;
    for (int w = 0; w < pool->n; w++) {
        vf_tape_set_grad_enabled(pool->tapes[w], !inference);
        int was = inference ? vf__tape_freeze_weights(pool->tapes[w], 1) : pool->tapes[w]->weights_frozen;
        if (w == 0) pool->frozen_was = was;
    }
    if (pool->n > 1) pool->blas_threads_was = vf__blas_set_threads(1);
    pool->opened = 1;
    return VF_OK;
}

void vf__tape_pool_close(vf__tape_pool *pool)
{
    if (!pool->tapes) return;
    vf_tape *caller = pool->own ? NULL : pool->tapes[0];
    if (caller && pool->opened) {
        vf__tape_freeze_weights(caller, pool->frozen_was);
        vf_tape_reset(caller);
        vf_tape_set_grad_enabled(caller, pool->grad_was);
    }
    if (pool->opened && pool->n > 1) vf__blas_set_threads(pool->blas_threads_was);
    for (int w = caller ? 1 : 0; w < pool->n; w++) {
        if (!pool->borrowed) {
            vf_tape_free(pool->tapes[w]);
        } else { /* kept by the caller: what was derived from the weights goes */
            vf__tape_freeze_weights(pool->tapes[w], 0);
            vf_tape_reset(pool->tapes[w]);
        }
    }
    vf_free(pool->tapes);
    memset(pool, 0, sizeof *pool);
}

#if VF_HAVE_OPENMP
/* The first failure by block index: its status and message. */
typedef struct pool_failure {
    int64_t block;
    vf_status status;
    char message[512];
} pool_failure;

static void note_failure(pool_failure *f, int64_t block, vf_status s)
{
    const char *msg = vf_last_error();
#pragma omp critical(vf_tape_pool_failure)
    if (block < f->block) {
#pragma omp atomic write
        f->block = block; /* read by the other workers while they run */
        f->status = s;
        snprintf(f->message, sizeof f->message, "%s", msg && msg[0] ? msg : "evaluation failed");
    }
}
#endif

/* Block b of the rows: fn on rows [b BLOCK, ...) */
static vf_status run_block(vf__block_fn fn, void *ctx, vf_tape *t, int worker, int64_t rows, int64_t b)
{
    int64_t start = b * VF_EVAL_BLOCK_ROWS;
    return fn(ctx, t, worker, start, VF_MIN(VF_EVAL_BLOCK_ROWS, rows - start));
}

vf_status vf__tape_pool_run(vf__tape_pool *pool, int64_t rows, vf__block_fn fn, void *ctx)
{
    int64_t blocks = blocks_of(rows);
    if (pool->n <= 1 || blocks <= 1) {
        for (int64_t b = 0; b < blocks; b++) {
            vf_status s = run_block(fn, ctx, pool->tapes[0], 0, rows, b);
            if (s != VF_OK) return s; /* the message is this thread's already */
        }
        return VF_OK;
    }
#if VF_HAVE_OPENMP
    pool_failure failure = {blocks, VF_OK, ""}; /* blocks after a failed one are skipped, earlier ones run */
#pragma omp parallel num_threads(pool->n)
    {
        int w = omp_get_thread_num(), was_worker = vf__worker_enter(1);
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < blocks; b++) {
            int64_t bad;
#pragma omp atomic read
            bad = failure.block;
            if (b > bad) continue;
            vf_status s = run_block(fn, ctx, pool->tapes[w], w, rows, b);
            if (s != VF_OK) note_failure(&failure, b, s);
        }
        vf__worker_enter(was_worker);
    }
    if (failure.status != VF_OK) return vf__error(failure.status, "%s", failure.message);
#endif
    return VF_OK;
}
