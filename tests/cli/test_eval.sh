#!/usr/bin/env bash
# test_eval.sh — `varflow eval`: every metric on small point sets whose value is known in closed form,
# --json keys, and one clear error (exit 1 for bad files, 2 for bad usage) for mismatched dimensions,
# empty files, negative weights, eps <= 0, unknown metrics. Usage: test_eval.sh PATH/TO/varflow
set -u
V=${1:?usage: test_eval.sh PATH/TO/varflow}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
run() { "$V" "$@" >"$T/out" 2>"$T/err"; rc=$?; }
# expect_value WANT TOL ARGS...: exit 0 and one number on stdout within TOL of WANT.
expect_value() {
    local want=$1 tol=$2
    shift 2
    run eval "$@"
    if [ "$rc" != 0 ]; then
        bad "varflow eval $*: exit code $rc ($(head -c 300 "$T/err"))"
        return
    fi
    if awk -v g="$(cat "$T/out")" -v w="$want" -v t="$tol" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= t) }'; then
        ok
    else
        bad "varflow eval $*: got $(cat "$T/out"), expected $want +- $tol"
    fi
}
# expect_error CODE PATTERN ARGS...: exit CODE, one line on stderr matching PATTERN, nothing on stdout.
expect_error() {
    local want=$1 pattern=$2
    shift 2
    run eval "$@"
    if [ "$rc" != "$want" ] || [ "$(wc -l <"$T/err" | tr -d ' ')" != 1 ] || [ -s "$T/out" ] ||
        ! grep -q -- "$pattern" "$T/err"; then
        bad "varflow eval $*: exit $rc (want $want), stderr: $(cat "$T/err"), stdout: $(cat "$T/out")"
    else
        ok
    fi
}

cd "$T" || exit 1
printf '0,0\n3,0\n' >a.csv
printf '3,2\n0,2\n' >b.csv # the optimal plan moves each point of a straight up by 2
printf '0\n1\n' >a1.csv
printf '2\n3\n' >b1.csv
printf '0\n' >z1.csv
printf '1\n' >o1.csv
: >empty.csv
printf '0.5\n-0.5\n' >wneg.csv
printf '1\n1\n1\n' >w3.csv
printf '1\n3\n' >w13.csv
printf '2\n' >two1.csv

expect_value 4 1e-12 --metric emd a.csv b.csv
expect_value 2 1e-12 --metric w2 a.csv b.csv
expect_value 2 1e-12 --metric emd a.csv b.csv --cost euclidean
# weights 1/4, 3/4 at 0 and 1, all moved to 2: 1/4 * 4 + 3/4 * 1; unequal sizes: half of the mass moves by 1
expect_value 1.75 1e-12 --metric emd a1.csv two1.csv --weights-a w13.csv
expect_value 0.5 1e-12 --metric emd a1.csv z1.csv
expect_value 0.70710678118654752 1e-9 --metric w2 a1.csv z1.csv
# A huge eps gives the independent coupling: the mean of the four costs (4 + 13 + 13 + 4) / 4, less
# O(1/eps); a small one gives the exact cost.
expect_value 8.5 1e-3 --metric sinkhorn a.csv b.csv --eps 1e6
expect_value 4 1e-6 --metric sinkhorn a.csv b.csv --eps 0.01
# The divergence of a sample with itself is 0; for a tiny eps it approaches the exact W2^2.
expect_value 0 1e-9 --metric sinkhorn_div a.csv a.csv
expect_value 4 1e-3 --metric sinkhorn_div a.csv b.csv --eps 0.01
expect_error 2 "squared Euclidean" --metric sinkhorn_div a.csv b.csv --cost euclidean
# energy: 2 (2 + sqrt 13) / 2 ... = 2 (1 + sqrt(13) / 2) - 1.5 - 1.5
expect_value "$(awk 'BEGIN { printf "%.15f", 2 * (1 + sqrt(13) / 2) - 3 }')" 1e-9 --metric energy a.csv b.csv
# In 1-D every direction is +-1: sliced W is the 1-D W_p, here a shift by 2.
expect_value 2 1e-9 --metric sw a1.csv b1.csv
expect_value 2 1e-9 --metric sw a1.csv b1.csv --p 1 --projections 7
expect_value 2 1e-9 --metric sw a1.csv b1.csv --directions qmc
expect_error 2 "unknown kind 'sobol'" --metric sw a1.csv b1.csv --directions sobol
expect_error 2 "is for --metric sw" --metric emd a1.csv b1.csv --directions qmc
# Gaussian MMD^2 of two points at distance 1, bandwidth 1: 2 - 2 exp(-1/2)
expect_value 0.786938680574733 1e-9 --metric mmd z1.csv o1.csv --bandwidth 1
expect_value 2 1e-9 --metric energy z1.csv o1.csv

# KSD^2 of one point x under N(0, 1) with the IMQ kernel (c = 1, beta = -1/2), V-statistic: the Stein
# kernel at (x, x) is s(x)^2 k + (div_x div_y k) = x^2 + 1 (s = -x, the kernel's gradient vanishes at r = 0)
expect_value 5 1e-9 --metric ksd two1.csv --target gauss:d=1
expect_error 2 "needs --target" --metric ksd a.csv
expect_error 2 "one sample file" --metric ksd a.csv b.csv --target gauss
expect_error 2 "only for --metric ksd\|is for --metric ksd" --metric sw a.csv b.csv --target gauss
expect_error 1 "dimension 3" --metric ksd a.csv --target gauss:d=3
# a value beyond the number range is an error, not a printed NaN
expect_error 1 "mmd: the value is not finite" --metric mmd --bandwidth 1e-300 a.csv b.csv
expect_error 1 "ksd: the value is not finite" --metric ksd a.csv --target gauss --bandwidth 1e-300
# a bad --target spec is a usage error (2), as in vi, mcmc and particles
expect_error 2 "nosuchtarget" --metric ksd a.csv --target nosuchtarget

run eval --metric w2 a.csv b.csv --json
if grep -q '"metric":"w2"' "$T/out" && grep -q '"value":2' "$T/out" && grep -q '"n":2,"m":2,"dim":2' "$T/out"; then
    ok
else
    bad "--json: $(cat "$T/out")"
fi

# Sinkhorn stopped by --max-iter: "converged":false and the warning on stderr, with --json too.
printf '0,0\n1,0\n0,1\n' >c3.csv
printf '5,5\n2,0\n0,3\n' >d3.csv
run eval --metric sinkhorn c3.csv d3.csv --eps 0.5 --max-iter 2 --json
if [ "$rc" = 0 ] && grep -q '"iterations":2,"converged":false}' "$T/out" && grep -q "warning: sinkhorn: the marginals are off" "$T/err"; then
    ok
else
    bad "sinkhorn at --max-iter: rc $rc, $(cat "$T/out" "$T/err")"
fi
run eval --metric sinkhorn_div c3.csv d3.csv --eps 0.5 --json
if [ "$rc" = 0 ] && grep -q '"converged":true}' "$T/out" && [ ! -s "$T/err" ]; then ok; else bad "sinkhorn_div: $(cat "$T/out" "$T/err")"; fi

expect_error 1 "same dimension" --metric emd a1.csv a.csv
expect_error 1 "empty" --metric sw empty.csv a.csv
expect_error 1 "non-negative" --metric sinkhorn a.csv b.csv --weights-a wneg.csv
expect_error 1 "weights of" --metric sinkhorn a.csv b.csv --weights-b w3.csv
expect_error 2 "not positive" --metric sinkhorn a.csv b.csv --eps 0
expect_error 2 "not positive" --metric sinkhorn a.csv b.csv --eps -0.5
expect_error 2 "unknown metric" --metric w3 a.csv b.csv
expect_error 2 "does not take weights" --metric mmd a.csv b.csv --weights-a w3.csv
expect_error 2 "missing the sample files" --metric emd a.csv
expect_error 1 "nosuch.csv" --metric emd nosuch.csv a.csv

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
