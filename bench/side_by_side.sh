#!/bin/bash
# side_by_side.sh — A/B of two varflow builds on a shared, noisy 2-core host: both run the same bench
# suite at the same time, one per core (cores swapped every round), so both see the same noise from
# other tenants. Compare within a round, not across rounds.
#
#   bench/side_by_side.sh SUITE ROUNDS BINARY_A BINARY_B
#   e.g. bench/side_by_side.sh flows 2 /tmp/varflow_before ./build/varflow
#
# Prints one line per binary and round: "A: case=value ...". Needs taskset (util-linux) and python3.
set -eu
if [ $# -ne 4 ]; then
    sed -n 2,10p "$0" >&2
    exit 2
fi
suite=$1 rounds=$2 a=$3 b=$4
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
summary() {
    python3 -c '
import json, sys
cases = []
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("{"):
        x = json.loads(line)
        cases.append("%s=%.4g" % (x["case"], x["value"]))
print(" ".join(cases))' "$1"
}
for round in $(seq "$rounds"); do
    if [ $((round % 2)) = 1 ]; then core_a=0 core_b=1; else core_a=1 core_b=0; fi
    taskset -c "$core_a" "$a" bench "$suite" --json >"$out/a.json" 2>/dev/null &
    pid_a=$!
    taskset -c "$core_b" "$b" bench "$suite" --json >"$out/b.json" 2>/dev/null &
    pid_b=$!
    wait "$pid_a" "$pid_b"
    echo "A: $(summary "$out/a.json")"
    echo "B: $(summary "$out/b.json")"
done
