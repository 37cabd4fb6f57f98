/* bench_util.h — what the benchmark suites of `varflow bench` share: the result printer and a
 * timing loop that reports the median rate over several rounds.
 *
 * Usage:
 *   bench_out o = {json, 0};
 *   double rate;
 *   if (bench_rate(my_call, &ctx, 10, 5, 0.5, &rate) == 0) bench_emit(&o, "case", rate, "calls/s", "\"n\":5");
 */
#ifndef VF_BENCH_UTIL_H
#define VF_BENCH_UTIL_H

#include "cli.h"

typedef struct bench_out {
    int json;
    int n_results;
} bench_out;

/* Monotonic time in seconds. */
double bench_now(void);

/* One result line: `extra` is a JSON fragment of further keys ("\"m\":2048,...") or "". */
void bench_emit(bench_out *o, const char *name, double value, const char *unit, const char *extra);

/* One timed call; returns 0, or -1 on failure (the library's message is in vf_last_error()). */
typedef int (*bench_call)(void *ctx);

/* Runs `call` `warmup` times, then `rounds` (<= 16) rounds of at least `round_seconds` each; *rate is
 * the median of the rounds' calls per second. 0 on success, -1 when a call failed. */
int bench_rate(bench_call call, void *ctx, int warmup, int rounds, double round_seconds, double *rate);

/* The keys naming the GEMM in use into buf: "backend":"openblas" or "builtin", and with OpenBLAS in the
 * build "blas_core", its kernel set (the reason it is passed over when it is not one for the CPU). */
const char *bench_backend_keys(char *buf, size_t size);

/* Single-thread sgemm rate at 2048^3 (256^3 with quick) through the active backend (cmd_bench.c). */
int bench_sgemm(int quick, double *gflops);

/* The flows suite (bench_flows.c): NSF and MAF training step, log-density and sampling. */
int bench_suite_flows(bench_out *o, int threads, int quick, uint64_t seed);

/* The flow-matching suite (bench_cfm.c): I-CFM training step and Euler sampling, d = 2. */
int bench_suite_cfm(bench_out *o, int threads, int quick, uint64_t seed);

/* The variational-inference suite (bench_vi.c): reverse-KL and path steps on u1. */
int bench_suite_vi(bench_out *o, int threads, int quick, uint64_t seed);

/* The optimal-transport suite (bench_ot.c): exact OT, Sinkhorn, sliced W, energy distance. */
int bench_suite_ot(bench_out *o, int threads, int quick, uint64_t seed);

#endif
