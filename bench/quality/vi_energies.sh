#!/usr/bin/env bash
# vi_energies.sh — the u1..u4 figures of the VI issue (docs/vi.md, "Measured"): `varflow vi` with its
# default flow (nsf_coupling:transforms=8,hidden=64x2,bins=8,bound=5; u2..u4 through the default
# --box 4) for each energy and each seed, then a table of the reverse-KL gap log Z - ELBO (ELBO from
# 20000 fresh draws, with its standard error) and the importance-sampling log Z against the truth.
#
# Usage: bench/quality/vi_energies.sh VARFLOW OUTDIR [SEEDS] [EXTRA OPTIONS...]
#   VARFLOW   the varflow program (a float Release build: build/varflow)
#   OUTDIR    gets one JSON result and model per (target, seed), and vi_energies.md
#   SEEDS     space-separated seeds in one argument (default "0 1 2")
#   EXTRA     further `varflow vi` options (default: --steps 3000 --batch 512 --lr 3e-3)
# TARGETS (environment) picks the energies (default "u1 u2 u3 u4"); the table is OUTDIR/vi_energies.md.
# Fits run one at a time on one thread (about 15 to 30 s each on the shared 2-core machine).
# Needs only a POSIX shell and awk.
set -euo pipefail
V=${1:?usage: vi_energies.sh VARFLOW OUTDIR [SEEDS] [EXTRA OPTIONS...]}
OUT=${2:?usage: vi_energies.sh VARFLOW OUTDIR [SEEDS] [EXTRA OPTIONS...]}
SEEDS=${3:-0 1 2}
shift 2
[ $# -gt 0 ] && shift
EXTRA=("$@")
[ ${#EXTRA[@]} -eq 0 ] && EXTRA=(--steps 3000 --batch 512 --lr 3e-3)
mkdir -p "$OUT"
num() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p" "$2"; }
{
    echo "| target | seed | loss (last 100 steps) | ELBO +- se | gap log Z - ELBO | IS log Z +- se | true log Z | ESS fraction | k-hat | seconds |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
} >"$OUT/vi_energies.md"
for t in ${TARGETS:-u1 u2 u3 u4}; do
    for s in $SEEDS; do
        j="$OUT/$t.seed$s.json"
        "$V" vi --target "$t" --seed "$s" --threads 1 --is-samples 20000 "${EXTRA[@]}" -o "$OUT/$t.seed$s.safetensors" \
            --json >"$j"
        awk -v t="$t" -v s="$s" -v loss="$(num loss "$j")" -v e="$(num elbo "$j")" -v es="$(num elbo_stderr "$j")" \
            -v z="$(num log_z "$j")" -v zs="$(num log_z_stderr "$j")" -v tz="$(num log_z_true "$j")" \
            -v ess="$(num ess_fraction "$j")" -v k="$(num khat "$j")" -v sec="$(num seconds "$j")" \
            'BEGIN { printf "| %s | %s | %.4f | %.4f +- %.4f | %.4f | %.4f +- %.4f | %.4f | %.3f | %.2f | %.1f |\n",
                     t, s, loss, e, es, tz - e, z, zs, tz, ess, k, sec }' >>"$OUT/vi_energies.md"
    done
done
cat "$OUT/vi_energies.md"
