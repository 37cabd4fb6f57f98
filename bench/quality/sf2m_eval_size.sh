#!/bin/bash
# sf2m_eval_size.sh — how the [SF]2M Table 2 W2 depends on the number of evaluation points, for the
# models sf2m_table2.sh trained and for a perfect model.
#
#   bench/quality/sf2m_eval_size.sh VARFLOW OUTDIR MODELDIR [MODELDIR...]
#   SIZES="1000 2000 5000 10000" MODELS="otcfm icfm fm rf" SEEDS="1 2 3 4 5" (the defaults)
#
# For each task, model and seed whose model file TASK-MODEL-SEED.safetensors is found in a MODELDIR
# (the first one that has it), and each size n: n samples of the model (fresh source draws; 100 Euler
# steps, as in the table), n fresh rows of the target as the reference, and W2 between them by exact
# OT (`varflow eval --metric w2`). The row `exact` scores a second fresh draw of n target rows against
# the same reference: what a perfect model scores with n points a side. One JSON line per result in
# OUTDIR/eval_size.jsonl, then a table of mean +- sd over the seeds. None of these rows were used in
# training or model selection (seeds 1000 s + 7 .. 1000 s + 9; the table uses 1000 s + 1 .. + 6).
set -euo pipefail
V=${1:?usage: sf2m_eval_size.sh VARFLOW OUTDIR MODELDIR [MODELDIR...]}
OUT=${2:?usage: sf2m_eval_size.sh VARFLOW OUTDIR MODELDIR [MODELDIR...]}
shift 2
[ $# -ge 1 ] || { echo "sf2m_eval_size.sh: give at least one MODELDIR" >&2; exit 2; }
DIRS=("$@")
read -r -a SIZES <<<"${SIZES:-1000 2000 5000 10000}"
read -r -a MODELS <<<"${MODELS:-otcfm icfm fm rf}"
read -r -a SEEDS <<<"${SEEDS:-1 2 3 4 5}"
TASKS=(gaussians moons scurve 8gaussians-moons)
mkdir -p "$OUT"
RES="$OUT/eval_size.jsonl"
: >"$RES"
num() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }
w2() { "$V" eval --metric w2 "$1" "$2" --json | num value; }

for task in "${TASKS[@]}"; do
    case "$task" in
    gaussians) target=sf2m-gaussians ;; moons) target=sf2m-moons ;; scurve) target=sf2m-scurve ;;
    8gaussians-moons) target=sf2m-moons7 ;;
    esac
    for s in "${SEEDS[@]}"; do
        for n in "${SIZES[@]}"; do
            p="$OUT/$task-$s-$n"
            "$V" data "$target" -n "$n" --seed $((1000 * s + 7)) -o "$p-ref.npy" --quiet
            "$V" data "$target" -n "$n" --seed $((1000 * s + 8)) -o "$p-exact.npy" --quiet
            src=()
            if [ "$task" = 8gaussians-moons ]; then
                "$V" data sf2m-8gaussians -n "$n" --seed $((1000 * s + 9)) -o "$p-src.npy" --quiet
                src=(--source "$p-src.npy")
            fi
            printf '{"task":"%s","model":"exact","seed":%s,"n":%s,"w2":%s}\n' "$task" "$s" "$n" \
                "$(w2 "$p-exact.npy" "$p-ref.npy")" >>"$RES"
            for model in "${MODELS[@]}"; do
                m=
                for d in "${DIRS[@]}"; do
                    if [ -f "$d/$task-$model-$s.safetensors" ]; then m="$d/$task-$model-$s.safetensors"; break; fi
                done
                [ -n "$m" ] || continue
                "$V" sample --model "$m" -n "$n" "${src[@]}" --solver euler --steps 100 --threads 1 \
                    --seed $((1000 * s + 10)) -o "$p-$model.npy" --quiet
                printf '{"task":"%s","model":"%s","seed":%s,"n":%s,"w2":%s}\n' "$task" "$model" "$s" "$n" \
                    "$(w2 "$p-$model.npy" "$p-ref.npy")" >>"$RES"
            done
        done
    done
done

echo "# W2 by evaluation size: mean +- sd over seeds ${SEEDS[*]} (n = points a side)"
for task in "${TASKS[@]}"; do
    echo "## $task"
    for model in exact "${MODELS[@]}"; do
        line=$(printf '%-6s' "$model")
        for n in "${SIZES[@]}"; do
            line+=$(grep "\"task\":\"$task\",\"model\":\"$model\"," "$RES" | grep "\"n\":$n," | awk -F'[:,}]' '
                { for (i = 1; i < NF; i++) if ($i ~ /"w2"/) w = $(i + 1); k++; sw += w; sw2 += w * w }
                END { if (k == 0) { printf "  n=%s: -", N; exit }
                      m = sw / k; v = k > 1 ? (sw2 - k * m * m) / (k - 1) : 0
                      printf "  n=%s: %.3f+-%.3f", N, m, sqrt(v > 0 ? v : 0) }' N="$n")
        done
        echo "$line"
    done
done
