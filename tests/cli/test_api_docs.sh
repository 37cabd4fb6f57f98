#!/usr/bin/env bash
# test_api_docs.sh — docs/api.md is what docs/gen_api.sh makes from the headers now (regenerate with
# `make api` after changing a header), and every public function the library exports (vf_*, not the
# internal vf__*) has an entry in it.
# Usage: test_api_docs.sh PATH/TO/varflow
set -u
V=${1:?usage: test_api_docs.sh PATH/TO/varflow}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/harness.sh"

if sh "$ROOT/docs/gen_api.sh" >"$T/api.md" 2>"$T/err" && [ ! -s "$T/err" ]; then ok; else
    bad "docs/gen_api.sh failed: $(head -n 3 "$T/err")"
fi
if diff -u "$ROOT/docs/api.md" "$T/api.md" >"$T/diff"; then ok; else
    bad "docs/api.md is stale: run make api and commit it; the difference begins: $(head -n 12 "$T/diff")"
fi

LIB=$(dirname "$V")/libvarflow.so
if command -v nm >/dev/null 2>&1 && [ -f "$LIB" ]; then
    nm -D --defined-only "$LIB" | awk '$2 == "T" && $3 ~ /^vf_/ && $3 !~ /^vf__/ { print $3 }' | sort -u >"$T/exported"
    sed -n 's/^#### \(type \)\{0,1\}//p' "$T/api.md" | tr ',' '\n' | sed 's/^ *//' | sort -u >"$T/documented"
    missing=$(comm -23 "$T/exported" "$T/documented")
    if [ -s "$T/exported" ] && [ -z "$missing" ]; then ok; else
        bad "exported but not in docs/api.md (declare them in a public header): $(echo $missing)"
    fi
else
    echo "note: nm or $LIB not found; the exported-symbol check is skipped"
fi
finish
