#!/bin/sh
# Prints "N passed, N failed, N skipped" from a meson test log (JSON lines).
log=${1:-build/meson-logs/testlog.json}
python3 - "$log" <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0, "TIMEOUT": 0, "ERROR": 0}
for line in open(sys.argv[1]):
    r = json.loads(line).get("result", "ERROR")
    counts[r] = counts.get(r, 0) + 1
failed = sum(v for k, v in counts.items() if k not in ("OK", "SKIP", "EXPECTEDFAIL"))
print("%d passed, %d failed, %d skipped" % (counts["OK"], failed, counts["SKIP"]))
PY
