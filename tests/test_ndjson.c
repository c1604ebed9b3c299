/* Quick, Draw! ndjson reader: every line of every real simplified and raw
 * file in the shared data parses, with the drawing counts, recognized
 * counts, points per drawing and words of SOURCES.md; the first cat
 * drawing matches its text exactly; invalid lines are errors giving file,
 * line and column; hostile sizes (a drawing of millions of points, a 1 GB
 * line) are read or refused in bounded memory. */
#include <string.h>
#include <unistd.h>

#include "io/ndjson.h"
#include "io_test_util.h"

// ---- real files

typedef struct {
    const char *format; /* "simplified" or "raw" */
    int files, files_ok;
    long drawings;
} ctx;

/* | file | word | format | sketches | recognized | points min-max | ... */
static void check_file(char **cells, int n, void *vctx) {
    ctx *c = vctx;
    if (n < 6 || strcmp(cells[2], c->format) != 0) return;
    c->files++;
    char path[1024];
    io_data_path(path, sizeof path, cells[0]);
    sb_ndjson *r;
    int rc = sb_ndjson_open(&r, path);
    long count = 0, recognized = 0;
    int min_pts = 1 << 30, max_pts = 0, words_ok = 1, shape_ok = 1;
    sb_qd_drawing d;
    while (!rc && (rc = sb_ndjson_next(r, &d)) == 1) {
        rc = 0;
        count++;
        recognized += d.recognized == 1;
        if (d.n_points < min_pts) min_pts = d.n_points;
        if (d.n_points > max_pts) max_pts = d.n_points;
        words_ok &= strcmp(d.word, cells[1]) == 0 && d.key_id[0] && d.countrycode[0] && d.recognized >= 0;
        int sum = 0;
        for (int s = 0; s < d.n_strokes; s++) sum += d.stroke_len[s];
        shape_ok &= sum == d.n_points && d.n_strokes > 0 && (d.t != NULL) == (strcmp(c->format, "raw") == 0);
    }
    if (rc < 0) printf("  %s\n", sb_last_error());
    sb_ndjson_close(r);
    char range[32];
    snprintf(range, sizeof range, "%d-%d", min_pts, max_pts);
    int ok = rc == 0 && count == atol(cells[3]) && recognized == atol(cells[4]) && strcmp(range, cells[5]) == 0 &&
             words_ok && shape_ok;
    if (!ok)
        printf("  %s: %ld drawings, %ld recognized, points %s (SOURCES.md: %s, %s, %s)%s%s\n", cells[0], count,
               recognized, range, cells[3], cells[4], cells[5], words_ok ? "" : ", word/fields differ",
               shape_ok ? "" : ", stroke layout wrong");
    c->files_ok += ok;
    c->drawings += count;
}

static void check_real(void) {
    char path[1024];
    if (!io_data_path(path, sizeof path, "quickdraw")) {
        printf("SKIP real ndjson files: no shared data (SKETCHBERT_SHARED_DATA unset or missing)\n");
        return;
    }
    ctx simp = {"simplified", 0, 0, 0}, raw = {"raw", 0, 0, 0};
    io_table_rows("quickdraw/", check_file, &simp);
    io_table_rows("quickdraw/", check_file, &raw);
    char what[256];
    snprintf(what, sizeof what, "%d of %d simplified files match SOURCES.md (%ld drawings)", simp.files_ok, simp.files,
             simp.drawings);
    t_check_true(what, simp.files == 341 && simp.files_ok == simp.files && simp.drawings == 8525);
    snprintf(what, sizeof what, "%d of %d raw files match SOURCES.md (%ld drawings)", raw.files_ok, raw.files,
             raw.drawings);
    t_check_true(what, raw.files == 342 && raw.files_ok == raw.files && raw.drawings == 9509);

    /* the first cat drawing, as its text reads */
    io_data_path(path, sizeof path, "quickdraw/simplified/cat.ndjson");
    sb_ndjson *r;
    sb_qd_drawing d;
    int ok = sb_ndjson_open(&r, path) == 0 && sb_ndjson_next(r, &d) == 1 && strcmp(d.word, "cat") == 0 &&
             strcmp(d.key_id, "5201136883597312") == 0 && strcmp(d.countrycode, "VE") == 0 &&
             strcmp(d.timestamp, "2017-03-02 23:25:10.07453 UTC") == 0 && d.recognized == 1 && d.n_strokes == 9 &&
             d.stroke_len[0] == 25 && d.x[0] == 130 && d.y[0] == 72 && d.x[24] == 132 && d.y[24] == 70 &&
             d.stroke_len[8] == 2 && d.x[d.n_points - 1] == 106 && d.y[d.n_points - 1] == 113 && !d.t;
    t_check_true("simplified/cat.ndjson line 1 exact", ok);
    sb_ndjson_close(r);
    io_data_path(path, sizeof path, "quickdraw/raw/cat.ndjson");
    ok = sb_ndjson_open(&r, path) == 0 && sb_ndjson_next(r, &d) == 1 &&
         strcmp(d.key_id, "5201136883597312") == 0 && d.t && d.x[0] == 414.48199462890625f &&
         d.x[1] == 410.364013671875f && d.line == 1;
    t_check_true("raw/cat.ndjson line 1: float coordinates and times", ok);
    sb_ndjson_close(r);
}

// ---- text built here

/* Reads all of text; returns the drawing count, or the error status. */
static int read_all(const char *text) {
    sb_ndjson *r;
    SB_TRY(sb_ndjson_open_memory(&r, "mem.ndjson", text, strlen(text)));
    int n = 0, rc;
    sb_qd_drawing d;
    while ((rc = sb_ndjson_next(r, &d)) == 1) n++;
    sb_ndjson_close(r);
    return rc < 0 ? rc : n;
}

#define GOOD "{\"word\":\"cat\",\"key_id\":\"1\",\"drawing\":[[[1,2],[3,4]]]}\n"

static void check_text(void) {
    sb_qd_drawing d;
    t_check_true("three good lines, blank lines and CRLF", read_all(GOOD "\n\r\n" GOOD "  \n" GOOD) == 3);
    t_check_true("empty input has no drawings", read_all("") == 0);
    t_check_true("last line without newline", read_all(GOOD GOOD "{\"drawing\":[]}") == 3);
    static const char fancy[] = "{\"extra\":{\"a\":[1,{\"b\":null}],\"c\":true},\"word\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\\/\","
                     "\"key_id\":123,\"recognized\":false,\"countrycode\":\"DE\","
                     "\"drawing\":[[[1.5,-2e1],[3,4],[0,17]],[[5],[6],[30]]]}";
    sb_ndjson *r;
    int n = sb_ndjson_open_memory(&r, "mem.ndjson", fancy, strlen(fancy)) ? -1 : sb_ndjson_next(r, &d);
    t_check_true("escapes, numeric key_id, unknown keys, raw strokes",
                 n == 1 && strcmp(d.word, "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\"/") == 0 && strcmp(d.key_id, "123") == 0 &&
                     d.recognized == 0 && strcmp(d.countrycode, "DE") == 0 && d.n_strokes == 2 && d.n_points == 3 &&
                     d.x[1] == -20 && d.t && d.t[2] == 30 && d.timestamp[0] == 0);
    if (n >= 0) sb_ndjson_close(r);
    t_check_error("line 3 is not JSON", read_all(GOOD GOOD "this is not json\n" GOOD),
                  "mem.ndjson:3: ndjson: expected '{', found 't' at column 1");
    t_check_error("line cut short", read_all(GOOD "{\"word\":\"cat\",\"drawing\":[[[1,2],[3"),
                  "mem.ndjson:2: ndjson: expected ',' but the line ends");
    t_check_error("x and y of different lengths", read_all("{\"drawing\":[[[1,2],[3]]]}"),
                  "mem.ndjson:1: ndjson: stroke 0 has x, y arrays of different lengths");
    t_check_error("strokes with and without times", read_all("{\"drawing\":[[[1],[3]],[[1],[2],[3]]]}"),
                  "strokes mix [x, y] and [x, y, t]");
    t_check_error("text after the object", read_all("{\"drawing\":[]} x"), "unexpected text after the JSON object");
    t_check_error("no drawing", read_all("{\"word\":\"cat\"}"), "has no \"drawing\"");
    t_check_error("bad escape", read_all("{\"word\":\"c\\qt\",\"drawing\":[]}"), "bad escape '\\q'");
    t_check_error("lone surrogate", read_all("{\"word\":\"\\ud800x\",\"drawing\":[]}"), "unpaired surrogate");
    t_check_error("malformed number", read_all("{\"drawing\":[[[1.2.3],[4]]]}"), "malformed number '1.2.3'");
    /* Out-of-range values would make later float-to-integer conversions
     * undefined (lround of inf, NaN lengths in the simplifier). */
    t_check_error("x beyond 2^24", read_all("{\"drawing\":[[[100,1e300],[0,5]]]}"),
                  "value 1e300 is out of range (+-16777216)");
    t_check_error("y beyond -2^24", read_all("{\"drawing\":[[[0,5],[100,-16777217]]]}"),
                  "value -16777217 is out of range (+-16777216)");
    t_check_error("time beyond a float", read_all("{\"drawing\":[[[0,5],[1,2],[0,1e39]]]}"),
                  "value 1e39 is out of range (+-3.40282347e+38)");
    t_check_true("x at 2^24 and a large time are read", read_all("{\"drawing\":[[[0,-16777216],[1,2],[0,1e30]]]}") == 1);
    t_check_error("number where a string is expected", read_all("{\"word\":5,\"drawing\":[]}"), "expected '\"'");
    t_check_error("control character in a string", read_all("{\"word\":\"a\tb\",\"drawing\":[]}"),
                  "control character in string");
    char deep[400] = "{\"x\":";
    for (int i = 0; i < 100; i++) strcat(deep, "[");
    strcat(deep, "1");
    for (int i = 0; i < 100; i++) strcat(deep, "]");
    strcat(deep, ",\"drawing\":[]}");
    t_check_error("deeply nested unknown value", read_all(deep), "values nested deeper than 64");
    const char nul[] = "{\"drawing\":[]}\0\n";
    int rc = sb_ndjson_open_memory(&r, "mem.ndjson", nul, sizeof nul - 1);
    if (!rc) {
        rc = sb_ndjson_next(r, &d);
        sb_ndjson_close(r);
    }
    t_check_error("NUL byte in a line", rc, "mem.ndjson:1: ndjson: NUL byte");
    t_check_error("missing file", sb_ndjson_open(&r, "/nonexistent.ndjson"), "/nonexistent.ndjson: cannot open");
}

// ---- hostile sizes

static void check_hostile(void) {
    /* 3,000,000 points in one stroke (a 12 MB line) are read */
    enum { N = 3000000 };
    buf b = {0};
    buf_str(&b, "{\"word\":\"long\",\"drawing\":[[[");
    for (int axis = 0; axis < 2; axis++) {
        for (int i = 0; i < N; i++) {
            char num[16];
            snprintf(num, sizeof num, "%s%d", i ? "," : "", axis ? i % 7 : i % 1000);
            buf_str(&b, num);
        }
        buf_str(&b, axis ? "]]]}\n" : "],[");
    }
    sb_ndjson *r = NULL;
    sb_qd_drawing d;
    int rc = sb_ndjson_open_memory(&r, "long.ndjson", (const char *)b.p, b.n);
    rc = rc ? rc : sb_ndjson_next(r, &d);
    t_check_true("a drawing of 3,000,000 points is read whole",
                 rc == 1 && d.n_strokes == 1 && d.n_points == N && d.x[N - 1] == (N - 1) % 1000 &&
                     d.y[N - 1] == (N - 1) % 7 && d.x[1000] == 0);
    sb_ndjson_close(r);
    buf_free(&b);

    /* a 1 GB line (sparse file: the middle is NUL bytes on no disk space)
     * is refused at SB_NDJSON_MAX_LINE without reading it into memory */
    char path[] = "/tmp/sb_test_ndjson_XXXXXX";
    int fd = mkstemp(path);
    const char head[] = "{\"word\":\"huge\",\"drawing\":[[[1,", tail[] = "]]]}\n";
    off_t size = (off_t)1 << 30;
    int made = fd >= 0 && write(fd, head, sizeof head - 1) == (ssize_t)(sizeof head - 1) &&
               pwrite(fd, tail, sizeof tail - 1, size - (off_t)(sizeof tail - 1)) == (ssize_t)(sizeof tail - 1);
    if (fd >= 0) close(fd);
    t_check_true("1 GB sparse ndjson file made", made);
    long before = io_peak_rss_mb();
    rc = sb_ndjson_open(&r, path);
    if (!rc) {
        rc = sb_ndjson_next(r, &d);
        sb_ndjson_close(r);
    }
    long after = io_peak_rss_mb();
    unlink(path);
    t_check_error("a 1 GB line is refused", rc, ":1: ndjson: line longer than 64 MiB, refused");
    printf("  peak RSS %ld MB before the 1 GB line, %ld MB after\n", before, after);
    t_check_true("reading it grew the peak RSS by less than 256 MB", after - before < 256);
}

int main(void) {
    printf("# test_ndjson (host only)\n");
    check_text();
    check_hostile();
    check_real();
    return t_finish(NULL);
}
