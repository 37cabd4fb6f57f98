#!/usr/bin/env bash
# test_bad_input.sh — malformed files never crash the program: each case ends with exit code 1, exactly
# one line on stderr naming the problem, and nothing on stdout. Under the ASan build, a memory error or a
# leak would change the exit code and add lines, so the same checks prove it clean.
# Usage: test_bad_input.sh PATH/TO/varflow
set -u
V=${1:?usage: test_bad_input.sh PATH/TO/varflow}
. "$(dirname "$0")/harness.sh"

# A good data file and a good model file to start from.
printf 'a,b\n1,2\n3,4\n5,6.5\n' >"$T/good.csv"
"$V" data moons -n 100 -o "$T/good.npy" >/dev/null 2>&1 || bad "could not write good.npy"
"$V" demo -o "$T/demo" --steps 5 --quiet >/dev/null 2>&1 || bad "could not run the demo to get a model file"

# Good files work.
if "$V" info "$T/good.csv" >"$T/out" 2>"$T/err" && grep -q '3 rows x 2 columns' "$T/out"; then ok; else bad "info good.csv: $(cat "$T/out" "$T/err")"; fi
if "$V" info "$T/good.npy" --json >"$T/out" 2>"$T/err" && grep -q '"n":100,"dim":2' "$T/out"; then ok; else bad "info good.npy: $(cat "$T/out" "$T/err")"; fi
if "$V" info "$T/demo/model.safetensors" --json >"$T/out" 2>"$T/err" && grep -q '"params":22026' "$T/out"; then ok; else bad "info model: $(cat "$T/out" "$T/err")"; fi
# A model file under another name (fit -o takes any name) is still described as a model, and
# handed over as data it is named for what it is; other binary data is not read as CSV.
cp "$T/demo/model.safetensors" "$T/model.vf"
if "$V" info "$T/model.vf" --json >"$T/out" 2>"$T/err" && grep -q '"kind":"model","params":22026' "$T/out"; then ok; else bad "info model.vf: $(cat "$T/out" "$T/err")"; fi
# One row has no standard error: null in JSON, said so in text (not 0).
printf '0.5,0.5\n' >"$T/one.csv"
if "$V" logprob --model "$T/model.vf" --data "$T/one.csv" --json >"$T/out" 2>"$T/err" && grep -q '"stderr":null,' "$T/out" &&
    "$V" logprob --model "$T/model.vf" --data "$T/one.csv" 2>>"$T/err" | grep -q "no standard error from one row"; then
    ok
else
    bad "logprob of one row: $(cat "$T/out" "$T/err")"
fi
expect_error 1 "model.vf is a safetensors file \\(a model\\?\\), not a data table" fit --data "$T/model.vf" -o "$T/never.safetensors"
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR' >"$T/picture.png"
expect_error 1 "picture.png: line 3 holds a zero byte: binary data, not CSV text" info "$T/picture.png"

# Missing files and directories.
expect_error 1 "nope.csv" info "$T/nope.csv"
expect_error 1 "nope.safetensors" info "$T/nope.safetensors"
expect_error 1 "$T" info "$T"

# A non-numeric CSV cell: file, line and column are named.
printf 'a,b\n1,2\n3,abc\n' >"$T/text.csv"
expect_error 1 "text.csv:3:2" info "$T/text.csv"
# NaN and infinity in data.
printf '1,2\nnan,4\n' >"$T/nan.csv"
expect_error 1 "nan.csv" info "$T/nan.csv"
printf '1,2\n3,inf\n' >"$T/inf.csv"
expect_error 1 "inf.csv" info "$T/inf.csv"
# Ragged rows: the wrong number of columns.
printf '1,2\n3,4,5\n' >"$T/ragged.csv"
expect_error 1 "ragged.csv" info "$T/ragged.csv"
# Empty file.
: >"$T/empty.csv"
expect_error 1 "empty.csv" info "$T/empty.csv"

# Truncated NPY files: inside the magic, inside the header, inside the data.
head -c 5 "$T/good.npy" >"$T/t1.npy"
expect_error 1 "t1.npy" info "$T/t1.npy"
head -c 40 "$T/good.npy" >"$T/t2.npy"
expect_error 1 "t2.npy" info "$T/t2.npy"
size=$(wc -c <"$T/good.npy")
head -c $((size - 5)) "$T/good.npy" >"$T/t3.npy"
expect_error 1 "t3.npy" info "$T/t3.npy"
# NPY with NaN inside the data.
python_free_nan_npy() {
    # 2x1 <f4 array holding 1.0 and NaN, written byte by byte (header padded to 64 bytes).
    local hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }"
    local pad=$((64 - 10 - ${#hdr} - 1))
    {
        printf '\x93NUMPY\x01\x00'
        printf "\\x$(printf %02x $((64 - 10)))\\x00"
        printf '%s' "$hdr"
        printf '%*s' "$pad" ''
        printf '\n'
        printf '\x00\x00\x80\x3f\x00\x00\xc0\x7f'
    } >"$1"
}
python_free_nan_npy "$T/nan.npy"
expect_error 1 "nan.npy" info "$T/nan.npy"
# NPY rows without columns (shape (3, 0)): named as such.
{
    hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (3, 0), }"
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((128 - 10)))\\x00" # the header padded to 128 bytes in all
    printf '%s' "$hdr"
    printf '%*s' $((128 - 10 - ${#hdr} - 1)) ''
    printf '\n'
} >"$T/nocols.npy"
expect_error 1 "nocols.npy: the rows have no columns" info "$T/nocols.npy"
# No rows but a header claiming 4294967295 columns (IDX: float, 0 x 0xffffffff): described, with no
# statistics, at once (it used to allocate 4 doubles a column and loop over them); a metric that needs
# rows refuses it (and frees it: ASan builds check).
printf '\0\0\x0d\x02\0\0\0\0\xff\xff\xff\xff' >"$T/norows.idx"
if timeout 20 "$V" info "$T/norows.idx" --json >"$T/out" 2>"$T/err" &&
    grep -q '"n":0,"dim":4294967295,"mean":null,"std":null,"min":null,"max":null}' "$T/out"; then
    ok
else
    bad "info of a table without rows: $(cat "$T/out" "$T/err")"
fi
expect_error 1 "norows.idx has no rows" eval --metric ksd "$T/norows.idx" --target banana
# A tensor with a zero extent has no values, whatever its other extents (their product overflowed).
hdr='{"a":{"dtype":"F32","shape":[4611686018427387904,2,0],"data_offsets":[0,0]}}'
{ printf "\\x$(printf %02x ${#hdr})\\x00\\x00\\x00\\x00\\x00\\x00\\x00"; printf '%s' "$hdr"; } >"$T/zero.safetensors"
if "$V" info "$T/zero.safetensors" --json >"$T/out" 2>"$T/err" && grep -q '"params":0,' "$T/out" && [ ! -s "$T/err" ]; then
    ok
else
    bad "info of a tensor with a zero extent: $(cat "$T/out" "$T/err")"
fi

# Truncated and corrupt safetensors files.
model="$T/demo/model.safetensors"
msize=$(wc -c <"$model")
head -c 4 "$model" >"$T/m1.safetensors"
expect_error 1 "m1.safetensors" info "$T/m1.safetensors"
head -c 100 "$model" >"$T/m2.safetensors"
expect_error 1 "m2.safetensors" info "$T/m2.safetensors"
head -c $((msize - 1)) "$model" >"$T/m3.safetensors"
expect_error 1 "m3.safetensors" info "$T/m3.safetensors"
# A header length far beyond the file.
{ printf '\xff\xff\xff\xff\xff\x00\x00\x00'; printf '{}'; } >"$T/m4.safetensors"
expect_error 1 "m4.safetensors" info "$T/m4.safetensors"
# Garbage JSON in the header.
{ printf '\x08\x00\x00\x00\x00\x00\x00\x00'; printf '{"a":[1,'; } >"$T/m5.safetensors"
expect_error 1 "m5.safetensors" info "$T/m5.safetensors"
# A tensor whose shape does not match its byte range (wrong shape).
hdr='{"w":{"dtype":"F32","shape":[3,3],"data_offsets":[0,8]}}'
while [ $(( ${#hdr} % 8 )) != 0 ]; do hdr="$hdr "; done
{ printf "\\x$(printf %02x ${#hdr})\\x00\\x00\\x00\\x00\\x00\\x00\\x00"; printf '%s' "$hdr"; printf '12345678'; } >"$T/m6.safetensors"
expect_error 1 "m6.safetensors" info "$T/m6.safetensors"

# Usage errors are exit code 2.
expect_error 2 "missing FILE" info
expect_error 2 "unknown option" info --bogus "$T/good.csv"
expect_error 2 "model: empty file name" logprob --model "" --data "$T/good.csv"
expect_error 2 "context=: empty file name" sample --model "$T/m.safetensors" -n 3 --context= -o "$T/s.csv"
expect_error 2 "must end in .csv or .npy" sample --model "$T/m.safetensors" -n 3 -o "$T/s.txt"
expect_error 2 "must end in .csv or .npy" logprob --model "$T/m.safetensors" --data "$T/good.csv" -o "$T/lp.dat"
# A validation file and a validation fraction: one of them would be ignored.
expect_error 2 "give --valid FILE or --valid-fraction F, not both" fit --data "$T/good.csv" --valid "$T/good.csv" \
    --valid-fraction 0.2 -o "$T/never.safetensors"
expect_error 2 "give --valid FILE or --valid-fraction F, not both" fit --model cfm --data "$T/good.csv" \
    --valid "$T/good.csv" --valid-fraction 0.2 -o "$T/never.safetensors"
# An output that cannot be written is found out before the work, not after it: a path under a regular
# file, in a missing folder, in a folder that takes no files (/proc, even for root), or a folder itself.
M="$T/demo/model.safetensors"
mkdir -p "$T/afolder"
for o in "$T/good.csv/x.npy" "$T/missing/x.npy" /proc/x.npy "$T/afolder"; do
    expect_error 1 "cannot write $o: " sample --model "$M" -n 3 -o "$o"
    expect_error 1 "cannot write $o: " logprob --model "$M" --data "$T/good.npy" -o "$o"
    expect_error 1 "cannot write $o: " particles --method svgd --target gauss -o "$o"
    expect_error 1 "cannot write $o: " mcmc --target gauss --sampler mala -n 10 -o "$o"
    expect_error 1 "cannot write $o: " data moons -n 10 -o "$o"
done
expect_error 1 "good.csv is not a folder" fit --data "$T/good.npy" -o "$T/good.csv/m.safetensors"
expect_error 1 "missing: No such file" fit --data "$T/good.npy" --model cfm -o "$T/missing/m.safetensors"
expect_error 1 "/proc does not take new files" vi --target gauss -o /proc/m.safetensors
expect_error 1 "afolder: it is a folder" reflow --model "$M" -n 100 -o "$T/afolder"
expect_error 1 "cannot write $T/missing/log.jsonl" fit --data "$T/good.npy" -o "$T/m.safetensors" \
    --log "$T/missing/log.jsonl"
expect_error 1 "cannot write $T/missing/ck.safetensors" vi --target gauss -o "$T/m.safetensors" \
    --checkpoint "$T/missing/ck.safetensors"
[ ! -e "$T/m.safetensors" ] && [ -z "$(ls -A "$T/afolder")" ] && ok || bad "a refused run wrote something"
expect_error 1 "cannot read $T/afolder: Is a directory" plot curves --log "$T/afolder" -o "$T/curves.svg"
printf 'old log\n' >"$T/old.jsonl"
expect_error 1 "cannot write" fit --data "$T/good.npy" -o "$T/missing/m.safetensors" --log "$T/old.jsonl"
[ "$(cat "$T/old.jsonl")" = "old log" ] && ok || bad "a refused fit emptied its --log file"
# The length of a run, given twice: as in fit and reflow, one of them would be ignored.
expect_error 2 "give --epochs or --steps, not both" demo -o "$T/never_demo" --steps 5 --epochs 3
[ ! -e "$T/never_demo" ] && ok || bad "demo made its folder before refusing its options"
# Continuous-flow options on a normalizing flow are named as such, whichever comes first.
expect_error 2 "--solver is an option for continuous-flow models; .*m.safetensors is a normalizing flow" \
    sample --solver rk4 --model "$T/m.safetensors" -n 3 -o "$T/s.csv"
expect_error 2 "--steps is an option for continuous-flow models" logprob --model "$T/m.safetensors" --data "$T/good.csv" --steps 4

# A model file whose parameters hold a NaN (the first tensor's first 8 bytes overwritten: a NaN in F32
# and in F64 files) is refused when loaded: it would give NaN log-densities with exit code 0.
cp "$model" "$T/nanw.safetensors"
hlen=$(od -An -tu4 -N4 "$model" | tr -d ' ')
printf '\xff\xff\xff\xff\xff\xff\xff\xff' | dd of="$T/nanw.safetensors" bs=1 seek=$((8 + hlen)) conv=notrunc 2>/dev/null
expect_error 1 "nanw.safetensors: tensor .* holds a non-finite value" logprob --model "$T/nanw.safetensors" \
    --data "$T/good.npy" -o "$T/lp.npy"
expect_error 1 "holds a non-finite value" sample --model "$T/nanw.safetensors" -n 3 -o "$T/s.csv"
[ ! -e "$T/lp.npy" ] && ok || bad "a refused logprob wrote its output"

# A row outside a bounded model's support has log-density -inf: the mean is -inf (not NaN, whatever
# the rows' order), and the summary says how many rows are outside.
printf 'a,b\n0.1,0.2\n-0.3,0.4\n0.5,-0.5\n0.2,0.1\n-0.1,-0.2\n' >"$T/inbox.csv"
printf '9,9\n0,0\n0.5,0.5\n-9,0\n' >"$T/outbox.csv"
if "$V" fit --data "$T/inbox.csv" --model maf:hidden=8x1,transforms=1 --box -1,1 --epochs 1 -o "$T/box.safetensors" \
    --quiet 2>"$T/err" && "$V" logprob --model "$T/box.safetensors" --data "$T/outbox.csv" >"$T/out" 2>>"$T/err" &&
    grep -q "mean log-density  -inf (2 of 4 rows at -inf: outside the support, or too far out)" "$T/out"; then
    ok
else
    bad "logprob outside the box: $(cat "$T/out" "$T/err")"
fi

# Rows so far out that a model's arithmetic overflows to NaN: an error naming the first (counted from 1),
# and no file of NaN.
"$V" fit --data "$T/good.npy" --model maf:hidden=8x1,transforms=2 --epochs 2 -o "$T/small.safetensors" --quiet 2>/dev/null
far=3e38 # near the largest float; a double build (its .npy files are <f8) needs more
head -c 64 "$T/good.npy" | grep -q "<f8" && far=1.7e308
printf '0,0\n%s,%s\n1e30,1e30\n' $far $far >"$T/far.csv"
expect_error 1 "far.csv: 1 of 3 rows give no finite log-density \\(the first: row 2, counted from 1" \
    logprob --model "$T/small.safetensors" --data "$T/far.csv" -o "$T/far_lp.npy"
[ ! -e "$T/far_lp.npy" ] && ok || bad "logprob wrote log-densities with NaN"

# A flow fitted on a box keeps its samples in the box, and each of them has a finite log-density: the
# logit's support is the box widened by alpha (hi - lo), where samples used to land (1245 of 20000
# here, 10 or more at log-density -inf).
awk 'BEGIN { srand(3); for (i = 0; i < 2000; i++) printf "%.7f,%.7f\n", rand() ^ 6, 1 - rand() ^ 6 }' >"$T/edge.csv"
if "$V" fit --data "$T/edge.csv" --box 0,1 --model maf:hidden=16x2 --epochs 20 -o "$T/edge.safetensors" --quiet \
    2>"$T/err" && "$V" sample --model "$T/edge.safetensors" -n 20000 -o "$T/edge_s.csv" --quiet 2>>"$T/err" &&
    awk -F, '$1 < 0 || $1 > 1 || $2 < 0 || $2 > 1 { exit 1 }' "$T/edge_s.csv" &&
    "$V" logprob --model "$T/edge.safetensors" --data "$T/edge_s.csv" --json >"$T/out" 2>>"$T/err" &&
    ! grep -q '"min":null' "$T/out"; then
    ok
else
    bad "samples of a box model: $(cat "$T/err" "$T/out"; awk -F, '$1 < 0 || $1 > 1 || $2 < 0 || $2 > 1' "$T/edge_s.csv" | head -3)"
fi

# Draws beyond the number range are refused, not written as inf.
expect_error 1 "moons:scale=1e308: row [0-9]+, column [12] is not finite" data moons:scale=1e308 -n 200 -o "$T/overflow.csv"
[ ! -e "$T/overflow.csv" ] && ok || bad "data wrote an infinite file"
# Chains times draws beyond any memory: a usage error, before anything is allocated.
expect_error 2 "--model is for the flow-assisted samplers" mcmc --target gauss --sampler mala --model "$model" -n 5 \
    -o "$T/o.csv"
expect_error 2 "too many" mcmc --target gauss --sampler mala -n 16777217 --chains 1099511627776 -o "$T/o.csv"

# An output that is also an input or another output is refused before anything runs.
cp "$T/good.npy" "$T/d.npy"
expect_error 2 "--output .*d.npy would overwrite .*d.npy, which the command reads" fit --data "$T/d.npy" \
    -o "$T/d.npy" --epochs 1
cmp -s "$T/good.npy" "$T/d.npy" && ok || bad "fit overwrote its data"
expect_error 2 "would overwrite .*, which the command reads" fit --data "$T/d.npy" --output="$T/../$(basename "$T")/d.npy"
expect_error 2 "--output .*s.npy would overwrite .*s.npy, which the command also writes" \
    sample --model "$T/demo/model.safetensors" -n 3 -o "$T/s.npy" --log-prob "$T/s.npy"
expect_error 2 "which the command reads" sample --model "$T/demo/model.safetensors" -n 3 -o "$T/demo/model.safetensors"
expect_error 2 "--log .*s.jsonl would overwrite .*s.jsonl, which the command also writes" \
    vi --target gauss --steps 2 -o "$T/v.safetensors" --log "$T/s.jsonl" --samples "$T/s.jsonl"

# Specs and numbers are parsed strictly everywhere: duplicate keys, an empty option list, a stray
# comma, hexadecimal numbers (strtod's); a documented alternative key takes effect.
expect_error 2 "target gauss: duplicate key 'd'" data gauss:d=3,d=4 -o "$T/x.npy"
expect_error 2 "toy data moons: duplicate key 'noise'" data moons:noise=0.1,noise=0.2 -o "$T/x.npy"
expect_error 2 "toy data moons: ':' must be followed by key=value pairs" data moons: -o "$T/x.npy"
expect_error 2 "target gauss: ':' must be followed by key=value pairs" vi --target gauss: -o "$T/x.safetensors"
expect_error 2 "duplicate key 'hidden'" fit --model rf:hidden=8x2,hidden=16x2 --data "$T/good.npy" -o "$T/x.safetensors"
expect_error 2 "empty key=value pair" fit --model cfm:hidden=8x2,,act=silu --data "$T/good.npy" -o "$T/x.safetensors"
expect_error 2 "':' must be followed by key=value pairs" fit --model cfm: --data "$T/good.npy" -o "$T/x.safetensors"
expect_error 2 "not for source=gaussian" fit --model rf:source=gaussian,df=4 --data "$T/good.npy" -o "$T/x.safetensors"
expect_error 2 "sigma=0x1p-3 is not a non-negative number" fit --model cfm:sigma=0x1p-3 --data "$T/good.npy" \
    -o "$T/x.safetensors"
expect_error 2 "--eps: '0x10' is not a finite number" eval --metric sinkhorn "$T/good.npy" "$T/good.npy" --eps 0x10
expect_error 2 "gauss: d needs a finite number, got '0x3'" data gauss:d=0x3 -o "$T/x.npy"
expect_error 2 "--target bogus: target: unknown name 'bogus'" eval --metric ksd "$T/good.npy" --target bogus
if "$V" fit --model rf:hidden=8x1,df=4 --data "$T/good.npy" --epochs 1 -o "$T/t.safetensors" --quiet 2>"$T/err" &&
    "$V" info "$T/t.safetensors" --json | grep -q '\\"source\\":{\\"kind\\":\\"student_t\\",\\"df\\":4}'; then
    ok
else
    bad "rf:df=4 did not give a Student-t source: $(cat "$T/err"; "$V" info "$T/t.safetensors" --json | head -c 600)"
fi
# Whole-number options take exponent notation when the value is whole, the seed too.
if "$V" data moons -n 1e1 --seed 1e1 -o "$T/e.csv" >/dev/null 2>"$T/err" && [ "$(lines "$T/e.csv")" -ge 10 ]; then
    ok
else
    bad "-n 1e1 --seed 1e1: $(cat "$T/err")"
fi
expect_error 2 "--seed" data moons -n 5 --seed 1.5e0 -o "$T/e.csv"

finish
