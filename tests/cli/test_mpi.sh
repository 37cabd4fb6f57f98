#!/usr/bin/env bash
# test_mpi.sh — `varflow fit` on two MPI processes (run by ctest only in builds with MPI and mpirun):
# one JSON object on stdout and one log line per epoch (rank 0 speaks for the job), the model records
# fit.processes 2 and fits as well as one process; a checkpoint stopped by --stop-after and resumed on
# two processes gives the uninterrupted two-process model bit for bit, and one process may not resume
# it; a continuous flow (OT-CFM) trains on two processes to the one-process losses (learning rate 1e-12)
# and one model; a failing checkpoint on rank 0 ends the job (no hang); a script under mpirun whose
# fits differ (a seed each) gets independent fits; vi, mcmc, particles and eval --metric ksd share
# the target's evaluations and give the one-process results bit for bit (a failing share ends the
# job); another command runs in each process on its own.
# Usage: test_mpi.sh PATH/TO/varflow PATH/TO/mpirun
set -u
V=${1:?usage: test_mpi.sh PATH/TO/varflow PATH/TO/mpirun}
MPIRUN=${2:?usage: test_mpi.sh PATH/TO/varflow PATH/TO/mpirun}
. "$(dirname "$0")/harness.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 # CI runs as root
export OMPI_MCA_rmaps_base_oversubscribe=1                         # two processes on any machine
export OMPI_MCA_btl_vader_single_copy_mechanism=none               # containers often forbid its ptrace
# every run under a time limit: a process left waiting for another would otherwise hang the suite
mpi() { timeout 120 "$MPIRUN" -n 2 "$V" "$@" >"$T/out" 2>"$T/err"; rc=$?; }

"$V" data moons -n 1200 --seed 3 -o "$T/moons.csv" >/dev/null || bad "could not write moons.csv"
FIT=(fit --data "$T/moons.csv" --model maf:hidden=16x2 --batch 100 --seed 1 --threads 1 --patience 0)

mpi "${FIT[@]}" --epochs 4 -o "$T/two.safetensors" --log "$T/two.jsonl" --json
if [ "$rc" = 0 ] && [ "$(wc -l <"$T/out")" = 1 ] && grep -q '"valid_nll":' "$T/out"; then ok; else
    bad "two processes: rc $rc, stdout $(cat "$T/out"), stderr $(head -c 600 "$T/err")"; fi
two=$(json_num valid_nll)
[ "$(lines "$T/two.jsonl")" = 4 ] && ok || bad "the log has $(lines "$T/two.jsonl") lines, not one per epoch"
"$V" info "$T/two.safetensors" | grep -q "fit.processes: 2" && ok || bad "no fit.processes 2 in the model"
expect 0 "${FIT[@]}" --epochs 4 -o "$T/one.safetensors" --json
one=$(json_num valid_nll)
awk -v a="$two" -v b="$one" 'BEGIN { exit !(a - b < 0.05 && b - a < 0.05) }' && ok ||
    bad "valid NLL on two processes $two, on one $one"

# Stopped after 2 of 4 epochs and resumed on two processes: the uninterrupted two-process model.
mpi "${FIT[@]}" --epochs 4 -o "$T/half.safetensors" --checkpoint "$T/ck.safetensors" --stop-after 2 --quiet
[ "$rc" = 0 ] && ok || bad "--stop-after on two processes: rc $rc, $(head -c 600 "$T/err")"
expect_error 1 "made by 2 MPI processes, this run has 1" "${FIT[@]}" --epochs 4 -o "$T/x.safetensors" \
    --resume "$T/ck.safetensors"
mpi "${FIT[@]}" --epochs 4 -o "$T/resumed.safetensors" --checkpoint "$T/ck.safetensors" --resume "$T/ck.safetensors" \
    --log "$T/two.jsonl" --quiet
[ "$rc" = 0 ] && cmp -s "$T/resumed.safetensors" "$T/two.safetensors" && ok ||
    bad "resumed on two processes: rc $rc, $(head -c 600 "$T/err"); the model differs from the uninterrupted one"

# A continuous flow on two processes: at learning rate 1e-12 (the parameters stay, up to 1e-12) the
# losses are the one-process run's.
CFM=(fit --data "$T/moons.csv" --model otcfm:hidden=16x2 --batch 100 --seed 1 --threads 1 --epochs 2 --lr 1e-12
     --nll-rows 0 --json)
mpi "${CFM[@]}" -o "$T/c2.safetensors"
[ "$rc" = 0 ] && [ "$(wc -l <"$T/out")" = 1 ] && ok || bad "otcfm on two processes: rc $rc, $(head -c 600 "$T/err")"
c2=$(json_num valid_loss)
expect 0 "${CFM[@]}" -o "$T/c1.safetensors"
c1=$(json_num valid_loss)
awk -v a="$c2" -v b="$c1" 'BEGIN { d = a - b; exit !(a != "" && d < 1e-5 * b && -d < 1e-5 * b) }' && ok ||
    bad "otcfm valid loss on two processes $c2, on one $c1"
"$V" info "$T/c2.safetensors" | grep -q "fit.processes: 2" && ok || bad "no fit.processes 2 in the continuous flow"

# A failure on rank 0 alone in the middle of the run ends the job with an error, not a hang of the other
# process waiting in the next step. The checkpoint's name, 250 characters, is a valid name in a
# writable folder (the checks before the run pass), but its temporary file's name ("NAME.tmp-PID-HEX")
# is too long, so the first checkpoint fails.
long=$(printf 'c%.0s' $(seq 238)).safetensors
mpi "${FIT[@]}" --epochs 4 -o "$T/x.safetensors" --checkpoint "$T/$long"
[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "ccc.safetensors.*too long" "$T/err" && ok ||
    bad "a failing checkpoint on two processes: rc $rc (124: hung), $(head -c 600 "$T/err")"

# A script run by mpirun that starts its own fits (a seed per process): the arguments differ, so each
# process fits alone, as without MPI.
timeout 120 "$MPIRUN" -n 2 bash -c '"$0" fit --data "$1" --model maf:hidden=16x2 --epochs 1 --threads 1 --quiet \
    --seed "$OMPI_COMM_WORLD_RANK" -o "$2/sweep$OMPI_COMM_WORLD_RANK.safetensors"' "$V" "$T/moons.csv" "$T" \
    >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 0 ] && [ -s "$T/sweep0.safetensors" ] && [ -s "$T/sweep1.safetensors" ] && ok ||
    bad "a sweep of two fits under mpirun: rc $rc, $(head -c 600 "$T/err")"
! "$V" info "$T/sweep1.safetensors" | grep -q "fit.processes" && ok || bad "a fit of its own records fit.processes"

# vi and mcmc on two processes divide the target's evaluations: the one-process run's files bit for
# bit (validation, importance sampling and HMC included), each written once, one JSON object.
VI=(vi --target banana --flow realnvp:transforms=2,hidden=16x1 --steps 40 --batch 64 --seed 4 --is-samples 500
    --patience 2 --valid-every 10 --threads 1)
mpi "${VI[@]}" -o "$T/q2.safetensors" --samples "$T/q2.csv" --log "$T/q2.jsonl" --json
[ "$rc" = 0 ] && [ "$(wc -l <"$T/out")" = 1 ] && grep -q '"log_z":' "$T/out" && ok ||
    bad "vi on two processes: rc $rc, $(cat "$T/out") $(head -c 600 "$T/err")"
expect 0 "${VI[@]}" -o "$T/q1.safetensors" --samples "$T/q1.csv" --log "$T/q1.jsonl" --quiet
cmp -s "$T/q1.csv" "$T/q2.csv" && cmp -s "$T/q1.safetensors" "$T/q2.safetensors" && ok ||
    bad "vi on two processes differs from one process"
[ "$(lines "$T/q2.jsonl")" = "$(lines "$T/q1.jsonl")" ] && ok || bad "vi's log on two processes: $(lines "$T/q2.jsonl") lines"
# paused on two processes (rank 0 writes the checkpoint) and resumed on two: the one-process draws
# (the model's vi.loss, the mean loss of the resumed run's own steps, differs by definition)
mpi "${VI[@]}" -o "$T/qh.safetensors" --checkpoint "$T/qck.safetensors" --stop-after 15 --quiet
[ "$rc" = 0 ] && ok || bad "vi --stop-after on two processes: rc $rc, $(head -c 600 "$T/err")"
mpi "${VI[@]}" -o "$T/qr.safetensors" --resume "$T/qck.safetensors" --samples "$T/qr.csv" --quiet
[ "$rc" = 0 ] && cmp -s "$T/q1.csv" "$T/qr.csv" && ok ||
    bad "vi paused and resumed on two processes differs from one uninterrupted process: rc $rc"
MC=(mcmc --target funnel:d=3 --sampler hmc --chains 4 --warmup 50 -n 60 --seed 5 --threads 1)
mpi "${MC[@]}" -o "$T/c2.csv" --log "$T/c2.jsonl" --log-every 10 --json
[ "$rc" = 0 ] && [ "$(wc -l <"$T/out")" = 1 ] && ok || bad "mcmc on two processes: rc $rc, $(head -c 600 "$T/err")"
expect 0 "${MC[@]}" -o "$T/c1.csv" --log "$T/c1.jsonl" --log-every 10 --quiet
cmp -s "$T/c1.csv" "$T/c2.csv" && ok || bad "mcmc on two processes differs from one process"
[ "$(lines "$T/c2.jsonl")" = "$(lines "$T/c1.jsonl")" ] && ok || bad "mcmc's log on two processes: $(lines "$T/c2.jsonl") lines"
# particles (SVGD toward a target, KSD logged every 5 steps) and eval --metric ksd on two processes:
# the one-process particles, log values and KSD.
PA=(particles --method svgd --target banana -n 50 --steps 30 --seed 3 --threads 1 --log-every 5)
mpi "${PA[@]}" -o "$T/p2.csv" --log "$T/p2.jsonl" --json
[ "$rc" = 0 ] && [ "$(wc -l <"$T/out")" = 1 ] && ok || bad "particles on two processes: rc $rc, $(head -c 600 "$T/err")"
expect 0 "${PA[@]}" -o "$T/p1.csv" --log "$T/p1.jsonl" --quiet
cmp -s "$T/p1.csv" "$T/p2.csv" && ok || bad "particles on two processes differ from one process"
sed 's/"seconds":[^,]*,//' "$T/p1.jsonl" >"$T/p1.values"
sed 's/"seconds":[^,]*,//' "$T/p2.jsonl" >"$T/p2.values"
cmp -s "$T/p1.values" "$T/p2.values" && [ "$(lines "$T/p1.values")" = 7 ] && ok ||
    bad "particles' log on two processes: $(cat "$T/p2.jsonl")"
mpi eval --metric ksd "$T/p1.csv" --target banana --json
k2=$(cat "$T/out")
expect 0 eval --metric ksd "$T/p1.csv" --target banana --json
[ "$rc" = 0 ] && [ "$k2" = "$(cat "$T/out")" ] && ok || bad "eval ksd on two processes: $k2, one: $(cat "$T/out")"
# A share that fails (the batch plugin asked to fail) ends both processes with its error, not a hang.
if [ -n "${VF_TEST_PLUGIN_BATCH:-}" ]; then
    mpi vi --target "plugin:$VF_TEST_PLUGIN_BATCH:fail" --steps 5 -o "$T/x.safetensors" --threads 1
    [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "failed (returned 3)" "$T/err" && ok ||
        bad "a failing target share on two processes: rc $rc (124: hung), $(head -c 600 "$T/err")"
fi

# Another command runs in each process on its own, as without mpirun (two summaries, one file).
mpi sample --model "$T/two.safetensors" -n 50 --seed 2 -o "$T/s.csv"
[ "$rc" = 0 ] && [ "$(lines "$T/s.csv")" = 50 ] && [ "$(grep -c "wrote" "$T/out")" = 2 ] && ok ||
    bad "sample on two processes: rc $rc, $(cat "$T/out") $(head -c 600 "$T/err")"

finish
