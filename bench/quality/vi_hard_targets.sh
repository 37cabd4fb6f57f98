#!/usr/bin/env bash
# vi_hard_targets.sh — issue 5's funnel and manywell figures (docs/vi.md, "Funnel and manywell"):
#   funnel:d=10      --flow maf:transforms=3,hidden=64x2 --objective path --steps 3000: log Z by
#                    importance sampling and the IS-weighted sd of v (truth 0 and 3) from 20000 draws;
#   manywell:d=32    the default flow, --objective path --anneal 1500 --beta0 0.1 --steps 3000: log Z
#                    from 10000 draws against 164.6957, and the forward ESS from exact draws.
# Usage: bench/quality/vi_hard_targets.sh VARFLOW OUTDIR [SEEDS]   (default seeds "1 2 3")
# Writes OUTDIR/vi_hard_targets.md. One thread per fit (about 30 s for funnel and 100 s for manywell
# on the shared 2-core machine). Needs only a POSIX shell and awk.
set -euo pipefail
V=${1:?usage: vi_hard_targets.sh VARFLOW OUTDIR [SEEDS]}
OUT=${2:?usage: vi_hard_targets.sh VARFLOW OUTDIR [SEEDS]}
SEEDS=${3:-1 2 3}
mkdir -p "$OUT"
num() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p" "$2"; }
{
    echo "| target | seed | IS log Z +- se | true log Z | abs error | IS sd of v | ESS fraction | forward ESS fraction | k-hat | seconds |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
} >"$OUT/vi_hard_targets.md"
row() { # target seed json sd
    awk -v t="$1" -v s="$2" -v z="$(num log_z "$3")" -v zs="$(num log_z_stderr "$3")" -v tz="$(num log_z_true "$3")" \
        -v ess="$(num ess_fraction "$3")" -v f="$(num forward_ess_fraction "$3")" -v k="$(num khat "$3")" \
        -v sec="$(num seconds "$3")" -v sd="$4" \
        'BEGIN { d = z - tz; if (d < 0) d = -d
                 printf "| %s | %s | %.4f +- %.4f | %.4f | %.4f | %s | %.3f | %.3f | %.2f | %.0f |\n",
                        t, s, z, zs, tz, d, sd, ess, f, k, sec }' >>"$OUT/vi_hard_targets.md"
}
for s in $SEEDS; do
    j="$OUT/funnel.seed$s.json"
    "$V" vi --target funnel:d=10 --flow maf:transforms=3,hidden=64x2 --objective path --steps 3000 --seed "$s" \
        --threads 1 --is-samples 20000 --samples "$OUT/funnel.seed$s.csv" -o "$OUT/funnel.seed$s.safetensors" --json >"$j"
    # self-normalized weighted sd of v (column 1; the last column is the log weight)
    sd=$(awk -F, '{ n++; v[n] = $1; lw[n] = $NF; if (n == 1 || $NF > mx) mx = $NF }
        END { for (i = 1; i <= n; i++) { w = exp(lw[i] - mx); sw += w; m += w * v[i] }
              m /= sw; for (i = 1; i <= n; i++) { w = exp(lw[i] - mx); q += w * (v[i] - m) ^ 2 }
              printf "%.4f", sqrt(q / sw) }' "$OUT/funnel.seed$s.csv")
    row funnel:d=10 "$s" "$j" "$sd"
    j="$OUT/manywell.seed$s.json"
    "$V" vi --target manywell:d=32 --objective path --anneal 1500 --beta0 0.1 --steps 3000 --seed "$s" --threads 1 \
        --is-samples 10000 -o "$OUT/manywell.seed$s.safetensors" --json >"$j"
    row manywell:d=32 "$s" "$j" "-"
done
cat "$OUT/vi_hard_targets.md"
