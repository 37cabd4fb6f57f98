# harness.sh — sourced by CLI test scripts (after `set -u`):
#   . "$(dirname "$0")/harness.sh"
# gives a temporary folder $T, removed at exit; the counters and ok / bad (a failure with its message
# on stderr); finish, which prints "N passed, N failed" and exits non-zero after any failure; and
# expect_error RC PATTERN ARGS...: `$V ARGS` (V: the program) exits with RC, writes one line matching
# the extended regular expression PATTERN on stderr, and nothing on stdout. Also, for scripts that
# check `$V` runs one by one: run ARGS... (stdout to $T/out, stderr to $T/err, exit code in rc);
# expect RC ARGS... (run, then exit code RC, and on failure one stderr line and empty stdout);
# lines FILE; has TEXT (stderr contains it); json_num KEY (the number after "KEY": in $T/out).
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
expect_error() {
    local want=$1 pattern=$2
    shift 2
    "$V" "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" != "$want" ]; then
        bad "varflow $*: exit code $rc, expected $want; stderr: $(head -c 400 "$T/err")"
    elif [ "$(wc -l <"$T/err" | tr -d ' ')" != 1 ] || [ -s "$T/out" ]; then
        bad "varflow $*: expected one line on stderr and nothing on stdout, got: $(head -c 400 "$T/err" "$T/out")"
    elif ! grep -qE -- "$pattern" "$T/err"; then
        bad "varflow $*: error '$(cat "$T/err")' does not match /$pattern/"
    else
        ok
    fi
}
run() { "$V" "$@" >"$T/out" 2>"$T/err"; rc=$?; }
lines() { wc -l <"$1" | tr -d ' '; }
expect() {
    local want=$1
    shift
    run "$@"
    if [ "$rc" != "$want" ]; then
        bad "varflow $*: exit code $rc, expected $want ($(head -c 300 "$T/err"))"
        return
    fi
    if [ "$want" != 0 ] && { [ "$(lines "$T/err")" != 1 ] || [ -s "$T/out" ]; }; then
        bad "varflow $*: expected one line on stderr and empty stdout, got: $(cat "$T/err" "$T/out")"
        return
    fi
    ok
}
has() { grep -q -- "$1" "$T/err" && ok || bad "stderr lacks '$1': $(cat "$T/err")"; }
json_num() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p" "$T/out"; }
