/* bench_util.c — result lines and the median-rate timing loop of `varflow bench` (bench_util.h). */
#include <math.h>
#include <time.h>
#include "bench_util.h"

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void bench_emit(bench_out *o, const char *name, double value, const char *unit, const char *extra)
{
    if (o->json) {
        printf("{\"case\":\"%s\",\"value\":%.6g,\"unit\":\"%s\"%s%s}\n", name, value, unit, extra[0] ? "," : "",
               extra);
    } else {
        printf("%-18s %12.4g %-10s %s\n", name, value, unit, extra);
    }
    fflush(stdout);
    o->n_results++;
}

int bench_rate(bench_call call, void *ctx, int warmup, int rounds, double round_seconds, double *rate)
{
    double rates[16];
    if (rounds < 1 || rounds > 16) return -1;
    for (int i = 0; i < warmup; i++)
        if (call(ctx) != 0) return -1;
    for (int round = 0; round < rounds; round++) {
        int64_t calls = 0;
        double t0 = bench_now(), dt;
        do {
            if (call(ctx) != 0) return -1;
            calls++;
        } while ((dt = bench_now() - t0) < round_seconds);
        rates[round] = (double)calls / dt;
    }
    for (int i = 1; i < rounds; i++) /* insertion sort for the median */
        for (int j = i; j > 0 && rates[j] < rates[j - 1]; j--) {
            double tmp = rates[j];
            rates[j] = rates[j - 1];
            rates[j - 1] = tmp;
        }
    *rate = rates[rounds / 2];
    return isfinite(*rate) ? 0 : -1;
}
