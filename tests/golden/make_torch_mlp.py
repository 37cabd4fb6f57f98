#!/usr/bin/env python3
"""Writes tests/golden/torch_mlp.safetensors: PyTorch reference values for test_torch_parity.c.

For each activation varflow has, an MLP 3 -> 8 -> 8 -> 2 (PyTorch Linear layers, weight [out, in])
in float64 with fixed random weights; a batch x [16, 3] and target y [16, 2]; the loss
L = mean((net(x) - y)^2); and the reference
  <act>.out          net(x)                         [16, 2]
  <act>.loss         L                              [1]
  <act>.grad_x       dL/dx                          [16, 3]
  <act>.grad.<p>     dL/dp for every parameter p    (shape of p)
  <act>.adam3.<p>    p after 3 Adam steps (lr 1e-2, betas (0.9, 0.999), eps 1e-8) on the same batch
  <act>.adamw3.<p>   the same with AdamW (weight decay 0.1)
Parameters are stored as <act>.<p> with p in layers.<i>.weight / layers.<i>.bias.
Run with Debian's python3-torch (1.13): python3 tests/golden/make_torch_mlp.py
The file is written with the safetensors layout by hand (the package is not needed).
"""
import json
import struct
import sys

import numpy as np
import torch

ACTIVATIONS = {
    "none": torch.nn.Identity(),
    "relu": torch.nn.ReLU(),
    "leaky_relu": torch.nn.LeakyReLU(0.01),
    "elu": torch.nn.ELU(1.0),
    "selu": torch.nn.SELU(),
    "silu": torch.nn.SiLU(),
    "gelu": torch.nn.GELU(),          # exact (erf) form
    "tanh": torch.nn.Tanh(),
    "sigmoid": torch.nn.Sigmoid(),
    "softplus": torch.nn.Softplus(),
}


def build(act, seed):
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(3, 8), act, torch.nn.Linear(8, 8), act, torch.nn.Linear(8, 2)]
    net = torch.nn.Sequential(*layers).double()
    return net


def named(net):
    """layers.<i>.weight / .bias in varflow's numbering (Linear layers only)."""
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    out = {}
    for i, lin in enumerate(linears):
        out[f"layers.{i}.weight"] = lin.weight
        out[f"layers.{i}.bias"] = lin.bias
    return out


def main(path):
    tensors = {}
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(16, 3, generator=g, dtype=torch.float64)
    y = torch.randn(16, 2, generator=g, dtype=torch.float64)
    tensors["x"] = x
    tensors["y"] = y
    for k, (name, act) in enumerate(ACTIVATIONS.items()):
        net = build(act, 100 + k)
        params = named(net)
        for p, t in params.items():
            tensors[f"{name}.{p}"] = t.detach().clone()
        xr = x.clone().requires_grad_(True)
        out = net(xr)
        loss = ((out - y) ** 2).mean()
        loss.backward()
        tensors[f"{name}.out"] = out.detach()
        tensors[f"{name}.loss"] = loss.detach().reshape(1)
        tensors[f"{name}.grad_x"] = xr.grad.detach()
        for p, t in params.items():
            tensors[f"{name}.grad.{p}"] = t.grad.detach().clone()
        for tag, opt_cls, kw in (("adam3", torch.optim.Adam, {}), ("adamw3", torch.optim.AdamW, {"weight_decay": 0.1})):
            net2 = build(act, 100 + k)
            opt = opt_cls(net2.parameters(), lr=1e-2, betas=(0.9, 0.999), eps=1e-8, **kw)
            for _ in range(3):
                opt.zero_grad()
                ((net2(x) - y) ** 2).mean().backward()
                opt.step()
            for p, t in named(net2).items():
                tensors[f"{name}.{tag}.{p}"] = t.detach().clone()
    write_safetensors(path, tensors, {"made_by": "tests/golden/make_torch_mlp.py", "torch": torch.__version__})


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name].detach().numpy().astype("<f8"))
        b = arr.tobytes()
        header[name] = {"dtype": "F64", "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/torch_mlp.safetensors")
