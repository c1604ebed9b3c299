#!/bin/sh
# Training end to end on synthetic sketches (4 classes, a 2-layer model of
# width 32): SGM pre-training lowers the masked losses well below those of
# the untrained model; classification from the pre-trained encoder reaches
# high accuracy; a run stopped (--steps, then SIGINT) and continued equals
# the uninterrupted run bit for bit (all three tasks, triplets); retrieval
# mAP far above chance; real sketches from ../shared/data classified when
# present; a non-finite loss stops naming the step or is skipped; a
# checkpoint of another shape is refused naming the tensor and the config
# key; usage errors. Run folders: a run is never replaced by accident
# (refused, --overwrite keeps the old run until the new one has a
# checkpoint), a failed start leaves nothing behind, a second train on a
# folder is refused by its lock. `test` evaluates the run's best checkpoint
# on the whole split, per class, with a confusion matrix.
# usage: test_train.sh SKETCHBERT SKETCHBERT-SYNTH ST_INTEROP
sb=$1 synth=$2 dump=$3
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/check.sh"
. "$(dirname "$0")/check_report.sh"
metric() { # metric KEY: its value in the last `sketchbert test` output
  awk -v k="$1" '$1 == k { print $2 }' "$tmp/out"
}

check "synthetic sketches" 0 "$synth" --out "$tmp/npz" --classes circle,square,triangle,star --train 64 --valid 16 --test 16
check "prepare" 0 "$sb" prepare --quiet --threads 1 --out "$tmp/mm" "$tmp/npz/circle.npz" "$tmp/npz/square.npz" \
  "$tmp/npz/triangle.npz" "$tmp/npz/star.npz"

# ---- usage
check "train --help" 0 "$sb" train --help
check "test --help" 0 "$sb" test --help
contains "test --help lists every split" "train|valid|test"
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
check "the JSONL log has train lines" 0 grep -q '"event":"train","time":"[^"]*","step":300' "$tmp/pre/log.jsonl"
report_completion_checks "$tmp/pre"
check "every log record has an ISO 8601 UTC time" 1 \
  grep -qvE '^\{"event":"[a-z]+","time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z",' "$tmp/pre/log.jsonl"
# the start record counts tensors and parameters: those of the checkpoint's networks
n=$("$dump" dump "$tmp/pre/latest_ckpt.safetensors" | awk '$1 == "T" && $2 ~ /^net/ {
  n = split($4, d, ","); p = 1; for (i = 1; i <= n; i++) p *= d[i]; s += p; c++ } END { print c, s }')
check "start record: param_tensors and params" 0 \
  grep -q "\"event\":\"start\",.*\"param_tensors\":${n% *},\"params\":${n#* }," "$tmp/pre/log.jsonl"

# ---- a run in log_dir is never replaced by accident; a failed start leaves nothing
cp "$tmp/pre/latest_ckpt.safetensors" "$tmp/pre_latest.copy"
lines=$(wc -l <"$tmp/pre/log.jsonl")
check "training into a folder that holds a run is refused" 1 "$sb" train "$tmp/pre.yml" --steps 1 --quiet
contains "naming the run and the choices" \
  "pre already holds a run (latest_ckpt.safetensors at step 300, .*--continue.*--log-dir.*--overwrite"
check "its checkpoint is untouched" 0 cmp -s "$tmp/pre/latest_ckpt.safetensors" "$tmp/pre_latest.copy"
truth "its log gets no second start" "n == $lines" "n = $(wc -l <"$tmp/pre/log.jsonl")"
check "--continue with --overwrite" 2 "$sb" train "$tmp/pre.yml" --continue --overwrite
check "--continue with nothing to continue" 1 "$sb" train "$tmp/pre.yml" --log-dir "$tmp/fresh/run" --continue
contains "says so" "nothing to continue: .*fresh/run/latest_ckpt.safetensors does not exist"
check "and leaves no folder behind" 1 test -e "$tmp/fresh"
config badrestore maskrec 10 fresh/run "load_pretrained: pretrained" "which_pretrained: [enc_net]" \
  "restore_checkpoint_path: $tmp/none.safetensors"
check "a restore path that does not exist" 1 "$sb" train "$tmp/badrestore.yml" --quiet
check "leaves no folder and no empty log behind" 1 test -e "$tmp/fresh"

# ---- classification from the pre-trained encoder (position rows remapped past the CLS token)
# (validation capped at 12 sketches per class; `test` takes the whole split)
config cls sketchclsinput 150 cls "checkpoint_every: 75" "load_pretrained: pretrained" "which_pretrained: [enc_net]" \
  "restore_checkpoint_path: $tmp/pre/latest_ckpt.safetensors" "each_val_samples: 12"
check "classification training" 0 "$sb" train "$tmp/cls.yml"
contains "restored the encoder, naming its step" "restored pretrained weights from .*pre/latest_ckpt.safetensors (step 300)"
contains "validation line" "valid step 150 (48 sketches"
check "best and latest checkpoints" 0 test -f "$tmp/cls/best_ckpt.safetensors" -a -f "$tmp/cls/latest_ckpt.safetensors"
check "test the run (not the config's restore_checkpoint_path)" 0 "$sb" test "$tmp/cls.yml" --confusion "$tmp/conf.csv" \
  --per-class "$tmp/per_class.csv"
contains "its best checkpoint" "^checkpoint $tmp/cls/best_ckpt.safetensors"
truth "the whole test split, not each_val_samples per class" "n == 64" "n = $(metric sketches)"
contains "total named as in training" "^total [0-9]"
acc=$(metric accuracy_1)
cp "$tmp/out" "$tmp/test.out"
echo "# test accuracy_1 $acc, accuracy_5 $(metric accuracy_5)"
truth "test accuracy of at least 0.8 on 4 classes" "acc >= 0.8" "acc = $acc"
# per class: 16 sketches each, so the mean of the four accuracies is accuracy_1
check "per-class accuracy lines average to accuracy_1" 0 awk -v acc="$acc" '
  $1 ~ /^(circle|square|triangle|star)$/ && $3 == 16 { s += $2; k++ } END { exit !(k == 4 && (s / 4 - acc)^2 < 1e-6) }' "$tmp/test.out"
check "confusion CSV: a header, 4 rows of 16, trace / total = accuracy_1" 0 awk -F, -v acc="$acc" '
  NR == 1 { ok = $0 == "true\\predicted,circle,square,triangle,star"; next }
  { n = 0; for (i = 2; i <= NF; i++) n += $i; ok = ok && n == 16 && NF == 5; diag += $NR; total += n }
  END { exit !(ok && NR == 5 && (diag / total - acc)^2 < 1e-12) }' "$tmp/conf.csv"
check "per-class CSV: a header, 4 classes of 16, correct_1 / sketches = accuracy_1 (the mean is the overall)" 0 \
  awk -F, -v acc="$acc" 'NR == 1 { ok = $0 == "class,sketches,correct_1,accuracy_1"; next }
  { ok = ok && $2 == 16 && ($3 / $2 - $4)^2 < 1e-10; s += $4 }
  END { exit !(ok && NR == 5 && (s / 4 - acc)^2 < 1e-6) }' "$tmp/per_class.csv"
check "--per-class without classification is refused" 2 "$sb" test "$tmp/pre.yml" --per-class "$tmp/x.csv"
check "test --max-per-class 5" 0 "$sb" test "$tmp/cls.yml" --max-per-class 5 --split valid
contains "prints the cap" "^max_per_class 5"
truth "5 sketches of each class" "n == 20" "n = $(metric sketches)"
check "--confusion without classification" 2 "$sb" test "$tmp/pre.yml" --confusion "$tmp/x.csv"
check "test of a folder without a run" 1 "$sb" test "$tmp/cls.yml" --log-dir "$tmp/nothing"
contains "names both checkpoints" "nothing holds neither best_ckpt.safetensors nor latest_ckpt.safetensors"

check "test refuses a checkpoint without the classifier" 1 "$sb" test "$tmp/cls.yml" --checkpoint \
  "$tmp/pre/latest_ckpt.safetensors"
contains "naming the missing network" "has no weights for net_sketchclsinput"
report_checks "$tmp/cls"

# ---- retrieval from the pre-trained encoder: mAP far above chance (about
# 0.27 for 4 classes of 16 test sketches, each query ranking the other 63);
# validated at steps 75 and 150, which its report's numbers must equal
config rel sketchretrieval 150 rel "get_type: triplet" "checkpoint_every: 75" "load_pretrained: pretrained" "which_pretrained: [enc_net]" \
  "restore_checkpoint_path: $tmp/pre/latest_ckpt.safetensors"
check "retrieval training" 0 "$sb" train "$tmp/rel.yml" --quiet
check "test the retrieval model" 0 "$sb" test "$tmp/rel.yml" --checkpoint "$tmp/rel/latest_ckpt.safetensors"
map=$(metric map)
r1=$(metric retrieval_1) r5=$(metric retrieval_5) r10=$(metric retrieval_10)
echo "# test retrieval_1 $r1, retrieval_5 $r5, retrieval_10 $r10, mAP $map"
truth "retrieval top-1 <= top-5 <= top-10 <= 1" "a <= b && b <= c && c <= 1" "a = $r1; b = $r5; c = $r10"
truth "retrieval mAP of at least 0.5 (chance about 0.27)" "m >= 0.5" "m = $map"
report_retrieval_checks "$tmp/rel"

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
# TU-Berlin SVG drawings (the paper's second dataset): prepared, trained,
# tested with the paper's metrics, and classified straight from the SVGs
if [ -n "$data" ] && [ -d "$data/other/tuberlin_svg" ]; then
  check "prepare TU-Berlin SVGs" 0 "$sb" prepare --quiet --simplify --valid 1 --test 1 --out "$tmp/tb" "$data/other/tuberlin_svg"
  ntb=$(ls -d "$data"/other/tuberlin_svg/*/ | wc -l)
  config tb sketchclsinput 4 tb "sum_path: $tmp/tb/memmap_sum.txt" "offset_path: $tmp/tb/offsets.sbidx" \
    "dataset: tuberlin_memmap" "cls_dim: $ntb" "max_length: 256" "batch_size: 4" "checkpoint_every: 4"
  check "train on TU-Berlin" 0 "$sb" train "$tmp/tb.yml" --quiet
  check "test on TU-Berlin, per-class CSV" 0 "$sb" test "$tmp/tb.yml" --per-class "$tmp/tb_pc.csv"
  check "one CSV row per TU-Berlin class" 0 test "$(($(wc -l <"$tmp/tb_pc.csv") - 1))" = "$ntb"
  first=$(ls -d "$data"/other/tuberlin_svg/*/ | head -1)
  check "classify a TU-Berlin class folder of SVGs" 0 "$sb" classify "$tmp/tb/best_ckpt.safetensors" "$first" --top-k 1
  contains "with its accuracy line" "^accuracy: top-1"
else
  echo "# SKIP TU-Berlin training: ${data:-SKETCHBERT_SHARED_DATA unset}/other/tuberlin_svg not found"
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

# ---- SIGINT writes a checkpoint and exits cleanly; continuing still matches.
# While it runs (stopped with SIGSTOP, so it cannot end first), a second
# train on its folder is refused by the lock.
config long "maskrec, sketchclsinput, sketchretrieval" 40 all_c "get_type: triplet" "batch_size: 4" \
  "checkpoint_every: 15" "save_model_every: 20" "print_every: 1"
"$sb" train "$tmp/long.yml" >"$tmp/sig.out" 2>&1 &
pid=$!
i=0
while [ $i -lt 600 ] && kill -0 $pid 2>/dev/null && ! grep -q "step 3/" "$tmp/sig.out"; do
  sleep 0.1; i=$((i+1))
done
kill -STOP $pid
check "a second train on the folder" 1 "$sb" train "$tmp/long.yml" --quiet --continue
contains "is refused naming the lock and its pid" "all_c is in use by another .sketchbert train. (pid $pid) (lock .*all_c/train.lock)"
kill -CONT $pid
kill -INT $pid
wait $pid
rc=$?
cp "$tmp/sig.out" "$tmp/out"
truth "SIGINT exits with 0" "rc == 0" "rc = $rc"
contains "SIGINT stops with a checkpoint" "stopped at step"
check "the lock goes with the run" 1 test -e "$tmp/all_c/train.lock"
check "continue after SIGINT" 0 "$sb" train "$tmp/long.yml" --quiet --continue
check "continued after SIGINT equals the uninterrupted run" 0 \
  same_weights "$tmp/all_a/latest_ckpt.safetensors" "$tmp/all_c/latest_ckpt.safetensors"

# ---- non-finite losses
config nan maskrec 20 nan "learning_rate: 1e30"
check "a diverging run stops" 1 "$sb" train "$tmp/nan.yml" --quiet
contains "naming the step" "step [0-9]*: not finite: loss"
config skip maskrec 20 skip "learning_rate: 1e30" "skip_nonfinite: true"
check "skip_nonfinite goes on" 0 "$sb" train "$tmp/skip.yml" --quiet
check "skipped steps are logged" 0 grep -q '"event":"nonfinite".*"skipped":true' "$tmp/skip/log.jsonl"

# ---- extras: warm-up, cosine decay, AdamW, clipping (gradient norm read
# back every step); max_length 24 cuts the longer synthetic sketches (up to 31 points)
config extras "maskrec, sketchclsinput" 10 extras "print_every: 5" "warmup_steps: 5" "lr_schedule: cosine" \
  "optimizer: adamw" "weight_decay: 0.01" "grad_clip: 1.0" "skip_nonfinite: true" "max_length: 24"
check "training with the extras" 0 "$sb" train "$tmp/extras.yml" --quiet
contains "warns of the sketches max_length cuts, even with --quiet" \
  "warning: [1-9][0-9]* of 256 training sketches ([0-9.]*%) have more than 23 points and are cut to 23"
cut=$(sed -n 's/^warning: \([0-9]*\) of 256 training.*/\1/p' "$tmp/out")
check "and logs their number" 0 grep -q "\"event\":\"start\",.*\"cut_sketches\":$cut,\"device\":" "$tmp/extras/log.jsonl"
check "data stats with the config's max_length" 0 "$sb" data stats --config "$tmp/extras.yml"
contains "prints the share that training cuts" "sketches with >= 24 points: [1-9][0-9]* of 384 (.*%): cut in training"
# step 5 is index 4: warm-up factor 5/5, cosine 0.5 (1 + cos(0.4 pi)) = 0.6545085
check "learning rate of step 5 in the log" 0 grep -q '"step":5,.*"lr":0.0013090169' "$tmp/extras/log.jsonl"

# ---- --overwrite keeps the old run until the new one writes a checkpoint
cp "$tmp/extras/latest_ckpt.safetensors" "$tmp/extras_latest.copy"
cp "$tmp/extras/log.jsonl" "$tmp/extras_log.copy"
check "--overwrite by a run that fails before its first checkpoint" 1 \
  "$sb" train "$tmp/nan.yml" --quiet --log-dir "$tmp/extras" --overwrite
check "leaves the old checkpoint" 0 cmp -s "$tmp/extras/latest_ckpt.safetensors" "$tmp/extras_latest.copy"
check "and the old log" 0 cmp -s "$tmp/extras/log.jsonl" "$tmp/extras_log.copy"
check "and nothing set aside, no lock" 0 test ! -e "$tmp/extras/replaced_run" -a ! -e "$tmp/extras/train.lock"
mkdir "$tmp/extras/replaced_run"
check "a run set aside by an interrupted --overwrite stops the next train" 1 \
  "$sb" train "$tmp/extras.yml" --quiet --overwrite
contains "naming it" "extras/replaced_run holds a run set aside by an --overwrite that did not finish"
rmdir "$tmp/extras/replaced_run"
check "--overwrite" 0 "$sb" train "$tmp/extras.yml" --quiet --overwrite --steps 2
check "writes the new run" 0 grep -q '"event":"checkpoint",.*"step":2,' "$tmp/extras/log.jsonl"
truth "with a log of its own" "n == 1" "n = $(grep -c '"event":"start"' "$tmp/extras/log.jsonl")"
check "its checkpoint replaces the old one" 1 cmp -s "$tmp/extras/latest_ckpt.safetensors" "$tmp/extras_latest.copy"
check "and the old run is gone" 1 test -e "$tmp/extras/replaced_run"

# ---- the valid split is needed only when a validation falls inside the run
check "sketches without a valid split" 0 "$synth" --out "$tmp/npz0" --classes circle,square --train 16 --valid 0 --test 4
check "prepared" 0 "$sb" prepare --quiet --threads 1 --out "$tmp/mm0" "$tmp/npz0/circle.npz" "$tmp/npz0/square.npz"
config noval maskrec 4 noval "sum_path: $tmp/mm0/memmap_sum.txt" "offset_path: $tmp/mm0/offsets.sbidx" \
  "checkpoint_every: 3"
check "training that stops before the first validation" 0 "$sb" train "$tmp/noval.yml" --quiet --steps 2
check "a run that reaches one" 1 "$sb" train "$tmp/noval.yml" --quiet --continue
contains "names the empty split" "no sketch in split valid"

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
contains "and the config key behind them" \
  "layers_setting \[\[2, 32, 64\], \[2, 32, 64\]\] in the checkpoint's config, \[\[2, 48, 64\], \[2, 48, 64\]\] in this one"

finish
