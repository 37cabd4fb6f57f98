/* bench_flows.c — `varflow bench flows`: the normalizing-flow workloads of zuko's benchmark
 * architecture (d = 8, 5 transforms, MADE hidden 128x2), for NSF (autoregressive rational-quadratic
 * splines, 8 bins) and MAF (affine):
 *   <flow>_train    one training step at batch 512: -mean log p(x) forward, backward, Adam   (steps/s)
 *   <flow>_logprob  log p(x) of 10,000 rows in one vf_flow_log_prob_rows call                 (calls/s)
 *   <flow>_sample   10,000 samples in one vf_flow_sample_rows call (the d-step direction of an
 *                   autoregressive flow)                                                      (calls/s)
 * The data are N(0, I) rows drawn from the seed; every rate is the median of several rounds. --quick
 * (a smoke test) uses 1024 rows per log-density and sampling call and short rounds.
 */
#include <math.h>
#include <string.h>
#include "bench_util.h"
#include "internal.h"

enum { FLOW_D = 8, FLOW_BATCH = 512, FLOW_ROWS = 10000, FLOW_QUICK_ROWS = 1024, FLOW_N_BATCHES = 8 };

typedef struct flow_bench {
    vf_params *p;
    vf_flow *f;
    vf_tape *t;
    vf_adam *opt;
    vf_real *x;            /* [FLOW_ROWS, FLOW_D]; training batches are its first FLOW_N_BATCHES blocks */
    vf_real *out;          /* [FLOW_ROWS, FLOW_D]: log-densities or samples */
    int64_t rows;          /* rows per log-density and sampling call: FLOW_ROWS (FLOW_QUICK_ROWS with --quick) */
    vf_rng rng;
    int64_t k;             /* training steps taken */
} flow_bench;

static void flow_bench_free(flow_bench *b)
{
    vf_adam_free(b->opt);
    vf_flow_free(b->f);
    vf_params_free(b->p);
    vf_tape_free(b->t);
    vf_free(b->x);
    vf_free(b->out);
    memset(b, 0, sizeof *b);
}

static vf_status flow_bench_init(flow_bench *b, const char *spec, uint64_t seed, int64_t rows)
{
    memset(b, 0, sizeof *b);
    b->rows = rows;
    vf_adam_params ap = vf_adam_default_params();
    vf_status s = VF_ERR_NOMEM;
    b->p = vf_params_new();
    b->t = vf_tape_new();
    b->x = vf_malloc((size_t)FLOW_ROWS * FLOW_D * sizeof *b->x);
    b->out = vf_malloc((size_t)FLOW_ROWS * FLOW_D * sizeof *b->out);
    if (!b->p || !b->t || !b->x || !b->out) goto fail;
    if ((s = vf_flow_from_spec(spec, FLOW_D, 0, b->p, &b->f)) != VF_OK) goto fail;
    if ((s = vf_params_finalize(b->p, seed)) != VF_OK) goto fail;
    if ((s = vf_adam_new(vf_params_size(b->p), &ap, &b->opt)) != VF_OK) goto fail;
    vf_rng_init(&b->rng, seed, 7);
    vf_rng_normal_fill(&b->rng, b->x, (size_t)FLOW_ROWS * FLOW_D, 0.0, 1.0);
    return VF_OK;
fail:
    flow_bench_free(b);
    return s;
}

static int train_step(void *ctx)
{
    flow_bench *b = ctx;
    vf_tape *t = b->t;
    const vf_real *x = b->x + (b->k++ % FLOW_N_BATCHES) * FLOW_BATCH * FLOW_D;
    vf_params_zero_grad(b->p);
    vf_tape_reset(t);
    vf_var lp = vf_flow_log_prob(b->f, b->p, t, vf_input(t, x, 2, (int64_t[]){FLOW_BATCH, FLOW_D}), VF_NOVAR);
    vf_var loss = vf_neg(t, vf_mean(t, lp, VF_ALL_AXES, 0));
    if (vf_backward(t, loss) != VF_OK || !isfinite((double)vf_value(t, loss)->data[0])) return -1;
    return vf_adam_step(b->opt, vf_params_values(b->p), vf_params_grads(b->p)) == VF_OK ? 0 : -1;
}

/* The C API a user embeds a model with (vf_eval.h): blocks of rows on one reused tape. */
static int log_prob_call(void *ctx)
{
    flow_bench *b = ctx;
    return vf_flow_log_prob_rows(b->f, b->p, b->t, b->rows, b->x, NULL, 0, b->out) == VF_OK ? 0 : -1;
}

static int sample_call(void *ctx)
{
    flow_bench *b = ctx;
    return vf_flow_sample_rows(b->f, b->p, b->t, b->rows, NULL, 0, &b->rng, b->out, NULL) == VF_OK ? 0 : -1;
}

static int run_flow(bench_out *o, const char *name, const char *spec, int threads, int quick, uint64_t seed,
                    double sgemm)
{
    flow_bench b;
    vf_status s = flow_bench_init(&b, spec, seed, quick ? FLOW_QUICK_ROWS : FLOW_ROWS);
    if (s != VF_OK) return cli_runtime_error("bench", "%s: %s", name, vf_last_error());
    static const struct {
        const char *suffix, *unit;
        bench_call call;
        int64_t rows; /* 0: b.rows */
    } cases[] = {{"train", "steps/s", train_step, FLOW_BATCH},
                 {"logprob", "calls/s", log_prob_call, 0},
                 {"sample", "calls/s", sample_call, 0}};
    int rc = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && rc == 0; i++) {
        double rate;
        char case_name[64], extra[512];
        /* training warms up over several steps (the tape's arena reaches its steady size) */
        if (bench_rate(cases[i].call, &b, i == 0 ? 10 : 2, quick ? 3 : 5, quick ? 0.05 : 0.6, &rate) != 0) {
            rc = cli_runtime_error("bench", "%s_%s: %s", name, cases[i].suffix,
                                   vf_last_error()[0] ? vf_last_error() : "non-finite result");
            break;
        }
        snprintf(case_name, sizeof case_name, "%s_%s", name, cases[i].suffix);
        snprintf(extra, sizeof extra,
                 "\"spec\":\"%s\",\"d\":%d,\"rows\":%lld,\"threads\":%d,\"real\":\"%s\",\"backend\":\"%s\","
                 "\"sgemm_gflops\":%.6g",
                 spec, FLOW_D, (long long)(cases[i].rows ? cases[i].rows : b.rows), threads,
                 VF_USE_DOUBLE ? "double" : "float", vf__gemm_backend(), sgemm);
        bench_emit(o, case_name, rate, cases[i].unit, extra);
    }
    flow_bench_free(&b);
    return rc;
}

int bench_suite_flows(bench_out *o, int threads, int quick, uint64_t seed)
{
    double sgemm = 0;
    if (bench_sgemm(quick, &sgemm)) return cli_runtime_error("bench", "sgemm: %s", vf_last_error());
    char extra[256];
    char backend[128];
    snprintf(extra, sizeof extra, "\"threads\":%d,%s", threads, bench_backend_keys(backend, sizeof backend));
    bench_emit(o, "sgemm", sgemm, "GFLOP/s", extra);
    int rc = run_flow(o, "nsf", "nsf:transforms=5,hidden=128x2,bins=8", threads, quick, seed, sgemm);
    if (rc == 0) rc = run_flow(o, "maf", "maf:transforms=5,hidden=128x2", threads, quick, seed, sgemm);
    return rc;
}
