#!/bin/sh
# Builds the GPU check bundle: a self-contained folder to copy to a machine
# with a GPU (and an OpenCL driver, e.g. NVIDIA's) but without this
# project's build tools or libraries, whose run.sh lists the devices, runs
# the op tests and the golden test, `bench gemm` and `bench model` on the
# first GPU and writes a log and a summary (tools/gpu-check-run.sh, copied
# in as run.sh).
#
# Layout: bin/ the CLI and the op test programs (RUNPATH $ORIGIN/../lib);
# lib/ their libraries except glibc (CLBlast, libyaml, zlib, the ocl-icd
# loader libOpenCL, libstdc++, ...; RUNPATH $ORIGIN); glibc/ the C library
# and its loader, for hosts whose glibc is older than this one's (run.sh
# starts the programs through glibc/ld-linux-x86-64.so.2 then); icd/
# nvidia.icd (names libnvidia-opencl.so.1, for OCL_ICD_VENDORS where
# /etc/OpenCL/vendors has no NVIDIA entry) and pocl.icd (the self-test
# here); data/ the golden fixture; configs/.
#
# The bundle is built without the host BLAS (a GPU uses CLBlast; OpenBLAS
# would add 40 MB), in its own build folder. Not part of the build or the
# tests.
#
# usage: tools/gpu-check.sh [--build DIR] [--out DIR] [--run-pocl]
#   --build DIR  build folder to use (default build-gpu-check, configured
#                here with -Dhost_blas=disabled when it does not exist)
#   --out DIR    the bundle (default gpu-check; replaced)
#   --run-pocl   then run the bundle here on PoCL (run.sh --pocl), twice:
#                with this system's loader and with the bundled one
# needs: meson, ninja, patchelf, ldd.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-gpu-check
out=$root/gpu-check
run_pocl=0
while [ $# -gt 0 ]; do
    case $1 in
        --build) build=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --run-pocl) run_pocl=1; shift ;;
        -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu-check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
command -v patchelf >/dev/null || { echo "gpu-check.sh: needs patchelf (apt-get install patchelf)" >&2; exit 1; }

# The op tests of tests/meson.build (op_tests) and the CLI.
tests="runtime adam attention bias dropout gather gelu gemm golden grad_norm layernorm linear loss model position
residual softmax"

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" -Dbuildtype=release -Dhost_blas=disabled -Doclgrind_tests=disabled
fi
targets="sketchbert"
for t in $tests; do targets="$targets tests/test_$t"; done
ninja -C "$build" $targets

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/glibc" "$out/icd" "$out/data" "$out/configs"
cp "$build/sketchbert" "$out/bin/"
for t in $tests; do cp "$build/tests/test_$t" "$out/bin/"; done
cp "$root"/configs/*.yml "$out/configs/"
cp "$root/tests/data/golden_ref.bin" "$out/data/"
cp "$root/tools/gpu-check-run.sh" "$out/run.sh"
chmod +x "$out/run.sh"
printf 'libnvidia-opencl.so.1\n' > "$out/icd/nvidia.icd"
printf 'libpocl.so.2\n' > "$out/icd/pocl.icd"

# Libraries: everything ldd resolves for the programs and for the ICD
# loader, by the name the programs ask for; glibc's own libraries apart.
glibc_names="ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libresolv.so.2"
is_glibc() { case " $glibc_names " in *" $1 "*) return 0 ;; esac; return 1; }
ldd "$out"/bin/* 2>/dev/null | sed -n 's/^[[:space:]]*\([^ ]*\) => \(\/[^ ]*\) .*/\1 \2/p' | sort -u |
while read -r name path; do
    if is_glibc "$name"; then cp -L "$path" "$out/glibc/$name"; else cp -L "$path" "$out/lib/$name"; fi
done
# The loader, and the glibc pieces a driver library may ask for that our
# programs do not (glibc 2.34+ keeps them as stubs).
libdir=$(dirname "$(ldd "$out/bin/sketchbert" | sed -n 's/.*libc\.so\.6 => \([^ ]*\) .*/\1/p')")
for name in $glibc_names; do
    [ -e "$out/glibc/$name" ] && continue
    for d in "$libdir" /lib64 /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu; do
        if [ -e "$d/$name" ]; then cp -L "$d/$name" "$out/glibc/$name"; break; fi
    done
done
[ -e "$out/glibc/ld-linux-x86-64.so.2" ] || { echo "gpu-check.sh: no ld-linux-x86-64.so.2 found" >&2; exit 1; }
getconf GNU_LIBC_VERSION | sed 's/^glibc //' > "$out/glibc/VERSION"

for f in "$out"/bin/*; do patchelf --set-rpath '$ORIGIN/../lib' "$f"; done
for f in "$out"/lib/*; do chmod u+w "$f"; patchelf --set-rpath '$ORIGIN' "$f"; done

# Every library of every program must now come from the bundle (or glibc).
missing=$(env -u LD_LIBRARY_PATH ldd "$out"/bin/* | awk -v root="$out/" '
    /^\// { prog = $1 }
    / => / && index($3, root) != 1 && $1 !~ /^(ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libresolv\.so)/ {
        print prog " " $1 " => " $3 }')
[ -z "$missing" ] || { echo "gpu-check.sh: not resolved inside the bundle:" >&2; echo "$missing" >&2; exit 1; }

size=$(du -sm "$out" | cut -f1)
echo "gpu-check.sh: bundle $out, $size MiB: $(ls "$out/bin" | wc -l) programs, $(ls "$out/lib" | wc -l) libraries" \
     "+ glibc $(cat "$out/glibc/VERSION")"
[ "$size" -lt 64 ] || { echo "gpu-check.sh: the bundle is $size MiB, over the 64 MiB limit" >&2; exit 1; }

if [ "$run_pocl" = 1 ]; then
    "$out/run.sh" --pocl --out "$out/results-pocl-system"
    GPU_CHECK_LOADER=bundled "$out/run.sh" --pocl --out "$out/results-pocl-bundled"
fi
