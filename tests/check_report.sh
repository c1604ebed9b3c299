# `sketchbert report` checks on finished runs, sourced by test_train.sh
# after its pre-training, classification and retrieval runs (reused to keep
# the test short). Each needs $sb, $tmp and tests/check.sh.

# report_sections PAGE H3...: every section the report has for any run, the
# task's own (h3 headings), and the device the run's log recorded
report_sections() {
  page=$1; shift
  for id in summary curves model checkpoints resume config; do
    check "report section $id" 0 grep -q "<h2 id=\"$id\">" "$page"
  done
  for h in "$@"; do
    check "report section $h" 0 grep -q "<h3>$h</h3>" "$page"
  done
  check "report is self-contained (no script, no external resource)" 1 grep -Eqi '<script|src=|href=|@import' "$page"
  check "report shows the device the run used" 0 \
    grep -q "<tr><th>device used</th><td>[^<]*: [^<]*; GEMMs: [^<]*; attention: [a-z]*</td></tr>" "$page"
}

# report_screenshot PAGE NAME WIDTH HEIGHT COLOUR...: the top of the page
# drawn by headless Chromium
# (Debian's chromium; $SKETCHBERT_CHROMIUM names one and makes it required,
# as tools/setup.sh test does): the expected size, not blank, the colours
# drawn. Root needs --no-sandbox; containers a small /dev/shm.
report_screenshot() {
  page=$1 name=$2 width=$3 height=$4; shift 4
  chromium=${SKETCHBERT_CHROMIUM:-$(command -v chromium || command -v chromium-browser)}
  if [ -z "$chromium" ]; then
    echo "# SKIP $name screenshot: chromium not installed (apt-get install chromium; tools/setup.sh test does)"
    return
  fi
  rm -f "$tmp/$name.png"
  timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
    --window-size="$width,$height" --screenshot="$tmp/$name.png" "file://$page" >"$tmp/chromium.log" 2>&1
  check "$name screenshot" 0 python3 "$(dirname "$0")/../tools/check_screenshot.py" "$tmp/$name.png" "$width" \
    "$height" "$@"
}

# The classification run: curves, per-class accuracy, confusion matrix,
# misclassified sketches; bad input.
# usage: report_checks RUN_DIR
report_checks() {
  run=$1
  check "report --help" 0 "$sb" report --help
  check "report without RUN_DIR" 2 "$sb" report
  check "report of a run" 0 "$sb" report "$run" --log-scale -o "$tmp/report.html"
  check "report shows the start event's fields" 0 grep -q "<tr><th>start: param_bytes</th><td>[0-9]*</td>" \
    "$tmp/report.html"
  report_sections "$tmp/report.html" Losses Metrics "Per-class accuracy" "Confusion matrix" "Misclassified sketches"
  used=$(sed -n 's/.*"event":"start".*"device":"\([^"]*\)".*/\1/p' "$run/log.jsonl" | tail -n 1)
  check "the device used is the log's start event's ($used)" 0 grep -qF "<th>device used</th><td>$used;" \
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

  # a run of an older trainer: its start event names no device
  sed 's/,"device":"[^"]*","gemm":"[^"]*","attention":"[^"]*"//' "$run/log.jsonl" >"$tmp/broken/log.jsonl"
  check "report of a run without device records" 0 "$sb" report "$tmp/broken" --no-model
  check "says the device was not recorded" 0 grep -q "device used</th><td><span class=\"warn\">device not recorded" \
    "$tmp/broken/report.html"
  # no checkpoint at all, or a --checkpoint that is not there: the page says so
  mkdir -p "$tmp/nockpt"
  cp "$run/log.jsonl" "$run/config.yml" "$tmp/nockpt/"
  check "report of a run without checkpoints" 0 "$sb" report "$tmp/nockpt"
  contains "warns there are no model pictures" "no model pictures: no checkpoint (best or latest) in the run folder"
  check "the page says so" 0 grep -q "No model pictures: no checkpoint" "$tmp/nockpt/report.html"
  check "and marks those the log names missing" 0 grep -q "<td>best_ckpt.safetensors</td><td>[0-9]*</td><td class=\"warn\">missing" "$tmp/nockpt/report.html"
  check "report --checkpoint of a missing file" 0 "$sb" report "$run" --checkpoint "$tmp/none.safetensors" \
    -o "$tmp/nock.html"
  contains "names the file" "none.safetensors"
  check "the page says the checkpoint could not be opened" 0 grep -q "No model pictures: the checkpoint could not" \
    "$tmp/nock.html"

  # train (blue) and valid (orange) curves visible
  report_screenshot "$tmp/report.html" classification 1000 1600 '#1f77b4' '#ff7f0e'
}

# The retrieval run: its top-k and mAP on the validation split equal the
# log's best validation; one row per class: the query and its 5 nearest,
# each framed green exactly when of the query's class.
# usage: report_retrieval_checks RUN_DIR
report_retrieval_checks() {
  run=$1 page=$tmp/rel_report.html
  check "report of a retrieval run" 0 "$sb" report "$run" -o "$page"
  report_sections "$page" Losses Metrics Retrieval "Retrieved sketches"
  for s in valid/retrieval_1 valid/retrieval_5 valid/retrieval_10 valid/map train/triplet; do
    check "curve $s" 0 grep -q "data-series=\"$s\"" "$page"
  done
  best=$(grep '"event":"valid".*"best":true' "$run/log.jsonl" | tail -n 1)
  field() { echo "$best" | sed "s/.*\"$1\":\([0-9.e-]*\).*/\1/"; }
  got=$(sed -n 's/.*Each of \([0-9]*\) sketches queries the other [0-9]*: top-1 \([0-9.]*\), top-5 \([0-9.]*\), top-10 \([0-9.]*\), mAP \([0-9.]*\).*/\1 \2 \3 \4 \5/p' "$page")
  truth "page top-1, top-5, top-10 and mAP equal the logged best validation's ($got)" \
    "g[1] == $(field sketches) && (g[2] - $(field retrieval_1)) ^ 2 < 1e-8 && (g[3] - $(field retrieval_5)) ^ 2 < 1e-8 &&
     (g[4] - $(field retrieval_10)) ^ 2 < 1e-8 && (g[5] - $(field map)) ^ 2 < 1e-8" "split(\"$got\", g, \" \")"
  # cells in drawing order: frame colour then caption; each row a query and 5 neighbours
  bad=$(awk '/<rect/ { f = /stroke="#2ca02c"/ ? "right" : /stroke="#d62728"/ ? "wrong" : "none" }
    /<text/ { t = $0; sub(/^<text[^>]*>/, "", t); sub(/<\/text>$/, "", t)
      if (t ~ /^query: /) { q = substr(t, 8); rows++; if (f != "none") bad++; next }
      if (t !~ /^[1-5]\. /) next
      split(t, w, " "); cells++
      if ((w[2] == q) != (f == "right") || f == "none") bad++ }
    END { print (rows == 4 && cells == 20) ? bad + 0 : "rows " rows " cells " cells }' "$page")
  truth "4 queries with 5 neighbours each, green exactly when of the query's class" "b == 0" "b = \"$bad\""
  # green frames visible (red ones too, unless every neighbour drawn is right)
  report_screenshot "$page" retrieval 1300 3000 '#2ca02c'
}

# The model section of a pre-training (maskrec) run: one original / masked /
# completed row per class (4 classes), as `sketchbert complete` draws them.
# usage: report_completion_checks RUN_DIR
report_completion_checks() {
  check "report of a pre-training run" 0 "$sb" report "$1" -o "$tmp/pre_report.html"
  report_sections "$tmp/pre_report.html" Losses "Gestalt completion"
  check "report draws gestalt completions" 0 grep -q "<h3>Gestalt completion</h3>" "$tmp/pre_report.html"
  truth "one masked and one completed cell per class" "m == 4 && c == 4" \
    "m = $(grep -c '>masked</text>' "$tmp/pre_report.html"); c = $(grep -c '>completed</text>' "$tmp/pre_report.html")"
  check "with the completion errors" 0 grep -q "masked points: mean |dx error| [0-9.]*" "$tmp/pre_report.html"
  # red masked and blue predicted points visible
  report_screenshot "$tmp/pre_report.html" pre-training 1300 3000 '#d62728' '#1f77b4'
}
