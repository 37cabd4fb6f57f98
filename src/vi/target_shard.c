/* target_shard.c — vf_target_shard: one target's batches divided among processes (vf_target.h).
 *
 * A batch of n rows on `ranks` processes: process r evaluates rows [n r / ranks, n (r + 1) / ranks).
 * Two sums over the processes follow. The head, [failed | point hashes [ranks]], tells every process
 * whether any process's share failed (a target error, out of memory) and lets each compare the
 * points the others were given with its own (each puts a hash of them in its own slot). Only when all
 * went well, the body, [logp [n] | grad [n, dim] when asked], each process's share written into
 * -0.0 elsewhere, is summed: every row's values on every process, exactly what one process would
 * have computed (x + -0.0 = x, bit for bit). The head is allocated with the target, so a process that
 * cannot get memory for a batch's body still reports its failure. A process that fails before it
 * asks for a batch (out of memory elsewhere, an error of its own) never joins that batch's sums: the
 * others wait in them, so such a failure must end the whole job (the CLI's MPI_Abort). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vi/vi_internal.h"

typedef struct shard_state {
    const vf_target *inner;
    int rank, ranks;
    vf_target_sum_fn sum;
    void *ctx;
    double *head;       /* [1 + ranks] */
    double *body;       /* grown as batches grow */
    int64_t cap;
} shard_state;

static double shard_log_prob(void *state, const double *x, double *grad)
{
    const shard_state *s = state;
    return s->inner->log_prob(s->inner->state, x, grad);
}

static void shard_sample(void *state, vf_rng *r, double *x)
{
    const shard_state *s = state;
    s->inner->sample(s->inner->state, r, x);
}

static void shard_constrain(void *state, const double *x, double *out)
{
    const shard_state *s = state;
    s->inner->constrain(s->inner->state, x, out);
}

static void shard_free(void *state)
{
    shard_state *s = state;
    vf_free(s->head);
    vf_free(s->body);
    vf_free(s);
}

/* The sum over the processes (nothing to do for one), with the target named in its error. */
static int sum_over(shard_state *s, double *v, int64_t n)
{
    if (s->ranks == 1) return 0;
    vf_status st = s->sum(s->ctx, v, n);
    if (st == VF_OK) return 0;
    vf__error(st, "target %s: summing a batch over %d processes: %s", s->inner->name, s->ranks, vf_last_error());
    return 1;
}

/* Return codes (the message is in vf_last_error()): 1 a share failed, 2 a sum failed, 3 the points differ. */
static int shard_batch(void *state, int64_t n, const double *x, double *logp, double *grad)
{
    shard_state *s = state;
    int64_t d = s->inner->dim, len = n * (grad ? 1 + d : 1);
    int64_t lo = n * s->rank / s->ranks, hi = n * (s->rank + 1) / s->ranks;
    vf_status st = VF_OK;
    char mine[512] = "";
    if (len > s->cap) {
        double *b = vf_malloc((size_t)len * sizeof *b);
        if (b) {
            vf_free(s->body);
            s->body = b;
            s->cap = len;
        } else {
            st = vf__error(VF_ERR_NOMEM, "target %s: out of memory for a batch of %lld rows", s->inner->name,
                           (long long)n);
        }
    }
    double *lp = st == VF_OK ? s->body : NULL, *g = lp && grad ? lp + n : NULL;
    if (st == VF_OK) {
        /* -0.0, not +0.0, elsewhere: x + (-0.0) = x for every x, -0.0 included */
        for (int64_t i = 0; i < len; i++) s->body[i] = -0.0;
        st = vf__target_eval(s->inner, hi - lo, x + lo * d, lp + lo, g ? g + lo * d : NULL, 0);
    }
    if (st != VF_OK) snprintf(mine, sizeof mine, "%s", vf_last_error());
    memset(s->head, 0, (size_t)(1 + s->ranks) * sizeof *s->head);
    s->head[0] = st != VF_OK;
    /* 32 bits of a hash of the request (rows, width, gradient or not) and its points: exact in a double */
    int64_t shape[3] = {n, d, grad != NULL};
    uint64_t h = vf__hash_bytes(VF__HASH_START, shape, sizeof shape);
    double own = (double)(vf__hash_bytes(h, x, (size_t)(n * d) * sizeof *x) & 0xffffffffu);
    s->head[1 + s->rank] = own;
    if (sum_over(s, s->head, 1 + s->ranks)) return 2;
    for (int r = 0; r < s->ranks; r++)
        if (s->head[1 + r] != own) {
            vf__error(VF_ERR_STATE, "target %s: the processes asked for different batches (process %d of %d is not "
                      "process %d's computation): every process must run the same one", s->inner->name, r, s->ranks,
                      s->rank);
            return 3;
        }
    if (s->head[0] != 0) {
        if (mine[0]) vf__error(st, "%s", mine);
        else vf__error(VF_ERR_NUMERIC, "target %s: another process's share of the batch failed", s->inner->name);
        return 1;
    }
    if (sum_over(s, s->body, len)) return 2;
    memcpy(logp, lp, (size_t)n * sizeof *logp);
    if (grad) memcpy(grad, g, (size_t)(n * d) * sizeof *grad);
    return 0;
}

vf_status vf_target_shard(const vf_target *inner, int rank, int ranks, vf_target_sum_fn sum, void *ctx,
                          vf_target *out)
{
    if (out) memset(out, 0, sizeof *out);
    if (!inner || !out || !inner->log_prob || inner->dim < 1)
        return vf__error(VF_ERR_ARG, "target shard: NULL or empty target");
    if (ranks < 1 || rank < 0 || rank >= ranks || (ranks > 1 && !sum))
        return vf__error(VF_ERR_ARG, "target shard: process %d of %d (and a sum function for more than one)", rank,
                         ranks);
    shard_state *s = vf_malloc(sizeof *s);
    double *head = vf_malloc((size_t)(1 + ranks) * sizeof *head);
    if (!s || !head) {
        vf_free(s);
        vf_free(head);
        return vf__error(VF_ERR_NOMEM, "target shard: out of memory");
    }
    *s = (shard_state){inner, rank, ranks, sum, ctx, head, NULL, 0};
    *out = *inner;
    out->state = s;
    out->free = shard_free;
    out->log_prob = shard_log_prob;
    out->log_prob_batch = shard_batch;
    out->sample = inner->sample ? shard_sample : NULL;
    out->constrain = inner->constrain ? shard_constrain : NULL;
    return VF_OK;
}
