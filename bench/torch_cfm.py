#!/usr/bin/env python3
"""PyTorch baseline for `varflow bench cfm`: the same I-CFM training step and Euler sampling, measured
the same way (median calls/s over 5 rounds of at least 0.6 s after a warm-up).

  cfm_train   vector field MLP 3 -> 256 -> 256 -> 256 -> 2 (SiLU; time as an input column), batch 512:
              fresh x0, x1 ~ N(0, I), t ~ U(0, 1), z ~ N(0, I); x_t = (1 - t) x0 + t x1 + 0.1 z;
              loss mean |v(x_t, t) - (x1 - x0)|^2; backward; Adam (lr 1e-3)          (steps/s)
  cfm_sample  10,000 N(0, I) points carried by 100 Euler steps through the field, no gradients (calls/s)

Usage: OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python3 bench/torch_cfm.py [--threads T]
Needs python3-torch (Debian's PyTorch 1.13); the tests do not use this script.
"""
import argparse
import json
import statistics
import time

import torch


def rate(call, warmup, rounds=5, seconds=0.6):
    for _ in range(warmup):
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
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 256), torch.nn.SiLU(),
        torch.nn.Linear(256, 256), torch.nn.SiLU(),
        torch.nn.Linear(256, 256), torch.nn.SiLU(),
        torch.nn.Linear(256, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch, d = 512, 2

    def train_step():
        x0, x1, z = torch.randn(batch, d), torch.randn(batch, d), torch.randn(batch, d)
        t = torch.rand(batch, 1)
        xt = (1 - t) * x0 + t * x1 + 0.1 * z
        opt.zero_grad(set_to_none=True)
        loss = ((net(torch.cat([xt, t], 1)) - (x1 - x0)) ** 2).sum(1).mean()
        loss.backward()
        opt.step()

    def sample():
        with torch.no_grad():
            x = torch.randn(10000, d)
            dt = 1.0 / 100
            for k in range(100):
                t = torch.full((10000, 1), k * dt)
                x = x + dt * net(torch.cat([x, t], 1))

    common = {"d": 2, "layers": "3-256-256-256-2", "act": "silu", "threads": args.threads, "backend": "torch",
              "torch": torch.__version__}
    r = rate(train_step, 10)
    print(json.dumps({"case": "cfm_train", "value": round(r, 3), "unit": "steps/s", "batch": batch, **common}))
    r = rate(sample, 1)
    print(json.dumps({"case": "cfm_sample", "value": round(r, 4), "unit": "calls/s", "rows": 10000, "steps": 100,
                      "solver": "euler", **common}))


if __name__ == "__main__":
    main()
