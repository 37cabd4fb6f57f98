#!/usr/bin/env bash
# run_target_plugin.sh — the test of examples/target_plugin.c: `varflow vi` on the plugin (a 2-D
# Gaussian with correlation ARG, log Z = log(2 pi) + log(1 - rho^2) / 2 known), whose log Z estimate
# must contain the exact value within 4 of its standard errors (plus 0.002 for the flow's bias); a
# bad ARG must fail with the plugin's message.
# Usage: run_target_plugin.sh PATH/TO/varflow PATH/TO/target_plugin.so
set -u
V=${1:?usage: run_target_plugin.sh VARFLOW PLUGIN}
P=${2:?usage: run_target_plugin.sh VARFLOW PLUGIN}
. "$(dirname "$0")/harness.sh"

if json=$("$V" vi --target "plugin:$P:0.9" --flow realnvp:transforms=4,hidden=32x2 --steps 400 --seed 1 \
    --json -o "$T/q.safetensors"); then ok; else bad "varflow vi on the plugin exited $?"; fi
echo "$json"
lz=$(sed -n 's/.*"log_z": *\([-0-9.eE+]*\).*/\1/p' <<<"$json")
se=$(sed -n 's/.*"log_z_stderr": *\([-0-9.eE+]*\).*/\1/p' <<<"$json")
if awk -v lz="$lz" -v se="$se" 'BEGIN { t = log(2 * 3.14159265358979) + 0.5 * log(1 - 0.81); d = lz - t;
        if (d < 0) d = -d; exit !(lz != "" && se != "" && d <= 4 * se + 0.002) }'; then ok; else
    bad "log Z $lz +- $se is not the exact 1.0075115"
fi
"$V" vi --target "plugin:$P:2" --steps 5 -o "$T/x.safetensors" 2>"$T/err"
rc=$?
if [ "$rc" = 1 ] && grep -q "correlation in (-1, 1)" "$T/err"; then ok; else
    bad "a bad ARG gave exit $rc: $(cat "$T/err")"
fi
finish
