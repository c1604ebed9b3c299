/* npz sketch datasets: every split of every real npz in the shared data
 * reads with the sketch counts and longest sketch of SOURCES.md, pen
 * values in {0, 1}, and sums / first points equal to NumPy's
 * (tests/data/npz_checksums.txt, written by tools/npz_fixture.py);
 * float datasets report their rounding. Damaged archives built here fail
 * with messages naming the file and member. */
#include <inttypes.h>
#include <string.h>

#include "io/npz.h"
#include "io_test_util.h"

static const char *const splits[3] = {"train", "valid", "test"};

typedef struct {
    char *fixture; /* the text of npz_checksums.txt */
    int files, matched;
} ctx;

/* The fixture line for file/split, or NULL. */
static const char *fixture_line(const char *fixture, const char *file, const char *split) {
    char key[256];
    snprintf(key, sizeof key, "\n%s %s ", file, split);
    const char *p = strstr(fixture, key);
    return p ? p + 1 : NULL;
}

static void check_split(ctx *c, const char *file, const char *split, const sb_sketch_set *s, long want_count) {
    char what[256];
    snprintf(what, sizeof what, "%s %s: %zu sketches (SOURCES.md: %ld)", file, split, s->count, want_count);
    t_check_true(what, (long)s->count == want_count);
    int pens_ok = 1;
    int64_t sum = 0, weighted = 0, k = 0, total = 0;
    for (size_t i = 0; i < s->count; i++) {
        const sb_sketch *sk = &s->sketches[i];
        total += sk->n;
        for (int j = 0; j < 3 * sk->n; j++, k++) {
            sum += sk->points[j];
            weighted += (int64_t)sk->points[j] * (k % 13 + 1);
            if (j % 3 == 2 && sk->points[j] != 0 && sk->points[j] != 1) pens_ok = 0;
        }
    }
    snprintf(what, sizeof what, "%s %s: pen values in {0, 1}", file, split);
    t_check_true(what, pens_ok);
    const char *line = c->fixture ? fixture_line(c->fixture, file, split) : NULL;
    long long f_count, f_total, f_sum, f_weighted, f_rounded;
    int f_first, v[9];
    if (!line || sscanf(line, "%*s %*s %lld %lld %lld %lld %lld %d %d %d %d %d %d %d %d %d %d", &f_count, &f_total,
                        &f_sum, &f_weighted, &f_rounded, &f_first, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                        &v[7], &v[8]) != 15) {
        snprintf(what, sizeof what, "%s %s: line in npz_checksums.txt", file, split);
        t_check_true(what, 0);
        return;
    }
    c->matched++;
    int first_ok = s->count && s->sketches[0].n == f_first;
    for (int i = 0; first_ok && i < 9 && i < 3 * s->sketches[0].n; i++) first_ok = s->sketches[0].points[i] == v[i];
    snprintf(what, sizeof what, "%s %s: points %" PRId64 ", sum %" PRId64 ", weighted %" PRId64 ", rounded %zu, "
             "first sketch equal NumPy's", file, split, total, sum, weighted, s->n_rounded);
    t_check_true(what, (long long)s->count == f_count && total == f_total && sum == f_sum && weighted == f_weighted &&
                           (long long)s->n_rounded == f_rounded && first_ok);
}

/* A row of the other/ table: | file | dataset | dtype | train | valid | test | max len | ... */
static void check_file(char **cells, int n, void *vctx) {
    ctx *c = vctx;
    size_t len = strlen(cells[0]);
    if (n < 7 || len < 4 || strcmp(cells[0] + len - 4, ".npz") != 0) return;
    c->files++;
    const char *file = strchr(cells[0], '/') + 1;
    char path[1024], what[256];
    io_data_path(path, sizeof path, cells[0]);
    sb_zip z;
    int rc = sb_zip_open(&z, path);
    int max_len = 0;
    size_t rounded = 0;
    for (int s = 0; s < 3 && !rc; s++) {
        sb_sketch_set set;
        rc = sb_npz_read_split(&z, splits[s], &set);
        if (rc) break;
        check_split(c, file, splits[s], &set, atol(cells[3 + s]));
        if (set.max_len > max_len) max_len = set.max_len;
        rounded += set.n_rounded;
        sb_sketch_set_free(&set);
    }
    sb_zip_close(&z);
    snprintf(what, sizeof what, "%s: all splits read", file);
    t_check_true(what, rc == 0);
    if (rc) {
        printf("  %s\n", sb_last_error());
        return;
    }
    snprintf(what, sizeof what, "%s: longest sketch %d (SOURCES.md: %s)", file, max_len, cells[6]);
    t_check_true(what, max_len == atoi(cells[6]));
    int is_float = strcmp(cells[2], "float64") == 0;
    snprintf(what, sizeof what, "%s: %zu values rounded to int16 (%s data)", file, rounded, cells[2]);
    t_check_true(what, is_float ? rounded > 0 : rounded == 0);
}

static void check_real(void) {
    char path[1024];
    if (!io_data_path(path, sizeof path, "other")) {
        printf("SKIP real npz datasets: no shared data (SKETCHBERT_SHARED_DATA unset or missing)\n");
        return;
    }
    const char *fx = getenv("SKETCHBERT_FIXTURES");
    snprintf(path, sizeof path, "%s/npz_checksums.txt", fx ? fx : "tests/data");
    ctx c = {io_read_file(path, NULL), 0, 0};
    t_check_true("fixture npz_checksums.txt read", c.fixture != NULL);
    int rows = io_table_rows("other/", check_file, &c);
    t_check_true("six npz datasets listed in SOURCES.md", rows >= 6 && c.files == 6);
    t_check_true("all 18 fixture lines compared", c.matched == 18);
    free(c.fixture);
}

// ---- damaged archives

/* What the last read_fake found. */
static size_t last_count, last_skipped;

/* fake.npz with train.npy = the given npy bytes, read as split "train". */
static int read_fake(const buf *npy, const char *split) {
    zip_member m = {"train.npy", npy->p, npy->n, 1};
    buf z = {0};
    zip_build(&z, &m, 1);
    sb_zip zip;
    int rc = sb_zip_open_memory(&zip, "fake.npz", z.p, z.n);
    buf_free(&z);
    if (rc) return rc;
    sb_sketch_set s;
    rc = sb_npz_read_split(&zip, split, &s);
    last_count = s.count, last_skipped = s.n_skipped;
    if (!rc) sb_sketch_set_free(&s);
    sb_zip_close(&zip);
    return rc;
}

/* An object npy of one sketch of `rows` points with `cols` columns and
 * int16 values: row k is (k % 100, -(k % 7), k % 2). */
static void one_sketch(buf *b, int rows, int cols) {
    int16_t *v = malloc(sizeof *v * (size_t)rows * (size_t)cols);
    if (!v) abort();
    for (int k = 0; k < rows; k++)
        for (int c = 0; c < cols; c++) v[(size_t)k * cols + c] = (int16_t)(c == 0 ? k % 100 : c == 1 ? -(k % 7) : k % 2);
    buf p = {0};
    pk_proto(&p, 2);
    int64_t one = 1, shape[2] = {rows, cols};
    pk_ndarray_begin(&p, 1, &one, "O8", "|");
    pk_op(&p, ']');
    pk_ndarray_begin(&p, 2, shape, "i2", "<");
    size_t bytes = 2 * (size_t)rows * (size_t)cols;
    pk_string(&p, bytes < 256 ? 'C' : 'B', v, bytes);
    pk_ndarray_end(&p);
    pk_op(&p, 'a');
    pk_ndarray_end(&p);
    pk_op(&p, '.');
    npy_build(b, 1, "|O", 0, "(1,)", p.p, p.n);
    buf_free(&p);
    free(v);
}

/* A sketch of millions of points reads; a deflate bomb (1.06 GiB of zeros
 * in about 1 MB) as train.npy is refused before anything is inflated. */
static void check_hostile(void) {
    enum { N = 4000000 };
    buf b = {0};
    one_sketch(&b, N, 3);
    zip_member m = {"train.npy", b.p, b.n, 1};
    buf z = {0};
    zip_build(&z, &m, 1);
    buf_free(&b);
    sb_zip zip;
    sb_sketch_set s;
    int rc = sb_zip_open_memory(&zip, "long.npz", z.p, z.n);
    if (!rc) {
        rc = sb_npz_read_split(&zip, "train", &s);
        sb_zip_close(&zip);
    }
    t_check_true("a sketch of 4,000,000 points reads whole",
                 !rc && s.count == 1 && s.max_len == N && s.sketches[0].points[3 * (N - 1)] == (N - 1) % 100 &&
                     s.sketches[0].points[3 * (N - 1) + 1] == -((N - 1) % 7));
    if (!rc) sb_sketch_set_free(&s);
    buf_free(&z);

    size_t bomb = ((size_t)1 << 30) + ((size_t)64 << 20);
    void *zeros = calloc(bomb, 1);
    if (!zeros) abort();
    m = (zip_member){"train.npy", zeros, bomb, 1};
    zip_build(&z, &m, 1);
    free(zeros);
    printf("  zip bomb: %zu bytes of npz inflate to %zu\n", z.n, bomb);
    long before = io_peak_rss_mb();
    rc = sb_zip_open_memory(&zip, "bomb.npz", z.p, z.n);
    if (!rc) {
        rc = sb_npz_read_split(&zip, "train", &s);
        sb_zip_close(&zip);
    }
    long after = io_peak_rss_mb();
    buf_free(&z);
    t_check_error("a zip bomb member is refused", rc, "bomb.npz:train.npy: 1140850688 bytes uncompressed, over");
    printf("  peak RSS %ld MB before reading the bomb, %ld MB after\n", before, after);
    t_check_true("reading it grew the peak RSS by less than 64 MB", after - before < 64);
}

static void check_damaged(void) {
    buf b = {0};
    one_sketch(&b, 2, 3);
    t_check_true("a one-sketch npz built here reads", read_fake(&b, "train") == 0);
    t_check_error("missing split", read_fake(&b, "test"), "fake.npz: no member test.npy (split 'test')");
    b.n = 0;
    one_sketch(&b, 2, 2);
    t_check_true("sketch of shape (2, 2) skipped and counted", read_fake(&b, "train") == 0 && last_count == 0 &&
                                                                   last_skipped == 1);
    b.n = 0;
    const double d[3] = {0};
    npy_build(&b, 1, "<c8", 0, "(3,)", d, 24);
    t_check_error("unsupported dtype member", read_fake(&b, "train"), "fake.npz:train.npy: unsupported npy dtype '<c8'");
    b.n = 0;
    npy_build(&b, 1, "<i2", 0, "(3,)", d, 6);
    t_check_error("numeric instead of object array", read_fake(&b, "train"), "expected an object array, got int16");
    b.n = 0;
    buf p = {0};
    pk_proto(&p, 2); pk_global(&p, "os", "system"); pk_text(&p, "x"); pk_op(&p, 0x85); pk_op(&p, 'R'); pk_op(&p, '.');
    npy_build(&b, 1, "|O", 0, "(1,)", p.p, p.n);
    t_check_error("pickle with os.system", read_fake(&b, "train"),
                  "fake.npz:train.npy: pickle: global os.system is not allowed");
    sb_sketch_set s;
    t_check_error("missing npz file", sb_npz_load_split("/nonexistent.npz", "train", &s), "cannot open");
    buf_free(&p);
    buf_free(&b);
}

int main(void) {
    printf("# test_npz (host only)\n");
    check_damaged();
    check_hostile();
    check_real();
    return t_finish(NULL);
}
