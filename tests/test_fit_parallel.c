/* test_fit_parallel.c — vf_fit_flow shared among processes (vf_fit_options.rank, ranks, reduce),
 * with threads standing in for the processes and an in-memory reduce: the gradient the processes sum
 * is the one-process gradient of the batch's mean NLL (a batch of all training rows, so that it does
 * not depend on the shuffle; a reduce that leaves each process its own share's gradient is caught);
 * the losses they report are the one-process fit's (learning rate 0); every process ends with the
 * same parameters and batch-normalization statistics bit for bit; a short training run fits as well
 * as one process; a failure on one process (a NaN row in its share only) stops all of them with an
 * error instead of a hang; bad options are refused. vf_cnf_fit the same way (OT-CFM, whose coupling
 * every process makes alike for the whole batch): the one-process losses at learning rate 0, the
 * same parameters everywhere after training. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "vf_test.h"
#include "varflow.h"

#define RANKS 3
/* Batch normalization normalizes each process's share by its own statistics (as PyTorch's
 * DistributedDataParallel without synchronized batch norm), so the comparisons with one process use
 * the plain MAF, and the batch-norm one checks that the processes stay together. */
#define PLAIN "maf:transforms=2,hidden=16x2"
#define WITH_BN "maf:transforms=2,hidden=16x2,batchnorm=1"

/* An in-memory reduction for RANKS threads: each deposits its array, and after a barrier every one
 * sums the arrays in rank order into a shared result that all copy out, so every rank gets the same
 * bits. broken = 1 leaves each its own vf_real arrays (a fit that never sums its gradients; the
 * double ones, losses and the agreement check, are still summed). */
typedef struct reducer {
    pthread_barrier_t barrier;
    void *arrays[RANKS];
    double *sum;
    int broken;
    int64_t grad_size;      /* the parameter count: a reduction of that many vf_real is the gradient's */
    double *first_grad;     /* [grad_size] rank 0's first gradient after the reduction (NULL: not yet) */
} reducer;

typedef struct rank_ctx {
    reducer *red;
    int rank;
} rank_ctx;

static vf_status reduce(void *ctx, void *values, int64_t n, int is_double)
{
    rank_ctx *rc = ctx;
    reducer *red = rc->red;
    if (red->broken && !is_double) {
        if (rc->rank == 0 && !is_double && n == red->grad_size && !red->first_grad) {
            red->first_grad = malloc((size_t)n * sizeof *red->first_grad);
            for (int64_t k = 0; k < n; k++) red->first_grad[k] = (double)((vf_real *)values)[k];
        }
        return VF_OK;
    }
    red->arrays[rc->rank] = values;
    pthread_barrier_wait(&red->barrier);
    if (rc->rank == 0) {
        free(red->sum);
        red->sum = calloc((size_t)(n > 0 ? n : 1), sizeof *red->sum);
        for (int r = 0; r < RANKS; r++)
            for (int64_t k = 0; k < n; k++)
                red->sum[k] += is_double ? ((double *)red->arrays[r])[k] : (double)((vf_real *)red->arrays[r])[k];
    }
    pthread_barrier_wait(&red->barrier);
    for (int64_t k = 0; k < n; k++) {
        if (is_double) ((double *)values)[k] = red->sum[k];
        else ((vf_real *)values)[k] = (vf_real)red->sum[k];
    }
    if (rc->rank == 0 && !is_double && n == red->grad_size && !red->first_grad) {
        red->first_grad = malloc((size_t)n * sizeof *red->first_grad);
        for (int64_t k = 0; k < n; k++) red->first_grad[k] = (double)((vf_real *)values)[k];
    }
    pthread_barrier_wait(&red->barrier); /* nobody frees sum while another still reads it */
    return VF_OK;
}

/* What every process's job starts with: its options and its place in the reduction. */
typedef struct rank_job {
    vf_fit_options o;
    rank_ctx rc;
} rank_job;

/* Runs fn on jobs[0..ranks) (each job_size bytes, a rank_job first, the rest already filled): on the
 * calling thread for one process, else one thread each, with o's rank, ranks, reduce set. */
static reducer *run_ranks(int ranks, const vf_fit_options *o, void *jobs, size_t job_size, void *(*fn)(void *),
                          reducer *red)
{
    pthread_barrier_init(&red->barrier, NULL, RANKS);
    pthread_t th[RANKS];
    for (int r = 0; r < ranks; r++) {
        rank_job *j = (rank_job *)((char *)jobs + (size_t)r * job_size);
        j->o = *o;
        j->o.rank = r;
        j->o.ranks = ranks;
        j->o.reduce = reduce;
        j->o.reduce_ctx = &j->rc;
        j->rc.red = red;
        j->rc.rank = r;
        if (ranks == 1) fn(j);
        else pthread_create(&th[r], NULL, fn, j);
    }
    for (int r = 0; ranks > 1 && r < ranks; r++) pthread_join(th[r], NULL);
    pthread_barrier_destroy(&red->barrier);
    free(red->sum);
    red->sum = NULL;
    return red;
}

typedef struct fit_job {
    rank_job head;
    const char *spec;
    const vf_tensor *train, *valid;
    vf_params *p;           /* out: the trained parameters */
    vf_fit_result r;
    vf_status s;
} fit_job;

static void *run_fit(void *arg)
{
    fit_job *j = arg;
    vf_flow *f = NULL;
    j->p = vf_params_new();
    j->s = vf_flow_from_spec(j->spec, 2, 0, j->p, &f);
    if (j->s == VF_OK) j->s = vf_params_finalize(j->p, 7);
    if (j->s == VF_OK)
        j->s = vf_fit_flow(f, j->p, j->train->data, NULL, j->train->shape[0], j->valid->data, NULL,
                           j->valid->shape[0], 2, 0, &j->head.o, NULL, &j->r);
    vf_flow_free(f);
    return NULL;
}

/* Fits spec on `ranks` threads (1: no reduce) with options o; jobs[0..ranks) receive the results and
 * *first_grad (when not NULL; the caller frees it) rank 0's first summed gradient [grad_size]. */
static void fit(const char *spec, int ranks, const vf_fit_options *o, const vf_tensor *train,
                const vf_tensor *valid, int broken, int64_t grad_size, fit_job *jobs, double **first_grad)
{
    reducer red;
    memset(&red, 0, sizeof red);
    red.broken = broken;
    red.grad_size = grad_size;
    for (int r = 0; r < ranks; r++) {
        memset(&jobs[r], 0, sizeof jobs[r]);
        jobs[r].spec = spec;
        jobs[r].train = train;
        jobs[r].valid = valid;
    }
    run_ranks(ranks, o, jobs, sizeof *jobs, run_fit, &red);
    if (first_grad) *first_grad = red.first_grad;
    else free(red.first_grad);
}

static void free_jobs(fit_job *jobs, int ranks)
{
    for (int r = 0; r < ranks; r++) vf_params_free(jobs[r].p);
}

/* 1 when every process holds rank 0's parameters and buffers, bit for bit */
static int same_everywhere(const fit_job *jobs)
{
    int64_t n = vf_params_size(jobs[0].p), nb = vf_params_buffer_size(jobs[0].p);
    for (int r = 1; r < RANKS; r++)
        if (memcmp(vf_params_values(jobs[r].p), vf_params_values(jobs[0].p), (size_t)n * sizeof(vf_real)) ||
            memcmp(vf_params_buffers(jobs[r].p), vf_params_buffers(jobs[0].p), (size_t)nb * sizeof(vf_real)))
            return 0;
    return 1;
}

/* The one-process gradient of the mean NLL of all rows of x [n, 2] under spec at its initial
 * parameters (finalize seed 7), into g [vf_params_size]; returns the parameter count. */
static int64_t full_gradient(const char *spec, const vf_tensor *x, double **g)
{
    vf_params *p = vf_params_new();
    vf_flow *f = NULL;
    vf_tape *t = vf_tape_new();
    CHECK_STATUS(vf_flow_from_spec(spec, 2, 0, p, &f), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 7), VF_OK);
    vf_params_zero_grad(p);
    vf_params_set_training(p, 1);
    vf_var lp = vf_flow_log_prob(f, p, t, vf_input(t, x->data, 2, (int64_t[]){x->shape[0], 2}), VF_NOVAR);
    vf_var loss = vf_neg(t, vf_mean(t, lp, VF_ALL_AXES, 0));
    vf_params_set_training(p, 0);
    CHECK_STATUS(vf_backward(t, loss), VF_OK);
    int64_t n = vf_params_size(p);
    *g = malloc((size_t)n * sizeof **g);
    for (int64_t k = 0; k < n; k++) (*g)[k] = (double)vf_params_grads(p)[k];
    vf_tape_free(t);
    vf_flow_free(f);
    vf_params_free(p);
    return n;
}

/* max_k |a_k - b_k| / max_k |b_k| */
static double relative_gap(const double *a, const double *b, int64_t n)
{
    double gap = 0, scale = 0;
    for (int64_t k = 0; k < n; k++) {
        gap = fmax(gap, fabs(a[k] - b[k]));
        scale = fmax(scale, fabs(b[k]));
    }
    return gap / scale;
}

static vf_tensor train, valid;

static void test_summed_gradient(void)
{
    double *g1 = NULL, *g = NULL, *g_broken = NULL;
    int64_t n = full_gradient(PLAIN, &train, &g1);
    vf_fit_options o = vf_fit_default_options();
    o.steps = 1;
    o.batch = train.shape[0]; /* one batch of every row: shares of 333, 333 and 334 */
    o.patience = 0;
    o.seed = 5;
    fit_job many[RANKS];
    fit(PLAIN, RANKS, &o, &train, &valid, 0, n, many, &g);
    CHECK_STATUS(many[0].s, VF_OK);
    CHECK(g != NULL && relative_gap(g, g1, n) < 1e-5);
    if (g) printf("summed gradient against one process's: %.2g (relative, max)\n", relative_gap(g, g1, n));
    free_jobs(many, RANKS);
    fit(PLAIN, RANKS, &o, &train, &valid, 1, n, many, &g_broken); /* each its own share's gradient */
    CHECK(g_broken != NULL && relative_gap(g_broken, g1, n) > 0.1);
    free_jobs(many, RANKS);
    free(g1);
    free(g);
    free(g_broken);
}

static void test_same_losses(void)
{
    vf_fit_options o = vf_fit_default_options();
    o.epochs = 2;
    o.batch = 100; /* shares of 33, 33 and 34 rows */
    o.lr = 0;      /* the parameters stay: the losses are those of the same rows */
    o.patience = 0;
    o.seed = 5;
    fit_job one[1], many[RANKS];
    fit(PLAIN, 1, &o, &train, &valid, 0, 0, one, NULL);
    fit(PLAIN, RANKS, &o, &train, &valid, 0, 0, many, NULL);
    CHECK_STATUS(one[0].s, VF_OK);
    for (int r = 0; r < RANKS; r++) CHECK_STATUS(many[r].s, VF_OK);
    CHECK(same_everywhere(many));
    CHECK_MSG(fabs(many[0].r.train_nll - one[0].r.train_nll) < 1e-6 * fabs(one[0].r.train_nll) &&
                  fabs(many[0].r.valid_nll - one[0].r.valid_nll) < 1e-6 * fabs(one[0].r.valid_nll),
              "NLLs %.9g %.9g against one process's %.9g %.9g", many[0].r.train_nll, many[0].r.valid_nll,
              one[0].r.train_nll, one[0].r.valid_nll);
    free_jobs(one, 1);
    free_jobs(many, RANKS);
}

static void test_training_run(void)
{
    vf_fit_options o = vf_fit_default_options();
    o.epochs = 5;
    o.batch = 100;
    o.lr = 3e-3;
    o.patience = 0;
    o.seed = 5;
    fit_job one[1], many[RANKS];
    for (int bn = 0; bn < 2; bn++) {
        const char *spec = bn ? WITH_BN : PLAIN;
        fit(spec, 1, &o, &train, &valid, 0, 0, one, NULL);
        fit(spec, RANKS, &o, &train, &valid, 0, 0, many, NULL);
        CHECK_STATUS(many[0].s, VF_OK);
        CHECK_MSG(same_everywhere(many), "%s: the processes' parameters differ", spec);
        CHECK_MSG(fabs(many[0].r.valid_nll - one[0].r.valid_nll) < 0.05, "%s: valid NLL %.4f against one "
                  "process's %.4f", spec, many[0].r.valid_nll, one[0].r.valid_nll);
        free_jobs(one, 1);
        free_jobs(many, RANKS);
    }
}

static void test_one_process_fails(void)
{
    vf_tensor bad;
    CHECK_STATUS(vf_tensor_alloc(&bad, 2, valid.shape), VF_OK);
    memcpy(bad.data, valid.data, (size_t)(2 * valid.shape[0]) * sizeof *bad.data);
    bad.data[2 * (valid.shape[0] - 1)] = NAN; /* the last row: the last process's share only */
    vf_fit_options o = vf_fit_default_options();
    o.epochs = 1;
    o.batch = 100;
    fit_job many[RANKS];
    fit(PLAIN, RANKS, &o, &train, &bad, 0, 0, many, NULL);
    for (int r = 0; r < RANKS; r++) {
        CHECK_STATUS(many[r].s, VF_ERR_NUMERIC);
        CHECK_MSG(strstr(many[r].r.error, "validation NLL") != NULL, "rank %d: %s", r, many[r].r.error);
    }
    free_jobs(many, RANKS);
    vf_tensor_free(&bad);
}

/* A process with other training rows (fewer of them): every process refuses the fit up front
 * instead of summing unrelated gradients or waiting forever in a loop of another length. */
static void test_different_calls(void)
{
    vf_tensor fewer = train;
    fewer.shape[0] = train.shape[0] - 1;
    vf_fit_options o = vf_fit_default_options();
    o.epochs = 1;
    o.batch = 100;
    fit_job many[RANKS];
    reducer red;
    memset(&red, 0, sizeof red);
    for (int r = 0; r < RANKS; r++) {
        memset(&many[r], 0, sizeof many[r]);
        many[r].spec = PLAIN;
        many[r].train = r == 1 ? &fewer : &train;
        many[r].valid = &valid;
    }
    run_ranks(RANKS, &o, many, sizeof *many, run_fit, &red);
    for (int r = 0; r < RANKS; r++) {
        CHECK_STATUS(many[r].s, VF_ERR_ARG);
        CHECK_MSG(strstr(many[r].r.error, "do not hold the same data") != NULL, "rank %d: %s", r, many[r].r.error);
    }
    free_jobs(many, RANKS);
}

/* Batch normalization on K processes needs 2 rows in every share: batches of 2K or more, and a last
 * batch of fewer joins the one before it. */
static void test_batch_norm_shares(void)
{
    vf_fit_options o = vf_fit_default_options();
    o.epochs = 1;
    o.batch = 2 * RANKS - 1;
    fit_job many[RANKS];
    fit(WITH_BN, RANKS, &o, &train, &valid, 0, 0, many, NULL);
    CHECK_STATUS(many[0].s, VF_ERR_ARG);
    CHECK(strstr(many[0].r.error, "needs batches of at least 6 rows") != NULL);
    free_jobs(many, RANKS);
    o.batch = 332; /* 999 rows: batches of 332, 332 and 335 (the 3 left over join the last) */
    fit(WITH_BN, RANKS, &o, &train, &valid, 0, 0, many, NULL);
    CHECK_STATUS(many[0].s, VF_OK);
    CHECK(many[0].r.steps == 3 && same_everywhere(many));
    free_jobs(many, RANKS);
}

static void test_bad_options(void)
{
    vf_fit_options o = vf_fit_default_options();
    o.ranks = 2;
    o.rank = 2;
    o.reduce = reduce;
    vf_params *p = vf_params_new();
    vf_flow *f = NULL;
    CHECK_STATUS(vf_flow_from_spec(PLAIN, 2, 0, p, &f), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 7), VF_OK);
    vf_fit_result r;
    CHECK_STATUS(vf_fit_flow(f, p, train.data, NULL, train.shape[0], NULL, NULL, 0, 2, 0, &o, NULL, &r), VF_ERR_ARG);
    CHECK(strstr(r.error, "0 <= rank < ranks") != NULL);
    o.rank = 0;
    o.reduce = NULL;
    CHECK_STATUS(vf_fit_flow(f, p, train.data, NULL, train.shape[0], NULL, NULL, 0, 2, 0, &o, NULL, &r), VF_ERR_ARG);
    vf_flow_free(f);
    vf_params_free(p);
}

/* ---- continuous flows ---------------------------------------------------------------------- */
typedef struct cnf_job {
    rank_job head;
    vf_cnf_model *m;
    vf_cnf_fit_result r;
    vf_status s;
} cnf_job;

static void *run_cnf(void *arg)
{
    cnf_job *j = arg;
    vf_cnf_spec spec;
    vf_meanflow_options mo;
    j->s = vf_cnf_spec_from_string("otcfm:hidden=16x2", 2, 0, &spec, &mo);
    if (j->s == VF_OK) j->s = vf_cnf_model_new(&spec, 42, &j->m);
    if (j->s == VF_OK) {
        vf_cnf_fit_data data = {train.data, train.shape[0], NULL, valid.data, valid.shape[0], NULL, NULL, 0, NULL,
                                NULL, 0, NULL};
        j->s = vf_cnf_fit(j->m, &data, &j->head.o, NULL, &j->r);
    }
    return NULL;
}

static void fit_cnf(int ranks, const vf_fit_options *o, cnf_job *jobs)
{
    reducer red;
    memset(&red, 0, sizeof red);
    memset(jobs, 0, (size_t)ranks * sizeof *jobs);
    run_ranks(ranks, o, jobs, sizeof *jobs, run_cnf, &red);
}

static void test_continuous_flow(void)
{
    vf_fit_options o = vf_fit_default_options();
    o.epochs = 2;
    o.batch = 100;
    o.lr = 0;
    o.patience = 0;
    o.seed = 5;
    cnf_job one[1], many[RANKS];
    fit_cnf(1, &o, one);
    fit_cnf(RANKS, &o, many);
    CHECK_STATUS(one[0].s, VF_OK);
    for (int r = 0; r < RANKS; r++) CHECK_STATUS(many[r].s, VF_OK);
    CHECK_MSG(fabs(many[0].r.train_loss - one[0].r.train_loss) < 1e-6 * fabs(one[0].r.train_loss) &&
                  fabs(many[0].r.valid_loss - one[0].r.valid_loss) < 1e-6 * fabs(one[0].r.valid_loss),
              "losses %.9g %.9g against one process's %.9g %.9g", many[0].r.train_loss, many[0].r.valid_loss,
              one[0].r.train_loss, one[0].r.valid_loss);
    for (int r = 0; r < RANKS; r++) vf_cnf_model_free(many[r].m);
    vf_cnf_model_free(one[0].m);
    o.lr = 3e-3;
    o.epochs = 4;
    fit_cnf(1, &o, one);
    fit_cnf(RANKS, &o, many);
    CHECK_STATUS(many[0].s, VF_OK);
    int64_t n = vf_params_size(many[0].m->params);
    for (int r = 1; r < RANKS; r++)
        CHECK(memcmp(vf_params_values(many[r].m->params), vf_params_values(many[0].m->params),
                     (size_t)n * sizeof(vf_real)) == 0);
    CHECK_MSG(fabs(many[0].r.valid_loss - one[0].r.valid_loss) < 0.05 * one[0].r.valid_loss,
              "valid loss %.4f against one process's %.4f", many[0].r.valid_loss, one[0].r.valid_loss);
    for (int r = 0; r < RANKS; r++) vf_cnf_model_free(many[r].m);
    vf_cnf_model_free(one[0].m);
}

int main(void)
{
    vf_set_num_threads(1);
    vf_rng rng;
    vf_rng_init(&rng, 3, 0);
    if (vf_toy_sample("moons", NULL, 999, &rng, &train) != VF_OK || vf_toy_sample("moons", NULL, 301, &rng, &valid))
        return 1;
    RUN(test_summed_gradient);
    RUN(test_same_losses);
    RUN(test_training_run);
    RUN(test_one_process_fails);
    RUN(test_different_calls);
    RUN(test_batch_norm_shares);
    RUN(test_bad_options);
    RUN(test_continuous_flow);
    vf_tensor_free(&train);
    vf_tensor_free(&valid);
    return vf_test_summary();
}
