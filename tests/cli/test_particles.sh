#!/usr/bin/env bash
# test_particles.sh — `varflow particles`: final particles and trajectory files of the right shape
# (.npy [frames, n, dim], .csv rows `step, x...`), --json keys, the same seed giving the same file, the
# MMD flow moving N(0, I) particles close to the data (energy distance far below the start's), and
# usage errors (exit 2) / runtime errors (exit 1) as one line on stderr.
# Usage: test_particles.sh PATH/TO/varflow
set -u
V=${1:?usage: test_particles.sh PATH/TO/varflow}
. "$(dirname "$0")/harness.sh"
# npy_shape FILE: the shape tuple text of an .npy header, e.g. "(6, 500, 2)".
npy_shape() { head -c 128 "$1" | tr -d '\000' | tr -c '[:print:]' ' ' | sed -n "s/.*'shape': \(([0-9, ]*)\).*/\1/p"; }
# json_num KEY: the number after "KEY": in $T/out.

expect 0 data 8gaussians -n 2000 --seed 1 -o "$T/data.npy" --quiet

# SVGD toward the target, with a trajectory every 10 of 25 steps: frames 0, 10, 20, 25.
expect 0 particles --method svgd --target 8gaussians -n 100 --steps 25 -o "$T/svgd.npy" --trajectory "$T/traj.npy" --every 10 --json
[ "$(npy_shape "$T/svgd.npy")" = "(100, 2)" ] && ok || bad "svgd.npy shape $(npy_shape "$T/svgd.npy")"
[ "$(npy_shape "$T/traj.npy")" = "(4, 100, 2)" ] && ok || bad "traj.npy shape $(npy_shape "$T/traj.npy")"
for key in method steps seconds ksd particles trajectory; do
    grep -q "\"$key\":" "$T/out" && ok || bad "svgd --json lacks $key: $(cat "$T/out")"
done
grep -q '"method":"svgd"' "$T/out" && ok || bad "svgd --json method: $(cat "$T/out")"
# The last frame of the trajectory is the final particles (the same bytes after the headers).
[ "$(tail -c 800 "$T/traj.npy" | od -An -tx1)" = "$(tail -c 800 "$T/svgd.npy" | od -An -tx1)" ] && ok ||
    bad "the trajectory's last frame differs from the final particles"

# The MMD flow toward data: the energy distance to the data falls far below the start's (0 steps are
# not allowed, so the start is measured with 1 step of a tiny size).
expect 0 particles --method mmd --data "$T/data.npy" -n 200 --steps 1 --step-size 1e-9 -o "$T/start.csv" --json
start=$(json_num energy_distance)
expect 0 particles --method mmd --data "$T/data.npy" -n 200 --steps 150 --seed 3 -o "$T/mmd.csv" --trajectory "$T/traj.csv" --every 50 --json
final=$(json_num energy_distance)
awk -v s="$start" -v f="$final" 'BEGIN { exit !(s > 0.3 && f < s / 20) }' && ok || bad "mmd energy distance $start -> $final"
[ "$(lines "$T/mmd.csv")" = 200 ] && ok || bad "mmd.csv has $(lines "$T/mmd.csv") rows"
[ "$(lines "$T/traj.csv")" = 800 ] && ok || bad "traj.csv has $(lines "$T/traj.csv") rows (4 frames x 200)"
awk -F, 'NF != 3 {exit 1}' "$T/traj.csv" && ok || bad "traj.csv rows are not step,x1,x2"
[ "$(cut -d, -f1 "$T/traj.csv" | sort -u -g | tr '\n' ' ')" = "0 50 100 150 " ] && ok || bad "traj.csv steps: $(cut -d, -f1 "$T/traj.csv" | sort -u -g | tr '\n' ' ')"
# The same seed gives the same particles; --init FILE continues from a file.
expect 0 particles --method mmd --data "$T/data.npy" -n 200 --steps 150 --seed 3 -o "$T/mmd2.csv" --quiet
cmp -s "$T/mmd.csv" "$T/mmd2.csv" && ok || bad "the same seed gave different particles"
expect 0 particles --method swf --data "$T/data.npy" --init "$T/mmd.csv" --steps 5 -o "$T/swf.npy" --json
grep -q '"n":200' "$T/out" && ok || bad "--init FILE: $(cat "$T/out")"
# mmd / swf toward a target with exact samples.
expect 0 particles --method swf --target banana:sigma=2 -n 50 --steps 5 --data-n 500 -o "$T/b.npy" --quiet

# --log: one JSON line every --log-every steps and the last, with the energy distance falling; the
# particles are the same as without the log (the log only reads them).
expect 0 particles --method mmd --data "$T/data.npy" -n 200 --steps 25 -o "$T/logged.npy" --log "$T/p.jsonl" --log-every 10 --quiet
expect 0 particles --method mmd --data "$T/data.npy" -n 200 --steps 25 -o "$T/unlogged.npy" --quiet
cmp -s "$T/logged.npy" "$T/unlogged.npy" && ok || bad "--log changed the particles"
[ "$(wc -l < "$T/p.jsonl")" = 4 ] && ok || bad "--log: expected 4 lines (steps 0, 10, 20, 25): $(cat "$T/p.jsonl")"
grep -q '^{"step":25,"seconds":[0-9.e+-]*,"energy_distance":[0-9.e+-]*}$' "$T/p.jsonl" && ok || bad "--log last line: $(tail -1 "$T/p.jsonl")"
first=$(sed -n 's/.*"energy_distance":\([^}]*\)}/\1/p' "$T/p.jsonl" | head -1)
last=$(sed -n 's/.*"energy_distance":\([^}]*\)}/\1/p' "$T/p.jsonl" | tail -1)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a / 10) }' && ok || bad "--log: energy distance $first -> $last did not fall tenfold"
expect 0 particles --method svgd --target 8gaussians -n 50 --steps 4 -o "$T/s.npy" --log "$T/s.jsonl" --log-every 2 --quiet
grep -q '^{"step":4,.*"ksd":' "$T/s.jsonl" && ok || bad "--log with svgd: no ksd line: $(cat "$T/s.jsonl")"
expect 1 particles --method svgd --target 8gaussians -n 50 --steps 4 -o "$T/s.npy" --log "$T/nodir/s.jsonl"
expect 2 particles --method svgd --target 8gaussians -n 50 --steps 4 -o "$T/s.npy" --log-every 0

# Usage errors.
expect 2 particles --target 8gaussians -o "$T/x.npy"
expect 2 particles --method svgd --data "$T/data.npy" -o "$T/x.npy"
grep -q -- "--target" "$T/err" && ok || bad "svgd without --target: $(cat "$T/err")"
expect 2 particles --method mmd -o "$T/x.npy"
expect 2 particles --method sgld --target 8gaussians -o "$T/x.npy"
expect 2 particles --method svgd --target 8gaussians --steps 0 -o "$T/x.npy"
expect 2 particles --method svgd --target nosuch -o "$T/x.npy"
grep -q "8gaussians" "$T/err" && ok || bad "unknown target: the message does not list the names: $(cat "$T/err")"
expect 2 particles --method svgd --target 8gaussians -o "$T/x.txt"
expect 2 particles --method svgd --target 8gaussians -o "$T/x.npy" --trajectory "$T/t.bin"
expect 2 particles --method svgd --target 8gaussians -o "$T/x.npy" --bogus
expect 2 particles --method svgd --target 8gaussians
# Runtime errors: dimension mismatch, a missing file, a plugin that cannot be loaded.
expect 1 particles --method svgd --target gauss:d=3 --init "$T/mmd.csv" -o "$T/x.npy"
grep -q "dimension 3" "$T/err" && ok || bad "dimension mismatch message: $(cat "$T/err")"
expect 1 particles --method mmd --data "$T/data.npy" --target gauss:d=3 -o "$T/x.npy"
expect 1 particles --method mmd --data "$T/nonexistent.npy" -o "$T/x.npy"
expect 1 particles --method svgd --target plugin:"$T/nonexistent.so" -o "$T/x.npy"
[ ! -e "$T/x.npy" ] && ok || bad "a failed run left $T/x.npy"

# Help.
expect 0 particles --help
grep -q "svgd" "$T/out" && grep -q "8gaussians" "$T/out" && ok || bad "particles --help"
expect 0 --help
grep -q "particles" "$T/out" && ok || bad "varflow --help does not list particles"

finish
