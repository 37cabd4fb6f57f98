/* cmd_bench.c — `varflow bench [SUITE]`: benchmark suites printing one result per line
 * (JSON lines with --json: {"case":..., "value":..., "unit":..., plus the case's parameters}).
 *
 * Suite "engine" (issue: foundation):
 *   sgemm          single-precision GEMM 2048^3 through the active backend (OpenBLAS or built-in)
 *   sgemm_builtin  the same through the built-in kernel (when the active backend is OpenBLAS)
 *   mlp_step       one training step (forward, backward, Adam) of the MLP 3-256-256-256-2 (SiLU)
 *                  at batch 512: steps/s, its matrix-product GFLOP/s, and that rate over sgemm's.
 * Suite "flows" (issue: normalizing flows; bench_flows.c): NSF and MAF training, log-density, sampling.
 * Suite "cfm" (issue: continuous flows; bench_cfm.c): I-CFM training step and Euler sampling.
 * Suite "ot" (issue: optimal transport; bench_ot.c): exact OT, Sinkhorn, sliced W, energy distance.
 * Threads default to 1 here, whatever the machine has, so the numbers compare across machines.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bench_util.h"
#include "internal.h"
#include "mlp_regression.h"

typedef void (*sgemm_fn)(int, int, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *,
                         int64_t, float, float *, int64_t);

static void builtin_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                          const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    vf__gemm_builtin_f32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* Best of `reps` timed calls of C = A B at n^3 (after one warm-up call), in GFLOP/s. */
static int time_sgemm(sgemm_fn f, int64_t n, int reps, double *gflops)
{
    size_t nn = (size_t)(n * n);
    float *a = vf_malloc(nn * sizeof *a), *b = vf_malloc(nn * sizeof *b), *c = vf_malloc(nn * sizeof *c);
    if (!a || !b || !c) {
        vf_free(a); vf_free(b); vf_free(c);
        return -1;
    }
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)(vf_rng_uniform(&r) - 0.5);
        b[i] = (float)(vf_rng_uniform(&r) - 0.5);
    }
    double best = INFINITY;
    for (int i = 0; i <= reps; i++) {
        double t0 = bench_now();
        f(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = bench_now() - t0;
        if (i > 0 && dt < best) best = dt; /* call 0 warms caches and thread pools */
    }
    *gflops = 2.0 * (double)n * (double)n * (double)n / best * 1e-9;
    vf_free(a); vf_free(b); vf_free(c);
    return 0;
}

typedef struct mlp_bench {
    mlp_regression r;
    vf_real *x, *y;        /* N_BATCHES batches of inputs [batch, 3] and targets [batch, 2] */
    int64_t k;             /* steps taken */
    double loss;
} mlp_bench;

enum { MLP_N_BATCHES = 8 };

static int mlp_bench_step(void *ctx)
{
    mlp_bench *m = ctx;
    int64_t j = m->k++ % MLP_N_BATCHES, batch = m->r.batch;
    vf_status s = mlp_regression_step(&m->r, m->x + j * batch * MLP_REG_IN, m->y + j * batch * MLP_REG_OUT, &m->loss);
    return s == VF_OK && isfinite(m->loss) ? 0 : -1;
}

/* Training steps per second of the reference MLP (median over `rounds` rounds). */
static int time_mlp_step(int64_t batch, int rounds, double round_seconds, uint64_t seed, double *steps_per_s)
{
    mlp_bench m = {0};
    if (mlp_regression_init(&m.r, batch, seed) != VF_OK) return -1;
    m.x = vf_malloc((size_t)(MLP_N_BATCHES * batch * MLP_REG_IN) * sizeof *m.x);
    m.y = vf_malloc((size_t)(MLP_N_BATCHES * batch * MLP_REG_OUT) * sizeof *m.y);
    int rc = -1;
    if (m.x && m.y) {
        vf_rng rng;
        vf_rng_init(&rng, seed, 1);
        for (int i = 0; i < MLP_N_BATCHES; i++)
            mlp_regression_batch(&m.r, &rng, m.x + i * batch * MLP_REG_IN, m.y + i * batch * MLP_REG_OUT);
        /* warm-up: the tape's arena reaches its steady size */
        rc = bench_rate(mlp_bench_step, &m, 10, rounds, round_seconds, steps_per_s);
    }
    vf_free(m.x);
    vf_free(m.y);
    mlp_regression_free(&m.r);
    return rc;
}

const char *bench_backend_keys(char *buf, size_t size)
{
    const char *core = vf__gemm_blas_core();
    if (core)
        snprintf(buf, size, "\"backend\":\"%s\",\"blas_core\":\"%s\"", vf__gemm_backend(), core);
    else
        snprintf(buf, size, "\"backend\":\"%s\"", vf__gemm_backend());
    return buf;
}

int bench_sgemm(int quick, double *gflops)
{
    return time_sgemm(vf__sgemm, quick ? 256 : 2048, quick ? 2 : 5, gflops);
}

static int suite_engine(bench_out *o, int threads, int quick, uint64_t seed)
{
    const int64_t n = quick ? 256 : 2048, batch = 512;
    const char *real = VF_USE_DOUBLE ? "double" : "float";
    char extra[256];
    double sgemm = 0, builtin = 0, steps = 0;

    if (time_sgemm(vf__sgemm, n, quick ? 2 : 5, &sgemm)) return cli_runtime_error("bench", "sgemm: %s", vf_last_error());
    char backend[128];
    snprintf(extra, sizeof extra, "\"m\":%lld,\"n\":%lld,\"k\":%lld,\"threads\":%d,%s", (long long)n, (long long)n,
             (long long)n, threads, bench_backend_keys(backend, sizeof backend));
    bench_emit(o, "sgemm", sgemm, "GFLOP/s", extra);
    if (strcmp(vf__gemm_backend(), "builtin") != 0) {
        if (time_sgemm(builtin_sgemm, n, quick ? 2 : 5, &builtin))
            return cli_runtime_error("bench", "sgemm: %s", vf_last_error());
        snprintf(extra, sizeof extra, "\"m\":%lld,\"n\":%lld,\"k\":%lld,\"threads\":%d,\"backend\":\"builtin\"",
                 (long long)n, (long long)n, (long long)n, threads);
        bench_emit(o, "sgemm_builtin", builtin, "GFLOP/s", extra);
    }

    if (time_mlp_step(batch, quick ? 3 : 5, quick ? 0.05 : 0.6, seed, &steps))
        return cli_runtime_error("bench", "mlp_step: %s", vf_last_error());
    double flops = mlp_regression_flops(batch), gflops = steps * flops * 1e-9;
    snprintf(extra, sizeof extra,
             "\"batch\":%lld,\"layers\":\"3-256-256-256-2\",\"act\":\"silu\",\"optimizer\":\"adam\","
             "\"threads\":%d,\"real\":\"%s\",\"backend\":\"%s\"",
             (long long)batch, threads, real, vf__gemm_backend());
    bench_emit(o, "mlp_step", steps, "steps/s", extra);
    snprintf(extra, sizeof extra, "\"flops_per_step\":%.0f,\"threads\":%d,\"real\":\"%s\"", flops, threads, real);
    bench_emit(o, "mlp_step_gflops", gflops, "GFLOP/s", extra);
    snprintf(extra, sizeof extra, "\"sgemm_gflops\":%.6g,\"threads\":%d,\"real\":\"%s\"", sgemm, threads, real);
    bench_emit(o, "mlp_step_vs_sgemm", gflops / sgemm, "ratio", extra);
    return 0;
}

static void help(FILE *out)
{
    fputs("Usage: varflow bench [SUITE] [--json] [--threads T] [--quick] [--seed S]\n"
          "\n"
          "Runs a benchmark suite and prints one result per line (JSON lines with --json:\n"
          "\"case\", \"value\", \"unit\" and the case's parameters).\n"
          "\n"
          "Suites:\n"
          "  engine   (default) single-thread sgemm 2048^3 (active backend, and the built-in kernel when\n"
          "           OpenBLAS is active); training step of an MLP 3-256-256-256-2 (SiLU) at batch 512 with\n"
          "           MSE loss and Adam: steps/s, GFLOP/s (6 x batch x sum of in*out per step), and that\n"
          "           rate as a fraction of the sgemm rate measured in the same run.\n"
          "  flows    NSF (autoregressive, 8 bins) and MAF with zuko's benchmark architecture: d = 8,\n"
          "           5 transforms, MADE hidden 128x2, on N(0, I) data: training step at batch 512 with\n"
          "           Adam (steps/s), log-density of 10,000 rows and sampling of 10,000 rows (calls/s),\n"
          "           with the sgemm rate of the same run beside them (--quick: 1024 rows).\n"
          "  cfm      flow matching, d = 2: I-CFM training step of the vector field MLP 3-256-256-256-2\n"
          "           (SiLU, time as an input) at batch 512 with Adam (steps/s, GFLOP/s, fraction of sgemm),\n"
          "           and 100 Euler steps carrying 10,000 points through it (calls/s; --quick: 1024).\n"
          "  ot       optimal transport between 1000 and 1000 N(0, I) points in 2-D: exact OT, log-domain\n"
          "           Sinkhorn (eps 0.05), sliced W2 (50 directions) (calls/s), the sliced energy distance of\n"
          "           20,000 points (s); SB-CFM's coupling of a 512-row batch (Sinkhorn at eps 0.02, at most\n"
          "           1000 iterations, pairs drawn) from N(0, I) to sf2m-gaussians and from sf2m-8gaussians\n"
          "           to sf2m-moons7 (calls/s).\n"
          "  vi       variational inference on the u1 energy: one reverse-KL step (256 draws through a\n"
          "           coupling spline flow of 8 transforms, hidden 64x2, 8 bins; target gradient; backward;\n"
          "           Adam) and one path-gradient step (steps/s); bench/torch_vi.py is the PyTorch reference.\n"
          "\n"
          "Options:\n"
          "  --quick       small sizes and short timings (a smoke test, not a measurement)\n"
          "  (--threads defaults to 1 here, whatever the machine has)\n",
          out);
    cli_print_common_help(out);
}

static int run(int argc, char **argv)
{
    cli_common c = {0};
    int quick = 0;
    const char *suite = "engine";
    int have_suite = 0;
    for (int i = 1; i < argc; i++) {
        int k = cli_common_option("bench", argc, argv, &i, &c);
        if (k < 0) return 2;
        if (k > 0) continue;
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (cli_looks_like_option(argv[i])) {
            return cli_usage_error("bench", "unknown option '%s'", argv[i]);
        } else if (!have_suite) {
            suite = argv[i];
            have_suite = 1;
        } else {
            return cli_usage_error("bench", "unexpected argument '%s'", argv[i]);
        }
    }
    if (strcmp(suite, "engine") != 0 && strcmp(suite, "flows") != 0 && strcmp(suite, "cfm") != 0 &&
        strcmp(suite, "ot") != 0 && strcmp(suite, "vi") != 0)
        return cli_usage_error("bench", "unknown suite '%s' (suites: engine, flows, cfm, ot, vi)", suite);
    int threads = c.threads > 0 ? c.threads : 1;
    vf_set_num_threads(threads);
    bench_out o = {c.json, 0};
    uint64_t seed = c.have_seed ? c.seed : 1;
    if (strcmp(suite, "flows") == 0) return bench_suite_flows(&o, threads, quick, seed);
    if (strcmp(suite, "cfm") == 0) return bench_suite_cfm(&o, threads, quick, seed);
    if (strcmp(suite, "ot") == 0) return bench_suite_ot(&o, threads, quick, seed);
    if (strcmp(suite, "vi") == 0) return bench_suite_vi(&o, threads, quick, seed);
    return suite_engine(&o, threads, quick, seed);
}

const cli_command cli_cmd_bench = {"bench", "run benchmark suites (engine, flows, cfm, ot, vi)", run, help};
