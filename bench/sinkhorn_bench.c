/* sinkhorn_bench.c — calls per second of vf_sinkhorn on the problem of the issue: n = m = 1000
 * points in 2-D, x ~ N(0, I), y ~ N((1, 0), I), squared Euclidean cost divided by its maximum,
 * eps = 0.05, tol = 1e-6 with POT's stopping rule (L2 column error, checked every 10 iterations).
 * The points come from splitmix64 + Box-Muller, the same in bench/sinkhorn_pot.py, so both programs
 * solve the same problem. One thread; median of 5 rounds of 1 s after a warm-up call. Prints one
 * JSON line per case (value: wall-clock rate; cpu_calls_per_s: per second of this process's CPU time,
 * which a busy machine disturbs less). Build and run (from the repository root, after building build/):
 *   cc -O2 -Iinclude -Ibuild/include bench/sinkhorn_bench.c build/libvarflow.a -lm -fopenmp -lopenblas -lz -o /tmp/skb
 *   OMP_NUM_THREADS=1 /tmp/skb [n]
 * (drop -fopenmp / -lopenblas / -lz for a build without them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "varflow.h"

static uint64_t sm_state;
static double sm_uniform(void) /* splitmix64 -> (0, 1) */
{
    uint64_t z = (sm_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static void normal_points(int64_t n, double shift, double *p) /* [n, 2] */
{
    for (int64_t i = 0; i < n; i++) {
        double u1 = sm_uniform(), u2 = sm_uniform(), r = sqrt(-2 * log(u1));
        p[2 * i] = r * cos(2 * 3.14159265358979323846 * u2) + shift;
        p[2 * i + 1] = r * sin(2 * 3.14159265358979323846 * u2);
    }
}

static double now_clock(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
#define now() now_clock(CLOCK_MONOTONIC)

static int cmp(const void *p, const void *q)
{
    double a = *(const double *)p, b = *(const double *)q;
    return (a > b) - (a < b);
}

static void run_case(const char *name, int64_t n, const double *cost, const vf_sinkhorn_options *o)
{
    vf_sinkhorn_result res;
    if (vf_sinkhorn(n, n, cost, NULL, NULL, o, NULL, NULL, &res) != VF_OK) {
        fprintf(stderr, "%s: %s\n", name, vf_last_error());
        return;
    }
    double rate[5], cpu_rate[5];
    for (int r = 0; r < 5; r++) {
        int calls = 0;
        double t0 = now(), c0 = now_clock(CLOCK_PROCESS_CPUTIME_ID), t;
        do {
            vf_sinkhorn(n, n, cost, NULL, NULL, o, NULL, NULL, &res);
            calls++;
        } while ((t = now() - t0) < 1.0);
        rate[r] = calls / t;
        cpu_rate[r] = calls / (now_clock(CLOCK_PROCESS_CPUTIME_ID) - c0);
    }
    qsort(rate, 5, sizeof rate[0], cmp);
    qsort(cpu_rate, 5, sizeof cpu_rate[0], cmp);
    printf("{\"case\":\"%s\",\"value\":%.2f,\"unit\":\"calls/s\",\"n\":%lld,\"eps\":%g,\"tol\":%g,\"iterations\":%lld,"
           "\"cpu_calls_per_s\":%.2f,\"marginal_error\":%.3g,\"transport_cost\":%.12g,\"objective\":%.12g}\n",
           name, rate[2], (long long)n, o->eps, o->tol, (long long)res.iterations, cpu_rate[2], res.marginal_error,
           res.transport_cost, res.objective);
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 1000;
    double *x = malloc(2 * n * sizeof *x), *y = malloc(2 * n * sizeof *y), *cost = malloc(n * n * sizeof *cost);
    sm_state = 12345;
    normal_points(n, 0, x);
    normal_points(n, 1, y);
    double mx = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double dx = x[2 * i] - y[2 * j], dy = x[2 * i + 1] - y[2 * j + 1];
            cost[i * n + j] = dx * dx + dy * dy;
            mx = cost[i * n + j] > mx ? cost[i * n + j] : mx;
        }
    for (int64_t i = 0; i < n * n; i++) cost[i] /= mx;
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.eps = 0.05;
    o.tol = 1e-6;
    o.error_norm = 2;
    o.check_every = 10;
    run_case("sinkhorn_pot_rule", n, cost, &o);
    o.check_every = 1;
    run_case("sinkhorn_check_every_1", n, cost, &o);
    o.eps = 0.002;
    o.check_every = 10;
    run_case("sinkhorn_eps_0.002", n, cost, &o);
    o.eps_start = 0.256;
    run_case("sinkhorn_eps_0.002_scaling", n, cost, &o);
    free(x);
    free(y);
    free(cost);
    return 0;
}
