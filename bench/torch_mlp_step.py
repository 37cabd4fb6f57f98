#!/usr/bin/env python3
"""PyTorch baseline for `varflow bench engine`: the same MLP training step, measured the same way.

MLP 3 -> 256 -> 256 -> 256 -> 2 with SiLU, batch 512, mean squared error, Adam (lr 1e-3), float32,
one thread by default. Prints JSON lines with the keys of `varflow bench --json`:
  {"case": "mlp_step", "value": steps/s, "unit": "steps/s", ...}
  {"case": "mlp_step_gflops", ...}   6 * batch * sum(in*out) FLOPs per step, as varflow counts them
  {"case": "sgemm", ...}             torch.mm at 2048^3 (PyTorch's own BLAS)

Usage: python3 bench/torch_mlp_step.py [--threads T] [--seconds S]
Needs python3-torch (Debian) or any PyTorch; the tests do not use this script.
"""
import argparse
import json
import statistics
import time

import torch


def sgemm_gflops(n=2048, reps=5):
    a = torch.rand(n, n) - 0.5
    b = torch.rand(n, n) - 0.5
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best * 1e-9


def mlp_steps_per_second(batch=512, rounds=5, seconds=0.6):
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 256), torch.nn.SiLU(),
        torch.nn.Linear(256, 256), torch.nn.SiLU(),
        torch.nn.Linear(256, 256), torch.nn.SiLU(),
        torch.nn.Linear(256, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xs = [torch.randn(batch, 3) for _ in range(8)]
    ys = [torch.stack([torch.sin(1.5 * x[:, 0]) * torch.cos(x[:, 1]) + 0.5 * x[:, 2],
                       torch.tanh(x[:, 0] * x[:, 1]) - 0.3 * x[:, 2] ** 2 + 0.2 * x[:, 0]], 1)
          + 0.1 * torch.randn(batch, 2) for x in xs]

    def step(k):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(net(xs[k % 8]), ys[k % 8])
        loss.backward()
        opt.step()

    for k in range(10):
        step(k)
    rates = []
    k = 0
    for _ in range(rounds):
        n = 0
        t0 = time.perf_counter()
        while True:
            step(k)
            k += 1
            n += 1
            dt = time.perf_counter() - t0
            if dt >= seconds:
                break
        rates.append(n / dt)
    return statistics.median(rates)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=0.6)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    gemm = sgemm_gflops()
    print(json.dumps({"case": "sgemm", "value": round(gemm, 3), "unit": "GFLOP/s", "m": 2048, "n": 2048,
                      "k": 2048, "threads": args.threads, "backend": "torch"}))
    steps = mlp_steps_per_second(seconds=args.seconds)
    flops = 6 * 512 * (3 * 256 + 256 * 256 * 2 + 256 * 2)
    print(json.dumps({"case": "mlp_step", "value": round(steps, 3), "unit": "steps/s", "batch": 512,
                      "layers": "3-256-256-256-2", "act": "silu", "optimizer": "adam",
                      "threads": args.threads, "backend": "torch " + torch.__version__}))
    print(json.dumps({"case": "mlp_step_gflops", "value": round(steps * flops * 1e-9, 3), "unit": "GFLOP/s",
                      "flops_per_step": flops, "threads": args.threads}))
    print(json.dumps({"case": "mlp_step_vs_sgemm", "value": round(steps * flops * 1e-9 / gemm, 4),
                      "unit": "ratio", "sgemm_gflops": round(gemm, 3), "threads": args.threads}))


if __name__ == "__main__":
    main()
