#!/usr/bin/env bash
# test_cnf_resume.sh — `varflow fit --checkpoint / --checkpoint-every / --stop-after / --resume /
# --dequantize` for continuous flows: a run cut in two by --stop-after and --resume writes the same
# model file byte for byte and the same log lines as the uninterrupted run (cfm, meanflow with labels,
# a dequantized fit, data on a box); --resume without --model takes the checkpoint's; the checkpoint is a model that
# sample, logprob and info read; --checkpoint-every; a divergence leaves the last checkpoint as it was;
# each mismatched resume (--model, --seed, --batch, --dequantize, --no-standardize, --labels,
# --source, --box, the data) and each bad option is one clear error line.
# Usage: test_cnf_resume.sh PATH/TO/varflow
set -u
V=${1:?usage: test_cnf_resume.sh PATH/TO/varflow}
. "$(dirname "$0")/harness.sh"


run() { if "$V" "$@" >"$T/out" 2>"$T/err"; then ok; else bad "varflow $*: exit $?: $(cat "$T/err")"; fi; }
# The log without its "seconds" (timings differ between runs).
timeless() { sed 's/"seconds":[0-9.]*//' "$1"; }

"$V" data moons -n 700 --seed 1 -o "$T/moons.csv" >/dev/null || bad "data moons"
awk -F, '{ print ($1 > 0) ? 1 : 0 }' "$T/moons.csv" >"$T/labels.csv"
awk -F, '{ printf "%d,%d\n", int(3 * $1 + 10.5) - 10, int(3 * $2 + 10.5) - 10 }' "$T/moons.csv" >"$T/ints.csv"

# split_run TAG ARGS...: 6 epochs in one run against 3 + 3 with a checkpoint between (the resumed run
# without --model), the first half's log holding what a crash after the checkpoint leaves.
split_run() {
    local tag=$1
    shift
    run fit "$@" --epochs 6 --batch 64 --seed 4 --log "$T/full.log" -o "$T/full.safetensors"
    run fit "$@" --epochs 6 --batch 64 --seed 4 --log "$T/split.log" --checkpoint "$T/ck.safetensors" --stop-after 3 \
        --json -o "$T/half.safetensors"
    grep -q '"epochs":3,.*"paused":true' "$T/out" && ok || bad "$tag: the first half: $(cat "$T/out")"
    local args=() skip=0
    for a in "$@"; do # the same options without --model SPEC
        if [ "$skip" = 1 ]; then skip=0; elif [ "$a" = --model ]; then skip=1; else args+=("$a"); fi
    done
    # what a run killed after its epoch-3 checkpoint leaves in the log: later lines and a cut one
    sed -n 4,5p "$T/full.log" >>"$T/split.log"
    printf '{"epoch":6,"st' >>"$T/split.log"
    run fit "${args[@]}" --epochs 6 --batch 64 --seed 4 --log "$T/split.log" --resume "$T/ck.safetensors" \
        --checkpoint "$T/ck.safetensors" --json -o "$T/split.safetensors"
    grep -q '"epochs":6,.*"paused":false' "$T/out" && ok || bad "$tag: the second half: $(cat "$T/out")"
    cmp -s "$T/full.safetensors" "$T/split.safetensors" && ok || bad "$tag: the model files differ"
    [ "$(timeless "$T/full.log")" = "$(timeless "$T/split.log")" ] && ok ||
        bad "$tag: the logs differ: $(timeless "$T/full.log") --- $(timeless "$T/split.log")"
    [ "$(wc -l <"$T/split.log")" = 6 ] && ok || bad "$tag: $(wc -l <"$T/split.log") log lines"
}

split_run cfm --data "$T/moons.csv" --model cfm:hidden=16x2
split_run "meanflow with labels" --data "$T/moons.csv" --model meanflow:hidden=16x2 --labels "$T/labels.csv"
split_run dequantized --data "$T/ints.csv" --model otcfm:hidden=16x2 --dequantize
"$V" info "$T/split.safetensors" >"$T/info" 2>&1 && grep -q "fit.dequantize: 1" "$T/info" && ok ||
    bad "info: no fit.dequantize: $(cat "$T/info")"

# The checkpoint is a model file: sample, logprob and info read it.
run sample --model "$T/ck.safetensors" -n 20 --seed 1 -o "$T/s.csv"
[ "$(wc -l <"$T/s.csv")" = 20 ] && ok || bad "sample from the checkpoint: $(wc -l <"$T/s.csv") rows"
run logprob --model "$T/ck.safetensors" --data "$T/ints.csv" --json
grep -q '"mean_log_prob":-\?[0-9]' "$T/out" && ok || bad "logprob of the checkpoint: $(cat "$T/out")"
"$V" info "$T/ck.safetensors" >"$T/info" 2>&1 && grep -q "a checkpoint" "$T/info" && grep -q "fit.resume.epoch: 6" "$T/info" &&
    ok || bad "info of the checkpoint: $(cat "$T/info")"

split_run "on a box" --data "$T/moons.csv" --model cfm:hidden=16x2 --box -4,4
expect_error 1 "fitted with another box, this run has one" fit --data "$T/moons.csv" --epochs 6 --batch 64 --seed 4 \
    --box -4,5 --resume "$T/ck.safetensors" -o "$T/r.safetensors"
expect_error 1 "fitted with a box, this run has none" fit --data "$T/moons.csv" --epochs 6 --batch 64 --seed 4 \
    --resume "$T/ck.safetensors" -o "$T/r.safetensors"

# --checkpoint-every 2 over 5 epochs: written after epochs 2 and 4.
run fit --data "$T/moons.csv" --model cfm:hidden=8 --epochs 5 --batch 128 --patience 0 --checkpoint "$T/every.safetensors" \
    --checkpoint-every 2 -o "$T/e.safetensors"
"$V" info "$T/every.safetensors" 2>&1 | grep -q "fit.resume.epoch: 4" && ok || bad "--checkpoint-every 2: not epoch 4"

# A divergence (--lr 1e100: the parameters reach about 1e100 in one step and the loss overflows)
# stops with a message naming the checkpoint, which is left byte for byte as it was.
C="--data $T/moons.csv --model cfm:hidden=16x2 --epochs 8 --batch 128 --seed 2"
run fit $C --checkpoint "$T/good.safetensors" --stop-after 2 -o "$T/m.safetensors"
cp "$T/good.safetensors" "$T/before.safetensors"
expect_error 1 "diverged.*good.safetensors is unchanged" fit $C --lr 1e100 --resume "$T/good.safetensors" \
    --checkpoint "$T/good.safetensors" -o "$T/m2.safetensors"
cmp -s "$T/good.safetensors" "$T/before.safetensors" && ok || bad "the checkpoint changed after a divergence"
[ ! -e "$T/m2.safetensors" ] && ok || bad "a diverged run wrote its model"

# Mismatched resumes: one error each.
R="--resume $T/good.safetensors -o $T/r.safetensors"
expect_error 1 "is a 'cfm:hidden=16x2' model, not --model otcfm" fit $C --model otcfm $R
expect_error 1 "not --model maf" fit $C --model maf $R
expect_error 1 "--seed 2, this run has 9" fit $C --seed 9 $R
expect_error 1 "--batch 128, this run has 64" fit $C --batch 64 $R
expect_error 1 "made without --dequantize" fit --data "$T/ints.csv" --model cfm:hidden=16x2 --epochs 8 --batch 128 --seed 2 \
    --dequantize $R
expect_error 1 "made without --no-standardize" fit $C --no-standardize $R
expect_error 1 "0 class labels, this run has 2" fit $C --labels "$T/labels.csv" $R
expect_error 1 "without a data source" fit $C --source "$T/moons.csv" $R
expect_error 1 "fitted without a box, this run has one" fit $C --box -4,4 $R
head -n 300 "$T/moons.csv" >"$T/short.csv"
expect_error 1 "trained on 630 rows, this run has 270" fit --data "$T/short.csv" --model cfm:hidden=16x2 --batch 128 --seed 2 $R
expect_error 1 "not a checkpoint" fit $C --resume "$T/m.safetensors" -o "$T/r.safetensors"
expect_error 1 "missing.safetensors" fit $C --resume "$T/missing.safetensors" -o "$T/r.safetensors"
expect_error 2 "--checkpoint" fit $C --stop-after 2 -o "$T/r.safetensors"
expect_error 2 "--checkpoint-every" fit $C --checkpoint "$T/c2.safetensors" --checkpoint-every 0 -o "$T/r.safetensors"
expect_error 1 "--dequantize needs integer data; row 1 column 1" fit $C --dequantize -o "$T/r.safetensors"
[ ! -e "$T/r.safetensors" ] && ok || bad "a failed run wrote its model"

finish
