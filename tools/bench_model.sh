#!/bin/sh
# Training-step and inference speed and memory of sketchbert vs PyTorch on
# the same CPU cores and thread count, at the paper's shapes: max_length
# 250, batches of 10 and 32 sketches, for the tiny, small and base
# (sketch_transformer.yml) pretraining models. For each model, batch, phase
# and repetition it runs `sketchbert bench model` and then
# tools/bench_model_torch.py, each in a process of its own (so the peak
# memory is that phase's), alternating, and prints a markdown table: best
# wall time per step (other processes share the cores, so the best is the
# least disturbed), the least process CPU time per step (all threads: the
# work done), peak resident memory of each process, our planned activation
# memory and the part of it a training forward keeps for the backward, and
# PyTorch's saved activations (training), and ratios ours /
# PyTorch (> 1: we are slower). A benchmark, not a test.
#
# usage: tools/bench_model.sh [options] [BUILD_DIR]      (default: build)
#   --models "tiny small base"  models (env MODELS)
#   --batches "10 32"           sketches per step (env BATCHES)
#   --max-length T              points per sketch (env MAX_LENGTH, default 250)
#   --lengths half|quickdraw|full  sketch lengths on both sides (env LENGTHS, default
#                               half: uniform T/2..T; quickdraw: real QuickDraw
#                               lengths, where our inference and our training without
#                               maskrec compute only the batch's longest sketch)
#   --phases "train infer"      (env PHASES)
#   --steps N --warmup N        timed and untimed steps per process (env STEPS,
#                               WARMUP; default: tiny 5 and 1, small 3 and 1, base 2 and 1)
#   --reps N                    runs of each side per row (env REPS, default 1)
#   --threads N                 threads of both sides (env THREADS, default nproc):
#                               PoCL's workers (POCL_MAX_PTHREAD_COUNT), the host
#                               BLAS's (SKETCHBERT_BLAS_THREADS) and PyTorch's
#   --gemm auto|host|clblast    our GEMM path (env SKETCHBERT_GEMM, default auto)
# environment: PYTHON, a python with torch and pyyaml (default python3).
# A short check: tools/bench_model.sh --models tiny --batches 10 --steps 1 --warmup 0
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
models=${MODELS:-tiny small base}
batches=${BATCHES:-10 32}
max_length=${MAX_LENGTH:-250}
lengths=${LENGTHS:-half}
phases=${PHASES:-train infer}
steps=${STEPS:-}
warmup=${WARMUP:-}
reps=${REPS:-1}
threads=${THREADS:-$(nproc)}
gemm=${SKETCHBERT_GEMM:-auto}
PYTHON=${PYTHON:-python3}
build=$root/build
while [ $# -gt 0 ]; do
    case $1 in
        --models) models=$2; shift 2 ;;
        --batches) batches=$2; shift 2 ;;
        --max-length) max_length=$2; shift 2 ;;
        --lengths) lengths=$2; shift 2 ;;
        --phases) phases=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --gemm) gemm=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "bench_model.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
        *) build=$1; shift ;;
    esac
done
bin=$build/sketchbert
[ -x "$bin" ] || { echo "bench_model.sh: no $bin (build first: ninja -C $build)" >&2; exit 1; }

# name -> "config steps warmup"
spec() {
    case $1 in
        tiny) echo "configs/tiny_pretrain.yml 5 1" ;;
        small) echo "configs/small_pretrain.yml 3 1" ;;
        base) echo "configs/sketch_transformer.yml 2 1" ;;
        *) echo "bench_model.sh: unknown model '$1' (tiny, small, base)" >&2; exit 2 ;;
    esac
}

# PHASE LOG -> "best_ms cpu_ms": the fastest best step and the least mean
# CPU time of the "PHASE: best X ms/step, ...; mean M ms/step, CPU C ms/step"
# lines of all runs
step_times() {
    best=$(sed -n "s/^$1: best \([0-9.]*\) ms\/step.*/\1/p" "$2" | sort -g | head -1)
    cpu=$(sed -n "s/^$1: .*, CPU \([0-9.]*\) ms\/step.*/\1/p" "$2" | sort -g | head -1)
    echo "${best:-?} ${cpu:-?}"
}
# PATTERN LOG -> the largest number matched (or -)
largest() {
    v=$(sed -n "s/$1/\1/p" "$2" | sort -g | tail -1)
    echo "${v:--}"
}
ratio() {
    case "$1$2" in *\?*) echo "?" ;; *) awk "BEGIN { if ($2 > 0) printf \"%.2f\", $1 / $2; else print \"?\" }" ;; esac
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export POCL_MAX_PTHREAD_COUNT=$threads SKETCHBERT_BLAS_THREADS=$threads SKETCHBERT_GEMM=$gemm
export OMP_NUM_THREADS=$threads
echo "# sketchbert bench model vs PyTorch ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average before: $(load)"
echo "- OpenCL: $("$bin" devices | sed -n 's/^platform 0: //p' | head -1)"
echo "- ours: GEMM $gemm, $threads threads; CLBlast $(pkg-config --modversion clblast 2>/dev/null || echo '?');" \
     "$("$PYTHON" -c 'import torch; print("torch", torch.__version__)') with $threads threads"
echo "- max_length $max_length, sketch lengths $lengths; steps per process: ${steps:-per model} after ${warmup:-per model} warm-up; $reps run(s) of each side per row"
echo

rows=$tmp/rows
: > "$rows"
for name in $models; do
    set -- $(spec "$name")
    config=$root/$1 n_steps=${steps:-$2} n_warmup=${warmup:-$3}
    for batch in $batches; do
        for phase in $phases; do
            case $phase in train|infer) ;; *) echo "bench_model.sh: unknown phase '$phase'" >&2; exit 2 ;; esac
            : > "$tmp/ours"
            : > "$tmp/torch"
            row_load=$(load | cut -d' ' -f1)
            for rep in $(seq "$reps"); do
                echo "$name batch $batch T $max_length $phase ($n_steps steps after $n_warmup), run $rep of $reps ..." >&2
                args="--batch $batch --steps $n_steps --warmup $n_warmup --$phase --lengths $lengths"
                "$bin" bench model "$config" --set "max_length=$max_length" $args >> "$tmp/ours" 2>&1 ||
                    { cat "$tmp/ours" >&2; exit 1; }
                "$PYTHON" "$root/tools/bench_model_torch.py" "$config" --max-length "$max_length" $args \
                    --threads "$threads" >> "$tmp/torch" 2>&1 || { cat "$tmp/torch" >&2; exit 1; }
            done
            set -- $(step_times "$phase" "$tmp/ours") $(step_times "$phase" "$tmp/torch")
            path=$(sed -n 's/^gemm: \([A-Za-z]*\( BLAS\)\{0,1\}\).*/\1/p' "$tmp/ours" | head -1)
            act=$(largest '^device memory: .*activations \([0-9.]*\) MiB.*' "$tmp/ours")
            saved=$(largest '^device memory: .*saved for the backward \([0-9.]*\) MiB.*' "$tmp/ours")
            rss=$(largest '^peak RSS \([0-9.]*\) MiB' "$tmp/ours")
            trss=$(largest '^peak RSS \([0-9.]*\) MiB' "$tmp/torch")
            tact=$(largest '^saved activations \([0-9.]*\) MiB' "$tmp/torch")
            echo "| $name | $batch | $phase | $path | $1 | $2 | $rss | $act | $saved | $3 | $4 | $trss | $tact |" \
                 "$(ratio "$1" "$3") | $(ratio "$2" "$4") | $row_load |" >> "$rows"
        done
    done
done

echo "| model | batch | phase | our GEMM | ours ms/step | ours CPU ms/step | ours peak RSS MiB | our activations MiB | ours saved for backward MiB | PyTorch ms/step | PyTorch CPU ms/step | PyTorch peak RSS MiB | PyTorch saved activations MiB | ours / PyTorch (wall) | ours / PyTorch (CPU) | load |"
echo "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
cat "$rows"
echo
echo "- load average after: $(load)"
