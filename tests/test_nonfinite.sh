#!/bin/sh
# Non-finite values in training, each caught at the step it happens:
# - a diverging learning rate: the run stops at step 2 naming the loss
#   terms and the first gradient tensor that is not finite, writes no
#   checkpoint, logs a nonfinite event with the cause;
# - an infinite value in a batch (max_scale_factor overflows float): stops
#   at step 1 naming the batch tensor, sketch and dataset index; with
#   skip_nonfinite every such batch is skipped and counted in the log;
# - a run that diverges after a good validation, with skip_nonfinite: the
#   best checkpoint is never replaced (bytes unchanged, no later "best"),
#   and every checkpoint holds finite values only (`sketchbert check`).
# usage: test_nonfinite.sh SKETCHBERT SKETCHBERT-SYNTH
sb=$1 synth=$2
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/check.sh"

check "synthetic sketches" 0 "$synth" --out "$tmp/npz" --classes circle,square --train 32 --valid 8 --test 8
check "prepare" 0 "$sb" prepare --quiet --threads 1 --out "$tmp/mm" "$tmp/npz/circle.npz" "$tmp/npz/square.npz"

config div maskrec 10 div "learning_rate: 1e30"
check "a diverging learning rate stops the run" 1 "$sb" train "$tmp/div.yml" --quiet
contains "at step 2" "step 2: not finite: loss"
contains "naming the loss terms" "mask_axis nan"
contains "and the gradient tensor" "first non-finite gradient: netE\."
check "no checkpoint written" 1 test -e "$tmp/div/latest_ckpt.safetensors"
check "the log names the cause" 0 grep -q '"event":"nonfinite",.*"step":2,.*"cause":"loss mask_axis nan' "$tmp/div/log.jsonl"

config inf maskrec 6 inf "max_scale_factor: 1e39"
check "an infinite batch stops the run" 1 "$sb" train "$tmp/inf.yml" --quiet
contains "at step 1, naming the batch tensor" "step 1: not finite: batch tensor 'input' holds -*inf (sketch [0-9]* of the batch, dataset index [0-9]*)"
config infskip maskrec 6 infskip "max_scale_factor: 1e39" "skip_nonfinite: true"
check "with skip_nonfinite the run goes on" 0 "$sb" train "$tmp/infskip.yml" --quiet
check "every batch skipped and counted in the log" 0 test "$(grep -c '"event":"nonfinite".*"cause":"batch tensor.*"skipped":true' "$tmp/infskip/log.jsonl")" = 6

config good maskrec 12 good "checkpoint_every: 2" "skip_nonfinite: true"
check "4 good steps" 0 "$sb" train "$tmp/good.yml" --steps 4 --quiet
check "a best checkpoint" 0 test -f "$tmp/good/best_ckpt.safetensors"
cp "$tmp/good/best_ckpt.safetensors" "$tmp/best_before"
check "then diverging with skip_nonfinite" 0 "$sb" train "$tmp/good.yml" --continue --set learning_rate=1e30 --quiet
check "steps were skipped" 0 grep -q '"event":"nonfinite".*"skipped":true' "$tmp/good/log.jsonl"
check "best was not replaced" 0 cmp "$tmp/best_before" "$tmp/good/best_ckpt.safetensors"
check "no validation after divergence is best" 1 grep -q '"event":"valid",.*"step":\([6-9]\|1[0-2]\),.*"best":true' \
  "$tmp/good/log.jsonl"
check "every checkpoint is finite and verifies" 0 "$sb" check "$tmp"/good/*.safetensors
finish
