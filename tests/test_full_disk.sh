#!/bin/sh
# A full disk: with the output on a small tmpfs filled to the brim, train
# (checkpoint), prepare, retrieve index, import-torch and embed -o each
# fail with a message naming the file and "No space left on device",
# leave the previous output byte for byte and no temporary file behind;
# train goes on with --continue once space is freed. Needs root for
# mount: skips (exit 77) otherwise.
# usage: test_full_disk.sh SKETCHBERT SKETCHBERT-SYNTH FIXTURES_DIR
sb=$1 synth=$2 fixtures=$3
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: mounting a small tmpfs needs root"
  exit 77
fi
tmp=$(mktemp -d) || exit 1
disk=$tmp/disk
mkdir "$disk"
if ! mount -t tmpfs -o size=4m tmpfs "$disk"; then
  echo "SKIP: cannot mount a tmpfs on $disk"
  rmdir "$disk" "$tmp"
  exit 77
fi
trap 'umount "$disk"; rm -rf "$tmp"' EXIT
. "$(dirname "$0")/check.sh"

# fill LEAVE_KB: a filler file leaves about LEAVE_KB free on the tmpfs
fill() {
  rm -f "$disk/fill"
  avail=$(df -k --output=avail "$disk" | tail -1)
  [ "$avail" -gt "$1" ] && dd if=/dev/zero of="$disk/fill" bs=1k count=$((avail - $1)) 2>/dev/null
  return 0
}
# (log.jsonl is appended to and config.yml rewritten by every run, by design)
sums() { (cd "$disk" && find . -type f ! -name fill ! -name log.jsonl ! -name config.yml | sort | xargs md5sum) >"$tmp/$1.md5"; }
# after NAME FILE: the failed command named FILE and ENOSPC, changed no
# earlier output and left no temporary
after() {
  contains "$1: names the file" "$2"
  sed "s/^/#   /" "$tmp/out"
  contains "$1: says the disk is full" "No space left on device"
  sums now
  check "$1: earlier output unchanged" 0 diff "$tmp/before.md5" "$tmp/now.md5"
  check "$1: no temporary left" 0 test -z "$(find "$disk" -name '*.tmp*')"
}

check "synthetic sketches" 0 "$synth" --out "$tmp/npz" --classes circle,square --train 32 --valid 8 --test 8
check "prepare onto the tmpfs" 0 "$sb" prepare --quiet --threads 1 --out "$disk/mm" "$tmp/npz/circle.npz" "$tmp/npz/square.npz"
config run "maskrec, sketchretrieval" 8 run "get_type: triplet" "sum_path: $disk/mm/memmap_sum.txt" "offset_path: $disk/mm/offsets.sbidx" \
  "log_dir: $disk/run"
check "train 4 steps onto the tmpfs" 0 "$sb" train "$tmp/run.yml" --steps 4 --quiet
ck=$disk/run/latest_ckpt.safetensors
check "index onto the tmpfs" 0 "$sb" retrieve index "$ck" "$disk/mm" -o "$disk/idx"
check "embed onto the tmpfs" 0 "$sb" embed "$ck" "$disk/mm" -o "$disk/e.npy"
check "import-torch onto the tmpfs" 0 "$sb" import-torch "$fixtures/torch_ckpt_zip.pth.tar" "$disk/imp.safetensors"
sums before

# train: room for config.yml and log lines, not for a checkpoint
fill 8
check "train on a full disk fails" 1 "$sb" train "$tmp/run.yml" --continue --steps 2 --quiet
after "train" "latest_ckpt.safetensors"
fill 0
check "prepare --overwrite on a full disk fails" 1 "$sb" prepare --quiet --threads 1 --overwrite --out "$disk/mm" \
  "$tmp/npz/circle.npz" "$tmp/npz/square.npz"
after "prepare" "$disk/mm"
check "the old dataset still loads" 0 "$sb" data stats "$disk/mm"
check "retrieve index on a full disk fails" 1 "$sb" retrieve index "$ck" "$disk/mm" -o "$disk/idx"
after "retrieve index" "$disk/idx"
check "embed -o on a full disk fails" 1 "$sb" embed "$ck" "$disk/mm" -o "$disk/e.npy"
after "embed" "$disk/e.npy"
check "import-torch on a full disk fails" 1 "$sb" import-torch "$fixtures/torch_ckpt_zip.pth.tar" "$disk/imp.safetensors"
after "import-torch" "$disk/imp.safetensors"

rm -f "$disk/fill"
check "train goes on once space is freed" 0 "$sb" train "$tmp/run.yml" --continue --quiet
check "to the last step" 0 grep -q '"event":"checkpoint",.*"step":8,' "$disk/run/log.jsonl"
check "its checkpoints verify" 0 "$sb" check "$disk/run/latest_ckpt.safetensors"
finish
