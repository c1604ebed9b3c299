#!/bin/sh
# Prints "N passed, N failed, N skipped" over meson test logs (JSON lines).
[ $# -gt 0 ] || set -- build/meson-logs/testlog.json
python3 - "$@" <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0, "TIMEOUT": 0, "ERROR": 0}
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line).get("result", "ERROR")
        counts[r] = counts.get(r, 0) + 1
failed = sum(v for k, v in counts.items() if k not in ("OK", "SKIP", "EXPECTEDFAIL"))
print("%d passed, %d failed, %d skipped" % (counts["OK"], failed, counts["SKIP"]))
PY
