#!/bin/sh
# The GPU check (run.sh of the bundle tools/gpu-check.sh builds): on the
# first GPU, `sketchbert devices`, the op tests and the golden test,
# `bench gemm` and `bench model` (tiny and small, max_length 250, batches
# 10 and 32, training and inference). Writes log.txt (everything) and
# summary.txt (one line per step) into the results folder and prints the
# summary; exits 1 when a test failed or a step did not run.
#
# usage: ./run.sh [--pocl] [--out DIR]
#   --pocl     self-test on PoCL's CPU device (where the bundle was built):
#              icd/pocl.icd, first CPU device, short benchmarks
#   --out DIR  results folder (default results-DATE beside run.sh)
# environment:
#   OCL_ICD_VENDORS   as ocl-icd reads it; when unset and /etc/OpenCL/vendors
#                     has no NVIDIA entry, icd/nvidia.icd is used
#   GPU_CHECK_LOADER  system | bundled (default: bundled when this host's glibc
#                     is older than the bundle's)
#   SKETCHBERT_DEVICE the device (default: the first GPU; with --pocl the
#                     first CPU)
#   BENCH_MODELS, BENCH_BATCHES, BENCH_STEPS, BENCH_WARMUP   bench model's
#                     shapes (default "tiny small", "10 32", 5, 2)
#   BENCH_GEMM_ARGS   arguments of bench gemm (default: all three model sizes)
#   BENCH_ATTENTION   attention forms to time bench model with, e.g.
#                     "default unfused rows tiles" (default: "default", the
#                     device's own choice; others set SKETCHBERT_ATTENTION)
set -u

here=$(cd "$(dirname "$0")" && pwd)
mode=gpu
out=
while [ $# -gt 0 ]; do
    case $1 in
        --pocl) mode=pocl; shift ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
out=${out:-$here/results-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out" || exit 1
log=$out/log.txt summary=$out/summary.txt
: > "$log"
: > "$summary"
failed=0

note() { echo "$*" | tee -a "$summary"; }

# ---- OpenCL driver, device and loader
if [ "$mode" = pocl ]; then
    export OCL_ICD_VENDORS=$here/icd/pocl.icd
    export SKETCHBERT_DEVICE=${SKETCHBERT_DEVICE:-Portable Computing Language}
    models=${BENCH_MODELS:-tiny} batches=${BENCH_BATCHES:-10} steps=${BENCH_STEPS:-1} warmup=${BENCH_WARMUP:-0}
    gemm_args=${BENCH_GEMM_ARGS:---model tiny --reps 2}
else
    if [ -z "${OCL_ICD_VENDORS:-}" ] && ! grep -qsi nvidia /etc/OpenCL/vendors/*.icd; then
        export OCL_ICD_VENDORS=$here/icd/nvidia.icd
    fi
    models=${BENCH_MODELS:-tiny small} batches=${BENCH_BATCHES:-10 32} steps=${BENCH_STEPS:-5}
    warmup=${BENCH_WARMUP:-2} gemm_args=${BENCH_GEMM_ARGS:-}
fi
bundled=$(cat "$here/glibc/VERSION")
host=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed 's/^glibc //')
loader=${GPU_CHECK_LOADER:-}
if [ -z "$loader" ]; then
    loader=system
    if [ -z "$host" ] || [ "$(printf '%s\n%s\n' "$host" "$bundled" | sort -V | head -1)" != "$bundled" ]; then
        loader=bundled
    fi
fi
# run PROGRAM ARGS: a bundled program, through the chosen loader
run() {
    prog=$here/bin/$1
    shift
    if [ "$loader" = bundled ]; then
        "$here/glibc/ld-linux-x86-64.so.2" --library-path "$here/glibc:$here/lib" "$prog" "$@"
    else
        "$prog" "$@"
    fi
}
# step NAME COMMAND...: runs, logs, returns the status; $secs its seconds
step() {
    name=$1
    shift
    echo "==== $name: $*" >> "$log"
    t0=$(date +%s.%N)
    "$@" > "$out/step.txt" 2>&1
    rc=$?
    secs=$(echo "$(date +%s.%N) $t0" | awk '{ printf "%.1f", $1 - $2 }')
    cat "$out/step.txt" >> "$log"
    echo "==== $name: exit $rc, $secs s" >> "$log"
    return $rc
}

note "gpu-check $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -n): mode $mode, loader $loader (host glibc ${host:-?}," \
     "bundle $bundled), OCL_ICD_VENDORS=${OCL_ICD_VENDORS:-unset}"
if ! step devices run sketchbert devices; then
    note "FAIL devices: $(tail -1 "$out/step.txt")"
    exit 1
fi
note "device: $(grep '^\*' "$out/step.txt" | sed 's/^\* *//')"
if [ "$mode" = gpu ] && [ -z "${SKETCHBERT_DEVICE:-}" ] && ! grep -q 'type GPU' "$out/step.txt"; then
    note "FAIL: no GPU among the OpenCL devices (see log.txt)"
    exit 1
fi
grep -A3 '^\*' "$out/step.txt" | sed -n 's/^ *\(host-unified.*\)/\1/p' | tee -a "$summary"

# ---- tests
for t in "$here"/bin/test_*; do
    name=$(basename "$t")
    args=
    [ "$name" = test_golden ] && args=$here/data/golden_ref.bin
    step "$name" run "$name" $args
    rc=$?
    result=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out/step.txt" | tail -1)
    if [ $rc -eq 0 ]; then
        note "PASS $name: $result ($secs s)"
    elif [ $rc -eq 77 ]; then
        note "SKIP $name: $(head -1 "$out/step.txt")"
    else
        failed=$((failed + 1))
        note "FAIL $name (exit $rc): ${result:-$(tail -1 "$out/step.txt")} ($secs s)"
        grep '^NOT OK' "$out/step.txt" | head -5 | sed 's/^/    /' | tee -a "$summary"
    fi
done

# ---- benchmarks
if step "bench gemm" run sketchbert bench gemm $gemm_args; then
    note "bench gemm ($secs s):"
    grep -E '^(device|batch)|all of the above' "$out/step.txt" | sed 's/^/    /' | tee -a "$summary"
else
    failed=$((failed + 1))
    note "FAIL bench gemm: $(tail -1 "$out/step.txt")"
fi
for m in $models; do
    for b in $batches; do
        for a in ${BENCH_ATTENTION:-default}; do
            if [ "$a" = default ]; then unset SKETCHBERT_ATTENTION; else export SKETCHBERT_ATTENTION=$a; fi
            if step "bench model $m $b $a" run sketchbert bench model "$here/configs/${m}_pretrain.yml" --batch "$b" \
                --set max_length=250 --steps "$steps" --warmup "$warmup"; then
                note "bench model $m batch $b T 250, attention $a ($secs s):"
                grep -E '^(gemm|device memory|train|infer|peak RSS)' "$out/step.txt" | sed 's/^/    /' | tee -a "$summary"
            else
                failed=$((failed + 1))
                note "FAIL bench model $m batch $b attention $a: $(tail -1 "$out/step.txt")"
            fi
        done
    done
done
unset SKETCHBERT_ATTENTION
rm -f "$out/step.txt"
note "done: $failed failed; log $log"
[ $failed -eq 0 ]
