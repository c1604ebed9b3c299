#!/bin/sh
# Runs a test under Oclgrind at small sizes; any message Oclgrind logs
# (out-of-bounds access, data race, uninitialised value, barrier divergence,
# API misuse) fails the test.
log=$(mktemp)
SKETCHBERT_TEST_SMALL=1 oclgrind --check-api --data-races --uninitialized --log "$log" "$@"
rc=$?
if [ -s "$log" ]; then
  echo "Oclgrind reported:" >&2
  head -c 20000 "$log" >&2
  rc=1
fi
rm -f "$log"
exit $rc
