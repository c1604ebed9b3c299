#!/bin/sh
# Data-parallel scaling on one machine (docs/distributed.md): 1 rank
# against 2 ranks (mpirun), each rank on one core with one PoCL thread,
# one BLAS thread (the loader takes one thread on two cores), the same per-rank batch (weak
# scaling: 2 ranks train a global batch twice as large), the 2 ranks
# twice: with the gradient buckets summed during the backward (the
# default) and after it (SKETCHBERT_ALLREDUCE_OVERLAP=0). The runs
# alternate (1, 2, 2 after, 1, ...; with MODELS, each model type in turn)
# so that a changing machine load hits all; each prints its median
# training rate over the log windows after the first (sketches/s of the
# global batch) and, for 2 ranks, the median time per step rank 0 waited
# for the gradient sums after its backward (sum_wait_ms of log.jsonl).
# usage: tools/bench_dist.sh SKETCHBERT SKETCHBERT-SYNTH CONFIG [PAIRS] [STEPS] [MODELS]
#   MODELS: model types to run the config as, e.g. "albert bert" (default:
#   the config's own)
#   e.g. tools/bench_dist.sh build/sketchbert build/sketchbert-synth configs/tiny_pretrain.yml 3 60 "albert bert"
set -eu
sb=$1 synth=$2 cfg=$3 pairs=${4:-3} steps=${5:-60} models=${6:-config}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export POCL_MAX_PTHREAD_COUNT=1 OPENBLAS_NUM_THREADS=1
"$synth" --out "$tmp/npz" --classes circle,square,triangle,star --train 512 --valid 16 --test 16 >/dev/null
"$sb" prepare --quiet --threads 1 --out "$tmp/mm" "$tmp"/npz/*.npz
set -- --set "sum_path=$tmp/mm/memmap_sum.txt" --set "offset_path=$tmp/mm/offsets.sbidx" --set print_every=10 \
  --set checkpoint_every=100000 --set save_model_every=100000 --steps "$steps" --quiet --overwrite
median() { # median DIR KEY: the median KEY of the train records after the first
  grep '"event":"train"' "$1/log.jsonl" | tail -n +2 | sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p" | sort -g |
    awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }'
}
rate() { median "$1" sketches_per_s; }
wait_ms() { awk "BEGIN { printf \"%.2f\", $(median "$1" sum_wait_ms) }"; }
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
eff() { awk "BEGIN { printf \"%.2f\", $1 / (2 * $2) }"; }
# train NP DIR OVERLAP ARGS...: one run of the config as model type $m
train() {
  np=$1 dir=$2 overlap=$3
  shift 3
  # shellcheck disable=SC2046 # no --set for the config's own model type
  mpirun --allow-run-as-root --bind-to core -np "$np" -x SKETCHBERT_ALLREDUCE_OVERLAP="$overlap" "$sb" train "$cfg" \
    "$@" $([ "$m" = config ] || echo "--set model_type=$m") --log-dir "$tmp/$dir" >/dev/null
}
for i in $(seq 1 "$pairs"); do
  for m in $models; do
    train 1 one 1 "$@"
    # the two 2-rank runs take turns to go first
    if [ $((i % 2)) = 1 ]; then train 2 two 1 "$@"; train 2 after 0 "$@"
    else train 2 after 0 "$@"; train 2 two 1 "$@"; fi
    one=$(rate "$tmp/one") two=$(rate "$tmp/two") after=$(rate "$tmp/after")
    echo "pair $i $m: 1 rank $one sketches/s; 2 ranks overlapped $two (efficiency $(eff "$two" "$one"), sum wait" \
      "$(wait_ms "$tmp/two") ms/step), after the backward $after ($(eff "$after" "$one"), $(wait_ms "$tmp/after")" \
      "ms/step); overlapped / after $(awk "BEGIN { printf \"%.3f\", $two / $after }")"
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
