#!/bin/sh
# Training end to end on synthetic sketches (4 classes, a 2-layer model of
# width 32): SGM pre-training lowers the masked losses well below those of
# the untrained model; classification from the pre-trained encoder reaches
# high accuracy; a run stopped (--steps, then SIGINT) and continued equals
# the uninterrupted run bit for bit (all three tasks, triplets); retrieval
# mAP far above chance; real sketches from ../shared/data classified when
# present; a non-finite loss stops naming the step or is skipped; a
# checkpoint of another shape is refused naming the tensor; usage errors.
# usage: test_train.sh SKETCHBERT SKETCHBERT-SYNTH ST_INTEROP
sb=$1 synth=$2 dump=$3
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/check.sh"
. "$(dirname "$0")/check_report.sh"
metric() { # metric KEY: its value in the last `sketchbert test` output
  awk -v k="$1" '$1 == k { print $2 }' "$tmp/out"
}
# same_weights A B: the tensors and counters of two checkpoints are identical
same_weights() {
  "$dump" dump "$1" | grep -v '^M config' >"$tmp/a.txt" && "$dump" dump "$2" | grep -v '^M config' >"$tmp/b.txt" &&
    cmp -s "$tmp/a.txt" "$tmp/b.txt"
}

check "synthetic sketches" 0 "$synth" --out "$tmp/npz" --classes circle,square,triangle,star --train 64 --valid 16 --test 16
check "prepare" 0 "$sb" prepare --quiet --threads 1 --out "$tmp/mm" "$tmp/npz/circle.npz" "$tmp/npz/square.npz" \
  "$tmp/npz/triangle.npz" "$tmp/npz/star.npz"

# ---- usage
check "train --help" 0 "$sb" train --help
check "test --help" 0 "$sb" test --help
check "train without a config" 2 "$sb" train
check "train with a bad --steps" 2 "$sb" train x.yml --steps 0
check "missing config" 1 "$sb" train "$tmp/none.yml"

# ---- pre-training: masked losses of the untrained model (after one step), then 300 steps
config pre maskrec 300 pre
check "pre-training, first step" 0 "$sb" train "$tmp/pre.yml" --steps 1 --quiet
check "test the one-step model" 0 "$sb" test "$tmp/pre.yml" --split valid --checkpoint "$tmp/pre/latest_ckpt.safetensors"
axis0=$(metric mask_axis) type0=$(metric mask_type)
check "pre-training continued to 300 steps" 0 "$sb" train "$tmp/pre.yml" --continue
contains "progress line with steps/s and ETA" "step 300/300: mask_axis .* mask_type .* steps/s .* sketches/s | ETA"
check "test the pre-trained model" 0 "$sb" test "$tmp/pre.yml" --split valid --checkpoint "$tmp/pre/latest_ckpt.safetensors"
axis1=$(metric mask_axis) type1=$(metric mask_type)
echo "# valid mask_axis $axis0 -> $axis1, mask_type $type0 -> $type1"
truth "masked axis loss falls below 0.8 of the untrained model's" "a1 < 0.8 * a0" "a0 = $axis0; a1 = $axis1"
truth "masked pen-state loss falls below 0.5 of the untrained model's" "t1 < 0.5 * t0" "t0 = $type0; t1 = $type1"
check "the JSONL log has train lines" 0 grep -q '"event":"train","step":300' "$tmp/pre/log.jsonl"
report_completion_checks "$tmp/pre"

# ---- classification from the pre-trained encoder (position rows remapped past the CLS token)
config cls sketchclsinput 150 cls "checkpoint_every: 75" "load_pretrained: pretrained" "which_pretrained: [enc_net]" \
  "restore_checkpoint_path: $tmp/pre/latest_ckpt.safetensors"
check "classification training" 0 "$sb" train "$tmp/cls.yml"
contains "restored the encoder" "restored pretrained weights"
contains "validation line" "valid step 150 (64 sketches"
check "best and latest checkpoints" 0 test -f "$tmp/cls/best_ckpt.safetensors" -a -f "$tmp/cls/latest_ckpt.safetensors"
check "test the best classifier" 0 "$sb" test "$tmp/cls.yml" --checkpoint "$tmp/cls/best_ckpt.safetensors"
acc=$(metric accuracy_1)
echo "# test accuracy_1 $acc, accuracy_5 $(metric accuracy_5)"
truth "test accuracy of at least 0.8 on 4 classes" "acc >= 0.8" "acc = $acc"

check "test refuses a checkpoint without the classifier" 1 "$sb" test "$tmp/cls.yml" --checkpoint \
  "$tmp/pre/latest_ckpt.safetensors"
contains "naming the missing network" "has no weights for net_sketchclsinput"
report_checks "$tmp/cls"

# ---- retrieval from the pre-trained encoder: mAP far above chance (about
# 0.27 for 4 classes of 16 test sketches, each query ranking the other 63)
config rel sketchretrieval 150 rel "get_type: triplet" "load_pretrained: pretrained" "which_pretrained: [enc_net]" \
  "restore_checkpoint_path: $tmp/pre/latest_ckpt.safetensors"
check "retrieval training" 0 "$sb" train "$tmp/rel.yml" --quiet
check "test the retrieval model" 0 "$sb" test "$tmp/rel.yml" --checkpoint "$tmp/rel/latest_ckpt.safetensors"
map=$(metric map)
echo "# test retrieval_1 $(metric retrieval_1), mAP $map"
truth "retrieval mAP of at least 0.5 (chance about 0.27)" "m >= 0.5" "m = $map"

# ---- real sketches when ../shared/data is there: sheep, Omniglot characters
# and kanji (three sketch-rnn sets), classified after a short run from scratch
data=${SKETCHBERT_SHARED_DATA:-}
if [ -n "$data" ] && [ -f "$data/other/aaron_sheep.npz" ]; then
  check "prepare real npz sets" 0 "$sb" prepare --quiet --out "$tmp/real" "$data/other/aaron_sheep.npz" \
    "$data/other/omniglot.npz" "$data/other/short_kanji.npz"
  config real sketchclsinput 120 real "sum_path: $tmp/real/memmap_sum.txt" "offset_path: $tmp/real/offsets.sbidx" \
    "cls_dim: 3" "max_length: 100" "each_max_samples: 200" "each_val_samples: 40" "batch_size: 12"
  check "classification on real sketches" 0 "$sb" train "$tmp/real.yml" --quiet
  check "test on their valid split" 0 "$sb" test "$tmp/real.yml" --split valid --checkpoint "$tmp/real/latest_ckpt.safetensors"
  acc=$(metric accuracy_1)
  echo "# real sketches: valid accuracy_1 $acc (3 classes)"
  truth "real sketches: accuracy of at least 0.7 (chance 0.33)" "acc >= 0.7" "acc = $acc"
else
  echo "# SKIP real-data training: ${data:-SKETCHBERT_SHARED_DATA unset}/other/aaron_sheep.npz not found"
fi

# ---- continue equals the uninterrupted run: all tasks, triplets, a validation in between
config all "maskrec, sketchclsinput, sketchretrieval" 40 all_a "get_type: triplet" "batch_size: 4" \
  "checkpoint_every: 15" "save_model_every: 20"
check "uninterrupted run" 0 "$sb" train "$tmp/all.yml" --quiet
check "iter_20 checkpoint" 0 test -f "$tmp/all_a/iter_20_ckpt.safetensors"
check "run stopped after 12 steps" 0 "$sb" train "$tmp/all.yml" --quiet --log-dir "$tmp/all_b" --steps 12
check "continued" 0 "$sb" train "$tmp/all.yml" --quiet --log-dir "$tmp/all_b" --continue
check "continued run equals the uninterrupted one bit for bit" 0 \
  same_weights "$tmp/all_a/latest_ckpt.safetensors" "$tmp/all_b/latest_ckpt.safetensors"
check "and so does the checkpoint at step 20" 0 \
  same_weights "$tmp/all_a/iter_20_ckpt.safetensors" "$tmp/all_b/iter_20_ckpt.safetensors"

# ---- SIGINT writes a checkpoint and exits cleanly; continuing still matches
config long "maskrec, sketchclsinput, sketchretrieval" 40 all_c "get_type: triplet" "batch_size: 4" \
  "checkpoint_every: 15" "save_model_every: 20" "print_every: 1"
"$sb" train "$tmp/long.yml" >"$tmp/sig.out" 2>&1 &
pid=$!
i=0
while [ $i -lt 600 ] && kill -0 $pid 2>/dev/null && ! grep -q "step 3/" "$tmp/sig.out"; do
  sleep 0.1; i=$((i+1))
done
kill -INT $pid
wait $pid
rc=$?
cp "$tmp/sig.out" "$tmp/out"
truth "SIGINT exits with 0" "rc == 0" "rc = $rc"
contains "SIGINT stops with a checkpoint" "stopped at step"
check "continue after SIGINT" 0 "$sb" train "$tmp/long.yml" --quiet --continue
check "continued after SIGINT equals the uninterrupted run" 0 \
  same_weights "$tmp/all_a/latest_ckpt.safetensors" "$tmp/all_c/latest_ckpt.safetensors"

# ---- non-finite losses
config nan maskrec 20 nan "learning_rate: 1e30"
check "a diverging run stops" 1 "$sb" train "$tmp/nan.yml" --quiet
contains "naming the step" "step [0-9]*: the loss is not finite"
config skip maskrec 20 skip "learning_rate: 1e30" "skip_nonfinite: true"
check "skip_nonfinite goes on" 0 "$sb" train "$tmp/skip.yml" --quiet
check "skipped steps are logged" 0 grep -q '"event":"nonfinite".*"skipped":true' "$tmp/skip/log.jsonl"

# ---- extras: warm-up, cosine decay, AdamW, clipping (gradient norm read back every step)
config extras "maskrec, sketchclsinput" 10 extras "print_every: 5" "warmup_steps: 5" "lr_schedule: cosine" \
  "optimizer: adamw" "weight_decay: 0.01" "grad_clip: 1.0" "skip_nonfinite: true"
check "training with the extras" 0 "$sb" train "$tmp/extras.yml" --quiet
# step 5 is index 4: warm-up factor 5/5, cosine 0.5 (1 + cos(0.4 pi)) = 0.6545085
check "learning rate of step 5 in the log" 0 grep -q '"step":5,.*"lr":0.0013090169' "$tmp/extras/log.jsonl"

# ---- a batch whose activations exceed the device's largest allocation:
# refused when the model is planned, before anything is allocated
config huge maskrec 1 huge "batch_size: 1000000"
check "a batch too large for the device" 1 "$sb" train "$tmp/huge.yml" --quiet
contains "names the tensor, its size and the hint" "tensor .* needs [0-9]* bytes, over the device's max allocation.*lower batch_size"

# ---- a checkpoint of another shape
config wide maskrec 10 wide "layers_setting: [[2, 48, 64], [2, 48, 64]]" "load_pretrained: pretrained" \
  "which_pretrained: [enc_net]" "restore_checkpoint_path: $tmp/pre/latest_ckpt.safetensors"
check "shape mismatch refused" 1 "$sb" train "$tmp/wide.yml" --quiet
contains "naming the tensor and both shapes" "tensor 'netE_state\..*' has shape \[.*\] in the checkpoint but \[.*\] in the model"

finish
