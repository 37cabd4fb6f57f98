#!/usr/bin/env bash
# test_cli_data.sh — `varflow data`: files of the right size in .csv and .npy, seeds, --json, --quiet,
# and exit codes 2 (usage) and 1 (cannot write) with one-line errors. Usage: test_cli_data.sh PATH/TO/varflow
set -u
V=${1:?usage: test_cli_data.sh PATH/TO/varflow}
. "$(dirname "$0")/harness.sh"
# check_csv FILE N: N rows of two numbers.
check_csv() {
    if [ "$(lines "$1")" = "$2" ] &&
        awk -F, 'NF != 2 || $1 !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/ || $2 !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/ {exit 1}' "$1"; then
        ok
    else
        bad "$1: expected $2 rows of 2 numbers, got $(lines "$1") rows: $(head -n 2 "$1")"
    fi
}
# check_npy FILE N: an .npy header with shape (N, 2) and exactly N*2 values after it.
check_npy() {
    local header size hlen item
    header=$(head -c 128 "$1" | tr -d '\000' | tr -c '[:print:]' ' ')
    size=$(wc -c <"$1" | tr -d ' ')
    case "$header" in *"'<f4'"*) item=4 ;; *"'<f8'"*) item=8 ;; *) item=0 ;; esac
    # Version 1 header: 6 magic + 2 version + 2 length bytes, then the header text.
    hlen=$(od -An -tu2 -j8 -N2 --endian=little "$1" | tr -d ' ')
    if [[ "$header" == *"'shape': ($2, 2)"* ]] && [ "$item" != 0 ] && [ "$size" = $((10 + hlen + $2 * 2 * item)) ]; then
        ok
    else
        bad "$1: expected an .npy of shape ($2, 2), header '$header', $size bytes"
    fi
}

cd "$T" || exit 1

# .csv and .npy by extension, with the requested row count.
expect 0 data moons -n 123 -o m.csv
check_csv m.csv 123
if grep -q "m.csv" "$T/out"; then ok; else bad "summary line does not name the file"; fi
expect 0 data checkerboard -n 77 -o c.npy
check_npy c.npy 77
expect 0 data rings -n 5 -o UPPER.CSV
check_csv UPPER.CSV 5
expect 0 data 8gaussians --output=g.csv -n 9
check_csv g.csv 9
# Default n = 10000.
expect 0 data pinwheel -o p.csv
check_csv p.csv 10000
# Every listed set works; `--list` names them all.
expect 0 data --list
if [ "$(lines "$T/out")" -ge 7 ]; then ok; else bad "--list printed $(lines "$T/out") lines"; fi
awk '!/\(target\)$/ {print $1}' "$T/out" >sets.txt # the 2-D toys (targets: test_data_targets.sh)
while read -r s; do
    expect 0 data "$s" -n 50 -o "set_$s.csv"
    check_csv "set_$s.csv" 50
done <sets.txt

# Seeds: the same seed gives the same file, another seed another file; default seed is 0.
expect 0 data 2spirals -n 200 --seed 5 -o a.csv
expect 0 data 2spirals -n 200 --seed 5 -o b.csv
expect 0 data 2spirals -n 200 --seed 6 -o c.csv
expect 0 data 2spirals -n 200 -o d.csv
expect 0 data 2spirals -n 200 --seed 0 -o e.csv
if cmp -s a.csv b.csv; then ok; else bad "same seed, different files"; fi
if cmp -s a.csv c.csv; then bad "seeds 5 and 6 give the same file"; else ok; fi
if cmp -s d.csv e.csv; then ok; else bad "default seed is not 0"; fi

# Options in the spec: scale=2 doubles every value of the same draw.
expect 0 data moons -n 100 --seed 3 -o s1.csv
expect 0 data moons:scale=2 -n 100 --seed 3 -o s2.csv
if paste -d, s1.csv s2.csv | awk -F, '{ for (i = 1; i <= 2; i++) { d = $(i + 2) - 2 * $i; if (d < 0) d = -d;
        if (d > 1e-5 * (1 + ($i < 0 ? -$i : $i))) exit 1 } }'; then ok; else bad "moons:scale=2 is not twice moons"; fi

# --json: one JSON object on stdout and nothing else.
expect 0 data moons:noise=0.05 -n 42 --seed 7 --json -o j.npy
if [ "$(lines "$T/out")" = 1 ] && grep -q '"name":"moons"' "$T/out" && grep -q '"n":42' "$T/out" &&
    grep -q '"dim":2' "$T/out" && grep -q '"path":"j.npy"' "$T/out" && grep -q '"seed":7' "$T/out"; then
    ok
else
    bad "--json printed: $(cat "$T/out")"
fi
if command -v python3 >/dev/null 2>&1; then
    if python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["n"] == 42 and d["dim"] == 2' "$T/out"; then
        ok
    else
        bad "--json output is not valid JSON: $(cat "$T/out")"
    fi
fi
check_npy j.npy 42
# --quiet: nothing on stdout.
expect 0 data moons -n 3 --quiet -o q.csv
if [ ! -s "$T/out" ] && [ ! -s "$T/err" ]; then ok; else bad "--quiet printed something"; fi

# Usage errors: exit 2, one line, naming what was wrong; the output file is not touched.
cp m.csv keep.csv
for args in "data no-such-set -o keep.csv" "data moons:bogus=1 -o keep.csv" "data moons:noise=abc -o keep.csv" \
    "data moons -n 12x -o keep.csv" "data moons -n -o keep.csv" "data moons -n 1e400 -o keep.csv" \
    "data moons -n 0 -o keep.csv" "data moons -n -5 -o keep.csv" "data moons -n 2.5 -o keep.csv" \
    "data moons --seed -1 -o keep.csv" "data moons --seed 12x -o keep.csv" "data moons --threads x -o keep.csv" \
    "data moons" "data -o keep.csv" "data moons -o keep.txt" "data moons -o" "data moons other -o keep.csv" \
    "data moons --bogus -o keep.csv" "data moons --json=yes -o keep.csv"; do
    # shellcheck disable=SC2086
    expect 2 $args
done
run data moons -n '' -o keep.csv
if [ "$rc" = 2 ] && [ "$(lines "$T/err")" = 1 ]; then ok; else bad "-n '': exit $rc"; fi
if cmp -s m.csv keep.csv; then ok; else bad "a failed run changed the output file"; fi
run data no-such-set -o keep.csv
if grep -q "no-such-set" "$T/err" && grep -q "moons" "$T/err"; then ok; else bad "unknown set error: $(cat "$T/err")"; fi
run data moons:bogus=1 -o keep.csv
if grep -q "bogus" "$T/err" && grep -q "noise" "$T/err"; then ok; else bad "unknown key error: $(cat "$T/err")"; fi
run data moons -n 12x -o keep.csv
if grep -q -- "-n" "$T/err" && grep -q "12x" "$T/err"; then ok; else bad "bad -n error: $(cat "$T/err")"; fi

# Runtime errors: exit 1, one line naming the file, nothing left behind.
mkdir adir.csv
before=$(ls -A)
expect 1 data moons -n 10 -o "$T/no-such-dir/x.csv"
if grep -q "no-such-dir/x.csv" "$T/err"; then ok; else bad "unwritable path not named: $(cat "$T/err")"; fi
expect 1 data moons -n 10 -o adir.csv
if [ -d adir.csv ] && [ -z "$(ls -A adir.csv)" ]; then ok; else bad "writing over a folder changed it"; fi
if [ "$(ls -A)" = "$before" ]; then ok; else bad "files left behind: $(ls -A)"; fi

finish
