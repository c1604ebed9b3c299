#!/bin/sh
# Runs a test under Oclgrind at small sizes; any message Oclgrind logs
# (out-of-bounds access, data race, uninitialised value, barrier divergence,
# API misuse) fails the test.
#   oclgrind.sh [--no-uninitialized] [--unoptimised] TEST [ARGS]
# --no-uninitialized leaves out the uninitialised-value check, for tests
# that run CLBlast kernels: Oclgrind 21.10 flags every value those read from
# a buffer an earlier kernel wrote (not when the host wrote the same values),
# so the check cannot tell anything there.
# --unoptimised builds the kernels with -cl-opt-disable and defines
# SB_OCLGRIND, for the uninitialised-value check of kernels with vector
# rows: Oclgrind 21.10's shufflevector shadow tests each lane index against
# llvm::Value::UndefValueVal (11 with LLVM 14) instead of the undefined
# lane (-1), so the check crashes on an undefined lane (which the optimiser
# emits for lane sums and vector concatenations) and reports lane 11 of any
# shuffle as uninitialised (SB_OCLGRIND routes the one such shuffle, the
# float16 lane sum in cl/attention.cl, through private memory instead).
# With SB_OCLGRIND_RECORD set to a folder, the names of the kernels the test
# launched (from its profile: test_util.c, SB_TEST_KERNEL_LOG) go to
# FOLDER/TEST.uninit (or .nouninit without the check), for
# tests/oclgrind_kernels.sh.
uninit=--uninitialized
build=
while :; do
  case $1 in
    --no-uninitialized) uninit=; shift ;;
    --unoptimised) build="-cl-opt-disable -DSB_OCLGRIND"; shift ;;
    *) break ;;
  esac
done
log=$(mktemp)
names=$(mktemp)
SB_TEST_KERNEL_LOG=$names SKETCHBERT_TEST_SMALL=1 oclgrind --check-api --data-races $uninit \
  ${build:+--build-options "$build"} --log "$log" "$@"
rc=$?
if [ -n "$SB_OCLGRIND_RECORD" ]; then
  mkdir -p "$SB_OCLGRIND_RECORD"
  mode=uninit
  [ -z "$uninit" ] && mode=nouninit
  # the first column of the profile tables, but their header and total
  awk 'NF > 1 && $1 != "kernel" && $1 != "total" { print $1 }' "$names" | sort -u \
    > "$SB_OCLGRIND_RECORD/$(basename "$1").$mode"
fi
if [ -s "$log" ]; then
  echo "Oclgrind reported:" >&2
  head -c 20000 "$log" >&2
  rc=1
fi
rm -f "$log" "$names"
exit $rc
