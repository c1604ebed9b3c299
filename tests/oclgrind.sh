#!/bin/sh
# Runs a test under Oclgrind at small sizes; any message Oclgrind logs
# (out-of-bounds access, data race, uninitialised value, barrier divergence,
# API misuse) fails the test.
# --no-uninitialized (first argument) leaves out the uninitialised-value
# check, for tests that run CLBlast kernels: Oclgrind 21.10 flags every value
# those read from a buffer an earlier kernel wrote (not when the host wrote
# the same values), so the check cannot tell anything there.
uninit=--uninitialized
if [ "$1" = --no-uninitialized ]; then uninit=; shift; fi
log=$(mktemp)
SKETCHBERT_TEST_SMALL=1 oclgrind --check-api --data-races $uninit --log "$log" "$@"
rc=$?
if [ -s "$log" ]; then
  echo "Oclgrind reported:" >&2
  head -c 20000 "$log" >&2
  rc=1
fi
rm -f "$log"
exit $rc
