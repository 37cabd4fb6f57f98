#!/usr/bin/env bash
# vi_grad_variance.sh — the u1 gradient-variance measurements of docs/vi.md ("Gradient variance"):
# compiles bench/quality/vi_grad_variance.c against a float Release build and runs, one thread each,
#   A  rkl and path fits (3000 steps of 512 at lr 3e-3, seeds 0..2), evaluated every 500 steps;
#   B  the same fits followed by 3000 steps at lr 3e-4 (a second cosine schedule);
#   C  rkl fits of the default flow with smooth (silu) conditioners, seeds 0..2;
#   D  one long fit of each kind (12000 steps, seed 0), evaluated every 3000 steps.
# Each evaluation: gap log Z - ELBO (20000 draws), the trace of the covariance of a 256-draw gradient
# of each estimator from 200 batches, their ratio with a 2-sigma range, and E_q|grad log q - grad log p|^2.
# Usage: bench/quality/vi_grad_variance.sh BUILD OUTDIR    (BUILD: a float Release build folder)
# About 15 minutes on the shared 2-core machine; outputs OUTDIR/{A,B,C,D}_*.log.
set -euo pipefail
B=${1:?usage: vi_grad_variance.sh BUILD OUTDIR}
OUT=${2:?usage: vi_grad_variance.sh BUILD OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
LIBS=$(PKG_CONFIG_PATH="$B" pkg-config --static --libs varflow 2>/dev/null || echo -lopenblas -lgomp -lz -lpng -lm -ldl)
cc -O2 -I"$HERE/../../include" -I"$B/include" "$HERE/vi_grad_variance.c" "$B/libvarflow.a" $LIBS -o "$OUT/vi_grad_variance"
G="$OUT/vi_grad_variance"
export OMP_NUM_THREADS=1
for fit in rkl path; do
    for seed in 0 1 2; do
        "$G" fit=$fit seed=$seed steps=3000 every=500 reps=200 >"$OUT/A_${fit}_$seed.log"
        "$G" fit=$fit seed=$seed steps=3000 polish=3000 polishlr=3e-4 every=1500 reps=200 >"$OUT/B_${fit}_$seed.log"
    done
done
for seed in 0 1 2; do
    "$G" fit=rkl seed=$seed steps=3000 reps=200 flow=nsf_coupling:transforms=8,hidden=64x2,bins=8,bound=5,act=silu \
        >"$OUT/C_silu_rkl_$seed.log"
done
for fit in rkl path; do
    "$G" fit=$fit seed=0 steps=12000 every=3000 reps=200 >"$OUT/D_${fit}_0.log"
done
grep -H "step" "$OUT"/*.log
