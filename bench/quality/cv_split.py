#!/usr/bin/python3
"""cv_split.py — K-fold cross-validation files from the training and validation rows of a split.

Usage: /usr/bin/python3 bench/quality/cv_split.py SPLIT_DIR SET [K] [SEED]

Reads SPLIT_DIR/SET-train.csv and SET-valid.csv (written by split.py; headerless CSV), pools their
rows (never the test rows), shuffles them once with numpy's default_rng(SEED) (default 0) and cuts
them into K (default 5) folds of nearly equal size. Writes SPLIT_DIR/SET-cv{k}-train.csv (all rows
but fold k) and SET-cv{k}-valid.csv (fold k) for k = 0..K-1, the rows as split.py wrote them.
"""
import sys

import numpy as np


def rows(path):
    with open(path) as f:
        return [line for line in f.read().split("\n") if line]


def main():
    if len(sys.argv) not in (3, 4, 5):
        sys.exit(__doc__.strip().splitlines()[2])
    d, name = sys.argv[1], sys.argv[2]
    k = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    pool = rows(f"{d}/{name}-train.csv") + rows(f"{d}/{name}-valid.csv")
    folds = np.array_split(np.random.default_rng(seed).permutation(len(pool)), k)
    for i, fold in enumerate(folds):
        held = set(fold.tolist())
        with open(f"{d}/{name}-cv{i}-valid.csv", "w") as f:
            f.write("".join(pool[j] + "\n" for j in fold))
        with open(f"{d}/{name}-cv{i}-train.csv", "w") as f:
            f.write("".join(pool[j] + "\n" for j in range(len(pool)) if j not in held))
    print(f"{name}: {len(pool)} training + validation rows -> {k} folds of {', '.join(str(len(f)) for f in folds)}")


if __name__ == "__main__":
    main()
