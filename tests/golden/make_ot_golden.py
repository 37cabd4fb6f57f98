#!/usr/bin/env python3
"""Writes tests/golden/pot_ot.safetensors: POT 0.8.2 reference values for test_ot_golden.c.

Random instances (n, m from 10 to 2000, d from 1 to 50, uneven weights, some zero weights), each
stored as float32 tensors whose values the C test reads exactly in both builds:
  <name>.x        points [n, d]            (float32 values)
  <name>.y        points [m, d]
  <name>.ka       integer weight counts [n] (absent: uniform weights); a = ka / sum(ka) in float64,
  <name>.kb       the same for b              which C computes with the same correctly rounded division
  <name>.dirs     sliced-W directions [k, d] (rows; POT's `projections` is the transpose)
  <name>.cost     a user cost matrix [n, m] (instances of kind "matrix" only)
and in the metadata (strings, %.17g):
  <name>.emd_sqeuclidean, <name>.emd_euclidean   ot.emd2(a, b, M) (M formed in float64, summing the
                                                 coordinates in order, as the C code does)
  <name>.emd_matrix                              ot.emd2 on the user matrix
  <name>.sinkhorn<k>.eps, <name>.sinkhorn<k>.cost ot.sinkhorn2(a, b, M, eps, method='sinkhorn_log',
                                                 stopThr=1e-12, numItermax=100000), checked converged
  <name>.sw1, <name>.sw2                         ot.sliced_wasserstein_distance(x, y, a, b, k, p,
                                                 projections=dirs.T)
  instances                                      comma-separated names
Run with Debian's python3-pot (0.8.2) and numpy: /usr/bin/python3 tests/golden/make_ot_golden.py
The file is written in the safetensors layout by hand (the package is not needed).
"""
import json
import struct
import sys

import numpy as np
import ot

assert ot.__version__ == "0.8.2", ot.__version__

# name, n, m, d, weights ("uneven", "zeros", "uniform"), costs to solve, sinkhorn eps as fractions of mean(M)
INSTANCES = [
    ("d1_small", 10, 10, 1, "uneven", ["sqeuclidean", "euclidean"], [0.5, 0.05]),
    ("d2_10x17", 10, 17, 2, "uneven", ["sqeuclidean"], [0.1]),
    ("d5_zeros", 50, 30, 5, "zeros", ["sqeuclidean", "euclidean"], []),
    ("d50_100x80", 100, 80, 50, "uneven", ["sqeuclidean"], [0.2, 0.02]),
    ("d10_200x250", 200, 250, 10, "uneven", ["sqeuclidean", "euclidean"], [0.05]),
    ("d3_uniform300", 300, 300, 3, "uniform", ["sqeuclidean"], [0.1]),
    ("d2_500x400_euc", 500, 400, 2, "uneven", ["euclidean"], []),
    ("d20_150x120", 150, 120, 20, "zeros", ["sqeuclidean", "euclidean"], []),
    ("d2_1000x700", 1000, 700, 2, "uneven", ["sqeuclidean"], []),
    ("d3_2000x10", 2000, 10, 3, "uneven", ["sqeuclidean"], []),
    ("d2_2000x1500", 2000, 1500, 2, "uneven", ["sqeuclidean"], []),
    ("matrix_40x60", 40, 60, 4, "uneven", ["matrix"], [0.5]),
]
N_DIRS = 20


def cost_matrix(x, y, kind):
    """float64 cost, coordinates summed in order (like vf_cost_matrix)."""
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    M = np.zeros((x.shape[0], y.shape[0]))
    for k in range(x.shape[1]):
        M += (x[:, None, k] - y[None, :, k]) ** 2
    return np.sqrt(M) if kind == "euclidean" else M


def weights(rng, n, kind):
    if kind == "uniform":
        return None
    k = rng.integers(1, 1000, size=n).astype(np.float32)
    if kind == "zeros":
        k[rng.choice(n, size=max(1, n // 5), replace=False)] = 0
    return k


def emd2(a, b, M):
    cost, log = ot.emd2(a, b, M, numItermax=10**8, log=True)
    assert log["warning"] is None, log["warning"]
    return float(cost)


def main(path):
    rng = np.random.default_rng(20240601)
    tensors, meta, names = {}, {}, []
    for name, n, m, d, wkind, costs, eps_fracs in INSTANCES:
        names.append(name)
        x = rng.normal(size=(n, d)).astype(np.float32)
        # y: a shifted, stretched cloud, so the transport is not trivial
        y = (rng.normal(size=(m, d)) * 1.5 + 0.7).astype(np.float32)
        tensors[name + ".x"] = x
        tensors[name + ".y"] = y
        ka, kb = weights(rng, n, wkind), weights(rng, m, wkind)
        if ka is not None:
            tensors[name + ".ka"] = ka
            tensors[name + ".kb"] = kb
            a = ka.astype(np.float64) / ka.astype(np.float64).sum()
            b = kb.astype(np.float64) / kb.astype(np.float64).sum()
        else:
            a = np.full(n, 1.0 / n)
            b = np.full(m, 1.0 / m)
        for kind in costs:
            if kind == "matrix":
                C = rng.uniform(-1, 3, size=(n, m)).astype(np.float32)
                tensors[name + ".cost"] = C
                M = C.astype(np.float64)
            else:
                M = cost_matrix(x, y, kind)
            meta["%s.emd_%s" % (name, kind)] = "%.17g" % emd2(a, b, M)
        # Sinkhorn on the first cost of the instance
        kind = costs[0]
        M = tensors[name + ".cost"].astype(np.float64) if kind == "matrix" else cost_matrix(x, y, kind)
        for s, frac in enumerate(eps_fracs):
            eps = float(frac * M.mean())
            val, log = ot.sinkhorn2(a, b, M, eps, method="sinkhorn_log", stopThr=1e-12, numItermax=100000, log=True)
            assert log["err"][-1] < 1e-12, (name, eps, log["err"][-1], log["niter"])
            meta["%s.sinkhorn%d.eps" % (name, s)] = "%.17g" % eps
            meta["%s.sinkhorn%d.cost" % (name, s)] = "%.17g" % float(val)
            meta["%s.sinkhorn%d.kind" % (name, s)] = kind
        # sliced W with stored directions (float32 values, unit norm up to float32 rounding)
        dirs = rng.normal(size=(N_DIRS, d))
        dirs = (dirs / np.linalg.norm(dirs, axis=1, keepdims=True)).astype(np.float32)
        tensors[name + ".dirs"] = dirs
        proj = dirs.astype(np.float64).T  # POT's layout: [d, k]
        xs, ys = x.astype(np.float64), y.astype(np.float64)
        for p in (1, 2):
            sw = ot.sliced_wasserstein_distance(xs, ys, a, b, n_projections=N_DIRS, p=p, projections=proj)
            meta["%s.sw%d" % (name, p)] = "%.17g" % float(sw)
        print(name, {k: v for k, v in meta.items() if k.startswith(name + ".")}, file=sys.stderr)
    meta["instances"] = ",".join(names)
    write_safetensors(path, tensors, meta)


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name].astype("<f4"))
        b = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
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
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/pot_ot.safetensors")
