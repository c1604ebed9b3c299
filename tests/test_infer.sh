#!/bin/sh
# The inference commands end to end on synthetic sketches (4 classes), with
# a tiny model trained here for 60 steps on all three tasks: embed (.npy,
# .npz with labels and class names, CSV), classify (accuracy well above chance, per class and as a
# confusion matrix), retrieve index/query
# (each indexed sketch finds itself at distance 0; drawn to SVG; pooled
# encoder features where the checkpoint has no retrieval head), complete (SVG with
# masked and predicted points); bad input: a checkpoint without the head a
# command needs, empty and over-long sketches, an index of another model,
# an unknown class, usage errors; raw QuickDraw drawings simplified (and
# said so); class names from the checkpoint with the training data gone,
# older checkpoints; labels with spaces; files that are not checkpoints. Then the installed tree: `meson install
# --destdir`, examples/classify.c compiled with pkg-config against it, run.
# usage: test_infer.sh SKETCHBERT SKETCHBERT-SYNTH BUILD_ROOT SOURCE_ROOT CC...
# (CC... is the C compiler's command, e.g. `ccache cc`)
sb=$1 synth=$2 build=$3 src=$4
shift 4 # "$@" is now the compiler command
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/check.sh"

check "synthetic sketches" 0 "$synth" --out "$tmp/npz" --classes circle,square,triangle,star --train 48 --valid 8 --test 8
check "prepare" 0 "$sb" prepare --quiet --threads 1 --out "$tmp/mm" "$tmp/npz/circle.npz" "$tmp/npz/square.npz" \
  "$tmp/npz/triangle.npz" "$tmp/npz/star.npz"
config all "maskrec, sketchclsinput, sketchretrieval" 60 all "get_type: triplet"
check "train all three heads (60 steps)" 0 "$sb" train "$tmp/all.yml" --quiet
config pre maskrec 2 pre
check "train a maskrec-only model (2 steps)" 0 "$sb" train "$tmp/pre.yml" --quiet
ck=$tmp/all/latest_ckpt.safetensors pre=$tmp/pre/latest_ckpt.safetensors

# ---- usage
for c in embed classify "retrieve" complete; do
  check "$c --help" 0 "$sb" $c --help
  contains "$c --help documents exit codes" "exit codes"
done
check "classify without input" 2 "$sb" classify "$ck"
check "embed without -o" 2 "$sb" embed "$ck" "$tmp/mm"
check "embed to an unknown format" 2 "$sb" embed "$ck" "$tmp/mm" -o "$tmp/x.txt"
check "retrieve without subcommand" 2 "$sb" retrieve "$ck"
check "classify with a bad --batch-size" 2 "$sb" classify "$ck" "$tmp/mm" --batch-size 0
check "complete with a bad --share" 2 "$sb" complete "$ck" "$tmp/mm" --share 1.5 -o "$tmp/c.svg"
check "missing checkpoint" 1 "$sb" classify "$tmp/none.safetensors" "$tmp/mm"
check "a file that is not a sketch file" 1 "$sb" classify "$ck" "$tmp/all.yml"
contains "says what inputs are read" "not an .npz, .ndjson or .svg file"

# ---- classify
check "classify memmap, batches of 5" 0 "$sb" classify "$ck" "$tmp/mm" --batch-size 5 --top-k 2
contains "lines of index, label, classes" "^0	circle	[a-z]* 0\.[0-9]*	[a-z]* 0\.[0-9]*$"
acc=$(awk '/^accuracy:/ { print $3 }' "$tmp/out")
echo "# test accuracy top-1 $acc (4 classes)"
truth "top-1 accuracy of the 60-step model is at least 0.6" "a >= 0.6" "a = $acc"
cp "$tmp/out" "$tmp/classify5"
check "classify in one batch" 0 "$sb" classify "$ck" "$tmp/mm" --batch-size 64 --top-k 2
cp "$tmp/out" "$tmp/classify64"
check "batch size does not change the output" 0 diff "$tmp/classify64" "$tmp/classify5"
check "batches of one sketch" 0 "$sb" classify "$ck" "$tmp/mm" --batch-size 1 --top-k 2
cp "$tmp/out" "$tmp/classify1"
check "give the same output" 0 diff "$tmp/classify1" "$tmp/classify5"
# `sketchbert test` evaluates the anchors of its triplet batches (rows 3i of
# the interleaved triplets): each sketch of the split once (its SGM-masked
# inputs classify otherwise than `classify`'s unmasked ones)
check "test the model on the test split (triplet batches)" 0 "$sb" test "$tmp/all.yml" --checkpoint "$ck"
cp "$tmp/out" "$tmp/test.out"
check "  counts 8 sketches of each class" 0 awk '$1 ~ /^(circle|square|triangle|star)$/ && $3 == 8 { k++ }
  END { exit k != 4 }' "$tmp/test.out"
check "classify npz, --index and --label" 0 "$sb" classify "$ck" "$tmp/npz/star.npz" --index 0-3 --label star --top-k 9
contains "top-k capped at the class count" "using 4"
contains "accuracy over the 4 chosen" "(4 sketches of a known class)"
check "unknown class name" 1 "$sb" classify "$ck" "$tmp/mm" --label dog
contains "lists the classes" "unknown class 'dog' (the model's 4 classes: circle, square, triangle, star)"
check "classify with a maskrec-only checkpoint" 1 "$sb" classify "$pre" "$tmp/mm"
contains "names the heads it has" "has no sketchclsinput head (it has: maskrec)"
printf 'a\nb\nc\nd\n' >"$tmp/names.txt"
check "class names from a file" 0 "$sb" classify "$ck" "$tmp/mm" --class-names "$tmp/names.txt" --index 0
contains "renamed classes" "^0	circle	[abcd] "
check "classify with a confusion matrix" 0 "$sb" classify "$ck" "$tmp/mm" --top-k 1 --confusion "$tmp/conf.csv"
cp "$tmp/out" "$tmp/classify_conf"
check "its header names the classes" 0 grep -qx 'true\\predicted,circle,square,triangle,star' "$tmp/conf.csv"
# rows sum to the printed per-class counts, diagonal / row to the per-class
# accuracy, the whole diagonal to the overall top-1 over 32 sketches
bad=$(awk -F, 'FNR == NR { split($0, w, " ")
    if (w[1] == "class") { sub(/:$/, "", w[2]); acc[w[2]] = w[4]; cnt[w[2]] = substr(w[5], 2) }
    if (w[1] == "accuracy:") top1 = w[3]
    next }
  FNR > 1 { s = 0; for (i = 2; i <= NF; i++) s += $i; diag += $FNR; tot += s; rows++
    if (s != cnt[$1] + 0 || sprintf("%.4f", $FNR / s) != acc[$1]) bad++ }
  END { if (rows != 4 || tot != 32 || sprintf("%.4f", diag / tot) != top1) bad++; print bad + 0 }' \
  "$tmp/classify_conf" "$tmp/conf.csv")
truth "confusion rows, diagonal and printed accuracies agree" "b == 0" "b = $bad"
check "a confusion matrix needs known classes" 1 "$sb" classify "$ck" "$tmp/mm" --class-names "$tmp/names.txt" \
  --confusion "$tmp/conf2.csv"
check "and none is written" 1 test -e "$tmp/conf2.csv"
check "--index out of range" 1 "$sb" classify "$ck" "$tmp/mm" --index 500
contains "says how many there are" "--index 500: the input has 32 sketches"
check "--index not a list" 2 "$sb" classify "$ck" "$tmp/mm" --index 3-1

# ---- bad sketches: an empty one (skipped with a warning), an over-long one (cut with a warning)
{
  echo '{"word":"circle","drawing":[]}'
  echo '{"word":"circle","drawing":[[[0,10,20,30],[0,10,0,10]]]}'
  printf '{"word":"star","drawing":[[['; i=0; while [ $i -lt 79 ]; do printf '%d,' $((i*3)); i=$((i+1)); done
  printf '240],['; i=0; while [ $i -lt 79 ]; do printf '%d,' $((i%7)); i=$((i+1)); done; echo '0]]]}'
} >"$tmp/odd.ndjson"
check "classify ndjson with an empty and a long sketch" 0 "$sb" classify "$ck" "$tmp/odd.ndjson"
contains "empty sketch skipped" "1 sketches with no points skipped"
contains "long sketch cut" "1 of 2 sketches have more than 47 points and are cut"

# ---- raw QuickDraw drawings (screen coordinates, time stamps): simplified as `prepare --simplify` does
awk 'BEGIN { pi = atan2(0, -1)
  for (d = 0; d < 4; d++) {
    printf "{\"word\":\"circle\",\"drawing\":[[["
    for (i = 0; i < 90; i++) printf "%s%.2f", i ? "," : "", 600.5 + 200 * cos(2 * pi * i / 89)
    printf "],["; for (i = 0; i < 90; i++) printf "%s%.2f", i ? "," : "", 400 + (200 - 45 * d) * sin(2 * pi * i / 89)
    printf "],["; for (i = 0; i < 90; i++) printf "%s%d", i ? "," : "", 16 * i
    print "]]]}" } }' >"$tmp/raw.ndjson"
check "prepare --simplify raw drawings" 0 "$sb" prepare --quiet --threads 1 --simplify --valid 0 --test 1 \
  --out "$tmp/rawmm" "$tmp/raw.ndjson"
check "classify raw drawings" 0 "$sb" classify "$ck" "$tmp/raw.ndjson" --top-k 2
contains "says what it found and did" "raw.ndjson: 4 of 4 drawings look like raw QuickDraw data (4 with time stamps, 4 with fractional coordinates, 4 outside 0..255, 0 with dense points): 4 simplified as"
grep '^[0-9]' "$tmp/out" | cut -f3- | sort >"$tmp/raw.cls"
{ "$sb" classify "$ck" "$tmp/rawmm" --split train --top-k 2; "$sb" classify "$ck" "$tmp/rawmm" --top-k 2; } |
  grep '^[0-9]' | cut -f3- | sort >"$tmp/rawmm.cls"
check "scored as the drawings prepare --simplify wrote" 0 diff "$tmp/rawmm.cls" "$tmp/raw.cls"
check "classify raw drawings with --no-simplify" 0 "$sb" classify "$ck" "$tmp/raw.ndjson" --top-k 2 --no-simplify
contains "warns" "kept as they are (--no-simplify)"
grep '^[0-9]' "$tmp/out" | cut -f3- | sort >"$tmp/raw-kept.cls"
check "which scores them differently" 1 diff -q "$tmp/raw-kept.cls" "$tmp/raw.cls"
check "embed --simplify" 0 "$sb" embed "$ck" "$tmp/odd.ndjson" --simplify -o "$tmp/s.csv"
contains "simplifies every drawing" "odd.ndjson: 2 of 2 drawings simplified (--simplify)"
check "retrieve index --simplify" 0 "$sb" retrieve index "$ck" "$tmp/raw.ndjson" --simplify -o "$tmp/raw.idx"
check "complete --simplify" 0 "$sb" complete "$ck" "$tmp/raw.ndjson" --simplify --index 1 -o "$tmp/raw.svg"

# ---- class names from the checkpoint itself, wherever the training data went
check "the checkpoint names its classes" 0 grep -aq '"class_names":"circle\\nsquare\\ntriangle\\nstar"' "$ck"
# a checkpoint as written before class_names (and checksums): the keys
# renamed, same size
LC_ALL=C sed -e 's/"class_names":/"old_names__":/' -e 's/"sketchbert_crc32":/"old_checksums___":/' "$ck" \
  >"$tmp/old.safetensors"
mv "$tmp/mm" "$tmp/mm.away"
check "classify without the training data" 0 "$sb" classify "$ck" "$tmp/npz/star.npz" --index 0-3 --top-k 1
contains "real class names" "^0	star	\(circle\|square\|triangle\|star\) "
contains "and the accuracy" "^accuracy: top-1"
check "an older checkpoint without its training data" 0 "$sb" classify "$tmp/old.safetensors" "$tmp/npz/star.npz" --index 0-3 --top-k 1
contains "generic names" "^0	star	class_[0-3] "
contains "with a warning" "has no class names .* classes are called class_0 .. class_3"
mv "$tmp/mm.away" "$tmp/mm"
check "an older checkpoint with its training data" 0 "$sb" classify "$tmp/old.safetensors" "$tmp/npz/star.npz" --index 0-3 --top-k 1
contains "names from the sum file" "^accuracy: top-1"

# ---- labels: QuickDraw's word "alarm clock" is the class alarm_clock
printf 'circle\nsquare\nalarm_clock\nstar\n' >"$tmp/names2.txt"
echo '{"word":"alarm clock","drawing":[[[0,100,50,0],[0,0,90,0]]]}' >"$tmp/clock.ndjson"
check "classify a word with a space" 0 "$sb" classify "$ck" "$tmp/clock.ndjson" --class-names "$tmp/names2.txt"
contains "matches the class" "(1 sketches of a known class)"
check "--label with a space" 0 "$sb" classify "$ck" "$tmp/npz/star.npz" --index 0 --class-names "$tmp/names2.txt" --label "alarm clock"
check "--label with an underscore" 0 "$sb" classify "$ck" "$tmp/clock.ndjson" --class-names "$tmp/names2.txt" --label alarm_clock
sed 's/alarm clock/alarm_clock/' "$tmp/clock.ndjson" >"$tmp/clock2.ndjson"
check "embed both spellings to .npz" 0 "$sb" embed "$ck" "$tmp/clock.ndjson" "$tmp/clock2.ndjson" -o "$tmp/clock.npz"
contains "as one class" "2 sketches x 32 encoder features, labels of 1 classes"
check "index one spelling" 0 "$sb" retrieve index "$ck" "$tmp/clock2.ndjson" -o "$tmp/clock.idx"
check "query with the other" 0 "$sb" retrieve query "$ck" "$tmp/clock.idx" "$tmp/clock.ndjson" --top-k 1
contains "same label, top-1 said once for --top-k 1" "same label: top-1 1.0000 (1 labelled queries)$"

# ---- files that are not checkpoints say what they are
check "an npz as the checkpoint" 1 "$sb" classify "$tmp/npz/star.npz" "$tmp/mm"
contains "says so" "star.npz is a NumPy .npz archive (sketch data?), not a safetensors checkpoint"
check "a config as the checkpoint" 1 "$sb" classify "$tmp/all.yml" "$tmp/mm"
contains "says so" "all.yml is a text file (a YAML config?)"
check "the run folder as the checkpoint" 1 "$sb" classify "$tmp/all" "$tmp/mm"
contains "says so" "is a directory, not a safetensors checkpoint; give the checkpoint file in it"

# ---- SVG input (TU-Berlin layout): a file, a class folder, a folder of class folders
mkdir -p "$tmp/svg/circle" "$tmp/svg/star two"
echo '<svg viewBox="0 0 800 800"><path d="M 400 100 C 600 100 700 300 700 400 S 600 700 400 700 S 100 600 100 400 S 200 100 400 100"/></svg>' >"$tmp/svg/circle/1.svg"
echo '<svg viewBox="0 0 800 800"><g transform="scale(2)"><path d="M 200 50 L 240 150 L 350 150 L 260 210 L 300 320 L 200 250 L 100 320 L 140 210 L 50 150 L 160 150 Z"/></g></svg>' >"$tmp/svg/star two/1.svg"
cp "$tmp/svg/circle/1.svg" "$tmp/svg/circle/2.svg"
check "classify an SVG file" 0 "$sb" classify "$ck" "$tmp/svg/circle/1.svg"
contains "labelled with its folder's name" "^0	circle	[a-z]* 0\.[0-9]*	"
check "classify a folder of class folders" 0 "$sb" classify "$ck" "$tmp/svg" --limit 1
contains "one sketch per class folder, folders in order" "^1	star two	[a-z]* 0\.[0-9]*	"
check "embed a class folder" 0 "$sb" embed "$ck" "$tmp/svg/circle" -o "$tmp/svg.npy"
contains "both of its SVGs" "2 sketches x 32 encoder features"
echo '<svg><path d="M 1 2 L 3"/></svg>' >"$tmp/bad.svg"
check "a broken SVG" 1 "$sb" classify "$ck" "$tmp/bad.svg"
contains "is refused naming the file and line" "bad.svg:1: svg: expected a number"
mkdir "$tmp/empty"
check "a folder with no SVGs and no dataset" 1 "$sb" classify "$ck" "$tmp/empty"
contains "says what it is not" "nor a folder of .svg files"

# ---- embed
check "embed encoder features to .npy" 0 "$sb" embed "$ck" "$tmp/mm" -o "$tmp/e.npy"
contains "32 sketches of width 32" "32 sketches x 32 encoder features"
check ".npy header" 0 grep -q "'descr': '<f4', 'fortran_order': False, 'shape': (32, 32)" "$tmp/e.npy"
size=$(wc -c <"$tmp/e.npy")
truth ".npy size is header + 32 x 32 floats" "s == 128 + 32 * 32 * 4" "s = $size"
check "embed retrieval features to CSV" 0 "$sb" embed "$ck" "$tmp/mm" --features retrieval --pool first -o "$tmp/e.csv"
rows=$(wc -l <"$tmp/e.csv") cols=$(head -1 "$tmp/e.csv" | awk -F, '{ print NF }')
truth "CSV has a header and 32 rows of index, label and 16 features" "r == 33 && c == 18" "r = $rows; c = $cols"
labels=$(awk -F, 'NR > 1 { n[$2]++ } END { print n["\"circle\""] + 0, n["\"star\""] + 0 }' "$tmp/e.csv")
check "CSV labels: 8 circles and 8 stars" 0 test "$labels" = "8 8"
printf '{"word":"na\303\257ve","drawing":[[[0,10,20],[0,10,0]]]}\n' >"$tmp/u.ndjson"
check "embed to .npz" 0 "$sb" embed "$ck" "$tmp/npz/star.npz" "$tmp/odd.ndjson" "$tmp/u.ndjson" -o "$tmp/e.npz"
contains "with labels" "11 sketches x 32 encoder features, labels of 3 classes"
check "the same to .npy" 0 "$sb" embed "$ck" "$tmp/npz/star.npz" "$tmp/odd.ndjson" "$tmp/u.ndjson" -o "$tmp/e2.npy"
# read back without NumPy: names in order of first appearance (UTF-32),
# each sketch's label an index into them, the features those of the .npy
check "the .npz reads back" 0 python3 -c '
import ast, struct, sys, zipfile
def arr(b):
    n = struct.unpack("<H", b[8:10])[0]
    return ast.literal_eval(b[10:10 + n].decode("latin1")), b[10 + n:]
z = zipfile.ZipFile(sys.argv[1])
(fh, f), (lh, l), (nh, nm) = (arr(z.read(k + ".npy")) for k in ("features", "labels", "names"))
w = int(nh["descr"][2:])
names = [nm[4 * w * i:4 * w * (i + 1)].decode("utf-32-le").rstrip("\0") for i in range(nh["shape"][0])]
labels = list(struct.unpack("<%di" % lh["shape"][0], l))
got = (names, labels, fh["descr"], fh["shape"], f == arr(open(sys.argv[2], "rb").read())[1])
want = (["star", "circle", "na\u00efve"], [0] * 8 + [1, 0, 2], "<f4", (11, 32), True)
sys.exit(0 if got == want else print(got) or 1)' "$tmp/e.npz" "$tmp/e2.npy"
check "retrieval features need the head" 1 "$sb" embed "$pre" "$tmp/mm" --features retrieval -o "$tmp/e2.csv"
contains "names the heads it has" "has no sketchretrieval head (it has: maskrec)"
check "embed from the maskrec-only model" 0 "$sb" embed "$pre" "$tmp/mm" --pool first -o "$tmp/e3.csv"

# ---- retrieve
check "retrieve index of the test split" 0 "$sb" retrieve index "$ck" "$tmp/mm" -o "$tmp/idx"
contains "index of 32 items" "32 items, model [0-9a-f]\{32\}"
check "query the indexed sketches" 0 "$sb" retrieve query "$ck" "$tmp/idx" "$tmp/mm" --top-k 3
self=$(awk -F'\t' '$3 == 1 && $1 == $4 && $6 == 0 { n++ } END { print n + 0 }' "$tmp/out")
truth "each sketch finds itself first at distance 0" "n == 32" "n = $self"
contains "label summary" "same label: top-1 1.0000"
check "draw two queries and their 3 nearest" 0 "$sb" retrieve query "$ck" "$tmp/idx" "$tmp/mm" --index 0,9 --top-k 3 \
  --svg "$tmp/q.svg"
cp "$tmp/out" "$tmp/query_svg"
# captions: each query, then its neighbours as printed (rank, item, label,
# distance); 8 cells, each with strokes; the first neighbour (the query
# itself) drawn with as many strokes as the query
bad=$(awk -F'\t' 'FNR == NR { if (NF == 6) { if ($3 == 1) want[++n] = "query " $1 ": " $2
      want[++n] = $3 ". #" $4 " " $5; dist[n] = $6 }
    next }
  /<rect/ { cell++ }
  /<line/ { lines[cell]++ }
  /<text/ { t = $0; sub(/^<text[^>]*>/, "", t); sub(/<\/text>$/, "", t); got[++m] = t }
  END { bad = m != 8 || n != 8 || cell != 8
    for (i = 1; i <= n; i++) {
      g = got[i]
      if (i in dist) { d = g; sub(/.* /, "", d); sub(/ [^ ]*$/, "", g)
        if (d - dist[i] > 6e-4 || dist[i] - d > 6e-4) bad++ }
      if (g != want[i]) bad++
    }
    for (c = 1; c <= 8; c++) if (!(lines[c] > 0)) bad++
    if (lines[1] != lines[2] || lines[5] != lines[6]) bad++
    print bad }' "$tmp/query_svg" "$tmp/q.svg")
truth "the SVG draws each query and its neighbours as printed" "b == 0" "b = $bad"
same=$(awk -F'\t' 'NF == 6 && $2 == $5' "$tmp/query_svg" | wc -l)
truth "neighbours of the query's label framed green, the others red" "g == s && r == 6 - s" \
  "s = $same; g = $(grep -c 'stroke="#2ca02c"' "$tmp/q.svg"); r = $(grep -c 'stroke="#d62728" stroke-width="3"' "$tmp/q.svg")"
check "--svg is for queries" 2 "$sb" retrieve index "$ck" "$tmp/mm" -o "$tmp/idx3" --svg "$tmp/q2.svg"
check "query from another split, batches of 3" 0 "$sb" retrieve query "$ck" "$tmp/idx" "$tmp/mm" --split valid --batch-size 3
hit=$(awk '/^same label:/ { print $4 }' "$tmp/out")
echo "# valid queries against the test index: same label top-1 $hit"
truth "retrieval top-1 on 4 classes is at least 0.5" "h >= 0.5" "h = $hit"
config rel2 "sketchretrieval" 1 rel2 "get_type: triplet"
check "train another retrieval model (1 step)" 0 "$sb" train "$tmp/rel2.yml" --quiet
check "query with the other model" 1 "$sb" retrieve query "$tmp/rel2/latest_ckpt.safetensors" "$tmp/idx" "$tmp/mm"
contains "says so" "was built by another model"
check "index with a maskrec-only checkpoint" 0 sh -c "'$sb' retrieve index '$pre' '$tmp/mm' -o '$tmp/idx2' 2>'$tmp/err'"
check "says on stderr it indexes pooled encoder features" 0 grep -q \
  "has no sketchretrieval head (it has: maskrec): indexing the encoder's features, mean-pooled (32 values), instead" \
  "$tmp/err"
check "query that index" 0 sh -c "'$sb' retrieve query '$pre' '$tmp/idx2' '$tmp/mm' --top-k 2 2>'$tmp/err'"
self=$(awk -F'\t' '$3 == 1 && $1 == $4 && $6 == 0 { n++ } END { print n + 0 }' "$tmp/out")
truth "each sketch finds itself first by its encoder features" "n == 32" "n = $self"
check "the query says so too" 0 grep -q "idx2 holds mean-pooled encoder features, not retrieval features" "$tmp/err"
check "the retrieval model refuses the encoder index" 1 "$sb" retrieve query "$ck" "$tmp/idx2" "$tmp/mm"
contains "as another model's" "was built by another model"
check "a corrupt index" 1 "$sb" retrieve query "$ck" "$tmp/all.yml" "$tmp/mm"
contains "names the file" "is not a sketchbert index file"
# Fuzzed inputs (tests/data): a dataset whose range overflows, and an index
# whose header claims a label block of 2^33 bytes in a 324-byte file.
check "index a dataset whose range overflows" 1 "$sb" retrieve index "$ck" "$src/tests/data/memmap_overflow" -o "$tmp/idx3"
contains "names class, split and range" "class circle split test sketch 0: range \[0, 9223372036854775837) is past the end"
check "an index whose label block is past its end" 1 "$sb" retrieve query "$ck" "$src/tests/data/index_label_bytes.sbindex" "$tmp/mm"
contains "names the field" "truncated or corrupt: label_bytes 8589934660"

# ---- complete
check "complete a share of two sketches" 0 "$sb" complete "$ck" "$tmp/mm" --index 0,9 --share 0.3 --seed 1 -o "$tmp/c.svg"
contains "summary" "masked points: mean |dx error|"
cp "$tmp/out" "$tmp/complete1"
check "SVG with red masked and blue predicted points" 0 sh -c "grep -q '#d62728' '$tmp/c.svg' && grep -q '#1f77b4' '$tmp/c.svg'"
check "same seed, same result" 0 "$sb" complete "$ck" "$tmp/mm" --index 0,9 --share 0.3 --seed 1 -o "$tmp/c.svg"
cp "$tmp/out" "$tmp/complete2"
check "deterministic" 0 diff "$tmp/complete2" "$tmp/complete1"
check "complete given points" 0 "$sb" complete "$ck" "$tmp/npz/circle.npz" --index 2 --points 1,4-5 -o "$tmp/c3.svg"
n=$(awk -F'\t' '$1 == 0 && ($2 == 1 || $2 == 4 || $2 == 5)' "$tmp/out" | wc -l)
truth "exactly the three points predicted" "n == 3" "n = $n"
check "a point past the sketch" 1 "$sb" complete "$ck" "$tmp/npz/circle.npz" --index 2 --points 999 -o "$tmp/c4.svg"
contains "names the point" "no point 999"
check "a point cut off by max_length" 1 "$sb" complete "$ck" "$tmp/odd.ndjson" --index 1 --points 60 -o "$tmp/c4.svg"
contains "says it is cut off" "point 60 of sketch 0 is cut off (the model takes 47 points)"
check "complete needs maskrec" 1 "$sb" complete "$tmp/rel2/latest_ckpt.safetensors" "$tmp/mm" -o "$tmp/c5.svg"
contains "names the heads it has" "has no maskrec head (it has: sketchretrieval)"

# ---- the installed tree: headers, library and sketchbert.pc; the example built against it
check "meson install --destdir" 0 meson install -C "$build" --no-rebuild --quiet --destdir "$tmp/dest"
pc=$(find "$tmp/dest" -name sketchbert.pc | head -1)
prefix=$(sed -n 's/^prefix=//p' "$pc")
check "installed headers include no internal header" 0 sh -c \
  "! grep -h '#include' '$tmp/dest$prefix'/include/sketchbert/*.h | grep -v -e '<stdint.h>' -e 'sketchbert/'"
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$tmp/dest$prefix" --cflags --libs sketchbert)
libdir=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$tmp/dest$prefix" --variable=libdir sketchbert)
check "examples/classify.c builds against the installed tree" 0 \
  "$@" -std=c11 -Wall -Wextra -Werror "$src/examples/classify.c" $flags -Wl,-rpath,"$libdir" -o "$tmp/classify"
check "it links the installed library" 0 sh -c "ldd '$tmp/classify' | grep -q '$libdir/libsketchbert.so'"
check "the example classifies an npz" 0 "$tmp/classify" "$ck" "$tmp/npz/triangle.npz" 2
contains "its lines" "^0 triangle: [a-z]* 0\.[0-9]* [a-z]* 0\.[0-9]*$"
hits=$(awk '/top-1 class equals/ { print $1 }' "$tmp/out")
truth "most triangles are triangles" "h >= 5" "h = $hits"
check "the example on ndjson" 0 "$tmp/classify" "$ck" "$tmp/odd.ndjson"
check "the example reports errors" 1 "$tmp/classify" "$pre" "$tmp/odd.ndjson"
contains "in words" "has no sketchclsinput head (it has: maskrec)"

# ---- real QuickDraw drawings (../shared/data), when present: read, cut, classify, index, complete;
# raw drawings score as Google's simplified versions of them
qd=$src/../shared/data/quickdraw/simplified
if [ -f "$qd/apple.ndjson" ] && [ -f "$qd/bee.ndjson" ]; then
  check "classify real ndjson drawings" 0 "$sb" classify "$ck" "$qd/apple.ndjson" "$qd/bee.ndjson" --limit 20
  lines=$(grep -c '^[0-9]*	\(apple\|bee\)	' "$tmp/out")
  truth "one line per drawing, labelled by word" "n == 40" "n = $lines"
  contains "real drawings longer than 47 points are cut" "sketches have more than 47 points and are cut"
  check "embed real drawings" 0 "$sb" embed "$ck" "$qd/apple.ndjson" --limit 10 -o "$tmp/real.csv"
  check "index real drawings" 0 "$sb" retrieve index "$ck" "$qd/apple.ndjson" "$qd/bee.ndjson" --limit 20 -o "$tmp/real.idx"
  check "query them" 0 "$sb" retrieve query "$ck" "$tmp/real.idx" "$qd/bee.ndjson" --limit 5 --top-k 1
  self=$(awk -F'\t' '$3 == 1 && $6 == 0' "$tmp/out" | wc -l)
  truth "each finds itself at distance 0" "n == 5" "n = $self"
  check "complete a real drawing" 0 "$sb" complete "$ck" "$qd/apple.ndjson" --index 3 -o "$tmp/real.svg"
  check "the example on real drawings" 0 "$tmp/classify" "$ck" "$qd/bee.ndjson"
  check "classify Google's simplified drawings" 0 "$sb" classify "$ck" "$qd/apple.ndjson" --limit 25 --top-k 1
  grep '^[0-9]' "$tmp/out" >"$tmp/google.cls"
  check "classify the same drawings raw" 0 "$sb" classify "$ck" "$qd/../raw/apple.ndjson" --limit 25 --top-k 1
  contains "found raw and simplified" "apple.ndjson: 25 of 25 drawings look like raw QuickDraw data (25 with time stamps"
  same=$(grep '^[0-9]' "$tmp/out" | paste - "$tmp/google.cls" | awk -F'\t' '$3 == $6' | wc -l)
  truth "most score exactly as Google's simplified ones" "n >= 20" "n = $same"
else
  echo "# no ../shared/data/quickdraw/simplified: real-data checks skipped"
fi

finish
