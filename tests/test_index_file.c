/* The retrieval index file (src/api/index_file.c) without a model: a round
 * trip, and hostile sizes (the fuzzed tests/data/index_label_bytes.sbindex
 * among them) refused with the field named before anything is allocated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/index_file.h"
#include "test_util.h"

static void clear(sb_index *x) {
    for (int i = 0; i < x->n; i++) free(x->label[i]);
    free(x->label), free(x->feat);
    sb_sketches_destroy(x->sk);
    memset(x, 0, sizeof *x);
}

/* api_index_read of the bytes b[0, n) into a fresh x. */
static int read_bytes(sb_index *x, const unsigned char *b, size_t n) {
    memset(x, 0, sizeof *x);
    if (sb_sketches_create(&x->sk)) return -1;
    FILE *f = fmemopen((void *)b, n, "rb");
    if (!f) return sb_fail(SB_ERR_IO, "fmemopen failed");
    int rc = api_index_read(x, f, "mem.sbindex");
    fclose(f);
    return rc;
}

/* read_bytes of a copy of file with `bytes` bytes at `at` set to v; x is
 * cleared after. */
static int patched(const unsigned char *file, size_t n, size_t at, uint64_t v, int bytes) {
    unsigned char *b = malloc(n);
    memcpy(b, file, n);
    for (int i = 0; i < bytes; i++) b[at + i] = (unsigned char)(v >> (8 * i));
    sb_index x;
    int rc = read_bytes(&x, b, n);
    clear(&x);
    free(b);
    return rc;
}

static int cut(const unsigned char *file, size_t n) {
    sb_index x;
    int rc = read_bytes(&x, file, n);
    clear(&x);
    return rc;
}

int main(void) {
    /* Round trip: 2 items of 3 features, sketches of 2 and 1 points. */
    float feat[6] = {1.5f, -2.0f, 0.25f, 3e-7f, 1e9f, -0.0f};
    char *labels[2] = {"cat", "alarm clock"};
    const int16_t pts[9] = {1, -2, 0, 300, -32768, 1, 32767, 7, 1};
    sb_index w = {.dim = 3, .n = 2, .cap = 2, .feat = feat, .label = labels};
    memcpy(w.fingerprint, "0123456789abcdef0123456789abcdef", 33);
    if (sb_sketches_create(&w.sk) || sb_sketches_add_i16(w.sk, pts, 2, NULL) || sb_sketches_add_i16(w.sk, pts + 6, 1, NULL))
        return 1;
    char path[] = "/tmp/sketchbert_test_index_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    close(fd);
    t_check_true("save", sb_index_save(&w, path) == SB_OK);
    sb_sketches_destroy(w.sk);
    FILE *f = fopen(path, "rb");
    unsigned char file[256];
    size_t n = f ? fread(file, 1, sizeof file, f) : 0;
    if (f) fclose(f);
    remove(path);
    /* header 64, features 24, labels 16 (at 88), P at 104, lengths at 112,
     * points at 120, then the checksum trailer "SBCRC32\0" + u32 */
    t_check_true("file of 64 + 24 + 16 + 8 + 8 + 18 + 12 bytes", n == 150 && !memcmp(file + 138, "SBCRC32", 8));
    sb_index x;
    int rc = read_bytes(&x, file, n), n0 = 0, n1 = 0;
    const int16_t *p0 = rc ? NULL : sb_sketches_points(x.sk, 0, &n0), *p1 = rc ? NULL : sb_sketches_points(x.sk, 1, &n1);
    t_check_true("read back", rc == 0 && x.dim == 3 && x.n == 2 && !strcmp(x.fingerprint, w.fingerprint) &&
                                  !memcmp(x.feat, feat, sizeof feat) && !strcmp(x.label[0], "cat") &&
                                  !strcmp(x.label[1], "alarm clock") && n0 == 2 && n1 == 1 &&
                                  !memcmp(p0, pts, 6 * sizeof *pts) && !memcmp(p1, pts + 6, 3 * sizeof *pts));
    if (rc) printf("# %s\n", sb_last_error());
    clear(&x);
    t_check_error("a flipped bit", patched(file, n, 70, file[70] ^ 1u, 1), "bytes 0-138 do not match the index's checksum");
    /* The structure checks below damage the file without its trailer, as
     * written before checksums: the checksum would catch them first. */
    n = 138;

    /* Header fields: version at 8, dim at 12, n at 16, label_bytes at 56. */
    unsigned char b[512];
    memcpy(b, file, n);
    b[12] = 4, b[16 + 7] = 0x40; /* dim 4, n 2^62 + 2: n * 4 * 4 wraps to 32 */
    t_check_error("n * dim * 4 wraps", cut(b, n), "truncated or corrupt: n 4611686018427387906 items of dim 4");
    t_check_error("more items than the file holds", patched(file, n, 16, 7, 8),
                  "truncated or corrupt: n 7 items of dim 3 floats do not fit in the 74 bytes after the header");
    t_check_error("dim over an int", patched(file, n, 12, 0x80000000u, 4), "truncated or corrupt: dim 2147483648");
    t_check_error("label block past the end", patched(file, n, 56, UINT64_MAX, 8),
                  "truncated or corrupt: label_bytes 18446744073709551615 for 2 labels, but 50 bytes follow");
    t_check_error("fewer label bytes than labels", patched(file, n, 56, 1, 8), "truncated or corrupt: label_bytes 1");
    t_check_error("label block a byte short", patched(file, n, 56, 15, 8), "truncated or corrupt: P ");
    t_check_error("version 1", patched(file, n, 8, 1, 4), "index version 1, this library reads 2");
    t_check_error("file cut by a byte", cut(file, n - 1), "truncated or corrupt: P 3 points of 2 sketches do not fill the 25");
    t_check_error("file cut before P", cut(file, 108), "truncated or corrupt: no sketch block (P)");
    t_check_error("header cut", cut(file, 40), "truncated or corrupt: header (40 bytes");
    t_check_error("not an index", cut((const unsigned char *)"SBINDEY", 7), "is not a sketchbert index file");
    t_check_error("last label not terminated", patched(file, n, 103, 'x', 1), "label 1 is not terminated");
    t_check_error("a third label in the block", patched(file, n, 101, 0, 1), "2 labels do not fill label_bytes 16");
    /* P: 6 * (2^63 + 3) wraps to 18, the size of the points. */
    t_check_error("P whose bytes wrap to the block's", patched(file, n, 104, ((uint64_t)1 << 63) + 3, 8),
                  "truncated or corrupt: P 9223372036854775811 points");
    t_check_error("a sketch of no points", patched(file, n, 112, 0, 4), "sketch 0 has 0 points, 3 are left");
    t_check_error("lengths short of P", patched(file, n, 112, 1, 4), "the sketches hold 2 of P 3 points");

    /* The fuzzed file (version 1): 8 items of dim 8 and a label block of
     * 2^33 + 68 bytes in a file of 324; nothing that size may be allocated. */
    const char *dir = getenv("SKETCHBERT_FIXTURES");
    char fuzzed[1024];
    snprintf(fuzzed, sizeof fuzzed, "%s/index_label_bytes.sbindex", dir ? dir : "tests/data");
    if (!(f = fopen(fuzzed, "rb"))) {
        printf("# %s not found (SKETCHBERT_FIXTURES): skipping the fuzzed index\n", fuzzed);
    } else {
        memset(&x, 0, sizeof x);
        sb_sketches_create(&x.sk);
        t_check_error("fuzzed index (tests/data/index_label_bytes.sbindex) refused", api_index_read(&x, f, fuzzed),
                      "truncated or corrupt: label_bytes 8589934660 for 8 labels, but 4 bytes follow the features");
        clear(&x);
        /* The same as version 2, which the reader before the fix also
         * allocated 8 GiB for once the fingerprint matched. */
        rewind(f);
        size_t m = fread(b, 1, sizeof b, f);
        b[8] = 2;
        t_check_error("fuzzed index as version 2 refused", cut(b, m),
                      "truncated or corrupt: label_bytes 8589934660 for 8 labels, but 4 bytes follow the features");
        fclose(f);
    }
    return t_finish(NULL);
}
