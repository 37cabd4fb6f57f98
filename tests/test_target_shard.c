/* test_target_shard.c — vf_target_shard: a target's batches divided among processes, with threads
 * standing in for the processes and an in-memory sum. A VI fit (rkl with validation, fab) and MCMC
 * chains on three processes give the one-process results bit for bit, each process evaluating about a
 * third of the points, and scores keep their signed zeros; a share that fails stops every process with an error (the failing one's own
 * message, "another process" elsewhere), never a hang; processes that ask for different batches are
 * caught; one process alone is the target itself; bad arguments are refused. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "counted_gauss.h"
#include "vf_test.h"
#include "varflow.h"

#define RANKS 3
#define FLOW "realnvp:transforms=2,hidden=8x1"

/* The in-memory sum: each thread deposits its vector; rank 0 sums them in rank order; all copy out. */
typedef struct summer {
    pthread_barrier_t barrier;
    double *arrays[RANKS];
    double *sum;
} summer;

typedef struct rank_ctx {
    summer *s;
    int rank;
} rank_ctx;

static vf_status sum_fn(void *ctx, double *values, int64_t n)
{
    rank_ctx *rc = ctx;
    summer *s = rc->s;
    s->arrays[rc->rank] = values;
    pthread_barrier_wait(&s->barrier);
    if (rc->rank == 0) {
        free(s->sum);
        s->sum = calloc((size_t)(n > 0 ? n : 1), sizeof *s->sum);
        /* from the first array, not from +0.0 (which would turn a -0.0 sum into +0.0), as MPI does */
        for (int64_t k = 0; k < n; k++) s->sum[k] = s->arrays[0][k];
        for (int r = 1; r < RANKS; r++)
            for (int64_t k = 0; k < n; k++) s->sum[k] += s->arrays[r][k];
    }
    pthread_barrier_wait(&s->barrier);
    memcpy(values, s->sum, (size_t)n * sizeof *values);
    pthread_barrier_wait(&s->barrier);
    return VF_OK;
}

/* One process's job: a VI fit or MCMC chains on the shared target; results kept for the checks. */
typedef struct job {
    rank_ctx rc;
    int ranks, mcmc, scores, seed;
    vf_vi_objective objective;
    long fail_at;
    counted_gauss g;
    vf_status status;
    char error[512];
    vf_vi_summary sm;
    vf_real params[4096];
    int64_t n_params;
    vf_real draws[3 * 40 * 2];
    double logp[5], grad[10];
} job;

/* Points whose gradients include -0.0 (at the origin) and +0.0: the sums must keep both signs. */
static const vf_real score_points[10] = {0, 0, 1.5f, 2.5f, 0, 0, -1, 0.5f, 0.6f, 1};

static void *run_job(void *arg)
{
    job *j = arg;
    vf_target inner = counted_gauss_target(&j->g, 1), t;
    j->g.fail_at = j->fail_at;
    j->g.fail_message = "my share failed";
    j->status = vf_target_shard(&inner, j->rc.rank, j->ranks, sum_fn, &j->rc, &t);
    if (j->status != VF_OK) return NULL;
    if (j->scores) {
        j->status = vf_target_scores(&t, 5, score_points, j->logp, j->grad);
    } else if (j->mcmc) {
        vf_mcmc_params mp = vf_mcmc_default_params(VF_MCMC_MALA);
        mp.chains = 3, mp.warmup = 30, mp.seed = (uint64_t)j->seed;
        j->status = vf_mcmc_run(&t, NULL, NULL, &mp, 40, j->draws, NULL);
    } else {
        vf_vi_run_options o = vf_vi_run_default_options();
        o.vi.steps = 16, o.vi.batch = 40, o.vi.seed = (uint64_t)j->seed, o.vi.objective = j->objective;
        o.vi.patience = 3, o.vi.valid_every = 4, o.vi.valid_draws = 50;
        o.is_samples = 200;
        vf_fitted *m = NULL;
        j->status = vf_vi_run(&t, FLOW, &o, &m, &j->sm);
        if (m) {
            vf_params *p = vf_fitted_params(m);
            j->n_params = vf_params_size(p);
            memcpy(j->params, vf_params_values(p), sizeof(vf_real) * (size_t)j->n_params);
        }
        vf_fitted_free(m);
    }
    snprintf(j->error, sizeof j->error, "%s", j->status == VF_OK ? "" : vf_last_error());
    vf_target_free(&t);
    return NULL;
}

/* Runs `ranks` jobs (one thread each; the caller's thread for one) made from proto, each changed by
 * tweak (when not NULL) for its rank. */
static void run(int ranks, const job *proto, void (*tweak)(job *, int), job *jobs)
{
    static summer s;
    pthread_barrier_init(&s.barrier, NULL, (unsigned)ranks);
    pthread_t th[RANKS];
    for (int r = 0; r < ranks; r++) {
        jobs[r] = *proto;
        jobs[r].ranks = ranks;
        jobs[r].rc = (rank_ctx){&s, r};
        if (tweak) tweak(&jobs[r], r);
    }
    if (ranks == 1) run_job(&jobs[0]);
    else {
        for (int r = 0; r < ranks; r++) pthread_create(&th[r], NULL, run_job, &jobs[r]);
        for (int r = 0; r < ranks; r++) pthread_join(th[r], NULL);
    }
    pthread_barrier_destroy(&s.barrier);
    free(s.sum);
    s.sum = NULL;
}

static void test_vi_same_bits(void)
{
    static job one[1], three[RANKS];
    vf_vi_objective objs[2] = {VF_VI_RKL, VF_VI_FAB};
    for (int k = 0; k < 2; k++) {
        job proto;
        memset(&proto, 0, sizeof proto);
        proto.seed = 3, proto.objective = objs[k];
        run(1, &proto, NULL, one);
        run(RANKS, &proto, NULL, three);
        CHECK_STATUS(one[0].status, VF_OK);
        long total = 0;
        for (int r = 0; r < RANKS; r++) {
            CHECK_MSG(three[r].status == VF_OK, "%s, process %d: %s", vf_vi_objective_name(objs[k]), r, three[r].error);
            CHECK_MSG(three[r].n_params == one[0].n_params &&
                          memcmp(three[r].params, one[0].params, sizeof(vf_real) * (size_t)one[0].n_params) == 0,
                      "%s: process %d's flow is not the one-process flow", vf_vi_objective_name(objs[k]), r);
            CHECK(three[r].sm.log_z == one[0].sm.log_z && three[r].sm.elbo == one[0].sm.elbo &&
                  three[r].sm.best_step == one[0].sm.best_step && three[r].sm.valid_loss == one[0].sm.valid_loss);
            total += three[r].g.rows;
        }
        /* the three shares are the one process's points, each about a third of them */
        CHECK_MSG(total == one[0].g.rows, "%s: %ld points on three processes, %ld on one",
                  vf_vi_objective_name(objs[k]), total, one[0].g.rows);
        for (int r = 0; r < RANKS; r++)
            CHECK_MSG(labs(3 * three[r].g.rows - one[0].g.rows) < one[0].g.rows / 20,
                      "process %d evaluated %ld of %ld points", r, three[r].g.rows, one[0].g.rows);
    }
}

static void test_mcmc_same_bits(void)
{
    static job one[1], three[RANKS];
    job proto;
    memset(&proto, 0, sizeof proto);
    proto.seed = 8, proto.mcmc = 1;
    run(1, &proto, NULL, one);
    run(RANKS, &proto, NULL, three);
    CHECK_STATUS(one[0].status, VF_OK);
    for (int r = 0; r < RANKS; r++) {
        CHECK_MSG(three[r].status == VF_OK, "process %d: %s", r, three[r].error);
        CHECK_MSG(memcmp(three[r].draws, one[0].draws, sizeof one[0].draws) == 0, "process %d's chains differ", r);
        CHECK(three[r].g.rows * 3 == one[0].g.rows); /* three chains: one point each per evaluation */
    }
}

static void test_signed_zeros(void)
{
    static job three[RANKS];
    job proto;
    memset(&proto, 0, sizeof proto);
    proto.scores = 1;
    run(RANKS, &proto, NULL, three);
    counted_gauss g;
    vf_target inner = counted_gauss_target(&g, 1);
    double lp[5], gr[10];
    CHECK_STATUS(vf_target_scores(&inner, 5, score_points, lp, gr), VF_OK);
    CHECK(signbit(gr[0]) && signbit(gr[1])); /* the test's premise: -0.0 at the origin */
    for (int r = 0; r < RANKS; r++) {
        CHECK_STATUS(three[r].status, VF_OK);
        CHECK_MSG(memcmp(three[r].logp, lp, sizeof lp) == 0 && memcmp(three[r].grad, gr, sizeof gr) == 0,
                  "process %d: the shared scores are not the target's bit for bit", r);
    }
}

static void fail_on_process_1(job *j, int rank) { j->fail_at = rank == 1 ? 5 : 0; }
static void other_seed_on_process_2(job *j, int rank) { j->seed = rank == 2 ? 4 : 3; }

static void test_failures(void)
{
    static job three[RANKS];
    job proto;
    memset(&proto, 0, sizeof proto);
    proto.seed = 3, proto.objective = VF_VI_RKL;
    /* process 1's share fails at its fifth batch: every process stops with an error */
    run(RANKS, &proto, fail_on_process_1, three);
    for (int r = 0; r < RANKS; r++)
        CHECK_MSG(three[r].status != VF_OK &&
                      strstr(three[r].error, r == 1 ? "my share failed" : "another process's share") != NULL,
                  "process %d: %s", r, three[r].error);
    /* a process with another seed asks for other points: caught on every process */
    run(RANKS, &proto, other_seed_on_process_2, three);
    for (int r = 0; r < RANKS; r++)
        CHECK_MSG(three[r].status != VF_OK && strstr(three[r].error, "different batches"), "process %d: %s", r,
                  three[r].error);
}

static void test_arguments(void)
{
    counted_gauss g;
    vf_target inner = counted_gauss_target(&g, 1), t;
    CHECK_STATUS(vf_target_shard(&inner, 3, 3, sum_fn, NULL, &t), VF_ERR_ARG);
    CHECK_STATUS(vf_target_shard(&inner, 0, 2, NULL, NULL, &t), VF_ERR_ARG);
    CHECK_STATUS(vf_target_shard(NULL, 0, 1, NULL, NULL, &t), VF_ERR_ARG);
    /* one process: the target's own values, through the batch path; exact draws stay inner's (none) */
    CHECK_STATUS(vf_target_shard(&inner, 0, 1, NULL, NULL, &t), VF_OK);
    vf_real x[4] = {0.5f, -1, 2, 0.25f};
    double a[2], b[2], ga[4], gb[4];
    CHECK_STATUS(vf_target_scores(&inner, 2, x, a, ga), VF_OK);
    CHECK_STATUS(vf_target_scores(&t, 2, x, b, gb), VF_OK);
    CHECK(memcmp(a, b, sizeof a) == 0 && memcmp(ga, gb, sizeof ga) == 0 && t.sample == NULL && t.dim == 2);
    vf_target_free(&t);
    vf_target funnel, sf;
    CHECK_STATUS(vf_target_from_spec("funnel:d=3", &funnel), VF_OK);
    CHECK_STATUS(vf_target_shard(&funnel, 0, 1, NULL, NULL, &sf), VF_OK);
    CHECK(sf.sample != NULL && sf.has_log_z && strcmp(sf.name, "funnel") == 0);
    vf_real d1[6], d2[6];
    vf_rng r1, r2;
    vf_rng_init(&r1, 1, 0);
    r2 = r1;
    CHECK_STATUS(vf_target_sample(&funnel, 2, &r1, d1), VF_OK);
    CHECK_STATUS(vf_target_sample(&sf, 2, &r2, d2), VF_OK);
    CHECK(memcmp(d1, d2, sizeof d1) == 0);
    vf_target_free(&sf);
    vf_target_free(&funnel);
}

int main(void)
{
    vf_set_num_threads(1);
    RUN(test_vi_same_bits);
    RUN(test_mcmc_same_bits);
    RUN(test_signed_zeros);
    RUN(test_failures);
    RUN(test_arguments);
    return vf_test_summary();
}
