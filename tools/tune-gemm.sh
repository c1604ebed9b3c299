#!/bin/sh
# Tunes CLBlast's single-precision GEMM kernels for one OpenCL device with
# CLBlast's own tuners (Debian package clblast-utils), bounded in time, and
# prints the best parameters found in the form of the table in
# src/ops/gemm_tuning.c. Not run by the build or the tests.
#   tools/tune-gemm.sh [OUTDIR]    (default: a fresh temporary directory)
# Environment: PLATFORM, DEVICE (tuner indices, default 0 0), XGEMM_S and
# DIRECT_S (time limits of the two tuners in seconds, default 360 and 180).
# The tuners run under `nice`: they keep every core busy.
#
# clblast_tuner_xgemm (tiled kernel "Xgemm", which CLBlast uses above its
# direct/indirect switch: the model's H x H and FFN products) runs four
# phases: GEMMK 0 on a fixed set, GEMMK 0 on a random subset of a larger set,
# then the same two for GEMMK 1. -fraction F makes each phase try a random
# 1/F of its set; with F = 3 the first phase tries ~190 configurations and
# the second samples the larger set at random until the time limit stops it.
# clblast_tuner_xgemm_direct ("XgemmDirect", used below the switch: the tiny
# model's products and attention) runs with its own defaults (fixed set, then
# a random 1/64 of a larger set). Sizes: 512^3 and 256^3.
# The best configurations are read from the tuners' logs, so a tuner stopped
# by its time limit still counts what it measured.
set -eu
out=${1:-$(mktemp -d /tmp/sketchbert-tune.XXXXXX)}
platform=${PLATFORM:-0}
device=${DEVICE:-0}
mkdir -p "$out"
cd "$out"
echo "== tuning in $out (platform $platform, device $device)"
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'); load average: $(cut -d' ' -f1-3 /proc/loadavg)"

timeout "${XGEMM_S:-360}" nice -n 10 clblast_tuner_xgemm -platform "$platform" -device "$device" -precision 32 \
  -m 512 -n 512 -k 512 -runs 2 -fraction 3 >xgemm.log 2>&1 || echo "== xgemm tuner stopped (time limit)"
timeout "${DIRECT_S:-180}" nice -n 10 clblast_tuner_xgemm_direct -platform "$platform" -device "$device" \
  -precision 32 -m 256 -n 256 -k 256 -runs 4 >xgemm_direct.log 2>&1 || echo "== direct tuner stopped (time limit)"
echo "== done $(date -u '+%H:%M UTC'); load average: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - xgemm.log Xgemm 512 xgemm_direct.log XgemmDirect 256 <<'EOF'
import re, sys
# A result row: | id | total | parameter values | local | global | compiles | time | GFLOPS | status |
for log, kernel, size in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
    names, best, tried = [], None, 0
    for line in open(log, errors="replace"):
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)
        if line.startswith("* Parameters explored:"):
            names = line.split(":", 1)[1].split()
        cols = [c.strip() for c in line.split("|")]
        if len(cols) > 9 and cols[1].isdigit() and "results match" in cols[9]:
            tried += 1
            ms = float(cols[7].split()[0])
            if best is None or ms < best[0]:
                best = (ms, dict(zip(names, map(int, cols[3].split()))))
    if best is None:
        print("%s: no configuration finished" % kernel)
        continue
    n = int(size)
    print("%s (%dx%dx%d): %d configurations ran, best %.2f ms = %.1f GFLOP/s" % (
        kernel, n, n, n, tried, best[0], 2.0 * n ** 3 / (best[0] * 1e6)))
    print("  " + ", ".join('{"%s", %d}' % kv for kv in sorted(best[1].items())))
EOF
