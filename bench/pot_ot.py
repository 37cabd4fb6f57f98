#!/usr/bin/env python3
"""pot_ot.py — the POT reference for `varflow bench ot` (issue 6's speed targets), timed like varflow:
median calls/s over 5 rounds of at least 0.6 s after a warm-up call, one thread.

Instance: x, y = 1000 points each of N(0, I) in 2-D (numpy, float64), M = ot.dist(x, y) (squared
Euclidean) divided by its maximum, uniform weights.
  emd2        ot.emd2(a, b, M)
  sinkhorn    ot.sinkhorn2(a, b, M, 0.05, method="sinkhorn_log", stopThr=1e-6)
  sw          ot.sliced_wasserstein_distance(x, y, n_projections=50, p=2)
  energy      not in POT 0.8.2 (varflow's ot_energy has no POT counterpart)

Run:  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python3 bench/pot_ot.py [--json]
Needs python3-pot (Debian: POT 0.8.2) and numpy; not used by the tests.
"""
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import ot  # noqa: E402


def rate(call, rounds=5, seconds=0.6):
    call()
    rates = []
    for _ in range(rounds):
        n, t0 = 0, time.perf_counter()
        while True:
            call()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= seconds:
                break
        rates.append(n / dt)
    return statistics.median(rates)


def main():
    as_json = "--json" in sys.argv[1:]
    rng = np.random.default_rng(1)
    n = 1000
    x, y = rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
    m = ot.dist(x, y)
    m /= m.max()
    a = b = np.full(n, 1.0 / n)
    cases = [
        ("pot_emd2", lambda: ot.emd2(a, b, m), {"n": n, "m": n, "d": 2}),
        ("pot_sinkhorn_log", lambda: ot.sinkhorn2(a, b, m, 0.05, method="sinkhorn_log", stopThr=1e-6),
         {"n": n, "m": n, "d": 2, "eps": 0.05, "tol": 1e-6}),
        ("pot_sliced_wasserstein", lambda: ot.sliced_wasserstein_distance(x, y, n_projections=50, p=2, seed=7),
         {"n": n, "m": n, "d": 2, "p": 2, "projections": 50}),
    ]
    for name, call, extra in cases:
        r = rate(call)
        if as_json:
            print(json.dumps(dict(case=name, value=r, unit="calls/s", pot=ot.__version__, **extra)))
        else:
            print(f"{name:24s} {r:10.4g} calls/s")


if __name__ == "__main__":
    main()
