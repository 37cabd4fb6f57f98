#!/bin/sh
# fashion_mnist.sh — issue 4's image case: a class-conditional MeanFlow on Fashion-MNIST (Debian's
# dataset-fashion-mnist), 1-step and 100-step sample grids, and bits/dim on dequantized test images.
#
#   sh bench/quality/fashion_mnist.sh            (from the repository root, after make)
#   EPOCHS=30 OUT=/tmp/fm sh bench/quality/fashion_mnist.sh
#
# Needs numpy (the data preparation) and a build with libpng (the PNG grids). Steps:
#   1. bench/quality/fashion_mnist_prep.py: pixel values 0..255 plus one fixed U(0, 1) draw (uniform
#      dequantization, seed 0) for the 60,000 training images, the first TEST_ROWS test images likewise;
#   2. varflow fit: MeanFlow, field MLP 1024x3 SiLU with sinusoidal time features and a label embedding
#      (classifier-free label dropout 0.1), class-wise minibatch OT pairs, adaptive loss weights p = 1,
#      batch 256, Adam 1e-3 with the cosine schedule, EPOCHS epochs, the pixels on the box [0, 256]
#      (the field sees their logits, alpha 1e-6) with per-pixel standardization of the logits;
#   3. varflow sample: 10 images of each class, in 1 jump and in 100 jumps, and their 10x10 grids;
#   4. varflow logprob: log p(x | label) and log p(x) (the null label) of the test images by the ODE
#      of the instantaneous velocity u(x, t, t) (rk4, 25 steps: 50 gives the same to 0.01 nats), with
#      one Hutchinson probe per image; bits/dim = -mean / (784 ln 2).
set -eu
V=${V:-build/varflow}
OUT=${OUT:-fashion-mnist-out}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
EPOCHS=${EPOCHS:-15}
TEST_ROWS=${TEST_ROWS:-1000}
THREADS=${THREADS:-0}
mkdir -p "$OUT"
python3 "$(dirname "$0")/fashion_mnist_prep.py" "$DATA" "$OUT" "$TEST_ROWS"
"$V" fit --data "$OUT/train_deq.npy" --labels "$OUT/train_labels.npy" --box 0,256 \
    --model meanflow:hidden=1024x3,act=silu,time=sinusoidal,weight_p=1 --batch 256 --epochs "$EPOCHS" \
    --patience 0 --valid-fraction 0.02 --nll-rows 0 --threads "$THREADS" --log "$OUT/fit.jsonl" \
    -o "$OUT/meanflow.safetensors" --json > "$OUT/fit.json"
for k in 1 100; do
    "$V" sample --model "$OUT/meanflow.safetensors" -n 100 --labels "$OUT/grid_labels.npy" --steps "$k" --seed 1 \
        -o "$OUT/samples_${k}step.npy" --quiet
    "$V" plot images --data "$OUT/samples_${k}step.npy" --shape 28x28 --rows 10 --cols 10 --range 0,255 \
        -o "$OUT/samples_${k}step.png"
done
"$V" logprob --model "$OUT/meanflow.safetensors" --data "$OUT/test_deq.npy" --labels "$OUT/test_labels.npy" \
    --hutchinson 1 --solver rk4 --steps 25 --threads "$THREADS" --json > "$OUT/logprob_conditional.json"
"$V" logprob --model "$OUT/meanflow.safetensors" --data "$OUT/test_deq.npy" \
    --hutchinson 1 --solver rk4 --steps 25 --threads "$THREADS" --json > "$OUT/logprob_unconditional.json"
bpd() { awk -v f="$1" 'BEGIN { while ((getline l < f) > 0) { m = l; s = l }
        sub(/.*"mean_log_prob":/, "", m); sub(/,.*/, "", m); sub(/.*"stderr":/, "", s); sub(/,.*/, "", s)
        d = 784 * log(2); printf "%.3f +- %.3f bits/dim", -m / d, s / d }'; }
echo "training: $(sed 's/.*"seconds":\([0-9.]*\).*/\1/' "$OUT/fit.json") s"
echo "test log p(x | label): $(bpd "$OUT/logprob_conditional.json")"
echo "test log p(x):         $(bpd "$OUT/logprob_unconditional.json")"
echo "grids: $OUT/samples_1step.png (1 jump), $OUT/samples_100step.png (100 jumps)"
