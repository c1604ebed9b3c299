#!/bin/sh
# Data-parallel scaling on one machine (docs/distributed.md): 1 rank
# against 2 ranks (mpirun), each rank on one core with one PoCL thread,
# one BLAS thread (the loader takes one thread on two cores), the same per-rank batch (weak
# scaling: 2 ranks train a global batch twice as large). The runs
# alternate (1, 2, 1, 2, ...) so that a changing machine load hits both;
# each prints its median training rate over the log windows after the
# first (sketches/s of the global batch).
# usage: tools/bench_dist.sh SKETCHBERT SKETCHBERT-SYNTH CONFIG [PAIRS] [STEPS]
#   e.g. tools/bench_dist.sh build/sketchbert build/sketchbert-synth configs/tiny_pretrain.yml 3 60
set -eu
sb=$1 synth=$2 cfg=$3 pairs=${4:-3} steps=${5:-60}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export POCL_MAX_PTHREAD_COUNT=1 OPENBLAS_NUM_THREADS=1
"$synth" --out "$tmp/npz" --classes circle,square,triangle,star --train 512 --valid 16 --test 16 >/dev/null
"$sb" prepare --quiet --threads 1 --out "$tmp/mm" "$tmp"/npz/*.npz
set -- --set "sum_path=$tmp/mm/memmap_sum.txt" --set "offset_path=$tmp/mm/offsets.sbidx" --set print_every=10 \
  --set checkpoint_every=100000 --set save_model_every=100000 --steps "$steps" --quiet --overwrite
rate() { # the median sketches/s of the train records after the first
  grep '"event":"train"' "$1/log.jsonl" | tail -n +2 | sed 's/.*"sketches_per_s":\([0-9.e+]*\).*/\1/' | sort -g |
    awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }'
}
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 1 "$pairs"); do
  mpirun --allow-run-as-root --bind-to core -np 1 "$sb" train "$cfg" "$@" --log-dir "$tmp/one" >/dev/null
  mpirun --allow-run-as-root --bind-to core -np 2 "$sb" train "$cfg" "$@" --log-dir "$tmp/two" >/dev/null
  one=$(rate "$tmp/one") two=$(rate "$tmp/two")
  echo "pair $i: 1 rank $one sketches/s, 2 ranks $two sketches/s, efficiency $(awk "BEGIN { printf \"%.2f\", $two / (2 * $one) }")"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
