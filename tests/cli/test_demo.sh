#!/usr/bin/env bash
# test_demo.sh — `varflow demo` (what `make demo` runs): a short run's files, its JSON against
# `varflow logprob` / `varflow info` on those files, reproducibility from --seed, the text report,
# and its usage and runtime errors. Usage: test_demo.sh PATH/TO/varflow
set -u
V=${1:?usage: test_demo.sh PATH/TO/varflow}
. "$(dirname "$0")/harness.sh"
check() { if eval "$1"; then ok; else bad "$2"; fi; }
num() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p" "$2"; }
# awk_true EXPR: exit status 0 when the awk expression is true.
awk_true() { awk "BEGIN { exit !($1) }"; }

# In a Debug or sanitizer build (several times slower) only the first run, its checks and the errors.
B=$(dirname "$V")/CMakeCache.txt
QUICK=0
STEPS=300
if grep -q -e '^VF_SANITIZE:BOOL=ON' -e '^CMAKE_BUILD_TYPE:STRING=Debug' "$B" 2>/dev/null; then
    QUICK=1
    STEPS=20
    echo "note: Debug/sanitizer build: the reproducibility and text-report runs are skipped"
fi

# A short run (300 steps) with --json: one JSON line, every file in place, no temporary left behind.
"$V" demo -o "$T/d" --steps $STEPS --seed 4 --json >"$T/out" 2>"$T/err"
check '[ $? = 0 ]' "demo --json failed: $(cat "$T/err")"
check '[ "$(wc -l <"$T/out")" = 1 ] && [ ! -s "$T/err" ]' "demo --json printed more than one line: $(cat "$T/out" "$T/err")"
for f in train.npy valid.npy test.npy model.safetensors train_log.jsonl samples.csv; do
    check '[ -s "$T/d/$f" ]' "demo did not write $f"
done
check '[ -z "$(ls "$T/d" | grep -v -e "\.npy$" -e "\.safetensors$" -e "\.jsonl$" -e "\.csv$" -e "\.svg$")" ]' "stray files: $(ls "$T/d")"
# the pictures (varflow plot): the density with test points over it, the training curves
for f in density.svg curves.svg; do
    check 'grep -q "</svg>" "$T/d/$f" && grep -q "\"$f\"" <(sed "s|$T/d/||g" "$T/out")' "demo did not write $f or omitted it from --json"
done
check '[ "$(sed -n "/<g id=\"points\"/,/<\/g>/p" "$T/d/density.svg" | grep -c "<circle")" -gt 1900 ]' "density.svg lacks the test points"
for k in entropy test_nll test_nll_stderr valid_nll epochs steps seconds params samples_inside; do
    check '[ -n "$(num $k "$T/out")" ]' "key $k missing in $(cat "$T/out")"
done
check 'grep -q "\"set\":\"checkerboard\"" "$T/out" && [ "$(num steps "$T/out")" = $STEPS ]' "set/steps: $(cat "$T/out")"
check '[ "$(num entropy "$T/out")" = 3.4657359 ]' "checkerboard entropy: $(cat "$T/out")"
# 50000 training rows at batch 256: 196 steps per epoch, so 300 steps are 2 epochs (two log lines).
check '[ "$(wc -l <"$T/d/train_log.jsonl")" = $((STEPS > 196 ? 2 : 1)) ]' "log lines: $(cat "$T/d/train_log.jsonl")"
check '[ "$(wc -l <"$T/d/samples.csv")" = 5000 ] && [ "$(head -1 "$T/d/samples.csv" | tr "," "\n" | wc -l)" = 2 ]' \
    "samples.csv is not 5000 rows of 2"

# The reported test NLL is that of the model file on test.npy (varflow logprob agrees), and it obeys
# the entropy: the mean of 20000 rows cannot lie more than 5 standard errors below log 32 = 3.466
# (a missing Jacobian term would break this); after 300 steps it is well below a Gaussian's best,
# 4.51, and most samples fall on the dark squares.
"$V" logprob --model "$T/d/model.safetensors" --data "$T/d/test.npy" --json >"$T/lp" 2>"$T/err"
nll=$(num test_nll "$T/out")
se=$(num test_nll_stderr "$T/out")
lp=$(num mean_log_prob "$T/lp")
check 'awk_true "($nll + $lp) < 1e-5 && ($nll + $lp) > -1e-5"' "demo test NLL $nll, logprob mean $lp"
check 'awk_true "$nll > 3.4657 - 5 * $se && $se > 0 && $se < 0.02"' "test NLL $nll +- $se"
if [ "$QUICK" = 0 ]; then
    check 'awk_true "$nll < 4.3 && $(num samples_inside "$T/out") > 0.5"' "300 steps: $(cat "$T/out")"
fi
"$V" info "$T/d/model.safetensors" --json >"$T/info" 2>"$T/err"
check 'grep -q "\"kind\":\"model\"" "$T/info" && [ "$(num params "$T/info")" = "$(num params "$T/out")" ]' \
    "info model: $(cat "$T/info" "$T/err")"
check 'grep -q "\"fit.spec\":\"nsf\"" "$T/info"' "the model file does not record fit.spec nsf: $(cat "$T/info")"
"$V" info "$T/d/test.npy" --json >"$T/info" 2>"$T/err"
check 'grep -q "\"n\":20000,\"dim\":2" "$T/info"' "info test.npy: $(cat "$T/info" "$T/err")"

if [ "$QUICK" = 0 ]; then
# The same seed gives the same files (run again into the same folder: the model file records its
# data paths); another seed other data.
cp -r "$T/d" "$T/d0"
"$V" demo -o "$T/d" --steps 300 --seed 4 --quiet >"$T/out2" 2>"$T/err"
check '[ $? = 0 ] && [ ! -s "$T/out2" ] && [ ! -s "$T/err" ]' "demo --quiet printed: $(cat "$T/out2" "$T/err")"
for f in train.npy test.npy model.safetensors samples.csv train_log.jsonl; do
    if [ "$f" = train_log.jsonl ]; then # the same numbers; only the seconds differ
        check 'diff <(sed "s/,\"seconds\".*//" "$T/d0/$f") <(sed "s/,\"seconds\".*//" "$T/d/$f") >/dev/null' "same seed, different $f"
    else
        check 'cmp -s "$T/d0/$f" "$T/d/$f"' "same seed, different $f"
    fi
done
"$V" demo -o "$T/e" --steps 300 --seed 5 --quiet
check '! cmp -s "$T/d/train.npy" "$T/e/train.npy"' "another seed gave the same training data"

# The text report (8gaussians, a few steps): the entropy, the test NLL and the commands to look.
"$V" demo -o "$T/g" --set 8gaussians --steps 20 >"$T/out" 2>"$T/err"
check '[ $? = 0 ]' "demo --set 8gaussians failed: $(cat "$T/err")"
for pat in "entropy" "held-out test NLL" "varflow info $T/g/model.safetensors" "varflow logprob --model $T/g/model.safetensors" \
    "varflow sample --model $T/g/model.safetensors" "varflow fit --data $T/g/train.npy" "varflow data 8gaussians"; do
    check 'grep -qF "$pat" "$T/out"' "the report lacks '$pat'"
done

fi

# Errors: one line on stderr, nothing on stdout; usage errors exit 2, a folder that cannot be made 1.
expect() {
    local want=$1
    shift
    "$V" demo "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    check '[ $rc = $want ] && [ "$(wc -l <"$T/err")" = 1 ] && [ ! -s "$T/out" ] && grep -q "^varflow demo: " "$T/err"' \
        "demo $*: exit $rc (wanted $want): $(cat "$T/out" "$T/err")"
}
expect 2 --set moons -o "$T/x"
expect 2 --steps 0 -o "$T/x"
expect 2 --epochs abc -o "$T/x"
expect 2 extra -o "$T/x"
: >"$T/file"
expect 1 -o "$T/file"
expect 1 -o "$T/file/sub"

finish
