#!/usr/bin/env bash
# test_data_targets.sh — `varflow data TARGET`: exact draws of built-in targets. gauss:d=3,rho=0.5,mu=1
# (every mean 1, variance 1, covariance 0.5) and manywell:d=4 (x columns with the double well's mean and
# variance from a quadrature here, y columns N(0, 1)), 20000 draws each, moments within 4.5 Monte Carlo
# standard errors (the variance's from the fourth central moment); the file's width and --json's dim;
# a plugin, an unknown name and a bad key as usage errors. Usage: test_data_targets.sh PATH/TO/varflow
set -u
V=${1:?usage: test_data_targets.sh PATH/TO/varflow}
. "$(dirname "$0")/harness.sh"
N=20000

# moments FILE COL: mean and variance of column COL (1-based); cov FILE A B: covariance.
moments() { awk -F, -v c="$2" '{ s += $c; q += $c * $c; n++ } END { m = s / n; printf "%.6f %.6f\n", m, (q - n * m * m) / (n - 1) }' "$1"; }
cov() { awk -F, -v a="$2" -v b="$3" '{ sa += $a; sb += $b; sab += $a * $b; n++ } END { printf "%.6f\n", (sab - sa * sb / n) / (n - 1) }' "$1"; }
# within GOT WANT SE: |GOT - WANT| < 4.5 SE
within() { awk -v g="$1" -v w="$2" -v s="$3" 'BEGIN { d = g - w; exit !(d < 4.5 * s && -d < 4.5 * s) }'; }

"$V" data gauss:d=3,rho=0.5,mu=1 -n $N --seed 3 -o "$T/g.csv" --json >"$T/out" 2>"$T/err" && ok || bad "gauss: $(cat "$T/err")"
grep -q '"dim":3' "$T/out" && ok || bad "gauss --json: $(cat "$T/out")"
awk -F, 'NF != 3 { exit 1 }' "$T/g.csv" && [ "$(wc -l <"$T/g.csv" | tr -d ' ')" = $N ] && ok || bad "gauss: not $N rows of 3"
se_m=$(awk -v n=$N 'BEGIN { print 1 / sqrt(n) }')
se_v=$(awk -v n=$N 'BEGIN { print sqrt(2 / (n - 1)) }')
se_c=$(awk -v n=$N 'BEGIN { print sqrt((1 + 0.25) / n) }') # var of x1 x2 for unit variances, rho 0.5
for c in 1 2 3; do
    read -r m v < <(moments "$T/g.csv" $c)
    within "$m" 1 "$se_m" && ok || bad "gauss column $c mean $m"
    within "$v" 1 "$se_v" && ok || bad "gauss column $c variance $v"
done
within "$(cov "$T/g.csv" 1 3)" 0.5 "$se_c" && ok || bad "gauss cov(x1, x3) $(cov "$T/g.csv" 1 3)"

# manywell: x ~ exp(-x^4 + 6 x^2 + x / 2) (the double well), y ~ N(0, 1), pairs (x, y) independent.
"$V" data manywell:d=4 -n $N --seed 4 -o "$T/m.csv" --quiet 2>"$T/err" && ok || bad "manywell: $(cat "$T/err")"
read -r wm wv < <(awk 'BEGIN { h = 1e-4; for (x = -4; x <= 4; x += h) { p = exp(-x^4 + 6 * x^2 + x / 2); z += p; s += p * x; q += p * x * x }
    m = s / z; printf "%.8f %.8f\n", m, q / z - m * m }')
read -r wq < <(awk -v m="$wm" 'BEGIN { h = 1e-4; for (x = -4; x <= 4; x += h) { p = exp(-x^4 + 6 * x^2 + x / 2); z += p; q += p * (x - m)^4 } printf "%.8f\n", q / z }')
sex=$(awk -v v="$wv" -v n=$N 'BEGIN { print sqrt(v / n) }')
sev=$(awk -v v="$wv" -v q="$wq" -v n=$N 'BEGIN { print sqrt((q - v * v) / n) }')
for c in 1 3; do
    read -r m v < <(moments "$T/m.csv" $c)
    within "$m" "$wm" "$sex" && ok || bad "manywell x column $c mean $m, want $wm"
    within "$v" "$wv" "$sev" && ok || bad "manywell x column $c variance $v, want $wv"
done
for c in 2 4; do
    read -r m v < <(moments "$T/m.csv" $c)
    within "$m" 0 "$se_m" && ok || bad "manywell y column $c mean $m"
    within "$v" 1 "$se_v" && ok || bad "manywell y column $c variance $v"
done

# usage errors: one line on stderr, exit 2
for spec in plugin:./x.so no-such-target gauss:d=0; do
    "$V" data "$spec" -n 5 -o "$T/x.csv" >"$T/out" 2>"$T/err"
    rc=$?
    [ "$rc" = 2 ] && [ "$(wc -l <"$T/err" | tr -d ' ')" = 1 ] && [ ! -s "$T/out" ] && ok || bad "data $spec: exit $rc, $(cat "$T/err")"
done

finish
