#!/bin/sh
# The command-line tool end to end on synthetic data: help and usage
# errors, prepare (and into an existing dataset), config errors and --set,
# bench model's --lengths and SKETCHBERT_TRIM, data stats, render, devices;
# exit codes as documented.
# The commands that take a checkpoint also take an original PyTorch file.
# usage: test_cli.sh SKETCHBERT SKETCHBERT-SYNTH FIXTURES
sb=$1 synth=$2 fixtures=$3
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/check.sh"

check "sketchbert --help" 0 "$sb" --help
contains "help lists prepare" "prepare"
check "no command is a usage error" 2 "$sb"
check "unknown command" 2 "$sb" frobnicate
check "prepare --help" 0 "$sb" prepare --help
check "render --help" 0 "$sb" render --help
check "data stats --help" 0 "$sb" data stats --help
check "synthetic sketches" 0 "$synth" --out "$tmp/npz" --classes circle,square,star --train 30 --valid 5 --test 5
check "prepare" 0 "$sb" prepare --quiet --out "$tmp/mm" "$tmp/npz/circle.npz" "$tmp/npz/square.npz" "$tmp/npz/star.npz"
contains "prepare reports its totals" "90 train, 15 valid, 15 test"
check "prepare into an existing dataset is refused" 1 "$sb" prepare --quiet --out "$tmp/mm" "$tmp/npz/circle.npz"
contains "names the folder and --overwrite" "$tmp/mm is not empty.*pass --overwrite"
check "prepare --overwrite" 0 "$sb" prepare --quiet --overwrite --out "$tmp/mm" "$tmp/npz/circle.npz" \
  "$tmp/npz/square.npz" "$tmp/npz/star.npz"
# --out in folders that do not exist yet: made (as train makes log_dir), and
# removed again when prepare fails
check "prepare --out new/folders" 0 "$sb" prepare --quiet --out "$tmp/new/sub/mm" "$tmp/npz/circle.npz"
check "the dataset in new/folders verifies" 0 "$sb" data verify "$tmp/new/sub/mm"
head -c 100 "$tmp/npz/circle.npz" >"$tmp/cut.npz"
check "prepare of a damaged file into new folders fails" 1 "$sb" prepare --quiet --out "$tmp/gone/sub/mm" "$tmp/cut.npz"
check "and leaves no folder behind" 1 test -e "$tmp/gone"
: >"$tmp/plain"
check "prepare --out under a file" 1 "$sb" prepare --quiet --out "$tmp/plain/mm" "$tmp/npz/circle.npz"
contains "says --out is not under a folder" "--out $tmp/plain/mm: Not a directory"
# configs: typos are errors, --set on every command that reads a config
config cfg maskrec 1 run "layers_setting: [[2, 16, 32]]"
sed 's/^learning_rate:/learning_rat:/' "$tmp/cfg.yml" >"$tmp/typo.yml"
check "a key typo in the config" 1 "$sb" train "$tmp/typo.yml"
contains "names file:line, the key and the nearest key" "typo.yml:[0-9]*: unknown key 'learning_rat' (did you mean learning_rate?)"
check "a directory as the config" 1 "$sb" test "$tmp"
contains "says it is a directory" "cannot open: it is a directory"
for cmd in train test "bench model"; do
  # $cmd unquoted: "bench model" is two words
  check "$cmd --set with a typo" 1 "$sb" $cmd "$tmp/cfg.yml" --set learning_rat=0.1
  contains "$cmd names the --set" "--set learning_rat=0.1: unknown key 'learning_rat' (did you mean learning_rate?)"
done
check "bench model --lengths quickdraw" 0 "$sb" bench model "$tmp/cfg.yml" --infer --steps 1 --warmup 0 --batch 2 \
  --lengths quickdraw
contains "says which lengths" "lengths quickdraw, longest [0-9]* tokens"
check "bench model --lengths of an unknown kind" 2 "$sb" bench model "$tmp/cfg.yml" --lengths short
contains "names the kinds" "--lengths short: expected half, quickdraw or full"
check "SKETCHBERT_TRIM of an unknown value" 1 env SKETCHBERT_TRIM=maybe "$sb" bench model "$tmp/cfg.yml" --infer \
  --steps 1 --warmup 0 --batch 2
contains "names the variable" "SKETCHBERT_TRIM=maybe: expected 1, on, 0 or off"
check "train with --set" 0 "$sb" train "$tmp/cfg.yml" --quiet --steps 1 --set batch_size=3 --set "log_dir=$tmp/setrun"
check "the run took the --set values" 0 grep -q "^batch_size: 3$" "$tmp/setrun/config.yml"
check "data stats" 0 "$sb" data stats "$tmp/mm"
contains "stats per class" "square  *30  *5  *5"
check "render from memmap" 0 "$sb" render --memmap "$tmp/mm" --class star --index 0-3 -o "$tmp/star.svg"
check "render wrote an svg" 0 grep -q "<svg" "$tmp/star.svg"
check "render an unknown class" 1 "$sb" render --memmap "$tmp/mm" --class dog -o "$tmp/dog.svg"
contains "lists the classes" "no class 'dog' (its 3 classes: circle, square, star)"
check "render from npz" 0 "$sb" render --npz "$tmp/npz/circle.npz" --split test --index 4 -o "$tmp/c.svg"
check "render index out of range" 1 "$sb" render --npz "$tmp/npz/circle.npz" --split test --index 5 -o "$tmp/c.svg"
contains "names the file and index" "circle.npz: split test has 5 sketches, no index 5"
check "render without -o" 2 "$sb" render --npz "$tmp/npz/circle.npz"
check "stats of a missing dataset" 1 "$sb" data stats "$tmp/nothing"
# A fuzzed dataset (tests/data/memmap_overflow): circle's test range ends at
# 2^63 + 29, and 6 bytes a point wraps to the 174 bytes of circle_test.dat.
check "stats of a dataset whose range overflows" 1 "$sb" data stats "$fixtures/memmap_overflow"
contains "names class, split and range" "class circle split test sketch 0: range \[0, 9223372036854775837) is past the end"
check "render from it" 1 "$sb" render --memmap "$fixtures/memmap_overflow" --class circle --split test --index 0 \
  -o "$tmp/overflow.svg"
contains "says why" "class circle split test sketch 0: range \[0, 9223372036854775837) is past the end"
check "classify straight from a PyTorch .pth.tar (converted on the fly)" 0 \
  "$sb" classify "$fixtures/torch_ckpt_zip.pth.tar" "$tmp/npz/circle.npz" --top-k 2
contains "one line per sketch" "^4	circle	class_"
check "complete from a legacy-format .pth.tar" 0 \
  "$sb" complete "$fixtures/torch_ckpt_legacy.pth.tar" "$tmp/npz/star.npz" --index 0 -o "$tmp/star_c.svg"
check "a .pth that is not a checkpoint" 1 "$sb" classify "$tmp/npz/circle.npz.pth" "$tmp/npz/circle.npz"
check "devices" 0 "$sb" devices
contains "devices marks the default" "\*"
check "no such device" 1 "$sb" --device no-such-device-xyz devices
finish
