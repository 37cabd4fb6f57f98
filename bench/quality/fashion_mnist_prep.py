#!/usr/bin/env python3
"""fashion_mnist_prep.py DATA_DIR OUT_DIR [TEST_ROWS] — the data of bench/quality/fashion_mnist.sh.

Reads Debian's dataset-fashion-mnist IDX files (DATA_DIR: /usr/share/datasets/fashion-mnist) and
writes, with numpy only:
  train_deq.npy [60000, 784] float32   pixel values 0..255 plus U(0, 1) noise (uniform dequantization,
                                       one fixed draw, seed 0)
  train_labels.npy [60000] int64
  test_deq.npy [TEST_ROWS, 784]        the first TEST_ROWS test images (default 1000), dequantized the
  test_labels.npy [TEST_ROWS]          same way (independent noise), and their labels
  grid_labels.npy [100] int64          0..9 each ten times (row k of a 10x10 grid is class k)
"""
import gzip
import sys

import numpy as np


def read_idx(path):
    with gzip.open(path) as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    test_rows = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    rng = np.random.default_rng(0)
    x = read_idx(f"{src}/train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32)
    np.save(f"{out}/train_deq.npy", x + rng.random(x.shape, dtype=np.float32))
    np.save(f"{out}/train_labels.npy", read_idx(f"{src}/train-labels-idx1-ubyte.gz").astype(np.int64))
    t = read_idx(f"{src}/t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32)
    np.save(f"{out}/test_deq.npy", (t + rng.random(t.shape, dtype=np.float32))[:test_rows])
    np.save(f"{out}/test_labels.npy", read_idx(f"{src}/t10k-labels-idx1-ubyte.gz").astype(np.int64)[:test_rows])
    np.save(f"{out}/grid_labels.npy", np.repeat(np.arange(10, dtype=np.int64), 10))


if __name__ == "__main__":
    main()
