/* eval_rows.c — flows on plain arrays, block by block (vf_eval.h). One driver runs every function:
 * it checks the arguments, puts the tape in inference mode, then for each block of rows resets the
 * tape, builds the block's graph and copies the results out. The blocks are independent and run on
 * the library's threads, one tape each (vf__tape_pool, src/ad/tape_pool.c); sampling first draws
 * every block's base points in block order on the calling thread, so the random stream, and with it
 * every result, is the same whatever the thread count. */
#include <math.h>
#include <string.h>
#include "flows/flow_internal.h"
#include "varflow/vf_eval.h"

typedef enum eval_kind { EVAL_LOG_PROB, EVAL_SAMPLE, EVAL_FORWARD, EVAL_INVERSE } eval_kind;

static const char *const eval_names[] = {"log_prob_rows", "sample_rows", "forward_rows", "inverse_rows"};

typedef struct eval_job {
    eval_kind kind;
    const vf_flow *f;
    vf_params *p;
    int64_t n, d, c;
    const vf_real *in;          /* [n, d], NULL for sampling */
    const vf_real *context;     /* [context_rows, c] or NULL */
    int64_t context_rows;
    vf_real *repeated;          /* [block, c]: the single context row repeated, or NULL */
    vf_rng *r;
    vf_real *out;               /* [n, d] (or [n] for log_prob) */
    vf_real *per_row;           /* [n] or NULL: ladj or the samples' log_prob */
} eval_job;

/* The block's context rows [b, c] on t, or VF_NOVAR for an unconditional flow. */
static vf_var block_context(const eval_job *j, vf_tape *t, int64_t start, int64_t b)
{
    if (j->c == 0) return VF_NOVAR;
    const vf_real *cd = j->repeated ? j->repeated : j->context + start * j->c;
    return vf_input(t, cd, 2, (int64_t[]){b, j->c});
}

/* Sampling's first pass: the base points of every block, in block order, into out (one thread: the
 * random stream is drawn in the order of a one-block-at-a-time evaluation). */
static vf_status draw_base_points(eval_job *j, vf_tape *t)
{
    for (int64_t start = 0; start < j->n; start += VF_EVAL_BLOCK_ROWS) {
        int64_t b = VF_MIN(VF_EVAL_BLOCK_ROWS, j->n - start);
        vf_tape_reset(t);
        vf_var z = vf_dist_sample(vf_flow_base(j->f), j->p, t, b, block_context(j, t, start, b), j->r);
        vf_status s = vf_tape_status(t);
        if (s != VF_OK) return vf__error(s, "%s: %s", eval_names[j->kind], vf_tape_error(t));
        memcpy(j->out + start * j->d, vf_value(t, z)->data, (size_t)(b * j->d) * sizeof(vf_real));
    }
    return VF_OK;
}

/* Rows [start, start + b) on tape t: returns VF_OK or the tape's status. Sampling reads the block's
 * base points from out and overwrites them with the samples. */
static vf_status eval_block(void *ctx_arg, vf_tape *t, int worker, int64_t start, int64_t b)
{
    (void)worker;
    eval_job *j = ctx_arg;
    vf_tape_reset(t);
    vf_var ctx = block_context(j, t, start, b);
    vf_var main_out = VF_NOVAR, row_out = VF_NOVAR;
    const vf_real *rows = j->kind == EVAL_SAMPLE ? j->out : j->in;
    vf_var in = vf_input(t, rows + start * j->d, 2, (int64_t[]){b, j->d});
    switch (j->kind) {
    case EVAL_LOG_PROB: main_out = vf_flow_log_prob(j->f, j->p, t, in, ctx); break;
    case EVAL_SAMPLE:
        main_out = vf__flow_sample_from_base(j->f, j->p, t, in, ctx, j->per_row ? &row_out : NULL);
        break;
    case EVAL_FORWARD: main_out = vf_flow_forward(j->f, j->p, t, in, ctx, &row_out); break;
    case EVAL_INVERSE: main_out = vf_flow_inverse(j->f, j->p, t, in, ctx, &row_out); break;
    }
    vf_status s = vf_tape_status(t);
    if (s != VF_OK) return vf__error(s, "%s: %s", eval_names[j->kind], vf_tape_error(t));
    int64_t width = j->kind == EVAL_LOG_PROB ? 1 : j->d;
    /* memmove: a sample of a flow without transforms is its base point, read from out itself */
    memmove(j->out + start * width, vf_value(t, main_out)->data, (size_t)(b * width) * sizeof(vf_real));
    if (j->per_row && row_out != VF_NOVAR)
        memcpy(j->per_row + start, vf_value(t, row_out)->data, (size_t)b * sizeof(vf_real));
    return VF_OK;
}

/* A log-density may be -inf (a point outside the support, e.g. of a uniform base); NaN and +inf are
 * failures. Every other output must be finite. */
static int bad_log_density(double v) { return isnan(v) || v == INFINITY; }

/* First row (or -1) in [0, n) with a bad value in out or per_row. */
static int64_t first_bad_row(const eval_job *j)
{
    int64_t width = j->kind == EVAL_LOG_PROB ? 1 : j->d;
    for (int64_t i = 0; i < j->n; i++) {
        for (int64_t k = 0; k < width; k++) {
            double v = (double)j->out[i * width + k];
            if (j->kind == EVAL_LOG_PROB ? bad_log_density(v) : !isfinite(v)) return i;
        }
        if (j->per_row && (j->kind == EVAL_SAMPLE ? bad_log_density((double)j->per_row[i])
                                                  : !isfinite((double)j->per_row[i])))
            return i;
    }
    return -1;
}

static vf_status run(eval_job *j, vf_tape *t)
{
    const char *name = eval_names[j->kind];
    if (!j->f || !j->p || (j->kind != EVAL_SAMPLE && !j->in) || !j->out || (j->kind == EVAL_SAMPLE && !j->r))
        return vf__error(VF_ERR_ARG, "%s: NULL argument", name);
    if (j->n < 0) return vf__error(VF_ERR_ARG, "%s: n = %lld rows (need n >= 0)", name, (long long)j->n);
    j->d = vf_flow_dim(j->f);
    j->c = vf_flow_context_dim(j->f);
    if (j->c > 0 && (!j->context || (j->context_rows != 1 && j->context_rows != j->n)))
        return vf__error(VF_ERR_ARG, "%s: the flow is conditional (context dimension %lld): pass 1 or n = %lld context "
                         "rows (got %lld%s)", name, (long long)j->c, (long long)j->n, (long long)j->context_rows,
                         j->context ? "" : ", NULL");
    if (j->c == 0 && j->context)
        return vf__error(VF_ERR_ARG, "%s: the flow is unconditional but a context was given", name);
    if (j->n == 0) return VF_OK;
    if (j->c > 0 && j->context_rows == 1 && j->n > 1) {
        int64_t block = VF_MIN(j->n, VF_EVAL_BLOCK_ROWS);
        j->repeated = vf_malloc((size_t)(block * j->c) * sizeof *j->repeated);
        if (!j->repeated) return VF_ERR_NOMEM;
        for (int64_t i = 0; i < block; i++)
            memcpy(j->repeated + i * j->c, j->context, (size_t)j->c * sizeof *j->repeated);
    }
    /* inference mode with the parameters frozen: the ops keep no derivative state, and layers may
     * keep what they derive from the parameters across the blocks (restored for the caller's tape) */
    vf__tape_pool pool;
    vf_status s = vf__tape_pool_open(&pool, t, j->n, VF__POOL_INFERENCE);
    if (s == VF_OK && j->kind == EVAL_SAMPLE) s = draw_base_points(j, pool.tapes[0]);
    if (s == VF_OK) s = vf__tape_pool_run(&pool, j->n, eval_block, j);
    vf__tape_pool_close(&pool);
    vf_free(j->repeated);
    j->repeated = NULL;
    int64_t bad = s == VF_OK ? first_bad_row(j) : -1;
    if (bad >= 0) s = vf__error(VF_ERR_NUMERIC, "%s: row %lld gives a non-finite result", name, (long long)bad);
    return s;
}

vf_status vf_flow_log_prob_rows(const vf_flow *f, vf_params *p, vf_tape *t, int64_t n, const vf_real *x,
                                const vf_real *context, int64_t context_rows, vf_real *log_prob)
{
    eval_job j = {EVAL_LOG_PROB, f, p, n, 0, 0, x, context, context_rows, NULL, NULL, log_prob, NULL};
    return run(&j, t);
}

vf_status vf_flow_sample_rows(const vf_flow *f, vf_params *p, vf_tape *t, int64_t n, const vf_real *context,
                              int64_t context_rows, vf_rng *r, vf_real *x, vf_real *log_prob)
{
    eval_job j = {EVAL_SAMPLE, f, p, n, 0, 0, NULL, context, context_rows, NULL, r, x, log_prob};
    return run(&j, t);
}

vf_status vf_flow_forward_rows(const vf_flow *f, vf_params *p, vf_tape *t, int64_t n, const vf_real *x,
                               const vf_real *context, int64_t context_rows, vf_real *z, vf_real *ladj)
{
    eval_job j = {EVAL_FORWARD, f, p, n, 0, 0, x, context, context_rows, NULL, NULL, z, ladj};
    return run(&j, t);
}

vf_status vf_flow_inverse_rows(const vf_flow *f, vf_params *p, vf_tape *t, int64_t n, const vf_real *z,
                               const vf_real *context, int64_t context_rows, vf_real *x, vf_real *ladj)
{
    eval_job j = {EVAL_INVERSE, f, p, n, 0, 0, z, context, context_rows, NULL, NULL, x, ladj};
    return run(&j, t);
}
