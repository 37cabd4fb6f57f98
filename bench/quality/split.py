#!/usr/bin/python3
"""split.py — fixed-seed train/valid/test splits of the real data sets of docs/quality.md.

Usage: /usr/bin/python3 bench/quality/split.py DATA_DIR OUT_DIR [SEED]

DATA_DIR is the shared data folder (../shared/data); SEED (default 0) seeds one numpy Generator per
data set (seed, set index). Every set is shuffled once and cut 60 / 20 / 20 into
OUT_DIR/<set>-train.csv, -valid.csv and -test.csv (no header; values as in the source file, so integer
data stays integer). For `digits` (integer pixels 0..16) it also writes <set>-{train,valid,test}-deq.csv:
the same rows plus U(0, 1) noise drawn once from the seeded generator (%.17g). varflow fits the integer
files with --dequantize (fresh noise per batch) and is scored on test-deq; the Gaussian-mixture baseline
is fitted on train-deq, chosen on valid-deq and scored on the same test-deq rows.
"""
import os
import sys

import numpy as np

# name, file under DATA_DIR, header lines to skip, columns to keep (None: all), integer data
SETS = [
    ("faithful", "r/faithful.csv", 1, None, False),
    ("galaxies", "r/galaxies.csv", 1, None, False),
    ("digits", "sklearn/digits.csv", 0, slice(0, 64), True),   # column 65 is the label: dropped
    ("miniboone", "uci/miniboone_maf_prefix.csv", 0, None, False),
]
FRACTIONS = (0.6, 0.2)  # train, valid; the rest is test


def write(path, rows, integer):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for r in rows:
            f.write(",".join(("%d" % v) if integer else ("%.17g" % v) for v in r) + "\n")
    os.replace(tmp, path)  # atomic: a half-written split never stays behind


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.strip().splitlines()[2])
    data_dir, out_dir = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) == 4 else 0
    os.makedirs(out_dir, exist_ok=True)
    for index, (name, rel, skip, cols, integer) in enumerate(SETS):
        x = np.loadtxt(os.path.join(data_dir, rel), delimiter=",", skiprows=skip, ndmin=2)
        if cols is not None:
            x = x[:, cols]
        if integer:
            assert np.all(x == np.round(x)), name
        rng = np.random.default_rng([seed, index])
        x = x[rng.permutation(len(x))]
        n_train = int(round(FRACTIONS[0] * len(x)))
        n_valid = int(round(FRACTIONS[1] * len(x)))
        parts = {"train": x[:n_train], "valid": x[n_train:n_train + n_valid], "test": x[n_train + n_valid:]}
        for part, rows in parts.items():
            write(os.path.join(out_dir, "%s-%s.csv" % (name, part)), rows, integer)
            if integer:
                write(os.path.join(out_dir, "%s-%s-deq.csv" % (name, part)), rows + rng.random(rows.shape), False)
        print("%s: %d rows x %d columns -> %d train, %d valid, %d test%s" % (
            name, len(x), x.shape[1], len(parts["train"]), len(parts["valid"]), len(parts["test"]),
            " (+ dequantized copies)" if integer else ""))


if __name__ == "__main__":
    main()
