#!/bin/sh
# gen_api.sh — writes the C API reference (docs/api.md) from the public headers: for include/varflow.h
# and each include/varflow/*.h, its usage section (the opening comment), then every public function
# and type with the comment above it, in header order. Functions declared together under one comment
# form one entry. POSIX sh and awk only.
#
#   docs/gen_api.sh > docs/api.md          (or: make api)
#
# tests/cli/test_api_docs.sh regenerates the file and fails when the committed one differs, so after
# changing a header run `make api` and commit docs/api.md with it.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT/include"
HEADERS="varflow.h $(LC_ALL=C ls varflow/*.h)"

cat <<'EOF'
# varflow C API reference

Generated from the public headers by `docs/gen_api.sh` (`make api`); do not edit by hand. Include
`<varflow.h>` for everything, and build with `pkg-config --cflags --libs varflow` or CMake's
`find_package(varflow)` ([install.md](install.md)). Conventions: functions return `vf_status`
(`VF_OK` = 0) and leave a message for `vf_last_error()`; array arguments carry their shape in a
comment (`/* [n, d] */`, row-major); `vf_real` is `float` or `double` as the library was built
(`VF_USE_DOUBLE`). The guides ([engine.md](engine.md), [flows.md](flows.md), [cnf.md](cnf.md),
[ot.md](ot.md), [particles.md](particles.md), [vi.md](vi.md)) explain how the pieces fit together.

## Headers

EOF

# One awk program reads a header; mode=summary prints its line of the contents, mode=full its section.
PROGRAM='
    function flush_group(   i) {
        if (ng == 0) { return }
        out = out "\n#### " names "\n\n```c\n"
        if (gcomment != "") out = out gcomment "\n"
        for (i = 1; i <= ng; i++) out = out group[i] "\n"
        out = out "```\n"
        ng = 0; names = ""; gcomment = ""
    }
    function strip_comments(s) { gsub(/\/\*([^*]|\*+[^*\/])*\*+\//, "", s); return s }
    function count(s, c,   n) { n = gsub(c, "", s); return n }
    BEGIN { incomment = 0; usage_done = 0; cbuf = ""; decl = ""; depth = 0; ng = 0; incxx = 0; cont = 0 }
    {
        line = $0; sub(/[ \t\r]+$/, "", line)
        if (incomment) {
            cbuf = cbuf "\n" line
            if (index(line, "*/")) {
                incomment = 0
                if (!usage_done) { usage = cbuf; usage_done = 1; cbuf = "" }
            }
            next
        }
        if (cont) { cont = (line ~ /\\$/); next }                      # a macro continued
        if (line ~ /^[ \t]*#/) {
            if (line ~ /^#ifdef __cplusplus/) incxx = 1
            else if (incxx && line ~ /^#endif/) incxx = 0
            cont = (line ~ /\\$/)
            next
        }
        if (incxx) next                                                # extern "C" { and }
        if (decl == "" && line ~ /^$/) { flush_group(); cbuf = ""; next }
        if (decl == "" && line ~ /^[ \t]*\/\*/) {
            flush_group()
            if (usage_done && line ~ /^\/\* -+ .* -+ \*\/$/) {                # a section: /* ---- name ---- */
                t = line; sub(/^\/\* -+ /, "", t); sub(/ -+ \*\/$/, "", t)
                out = out "\n### " t "\n"; cbuf = ""; next
            }
            cbuf = line
            if (!index(line, "*/")) incomment = 1
            else if (!usage_done) { usage = cbuf; usage_done = 1; cbuf = "" }
            next
        }
        # Code: gather one statement (to the ";" that ends it at brace depth 0).
        decl = (decl == "") ? line : decl "\n" line
        code = strip_comments(line)
        depth += count(code, "{") - count(code, "}")
        if (depth > 0 || code !~ /;/) next
        stmt = decl; decl = ""
        flat = strip_comments(stmt); gsub(/[ \t\n]+/, " ", flat)
        name = ""
        if (flat ~ /^typedef / || flat ~ /^(struct|enum|union) /) {
            # A type: its name is the last identifier before the final ";".
            t = flat; sub(/ *; *$/, "", t); n = split(t, w, /[^A-Za-z0-9_]+/)
            for (i = n; i >= 1; i--) if (w[i] != "") { name = w[i]; break }
            if (flat ~ /\(\*/ && flat !~ /\{/) { t = flat; sub(/\).*/, "", t); sub(/.*\(\* */, "", t); name = t }
            flush_group()
            if (name == lasttype) {                                    # #if ... #else variants of one type
                out = substr(out, 1, length(out) - 4) "/* or, in the other configuration: */\n" stmt "\n```\n"
                cbuf = ""; next
            }
            lasttype = name
            names = "type " name; group[++ng] = stmt; gcomment = cbuf; flush_group(); cbuf = ""
            next
        }
        if (flat ~ /\(/ && flat !~ /\{/) {
            t = flat; sub(/ *\(.*/, "", t); sub(/.*[^A-Za-z0-9_]/, "", t); name = t
        }
        if (name !~ /^vf_/) { flush_group(); cbuf = ""; next }        # not a public function
        if (ng == 0) gcomment = cbuf
        names = (names == "") ? name : names ", " name
        group[++ng] = stmt
        cbuf = ""
    }
    END {
        flush_group()
        # The opening comment as text ("/* ", " * " and " */" removed): its first paragraph, whose
        # text after "NAME.h — " is the summary, then the rest verbatim.
        n = split(usage, L, "\n")
        for (i = 1; i <= n; i++) {
            s = L[i]; sub(/^\/\* ?/, "", s); sub(/^ \*\/$/, "", s); sub(/ *\*\/$/, "", s); sub(/^ \* ?/, "", s); sub(/^ \*$/, "", s)
            L[i] = s
        }
        para = ""
        for (i = 1; i <= n && L[i] != ""; i++) para = (para == "") ? L[i] : para " " L[i]
        summary = para; sub(/^[^ ]+ *(—|-+) */, "", summary)
        if (match(summary, /\. [A-Z]/)) summary = substr(summary, 1, RSTART)
        if (mode == "summary") {
            a = tolower(h); gsub(/[^a-z0-9_ -]/, "", a)
            printf "- [%s](#%s): %s\n", h, a, summary
            exit
        }
        printf "\n## %s\n\n%s\n", h, para
        while (i <= n && L[i] == "") i++
        last = n; while (last >= i && L[last] == "") last--
        if (i <= last) {
            printf "\n```text\n"
            for (; i <= last; i++) printf "%s\n", L[i]
            printf "```\n"
        }
        printf "%s", out
    }'

# The contents: one line per header with its summary (the usage section's first sentence).
for h in $HEADERS; do awk -v h="$h" -v mode=summary "$PROGRAM" "$h"; done
for h in $HEADERS; do awk -v h="$h" -v mode=full "$PROGRAM" "$h"; done
