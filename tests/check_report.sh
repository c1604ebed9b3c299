# `sketchbert report` checks on a finished run, sourced by test_train.sh
# after its classification run (reused to keep the test short).
# usage: report_checks RUN_DIR   (needs $sb, $tmp and tests/check.sh)
report_checks() {
  run=$1
  check "report --help" 0 "$sb" report --help
  check "report without RUN_DIR" 2 "$sb" report
  check "report of a run" 0 "$sb" report "$run" --log-scale -o "$tmp/report.html"
  check "report shows the start event's fields" 0 grep -q "<tr><th>start: param_bytes</th><td>[0-9]*</td>" \
    "$tmp/report.html"
  for id in summary curves checkpoints resume config; do
    check "report section $id" 0 grep -q "<h2 id=\"$id\">" "$tmp/report.html"
  done
  check "report is self-contained (no script, no external resource)" 1 grep -Eqi '<script|src=|href=|@import' \
    "$tmp/report.html"
  check "report names the resume command" 0 grep -q "sketchbert train $run/config.yml --log-dir $run --continue" \
    "$tmp/report.html"
  check "report lists the best checkpoint" 0 grep -q "<td>best_ckpt.safetensors</td>" "$tmp/report.html"
  # every curve: as many M/L points in its path as data-points says, and
  # the train curves one point per train line of the log
  steps=$(grep -c '"event":"train"' "$run/log.jsonl")
  valids=$(grep -c '"event":"valid"' "$run/log.jsonl")
  grep -o 'data-series="[^"]*" data-points="[0-9]*" stroke="[^"]*" d="[^"]*"' "$tmp/report.html" |
    awk -F'"' '{ n = gsub(/[ML]/, "", $8); print $2, $4, n }' >"$tmp/curves.txt"
  check "report has curves" 0 test -s "$tmp/curves.txt"
  check "each curve path has data-points points" 0 awk '$2 != $3 { exit 1 }' "$tmp/curves.txt"
  check "train curves have one point per logged train step ($steps)" 0 \
    awk -v n="$steps" '$1 ~ /^train\// && $3 != n { exit 1 }' "$tmp/curves.txt"
  check "valid curves have one point per validation ($valids)" 0 \
    awk -v n="$valids" '$1 ~ /^valid\// && $3 != n { exit 1 }' "$tmp/curves.txt"
  for s in train/prediction train/total train/lr train/steps_per_s valid/prediction valid/accuracy_1; do
    check "curve $s" 0 grep -q "^$s " "$tmp/curves.txt"
  done

  # the model section: the best checkpoint on the validation split agrees
  # with the log's validation of that step (a classification-only run: its
  # validation inputs are not masked)
  for h in "Per-class accuracy" "Confusion matrix" "Misclassified sketches"; do
    check "report section $h" 0 grep -q "<h3>$h</h3>" "$tmp/report.html"
  done
  logged=$(grep '"event":"valid".*"best":true' "$run/log.jsonl" | tail -n 1 | sed 's/.*"accuracy_1":\([0-9.e-]*\).*/\1/')
  nval=$(grep '"event":"valid".*"best":true' "$run/log.jsonl" | tail -n 1 | sed 's/.*"sketches":\([0-9]*\).*/\1/')
  page=$(sed -n 's/.*Top-1 accuracy \([0-9.]*\) on \([0-9]*\) sketches.*/\1 \2/p' "$tmp/report.html")
  truth "page accuracy equals the logged best validation accuracy_1" "(a - b) ^ 2 < 1e-8 && n == $nval" \
    "split(\"$page\", p, \" \"); a = p[1]; n = p[2]; b = $logged"
  cells=$(grep -o '<td style="[^"]*">[0-9]*</td>' "$tmp/report.html" | sed 's/.*">\([0-9]*\)<.*/\1/' |
    awk '{ s += $1; n++ } END { print n, s }')
  check "confusion matrix is 4 x 4 and counts the $nval validation sketches" 0 test "$cells" = "16 $nval"
  shown=$(sed -n 's/.*<p>\([0-9]*\) shown.*/\1/p' "$tmp/report.html")
  drawn=$(grep -c '<text [^>]*>[a-z]* &gt; [a-z]*</text>' "$tmp/report.html")
  truth "misclassified grid: one captioned cell per sketch shown, as many as errors (up to 24)" \
    "s == d && s == (w > 24 ? 24 : w)" "s = $shown; d = $drawn; split(\"$page\", p, \" \"); w = int((1 - p[1]) * $nval + 0.5)"
  check "report --no-model" 0 "$sb" report "$run" --no-model -o "$tmp/plain.html"
  check "has no model section" 1 grep -q '<h2 id="model">' "$tmp/plain.html"

  # bad input: an empty folder, a truncated last line, a missing checkpoint, no config
  mkdir -p "$tmp/empty"
  check "report of an empty folder fails" 1 "$sb" report "$tmp/empty"
  contains "saying it is not a run" "holds no log.jsonl, config.yml or checkpoint"
  check "report of a missing folder fails" 1 "$sb" report "$tmp/nowhere"
  mkdir -p "$tmp/broken"
  cp "$run/log.jsonl" "$tmp/broken/log.jsonl"
  printf '{"event":"train","step":9' >>"$tmp/broken/log.jsonl" # a crash in mid-line
  cp "$run/latest_ckpt.safetensors" "$tmp/broken/"
  check "report of a damaged run" 0 "$sb" report "$tmp/broken"
  contains "warns of the truncated line" "unreadable line(s) left out; line [0-9]*: .*truncated?"
  contains "warns of the missing checkpoint" "checkpoint $tmp/broken/best_ckpt.safetensors named in the log is missing"
  contains "warns of the missing config" "config.yml is missing"
  check "the page says the checkpoint is missing" 0 grep -q "missing (named in the log)" "$tmp/broken/report.html"
  check "the page says the run cannot be resumed" 0 grep -q "Cannot resume" "$tmp/broken/report.html"

  # the page drawn by headless Chromium: the expected size, not blank, the
  # train (blue) and valid (orange) curves visible
  chromium=$(command -v chromium || command -v chromium-browser)
  if [ -n "$chromium" ]; then
    timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,1600 \
      --screenshot="$tmp/report.png" "file://$tmp/report.html" >"$tmp/chromium.log" 2>&1
    check "screenshot of the report" 0 python3 "$(dirname "$0")/../tools/check_screenshot.py" "$tmp/report.png" \
      1000 1600 '#1f77b4' '#ff7f0e'
  else
    echo "# SKIP report screenshot: chromium not installed (apt-get install chromium)"
  fi
}

# The model section of a pre-training (maskrec) run: one original / masked /
# completed row per class (4 classes), as `sketchbert complete` draws them.
# usage: report_completion_checks RUN_DIR
report_completion_checks() {
  check "report of a pre-training run" 0 "$sb" report "$1" -o "$tmp/pre_report.html"
  check "report draws gestalt completions" 0 grep -q "<h3>Gestalt completion</h3>" "$tmp/pre_report.html"
  truth "one masked and one completed cell per class" "m == 4 && c == 4" \
    "m = $(grep -c '>masked</text>' "$tmp/pre_report.html"); c = $(grep -c '>completed</text>' "$tmp/pre_report.html")"
  check "with the completion errors" 0 grep -q "masked points: mean |dx error| [0-9.]*" "$tmp/pre_report.html"
}
