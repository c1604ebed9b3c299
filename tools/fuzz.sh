#!/bin/sh
# libFuzzer targets of the file readers (tests/fuzz/fuzz_*.c) under ASan
# and UBSan; see docs/fuzzing.md.
#   tools/fuzz.sh build                build every target into build-fuzz/
#   tools/fuzz.sh seeds                (re)write the seed inputs, build-fuzz/seeds/<target>/
#   tools/fuzz.sh run SECONDS [T...]   build and seed when missing, then run each
#                                      target (all, or T...) for SECONDS
#   tools/fuzz.sh runs N [T...]        the same, N executions each
# FUZZ_FLAGS adds libFuzzer flags, overriding the defaults (-max_total_time=600
# caps a runs N); FUZZ_OUT replaces build-fuzz.
# Each run grows build-fuzz/corpus/<target>/ from the seeds; a crash, leak,
# sanitizer report, input over 1 s (-timeout=1) or over 2 GB (-rss_limit_mb)
# is written to build-fuzz/findings/ and makes the script exit 1 after the
# other targets ran. Prints one line per target: executions, edges, seconds.
# Needs clang with libFuzzer; the seeds need build/sketchbert-synth
# (SKETCHBERT_BUILD=dir for another meson build) and python3.
set -eu
cd "$(dirname "$0")/.."
out=${FUZZ_OUT:-build-fuzz}
targets="pickle zip memmap sbindex npy npz ndjson qdbin safetensors config svg"
cc=${CC_FUZZ:-clang}
# clang 14 calls a volatile sink "set but not used"
cflags="-g -O1 -std=c11 -Wall -Wextra -Werror -Wno-unknown-warning-option
  -Wno-unused-but-set-variable -D_DEFAULT_SOURCE -DCL_TARGET_OPENCL_VERSION=120 -Iinclude -Isrc"

build() {
  mkdir -p $out/obj
  # the readers, instrumented for coverage; each target links what it uses
  lib_src="src/io/*.c src/data/memmap.c src/data/quickdraw.c src/api/index_file.c src/api/sketches.c
    src/runtime/error.c"
  objs=""
  for s in $lib_src; do
    o=$out/obj/$(echo "$s" | tr / _ | sed 's/\.c$/.o/')
    $cc $cflags -fsanitize=fuzzer-no-link,address,undefined -c "$s" -o "$o"
    objs="$objs $o"
  done
  rm -f $out/libsb_fuzz.a
  ar rcs $out/libsb_fuzz.a $objs
  for t in $targets; do
    $cc $cflags -fsanitize=fuzzer,address,undefined tests/fuzz/fuzz_$t.c $out/libsb_fuzz.a \
      $(pkg-config --libs yaml-0.1) -lz -lm -o $out/fuzz_$t
  done
}

seeds() {
  bld=${SKETCHBERT_BUILD:-build}
  s=$out/seeds
  rm -rf $s $out/synth
  for t in $targets; do mkdir -p $s/$t; done
  cp tests/data/torch_views_legacy.pth tests/data/torch_ckpt_legacy.pth.tar $s/pickle/
  cp tests/data/torch_views_zip.pth $s/zip/
  cp tests/data/memmap_overflow/offsets.sbidx $s/memmap/overflow.sbidx
  cp tests/data/index_label_bytes.sbindex $s/sbindex/
  "$bld/sketchbert-synth" --out $out/synth --classes circle,square --train 3 --valid 2 --test 1 >/dev/null
  "$bld/sketchbert-synth" --out $out/synth/stored --classes zigzag --train 2 --valid 1 --test 1 --stored >/dev/null
  cp $out/synth/circle.npz $out/synth/stored/zigzag.npz $s/npz/
  cp $out/synth/square.npz $s/zip/
  "$bld/sketchbert" prepare --quiet --out $out/synth/mm $out/synth/circle.npz $out/synth/square.npz >/dev/null
  cp $out/synth/mm/offsets.sbidx $s/memmap/synth.sbidx
  python3 - "$s" "$out/synth/stored/zigzag.npz" <<'PY'
import json, struct, sys, zipfile
s = sys.argv[1]
def put(t, name, data):
    open(f"{s}/{t}/{name}", "wb").write(data.encode() if isinstance(data, str) else data)
with zipfile.ZipFile(sys.argv[2]) as z:   # stored members: object arrays of int16 sketches
    for m in z.namelist(): put("npy", m, z.read(m))
def npy(descr, shape, payload):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    h += " " * (63 - (len(h) + 10) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + payload
put("npy", "i16.npy", npy("<i2", "(2, 3)", struct.pack("<6h", 1, -2, 0, 300, 5, 1)))
put("npy", "f64.npy", npy(">f8", "(3,)", struct.pack(">3d", 0.5, -1.25, 7)))
l = b"cat\0alarm clock\0"
put("sbindex", "valid.sbindex", b"SBINDEX\0" + struct.pack("<IIQ", 2, 3, 2) + b"0123456789abcdef" * 2
    + struct.pack("<Q", len(l)) + struct.pack("<6f", 1, 2, 3, 4, 5, 6) + l
    + struct.pack("<QII9h", 3, 2, 1, 1, -2, 0, 300, 5, 1, 7, 7, 1))
put("ndjson", "simplified.ndjson",
    '{"word":"cat","countrycode":"US","timestamp":"2017-03-01 00:00:00.1 UTC","recognized":true,'
    '"key_id":"123","drawing":[[[0,10,20],[0,5,0]],[[3,4],[9,8]]]}\n\n'
    '{"word":"dog","recognized":false,"drawing":[[[1],[2]]]}\n')
put("ndjson", "raw.ndjson", '{"word":"cat","key_id":"9","drawing":[[[0.5,1.5],[2.25,3],[0,16.5]]]}\n')
def rec(key, strokes):
    b = struct.pack("<Q2sBIH", key, b"DE", 1, 1490000000, len(strokes))
    for xs, ys in strokes: b += struct.pack("<H", len(xs)) + bytes(xs) + bytes(ys)
    return b
put("qdbin", "two.bin", rec(1, [([0, 10, 255], [0, 5, 0]), ([3], [9])]) + rec(2, [([1, 2], [3, 4])]))
def st(tensors, meta):
    hdr, data = {"__metadata__": meta}, b""
    for name, dtype, shape, raw in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data
put("safetensors", "small.safetensors", st([("w", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
    ("step", "I64", [], struct.pack("<q", 7)), ("h", "F16", [2], struct.pack("<2H", 0x3c00, 0xc000)),
    ("b", "BF16", [1], struct.pack("<H", 0x3f80))], {"format": "pt", "config": "hidden_dim: 8\n"}))
PY
  for c in tiny_classify small_pretrain; do
    { sed 's/!include [a-z_]*\.yml/!include inc.yml/' configs/$c.yml; printf '\0'; cat configs/${c%_*}_layers.yml; } \
      > $s/config/$c.yml
  done
  printf 'embed_layers_setting: !include inc.yml\0[128, 256]\n' > $s/config/list.yml
  # TU-Berlin files of the shared data when present, and one by hand
  for f in ../shared/data/other/tuberlin_svg/*/*.svg; do [ -f "$f" ] && cp "$f" $s/svg/; done
  printf '<svg viewBox="0 0 800 800"><g transform="translate(10,20) scale(2)"><path d="M1 2 L30 40 C 5 5 9 9 50 60 Q 7 8 9 10 z m 3 4 h 5 v 6"/></g><polyline points="1,2 3,4 5,6"/><line x1="0" y1="0" x2="9" y2="9"/></svg>\n' \
    > $s/svg/hand.svg
}

run() {
  limit=$1; shift
  [ $# -gt 0 ] && set -- "$@" || set -- $targets
  for t in "$@"; do [ -x $out/fuzz_$t ] || { build; break; }; done
  for t in "$@"; do [ -d $out/seeds/$t ] || { seeds; break; }; done
  mkdir -p $out/findings $out/logs
  status=0
  for t in "$@"; do
    mkdir -p $out/corpus/$t
    start=$(date +%s)
    rc=0
    $out/fuzz_$t $limit -timeout=1 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 ${FUZZ_FLAGS:-} \
      -artifact_prefix=$out/findings/$t- $out/corpus/$t $out/seeds/$t > $out/logs/$t.log 2>&1 || rc=$?
    secs=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' $out/logs/$t.log)
    cov=$(grep -o 'cov: [0-9]*' $out/logs/$t.log | tail -1 | cut -d' ' -f2)
    verdict=ok
    [ $rc = 0 ] || { verdict="FAILED (rc $rc, see $out/logs/$t.log)"; status=1; }
    printf '%-12s %10s execs %6s edges %6s s  %s\n' "fuzz_$t" "${execs:-?}" "${cov:-?}" "$secs" "$verdict"
  done
  return $status
}

case "${1:-}" in
  build) build ;;
  seeds) seeds ;;
  run) [ $# -ge 2 ] || { echo "usage: tools/fuzz.sh run SECONDS [TARGET...]" >&2; exit 2; }
       s=$2; shift 2; run "-max_total_time=$s" "$@" ;;
  runs) [ $# -ge 2 ] || { echo "usage: tools/fuzz.sh runs N [TARGET...]" >&2; exit 2; }
        n=$2; shift 2; run "-runs=$n" "$@" ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
