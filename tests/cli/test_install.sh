#!/usr/bin/env bash
# test_install.sh — `cmake --install` the build that made PATH/TO/varflow into a temporary prefix, then
# use it as a newcomer would (docs/install.md):
#   - what is installed: headers, the versioned shared library with its SONAME, the static library,
#     the program, the man page, varflow.pc and the CMake package files;
#   - a small C program and examples/embed_model.c compiled with nothing but
#     `pkg-config --cflags --libs varflow`, run (embed_model on a model the installed varflow fits),
#     and a static link through `pkg-config --static`;
#   - a CMake project using find_package(varflow) with varflow::varflow and varflow::varflow_static;
#   - `make uninstall` removing every installed file and varflow's own folders.
# The build's install_manifest.txt (which `cmake --install` rewrites) is restored afterwards.
# Skipped (exit 0, with a note) when pkg-config is not installed.
# Usage: test_install.sh PATH/TO/varflow
set -u
V=${1:?usage: test_install.sh PATH/TO/varflow}
. "$(dirname "$0")/harness.sh"

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
SRC=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD/CMakeCache.txt")
MANIFEST=$BUILD/install_manifest.txt
if [ -f "$MANIFEST" ]; then cp -p "$MANIFEST" "$T/manifest.saved"; fi
restore() {
    if [ -f "$T/manifest.saved" ]; then cp -p "$T/manifest.saved" "$MANIFEST"; else rm -f "$MANIFEST"; fi
    rm -rf "$T"
}
trap restore EXIT
PREFIX=$T/prefix

if cmake --install "$BUILD" --prefix "$PREFIX" >"$T/install.log" 2>&1; then ok; else
    bad "cmake --install failed: $(tail -n 5 "$T/install.log")"
    finish
fi
for f in include/varflow.h include/varflow/vf_config.h include/varflow/vf_data.h bin/varflow \
    share/man/man1/varflow.1; do
    if [ -e "$PREFIX/$f" ]; then ok; else bad "not installed: $f"; fi
done
PC=$(find "$PREFIX" -name varflow.pc -print -quit)
if [ -n "$PC" ]; then ok; else
    bad "varflow.pc not installed"
    finish
fi
# lib/ or lib/<multiarch>/: the folder of varflow.pc's parent.
LIBDIR=$(cd "$(dirname "$PC")/.." && pwd)
VERSION=$("$PREFIX/bin/varflow" --version | sed -n 's/^varflow //p')
MAJOR=${VERSION%%.*}
for f in "libvarflow.so.$VERSION" "libvarflow.so.$MAJOR" libvarflow.so libvarflow.a cmake/varflow/varflowConfig.cmake \
    cmake/varflow/varflowConfigVersion.cmake cmake/varflow/varflowTargets.cmake; do
    if [ -e "$LIBDIR/$f" ]; then ok; else bad "not installed: $LIBDIR/$f"; fi
done
if command -v objdump >/dev/null 2>&1; then
    if objdump -p "$LIBDIR/libvarflow.so.$VERSION" | grep -Eq "SONAME +libvarflow\.so\.$MAJOR\$"; then ok; else
        bad "the shared library's SONAME is not libvarflow.so.$MAJOR"
    fi
fi
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$PC")
# The .pc file names the prefix chosen at configure time; point it at where we installed.
PCARGS=(--define-variable=prefix="$PREFIX")
if [ "$(pkg-config "${PCARGS[@]}" --variable=libdir varflow)" -ef "$LIBDIR" ]; then ok; else bad "varflow.pc's libdir"; fi

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
export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# examples/embed_model.c, built as its header says, on a model the installed varflow fits.
"$PREFIX/bin/varflow" data moons -n 500 --seed 2 -o "$T/moons.csv" --quiet &&
    "$PREFIX/bin/varflow" fit --data "$T/moons.csv" --model realnvp:transforms=2,hidden=16x2 --epochs 2 \
        -o "$T/m.safetensors" --quiet || bad "the installed varflow could not fit a model"
# shellcheck disable=SC2046
if "$CC" -std=c11 "${EXTRA[@]}" "$SRC/examples/embed_model.c" -o "$T/embed" \
    $(pkg-config "${PCARGS[@]}" --cflags --libs varflow) >"$T/cc.log" 2>&1; then ok; else
    bad "compiling examples/embed_model.c with pkg-config failed: $(head -n 5 "$T/cc.log")"
fi
if "$T/embed" "$T/m.safetensors" | grep -q "(ok)"; then ok; else bad "embed_model against the installed library"; fi

# A static link: the archive, then what `pkg-config --static` adds for the optional dependencies.
STATIC_LIBS=()
for w in $(pkg-config "${PCARGS[@]}" --static --libs varflow); do
    case $w in -L* | -lvarflow) ;; *) STATIC_LIBS+=("$w") ;; esac
done
if "$CC" -std=c11 "${EXTRA[@]}" "$T/prog.c" -o "$T/prog_static" $(pkg-config "${PCARGS[@]}" --cflags varflow) \
    "$LIBDIR/libvarflow.a" "${STATIC_LIBS[@]}" >"$T/cc.log" 2>&1; then ok; else
    bad "a static link with pkg-config --static failed: $(head -n 5 "$T/cc.log")"
fi
if "$T/prog_static" | grep -q " match 1$"; then ok; else bad "the statically linked program"; fi

# A CMake project: find_package(varflow) and both imported targets.
mkdir -p "$T/cmk"
cp "$T/prog.c" "$T/cmk/prog.c"
cat >"$T/cmk/CMakeLists.txt" <<'CMEOF'
cmake_minimum_required(VERSION 3.16)
project(uses_varflow C)
find_package(varflow 0.1 REQUIRED)
add_executable(prog_shared prog.c)
target_link_libraries(prog_shared PRIVATE varflow::varflow)
add_executable(prog_static prog.c)
target_link_libraries(prog_static PRIVATE varflow::varflow_static)
CMEOF
CMK_FLAGS=()
if [ "${#EXTRA[@]}" -gt 0 ]; then CMK_FLAGS=("-DCMAKE_C_FLAGS=${EXTRA[*]}" "-DCMAKE_EXE_LINKER_FLAGS=${EXTRA[*]}"); fi
if cmake -S "$T/cmk" -B "$T/cmk/build" -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_C_COMPILER="$CC" "${CMK_FLAGS[@]}" \
    >"$T/cmk.log" 2>&1 && cmake --build "$T/cmk/build" >>"$T/cmk.log" 2>&1; then ok; else
    bad "a CMake project with find_package(varflow) failed: $(grep -m 5 -i error "$T/cmk.log")"
fi
for p in prog_shared prog_static; do
    if "$T/cmk/build/$p" 2>&1 | grep -q " match 1$"; then ok; else bad "the CMake project's $p"; fi
done
# A C++-only project (no C language enabled) links both targets too.
if command -v c++ >/dev/null 2>&1; then
    mkdir -p "$T/cxx"
    cat >"$T/cxx/prog.cpp" <<'CXXEOF'
#include <cstdio>
#include <varflow.h>
int main()
{
    vf_set_num_threads(1);
    std::printf("threads %d\n", vf_get_num_threads());
    return 0;
}
CXXEOF
    cat >"$T/cxx/CMakeLists.txt" <<'CMEOF'
cmake_minimum_required(VERSION 3.16)
project(uses_varflow_cxx CXX)
find_package(varflow 0.1 REQUIRED)
add_executable(prog_shared prog.cpp)
target_link_libraries(prog_shared PRIVATE varflow::varflow)
add_executable(prog_static prog.cpp)
target_link_libraries(prog_static PRIVATE varflow::varflow_static)
CMEOF
    CXX_FLAGS=()
    if [ "${#EXTRA[@]}" -gt 0 ]; then CXX_FLAGS=("-DCMAKE_CXX_FLAGS=${EXTRA[*]}" "-DCMAKE_EXE_LINKER_FLAGS=${EXTRA[*]}"); fi
    if cmake -S "$T/cxx" -B "$T/cxx/build" -DCMAKE_PREFIX_PATH="$PREFIX" "${CXX_FLAGS[@]}" >"$T/cxx.log" 2>&1 &&
        cmake --build "$T/cxx/build" >>"$T/cxx.log" 2>&1; then ok; else
        bad "a C++-only CMake project with find_package(varflow) failed: $(grep -m 5 -i error "$T/cxx.log")"
    fi
    for p in prog_shared prog_static; do
        if "$T/cxx/build/$p" 2>&1 | grep -q "^threads 1$"; then ok; else bad "the C++ project's $p"; fi
    done
fi
if command -v ldd >/dev/null 2>&1; then
    if ldd "$T/cmk/build/prog_shared" | grep -q "$LIBDIR/libvarflow.so"; then ok; else bad "prog_shared does not use the installed libvarflow.so"; fi
    if ! ldd "$T/cmk/build/prog_static" | grep -q libvarflow; then ok; else bad "prog_static links libvarflow.so"; fi
fi

# The manifest lists every installed file, and `make uninstall` removes them and varflow's folders.
if diff <(sort "$MANIFEST") <(find "$PREFIX" ! -type d | sort) >"$T/diff"; then ok; else
    bad "install_manifest.txt and the installed files differ: $(head -n 5 "$T/diff")"
fi
if [ -n "$SRC" ] && make -C "$SRC" uninstall BUILD="$BUILD" >"$T/uninstall.log" 2>&1; then ok; else
    bad "make uninstall failed: $(tail -n 3 "$T/uninstall.log")"
fi
left=$(find "$PREFIX" ! -type d; find "$PREFIX" -type d -name '*varflow*')
if [ -z "$left" ]; then ok; else bad "left after make uninstall: $left"; fi
finish
