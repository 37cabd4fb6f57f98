#!/usr/bin/env bash
# run_embed_model.sh — the test of examples/embed_model.c: fit a small flow with `varflow fit`, run the
# example on it, and check that its log-densities are those `varflow logprob` gives for the same rows.
# Usage: run_embed_model.sh PATH/TO/varflow PATH/TO/example_embed_model
set -u
V=${1:?usage: run_embed_model.sh VARFLOW EMBED_MODEL}
E=${2:?usage: run_embed_model.sh VARFLOW EMBED_MODEL}
. "$(dirname "$0")/harness.sh"
die() { bad "$*"; finish; }

"$V" data moons -n 1000 --seed 1 -o "$T/moons.csv" --quiet || die "varflow data"
"$V" fit --data "$T/moons.csv" --model realnvp:transforms=4,hidden=32x2 --epochs 5 -o "$T/m.safetensors" \
    --quiet || die "varflow fit"
out=$("$E" "$T/m.safetensors") || die "embed_model exited $?: $out"
echo "$out"
grep -q "sampling vs evaluation: .* (ok)" <<<"$out" || die "no sampling/evaluation agreement line"
# The example's log p of (0, 0), (0.5, 0), (1, 0), (1.5, 0) agree with varflow logprob's.
printf 'x0,x1\n0,0\n0.5,0\n1,0\n1.5,0\n' >"$T/pts.csv"
"$V" logprob --model "$T/m.safetensors" --data "$T/pts.csv" -o "$T/lp.csv" --quiet || die "varflow logprob"
mine=$(sed -n 's/^log p(x0 = .*) = //p' <<<"$out")
theirs=$(grep -E '^-?[0-9]' "$T/lp.csv")
paste <(echo "$mine") <(echo "$theirs") | awk 'NF != 2 { bad = 1 }
    { d = $1 - $2; if (d < 0) d = -d; if (d > 1e-3 * (1 + ($2 < 0 ? -$2 : $2))) bad = 1 }
    END { exit bad || NR != 4 }' || die "embed_model's log-densities differ from varflow logprob's: $mine / $theirs"
ok
finish
