#!/usr/bin/env bash
# test_vi_objectives.sh — `varflow vi --objective fkl|chi2`, `--anneal K --beta0 B`: short fits to the
# normalized gauss:d=2,rho=0.5 giving log Z = 0 within 5 reported standard errors and a small loss (fkl:
# KL(p || q) >= 0 near 0; chi2: the CUBO >= log Z = 0 near 0), the anneal settings in the model's
# metadata, and usage errors for bad values. Usage: test_vi_objectives.sh PATH/TO/varflow
set -u
V=${1:?usage: test_vi_objectives.sh PATH/TO/varflow}
. "$(dirname "$0")/harness.sh"
A="--target gauss:d=2,rho=0.5 --flow realnvp:transforms=4,hidden=16x2 --steps 300 --batch 128 --lr 3e-3
   --is-samples 4000 --seed 3 --threads 1 --json"
for obj in fkl chi2; do
    if "$V" vi $A --objective $obj --anneal 100 --beta0 0.2 -o "$T/$obj.safetensors" >"$T/out" 2>"$T/err"; then
        ok
        lz=$(json_num log_z)
        se=$(json_num log_z_stderr)
        loss=$(json_num loss)
        awk -v z="$lz" -v s="$se" 'BEGIN { exit !(s > 0 && s < 0.05 && z < 5 * s && -z < 5 * s) }' && ok ||
            bad "$obj: log Z $lz +- $se is not 0"
        awk -v l="$loss" 'BEGIN { exit !(l > -0.05 && l < 0.1) }' && ok || bad "$obj: final loss $loss"
    else
        bad "$obj: $(cat "$T/err")"
    fi
done
"$V" info "$T/chi2.safetensors" >"$T/info" 2>&1
grep -q "vi.anneal" "$T/info" && grep -q "vi.beta0" "$T/info" && grep -q "chi2" "$T/info" && ok ||
    bad "info lacks the anneal settings: $(cat "$T/info")"
for args in "--objective fab_typo" "--beta0 0" "--beta0 1.5" "--anneal -1" "--anneal x"; do
    "$V" vi --target gauss $args -o "$T/x.safetensors" >"$T/out" 2>"$T/err"
    rc=$?
    [ "$rc" = 2 ] && [ "$(wc -l <"$T/err" | tr -d ' ')" = 1 ] && ok || bad "vi $args: exit $rc, $(cat "$T/err")"
done
finish
