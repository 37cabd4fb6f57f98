#!/usr/bin/env bash
# test_vi.sh — `varflow vi`: a short fit to a normalized Gaussian target (--json keys, log Z = 0
# within 5 reported standard errors, the --samples table, the model working with sample/logprob),
# the same seed giving the same draws, a run stopped by --stop-after and resumed from its checkpoint
# giving exactly the uninterrupted run's draws (FAB's included), --patience (early stop, the best
# parameters kept, resumable), the box map of u2, and one clear error each for a
# plugin returning NaN, a plugin missing a symbol, a wrong dimension (a plugin's and a checkpoint's),
# non-existent files, and usage errors. Plugins come from VF_TEST_PLUGIN / VF_TEST_PLUGIN_NOLP
# (tests/CMakeLists.txt); without them those cases are skipped.
# Usage: test_vi.sh PATH/TO/varflow
set -u
V=${1:?usage: test_vi.sh PATH/TO/varflow}
. "$(dirname "$0")/harness.sh"

FLOW=realnvp:transforms=4,hidden=16x2
G=gauss:d=2,rho=0.5
expect 0 vi --target $G --flow $FLOW --steps 150 --batch 128 --is-samples 2000 --seed 4 -o "$T/m.safetensors" \
    --samples "$T/s.csv" --json
for k in elbo log_z log_z_stderr ess ess_fraction khat forward_ess_fraction steps seconds; do
    grep -q "\"$k\":" "$T/out" && ok || bad "--json lacks $k: $(cat "$T/out")"
done
lz=$(json_num log_z)
se=$(json_num log_z_stderr)
awk -v z="$lz" -v s="$se" 'BEGIN { exit !(s > 0 && s < 0.05 && z < 5 * s && -z < 5 * s) }' && ok || bad "log Z $lz +- $se is not 0"
[ "$(json_num steps)" = 150 ] && ok || bad "steps: $(cat "$T/out")"
[ "$(lines "$T/s.csv")" = 2000 ] && ok || bad "s.csv has $(lines "$T/s.csv") rows"
awk -F, 'NF != 3 {exit 1}' "$T/s.csv" && ok || bad "s.csv rows are not x1,x2,logw"
expect 0 sample --model "$T/m.safetensors" -n 10 -o "$T/draws.npy" --quiet
expect 0 logprob --model "$T/m.safetensors" --data "$T/draws.npy" --json
expect 0 vi --target $G --flow $FLOW --steps 150 --batch 128 --is-samples 2000 --seed 4 -o "$T/m2.safetensors" \
    --samples "$T/s2.csv" --quiet
cmp -s "$T/s.csv" "$T/s2.csv" && ok || bad "the same seed gave different draws"

# Stop after 20 of 50 steps, resume, and get the uninterrupted run's draws bit for bit.
A="--target $G --flow $FLOW --steps 50 --batch 64 --is-samples 200 --seed 2 --objective path"
expect 0 vi $A -o "$T/full.safetensors" --samples "$T/full.csv" --log "$T/full.jsonl" --quiet
expect 0 vi $A -o "$T/half.safetensors" --checkpoint "$T/ck.safetensors" --checkpoint-every 7 --stop-after 20 --json \
    --log "$T/log.jsonl"
grep -q '"paused":true' "$T/out" && [ "$(json_num steps)" = 20 ] && ok || bad "--stop-after 20: $(cat "$T/out")"
# What a run killed after its last checkpoint (step 20) leaves in the log: the lines of later steps and
# one cut short; the resumed run drops them, so its log reads as the uninterrupted run's.
grep -E '"step":(30|40),' "$T/full.jsonl" >>"$T/log.jsonl"
printf '{"step":50,"lo' >>"$T/log.jsonl"
expect 0 vi $A -o "$T/rest.safetensors" --resume "$T/ck.safetensors" --samples "$T/rest.csv" --log "$T/log.jsonl" \
    --quiet
[ "$(sed 's/"seconds":[0-9.]*//' "$T/full.jsonl")" = "$(sed 's/"seconds":[0-9.]*//' "$T/log.jsonl")" ] && ok ||
    bad "the resumed run's log is not the uninterrupted run's: $(cat "$T/full.jsonl") --- $(cat "$T/log.jsonl")"
# A --log that is not a training log (a line without "step") is only appended to, never cut.
printf 'my notes\nline 2\n' >"$T/notes.txt"
expect 0 vi $A -o "$T/rest2.safetensors" --resume "$T/ck.safetensors" --log "$T/notes.txt" --quiet
[ "$(head -2 "$T/notes.txt")" = "$(printf 'my notes\nline 2')" ] && [ "$(wc -l <"$T/notes.txt")" -gt 2 ] && ok ||
    bad "resuming cut a --log that is not a training log: $(cat "$T/notes.txt")"
cmp -s "$T/full.csv" "$T/rest.csv" && ok || bad "the resumed run differs from the uninterrupted one"
# the model file too, training record included (vi.loss: the mean of the last 100 training losses,
# a window the checkpoint carries)
cmp -s "$T/full.safetensors" "$T/rest.safetensors" && ok || bad "the resumed run's model file differs"
grep -q '"step":50' "$T/log.jsonl" && ok || bad "the log lacks step 50"
# FAB too: the checkpoint carries its replay buffer and step sizes (the resumed half samples the
# buffer from its first step: 6 steps of 32 rows fill more than the 4 batches it waits for).
F="--target $G --flow $FLOW --steps 12 --batch 32 --is-samples 200 --seed 3 --objective fab"
expect 0 vi $F -o "$T/ffull.safetensors" --samples "$T/ffull.csv" --quiet
expect 0 vi $F -o "$T/fhalf.safetensors" --checkpoint "$T/fck.safetensors" --stop-after 6 --quiet
expect 0 vi $F -o "$T/frest.safetensors" --resume "$T/fck.safetensors" --samples "$T/frest.csv" --quiet
cmp -s "$T/ffull.csv" "$T/frest.csv" && ok || bad "the resumed FAB run differs from the uninterrupted one"
cmp -s "$T/ffull.safetensors" "$T/frest.safetensors" && ok || bad "the resumed FAB run's model file differs"
expect 1 vi --target $G --flow $FLOW --steps 50 --batch 32 --seed 2 --objective path -o "$T/x.safetensors" --resume "$T/ck.safetensors"
has "vi.batch"
expect 1 vi --target gauss:d=3 --flow $FLOW -o "$T/x.safetensors" --resume "$T/ck.safetensors"
has "dimension"
expect 1 vi --target $G -o "$T/x.safetensors" --resume "$T/nonexistent.safetensors"
has "nonexistent.safetensors"

# --patience: validations every 5 steps on the same 256 draws, an early stop two validations after the
# best, whose parameters the model holds; a run paused between validations (step 12) or with the
# patience counter at 1 (step 20) and resumed ends exactly as the uninterrupted one.
P="--target $G --flow $FLOW --steps 80 --batch 32 --is-samples 200 --seed 5 --lr 0.01 --patience 2 --valid-every 5 --valid-draws 256"
expect 0 vi $P -o "$T/pfull.safetensors" --samples "$T/pfull.csv" --log "$T/plog.jsonl" --json
best=$(json_num best_step)
steps=$(json_num steps)
grep -q '"stopped_early":true' "$T/out" && [ -n "$best" ] && [ $((best % 5)) = 0 ] && [ "$steps" = $((best + 10)) ] \
    && ok || bad "--patience 2: $(cat "$T/out")"
[ "$(grep -c '"valid_loss":' "$T/plog.jsonl")" = $((steps / 5)) ] && ok || bad "validations in the log: $(cat "$T/plog.jsonl")"
vl=$(json_num valid_loss)
grep -q "\"step\":$best,.*\"valid_loss\":$vl," "$T/plog.jsonl" && ok || bad "the best validation $vl is not step $best's"
expect 0 info "$T/pfull.safetensors"
grep -q "vi.best_step: $best" "$T/out" && grep -q "vi.patience: 2" "$T/out" && ok || bad "info: $(cat "$T/out")"
for at in 12 20; do
    expect 0 vi $P -o "$T/phalf.safetensors" --checkpoint "$T/pck$at.safetensors" --stop-after $at --quiet
    expect 0 vi $P -o "$T/prest.safetensors" --resume "$T/pck$at.safetensors" --samples "$T/prest.csv" --quiet
    cmp -s "$T/pfull.csv" "$T/prest.csv" && ok || bad "paused at $at and resumed, the --patience run differs"
done
expect 1 vi ${P/--patience 2/--patience 3} -o "$T/x.safetensors" --resume "$T/pck12.safetensors"
has "vi.patience 2, this run has 3"
expect 1 vi ${P/--patience 2/} -o "$T/x.safetensors" --resume "$T/pck12.safetensors"
has "vi.patience 2, this run has (none)"
expect 1 vi $A -o "$T/x.safetensors" --resume "$T/ck.safetensors" --patience 1
has "vi.patience (none), this run has 1"
# The annealing schedule is part of the run: a checkpoint made with it (or without it) resumes only with
# the same --anneal and --beta0.
expect 0 vi $A --anneal 30 --beta0 0.1 -o "$T/a.safetensors" --checkpoint "$T/ack.safetensors" --stop-after 10 --quiet
expect 1 vi $A -o "$T/x.safetensors" --resume "$T/ack.safetensors"
has "vi.anneal 30, this run has (none)"
expect 1 vi $A --anneal 30 --beta0 0.2 -o "$T/x.safetensors" --resume "$T/ack.safetensors"
has "vi.beta0 0.1, this run has 0.2"
expect 1 vi $A --anneal 30 -o "$T/x.safetensors" --resume "$T/ck.safetensors"
has "vi.anneal (none), this run has 30"
expect 0 vi $A --anneal 30 --beta0 0.1 -o "$T/a.safetensors" --resume "$T/ack.safetensors" --quiet
expect_error 2 "--epochs: vi has no data" vi --target $G --epochs 3 -o "$T/x.safetensors"
expect_error 2 "--valid-fraction: vi has no data" vi --target $G --valid-fraction 0.1 -o "$T/x.safetensors"
expect_error 2 "--patience: validation starts after the annealing" vi --target $G --patience 2 --anneal 50 --steps 50 \
    -o "$T/x.safetensors"
expect_error 2 "--valid-draws: '1' is not a whole number >= 2" vi --target $G --patience 2 --valid-draws 1 -o "$T/x.safetensors"

# u2 lives on [-4, 4]^2: the flow ends in a scaled tanh, so every draw is inside.
expect 0 vi --target u2 --flow $FLOW --steps 20 --is-samples 500 -o "$T/u2.safetensors" --samples "$T/u2.csv" --quiet
awk -F, '$1 <= -4 || $1 >= 4 || $2 <= -4 || $2 >= 4 {exit 1}' "$T/u2.csv" && ok || bad "u2 draws outside the box"

# A divergence before the first checkpoint says that none was written (not that an absent file is the
# last good one); resumed from one, that it is unchanged. (--lr 1e100 diverges at once, in every build.)
D="--target gauss --flow $FLOW --steps 50 --batch 32 --seed 2 -o $T/div_model.safetensors"
expect 1 vi $D --lr 1e100 --checkpoint "$T/div.safetensors"
has "no checkpoint was written before that"
expect 0 vi $D --checkpoint "$T/div.safetensors" --stop-after 5 --quiet
expect 1 vi $D --lr 1e100 --resume "$T/div.safetensors" --checkpoint "$T/div.safetensors"
has "the last good checkpoint $T/div.safetensors is unchanged"

# Plugins: NaN, a missing symbol, a wrong dimension, a file that does not exist.
if [ -n "${VF_TEST_PLUGIN:-}" ]; then
    expect 0 vi --target "plugin:$VF_TEST_PLUGIN:3" --flow $FLOW --steps 5 --is-samples 100 -o "$T/p.safetensors" --quiet
    expect 1 vi --target "plugin:$VF_TEST_PLUGIN:nan" --flow $FLOW --steps 50 -o "$T/x.safetensors"
    has "NaN"
    expect 1 vi --target "plugin:$VF_TEST_PLUGIN:0" -o "$T/x.safetensors"
    has "varflow_target_dim returned 0"
    # --constrained with a plugin that has no constraining map is refused before any training step
    rm -f "$T/constrained.jsonl"
    expect 1 vi --target "plugin:$VF_TEST_PLUGIN:2" --flow $FLOW --steps 30 --samples "$T/c.csv" --constrained \
        --log "$T/constrained.jsonl" -o "$T/x.safetensors"
    has "has no constraining map"
    [ ! -s "$T/constrained.jsonl" ] && ok || bad "--constrained was refused only after training"
fi
# A plugin with only varflow_target_log_prob_batch (the same N(0, I)): the same fit and draws bit for
# bit, for a point-gradient objective and for FAB; a failing batch is a runtime error naming it.
if [ -n "${VF_TEST_PLUGIN:-}" ] && [ -n "${VF_TEST_PLUGIN_BATCH:-}" ]; then
    for obj in rkl fab; do
        B="--flow $FLOW --steps 12 --batch 32 --is-samples 300 --seed 7 --objective $obj --patience 2 --valid-every 4"
        expect 0 vi --target "plugin:$VF_TEST_PLUGIN:3" $B -o "$T/pp.safetensors" --samples "$T/pp.csv" --quiet
        expect 0 vi --target "plugin:$VF_TEST_PLUGIN_BATCH:3" $B -o "$T/pb.safetensors" --samples "$T/pb.csv" --quiet
        cmp -s "$T/pp.csv" "$T/pb.csv" && ok || bad "$obj: the batch plugin's draws differ from the point plugin's"
    done
    expect_error 1 "batch log-density of [0-9]+ rows failed \\(returned 3\\)" vi --target "plugin:$VF_TEST_PLUGIN_BATCH:fail" \
        --flow $FLOW --steps 5 -o "$T/x.safetensors"
fi
if [ -n "${VF_TEST_PLUGIN_NOLP:-}" ]; then
    expect 1 vi --target "plugin:$VF_TEST_PLUGIN_NOLP" -o "$T/x.safetensors"
    has "varflow_target_log_prob (or varflow_target_log_prob_batch)"
fi
expect 1 vi --target plugin:/nonexistent/target.so -o "$T/x.safetensors"
has "/nonexistent/target.so"
expect 1 vi --target gmm40:means=/nonexistent/means.csv -o "$T/x.safetensors"
has "/nonexistent/means.csv"
[ -e "$T/x.safetensors" ] && bad "a failed run left a model file" || ok

# Usage errors.
expect 2 vi -o "$T/x.safetensors"
expect 2 vi --target u1
expect 2 vi --target nosuch -o "$T/x.safetensors"
has "u1"
expect 2 vi --target u1 --objective nosuch -o "$T/x.safetensors"
expect 2 vi --target u1 --flow nosuch -o "$T/x.safetensors"
expect 2 vi --target u1 --samples "$T/x.txt" -o "$T/x.safetensors"
expect 2 vi --target u1 --stop-after 3 -o "$T/x.safetensors"
expect 2 vi --target u1 --is-samples 10 -o "$T/x.safetensors"
expect 0 vi --help
grep -q "plugin:PATH" "$T/out" && grep -q "manywell" "$T/out" && ok || bad "vi --help lacks the targets"
expect_error 2 "--samples $T/s.txt: the file name must end in .csv or .npy" vi --target $G --flow $FLOW --steps 1 \
    -o "$T/never.safetensors" --samples "$T/s.txt"

finish
