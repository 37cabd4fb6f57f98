#!/usr/bin/env bash
# maf_select.sh — how the MAF setting of the real-data table in docs/quality.md was chosen (without
# the test rows), and the seed study of faithful with it.
#
# Usage: bench/quality/maf_select.sh VARFLOW OUTDIR [DATA_DIR]
#   VARFLOW   the varflow program (a float Release build: build/varflow)
#   OUTDIR    gets the split files (split.py, seed 0, as real_data.sh), faithful's folds, the models
#             and maf_select.md
#   DATA_DIR  the shared data folder (default: ../shared/data beside the repository)
# Needs /usr/bin/python3 with numpy and scikit-learn. Fits run one at a time under `nice` on one
# thread; the whole script takes about six minutes on one core.
#
# 1. faithful: its validation split has 54 rows, too few to rank MAF settings (their validation NLLs
#    differ by hundredths of a nat, less than the seed-to-seed noise). Each candidate is scored by
#    5-fold cross-validation on the 217 training + validation rows (cv_split.py, seed 0; the test
#    rows are never read): fit on four folds with the fifth as --valid (early stopping, best epoch
#    kept), take that fold's best validation NLL; the score is the mean over the 217 held-out rows,
#    averaged over fit seeds 1, 2, 3. The Gaussian mixture's 5-fold score (K chosen on each held-out
#    fold) is printed beside them.
# 2. One setting for all four data sets: the candidates of COMMON_SETTINGS are fitted to galaxies,
#    digits (dequantized) and the MINIBOONE prefix with real_data.sh's options and seeds 1, 2, 3, and
#    scored by their best validation NLL (mean over seeds; faithful: its score from step 1). The
#    chosen setting has the lowest sum of the four scores (nats).
# 3. The chosen setting is fitted to faithful's standard split with seeds 1..5 and scored on the test
#    rows, beside the Gaussian mixture (gmm_baseline.py) with random_state 0..4.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
V=${1:?usage: maf_select.sh VARFLOW OUTDIR [DATA_DIR]}
OUT=${2:?usage: maf_select.sh VARFLOW OUTDIR [DATA_DIR]}
DATA=${3:-$here/../../../shared/data}
PY=/usr/bin/python3
mkdir -p "$OUT"
"$PY" "$here/split.py" "$DATA" "$OUT" 0 >/dev/null
"$PY" "$here/cv_split.py" "$OUT" faithful 5 0 >/dev/null

# real_data.sh's options per data set (without --seed)
declare -A OPTS=(
    [faithful]="--epochs 1000 --batch 32 --lr 1e-3 --patience 100"
    [galaxies]="--epochs 2000 --batch 16 --lr 1e-3 --patience 200"
    [digits]="--epochs 200 --batch 128 --lr 1e-3 --patience 20 --dequantize"
    [miniboone]="--epochs 300 --batch 64 --lr 1e-3 --patience 30"
)
# faithful candidates: spec | extra fit options
FAITHFUL_CANDIDATES=(
    "maf|"
    "maf:base=student_t|"
    "maf:transforms=10|"
    "maf:transforms=10,hidden=32x2|"
    "maf:transforms=5,hidden=32x2|--weight-decay 0.01"
    "maf:transforms=10,hidden=32x2,residual=1|"
    "maf:transforms=10,hidden=32x2,base=student_t|"
    "maf:transforms=10,hidden=32x2,act=silu|"
    "maf:transforms=10,act=silu|"
    "maf:transforms=10,act=silu,base=student_t|"
    "maf:transforms=10,hidden=32x2,act=silu,base=mixture|"
    "maf:transforms=15,hidden=32x2,act=silu,base=mixture|"
)
# candidates for the one setting of every data set (each also in FAITHFUL_CANDIDATES, no extra options)
COMMON_SETTINGS=(
    "maf"
    "maf:base=student_t"
    "maf:transforms=10,act=silu"
    "maf:transforms=10,act=silu,base=student_t"
    "maf:transforms=10,hidden=32x2,act=silu,base=mixture"
)
SEEDS=(1 2 3)
num() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }
rows() { wc -l <"$1"; }
mean() { "$PY" -c 'import sys, statistics as s; print("%.6f" % s.mean(float(a) for a in sys.argv[1:]))' "$@"; }
# fit SET_PREFIX SPEC "EXTRA" SEED SET: the best validation NLL of one fit
fit() {
    # shellcheck disable=SC2086
    nice "$V" fit --data "$OUT/$1-train.csv" --valid "$OUT/$1-valid.csv" --model "$2" ${OPTS[$5]} $3 --seed "$4" \
        --threads 1 -o "$OUT/select.safetensors" --json --quiet | num valid_nll
}
# cv SPEC "EXTRA" SEED: faithful's held-out NLL over the 5 folds, weighted by fold size
cv() {
    local sum=0 k
    for k in 0 1 2 3 4; do
        sum=$(echo "$sum + $(rows "$OUT/faithful-cv$k-valid.csv") * $(fit "faithful-cv$k" "$1" "$2" "$3" faithful)" | bc -l)
    done
    echo "$sum / 217" | bc -l
}
R=$OUT/maf_select.md

{
    echo "## 1. faithful: 5-fold cross-validated NLL of MAF settings"
    echo
    echo "nats per row (lower is better) on the 217 training + validation rows; fit seeds 1, 2, 3 and their mean"
    echo
    echo "| spec | extra options | seed 1 | seed 2 | seed 3 | mean |"
    echo "|---|---|---|---|---|---|"
} >"$R"
declare -A SCORE
for c in "${FAITHFUL_CANDIDATES[@]}"; do
    IFS='|' read -r spec extra <<<"$c"
    s=()
    for seed in "${SEEDS[@]}"; do s+=("$(cv "$spec" "$extra" "$seed")"); done
    m=$(mean "${s[@]}")
    [[ -z $extra ]] && SCORE[$spec]=$m
    # shellcheck disable=SC2016  # the backticks are Markdown
    printf '| `%s` | %s | %.4f | %.4f | %.4f | %.4f |\n' "$spec" "${extra:--}" "${s[@]}" "$m" | tee -a "$R" >&2
done
gsum=0
for k in 0 1 2 3 4; do
    g=$("$PY" "$here/gmm_baseline.py" "$OUT/faithful-cv$k-train.csv" "$OUT/faithful-cv$k-valid.csv" \
        "$OUT/faithful-cv$k-valid.csv" 10 0)
    gsum=$(echo "$gsum + $(rows "$OUT/faithful-cv$k-valid.csv") * $(echo "$g" | num test_ll)" | bc -l)
done
printf '| GaussianMixture (K chosen on each held-out fold) | | | | | %.4f |\n' "$(echo "-($gsum) / 217" | bc -l)" \
    | tee -a "$R" >&2

{
    echo
    echo "## 2. One setting for every data set: validation NLL"
    echo
    echo "nats per row, mean over fit seeds 1, 2, 3 (faithful: its 5-fold score above); lower is better"
    echo
    echo "| spec | faithful (5-fold) | galaxies | digits | miniboone | sum |"
    echo "|---|---|---|---|---|---|"
} >>"$R"
best=""
best_sum=""
for spec in "${COMMON_SETTINGS[@]}"; do
    cells=("${SCORE[$spec]}")
    for set in galaxies digits miniboone; do
        s=()
        for seed in "${SEEDS[@]}"; do s+=("$(fit "$set" "$spec" "" "$seed" "$set")"); done
        cells+=("$(mean "${s[@]}")")
    done
    sum=$(echo "${cells[0]} + ${cells[1]} + ${cells[2]} + ${cells[3]}" | bc -l)
    # shellcheck disable=SC2016  # the backticks are Markdown
    printf '| `%s` | %.4f | %.4f | %.4f | %.4f | %.4f |\n' "$spec" "${cells[@]}" "$sum" | tee -a "$R" >&2
    if [[ -z $best ]] || (($(echo "$sum < $best_sum" | bc -l))); then
        best=$spec
        best_sum=$sum
    fi
done

{
    echo
    echo "## 3. faithful seed study of the chosen setting \`$best\`"
    echo
    echo "test mean log-likelihood, nats per row (higher is better), +- standard error"
    echo
    echo "| fit seed | MAF valid NLL | MAF test | GaussianMixture test, random_state = seed - 1 (K) |"
    echo "|---|---|---|---|"
} >>"$R"
ms=()
gs=()
for seed in 1 2 3 4 5; do
    # shellcheck disable=SC2086
    r=$(nice "$V" fit --data "$OUT/faithful-train.csv" --valid "$OUT/faithful-valid.csv" --model "$best" \
        ${OPTS[faithful]} --seed "$seed" --threads 1 -o "$OUT/faithful-maf-s$seed.safetensors" --json --quiet)
    lp=$("$V" logprob --model "$OUT/faithful-maf-s$seed.safetensors" --data "$OUT/faithful-test.csv" --threads 1 --json)
    g=$("$PY" "$here/gmm_baseline.py" "$OUT/faithful-train.csv" "$OUT/faithful-valid.csv" "$OUT/faithful-test.csv" \
        10 $((seed - 1)))
    ms+=("$(echo "$lp" | num mean_log_prob)")
    gs+=("$(echo "$g" | num test_ll)")
    printf '| %d | %.4f | %.3f +- %.3f | %.3f +- %.3f (%s) |\n' "$seed" "$(echo "$r" | num valid_nll)" \
        "${ms[-1]}" "$(echo "$lp" | num stderr)" "${gs[-1]}" "$(echo "$g" | num test_stderr)" "$(echo "$g" | num k)" \
        | tee -a "$R" >&2
done
stats() { "$PY" -c 'import sys, statistics as s; v = [float(a) for a in sys.argv[1:]]; print("%.3f (sd %.3f; %.3f .. %.3f)" % (s.mean(v), s.stdev(v), min(v), max(v)))' "$@"; }
printf '| mean (sd over seeds; range) | | %s | %s |\n' "$(stats "${ms[@]}")" "$(stats "${gs[@]}")" >>"$R"
cat "$R"
