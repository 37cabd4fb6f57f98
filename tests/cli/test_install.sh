#!/usr/bin/env bash
# test_install.sh — `cmake --install` the build that made PATH/TO/varflow into a temporary prefix, then
# compile and run a small C program against it through `pkg-config --cflags --libs varflow`, and run
# the installed varflow. Skipped (exit 0, with a note) when pkg-config is not installed.
# Usage: test_install.sh PATH/TO/varflow
set -u
V=${1:?usage: test_install.sh PATH/TO/varflow}
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" = 0 ]
    exit $?
}

if ! command -v pkg-config >/dev/null 2>&1; then
    echo "note: pkg-config is not installed; skipping the install test"
    finish
fi
BUILD=$(cd "$(dirname "$V")" && pwd)
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    echo "note: $BUILD is not a CMake build folder; skipping the install test"
    finish
fi
CC=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
CC=${CC:-cc}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PREFIX=$T/prefix

if cmake --install "$BUILD" --prefix "$PREFIX" >"$T/install.log" 2>&1; then ok; else
    bad "cmake --install failed: $(tail -n 5 "$T/install.log")"
    finish
fi
for f in include/varflow.h include/varflow/vf_config.h include/varflow/vf_data.h bin/varflow; do
    if [ -e "$PREFIX/$f" ]; then ok; else bad "not installed: $f"; fi
done
PC=$(find "$PREFIX" -name varflow.pc -print -quit)
if [ -n "$PC" ]; then ok; else
    bad "varflow.pc not installed"
    finish
fi
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$PC")
# The .pc file names the prefix chosen at configure time; point it at where we installed.
PCARGS=(--define-variable=prefix="$PREFIX")
LIBDIR=$(pkg-config "${PCARGS[@]}" --variable=libdir varflow)

# A sanitizer build's library needs the sanitizer runtime in the program too.
EXTRA=()
if grep -q '^VF_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt"; then EXTRA=("-fsanitize=address,undefined"); fi

cat >"$T/prog.c" <<'CEOF'
#include <stdio.h>
#include <string.h>
#include <varflow.h>

int main(void)
{
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    vf_tensor x;
    if (vf_toy_sample("moons", "noise=0", 100, &r, &x) != VF_OK) {
        fprintf(stderr, "%s\n", vf_last_error());
        return 1;
    }
    double m = 0;
    for (int i = 0; i < 200; i++) m += x.data[i];
    vf_tensor_free(&x);
    printf("varflow %s %s %d\n", vf_version(), strcmp(VF_VERSION_STRING, vf_version()) == 0 ? "match" : "mismatch",
           m == m);
    return 0;
}
CEOF
# shellcheck disable=SC2046
if "$CC" -std=c11 "${EXTRA[@]}" "$T/prog.c" -o "$T/prog" $(pkg-config "${PCARGS[@]}" --cflags --libs varflow) \
    >"$T/cc.log" 2>&1; then ok; else
    bad "compiling against the installed library failed: $(head -n 5 "$T/cc.log")"
    finish
fi
out=$(LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$T/prog" 2>&1)
if [[ "$out" =~ ^varflow\ [0-9]+\.[0-9]+\.[0-9]+\ match\ 1$ ]]; then ok; else bad "installed program printed: $out"; fi
# The program links the installed shared library, not the build folder's.
if command -v ldd >/dev/null 2>&1; then
    if LD_LIBRARY_PATH="$LIBDIR" ldd "$T/prog" | grep -q "$LIBDIR/libvarflow"; then ok; else
        bad "the program does not use $LIBDIR/libvarflow: $(LD_LIBRARY_PATH="$LIBDIR" ldd "$T/prog" | grep varflow)"
    fi
fi
# The installed program runs.
if "$PREFIX/bin/varflow" --version | grep -Eqx 'varflow [0-9]+\.[0-9]+\.[0-9]+'; then ok; else bad "installed varflow --version"; fi
finish
