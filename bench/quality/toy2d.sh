#!/usr/bin/env bash
# toy2d.sh — the 2-D quality targets of docs/quality.md: the `nsf` preset with its defaults, fitted by
# `varflow fit` to checkerboard and 8gaussians (FFJORD definitions), judged by the mean NLL of a held-out
# test split against the data's entropy (checkerboard log 32 = 3.466 nats, 8gaussians about 2.838).
#
# Usage: bench/quality/toy2d.sh VARFLOW OUTDIR [full|ci] [SEED...]
#   full (default): 50000 train, 10000 valid, 100000 test rows; 40 epochs at batch 256, lr 3e-3
#   ci:             the setting of tests/test_quality_2d.c: 20000 / 5000 / 20000 rows, 4000 steps at
#                   batch 256, lr 3e-3
#   SEED...         fit seeds (default 1 2 3 4 5); seed s draws train/valid/test with data seeds
#                   100 + s, 200 + s, 300 + s (independent streams) and fits with --seed s
# MODEL (environment, default nsf) names another --model spec, for comparing settings.
# Prints one line per data set and seed (test NLL, its standard error, validation NLL, seconds), then
# the mean and the sample standard deviation over the seeds. Fits run one at a time under `nice`.
set -euo pipefail
V=${1:?usage: toy2d.sh VARFLOW OUTDIR [full|ci] [SEED...]}
OUT=${2:?usage: toy2d.sh VARFLOW OUTDIR [full|ci] [SEED...]}
MODE=${3:-full}
shift $(($# < 3 ? $# : 3))
SEEDS=("$@")
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(1 2 3 4 5)
case "$MODE" in
full) NT=50000 NV=10000 NTEST=100000 LEN="--epochs 40" ;;
ci) NT=20000 NV=5000 NTEST=20000 LEN="--steps 4000" ;;
*) echo "toy2d.sh: mode must be full or ci, not '$MODE'" >&2; exit 2 ;;
esac
MODEL=${MODEL:-nsf}
mkdir -p "$OUT"
num() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }

echo "# varflow $("$V" --version | cut -d' ' -f2), mode $MODE: $NT/$NV/$NTEST rows, $LEN --batch 256 --lr 3e-3, model $MODEL"
printf '%-13s %5s %10s %8s %10s %8s\n' set seed test_nll stderr valid_nll seconds
for set in checkerboard 8gaussians; do
    vals=()
    for s in "${SEEDS[@]}"; do
        p="$OUT/$set-$s"
        "$V" data "$set" -n $NT --seed $((100 + s)) -o "$p-train.npy" --quiet
        "$V" data "$set" -n $NV --seed $((200 + s)) -o "$p-valid.npy" --quiet
        "$V" data "$set" -n $NTEST --seed $((300 + s)) -o "$p-test.npy" --quiet
        # shellcheck disable=SC2086
        fit=$(nice "$V" fit --data "$p-train.npy" --valid "$p-valid.npy" --model "$MODEL" $LEN --batch 256 \
            --lr 3e-3 --seed "$s" --json -o "$p.safetensors")
        lp=$("$V" logprob --model "$p.safetensors" --data "$p-test.npy" --json)
        nll=$(echo "$lp" | num mean_log_prob | sed 's/^-//')
        printf '%-13s %5s %10.4f %8.4f %10.4f %8.1f\n' "$set" "$s" "$nll" "$(echo "$lp" | num stderr)" \
            "$(echo "$fit" | num valid_nll)" "$(echo "$fit" | num seconds)"
        vals+=("$nll")
    done
    printf '%s\n' "${vals[@]}" | awk -v set="$set" '{s += $1; q += $1 * $1; n++}
        END {m = s / n; sd = n > 1 ? sqrt((q - n * m * m) / (n - 1)) : 0;
             printf "%-13s  mean %.4f  sd %.4f  over %d seeds\n", set, m, sd, n}'
done
