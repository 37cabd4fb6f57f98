#!/usr/bin/env bash
# real_data.sh — the real-data table of docs/quality.md: NSF and MAF fitted by `varflow fit` against
# scikit-learn's GaussianMixture (full covariance, K chosen on the validation split), test mean
# log-likelihood in nats per row, on fixed-seed 60/20/20 splits of four data sets.
#
# Usage: bench/quality/real_data.sh VARFLOW OUTDIR [DATA_DIR]
#   VARFLOW   the varflow program (a float Release build: build/varflow)
#   OUTDIR    gets the split files (split.py, seed 0), the model files and results.md
#   DATA_DIR  the shared data folder (default: ../shared/data beside the repository)
# Needs /usr/bin/python3 with numpy and scikit-learn (Debian: python3-sklearn). Fits run one at a
# time under `nice` on one thread (--threads 1); the whole table takes one to two minutes on one
# core (digits' NSF fit is most of it).
#
# One command per data set and model (below). The keys were chosen by the validation log-likelihood
# among the few alternatives listed in docs/quality.md, never by the test rows; MAF has one setting
# for all four data sets, chosen by maf_select.sh (which reproduces that choice). For digits (integer
# pixels) varflow fits the integer rows with --dequantize and both models are scored on the same
# dequantized test rows (digits-test-deq.csv, noise drawn once by split.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
V=${1:?usage: real_data.sh VARFLOW OUTDIR [DATA_DIR]}
OUT=${2:?usage: real_data.sh VARFLOW OUTDIR [DATA_DIR]}
DATA=${3:-$here/../../../shared/data}
PY=/usr/bin/python3
mkdir -p "$OUT"
"$PY" "$here/split.py" "$DATA" "$OUT" 0

# set | varflow fit options shared by both models | NSF spec and extra options | MAF spec and extra options
CONFIGS=(
    "faithful|--epochs 1000 --batch 32 --lr 1e-3 --patience 100 --seed 1|nsf:transforms=2,hidden=32x2 --weight-decay 0.1|maf:transforms=10,act=silu,base=student_t"
    "galaxies|--epochs 2000 --batch 16 --lr 1e-3 --patience 200 --seed 1|nsf|maf:transforms=10,act=silu,base=student_t"
    "digits|--epochs 200 --batch 128 --lr 1e-3 --patience 20 --seed 1 --dequantize|nsf|maf:transforms=10,act=silu,base=student_t"
    "miniboone|--epochs 300 --batch 64 --lr 1e-3 --patience 30 --seed 1|nsf|maf:transforms=10,act=silu,base=student_t"
)
num() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }

{
    echo "varflow $("$V" --version | cut -d' ' -f2), $(uname -m), $(date -u +%Y-%m-%d); test mean log-likelihood, nats per row (+- standard error)"
    echo
    echo "| data set | n train / valid / test | d | NSF | MAF | GaussianMixture (K) | fit time NSF, MAF |"
    echo "|---|---|---|---|---|---|---|"
} >"$OUT/results.md"
for cfg in "${CONFIGS[@]}"; do
    IFS='|' read -r set common nsf maf <<<"$cfg"
    test="$OUT/$set-test.csv"
    gmm_files=("$OUT/$set-train.csv" "$OUT/$set-valid.csv" "$OUT/$set-test.csv")
    if [[ $common == *--dequantize* ]]; then
        test="$OUT/$set-test-deq.csv"
        gmm_files=("$OUT/$set-train-deq.csv" "$OUT/$set-valid-deq.csv" "$OUT/$set-test-deq.csv")
    fi
    cells=()
    secs=()
    for model in "$nsf" "$maf"; do
        spec=${model%% *}
        extra=""
        [[ $model == *" "* ]] && extra=${model#* }
        name=${spec%%:*}
        cmd="fit --data $OUT/$set-train.csv --valid $OUT/$set-valid.csv --model $spec $common $extra -o $OUT/$set-$name.safetensors --threads 1"
        echo "varflow $cmd" >&2
        # shellcheck disable=SC2086
        fit=$(nice "$V" $cmd --json)
        lp=$("$V" logprob --model "$OUT/$set-$name.safetensors" --data "$test" --threads 1 --json)
        cells+=("$(printf '%.3f +- %.3f' "$(echo "$lp" | num mean_log_prob)" "$(echo "$lp" | num stderr)")")
        secs+=("$(printf '%.1f s' "$(echo "$fit" | num seconds)")")
        echo "  valid NLL $(echo "$fit" | num valid_nll), best epoch $(echo "$fit" | num best_epoch), $(echo "$fit" | num seconds) s; test mean log-likelihood $(echo "$lp" | num mean_log_prob)" >&2
    done
    gmm=$(nice "$PY" "$here/gmm_baseline.py" "${gmm_files[@]}" 10 0)
    echo "  GaussianMixture: $gmm" >&2
    rows="$(wc -l <"$OUT/$set-train.csv") / $(wc -l <"$OUT/$set-valid.csv") / $(wc -l <"$OUT/$set-test.csv")"
    d=$(head -1 "$OUT/$set-train.csv" | tr ',' '\n' | wc -l)
    printf '| %s | %s | %s | %s | %s | %.3f +- %.3f (%s) | %s, %s |\n' "$set" "$rows" "$d" "${cells[0]}" "${cells[1]}" \
        "$(echo "$gmm" | num test_ll)" "$(echo "$gmm" | num test_stderr)" "$(echo "$gmm" | num k)" \
        "${secs[0]}" "${secs[1]}" >>"$OUT/results.md"
done
cat "$OUT/results.md"
