#!/bin/sh
# One-step set-up: installs the Debian packages sketchbert needs (when
# missing), configures and builds, then runs the main job or the tests.
#   tools/setup.sh demo    devices, then a short run on the default device
#   tools/setup.sh test    the whole test suite (what CI runs)
# Not root and packages missing: prints the exact apt-get line and stops.
set -eu
cd "$(dirname "$0")/.."
job=${1:-demo}
case "$job" in demo|test) ;; *) echo "usage: tools/setup.sh [demo|test]" >&2; exit 2 ;; esac

packages="gcc libc6-dev pkg-config meson ninja-build python3 ocl-icd-opencl-dev opencl-c-headers \
pocl-opencl-icd libclblast-dev libopenblas-dev libyaml-dev zlib1g-dev"
# test: clang + its libFuzzer runtime (only recommended by clang) for the fuzz suite; chromium
# for the report screenshots (headless; its dependencies bring a font, fonts-dejavu-core);
# python3-venv for the venv that holds the tensorboard package from PyPI (the TensorBoard
# check), so the system Python is left as Debian has it
[ "$job" = test ] && packages="$packages oclgrind clang libclang-rt-dev chromium python3-venv"
[ "$job" = test ] && packages="$packages libopenmpi-dev openmpi-bin" # Open MPI: data-parallel training, the dist suite

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "sketchbert set-up needs these Debian packages; as root run:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
    exit 1
  fi
  echo "== installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends $missing
fi

if [ ! -f build/build.ninja ]; then
  meson setup build -Dwerror=true
fi
ninja -C build

if [ "$job" = demo ]; then
  ./build/sketchbert devices
  # Synthetic sketches in the QuickDraw npz format, prepared for training
  # (again on a second run: --overwrite replaces the dataset made before).
  mkdir -p data/synth
  ./build/sketchbert-synth --out data/synth/npz
  ./build/sketchbert prepare --overwrite --out data/synth/memmap data/synth/npz/*.npz
  ./build/sketchbert data stats data/synth/memmap
  # A short real run of the tiny preset: SGM pre-training, then fine-tuning
  # classification from that encoder, then the test split's metrics.
  # --overwrite: a second demo replaces the runs of the first.
  steps=${SKETCHBERT_DEMO_STEPS:-300}
  ./build/sketchbert train configs/tiny_pretrain.yml --steps "$steps" --overwrite
  ./build/sketchbert train configs/tiny_finetune.yml --steps "$steps" --overwrite
  ./build/sketchbert test configs/tiny_finetune.yml --checkpoint runs/tiny_finetune/latest_ckpt.safetensors
  # One HTML page of the fine-tuning run: curves, confusion matrix, checkpoints.
  ./build/sketchbert report runs/tiny_finetune
  exit 0
fi

# The tensorboard package from PyPI, in a venv of its own under build/ used
# only by the TensorBoard check; that check and the report screenshots are
# required here (on a machine without them, meson test skips them, saying so).
venv=build/tensorboard-venv
if ! "$venv/bin/python" -c 'import tensorboard' 2>/dev/null; then
  echo "== installing tensorboard from PyPI into $venv"
  rm -rf "$venv"
  # No PyPI (an offline machine): say so, and the tensorboard check skips with its message.
  python3 -m venv "$venv" && "$venv/bin/python" -m pip install -q --disable-pip-version-check tensorboard ||
    { echo "== WARNING: could not install tensorboard from PyPI into $venv: the tensorboard check will skip" >&2; rm -rf "$venv"; }
fi
SKETCHBERT_CHROMIUM=$(command -v chromium) # installed above: fails here if not
export SKETCHBERT_CHROMIUM
if [ -x "$venv/bin/python" ]; then export SKETCHBERT_TENSORBOARD_PYTHON="$PWD/$venv/bin/python"; fi

# Tests: every suite (ops and model on the default device, oclgrind, data,
# io, train, infer), then all but Oclgrind's again in a build under ASan,
# UBSan and LeakSanitizer.
status=0
meson test -C build --print-errorlogs --num-processes 2 || status=1
if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Doclgrind_tests=disabled
fi
ninja -C build-asan
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
meson test -C build-asan --print-errorlogs --num-processes 2 --no-suite infer || status=1
# LeakSanitizer's tracer crashes (SIGSEGV inside it) at the exit of one of the
# infer suite's commands, among PoCL's threads; that suite runs without the
# leak check (ASan and UBSan stay on), its log kept apart for the summary.
ASAN_OPTIONS=detect_leaks=0 meson test -C build-asan --print-errorlogs --suite infer --logbase infer || status=1
tools/test-summary.sh build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
  build-asan/meson-logs/infer.json
exit $status
