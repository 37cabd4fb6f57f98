#!/usr/bin/env bash
# test_cli.sh — the `varflow` program's top level: --help, --version, per-command help, exit codes
# (0 success, 2 usage error) and one-line errors on stderr. Usage: test_cli.sh PATH/TO/varflow
set -u
V=${1:?usage: test_cli.sh PATH/TO/varflow}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# run ARGS...: run varflow, keeping stdout, stderr and the exit code in $T.
run() { "$V" "$@" >"$T/out" 2>"$T/err"; rc=$?; }
lines() { wc -l <"$1" | tr -d ' '; }

# expect RC ARGS...: the exit code is RC; a failure prints exactly one line on stderr and nothing on stdout.
expect() {
    local want=$1
    shift
    run "$@"
    if [ "$rc" != "$want" ]; then
        bad "varflow $*: exit code $rc, expected $want"
        return
    fi
    if [ "$want" != 0 ]; then
        if [ "$(lines "$T/err")" != 1 ] || [ -s "$T/out" ]; then
            bad "varflow $*: expected one line on stderr and empty stdout, got: $(cat "$T/err" "$T/out")"
            return
        fi
        if ! grep -q '^varflow' "$T/err"; then
            bad "varflow $*: error line does not start with 'varflow': $(cat "$T/err")"
            return
        fi
    fi
    ok
}

# --help: exit 0, stdout only, lists its commands.
expect 0 --help
if grep -q '^Usage: varflow <command>' "$T/out" && [ ! -s "$T/err" ]; then ok; else bad "--help output"; fi
cp "$T/out" "$T/help"
expect 0 -h
if cmp -s "$T/out" "$T/help"; then ok; else bad "-h differs from --help"; fi

# The commands listed by --help: the lines after "Commands:" up to the first blank line.
commands=$(awk '/^Commands:/ {on = 1; next} on && /^$/ {exit} on {print $1}' "$T/help")
if echo "$commands" | grep -qx data; then ok; else bad "--help does not list 'data': $commands"; fi
for c in $commands; do
    # Each listed command has a one-line summary after its name.
    if grep -Eq "^  $c +[a-z]" "$T/help"; then ok; else bad "--help: no summary for $c"; fi
    expect 0 "$c" --help
    if grep -q "^Usage: varflow $c" "$T/out" && [ ! -s "$T/err" ]; then ok; else bad "$c --help: no 'Usage: varflow $c' line"; fi
    expect 0 "$c" -h
    expect 0 help "$c"
    expect 2 "$c" --no-such-option-xyz
    if grep -q "no-such-option-xyz" "$T/err"; then ok; else bad "$c: error does not name the bad option"; fi
done

# --version: "varflow X.Y.Z".
expect 0 --version
if grep -Eqx 'varflow [0-9]+\.[0-9]+\.[0-9]+' "$T/out"; then ok; else bad "--version printed '$(cat "$T/out")'"; fi
expect 2 --version extra

# Usage errors: exit 2 and one line.
expect 2
expect 2 no-such-command
if grep -q "no-such-command" "$T/err"; then ok; else bad "unknown command not named in the error"; fi
expect 2 --no-such-option
expect 2 help no-such-command
expect 2 --help extra

# `help` alone is --help.
expect 0 help
if cmp -s "$T/out" "$T/help"; then ok; else bad "'varflow help' differs from --help"; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
