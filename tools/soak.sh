#!/bin/sh
# Kill -9 soak: trains the tiny model with a checkpoint every 2 steps,
# kills it with SIGKILL N times at random moments (delays drawn uniformly
# in milliseconds over the length of an uninterrupted run, from a seeded
# generator, each printed; every third kill then waits for the next
# checkpoint write to begin and lands during it; a run that finishes
# before its kill is started afresh), resumes with --continue after each
# kill, then
# checks that
#   - every checkpoint on disk passes `sketchbert check` (checksums),
#   - no temporary file is left,
#   - every complete line of log.jsonl is JSON,
#   - the final parameters, Adam moments and counters equal those of an
#     uninterrupted run of the same number of steps bit for bit.
# Prints the figures (kills, kills that interrupted a checkpoint write,
# kills before the first checkpoint) and OK / NOT OK lines; exits 1 on any
# failure.
# usage: tools/soak.sh SKETCHBERT SKETCHBERT-SYNTH ST_INTEROP [N [SEED]]
#   (ST_INTEROP: build/tests/st_interop, which dumps safetensors files)
sb=$1 synth=$2 dump=$3 n=${4:-3} seed=${5:-$(date +%s)}
if [ -z "$dump" ]; then
  echo "usage: tools/soak.sh SKETCHBERT SKETCHBERT-SYNTH ST_INTEROP [N [SEED]]" >&2
  exit 2
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../tests/check.sh"
steps=24
echo "# soak: N=$n kills, seed $seed, $steps steps, a checkpoint every 2 steps"

check "synthetic sketches" 0 "$synth" --out "$tmp/npz" --classes circle,square --train 32 --valid 8 --test 8
check "prepare" 0 "$sb" prepare --quiet --threads 1 --out "$tmp/mm" "$tmp/npz/circle.npz" "$tmp/npz/square.npz"
config ref maskrec $steps ref "checkpoint_every: 2"
config soak maskrec $steps soak "checkpoint_every: 2"

ms() { date +%s%N | cut -c1-13; }
t0=$(ms)
check "uninterrupted run" 0 "$sb" train "$tmp/ref.yml" --quiet
run_ms=$(($(ms) - t0))
echo "# an uninterrupted run takes $run_ms ms"

# the i-th delay in ms: uniform over [0, run_ms), from the seed
delay_ms() { awk -v s="$seed" -v i="$1" -v r="$run_ms" 'BEGIN { srand(s); for (k = 0; k < i; k++) x = rand(); printf "%d", x * r }'; }

kills=0 in_write=0 before_first=0 finished=0
i=0
# until N kills landed (a run that finishes first is started afresh), at most 3N runs
while [ $kills -lt "$n" ] && [ $i -lt $((3 * n)) ]; do
  i=$((i + 1))
  if [ -f "$tmp/soak/latest_ckpt.safetensors" ]; then
    set -- --continue
  else # killed before its first checkpoint: nothing to resume, start afresh
    rm -rf "$tmp/soak"
    set --
  fi
  d=$(delay_ms $i)
  "$sb" train "$tmp/soak.yml" --quiet "$@" >"$tmp/run.out" 2>&1 &
  pid=$!
  sleep "$(awk -v d="$d" 'BEGIN { printf "%.3f", d / 1000 }')"
  aim=
  if [ $((i % 3)) = 0 ]; then
    # every third run: after the delay, wait for the next checkpoint write
    # to begin (its temporary appears) and kill during it; shell builtins
    # only, so the poll takes microseconds
    aim=", aimed at a checkpoint write"
    while kill -0 $pid 2>/dev/null; do
      set -- "$tmp"/soak/*.tmp[0-9]*
      [ -e "$1" ] && break
    done
  fi
  kill -KILL $pid 2>/dev/null
  { wait $pid; } 2>/dev/null # no "Killed" line from the shell
  rc=$?
  if [ "$rc" = 137 ]; then
    kills=$((kills + 1))
    left=$(find "$tmp/soak" -name '*.tmp*' 2>/dev/null | wc -l)
    [ "$left" -gt 0 ] && in_write=$((in_write + 1))
    [ -f "$tmp/soak/latest_ckpt.safetensors" ] || before_first=$((before_first + 1))
    echo "# kill $i after $d ms$aim (temporary files left: $left)"
  else
    finished=$((finished + 1))
    echo "# run $i finished before its kill at $d ms (exit $rc)"
    if [ "$rc" != 0 ]; then
      fail=$((fail + 1))
      echo "NOT OK run $i exited $rc"
      sed 's/^/#   /' "$tmp/run.out"
    fi
    # a finished run has nothing left to resume: start the next one afresh
    [ $kills -lt "$n" ] && rm -rf "$tmp/soak"
  fi
done
if [ -f "$tmp/soak/latest_ckpt.safetensors" ]; then set -- --continue; else rm -rf "$tmp/soak"; set --; fi
check "$n kills landed" 0 test $kills -eq "$n"
check "the last run goes on to the end" 0 "$sb" train "$tmp/soak.yml" --quiet "$@"

check "every checkpoint passes sketchbert check" 0 "$sb" check "$tmp"/soak/*.safetensors
check "no temporary file is left" 0 test -z "$(find "$tmp/soak" -name '*.tmp*')"
check "every complete log line is JSON" 0 python3 -c '
import json, sys
text = open(sys.argv[1]).read()
for n, line in enumerate(text.split("\n")[:-1], 1):
    try:
        json.loads(line)
    except ValueError as e:
        sys.exit("log.jsonl line %d: %s: %r" % (n, e, line))
' "$tmp/soak/log.jsonl"
check "final parameters equal the uninterrupted run's bit for bit" 0 same_weights "$tmp/ref/latest_ckpt.safetensors" \
  "$tmp/soak/latest_ckpt.safetensors"
check "so does the best checkpoint" 0 same_weights "$tmp/ref/best_ckpt.safetensors" "$tmp/soak/best_ckpt.safetensors"
echo "# figures: seed $seed, kills $kills, during a checkpoint write $in_write, before the first checkpoint $before_first, runs that finished first $finished"
finish
