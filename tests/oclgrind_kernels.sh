#!/bin/sh
# Every kernel in cl/*.cl ran under Oclgrind's uninitialised-value check in
# some test of the oclgrind suite: reads the kernel names tests/oclgrind.sh
# recorded (SB_OCLGRIND_RECORD) and prints, per kernel, the tests that ran
# it with the check and without it. Fails on a kernel no test ran with the
# check, and on a test whose record is missing or older than the test
# itself (this test runs after the rest of the suite).
#   oclgrind_kernels.sh CL_DIR RECORD_DIR TEST...
cl=$1 rec=$2
shift 2
rc=0
for t in "$@"; do
  found=
  for f in "$rec/$(basename "$t")".*; do
    [ -e "$f" ] && [ "$f" -nt "$t" ] && found=1
  done
  if [ -z "$found" ]; then
    echo "FAIL no record for $(basename "$t") newer than the test: run the whole oclgrind suite"
    rc=1
  fi
done
kernels=$(sed -n 's/^__kernel void \([A-Za-z0-9_]*\).*/\1/p' "$cl"/*.cl | sort -u)
checked=0 total=0
for k in $kernels; do
  total=$((total + 1))
  with=$(grep -lx "$k" "$rec"/*.uninit 2>/dev/null | sed 's|.*/test_||; s|\.uninit$||' | tr '\n' ' ')
  without=$(grep -lx "$k" "$rec"/*.nouninit 2>/dev/null | sed 's|.*/test_||; s|\.nouninit$||' | tr '\n' ' ')
  if [ -n "$with" ]; then
    checked=$((checked + 1))
    echo "OK $k: $with${without:+(without the check: $without)}"
  else
    echo "FAIL $k: no test ran it under --uninitialized${without:+ (only without: $without)}"
    rc=1
  fi
done
echo "# $checked of $total kernels in $cl ran under Oclgrind's uninitialised-value check"
exit $rc
