# Shell test helpers, sourced by tests/test_*.sh after they set $tmp:
# OK / NOT OK lines, and `finish` for the "N passed, N failed" summary.
pass=0 fail=0
check() { # check NAME EXPECTED_RC COMMAND...
  name=$1 want=$2; shift 2
  "$@" >"$tmp/out" 2>&1; rc=$?
  if [ "$rc" = "$want" ]; then pass=$((pass+1)); echo "OK $name"
  else fail=$((fail+1)); echo "NOT OK $name: exit $rc, wanted $want"; sed 's/^/#   /' "$tmp/out"; fi
}
contains() { # contains NAME TEXT: the last command's output holds TEXT
  if grep -q -- "$2" "$tmp/out"; then pass=$((pass+1)); echo "OK $1"
  else fail=$((fail+1)); echo "NOT OK $1: no '$2' in"; sed 's/^/#   /' "$tmp/out"; fi
}
truth() { # truth NAME AWK-CONDITION VARIABLES: the condition holds for them
  name=$1 cond=$2; shift 2
  if awk "BEGIN { $* ; exit !($cond) }"; then pass=$((pass+1)); echo "OK $name"
  else fail=$((fail+1)); echo "NOT OK $name: $cond with $*"; fi
}
finish() { # the summary line, and the exit status
  echo "$pass passed, $fail failed"
  [ "$fail" = 0 ]
}
