/* cmd_bench.c — `varflow bench [SUITE]`: benchmark suites printing one result per line
 * (JSON lines with --json: {"case":..., "value":..., "unit":..., plus the case's parameters}).
 *
 * Suite "engine" (issue: foundation):
 *   sgemm          single-precision GEMM 2048^3 through the active backend (OpenBLAS or built-in)
 *   sgemm_builtin  the same through the built-in kernel (when the active backend is OpenBLAS)
 *   mlp_step       one training step (forward, backward, Adam) of the MLP 3-256-256-256-2 (SiLU)
 *                  at batch 512: steps/s, its matrix-product GFLOP/s, and that rate over sgemm's.
 * Threads default to 1 here, whatever the machine has, so the numbers compare across machines.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "internal.h"
#include "mlp_regression.h"

typedef struct bench_out {
    int json;
    int n_results;
} bench_out;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One result: `extra` is a JSON fragment of further keys ("\"m\":2048,...") or "". */
static void emit(bench_out *o, const char *name, double value, const char *unit, const char *extra)
{
    if (o->json) {
        printf("{\"case\":\"%s\",\"value\":%.6g,\"unit\":\"%s\"%s%s}\n", name, value, unit, extra[0] ? "," : "",
               extra);
    } else {
        printf("%-16s %12.4g %-10s %s\n", name, value, unit, extra);
    }
    fflush(stdout);
    o->n_results++;
}

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
        double t0 = now_seconds();
        f(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = now_seconds() - t0;
        if (i > 0 && dt < best) best = dt; /* call 0 warms caches and thread pools */
    }
    *gflops = 2.0 * (double)n * (double)n * (double)n / best * 1e-9;
    vf_free(a); vf_free(b); vf_free(c);
    return 0;
}

/* Median over `rounds` rounds of at least `round_seconds` each, in steps/s. */
static int time_mlp_step(int64_t batch, int rounds, double round_seconds, uint64_t seed, double *steps_per_s)
{
    enum { N_BATCHES = 8 };
    mlp_regression r;
    if (mlp_regression_init(&r, batch, seed) != VF_OK) return -1;
    vf_real *x = vf_malloc((size_t)(N_BATCHES * batch * MLP_REG_IN) * sizeof *x);
    vf_real *y = vf_malloc((size_t)(N_BATCHES * batch * MLP_REG_OUT) * sizeof *y);
    double rates[16];
    int rc = -1;
    if (!x || !y || rounds > 16) goto done;
    vf_rng rng;
    vf_rng_init(&rng, seed, 1);
    for (int i = 0; i < N_BATCHES; i++)
        mlp_regression_batch(&r, &rng, x + i * batch * MLP_REG_IN, y + i * batch * MLP_REG_OUT);
    double loss;
    int64_t k = 0;
    for (; k < 10; k++) /* warm-up: the tape's arena reaches its steady size */
        if (mlp_regression_step(&r, x + (k % N_BATCHES) * batch * MLP_REG_IN,
                                y + (k % N_BATCHES) * batch * MLP_REG_OUT, &loss) != VF_OK)
            goto done;
    for (int round = 0; round < rounds; round++) {
        int64_t steps = 0;
        double t0 = now_seconds(), dt;
        do {
            int64_t j = k++ % N_BATCHES;
            if (mlp_regression_step(&r, x + j * batch * MLP_REG_IN, y + j * batch * MLP_REG_OUT, &loss) != VF_OK)
                goto done;
            steps++;
        } while ((dt = now_seconds() - t0) < round_seconds);
        rates[round] = (double)steps / dt;
    }
    for (int i = 1; i < rounds; i++) /* insertion sort for the median */
        for (int j = i; j > 0 && rates[j] < rates[j - 1]; j--) {
            double tmp = rates[j];
            rates[j] = rates[j - 1];
            rates[j - 1] = tmp;
        }
    *steps_per_s = rates[rounds / 2];
    rc = isfinite(loss) ? 0 : -1;
done:
    vf_free(x);
    vf_free(y);
    mlp_regression_free(&r);
    return rc;
}

static int suite_engine(bench_out *o, int threads, int quick, uint64_t seed)
{
    const int64_t n = quick ? 256 : 2048, batch = 512;
    const char *real = VF_USE_DOUBLE ? "double" : "float";
    char extra[256];
    double sgemm = 0, builtin = 0, steps = 0;

    if (time_sgemm(vf__sgemm, n, quick ? 2 : 5, &sgemm)) return cli_runtime_error("bench", "sgemm: %s", vf_last_error());
    snprintf(extra, sizeof extra, "\"m\":%lld,\"n\":%lld,\"k\":%lld,\"threads\":%d,\"backend\":\"%s\"", (long long)n,
             (long long)n, (long long)n, threads, vf__gemm_backend());
    emit(o, "sgemm", sgemm, "GFLOP/s", extra);
    if (strcmp(vf__gemm_backend(), "builtin") != 0) {
        if (time_sgemm(builtin_sgemm, n, quick ? 2 : 5, &builtin))
            return cli_runtime_error("bench", "sgemm: %s", vf_last_error());
        snprintf(extra, sizeof extra, "\"m\":%lld,\"n\":%lld,\"k\":%lld,\"threads\":%d,\"backend\":\"builtin\"",
                 (long long)n, (long long)n, (long long)n, threads);
        emit(o, "sgemm_builtin", builtin, "GFLOP/s", extra);
    }

    if (time_mlp_step(batch, quick ? 3 : 5, quick ? 0.05 : 0.6, seed, &steps))
        return cli_runtime_error("bench", "mlp_step: %s", vf_last_error());
    double flops = mlp_regression_flops(batch), gflops = steps * flops * 1e-9;
    snprintf(extra, sizeof extra,
             "\"batch\":%lld,\"layers\":\"3-256-256-256-2\",\"act\":\"silu\",\"optimizer\":\"adam\","
             "\"threads\":%d,\"real\":\"%s\",\"backend\":\"%s\"",
             (long long)batch, threads, real, vf__gemm_backend());
    emit(o, "mlp_step", steps, "steps/s", extra);
    snprintf(extra, sizeof extra, "\"flops_per_step\":%.0f,\"threads\":%d,\"real\":\"%s\"", flops, threads, real);
    emit(o, "mlp_step_gflops", gflops, "GFLOP/s", extra);
    snprintf(extra, sizeof extra, "\"sgemm_gflops\":%.6g,\"threads\":%d,\"real\":\"%s\"", sgemm, threads, real);
    emit(o, "mlp_step_vs_sgemm", gflops / sgemm, "ratio", extra);
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
    if (strcmp(suite, "engine") != 0) return cli_usage_error("bench", "unknown suite '%s' (suites: engine)", suite);
    int threads = c.threads > 0 ? c.threads : 1;
    vf_set_num_threads(threads);
    bench_out o = {c.json, 0};
    return suite_engine(&o, threads, quick, c.have_seed ? c.seed : 1);
}

const cli_command cli_cmd_bench = {"bench", "run benchmark suites (engine)", run, help};
