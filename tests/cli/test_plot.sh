#!/usr/bin/env bash
# test_plot.sh — `varflow plot`: each kind of picture from files the other commands write (a fitted
# flow and its training log, a vi log, data and sample files, an image table), checked for
# structure: well-formed SVG (parsed by python3's xml.etree when present), size and viewBox, the
# number of points and curves drawn, a PNG's signature and IHDR size; and one clear error line for
# an unknown kind, a missing file, a --shape that does not match the columns, a PNG name for an
# SVG-only picture, an option of another kind. Usage: test_plot.sh PATH/TO/varflow
set -u
V=${1:?usage: test_plot.sh PATH/TO/varflow}
. "$(dirname "$0")/harness.sh"
# run ARGS...: varflow ARGS, stdout in $T/out, stderr in $T/err, exit code in $rc.
# expect CODE ARGS...: the exit code.
expect() {
    local want=$1
    shift
    run "$@"
    [ "$rc" = "$want" ] && ok || bad "varflow $*: exit $rc (want $want): $(head -c 400 "$T/err")"
}
# expect_error CODE PATTERN ARGS...: exit CODE, one line on stderr matching PATTERN, nothing on stdout.
expect_error() {
    local want=$1 pattern=$2
    shift 2
    run "$@"
    if [ "$rc" != "$want" ] || [ "$(wc -l <"$T/err" | tr -d ' ')" != 1 ] || [ -s "$T/out" ] ||
        ! grep -q -- "$pattern" "$T/err"; then
        bad "varflow $*: exit $rc (want $want), stderr: $(cat "$T/err"), stdout: $(cat "$T/out")"
    else
        ok
    fi
}
# svg_ok FILE W H: well-formed (xml.etree when python3 is there), root size and viewBox as given.
svg_ok() {
    local f=$1 w=$2 h=$3
    if [ ! -s "$f" ]; then bad "$f missing"; return; fi
    grep -q "width=\"$w\" height=\"$h\" viewBox=\"0 0 $w $h\"" "$f" && ok || bad "$f: size is not ${w}x$h: $(head -c 300 "$f")"
    [ "$(grep -c '<svg' "$f")" = 1 ] && [ "$(grep -c '</svg>' "$f")" = 1 ] && ok || bad "$f: not one <svg> root"
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); sys.exit(r.tag != "{http://www.w3.org/2000/svg}svg")' "$f" &&
            ok || bad "$f: xml.etree cannot parse it"
    fi
}
cd "$T" || exit 1

# a flow fitted to moons, with its log
expect 0 data moons -n 1000 --seed 1 -o moons.npy --quiet
expect 0 fit --data moons.npy --model realnvp:transforms=2,hidden=16x1 --epochs 4 --seed 1 --log fit.jsonl \
    -o moons.safetensors --quiet

# density: data points (capped by --points) and model samples over the heat map
expect 0 plot density --model moons.safetensors --data moons.npy --points 300 --samples 100 --grid 50 \
    --range -6,6,-6,6 --title 'moons <flow> & data' -o density.svg --json
svg_ok density.svg 640 480
[ "$(json_num points)" = 400 ] && ok || bad "density --json points: $(cat "$T/out")"
n=$(sed -n '/<g id="points"/,/<\/g>/p' density.svg | grep -c '<circle')
[ "$n" = 400 ] && ok || bad "density.svg draws $n points, not 400"
grep -q 'moons &lt;flow&gt; &amp; data' density.svg && ok || bad "density.svg: the title is not escaped"
expect 0 plot density --model moons.safetensors --log-density -o logdensity.svg
svg_ok logdensity.svg 640 480
grep -q 'log p(x)' logdensity.svg && ok || bad "logdensity.svg lacks its colour bar label"
[ "$(sed -n '/<g id="points"/,/<\/g>/p' logdensity.svg | grep -c '<circle')" = 0 ] && ok || bad "points drawn without --data/--samples"

# a continuous flow's density (the ODE with its divergence) and its loss curves
expect 0 fit --data moons.npy --model cfm:hidden=16x1 --epochs 1 --seed 1 --log cfm.jsonl -o cfm.safetensors --quiet
expect 0 plot density --model cfm.safetensors --grid 24 --samples 50 --range -6,6,-6,6 -o cfm.svg --json
svg_ok cfm.svg 640 480
[ "$(json_num points)" = 50 ] && ok || bad "cfm density --json points: $(cat "$T/out")"
expect 0 plot curves --log cfm.jsonl -o cfm_curves.svg
grep -q 'train_loss' cfm_curves.svg && ok || bad "cfm_curves.svg lacks train_loss"

# curves from the fit log (train_nll, valid_nll) and from a vi log (loss)
expect 0 plot curves --log fit.jsonl -o fit_curves.svg
svg_ok fit_curves.svg 640 480
[ "$(grep -c '<polyline' fit_curves.svg)" = 2 ] && ok || bad "fit_curves.svg: not 2 curves"
grep -q 'valid_nll' fit_curves.svg && ok || bad "fit_curves.svg lacks the valid_nll legend"
expect 0 vi --target gauss:d=3 --flow realnvp:transforms=2,hidden=8x1 --steps 15 --batch 32 --seed 2 --log vi.jsonl \
    -o vi.safetensors --quiet
expect 0 plot curves --log vi.jsonl --log-y -o vi_curves.svg
svg_ok vi_curves.svg 640 480
grep -q '>step<' vi_curves.svg && ok || bad "vi_curves.svg: the x axis is not step"
expect_error 1 "no key 'nope'" plot curves --log fit.jsonl --keys nope -o c.svg

# corner: 3 columns, data against samples (9 panels), then the data alone (6 panels)
awk 'BEGIN { srand(3); for (i = 0; i < 400; i++) printf "%.4f,%.4f,%.4f\n", rand(), rand() * 2, rand() + i / 400 }' >c3.csv
awk 'BEGIN { srand(4); for (i = 0; i < 300; i++) printf "%.4f,%.4f,%.4f\n", rand(), rand(), rand() }' >c3b.csv
expect 0 plot corner --data c3.csv --compare c3b.csv --bins 12 -o corner.svg
# width 64 + 3 * 150 + 2 * 10 + 16, height 70 + 3 * 150 + 2 * 10 + 54
svg_ok corner.svg 550 594
[ "$(grep -c '<g class="panel"' corner.svg)" = 9 ] && ok || bad "corner.svg: not 9 panels"
expect 0 plot corner --data c3.csv --columns 1,3 -o corner2.svg
[ "$(grep -c '<g class="panel"' corner2.svg)" = 3 ] && ok || bad "corner2.svg: not 3 panels"
expect_error 1 "columns" plot corner --data c3.csv --compare moons.npy -o c.svg

# images: 5 images of 4x3 as PNG (when libpng is there) and SVG
awk 'BEGIN { for (i = 0; i < 5; i++) { for (k = 0; k < 12; k++) printf "%s%d", k ? "," : "", (i * 12 + k) * 4; print "" } }' >img.csv
printf '1\n0\n1\n0\n2\n' >labels.csv
run plot images --data img.csv --shape 4x3 --rows 2 --cols 3 --scale 2 -o grid.png
if [ "$rc" = 0 ]; then
    ok
    [ "$(head -c 8 grid.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] && ok || bad "grid.png: no PNG signature"
    # IHDR: width = 3 (2*3 + 2) + 2 = 26, height = 2 (2*4 + 2) + 2 = 22
    [ "$(od -An -tu1 -j16 -N8 grid.png | tr -s ' ' | sed 's/^ //;s/ $//')" = "0 0 0 26 0 0 0 22" ] && ok ||
        bad "grid.png: IHDR size is not 26 x 22: $(od -An -tu1 -j16 -N8 grid.png)"
    expect 0 plot images --data img.csv --shape 4x3 --rows 3 --cols 2 --labels labels.csv -o bylabel.png
else
    grep -q "libpng" "$T/err" && [ "$(wc -l <"$T/err" | tr -d ' ')" = 1 ] && ok || bad "PNG without libpng: $(cat "$T/err")"
fi
expect 0 plot images --data img.csv --shape 4x3 --rows 1 --cols 5 --title 'five <images>' -o grid.svg
# images of 4x3 are scaled by ceil(28 / 3) = 10; 4 SVG units per pixel, 30 for the title
svg_ok grid.svg $((4 * (5 * (10 * 3 + 2) + 2))) $((4 * (1 * (10 * 4 + 2) + 2) + 30))

# errors: one line each
expect_error 2 "unknown kind of picture 'pie'" plot pie -o x.svg
expect_error 2 "missing the kind" plot
expect_error 1 "nosuch.npy" plot corner --data nosuch.npy -o x.svg
expect_error 1 "nosuch.safetensors" plot density --model nosuch.safetensors -o x.svg
expect_error 1 "needs 16 values per row but img.csv has 12 columns" plot images --data img.csv --shape 4x4 -o x.svg
expect_error 2 "shape" plot images --data img.csv --shape 4by3 -o x.svg
expect_error 2 "SVG only" plot density --model moons.safetensors -o x.png
expect_error 2 "does not apply" plot curves --log fit.jsonl --shape 2x2 -o x.svg
expect_error 2 "missing -o" plot curves --log fit.jsonl
expect_error 1 "dimension 3: plot density needs a 2-D model" plot density --model vi.safetensors -o x.svg
[ ! -e x.svg ] && [ ! -e x.png ] && ok || bad "an error left a picture behind"

# help
expect 0 plot --help
for k in density corner curves images; do grep -q "^       varflow plot $k\|^Usage: varflow plot $k" "$T/out" && ok || bad "help lacks $k"; done

finish
