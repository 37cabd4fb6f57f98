#!/usr/bin/env bash
# test_manpage.sh — docs/varflow.1 stays honest with the program: every command that `varflow --help`
# lists has a subsection (.SS NAME) in COMMANDS, every option that appears in `varflow CMD --help`
# (outside its common-options block) appears in that subsection, the common options appear under
# COMMON OPTIONS, the page's version is the program's, and groff renders it without warnings (when
# groff is installed). A new flag fails this test until the man page documents it.
# Usage: test_manpage.sh PATH/TO/varflow
set -u
V=${1:?usage: test_manpage.sh PATH/TO/varflow}
MAN=$(cd "$(dirname "$0")/../.." && pwd)/docs/varflow.1
. "$(dirname "$0")/harness.sh"

# The page as plain text, one source line per line: \- -> -, font escapes removed.
sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(em/-/g' "$MAN" >"$T/man.txt"
# section TITLE: the lines from ".SS TITLE" (or ".SH TITLE") to the next .SS or .SH.
section() { awk -v t="$1" '/^\.S[SH] / { on = (substr($0, 5) == t); next } on' "$T/man.txt"; }
# has WORD FILE: WORD appears delimited (not as part of a longer option name).
has() { grep -qE -- "(^|[^A-Za-z0-9_-])$1([^A-Za-z0-9_-]|\$)" "$2"; }
# The options named in a help text: every --word (except on example lines "  varflow ...", which may
# show other commands), and the -x that starts an option line.
options() {
    grep -vE '^ +varflow ' "$1" | grep -oE -- '(^|[^A-Za-z0-9_-])--[a-z][a-z0-9-]*' | sed 's/^[^-]*//'
    grep -oE -- '^ +-[A-Za-z]\b' "$1" | sed 's/^ *//'
}

"$V" --help >"$T/help" || bad "varflow --help exited $?"
cmds=$(awk '/^Commands:/ { on = 1; next } on && /^$/ { on = 0 } on { print $1 }' "$T/help")
if [ -n "$cmds" ]; then ok; else bad "no commands in varflow --help"; fi

# The common options (the top-level help's block) are under COMMON OPTIONS.
section "COMMON OPTIONS" >"$T/common"
awk '/^Common options:/ { on = 1; next } on && /^$/ { on = 0 } on' "$T/help" >"$T/common.help"
common=$(options "$T/common.help" | sort -u)
for o in $common --version; do
    if has "$o" "$T/common"; then ok; else bad "man page: COMMON OPTIONS lacks $o"; fi
done

for c in $cmds; do
    section "$c" >"$T/sec"
    if [ -s "$T/sec" ]; then ok; else
        bad "man page: no subsection .SS $c for the command $c"
        continue
    fi
    "$V" "$c" --help >"$T/chelp" 2>&1 || bad "varflow $c --help exited $?"
    # Leave out the common-options block that every command's help repeats.
    awk '/^Common options:/ { skip = 1 } !skip { print } skip && /--help/ { skip = 0 }' "$T/chelp" >"$T/own"
    # The common options are documented once, under COMMON OPTIONS; the rest in one awk pass.
    options "$T/own" | sort -u | grep -vxF -f <(echo "$common") >"$T/opts"
    missing=$(awk 'NR == FNR { text = text " " $0 " "; next }
        { if (!match(text, "[^A-Za-z0-9_-]" $0 "([^A-Za-z0-9_-]|$)")) print $0 }' "$T/sec" "$T/opts")
    if [ -s "$T/opts" ] && [ -z "$missing" ]; then ok; elif [ -n "$missing" ]; then
        bad "man page: the $c subsection lacks" $missing "(varflow $c --help has them)"
    fi
done

# The version in .TH is the program's.
ver=$("$V" --version | sed -n 's/^varflow //p')
if grep -q "^\.TH VARFLOW 1 .*\"varflow $ver\"" "$MAN"; then ok; else bad "man page: .TH does not say varflow $ver"; fi

if command -v groff >/dev/null 2>&1; then
    if groff -ww -z -man "$MAN" >"$T/groff" 2>&1 && [ ! -s "$T/groff" ]; then ok; else
        bad "groff -ww -z -man warns: $(head -n 5 "$T/groff")"
    fi
else
    echo "note: groff is not installed; the rendering check is skipped"
fi
finish
