#!/usr/bin/env bash
# test_posteriordb.sh — the posteriordb check, one case cheaply: bench/quality/posteriordb.sh on
# eight_schools-eight_schools_noncentered with a small flow (glow:transforms=4,hidden=16x2,
# base=diag_normal, 1000 steps, seed 1, one thread) and 10000 importance-sampling draws. It passes when
# every posterior mean is within 0.1 reference sd and every sd within 10% (the issue's bounds) and the
# weights' ESS fraction is at least 0.2: then the Monte Carlo standard error of a mean is at most
# sqrt(1/2000 + 1/10000) = 0.024 sd, so 0.1 sd is 4 standard errors (and the sd's, for tau's heavy tail
# with kurtosis near 10, about 0.025: 10% is 4). A wrong prior or a missing log-Jacobian moves mu or
# tau by more than that (docs/vi.md). Also a missing data file and --constrained's errors.
# Environment (tests/CMakeLists.txt): VF_POSTERIORDB_PLUGINS (the built plugins' folder) and
# VF_SHARED_DATA; without them (no dlopen) the test is skipped.
# Usage: test_posteriordb.sh PATH/TO/varflow
set -u
V=${1:?usage: test_posteriordb.sh PATH/TO/varflow}
PLUG=${VF_POSTERIORDB_PLUGINS:-}
DATA=${VF_SHARED_DATA:-}/posteriordb
if [ -z "$PLUG" ] || [ ! -f "$PLUG/eight_schools_noncentered.so" ] || [ ! -d "$DATA" ]; then
    echo "skipped: no plugins or no posteriordb data"
    exit 0
fi
HERE=$(cd "$(dirname "$0")" && pwd)
. "$(dirname "$0")/harness.sh"
C=eight_schools-eight_schools_noncentered
"$HERE/../../bench/quality/posteriordb.sh" "$V" "$PLUG" "$DATA" "$T" "$C" \
    --flow glow:transforms=4,hidden=16x2,base=diag_normal --steps 1000 --lr 5e-3 --is-samples 10000 --seed 1 \
    --threads 1 >"$T/log" 2>&1 && ok || bad "posteriordb.sh: $(cat "$T/log") $(grep '\*\*no' "$T/posteriordb.md")"
cat "$T/posteriordb.md"
ess=$(sed -n 's/.*"ess_fraction":\([-0-9.eE+]*\).*/\1/p' "$T/$C.json")
awk -v e="$ess" 'BEGIN { exit !(e >= 0.2) }' && ok || bad "ESS fraction $ess < 0.2: the tolerances are not 4 standard errors"
[ "$(wc -l <"$T/$C.csv" | tr -d ' ')" = 10000 ] && awk -F, 'NF != 11 { exit 1 }' "$T/$C.csv" && ok ||
    bad "the constrained draws are not 10000 rows of theta[1..8], mu, tau, log w"

# The plugin's ARG errors: a missing data file is a one-line runtime error naming it.
"$V" vi --target "plugin:$PLUG/eight_schools_noncentered.so:$T/none.json" --steps 1 -o "$T/x.safetensors" \
    >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 1 ] && grep -q "none.json" "$T/err" && [ "$(wc -l <"$T/err" | tr -d ' ')" = 1 ] && ok ||
    bad "missing data file: exit $rc, $(cat "$T/err")"
# --constrained on a target without a constraining map is a runtime error; without --samples a usage error.
"$V" vi --target gauss --steps 2 --is-samples 25 --samples "$T/s.csv" --constrained -o "$T/x.safetensors" \
    >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 1 ] && grep -q "constrain" "$T/err" && ok || bad "--constrained on gauss: exit $rc, $(cat "$T/err")"
"$V" vi --target gauss --constrained -o "$T/x.safetensors" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 2 ] && grep -q "needs --samples" "$T/err" && ok || bad "--constrained alone: exit $rc, $(cat "$T/err")"
finish
