#!/usr/bin/env bash
# test_interrupt.sh — Ctrl-C and termination (cli/cli_interrupt.c):
#  - the first SIGINT ends a fit or vi run after the current epoch or step with the model so far
#    written, the checkpoint written, exit 130 and one line on stderr saying how to go on; the run
#    resumed from that checkpoint is the uninterrupted run bit for bit;
#  - SIGTERM ends any command at once, and leaves no temporary file of an unfinished write beside its
#    output (the output itself stays as it was).
# The runs are sized so that the signal (after 1.5 s) lands long before they could end by themselves.
# Usage: test_interrupt.sh PATH/TO/varflow
set -u
V=${1:?usage: test_interrupt.sh PATH/TO/varflow}
. "$(dirname "$0")/harness.sh"

"$V" data moons -n 2000 --seed 1 -o "$T/moons.npy" >/dev/null || bad "data moons"
# interrupt SECONDS ARGS...: varflow ARGS, sent SIGINT after SECONDS; rc is its exit status.
interrupt() {
    local after=$1
    shift
    timeout --preserve-status -s INT -k 60 "$after" "$V" "$@" >"$T/out" 2>"$T/err"
    rc=$?
}
timeless() { sed 's/"seconds":[0-9.]*//' "$1"; }

# ---- fit: stop after the epoch, keep the model, continue exactly ---------------------------------------
FIT=(fit --data "$T/moons.npy" --model maf:transforms=2,hidden=16x2 --epochs 1000000 --batch 64 --patience 0 --seed 2
     --threads 1)
interrupt 1.5 "${FIT[@]}" --checkpoint "$T/ck.safetensors" --log "$T/int.log" --json -o "$T/int.safetensors"
[ "$rc" = 130 ] && ok || bad "fit after SIGINT: exit $rc, $(cat "$T/err")"
grep -q '"paused":true' "$T/out" && ok || bad "fit after SIGINT: $(cat "$T/out")"
grep -q "interrupted: .*int.safetensors holds the model so far; .* --resume .*ck.safetensors continues" "$T/err" && ok ||
    bad "fit's note after SIGINT: $(cat "$T/err")"
"$V" info "$T/int.safetensors" >/dev/null 2>&1 && ok || bad "the interrupted fit's model does not load"
k=$(json_num epochs)
# resumed for two more epochs against the uninterrupted run stopped at the same epoch
run "${FIT[@]}" --resume "$T/ck.safetensors" --checkpoint "$T/ck.safetensors" --stop-after 2 --log "$T/int.log" \
    -o "$T/resumed.safetensors"
[ "$rc" = 0 ] && ok || bad "resuming the interrupted fit: exit $rc, $(cat "$T/err")"
run "${FIT[@]}" --checkpoint "$T/ck2.safetensors" --stop-after $((k + 2)) --log "$T/whole.log" -o "$T/whole.safetensors"
[ -n "$k" ] && cmp -s "$T/resumed.safetensors" "$T/whole.safetensors" && ok ||
    bad "interrupted at epoch $k and resumed, the fit differs from the uninterrupted one"
[ "$(timeless "$T/int.log")" = "$(timeless "$T/whole.log")" ] && ok || bad "the interrupted and resumed fit's log differs"

# ---- vi: the same after a step ----------------------------------------------------------------------------
interrupt 1.5 vi --target banana --flow realnvp:transforms=2,hidden=8x2 --steps 100000000 --batch 16 --threads 1 \
    --is-samples 100 --json -o "$T/vi.safetensors"
[ "$rc" = 130 ] && ok || bad "vi after SIGINT: exit $rc, $(cat "$T/err")"
grep -q '"paused":true' "$T/out" && ok || bad "vi after SIGINT: $(cat "$T/out")"
grep -q "interrupted: .*vi.safetensors holds the model so far (the run cannot be continued: it had no --checkpoint)" \
    "$T/err" && ok || bad "vi's note after SIGINT: $(cat "$T/err")"
"$V" sample --model "$T/vi.safetensors" -n 5 -o "$T/vi.csv" >/dev/null 2>&1 && ok || bad "the interrupted vi's model"

# ---- Ctrl-C after the loop: at once ----------------------------------------------------------------------
# During vi's importance sampling (5 million draws through a larger flow, about 11 s here) the loop no
# longer looks at the flag: a Ctrl-C there ends the program at once, as the signal would (no note,
# nothing written), instead of being promised as a graceful stop and then ignored.
t0=$(date +%s)
timeout --preserve-status -s INT -k 60 1.5 "$V" vi --target banana --flow realnvp:transforms=8,hidden=64x2 --steps 5 \
    --is-samples 5000000 --threads 1 -o "$T/late.safetensors" >"$T/out" 2>"$T/err"
rc=$?
t1=$(date +%s)
[ "$rc" = 130 ] && [ $((t1 - t0)) -lt 8 ] && [ ! -e "$T/late.safetensors" ] && ! grep -q "holds the model" "$T/err" &&
    ok || bad "vi interrupted in its sampling: exit $rc after $((t1 - t0)) s, $(ls "$T" | grep late) $(cat "$T/err")"
# Logs written in place need no new file in their folder: /dev/null is a fine --log.
run fit --data "$T/moons.npy" --model maf:transforms=1,hidden=8 --epochs 1 --log /dev/null -o "$T/devnull.safetensors"
[ "$rc" = 0 ] && ok || bad "fit --log /dev/null: exit $rc, $(cat "$T/err")"

# ---- SIGTERM: at once, nothing half-written left ----------------------------------------------------------
echo old >"$T/draws.csv"
timeout --preserve-status -s TERM -k 60 1.5 "$V" mcmc --target banana --sampler hmc --leapfrog 1000 --chains 4 \
    -n 100000 --warmup 0 --step-size 0.01 -o "$T/draws.csv" --threads 1 >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 143 ] && ok || bad "mcmc after SIGTERM: exit $rc (expected 128 + 15), $(cat "$T/err")"
[ "$(cat "$T/draws.csv")" = old ] && ok || bad "a terminated mcmc changed its output"
for after in 0.4 0.8 1.2 1.6; do # some of these land while the samples are being written
    timeout --preserve-status -s TERM -k 60 "$after" "$V" sample --model "$T/int.safetensors" -n 3000000 \
        -o "$T/s.csv" --threads 1 >/dev/null 2>&1
done
[ -z "$(ls "$T" | grep '\.tmp-')" ] && ok || bad "temporary files left: $(ls "$T")"

finish
