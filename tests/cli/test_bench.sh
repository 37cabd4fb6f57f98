#!/usr/bin/env bash
# test_bench.sh — `varflow bench` as a smoke test (--quick: tiny sizes, short timings; the numbers mean
# nothing, the tests never time anything): every case of the engine, flows and cfm suites is printed once
# with a finite positive value, JSON lines parse, and an unknown suite is a usage error.
# Usage: test_bench.sh PATH/TO/varflow
set -u
V=${1:?usage: test_bench.sh PATH/TO/varflow}
. "$(dirname "$0")/harness.sh"

# has_case FILE NAME UNIT: one JSON line for the case, with a positive finite value and that unit.
has_case() {
    local line
    line=$(grep "\"case\":\"$2\"," "$1")
    if [ "$(printf '%s\n' "$line" | grep -c .)" != 1 ]; then
        bad "$1: case $2 printed $(printf '%s\n' "$line" | grep -c .) times"
        return
    fi
    if ! printf '%s\n' "$line" | grep -Eq "\"value\":[0-9][0-9.e+-]*,\"unit\":\"$3\""; then
        bad "$2: no positive value in $3: $line"
        return
    fi
    case "$line" in *'"value":0,'*) bad "$2: value 0: $line"; return ;; esac
    ok
}

if "$V" bench flows --quick --json >"$T/flows" 2>"$T/err"; then ok; else bad "bench flows failed: $(cat "$T/err")"; fi
has_case "$T/flows" sgemm GFLOP/s
for flow in nsf maf; do
    has_case "$T/flows" "${flow}_train" steps/s
    has_case "$T/flows" "${flow}_logprob" calls/s
    has_case "$T/flows" "${flow}_sample" calls/s
done
if grep -q '"spec":"nsf:transforms=5,hidden=128x2,bins=8","d":8,"rows":512,"threads":1' "$T/flows"; then ok
else bad "nsf_train lacks its parameters: $(cat "$T/flows")"; fi
[ "$(wc -l <"$T/flows")" = 7 ] && ok || bad "bench flows printed $(wc -l <"$T/flows") lines"

if "$V" bench engine --quick --json >"$T/engine" 2>"$T/err"; then ok; else bad "bench engine failed: $(cat "$T/err")"; fi
has_case "$T/engine" mlp_step steps/s

# OpenBLAS is passed over when its kernels do not suit the CPU (src/core/gemm.c, blas_in_use): on a CPU
# with AVX2 and FMA, its SSE3 "Prescott" kernels lose to the built-in kernel; its Haswell ones are used,
# unless the CPU has AVX-512, where only its AVX-512 sets (SkylakeX, ...) beat the built-in kernel's
# AVX-512 tiles. The sgemm line names the kernel set ("blas_core"); an OpenBLAS built for one target
# ignores OPENBLAS_CORETYPE, and then there is nothing to check.
if grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo && ldd "$V" 2>/dev/null | grep -q libopenblas
then
    cores="Prescott:builtin Haswell:openblas"
    grep -qw avx512f /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo &&
        cores="Prescott:builtin Haswell:builtin SkylakeX:openblas"
    for core in $cores; do
        OPENBLAS_CORETYPE=${core%%:*} "$V" bench engine --quick --json >"$T/core" 2>"$T/err"
        line=$(grep '"case":"sgemm"' "$T/core")
        case "$line" in
        *"\"blas_core\":\"${core%%:*}\""*)
            if printf '%s\n' "$line" | grep -q "\"backend\":\"${core#*:}\""; then ok
            else bad "OPENBLAS_CORETYPE=${core%%:*}: backend not ${core#*:}: $(cat "$T/core" "$T/err")"; fi ;;
        *'"blas_core":'*) ok ;; # OPENBLAS_CORETYPE not honored by this OpenBLAS
        *) bad "OPENBLAS_CORETYPE=${core%%:*}: no blas_core in the sgemm line: $(cat "$T/core" "$T/err")" ;;
        esac
    done
    # on many threads too: the built-in kernel threads, so the fallback kernels are never taken
    OPENBLAS_CORETYPE=Prescott "$V" bench engine --quick --json --threads 8 >"$T/core" 2>"$T/err"
    line=$(grep '"case":"sgemm"' "$T/core")
    case "$line" in
    *'"blas_core":"Prescott"'*)
        if printf '%s\n' "$line" | grep -q '"backend":"builtin"'; then ok
        else bad "OPENBLAS_CORETYPE=Prescott, 8 threads: backend not builtin: $(cat "$T/core" "$T/err")"; fi ;;
    *) ok ;;
    esac
fi

if "$V" bench cfm --quick --json >"$T/cfm" 2>"$T/err"; then ok; else bad "bench cfm failed: $(cat "$T/err")"; fi
has_case "$T/cfm" sgemm GFLOP/s
has_case "$T/cfm" cfm_train steps/s
has_case "$T/cfm" cfm_train_gflops GFLOP/s
has_case "$T/cfm" cfm_train_vs_sgemm ratio
has_case "$T/cfm" cfm_sample calls/s
if grep -q '"solver":"euler","steps":100,"rows":1024' "$T/cfm"; then ok; else bad "cfm_sample lacks its parameters: $(cat "$T/cfm")"; fi

if "$V" bench vi --quick --json >"$T/vi" 2>"$T/err"; then ok; else bad "bench vi failed: $(cat "$T/err")"; fi
for c in vi_rkl_step vi_path_step; do
    grep -q "\"case\":\"$c\",\"value\":[0-9]" "$T/vi" && ok || bad "bench vi lacks $c: $(cat "$T/vi")"
done
if "$V" bench ot --quick --json >"$T/ot" 2>"$T/err"; then ok; else bad "bench ot failed: $(cat "$T/err")"; fi
has_case "$T/ot" ot_emd calls/s
has_case "$T/ot" ot_sinkhorn calls/s
has_case "$T/ot" ot_sw calls/s
has_case "$T/ot" ot_energy s
if grep -q '"eps":0.05,"tol":1e-06' "$T/ot"; then ok; else bad "ot_sinkhorn lacks its parameters: $(cat "$T/ot")"; fi
has_case "$T/ot" ot_sbcfm_gaussians calls/s
has_case "$T/ot" ot_sbcfm_8gaussians_moons calls/s
if grep -q '"case":"ot_sbcfm_8gaussians_moons".*"n":128,"d":2,"source":"sf2m-8gaussians","target":"sf2m-moons7","cost":"sqeuclidean","eps":0.02,"max_iter":1000' "$T/ot"; then ok
else bad "ot_sbcfm_8gaussians_moons lacks its parameters: $(cat "$T/ot")"; fi

"$V" bench nosuchsuite >"$T/out" 2>"$T/err"
rc=$?
if [ "$rc" = 2 ] && grep -q "unknown suite 'nosuchsuite' (suites: engine, flows, cfm, ot, vi)" "$T/err" && [ ! -s "$T/out" ]; then ok
else bad "unknown suite: exit $rc, $(cat "$T/err")"; fi

finish
