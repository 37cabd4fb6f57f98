#!/usr/bin/env bash
# test_mcmc.sh — `varflow mcmc`: hmc and mala on a Gaussian target (--json keys, n = chains x N rows
# written chain-major, the mean within 5 Monte Carlo standard errors of the truth, R-hat near 1), the
# same seed giving the same file, the flow-assisted samplers on a flow fitted by `varflow vi`
# (--box included), a short `varflow vi --objective fab` fit, and one clear error each for a flow
# sampler without --model, a model of the wrong dimension, an unknown sampler or objective, a
# missing model file and bad option values.
# Usage: test_mcmc.sh PATH/TO/varflow
set -u
V=${1:?usage: test_mcmc.sh PATH/TO/varflow}
. "$(dirname "$0")/harness.sh"

G=gauss:d=2,rho=0.5,mu=1
expect 0 mcmc --target $G --sampler hmc -n 500 --chains 3 --warmup 200 --seed 1 -o "$T/h.csv" --json
for k in acceptance ess_min rhat_max n grad_evals; do
    grep -q "\"$k\":" "$T/out" && ok || bad "--json lacks $k: $(cat "$T/out")"
done
[ "$(json_num n)" = 1500 ] && ok || bad "n: $(cat "$T/out")"
[ "$(lines "$T/h.csv")" = 1500 ] && ok || bad "h.csv has $(lines "$T/h.csv") rows"
ess=$(json_num ess_min)
# mean of column 1 within 5 standard errors 1 / sqrt(ESS) of 1; R-hat below 1.02
awk -F, -v e="$ess" '{ s += $1 } END { m = s / NR; exit !(e > 100 && (m - 1) ^ 2 < 25 / e) }' "$T/h.csv" && ok ||
    bad "hmc mean of x1 is not 1 within 5 standard errors (ESS $ess)"
awk -v r="$(json_num rhat_max)" 'BEGIN { exit !(r < 1.02) }' && ok || bad "R-hat: $(cat "$T/out")"
# chain-major: the second chain's rows come after the first chain's 500
expect 0 mcmc --target $G --sampler hmc -n 500 --chains 1 --warmup 200 --seed 1 -o "$T/h1.csv" --quiet
head -n 500 "$T/h.csv" | cmp -s - "$T/h1.csv" && ok || bad "the first 500 rows are not chain 0's draws"
expect 0 mcmc --target $G --sampler hmc -n 500 --chains 3 --warmup 200 --seed 1 -o "$T/h2.csv" --quiet --threads 1
cmp -s "$T/h.csv" "$T/h2.csv" && ok || bad "the same seed gave different draws"
# --log: a JSON line every --log-every iterations (warm-up included) and at the last; the draws are
# those of the run without it
expect 0 mcmc --target $G --sampler hmc -n 500 --chains 3 --warmup 200 --seed 1 -o "$T/h3.csv" --quiet --log "$T/h.jsonl" \
    --log-every 100
cmp -s "$T/h.csv" "$T/h3.csv" && ok || bad "--log changed the draws"
[ "$(lines "$T/h.jsonl")" = 7 ] && grep -q '^{"iteration":200,"phase":"warmup","acceptance":null,"seconds":' "$T/h.jsonl" &&
    grep -q '^{"iteration":700,"phase":"sampling","acceptance":0\.[0-9]*,"seconds":' "$T/h.jsonl" && ok ||
    bad "--log: $(cat "$T/h.jsonl")"
[ ! -s "$T/out" ] && ok || bad "--quiet printed: $(cat "$T/out")"
expect 0 mcmc --target $G --sampler mala -n 200 --warmup 100 -o "$T/m.npy"
grep -q "acceptance" "$T/out" && grep -q "wrote $T/m.npy" "$T/out" && ok || bad "summary: $(cat "$T/out")"

# flow-assisted: a short vi fit on a box-mapped target, then each sampler on it
expect 0 vi --target u2 --flow realnvp:transforms=4,hidden=16x2 --steps 150 --batch 128 --is-samples 100 --seed 3 \
    -o "$T/u2.safetensors" --quiet
for s in imh isir neutra-mala neutra-hmc; do
    expect 0 mcmc --target u2 --model "$T/u2.safetensors" --sampler $s -n 100 --chains 2 --warmup 50 --leapfrog 4 \
        --proposals 4 --seed 2 -o "$T/$s.csv" --json
    [ "$(json_num n)" = 200 ] && ok || bad "$s: $(cat "$T/out")"
    # u2 lives on [-4, 4]^2: every draw must be inside
    awk -F, '$1 <= -4 || $1 >= 4 || $2 <= -4 || $2 >= 4 { exit 1 }' "$T/$s.csv" && ok || bad "$s: a draw outside the box"
done

# varflow vi --objective fab (the FAB objective) on the same Gaussian: log Z = 0 within 5 standard
# errors and a forward ESS near 1, then imh on that flow accepting nearly every move
expect 0 vi --target $G --objective fab --flow realnvp:transforms=4,hidden=16x2 --steps 150 --batch 64 \
    --is-samples 2000 --seed 4 -o "$T/fab.safetensors" --json
lz=$(json_num log_z)
se=$(json_num log_z_stderr)
awk -v z="$lz" -v s="$se" -v f="$(json_num forward_ess_fraction)" \
    'BEGIN { exit !(s > 0 && s < 0.05 && z < 5 * s && -z < 5 * s && f > 0.8) }' && ok || bad "fab: $(cat "$T/out")"
expect 0 mcmc --target $G --model "$T/fab.safetensors" --sampler imh -n 200 --seed 1 -o "$T/fi.csv" --json
awk -v a="$(json_num acceptance)" 'BEGIN { exit !(a > 0.8) }' && ok || bad "imh on the fab flow: $(cat "$T/out")"
expect 2 vi --target $G --objective fob -o "$T/x.safetensors"
has "rkl, path, fkl, chi2, fab"

# errors
expect 2 mcmc --target $G --sampler imh -n 10 -o "$T/x.csv"
has "needs --model"
expect 1 mcmc --target gauss:d=3 --sampler neutra-hmc --model "$T/u2.safetensors" -n 10 -o "$T/x.csv"
has "dimension 2 but target"
expect 2 mcmc --target $G --sampler nuts -n 10 -o "$T/x.csv"
has "unknown 'nuts'"
expect 1 mcmc --target $G --sampler isir --model "$T/none.safetensors" -n 10 -o "$T/x.csv"
has "none.safetensors"
expect 2 mcmc --target $G --sampler hmc -n 10 -o "$T/x.txt"
expect 2 mcmc --target $G --sampler hmc -o "$T/x.csv"
has "missing -n"
expect 2 mcmc --target $G --sampler hmc -n 10 --step-size -1 -o "$T/x.csv"
expect 2 mcmc --target $G --sampler hmc -n 10 --target-accept 1 -o "$T/x.csv"
expect 2 mcmc --target nosuch --sampler hmc -n 10 -o "$T/x.csv"
expect 0 mcmc --help
grep -q "neutra-hmc" "$T/out" && ok || bad "--help lacks the samplers"

# A target that returns NaN: one line saying when and where (the command's name once).
if [ -n "${VF_TEST_PLUGIN:-}" ]; then
    expect_error 1 "^varflow mcmc: target plugin is NaN at (the start points|iteration [0-9]+), at row [0-9]+ of the batch \(x = \[" \
        mcmc --target "plugin:$VF_TEST_PLUGIN:nan" --sampler mala --step-size 3 -n 20 --seed 1 -o "$T/nan.csv"
fi

# A plugin with only the batch log-density of the same N(0, I): the same chains bit for bit (one batch
# of the chains' points per evaluation instead of one call per point).
if [ -n "${VF_TEST_PLUGIN:-}" ] && [ -n "${VF_TEST_PLUGIN_BATCH:-}" ]; then
    for s in mala hmc; do
        expect 0 mcmc --target "plugin:$VF_TEST_PLUGIN:3" --sampler $s --warmup 50 -n 40 --seed 2 -o "$T/cp.csv" --quiet
        expect 0 mcmc --target "plugin:$VF_TEST_PLUGIN_BATCH:3" --sampler $s --warmup 50 -n 40 --seed 2 -o "$T/cb.csv" --quiet
        cmp -s "$T/cp.csv" "$T/cb.csv" && ok || bad "$s: the batch plugin's chains differ from the point plugin's"
    done
fi

# Chains that never move (a step size far too large, no warm-up to adapt it): the diagnostics are null,
# not a made-up R-hat of 1e15, and the warning says why instead of "run longer".
expect 0 mcmc --target gauss --sampler mala -n 500 --warmup 0 --step-size 1e3 -o "$T/stuck.csv" --json
grep -q '"acceptance":0,"ess_min":null,"rhat_max":null' "$T/out" && ok || bad "stuck chains: $(cat "$T/out")"
has "no proposal was accepted"
# Chains far too short to mix (R-hat 1.45 here): the warning goes to stderr with --json too, as the
# docs say (stdout keeps the JSON alone); --quiet silences it.
expect 0 mcmc --target banana --sampler mala -n 40 --warmup 20 --seed 3 -o "$T/short.csv" --json
awk -v r="$(json_num rhat_max)" 'BEGIN { exit !(r > 1.01) }' && ok || bad "short chains: $(cat "$T/out")"
has "warning: R-hat"
expect 0 mcmc --target banana --sampler mala -n 40 --warmup 20 --seed 3 -o "$T/short.csv" --json --quiet
[ ! -s "$T/err" ] && ok || bad "--quiet still warns: $(cat "$T/err")"

finish
