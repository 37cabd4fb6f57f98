/* test_tape_pool.c — blocks on several threads (src/ad/tape_pool.c): every block runs once, on a
 * tape of its own worker in inference mode, as a worker thread (one thread for its ops); the first
 * failing block's status and message reach the caller; the caller's tape comes back as it was. */
#include <stdatomic.h>
#include <string.h>
#include "ad/ad_internal.h"
#include "vf_test.h"

enum { BLOCKS = 40, ROWS = BLOCKS * VF_EVAL_BLOCK_ROWS - 100 }; /* the last block shorter */

typedef struct block_log {
    atomic_int runs[BLOCKS];
    vf_tape *tape_of[BLOCKS];
    int worker_of[BLOCKS];
    int threads_seen[BLOCKS];  /* vf__threads() inside the block */
    int inference[BLOCKS];     /* the tape had gradients disabled */
    int fail_from;             /* blocks >= fail_from, odd ones only, fail (BLOCKS: none) */
} block_log;

static vf_status record_block(void *ctx, vf_tape *t, int worker, int64_t start, int64_t rows)
{
    block_log *log = ctx;
    int64_t b = start / VF_EVAL_BLOCK_ROWS;
    if (start % VF_EVAL_BLOCK_ROWS != 0 || rows != (b + 1 < BLOCKS ? VF_EVAL_BLOCK_ROWS : VF_EVAL_BLOCK_ROWS - 100))
        return vf__error(VF_ERR_ARG, "block %lld: rows [%lld, +%lld)", (long long)b, (long long)start, (long long)rows);
    atomic_fetch_add(&log->runs[b], 1);
    log->tape_of[b] = t;
    log->worker_of[b] = worker;
    log->threads_seen[b] = vf__threads();
    log->inference[b] = !vf_tape_grad_enabled(t);
    vf_tape_reset(t);
    vf_real x[4] = {1, 2, 3, (vf_real)b};
    vf_var v = vf_sum(t, vf_exp(t, vf_input(t, x, 1, (int64_t[]){4})), VF_ALL_AXES, 0);
    if (v == VF_NOVAR) return vf_tape_status(t);
    if (b >= log->fail_from && b % 2 == 1) return vf__error(VF_ERR_NUMERIC, "block %lld failed", (long long)b);
    return VF_OK;
}

static void test_every_block_once(int threads)
{
    int old = vf_set_num_threads(threads);
    vf_tape *caller = vf_tape_new();
    CHECK(vf_tape_grad_enabled(caller));
    vf__tape_pool pool;
    CHECK_STATUS(vf__tape_pool_open(&pool, caller, ROWS, VF__POOL_INFERENCE), VF_OK);
    CHECK(pool.n == (VF_HAVE_OPENMP ? threads : 1));
    CHECK(pool.tapes[0] == caller);
    static block_log log;
    memset(&log, 0, sizeof log);
    log.fail_from = BLOCKS;
    CHECK_STATUS(vf__tape_pool_run(&pool, ROWS, record_block, &log), VF_OK);
    int all_once = 1, one_thread = 1, inference = 1, own_tapes = 1;
    for (int b = 0; b < BLOCKS; b++) {
        all_once &= atomic_load(&log.runs[b]) == 1;
        one_thread &= pool.n == 1 || log.threads_seen[b] == 1;
        inference &= log.inference[b];
        int w = log.worker_of[b];
        own_tapes &= w >= 0 && w < pool.n && log.tape_of[b] == pool.tapes[w]; /* worker w runs on tape w */
    }
    CHECK_MSG(all_once, "%d threads: every block exactly once", threads);
    CHECK_MSG(one_thread, "%d threads: a worker's ops see one thread", threads);
    CHECK(inference && own_tapes);
    CHECK(vf__threads() == threads); /* the calling thread is no worker after the run */
    vf__tape_pool_close(&pool);
    CHECK(vf_tape_grad_enabled(caller)); /* restored */
    vf_tape_free(caller);
    vf_set_num_threads(old);
}

static void test_blocks(void)
{
    test_every_block_once(1);
    test_every_block_once(2);
    test_every_block_once(3);
}

/* Blocks 13, 15, ... fail: whichever thread meets one, the caller gets block 13's status and
 * message; with an own tape (caller NULL) too. */
static void test_first_failure(void)
{
    for (int threads = 1; threads <= 3; threads++) {
        int old = vf_set_num_threads(threads);
        vf__tape_pool pool;
        CHECK_STATUS(vf__tape_pool_open(&pool, NULL, ROWS, VF__POOL_INFERENCE), VF_OK);
        static block_log log;
        memset(&log, 0, sizeof log);
        log.fail_from = 12;
        vf_clear_error();
        CHECK_STATUS(vf__tape_pool_run(&pool, ROWS, record_block, &log), VF_ERR_NUMERIC);
        CHECK_MSG(strstr(vf_last_error(), "block 13 failed") != NULL, "%d threads: %s", threads, vf_last_error());
        for (int b = 0; b < 13; b++) CHECK(atomic_load(&log.runs[b]) <= 1);
        vf__tape_pool_close(&pool);
        vf_set_num_threads(old);
    }
}

/* One block, or fewer blocks than threads: no more workers than blocks. */
static void test_workers_bounded_by_blocks(void)
{
    int old = vf_set_num_threads(4);
    vf__tape_pool pool;
    CHECK_STATUS(vf__tape_pool_open(&pool, NULL, VF_EVAL_BLOCK_ROWS, VF__POOL_INFERENCE), VF_OK);
    CHECK(pool.n == 1);
    vf__tape_pool_close(&pool);
    CHECK_STATUS(vf__tape_pool_open(&pool, NULL, VF_EVAL_BLOCK_ROWS + 1, VF__POOL_INFERENCE), VF_OK);
    CHECK(pool.n == (VF_HAVE_OPENMP ? 2 : 1));
    vf__tape_pool_close(&pool);
    vf_set_num_threads(old);
}

/* The other threads' tapes stay with the caller's tape between evaluations (their memory warm) and
 * go with it; without a caller's tape the pool makes and frees its own. */
static void test_helpers_kept(void)
{
    if (!VF_HAVE_OPENMP) return;
    int old = vf_set_num_threads(3);
    vf_tape *caller = vf_tape_new();
    vf__tape_pool pool;
    CHECK_STATUS(vf__tape_pool_open(&pool, caller, ROWS, VF__POOL_INFERENCE), VF_OK);
    vf_tape *first[3] = {pool.tapes[0], pool.tapes[1], pool.tapes[2]};
    vf__tape_pool_close(&pool);
    CHECK(caller->n_helpers == 2 && caller->helpers[0] == first[1] && caller->helpers[1] == first[2]);
    CHECK(!caller->helpers[0]->weights_frozen && caller->helpers[0]->n_frozen == 0); /* thawed */
    CHECK_STATUS(vf__tape_pool_open(&pool, caller, ROWS, VF__POOL_INFERENCE), VF_OK);
    CHECK(pool.tapes[1] == first[1] && pool.tapes[2] == first[2]);
    vf__tape_pool_close(&pool);
    vf_set_num_threads(2); /* fewer threads: the first helper serves */
    CHECK_STATUS(vf__tape_pool_open(&pool, caller, ROWS, VF__POOL_INFERENCE), VF_OK);
    CHECK(pool.n == 2 && pool.tapes[1] == first[1]);
    vf__tape_pool_close(&pool);
    vf_tape_free(caller); /* frees the helpers (ASan: no leak) */
    vf_set_num_threads(old);
}

int main(void)
{
    RUN(test_blocks);
    RUN(test_first_failure);
    RUN(test_workers_bounded_by_blocks);
    RUN(test_helpers_kept);
    return vf_test_summary();
}
