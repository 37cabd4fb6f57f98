#!/usr/bin/env python3
"""PyTorch reference for `varflow bench vi`: a reverse-KL step on the u1 energy with zuko 1.6's coupling NSF.

zuko cannot be installed here, so this reuses bench/torch_flows.py's op-for-op re-implementation of
zuko's MaskedAutoregressiveTransform with monotonic rational-quadratic splines (bins 8, bound 5) and
builds what zuko.flows.NSF(2, transforms=8, hidden_features=(64, 64), passes=2) is: in 2-D a coupling
flow (feature orders 0,1 and 1,0 alternating; the MADE's coupling masks make feature 0's spline depend
on no input and feature 1's on feature 0). The step is what zuko users write for variational inference:

    x, log_q = flow().rsample_and_log_prob((256,))     # zuko: x = T^-1(z), then log q by one more
    loss = (log_q + U1(x)).mean()                       # MADE pass per transform (inv.call_and_ladj)
    loss.backward(); opt.step()                         # Adam, lr 1e-3

Each transform's inverse takes passes = 2 MADE evaluations plus one for its log-determinant, as
zuko's inverse of an autoregressive transform does. Timed as cli/bench_vi.c times varflow: median of 5
rounds of 0.6 s after 10 warm-up steps, float32, one thread by default. Prints JSON lines; the case is
vi_rkl_step (steps/s), as `varflow bench vi --json` prints it.
Usage: /usr/bin/python3 bench/torch_vi.py [--threads T] [--seconds S]
"""
import argparse
import json
import math
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import torch_flows as tf  # noqa: E402

D, TRANSFORMS, BATCH = 2, 8, 256
tf.HIDDEN = (64, 64)  # read by AutoregressiveLayer's MADE when it is built


def u1_energy(x):
    """Rezende & Mohamed's U1 (log p = -U1), as src/vi/target_energies.c."""
    r = x.norm(dim=-1)
    a = -0.5 * ((x[:, 0] - 2) / 0.6) ** 2
    b = -0.5 * ((x[:, 0] + 2) / 0.6) ** 2
    return 0.5 * ((r - 2) / 0.4) ** 2 - torch.logaddexp(a, b)


class CouplingNSF(nn.Module):
    def __init__(self):
        super().__init__()
        orders = (torch.arange(D), torch.arange(D).flip(0))
        self.transforms = nn.ModuleList(tf.AutoregressiveLayer(orders[i % 2], True) for i in range(TRANSFORMS))

    def rsample_and_log_prob(self, n):
        z = torch.randn(n, D)
        log_q = -0.5 * (z * z).sum(-1) - D * 0.5 * math.log(2 * math.pi)
        x = z
        for t in reversed(self.transforms):
            y = x
            x = t.inverse(y)          # passes = 2 MADE evaluations
            _, ladj = t(x)            # zuko's inv.call_and_ladj: one more pass for log|dy/dx|
            log_q = log_q - ladj
        return x, log_q


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=0.6)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    flow = CouplingNSF()
    params = sum(q.numel() for q in flow.parameters())
    opt = torch.optim.Adam(flow.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        x, log_q = flow.rsample_and_log_prob(BATCH)
        loss = (log_q + u1_energy(x)).mean()
        loss.backward()
        opt.step()
        if not math.isfinite(loss.item()):
            raise RuntimeError("non-finite loss")

    value, cpu_share = tf.rate(step, 10, 5, args.seconds)
    print(json.dumps({"case": "vi_rkl_step", "value": round(value, 4), "unit": "steps/s", "target": "u1",
                      "flow": "nsf coupling: transforms 8, hidden 64x2, bins 8, bound 5", "batch": BATCH,
                      "objective": "rkl", "params": params, "threads": args.threads, "real": "float",
                      "backend": "torch " + torch.__version__, "reference": "zuko 1.6 (re-implemented)",
                      "cpu_share": round(cpu_share, 3)}), flush=True)


if __name__ == "__main__":
    main()
