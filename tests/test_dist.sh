#!/bin/sh
# Data-parallel training over MPI (docs/distributed.md) on synthetic
# sketches, two ranks with one PoCL thread each:
# - equivalence: 2 ranks x batch 8 give the losses and parameters of
#   1 rank x batch 16 after 20 steps (maskrec + classification, dropout on),
#   within 1e-6 relative (per tensor: max |a - b| / max |a|), validation
#   included; whether the two are bitwise equal is printed;
# - `sketchbert test` on 2 ranks prints and writes (confusion, per class)
#   what it does on 1 with the same global batch;
# - triplets and retrieval, dropout on: 2 ranks x 8 against 1 x 16, step 1
#   within 1e-6, the 20 steps' losses, metrics and parameters within 1e-5;
#   and with a short last batch that leaves rank 1 empty: losses within
#   1e-5, retrieval metrics equal;
# - the gradients summed through host staging (GPUs) equal those summed on
#   mapped buffers (CPU devices) bit for bit;
# - the buckets summed during the backward (the default) equal the buckets
#   summed after it (SKETCHBERT_ALLREDUCE_OVERLAP=0) bit for bit, for
#   ALBERT and for BERT, mapped and staged; the rank table lists them;
# - a 2-rank run stopped (--steps) and continued equals the uninterrupted
#   2-rank run bit for bit; rank 0 alone writes the log;
# - non-finite steps: a diverging run stops on every rank at step 2, and
#   skipped batches are skipped by every rank;
# - a resume with another rank count: refused unless the global batch is
#   the same (1 rank x batch 16 continues the 2 x 8 run);
# - ranks whose models differ (another config each) are refused at the
#   start, naming the gradient buckets;
# - a hung rank (SIGSTOP) ends the job within SKETCHBERT_MPI_TIMEOUT with a
#   message naming the rank and the step; a killed rank (SIGKILL) ends it
#   too; either way the last checkpoint is intact, and the killed run
#   continues; Ctrl-C on mpirun stops every rank at one step with a
#   checkpoint.
# Skipped (77) when the build has no MPI or mpirun is missing.
# With HAVE_MPI "refused" (builds without MPI): a launch that the
# environment says has 2 ranks is refused with a message.
# usage: test_dist.sh SKETCHBERT SKETCHBERT-SYNTH ST_INTEROP true|false|refused
sb=$1 synth=$2 dump=$3 have_mpi=$4
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/check.sh"
if [ "$have_mpi" = refused ]; then
  check "a 2-rank launch of a build without MPI is refused" 1 env OMPI_COMM_WORLD_SIZE=2 "$sb" train none.yml
  contains "  saying why" "launched as 2 ranks, but this build has no MPI"
  check "  as under Slurm's srun" 1 env SLURM_STEP_NUM_TASKS=2 "$sb" train none.yml
  check "one rank goes on (to the missing config)" 1 env OMPI_COMM_WORLD_SIZE=1 "$sb" train none.yml
  contains "  saying so" "none.yml"
  finish
  exit
fi
if [ "$have_mpi" != true ]; then echo "SKIP: built without the mpi feature (meson -Dmpi=enabled)"; exit 77; fi
mpirun=$(command -v mpirun) || { echo "SKIP: no mpirun (Debian: openmpi-bin)"; exit 77; }
# one PoCL thread and one loader thread per rank: the ranks share the CPU
export POCL_MAX_PTHREAD_COUNT=1 OMPI_MCA_rmaps_base_oversubscribe=1
# Open MPI keeps its components loaded, and the sanitizer build unwinds
# slowly (Open MPI has no frame pointers), so that LeakSanitizer can name
# its frames (tests/lsan.supp)
export OMPI_MCA_mca_base_component_disable_dlclose=1
[ -n "${LSAN_OPTIONS:-}" ] && export LSAN_OPTIONS="$LSAN_OPTIONS:fast_unwind_on_malloc=0"
mpi2() { "$mpirun" --oversubscribe --allow-run-as-root -np 2 "$@"; }

check "synthetic sketches" 0 "$synth" --out "$tmp/npz" --classes circle,square,triangle,star --train 64 --valid 16 --test 16
check "prepare" 0 "$sb" prepare --quiet --threads 1 --out "$tmp/mm" "$tmp/npz/circle.npz" "$tmp/npz/square.npz" \
  "$tmp/npz/triangle.npz" "$tmp/npz/star.npz"

# ---- equivalence: 1 x 16 against 2 x 8, 20 steps, a validation at 10 and 20
config one "maskrec, sketchclsinput" 20 one "batch_size: 16" "print_every: 1" "checkpoint_every: 10"
config two "maskrec, sketchclsinput" 20 two "batch_size: 8" "print_every: 1" "checkpoint_every: 10"
check "1 rank x batch 16, 20 steps" 0 "$sb" train "$tmp/one.yml" --quiet
check "2 ranks x batch 8, 20 steps" 0 mpi2 "$sb" train "$tmp/two.yml"
contains "rank 0 prints the rank table" "2 ranks (.*), global batch 2 x 8 = 16 sketches per step"
contains "  with a line per rank" " 1 .* 1  "
contains "  and the 4 gradient buckets" \
  "gradients summed in 4 buckets overlapped with the backward (floats, in its order): [0-9]* [0-9]* [0-9]* [0-9]*$"
check "the start record says 2 ranks and the global batch" 0 grep -q '"event":"start",.*"ranks":2,"global_batch":16}' "$tmp/two/log.jsonl"
# every loss and metric of every train and valid record
losses() {
  grep -E '"event":"(train|valid)"' "$1" | sed -E 's/.*"event":"([a-z]+)".*"step":([0-9]+)(.*)/\1 \2 \3/' |
    sed -E 's/,"(lr|steps_per_s|sketches_per_s|sum_wait_ms|time|epoch|sketches|best)":[^,}]*//g; s/[{}"]//g; s/,/ /g'
}
# max_rel A B [N]: the largest relative difference between the records (the
# first N) of two logs (which must have the same records and keys)
max_rel() {
  losses "$tmp/$1/log.jsonl" | head -n "${3:-1000000}" >"$tmp/l1"
  losses "$tmp/$2/log.jsonl" | head -n "${3:-1000000}" >"$tmp/l2"
  [ "$(wc -l <"$tmp/l1")" = "$(wc -l <"$tmp/l2")" ] || { echo "records differ"; return; }
  paste -d'\n' "$tmp/l1" "$tmp/l2" | awk 'NR % 2 { n = split($0, a, " "); next }
    { split($0, b, " "); for (i = 3; i <= n; i++) { split(a[i], x, ":"); split(b[i], y, ":");
        if (x[1] != y[1]) { print "keys differ"; exit } d = x[2] - y[2]; d = d < 0 ? -d : d; s = x[2] < 0 ? -x[2] : x[2];
        r = s > 0 ? d / s : d; if (r > w) w = r } } END { printf "%.3g\n", w }'
}
rel=$(max_rel one two)
check "22 records each" 0 test "$(wc -l <"$tmp/l1")" = 22 -a "$(wc -l <"$tmp/l2")" = 22
echo "# losses: largest relative difference $rel"
truth "losses and accuracies of 2 x 8 within 1e-6 of 1 x 16 (relative)" "r <= 1e-6" "r = $rel"
# parameters: per tensor max |a - b| / max |a|. The attention key biases are
# left out: their gradient is 0 in exact arithmetic (a bias on every key adds
# the same q.b to each score of a softmax row), so what Adam makes of the
# rounding noise differs with any change of summation order.
# param_rel A B [SKIP]: "largest relative difference, values that differ" of
# the parameters of runs A and B, but those whose name matches SKIP
param_rel() {
  "$dump" dump "$tmp/$1/latest_ckpt.safetensors" | grep '^T net' | grep -v -e 'key.bias' -e "${3:-key.bias}" >"$tmp/p1"
  "$dump" dump "$tmp/$2/latest_ckpt.safetensors" | grep '^T net' | grep -v -e 'key.bias' -e "${3:-key.bias}" >"$tmp/p2"
  paste -d'\n' "$tmp/p1" "$tmp/p2" | awk 'NR % 2 { n = split($0, a, " "); name = $2; next }
    { m = split($0, b, " "); if (m != n || b[2] != name) { print "shape"; exit } mx = 0; md = 0
      for (i = 5; i <= n; i++) { d = a[i] - b[i]; d = d < 0 ? -d : d; s = a[i] < 0 ? -a[i] : a[i]; if (s > mx) mx = s
        if (d > md) md = d; if (d > 0) differ++ } r = mx > 0 ? md / mx : md; if (r > w) w = r }
    END { printf "%.3g %d\n", w, differ }'
}
prel=$(param_rel one two)
echo "# parameters: largest relative difference ${prel% *}, ${prel#* } values not bitwise equal"
truth "parameters of 2 x 8 within 1e-6 of 1 x 16 (relative, per tensor)" "r <= 1e-6" "r = ${prel% *}"
# `sketchbert test` of one checkpoint, 2 ranks x batch 8 against 1 x 16: the
# same metrics and files (the evaluation's masks are keyed by the global
# batch's number, so the global batch must be the same)
ck="$tmp/one/latest_ckpt.safetensors"
# (stdout only: a sanitizer build adds its summary to each rank's stderr)
"$sb" test "$tmp/one.yml" --split valid --checkpoint "$ck" --confusion "$tmp/c1.csv" --per-class "$tmp/p1.csv" \
  >"$tmp/test1.out" 2>"$tmp/test1.err"
check "test on 1 rank x 16" 0 test $? = 0
mpi2 "$sb" test "$tmp/two.yml" --split valid --checkpoint "$ck" --confusion "$tmp/c2.csv" --per-class "$tmp/p2.csv" \
  >"$tmp/test2.out" 2>"$tmp/test2.err"
check "test on 2 ranks x 8" 0 test $? = 0
sed -i -e '/^wrote/d' -e '/^checkpoint/d' "$tmp/test1.out" "$tmp/test2.out"
check "  prints what 1 rank prints, once" 0 cmp "$tmp/test1.out" "$tmp/test2.out"
check "  and writes the same confusion matrix" 0 cmp "$tmp/c1.csv" "$tmp/c2.csv"
check "  and per-class table" 0 cmp "$tmp/p1.csv" "$tmp/p2.csv"

# host staging (the GPU path) sums the same floats as the mapped buffers of CPU devices
config staged "maskrec, sketchclsinput" 20 staged "batch_size: 8" "print_every: 1" "checkpoint_every: 10"
check "2 ranks through host staging" 0 env SKETCHBERT_MPI_STAGING=1 "$mpirun" --oversubscribe --allow-run-as-root \
  -np 2 "$sb" train "$tmp/staged.yml" --quiet
check "  equals the mapped buffers bit for bit" 0 same_weights "$tmp/two/latest_ckpt.safetensors" \
  "$tmp/staged/latest_ckpt.safetensors"
# the buckets posted during the backward against all of them after it
config seq "maskrec, sketchclsinput" 20 seq "batch_size: 8" "print_every: 1" "checkpoint_every: 10"
check "2 ranks, the buckets summed after the backward" 0 env SKETCHBERT_ALLREDUCE_OVERLAP=0 "$mpirun" --oversubscribe \
  --allow-run-as-root -np 2 "$sb" train "$tmp/seq.yml"
contains "  as the rank table says" "gradients summed in 4 buckets after the backward"
check "  equals the overlapped sums bit for bit" 0 same_weights "$tmp/two/latest_ckpt.safetensors" \
  "$tmp/seq/latest_ckpt.safetensors"
config bert1 "maskrec, sketchclsinput" 6 bert1 "batch_size: 8" "model_type: bert"
config bert2 "maskrec, sketchclsinput" 6 bert2 "batch_size: 8" "model_type: bert"
check "BERT, 2 ranks, overlapped on mapped buffers" 0 mpi2 "$sb" train "$tmp/bert1.yml"
contains "  a bucket per layer" "gradients summed in 5 buckets overlapped"
check "BERT, 2 ranks, after the backward through host staging" 0 env SKETCHBERT_ALLREDUCE_OVERLAP=0 \
  SKETCHBERT_MPI_STAGING=1 "$mpirun" --oversubscribe --allow-run-as-root -np 2 "$sb" train "$tmp/bert2.yml" --quiet
check "  equal bit for bit" 0 same_weights "$tmp/bert1/latest_ckpt.safetensors" "$tmp/bert2/latest_ckpt.safetensors"
check "the 2-rank checkpoint says 2 ranks" 0 sh -c "'$dump' dump '$tmp/two/latest_ckpt.safetensors' | grep -q '^M counters.ranks 2$'"

# ---- triplets and retrieval, dropout on: 1 x 16 against 2 x 8, 20 steps,
# validations at 10 and 20. Triplets are interleaved, so a rank's rows are a
# run of the global batch's rows and draw the dropout masks one process
# draws (with the old sections layout: 0.33 on the losses, 0.58 on the
# parameters). Step 1, from equal parameters, differs only by the loss's
# summation order. Later steps drift by the rounding of the gradient sums,
# which the triplet loss amplifies more than maskrec does (measured 2.8e-6
# on the losses, 1.2e-6 on the parameters; with dropout off 1.7e-6 and
# 5.3e-6), so the whole run is checked against 1e-5.
config tri1 sketchretrieval 20 tri1 "get_type: triplet" "batch_size: 16" "print_every: 1" "checkpoint_every: 10"
config tri2 sketchretrieval 20 tri2 "get_type: triplet" "batch_size: 8" "print_every: 1" "checkpoint_every: 10"
check "triplets, dropout on, 1 rank x batch 16" 0 "$sb" train "$tmp/tri1.yml" --quiet
check "triplets, dropout on, 2 ranks x batch 8" 0 mpi2 "$sb" train "$tmp/tri2.yml" --quiet
rel=$(max_rel tri1 tri2 1)
echo "# triplets, dropout on: step 1 losses: largest relative difference $rel"
truth "triplets, dropout on: step 1 (equal parameters) of 2 x 8 within 1e-6 of 1 x 16" "r <= 1e-6" "r = $rel"
rel=$(max_rel tri1 tri2)
check "  22 records each" 0 test "$(wc -l <"$tmp/l1")" = 22 -a "$(wc -l <"$tmp/l2")" = 22
echo "# triplets, dropout on: losses and retrieval metrics: largest relative difference $rel"
truth "  every loss and retrieval metric of the 20 steps within 1e-5 (relative)" "r <= 1e-5" "r = $rel"
# the retrieval bias is left out as well: the triplet loss ignores a shift
# shared by all features, so its gradient is 0 in exact arithmetic
prel=$(param_rel tri1 tri2 'rel_fcs\.0\.bias')
echo "# triplets, dropout on: parameters: largest relative difference ${prel% *}, ${prel#* } values not bitwise equal"
truth "  the parameters within 1e-5 (relative, per tensor)" "r <= 1e-5" "r = ${prel% *}"

# ---- short and empty slices, dropout on: 256 training sketches in global
# batches of 18 leave 4 for step 15 (rank 1 gets none); 64 valid in 3 x 18 + 10
set -- "get_type: triplet" "print_every: 1" "checkpoint_every: 15"
config ret1 sketchretrieval 20 ret1 "batch_size: 18" "$@"
config ret2 sketchretrieval 20 ret2 "batch_size: 9" "$@"
check "triplets, 1 rank x batch 18" 0 "$sb" train "$tmp/ret1.yml" --quiet
check "triplets, 2 ranks x batch 9 (an empty slice at step 15)" 0 mpi2 "$sb" train "$tmp/ret2.yml" --quiet
rel=$(max_rel ret1 ret2)
echo "# triplets, short slices: largest relative difference $rel"
truth "  losses and retrieval metrics within 1e-5 (relative)" "r <= 1e-5" "r = $rel"
check "  the validation's retrieval metrics are equal" 0 test \
  "$(grep -o '"retrieval_1.*"map":[^,]*' "$tmp/ret1/log.jsonl")" = "$(grep -o '"retrieval_1.*"map":[^,]*' "$tmp/ret2/log.jsonl")"

# ---- stop and continue: 2 ranks, 12 steps then on to 20, equals the run above
config cont "maskrec, sketchclsinput" 20 cont "batch_size: 8" "print_every: 1" "checkpoint_every: 10"
check "2 ranks, first 12 steps" 0 mpi2 "$sb" train "$tmp/cont.yml" --steps 12 --quiet
check "2 ranks, --continue to 20" 0 mpi2 "$sb" train "$tmp/cont.yml" --continue --quiet
check "stopped and continued equals the uninterrupted 2-rank run bit for bit" 0 \
  same_weights "$tmp/two/latest_ckpt.safetensors" "$tmp/cont/latest_ckpt.safetensors"
check "rank 0 alone logs: one start record per launch" 0 test "$(grep -c '"event":"start"' "$tmp/cont/log.jsonl")" = 2
check "  and one train record per step" 0 test "$(grep -c '"event":"train"' "$tmp/cont/log.jsonl")" = 20

# ---- another rank count: refused unless the global batch is the same
cp -r "$tmp/two" "$tmp/two_copy"
config more "maskrec, sketchclsinput" 30 two "batch_size: 8" "print_every: 1" "checkpoint_every: 10"
check "1 rank x batch 8 cannot continue a 2 x 8 run" 1 "$sb" train "$tmp/more.yml" --continue --quiet
contains "  the message names both global batches" "written by 2 ranks x batch_size 8 (global batch 16); this run has 1 x 8 = 8"
check "  and the run is left as it was" 0 same_weights "$tmp/two/latest_ckpt.safetensors" "$tmp/two_copy/latest_ckpt.safetensors"
check "1 rank x batch 16 continues the 2 x 8 run" 0 "$sb" train "$tmp/more.yml" --continue --quiet --set batch_size=16
check "  to step 30" 0 sh -c "'$dump' dump '$tmp/two/latest_ckpt.safetensors' | grep -q '^M counters.t 30$'"

# ---- ranks with different models: their gradient buckets would not match
config wide maskrec 4 wide "batch_size: 8"
config narrow maskrec 4 narrow "batch_size: 8" "layers_setting: [[2, 16, 32], [2, 16, 32]]"
check "ranks with different models are refused" 1 "$mpirun" --oversubscribe --allow-run-as-root \
  -np 1 "$sb" train "$tmp/wide.yml" --quiet : -np 1 "$sb" train "$tmp/narrow.yml" --quiet
contains "  naming the gradient buckets" "the ranks' models differ (rank [01]'s gradient buckets have CRC-32"

# ---- non-finite steps are seen by every rank at the same step
config div maskrec 10 div "batch_size: 8" "learning_rate: 1e30"
check "2 ranks: a diverging learning rate stops the job" 1 mpi2 "$sb" train "$tmp/div.yml" --quiet
contains "  at step 2, naming the loss" "step 2: not finite: loss"
check "  no checkpoint written" 1 test -e "$tmp/div/latest_ckpt.safetensors"
config infskip maskrec 6 infskip "batch_size: 8" "max_scale_factor: 1e39" "skip_nonfinite: true"
check "2 ranks: infinite batches skipped on every rank" 0 mpi2 "$sb" train "$tmp/infskip.yml" --quiet
check "  each counted once in the log" 0 test "$(grep -c '"event":"nonfinite".*"skipped":true' "$tmp/infskip/log.jsonl")" = 6

# ---- a rank that hangs or dies, once the first checkpoint is written
# launch NAME: a 2-rank run in the background; rank1: the pid of its rank 1
launch() {
  config "$1" maskrec 100000 "$1" "batch_size: 8" "checkpoint_every: 5" "print_every: 5"
  (SKETCHBERT_MPI_TIMEOUT=5 mpi2 "$sb" train "$tmp/$1.yml" >"$tmp/$1.out" 2>&1; echo $? >"$tmp/$1.rc") &
  for i in $(seq 1 600); do [ -f "$tmp/$1/latest_ckpt.safetensors" ] && break; sleep 0.1; done
  rank1=
  for p in $(pgrep -f "sketchbert train $tmp/$1.yml"); do
    grep -qz '^OMPI_COMM_WORLD_RANK=1$' "/proc/$p/environ" 2>/dev/null && rank1=$p
  done
  check "$1: found rank 1" 0 test -n "$rank1"
}
# ended NAME: the job has ended (30 s at most), failed, its output in $tmp/out
ended() {
  for i in $(seq 1 300); do [ -f "$tmp/$1.rc" ] && break; sleep 0.1; done
  check "$1: the job ends, failed" 0 test "$(cat "$tmp/$1.rc" 2>/dev/null || echo running)" -ne 0
  cp "$tmp/$1.out" "$tmp/out"
}
intact() {
  check "$1: the last checkpoint is intact" 0 "$sb" check "$tmp/$1/latest_ckpt.safetensors"
  check "$1: no temporary left beside it" 0 test -z "$(ls "$tmp/$1" | grep -v -e '_ckpt.safetensors$' -e '^config.yml$' -e '^log.jsonl$' -e '^train.lock$')"
}
# hung (SIGSTOP): the collective timeout ends the job
launch hang
[ -n "$rank1" ] && kill -STOP "$rank1"
ended hang
[ -n "$rank1" ] && kill -KILL "$rank1" 2>/dev/null
contains "hang: the message names the rank and the step" "step [0-9]*: .*rank 0 of 2 (.*): .* did not complete within 5 s"
intact hang
# killed (SIGKILL): mpirun ends the job and names the rank
launch kill
[ -n "$rank1" ] && kill -KILL "$rank1"
ended kill
contains "kill: mpirun names the rank that died" "rank 1 .*signal 9\|signal 9 (Killed)"
intact kill
check "kill: the run continues from it on 2 ranks" 0 mpi2 "$sb" train "$tmp/kill.yml" --continue --steps 5 --quiet
# Ctrl-C on mpirun: the ranks stop at the same step, rank 0 writes latest_ckpt
launch stop
pkill -INT -f "^$mpirun .*sketchbert train $tmp/stop.yml"
for i in $(seq 1 300); do [ -f "$tmp/stop.rc" ] && break; sleep 0.1; done
check "stop: SIGINT to mpirun ends the job" 0 test -f "$tmp/stop.rc"
check "stop: a stopped record" 0 grep -q '"event":"stopped"' "$tmp/stop/log.jsonl"
t=$(sed -n 's/.*"event":"stopped".*"step":\([0-9]*\).*/\1/p' "$tmp/stop/log.jsonl")
check "stop: latest_ckpt holds that step" 0 sh -c "'$dump' dump '$tmp/stop/latest_ckpt.safetensors' | grep -q '^M counters.t $t\$'"
intact stop
wait
finish
