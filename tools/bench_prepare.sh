#!/bin/sh
# Times `sketchbert prepare` against the original Python conversion script
# (SketchBERT's models/SketchTransformer/models/generate_dataset.py, not part
# of this repository: pass its path) on the same npz files.
# usage: tools/bench_prepare.sh ORIGINAL_SCRIPT PYTHON NPZ...
# PYTHON needs numpy, torch and pillow (the script imports them).
# Prints wall-clock seconds of each (best of 3) and the ratio.
set -eu
script=$1 py=$2; shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "$@"; do printf '%s\n' "$(realpath "$f")"; done > "$tmp/npz_sum.txt"
mkdir -p "$tmp/QuickDraw/memmap"
best() { # best of 3 wall-clock runs of "$@", in seconds
  b=""
  for i in 1 2 3; do
    s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l); if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}
orig=$(cd "$tmp" && best "$py" "$script")
imports=$(best "$py" -c "import numpy, torch, PIL.Image")
ours=$(best build/sketchbert prepare --quiet --overwrite --out "$tmp/ours" "$@")
ours1=$(best build/sketchbert prepare --quiet --overwrite --threads 1 --out "$tmp/ours1" "$@")
same=yes
for f in "$tmp"/QuickDraw/memmap/*_train.dat; do cmp -s "$f" "$tmp/ours/$(basename "$f")" || same=no; done
printf 'original script: %.3f s, of which %.3f s importing numpy/torch/PIL\nsketchbert prepare, 1 thread: %.3f s (%.1fx faster)\nsketchbert prepare, %s threads: %.3f s (%.1fx faster)\n' \
  "$orig" "$imports" "$ours1" "$(echo "$orig / $ours1" | bc -l)" "$(nproc)" "$ours" "$(echo "$orig / $ours" | bc -l)"
printf 'without the imports the script takes %.3f s: %.1fx our 2-thread time\n' "$(echo "$orig - $imports" | bc -l)" \
  "$(echo "($orig - $imports) / $ours" | bc -l)"
echo "train .dat files byte-identical to the original's: $same"
