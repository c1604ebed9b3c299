# Shell test helpers, sourced by tests/test_*.sh after they set $tmp:
# OK / NOT OK lines (check, contains, truth), a tiny-model config,
# same_weights, and `finish` for the "N passed, N failed" summary.
pass=0 fail=0
check() { # check NAME EXPECTED_RC COMMAND...
  name=$1 want=$2; shift 2
  "$@" >"$tmp/out" 2>&1; rc=$?
  if [ "$rc" = "$want" ]; then pass=$((pass+1)); echo "OK $name"
  else fail=$((fail+1)); echo "NOT OK $name: exit $rc, wanted $want"; sed 's/^/#   /' "$tmp/out"; fi
}
contains() { # contains NAME TEXT: the last command's output holds TEXT
  if grep -q -- "$2" "$tmp/out"; then pass=$((pass+1)); echo "OK $1"
  else fail=$((fail+1)); echo "NOT OK $1: no '$2' in"; sed 's/^/#   /' "$tmp/out"; fi
}
truth() { # truth NAME AWK-CONDITION VARIABLES: the condition holds for them
  name=$1 cond=$2; shift 2
  if awk "BEGIN { $* ; exit !($cond) }"; then pass=$((pass+1)); echo "OK $name"
  else fail=$((fail+1)); echo "NOT OK $name: $cond with $*"; fi
}
# A config for the tiny model of the shell tests (2 layers of width 32),
# reading the memmap data in $tmp/mm: written to $tmp/NAME.yml.
# usage: config NAME TASKS STEPS LOG_DIR [KEY: VALUE LINES that replace the base's]
config() {
  name=$1 tasks=$2 steps=$3 dir=$4; shift 4
  : >"$tmp/extra"
  for line in "$@"; do echo "$line" >>"$tmp/extra"; done
  awk -F: -v x="$tmp/extra" 'FILENAME == x { over[$1] = 1; next } !($1 in over)' "$tmp/extra" - >"$tmp/$name.yml" <<EOF
task_types: [$tasks]
sum_path: $tmp/mm/memmap_sum.txt
offset_path: $tmp/mm/offsets.sbidx
max_length: 48
layers_setting: [[2, 32, 64], [2, 32, 64]]
embed_layers_setting: [32]
rec_layers_setting: [32]
cls_dim: 4
rel_feat_dim: 16
attention_dropout_prob: 0.1
hidden_dropout_prob: 0.1
output_dropout_prob: 0.1
batch_size: 8
learning_rate: 0.002
num_epoch: 100
num_iterations: $steps
seed: 3
log_dir: $tmp/$dir
print_every: 10
checkpoint_every: 100000
save_model_every: 100000
EOF
  cat "$tmp/extra" >>"$tmp/$name.yml"
}
# same_weights A B: the tensors and counters of two checkpoints are identical
# (but the config, which names the log folder, and the checksums, which
# cover it); needs $dump, the st_interop helper (tests/st_interop.c)
same_weights() {
  "$dump" dump "$1" | grep -v -e '^M config' -e '^M sketchbert_crc32' >"$tmp/a.txt" &&
    "$dump" dump "$2" | grep -v -e '^M config' -e '^M sketchbert_crc32' >"$tmp/b.txt" &&
    cmp -s "$tmp/a.txt" "$tmp/b.txt"
}
finish() { # the summary line, and the exit status
  echo "$pass passed, $fail failed"
  [ "$fail" = 0 ]
}
