#!/usr/bin/env python3
"""PyTorch reference for `varflow bench flows`: zuko 1.6's NSF and MAF, re-implemented in plain PyTorch.

zuko cannot be installed here, so this script does the computation zuko 1.6 does for
zuko.flows.NSF(8, transforms=5, hidden_features=(128, 128)) (bins=8) and zuko.flows.MAF(8, transforms=5,
hidden_features=(128, 128)), op for op in the parts that cost time, and times it the way
`varflow bench flows` times varflow (cli/bench_flows.c, cli/bench_util.c). float32, one thread by default.

What is matched (zuko 1.6: zuko/flows/autoregressive.py, flows/spline.py, nn.py, transforms.py):
  - 5 MaskedAutoregressiveTransforms, feature order 0..7 for even transforms and 7..0 for odd ones
    (MAF's randperm=False), fully autoregressive (passes = d = 8); base N(0, I) as
    Independent(Normal(zeros, ones), 1).
  - hyper-network: zuko's MaskedMLP, 8 -> 128 -> 128 -> 8 * P, ReLU, each layer F.linear(x, mask * W, b)
    with the mask multiplied into W on every call. Masks built as zuko builds them: the adjacency
    order[i] > order[j] repeated P times per feature, its distinct rows (torch.unique), hidden unit h
    of a layer takes the h mod n-th of the n distinct rows that still have inputs, and later layers
    connect by support inclusion ("precedence"). Outputs are grouped per feature, P consecutive
    values each; nn.Linear's default initialization.
  - MAF, P = 2 (shift, unconstrained scale a): log-scale a / (1 + |a / log(1e-3)|), y = x exp(.) + shift.
  - NSF, P = 8 + 8 + 7 = 23 (widths, heights, interior knot slopes), MonotonicRQSTransform with bound 5
    and slope 1e-3: width and height logits soft-clipped by w / (1 + |2 w / log(1e-3)|), slopes by
    s / (1 + |s / log(1e-3)|); softmax, cumulative sums to 9 knots on [-5, 5]; the two end slopes are
    exp(0) = 1; identity outside [-5, 5]; bin search by counting knots below the value; both
    endpoints of the bin gathered from a broadcast (stack of k and k + 1); the inverse by the root of
    the quadratic.
  - log p(x): x -> z through the 5 transforms (one MADE pass each) plus the sum of log|dz/dx|.
    Sampling: z ~ N(0, I), then the 5 inverses in reverse order, each by d = 8 sequential passes
    x <- f^{-1}(y | MADE(x)) starting from x = 0 (zuko's AutoregressiveTransform._inverse).
  - parameters: zuko's counts. Per transform 8*128+128 + 128*128+128 + 128*(8P)+8P, masks included
    (they are dense weights times a mask): MAF 5 * (1152 + 16512 + 2064) = 98,640;
    NSF 5 * (1152 + 16512 + 23736) = 207,000. The base's loc/scale are buffers. --check asserts these.
Not reproduced: zuko's Python object overhead (lazy modules and torch.distributions Transform objects
built on every call and every inverse pass), estimated at tens of microseconds per transform per call:
about 1% of a training step, less of the 10,000-row calls.

Timing, as varflow's: data N(0, I), 10,000 x 8 rows from the seed; <flow>_train: -mean log p(x) of a
batch of 512 (cycling over the first 8 blocks of the data), backward, Adam (lr 1e-3), median of 5 rounds
of 0.6 s after 10 warm-up steps; <flow>_logprob: calls/s of log p(x) on all 10,000 rows under
torch.no_grad(); <flow>_sample: calls/s of drawing 10,000 samples under no_grad (2 warm-up calls each).
Each line also has `cpu_share`, the process's CPU seconds per wall second in the timed rounds: near
1.0 at one thread on an idle machine, lower when other work takes the cores (then the rate is low too).
A leading sgemm line: torch.mm at 2048^3, best of 5, in GFLOP/s. Prints JSON lines with the keys of
`varflow bench flows --json`.

Usage: OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch_flows.py [--threads T]
       [--seconds S] [--check]
--check runs the correctness checks (masks, parameter counts, invertibility, log-density against
autograd Jacobians) in float64 and exits. Needs python3-torch (Debian) or any PyTorch; the tests do not
use this script. The BLAS that torch loaded is printed with the sgemm line (`blas`): Debian's torch
uses whatever libblas.so.3 the alternatives system (or LD_LIBRARY_PATH) points at; with Debian's netlib
reference BLAS (libblas3) alone, sgemm runs about 20x slower than with OpenBLAS (libopenblas0).
"""
import argparse
import json
import math
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.distributions import Independent, Normal  # noqa: E402

D, TRANSFORMS, HIDDEN, BINS, BOUND = 8, 5, (128, 128), 8, 5.0
BATCH, ROWS, N_BATCHES = 512, 10000, 8
LOG_SLOPE = math.log(1e-3)  # zuko's minimum slope 1e-3, as a bound on log-slopes and logits


def made_masks(order, per_feature, hidden):
    """The [out, in] boolean masks of zuko's MaskedMLP for an autoregressive order."""
    adjacency = (order[:, None] > order[None, :]).repeat_interleave(per_feature, dim=0)
    rows, inverse = torch.unique(adjacency, dim=0, return_inverse=True)
    inputs = rows.double()
    # contains[i, j]: every input of distinct row j is an input of row i
    contains = inputs @ inputs.t() == inputs.sum(1)[None, :]
    masks, reach = [], rows
    for width in hidden:
        live = reach.any(1).nonzero().squeeze(1)
        pick = live[torch.arange(width) % live.numel()]
        masks.append(reach[pick])
        reach = contains[:, pick]
    masks.append(reach[inverse])
    return masks


class MADE(nn.Module):
    def __init__(self, order, per_feature, hidden):
        super().__init__()
        self.layers = nn.ModuleList()
        for mask in made_masks(order, per_feature, hidden):
            layer = nn.Linear(mask.shape[1], mask.shape[0])
            layer.register_buffer("mask", mask)
            self.layers.append(layer)

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            if i:
                x = F.relu(x)
            x = F.linear(x, layer.mask * layer.weight, layer.bias)
        return x


def affine(params):
    shift, a = params
    log_scale = a / (1 + abs(a / LOG_SLOPE))
    return shift, log_scale, log_scale.exp()


def spline_knots(params):
    widths, heights, slopes = params
    widths = widths / (1 + abs(2 * widths / LOG_SLOPE))
    heights = heights / (1 + abs(2 * heights / LOG_SLOPE))
    slopes = slopes / (1 + abs(slopes / LOG_SLOPE))
    xs = BOUND * (2 * torch.cumsum(F.pad(F.softmax(widths, dim=-1), (1, 0), value=0), dim=-1) - 1)
    ys = BOUND * (2 * torch.cumsum(F.pad(F.softmax(heights, dim=-1), (1, 0), value=0), dim=-1) - 1)
    return xs, ys, torch.exp(F.pad(slopes, (1, 1), value=0))


def spline_bin(k, xs, ys, ds):
    """Inside-mask, the bin's end knots (x0, x1, y0, y1), end slopes (d0, d1) and mean slope."""
    bins = xs.shape[-1] - 1
    inside = torch.logical_and(0 <= k, k < bins)
    k = k % bins
    ends = torch.stack((k, k + 1))[..., None]
    full = ends.shape[:-1] + xs.shape[-1:]
    x0, x1 = xs.broadcast_to(full).gather(-1, ends).squeeze(-1)
    y0, y1 = ys.broadcast_to(full).gather(-1, ends).squeeze(-1)
    d0, d1 = ds.broadcast_to(full).gather(-1, ends).squeeze(-1)
    return inside, x0, x1, y0, y1, d0, d1, (y1 - y0) / (x1 - x0)


def spline_forward(x, knots):
    xs, ys, ds = knots
    k = torch.sum(xs < x[..., None], dim=-1) - 1
    inside, x0, x1, y0, y1, d0, d1, s = spline_bin(k, xs, ys, ds)
    z = inside * (x - x0) / (x1 - x0)
    denom = s + (d0 + d1 - 2 * s) * z * (1 - z)
    y = y0 + (y1 - y0) * (s * z**2 + d0 * z * (1 - z)) / denom
    dydx = s**2 * (2 * s * z * (1 - z) + d0 * (1 - z) ** 2 + d1 * z**2) / denom**2
    return torch.where(inside, y, x), inside * dydx.log()


def spline_inverse(y, knots):
    xs, ys, ds = knots
    k = torch.sum(ys < y[..., None], dim=-1) - 1
    inside, x0, x1, y0, y1, d0, d1, s = spline_bin(k, xs, ys, ds)
    dy = inside * (y - y0)
    a = (y1 - y0) * (s - d0) + dy * (d0 + d1 - 2 * s)
    b = (y1 - y0) * d0 - dy * (d0 + d1 - 2 * s)
    c = -s * dy
    z = 2 * c / (-b - (b**2 - 4 * a * c).sqrt())
    return torch.where(inside, x0 + z * (x1 - x0), y)


class AutoregressiveLayer(nn.Module):
    """One MaskedAutoregressiveTransform: z_i = f(x_i | MADE(x)_i), in the x -> z (density) direction."""

    def __init__(self, order, spline):
        super().__init__()
        self.spline = spline
        self.sizes = (BINS, BINS, BINS - 1) if spline else (1, 1)
        self.hyper = MADE(order, sum(self.sizes), HIDDEN)

    def params(self, x):
        phi = self.hyper(x).unflatten(-1, (-1, sum(self.sizes))).split(self.sizes, dim=-1)
        return phi if self.spline else tuple(p.squeeze(-1) for p in phi)

    def forward(self, x):
        if self.spline:
            z, ladj = spline_forward(x, spline_knots(self.params(x)))
        else:
            shift, log_scale, scale = affine(self.params(x))
            z, ladj = x * scale + shift, log_scale.expand(x.shape)
        return z, ladj.sum(-1)

    def inverse(self, z):
        x = torch.zeros_like(z)
        for _ in range(x.shape[-1]):
            if self.spline:
                x = spline_inverse(z, spline_knots(self.params(x)))
            else:
                shift, _, scale = affine(self.params(x))
                x = (z - shift) / scale
        return x


class Flow(nn.Module):
    def __init__(self, spline, d=D, transforms=TRANSFORMS):
        super().__init__()
        orders = (torch.arange(d), torch.arange(d).flip(0))
        self.transforms = nn.ModuleList(AutoregressiveLayer(orders[i % 2], spline)
                                        for i in range(transforms))
        self.register_buffer("loc", torch.zeros(d))
        self.register_buffer("scale", torch.ones(d))

    def base(self):
        return Independent(Normal(self.loc, self.scale, validate_args=False), 1, validate_args=False)

    def to_base(self, x):
        ladj = 0
        for t in self.transforms:
            x, l = t(x)
            ladj = ladj + l
        return x, ladj

    def from_base(self, z):
        for t in reversed(self.transforms):
            z = t.inverse(z)
        return z

    def log_prob(self, x):
        z, ladj = self.to_base(x)
        return self.base().log_prob(z) + ladj

    def sample(self, n):
        with torch.no_grad():
            return self.from_base(self.base().rsample((n,)))


ZUKO_PARAMS = {"nsf": 5 * (8 * 128 + 128 + 128 * 128 + 128 + 128 * 184 + 184),  # 207,000
               "maf": 5 * (8 * 128 + 128 + 128 * 128 + 128 + 128 * 16 + 16)}   # 98,640


def check(name, spline):
    """Correctness checks in float64; prints one JSON line per flow, raises on a failure."""
    torch.manual_seed(3)
    flow = Flow(spline).double()
    n_params = sum(p.numel() for p in flow.parameters())
    assert n_params == ZUKO_PARAMS[name], (name, n_params)
    per = sum(flow.transforms[0].sizes)
    for i, t in enumerate(flow.transforms):
        order = torch.arange(D) if i % 2 == 0 else torch.arange(D).flip(0)
        x = torch.randn(D, dtype=torch.double)
        jac = torch.autograd.functional.jacobian(t.hyper, x)  # [D * per, D]
        want = (order[:, None] > order[None, :]).repeat_interleave(per, dim=0)
        assert torch.equal(jac != 0, want), f"{name} transform {i}: MADE dependencies differ from the order"
    with torch.no_grad():  # move away from the near-identity initialization
        for t in flow.transforms:
            last = t.hyper.layers[-1]
            last.weight.normal_(0, 0.3)
            last.bias.normal_(0, 0.5)
    # NSF: about 5% of the values outside [-5, 5], where the splines are the identity; MAF: moderate values,
    # as its ReLU MADE turns large inputs into log-scales at the clip (|.| -> 6.9 per transform)
    z = torch.randn(4000, D, dtype=torch.double) * (2.5 if spline else 1.0)
    with torch.no_grad():
        x = flow.from_base(z)
        z_back, ladj = flow.to_base(x)
        roundtrip = (z_back - z).abs().max().item()
        x_range = x.abs().max().item()
        lp = flow.log_prob(x)
    assert roundtrip < 1e-8, (name, roundtrip)
    # log p(x) against autograd: log N(f(x)) + log|det df/dx| and log N(z) - log|det dg/dz|, g = f^{-1}
    worst_f = worst_g = 0.0
    for i in range(40):
        jf = torch.autograd.functional.jacobian(lambda v: flow.to_base(v[None])[0][0], x[i])
        jg = torch.autograd.functional.jacobian(lambda v: flow.from_base(v[None])[0], z[i])
        ref_f = flow.base().log_prob(z[i]) + torch.linalg.slogdet(jf)[1]
        ref_g = flow.base().log_prob(z[i]) - torch.linalg.slogdet(jg)[1]
        worst_f = max(worst_f, abs(ref_f - lp[i]).item())
        worst_g = max(worst_g, abs(ref_g - lp[i]).item())
    assert worst_f < 1e-8 and worst_g < 1e-6, (name, worst_f, worst_g)
    print(json.dumps({"check": name, "params": n_params, "zuko_params": ZUKO_PARAMS[name],
                      "made_masks": "ok", "roundtrip_max_abs": roundtrip, "max_abs_x": x_range,
                      "logprob_vs_jacobian": worst_f,
                      "logprob_vs_inverse_jacobian": worst_g}))


def blas_library():
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() or "mkl" in line.lower()}
        return ",".join(sorted(os.path.realpath(p) for p in libs if p.startswith("/")))
    except OSError:
        return "unknown"


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


def rate(call, warmup, rounds, seconds):
    """varflow's bench_rate: calls per second, the median of `rounds` rounds of at least `seconds` s.
    Also returns the process's CPU time over wall time in the rounds (below 1 / threads: other load)."""
    for _ in range(warmup):
        call()
    rates = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        n = 0
        t0 = time.perf_counter()
        while True:
            call()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= seconds:
                break
        rates.append(n / dt)
    return statistics.median(rates), (time.process_time() - cpu0) / (time.perf_counter() - wall0)


def run_flow(name, spline, spec, threads, seconds, gemm):
    torch.manual_seed(1)
    flow = Flow(spline)
    opt = torch.optim.Adam(flow.parameters(), lr=1e-3)
    data = torch.randn(ROWS, D)
    batches = [data[i * BATCH:(i + 1) * BATCH] for i in range(N_BATCHES)]
    k = [0]

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = -flow.log_prob(batches[k[0] % N_BATCHES]).mean()
        loss.backward()
        opt.step()
        k[0] += 1
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"{name}: non-finite loss")

    def log_prob_call():
        with torch.no_grad():
            flow.log_prob(data)

    def sample_call():
        flow.sample(ROWS)

    cases = (("train", "steps/s", train_step, 10, BATCH),
             ("logprob", "calls/s", log_prob_call, 2, ROWS),
             ("sample", "calls/s", sample_call, 2, ROWS))
    for suffix, unit, call, warmup, rows in cases:
        value, cpu_share = rate(call, warmup, 5, seconds)
        print(json.dumps({"case": f"{name}_{suffix}", "value": round(value, 4), "unit": unit, "spec": spec,
                          "d": D, "rows": rows, "threads": threads, "real": "float",
                          "backend": "torch " + torch.__version__, "reference": "zuko 1.6 (re-implemented)",
                          "sgemm_gflops": round(gemm, 3), "cpu_share": round(cpu_share, 3)}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=0.6)
    p.add_argument("--check", action="store_true", help="run the correctness checks (float64) and exit")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.check:
        check("nsf", True)
        check("maf", False)
        return
    gemm = sgemm_gflops()
    print(json.dumps({"case": "sgemm", "value": round(gemm, 3), "unit": "GFLOP/s", "m": 2048, "n": 2048,
                      "k": 2048, "threads": args.threads, "backend": "torch", "blas": blas_library()}),
          flush=True)
    run_flow("nsf", True, "nsf:transforms=5,hidden=128x2,bins=8", args.threads, args.seconds, gemm)
    run_flow("maf", False, "maf:transforms=5,hidden=128x2", args.threads, args.seconds, gemm)


if __name__ == "__main__":
    main()
