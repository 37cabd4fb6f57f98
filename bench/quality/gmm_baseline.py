#!/usr/bin/python3
"""gmm_baseline.py — the Gaussian-mixture baseline of docs/quality.md (scikit-learn).

Usage: /usr/bin/python3 bench/quality/gmm_baseline.py TRAIN VALID TEST [KMAX] [SEED]

Fits sklearn.mixture.GaussianMixture (covariance_type="full", default reg_covar 1e-6, n_init=3,
random_state=SEED, default 0) with K = 1..KMAX (default 10) components to TRAIN, keeps the K with the
highest mean log-likelihood on VALID, and prints one JSON line: the chosen K, its mean validation and
test log-likelihoods (nats per row) and the test standard error (sample sd / sqrt(n)). K values whose
fit fails (too few rows for K components) are skipped. Files are headerless CSV.
"""
import json
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture


def main():
    if len(sys.argv) not in (4, 5, 6):
        sys.exit(__doc__.strip().splitlines()[2])
    train, valid, test = (np.loadtxt(p, delimiter=",", ndmin=2) for p in sys.argv[1:4])
    kmax = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    best = None
    scores = {}
    for k in range(1, kmax + 1):
        if k > len(train):
            break
        gm = GaussianMixture(n_components=k, covariance_type="full", n_init=3, max_iter=500, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                gm.fit(train)
            except ValueError:  # ill-defined covariance: too few rows for k components
                continue
        v = float(gm.score(valid))
        scores[k] = v
        if best is None or v > best[1]:
            best = (k, v, gm)
    k, v, gm = best
    lp = gm.score_samples(test)
    print(json.dumps({"k": k, "valid_ll": v, "test_ll": float(lp.mean()),
                      "test_stderr": float(lp.std(ddof=1) / np.sqrt(len(lp))), "n_test": len(lp),
                      "valid_ll_by_k": scores}, separators=(",", ":")))


if __name__ == "__main__":
    main()
