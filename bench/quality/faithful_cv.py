#!/usr/bin/python3
"""faithful_cv.py — repeated cross-validation of flow settings on the training + validation rows of a
split (never its test rows), scored per row, with paired standard errors against a reference setting
and against the Gaussian-mixture baseline.

Usage: /usr/bin/python3 bench/quality/faithful_cv.py VARFLOW SPLIT_DIR WORK_DIR CANDIDATES [options]

  VARFLOW     the varflow program
  SPLIT_DIR   holds SET-train.csv and SET-valid.csv (split.py); SET-test.csv is never opened
  WORK_DIR    fold files, models, per-row scores (a cache: scores already there are not refitted)
  CANDIDATES  a text file, one candidate a line: `SPEC [extra varflow fit options]`; the first line
              is the reference the differences are taken against; `#` starts a comment
Options:
  --set NAME        data set (default faithful)
  --common "OPTS"   varflow fit options shared by all candidates (default: real_data.sh's faithful
                    options without the seed: --epochs 1000 --batch 32 --lr 1e-3 --patience 100;
                    a candidate's own options come after them, so they override)
  --repeats R       fold seeds 0..R-1 (default 5); repeat r fits with --seed r+1
  --folds F         folds per repeat (default 5)
  --scheme S        nested (default): for fold k, fold k is scored, fold (k+1) mod F is --valid
                    (early stopping, best epoch kept) and the other F-2 folds are the training rows:
                    the train / valid / test protocol of real_data.sh in miniature (60 / 20 / 20 %),
                    so the scored rows take no part in the choice of the epoch (or of the mixture's K).
                    same: maf_select.sh's scheme: train on F-1 folds, fold k is both --valid and scored
  --markdown FILE   also write the table as Markdown
  --json FILE       also write {"candidate": CV NLL, ...} (failed candidates left out, the mixture
                    as "GaussianMixture"), in the order of the table

The Gaussian mixture is gmm_baseline.py's (full covariance, n_init 3, K = 1..10 fitted to the training
rows, K chosen on the --valid fold, random_state r) and is scored on the same rows.

Per candidate it prints the mean held-out NLL over all R x n row scores (nats per row, lower is
better), the sd of the R repeat means, and the differences to the reference and to the mixture
(candidate NLL minus other NLL: negative = candidate better) with two standard errors: `rep`, the sd
of the R per-repeat mean differences / sqrt(R) (fold and initialization noise of the CV estimate), and
`row`, the sd over the n rows of each row's difference averaged over the repeats / sqrt(n) (how much
the difference would vary with another sample of rows from the same population).
"""
import argparse
import json
import math
import os
import statistics as st
import subprocess
import sys
import warnings

import numpy as np


def rows(path):
    with open(path) as f:
        return [line for line in f.read().split("\n") if line]


def write_rows(path, lines):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    os.replace(tmp, path)


def folds_of(n, F, seed):
    return np.array_split(np.random.default_rng(seed).permutation(n), F)


def roles(F, k, scheme):
    """(train folds, valid fold, scored fold) for fold k"""
    if scheme == "nested":
        v = (k + 1) % F
        return [j for j in range(F) if j not in (k, v)], v, k
    return [j for j in range(F) if j != k], k, k


def make_files(pool, work, name, F, r, scheme):
    folds = folds_of(len(pool), F, r)
    out = []
    for k in range(F):
        tr, v, s = roles(F, k, scheme)
        base = os.path.join(work, f"{name}-{scheme}-r{r}-k{k}")
        paths = (base + "-train.csv", base + "-valid.csv", base + "-score.csv")
        if not all(os.path.exists(p) for p in paths):
            write_rows(paths[0], [pool[i] for j in tr for i in folds[j]])
            write_rows(paths[1], [pool[i] for i in folds[v]])
            write_rows(paths[2], [pool[i] for i in folds[s]])
        out.append((paths, folds[s].tolist()))
    return out


def load_cache(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {}


def save_cache(path, cache):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cache, f)
    os.replace(tmp, path)


def fit_score(varflow, paths, spec_line, common, seed, work):
    spec, *extra = spec_line.split()
    model = os.path.join(work, "cv-model.safetensors")
    lp_file = os.path.join(work, "cv-lp.csv")
    cmd = [varflow, "fit", "--data", paths[0], "--valid", paths[1], "--model", spec, *common.split(), *extra,
           "--seed", str(seed), "--threads", "1", "-o", model, "--json", "--quiet"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(run.stderr.strip())
    fit = json.loads(run.stdout)
    subprocess.run([varflow, "logprob", "--model", model, "--data", paths[2], "--threads", "1", "-o", lp_file,
                    "--json", "--quiet"], check=True, capture_output=True, text=True)
    lp = np.loadtxt(lp_file, delimiter=",", ndmin=1).reshape(-1)
    return lp.tolist(), fit


def gmm_score(paths, seed):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture
    train, valid, score = (np.loadtxt(p, delimiter=",", ndmin=2) for p in paths)
    best = None
    for k in range(1, 11):
        gm = GaussianMixture(n_components=k, covariance_type="full", n_init=3, max_iter=500, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                gm.fit(train)
            except ValueError:
                continue
        v = float(gm.score(valid))
        if best is None or v > best[0]:
            best = (v, k, gm)
    return best[2].score_samples(score).tolist(), best[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("varflow")
    ap.add_argument("split_dir")
    ap.add_argument("work")
    ap.add_argument("candidates")
    ap.add_argument("--set", default="faithful")
    ap.add_argument("--common", default="--epochs 1000 --batch 32 --lr 1e-3 --patience 100")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--scheme", choices=("nested", "same"), default="nested")
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    pool = rows(os.path.join(a.split_dir, f"{a.set}-train.csv")) + rows(os.path.join(a.split_dir, f"{a.set}-valid.csv"))
    n = len(pool)
    cands = []
    with open(a.candidates) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                cands.append(" ".join(line.split()))
    cache_path = os.path.join(a.work, f"cache-{a.set}-{a.scheme}-F{a.folds}.json")
    cache = load_cache(cache_path)
    files = {r: make_files(pool, a.work, a.set, a.folds, r, a.scheme) for r in range(a.repeats)}

    # lp[name] : array [R, n] of held-out log-densities (row index into the pool)
    lp = {}
    failed = {}
    for name in ["GaussianMixture"] + cands:
        arr = np.full((a.repeats, n), np.nan)
        for r in range(a.repeats):
            for k, (paths, idx) in enumerate(files[r]):
                if name in failed:
                    break
                key = f"{name}|{a.common}|r{r}|k{k}" if name != "GaussianMixture" else f"{name}|r{r}|k{k}"
                if key not in cache:
                    if name == "GaussianMixture":
                        v, K = gmm_score(paths, r)
                        cache[key] = {"lp": v, "k": K}
                    else:
                        try:
                            v, fit = fit_score(a.varflow, paths, name, a.common, r + 1, a.work)
                        except RuntimeError as e:  # a fit that fails is reported, not retried
                            failed[name] = f"repeat {r}, fold {k}: {e}"
                            print(f"{name}: failed ({failed[name]})", file=sys.stderr, flush=True)
                            break
                        cache[key] = {"lp": v, "valid_nll": fit["valid_nll"], "best_epoch": fit["best_epoch"],
                                      "seconds": fit["seconds"]}
                    save_cache(cache_path, cache)
                arr[r, idx] = cache[key]["lp"]
        if name in failed:
            continue
        lp[name] = arr
        print(f"{name}: {-arr.mean():.4f}", file=sys.stderr, flush=True)

    def diff(x, y):
        d = -(lp[x] - lp[y])  # NLL difference per (repeat, row)
        rep = d.mean(axis=1)
        se_rep = st.stdev(rep) / math.sqrt(len(rep)) if len(rep) > 1 else float("nan")
        per_row = d.mean(axis=0)
        se_row = st.stdev(per_row) / math.sqrt(n)
        return d.mean(), se_rep, se_row

    ref = cands[0]
    lines = [f"{a.set}: {n} training + validation rows, {a.folds} folds x {a.repeats} repeats, scheme {a.scheme}; "
             f"common options `{a.common}`",
             "",
             "| candidate | CV NLL | sd of repeats | minus reference (se rep, se row) | minus mixture (se rep, se row) |",
             "|---|---|---|---|---|"]
    for name in cands + ["GaussianMixture"]:
        if name in failed:
            lines.append(f"| `{name}` | failed: {failed[name]} | | | |")
            continue
        arr = -lp[name]
        reps = arr.mean(axis=1)
        sd = st.stdev(reps) if len(reps) > 1 else float("nan")
        cells = [f"`{name}`" if name != "GaussianMixture" else "GaussianMixture (K on the valid fold)",
                 f"{arr.mean():.4f}", f"{sd:.4f}"]
        for other in (ref, "GaussianMixture"):
            if other == name:
                cells.append("-")
            else:
                m, s1, s2 = diff(name, other)
                cells.append(f"{m:+.4f} ({s1:.4f}, {s2:.4f})")
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({name: float(-lp[name].mean()) for name in cands + ["GaussianMixture"] if name in lp}, f, indent=1)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
