#!/bin/sh
# Training-step and inference speed of sketchbert vs PyTorch on the CPU,
# for the tiny, small and base (sketch_transformer.yml) pretraining models:
# runs `sketchbert bench model` and tools/bench_model_torch.py on the same
# configs and batch shapes, alternating, several times, and prints a
# markdown table of the best step of all runs (other processes share the
# cores, so the best is the least disturbed) and of the process CPU time
# per step (all threads: the work done); ratio = ours / PyTorch time, > 1
# means we are slower. A benchmark, not a test: about 8 minutes on 2
# busy cores.
#
# usage: tools/bench_model.sh [BUILD_DIR]      (default: build)
# environment: PYTHON   a python with torch and pyyaml (default python3)
#              THREADS  PyTorch threads (default: nproc)
#              MODELS   subset of "tiny small base" (default: all three)
#              REPS     runs of each side for tiny and small (default 2; base runs once)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
bin=$build/sketchbert
PYTHON=${PYTHON:-python3}
threads=${THREADS:-$(nproc)}
models=${MODELS:-tiny small base}
reps=${REPS:-2}
[ -x "$bin" ] || { echo "bench_model.sh: no $bin (build first: ninja -C $build)" >&2; exit 1; }

# name config batch steps warmup
spec() {
    case $1 in
        tiny) echo "configs/tiny_pretrain.yml 16 10 2" ;;
        small) echo "configs/small_pretrain.yml 16 5 1" ;;
        base) echo "configs/sketch_transformer.yml 2 2 1" ;;
        *) echo "bench_model.sh: unknown model '$1' (tiny, small, base)" >&2; exit 2 ;;
    esac
}

# field PHASE LOG -> "best_ms sketches_per_s cpu_ms": the fastest of the
# "PHASE: best X ms/step, Y sketches/s; mean M ms/step, CPU C ms/step" lines,
# and the least CPU time of them
field() {
    sed -n "s/^$1: best \([0-9.]*\) ms\/step, \([0-9.]*\) sketches\/s.*/\1 \2/p" "$2" | sort -g | head -1
    sed -n "s/^$1: .*, CPU \([0-9.]*\) ms\/step.*/\1/p" "$2" | sort -g | head -1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "# sketchbert bench model vs PyTorch ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load before: $(uptime | sed 's/.*load average/load average/')"
echo "- OpenCL: $("$bin" devices | sed -n 's/^platform 0: //p' | head -1)"
echo "- CLBlast $(pkg-config --modversion clblast 2>/dev/null || echo '?'); $("$PYTHON" -c 'import torch; print("torch", torch.__version__)') with $threads threads"
echo

rows=$tmp/rows
: > "$rows"
for name in $models; do
    set -- $(spec "$name")
    config=$root/$1 batch=$2 steps=$3 warmup=$4
    n=$reps
    [ "$name" = base ] && n=1
    : > "$tmp/ours"
    : > "$tmp/torch"
    for rep in $(seq "$n"); do
        echo "running $name ($1, batch $batch, $steps steps after $warmup warm-up), run $rep of $n ..." >&2
        "$bin" bench model "$config" --batch "$batch" --steps "$steps" --warmup "$warmup" >> "$tmp/ours" 2>&1 ||
            { cat "$tmp/ours" >&2; exit 1; }
        "$PYTHON" "$root/tools/bench_model_torch.py" "$config" --batch "$batch" --steps "$steps" --warmup "$warmup" \
            --threads "$threads" >> "$tmp/torch" 2>&1 || { cat "$tmp/torch" >&2; exit 1; }
    done
    # "device memory: parameters+gradients P MiB, activations A MiB, Adam moments M MiB, total allocated T MiB"
    mem=$(sed -n 's/^device memory: parameters+gradients \([0-9.]*\) MiB, activations \([0-9.]*\) MiB, .*total allocated \([0-9.]*\) MiB/\1 \/ \2 \/ \3/p' "$tmp/ours" | head -1)
    for phase in train infer; do
        set -- $(field "$phase" "$tmp/ours") $(field "$phase" "$tmp/torch")
        [ $# -eq 6 ] || { echo "bench_model.sh: no $phase result for $name" >&2; cat "$tmp/ours" "$tmp/torch" >&2; exit 1; }
        ratio=$(awk "BEGIN { printf \"%.1f\", $1 / $4 }")
        cpu_ratio=$(awk "BEGIN { printf \"%.1f\", $3 / $6 }")
        echo "| $name | $batch | $phase | $1 | $2 | $3 | $4 | $5 | $6 | $ratio | $cpu_ratio | $mem |" >> "$rows"
    done
done

echo "| model | batch | phase | ours ms/step | ours sketches/s | ours CPU ms/step | PyTorch ms/step | PyTorch sketches/s | PyTorch CPU ms/step | ours / PyTorch (wall) | ours / PyTorch (CPU) | our device MiB: params+grads / activations / total |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
cat "$rows"
echo
echo "- load after: $(uptime | sed 's/.*load average/load average/')"
