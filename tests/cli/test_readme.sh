#!/usr/bin/env bash
# test_readme.sh — runs the README's tour as a newcomer would: every ```sh block preceded by the line
# <!-- readme-test --> is run, top to bottom, in one bash in an empty temporary folder with the
# build's varflow first on PATH; the test fails at the first command that fails (naming it), or when
# the README has no such blocks or its tour lacks one of fit, logprob, sample, vi, eval, or a docs/*.md
# is not linked from the README. In a sanitizer or Debug build only the extraction and the links are
# checked (the tour would take minutes there).
# Usage: test_readme.sh PATH/TO/varflow
set -u
V=${1:?usage: test_readme.sh PATH/TO/varflow}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "$(dirname "$V")" && pwd)
. "$(dirname "$0")/harness.sh"
die() { bad "$*"; finish; }

# The marked blocks (the marker must be the line right before the block's opening fence).
awk '/^<!-- readme-test -->$/ { marked = NR; next }
     /^```sh$/ && marked == NR - 1 { inblock = 1; n++; next }
     inblock && /^```$/ { inblock = 0; next }
     inblock { print }
     END { if (inblock) exit 1 }' "$ROOT/README.md" >"$T/tour.sh" || die "an unterminated readme-test block"
n=$(grep -c '^<!-- readme-test -->$' "$ROOT/README.md")
if [ "$n" -lt 3 ]; then die "README.md has $n readme-test blocks"; fi
for c in fit logprob sample vi eval; do
    grep -q "^varflow $c " "$T/tour.sh" || die "the README's tour does not run varflow $c"
done

# The documentation index links every docs/*.md.
for d in "$ROOT"/docs/*.md; do
    grep -q "(docs/$(basename "$d"))" "$ROOT/README.md" || die "README.md does not link docs/$(basename "$d")"
done

# The tour trains two flows: minutes in an unoptimized sanitizer build, seconds in a release one,
# where it runs (the commands are the same in every build; the other tests cover the sanitizers).
CACHE=$BIN/CMakeCache.txt
if [ -f "$CACHE" ] && grep -Eq '^(VF_SANITIZE:BOOL=ON|CMAKE_BUILD_TYPE:STRING=Debug)$' "$CACHE"; then
    echo "note: a sanitizer or Debug build; the README tour runs in the optimized builds"
    finish
    exit 0
fi

mkdir "$T/work"
(
    cd "$T/work" || exit 1
    export PATH="$BIN:$PATH"
    set -e -o pipefail
    trap 'echo "FAIL: README command failed (exit $?): $BASH_COMMAND" >&2' ERR
    # shellcheck disable=SC1091
    . "$T/tour.sh"
) >"$T/out" 2>&1
rc=$?
if [ "$rc" != 0 ]; then
    cat "$T/out" >&2
    die "the README's tour stopped with exit $rc"
fi
ok
finish
