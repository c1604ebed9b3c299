#!/bin/sh
# Checksums through the CLI: `sketchbert check` on a trained checkpoint, a
# bit-flipped one (refused naming the tensor by check, test and train
# --continue: never loaded as weights), a truncated one, one written
# before checksums (no key: loads, "no checksum"); `sketchbert data
# verify` on a prepared dataset, a bit-flipped and a truncated .dat, and a
# dataset without checksums.crc32; the temporaries a killed checkpoint
# write leaves are removed by the next run.
# usage: test_integrity.sh SKETCHBERT SKETCHBERT-SYNTH
sb=$1 synth=$2
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/check.sh"
# flip FILE OFFSET: flips the lowest bit of one byte (OFFSET from the end when negative)
flip() {
  python3 -c 'import sys
p, at = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read()); b[at] ^= 1; open(p, "wb").write(b)' "$1" "$2"
}

check "synthetic sketches" 0 "$synth" --out "$tmp/npz" --classes circle,square --train 32 --valid 8 --test 8
check "prepare" 0 "$sb" prepare --quiet --threads 1 --out "$tmp/mm" "$tmp/npz/circle.npz" "$tmp/npz/square.npz"

# ---- data verify
check "data verify --help" 0 "$sb" data verify --help
check "data verify without a folder" 2 "$sb" data verify
check "a fresh dataset verifies" 0 "$sb" data verify "$tmp/mm"
contains "with its checksums" "2 classes, 96 sketches, checksums of the .dat files match"
cp -r "$tmp/mm" "$tmp/mm_flip"
flip "$tmp/mm_flip/square_valid.dat" 7
check "a flipped bit in a .dat is refused" 1 "$sb" data verify "$tmp/mm_flip"
contains "naming the file" "mm_flip/square_valid.dat does not match its checksum"
cp -r "$tmp/mm" "$tmp/mm_cut"
truncate -s -6 "$tmp/mm_cut/circle_train.dat"
check "a truncated .dat is refused" 1 "$sb" data verify "$tmp/mm_cut"
contains "naming the file" "circle_train.dat"
cp -r "$tmp/mm" "$tmp/mm_old"
rm "$tmp/mm_old/checksums.crc32"
check "a dataset prepared before checksums verifies" 0 "$sb" data verify "$tmp/mm_old"
contains "saying so" "no checksums"

# ---- check
config run maskrec 4 run "checkpoint_every: 2"
check "train 2 steps" 0 "$sb" train "$tmp/run.yml" --steps 2 --quiet
ck=$tmp/run/latest_ckpt.safetensors
check "check --help" 0 "$sb" check --help
check "check without a file" 2 "$sb" check
check "a fresh checkpoint checks" 0 "$sb" check "$ck"
contains "with its checksums" "checksums match"
cp "$ck" "$tmp/keep.safetensors"
flip "$ck" -5
check "a flipped bit in the last tensor is refused" 1 "$sb" check "$ck"
contains "naming the tensor and its bytes" "tensor '.*' (file bytes [0-9]*-[0-9]*) does not match its checksum"
check "test refuses it" 1 "$sb" test "$tmp/run.yml" --checkpoint "$ck"
contains "naming the tensor" "does not match its checksum"
check "train --continue refuses it" 1 "$sb" train "$tmp/run.yml" --continue --quiet
contains "naming the tensor" "does not match its checksum"
cp "$tmp/keep.safetensors" "$ck"
truncate -s -100 "$ck"
check "a truncated checkpoint is refused" 1 "$sb" check "$ck"
contains "naming the tensor" "tensor '.*': data_offsets .* outside the data"
# a checkpoint of an earlier version: the same file without the checksum key
python3 -c 'import json, struct, sys
src, dst = sys.argv[1], sys.argv[2]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
del h["__metadata__"]["sketchbert_crc32"]
text = json.dumps(h, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
open(dst, "wb").write(struct.pack("<Q", len(text)) + text + raw[8 + n:])' "$tmp/keep.safetensors" "$ck"
check "a checkpoint without checksums checks" 0 "$sb" check "$ck"
contains "saying so" "no checksum"
# what a write killed by SIGKILL leaves, and a file of the user's
echo partial >"$tmp/run/latest_ckpt.safetensors.tmp999999"
echo partial >"$tmp/run/iter_2_ckpt.safetensors.tmp4"
echo mine >"$tmp/run/notes.tmp1"
check "and training continues from it" 0 "$sb" train "$tmp/run.yml" --continue
contains "removing the temporaries of a killed write" "removed .*/latest_ckpt.safetensors.tmp999999, left by an interrupted write"
check "all of them" 0 test ! -e "$tmp/run/latest_ckpt.safetensors.tmp999999" -a ! -e "$tmp/run/iter_2_ckpt.safetensors.tmp4"
check "but no file of the user's" 0 test -f "$tmp/run/notes.tmp1"
check "writing checksums again" 0 "$sb" check "$ck"
contains "which match" "checksums match"
finish
