# harness.sh — sourced by CLI test scripts (after `set -u`):
#   . "$(dirname "$0")/harness.sh"
# gives a temporary folder $T, removed at exit; the counters and ok / bad (a failure with its message
# on stderr); and finish, which prints "N passed, N failed" and exits non-zero after any failure.
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" = 0 ]
    exit $?
}
