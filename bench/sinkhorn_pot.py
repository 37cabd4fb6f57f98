"""sinkhorn_pot.py -- POT's ot.sinkhorn2(a, b, M, eps, method='sinkhorn_log', stopThr=1e-6) on the
problem of bench/sinkhorn_bench.c (the same points: splitmix64 + Box-Muller), in calls per second,
median of 5 rounds of 1 s after a warm-up call. Needs numpy and POT (not needed by CI).
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python3 bench/sinkhorn_pot.py [n] [eps]"""
import json, math, sys, time
import numpy as np
import ot

MASK = (1 << 64) - 1
state = 12345


def uniform():
    global state
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    z ^= z >> 31
    return ((z >> 11) + 0.5) / 9007199254740992.0


def normal_points(n, shift):
    p = np.empty((n, 2))
    for i in range(n):
        u1, u2 = uniform(), uniform()
        r = math.sqrt(-2 * math.log(u1))
        p[i] = (r * math.cos(2 * math.pi * u2) + shift, r * math.sin(2 * math.pi * u2))
    return p


n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
eps = float(sys.argv[2]) if len(sys.argv) > 2 else 0.05
x, y = normal_points(n, 0.0), normal_points(n, 1.0)
M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
M /= M.max()
a = np.full(n, 1.0 / n)
b = np.full(n, 1.0 / n)
_, log = ot.sinkhorn(a, b, M, eps, method='sinkhorn_log', stopThr=1e-6, numItermax=100000, log=True)
cost = ot.sinkhorn2(a, b, M, eps, method='sinkhorn_log', stopThr=1e-6, numItermax=100000)
rates, cpu_rates = [], []
for _ in range(5):
    calls, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        ot.sinkhorn2(a, b, M, eps, method='sinkhorn_log', stopThr=1e-6, numItermax=100000)
        calls += 1
        t = time.perf_counter() - t0
        if t >= 1.0:
            break
    rates.append(calls / t)
    cpu_rates.append(calls / (time.process_time() - c0))
print(json.dumps({"case": "pot_sinkhorn_log", "value": round(sorted(rates)[2], 2), "unit": "calls/s", "n": n,
                  "eps": eps, "tol": 1e-6, "cpu_calls_per_s": round(sorted(cpu_rates)[2], 2), "iterations": int(log['niter']) + 1, "marginal_error": float(log['err'][-1]),
                  "transport_cost": float(cost)}))
