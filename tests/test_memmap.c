/* Memmap layout: write random sketches, read back every point; the .dat
 * checksums match and a flipped bit is named; damaged index, .dat of the
 * wrong size, hostile ranges (the fuzzed tests/data/memmap_overflow among
 * them) and aborted writes are caught; the index checksum covers an index
 * over 4 GiB (zlib's crc32 takes a 32-bit length). */
#include <dirent.h>
#include <zlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/memmap.h"
#include "test_util.h"

enum { CLASSES = 3, MAX_SKETCHES = 40, MAX_POINTS = 300 };
static int16_t sketches[CLASSES][SB_N_SPLITS][MAX_SKETCHES][MAX_POINTS * 3];
static uint32_t lengths[CLASSES][SB_N_SPLITS][MAX_SKETCHES];
static uint32_t counts[CLASSES][SB_N_SPLITS];
static const char *names[CLASSES] = {"cat", "alarm clock", "The Eiffel Tower"};

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static int write_all(const char *dir) {
    sb_mm_writer *w;
    SB_TRY(sb_mm_writer_open(&w, dir));
    int rc = 0;
    for (int c = 0; !rc && c < CLASSES; c++) {
        rc = sb_mm_writer_begin_class(w, names[c]);
        /* Interleave splits to show the order does not matter. */
        for (uint32_t k = 0; !rc && k < MAX_SKETCHES; k++)
            for (int s = 0; !rc && s < SB_N_SPLITS; s++)
                if (k < counts[c][s]) rc = sb_mm_writer_add(w, s, sketches[c][s][k], lengths[c][s][k]);
    }
    if (!rc) return sb_mm_writer_finish(w);
    sb_mm_writer_abort(w);
    return rc;
}

static size_t put_le(unsigned char *b, size_t at, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) b[at + i] = (unsigned char)(v >> (8 * i));
    return at + bytes;
}

/* dir/offsets.sbidx with one class `name` whose test split holds the given
 * [start, end) ranges (train and valid empty, so no .dat for them is
 * needed beyond an empty one), with a valid CRC; dir/<name>_test.dat
 * of dat_bytes zero bytes; empty train and valid .dat files. */
static void write_named(const char *dir, const char *name, const uint64_t *ranges, uint32_t n, uint64_t dat_bytes) {
    unsigned char b[256];
    memcpy(b, "SBMMIDX\0", 8);
    size_t len = put_le(b, 8, 1, 4); /* version */
    len = put_le(b, len, 1, 4);      /* classes */
    len = put_le(b, len, strlen(name), 2);
    memcpy(b + len, name, strlen(name)), len += strlen(name);
    len = put_le(b, put_le(b, put_le(b, len, 0, 4), 0, 4), n, 4); /* train, valid, test counts */
    for (uint32_t k = 0; k < 2 * n; k++) len = put_le(b, len, ranges[k], 8);
    len = put_le(b, len, crc32(0, b, (uInt)len), 4);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, SB_MM_INDEX_FILE);
    FILE *f = fopen(path, "wb");
    if (f) fwrite(b, 1, len, f), fclose(f);
    for (int s = 0; s < SB_N_SPLITS && !strchr(name, '/'); s++) {
        sb_mm_dat_path(path, sizeof path, dir, name, s);
        f = fopen(path, "wb");
        if (f) fclose(f);
        if (s == SB_SPLIT_TEST && truncate(path, (off_t)dat_bytes) != 0) perror(path);
    }
}

static void write_hostile(const char *dir, const uint64_t *ranges, uint32_t n, uint64_t dat_bytes) {
    write_named(dir, "cat", ranges, n, dat_bytes);
}

/* Ranges from a file are bounded by the .dat file without overflow, and
 * the refusal names class, split and range. */
static void hostile_ranges(const char *tmp) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/hostile", tmp);
    if (mkdir(dir, 0755) != 0) perror(dir);
    sb_mm_index idx;
    const uint64_t fits_none[1] = {0};
    /* 6 * (2^63 + 5) wraps to 30, the .dat file's size. */
    uint64_t wrap[] = {0, 3, 3, ((uint64_t)1 << 63) + 5};
    write_hostile(dir, wrap, 2, 30);
    t_check_error("a range whose byte size wraps to the file size", sb_mm_index_load(&idx, dir),
                  "class cat split test sketch 1: range [3, 9223372036854775813) is past the end");
    /* 6 * (2^64 / 3 + 1) wraps to 4: past the end, not a match. */
    uint64_t third[] = {0, UINT64_MAX / 3 + 1};
    write_hostile(dir, third, 1, 4);
    t_check_error("a range whose byte size wraps below the file size", sb_mm_index_load(&idx, dir),
                  "class cat split test sketch 0: range [0, 6148914691236517206) is past the end");
    /* A sketch longer than an int holds, in a sparse .dat file of 12 GiB
     * that holds its points. */
    uint64_t longest[] = {0, (uint64_t)SB_MM_MAX_SKETCH_POINTS + 1};
    write_hostile(dir, longest, 1, 6 * longest[1]);
    t_check_error("a sketch of 2^31 points", sb_mm_index_load(&idx, dir),
                  "sketch 0: range [0, 2147483648) has more than 2147483647 points");
    write_named(dir, "../cat", fits_none, 0, 0);
    t_check_error("a class name with a slash", sb_mm_index_load(&idx, dir), "class 0: name '../cat' cannot be a file name");
    uint64_t gap[] = {0, 2, 3, 5};
    write_hostile(dir, gap, 2, 30);
    t_check_error("ranges with a gap", sb_mm_index_load(&idx, dir), "sketch 1: range [3, 5) is not contiguous");
    uint64_t fits[] = {0, 2, 2, 5};
    write_hostile(dir, fits, 2, 30);
    int rc = sb_mm_index_load(&idx, dir);
    t_check_true("the same ranges within the file load", rc == 0 && idx.classes[0].count[SB_SPLIT_TEST] == 2);
    if (rc) printf("# %s\n", sb_last_error());
    else sb_mm_index_free(&idx);

    /* The fuzzed dataset: circle's test range ends at 2^63 + 29, and
     * 6 * that wraps to 174, the size of circle_test.dat. */
    const char *root = getenv("SKETCHBERT_SOURCE_ROOT");
    if (!root) {
        printf("# SKETCHBERT_SOURCE_ROOT not set: skipping tests/data/memmap_overflow\n");
        return;
    }
    snprintf(dir, sizeof dir, "%s/tests/data/memmap_overflow", root);
    rc = sb_mm_index_load(&idx, dir);
    t_check_error("fuzzed index (tests/data/memmap_overflow) refused", rc,
                  "class circle split test sketch 0: range [0, 9223372036854775837) is past the end of the file "
                  "(174 bytes, 29 points)");
    if (!rc) sb_mm_index_free(&idx);
}

/* CRC-32 of n zero bytes, by doubling with crc32_combine. */
static uint32_t crc_of_zeros(uint64_t n) {
    static const unsigned char zero = 0;
    uLong crc = 0, piece = crc32(0, &zero, 1); /* piece: the CRC of `bit` zeros */
    for (uint64_t bit = 1; bit <= n; bit <<= 1) {
        if (n & bit) crc = crc32_combine(crc, piece, (z_off_t)bit);
        piece = crc32_combine(piece, piece, (z_off_t)bit);
    }
    return (uint32_t)crc;
}

/* An index of 4 GiB + 20 bytes (zero pages of an anonymous map: no memory
 * behind them): its CRC must be over every byte, so it passes the checksum
 * and is refused for what follows it, 16 header bytes and no class. */
static void index_over_4gib(void) {
    if (sizeof(size_t) < 8) return;
    size_t n = ((size_t)1 << 32) + 20;
    unsigned char *d = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (d == MAP_FAILED) {
        printf("# no 4 GiB map: skipping the index over 4 GiB\n");
        return;
    }
    memcpy(d, SB_MM_INDEX_MAGIC, 8);
    put_le(d, 8, SB_MM_INDEX_VERSION, 4); /* and 0 classes */
    uint32_t crc = (uint32_t)crc32_combine(crc32(0, d, 16), crc_of_zeros(n - 20), (z_off_t)(n - 20));
    put_le(d, n - 4, crc, 4);
    sb_mm_index idx;
    t_check_error("an index over 4 GiB passes its checksum (then has trailing bytes)",
                  sb_mm_index_parse(&idx, "/tmp", "big.sbidx", d, n), "4294967296 unexpected trailing bytes");
    d[n - 9] ^= 1;
    t_check_error("a flipped bit past 4 GiB fails it", sb_mm_index_parse(&idx, "/tmp", "big.sbidx", d, n),
                  "checksum mismatch");
    munmap(d, n);
}

int main(void) {
    char dir[] = "/tmp/sketchbert_test_memmap_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    for (int c = 0; c < CLASSES; c++)
        for (int s = 0; s < SB_N_SPLITS; s++) {
            counts[c][s] = s == 2 && c == 1 ? 0 : 1 + t_rand_u32() % MAX_SKETCHES; /* one empty split */
            for (uint32_t k = 0; k < counts[c][s]; k++) {
                lengths[c][s][k] = 1 + t_rand_u32() % MAX_POINTS;
                for (uint32_t i = 0; i < lengths[c][s][k]; i++) {
                    sketches[c][s][k][3 * i] = (int16_t)(t_rand_u32() % 65536 - 32768);
                    sketches[c][s][k][3 * i + 1] = (int16_t)(t_rand_u32() % 2001 - 1000);
                    sketches[c][s][k][3 * i + 2] = (int16_t)(t_rand_u32() % 2);
                }
            }
        }
    t_check_true("write three classes", write_all(dir) == 0);
    t_check_true("no temporary file left", count_files(dir) == CLASSES * SB_N_SPLITS + 3);

    sb_mm_index idx;
    int rc = sb_mm_index_load(&idx, dir);
    t_check_true("index loads", rc == 0);
    if (rc) printf("# %s\n", sb_last_error());
    int same = !rc && idx.n_classes == CLASSES;
    for (int c = 0; same && c < CLASSES; c++) {
        same = strcmp(idx.classes[c].name, names[c]) == 0;
        for (int s = 0; same && s < SB_N_SPLITS; s++) {
            sb_mm_split sp;
            same = idx.classes[c].count[s] == counts[c][s] && sb_mm_split_open(&sp, &idx, c, s) == 0;
            for (uint32_t k = 0; same && k < counts[c][s]; k++) {
                sb_mm_range r = idx.classes[c].ranges[s][k];
                same = r.end - r.start == lengths[c][s][k] &&
                       memcmp(sp.points + 3 * r.start, sketches[c][s][k], lengths[c][s][k] * 6) == 0;
            }
            sb_mm_split_close(&sp);
        }
    }
    t_check_true("every point read back as written", same);

    /* checksums.crc32: all files match; a flipped bit is named; none is fine */
    int files = -1;
    t_check_true("every .dat file matches its checksum",
                 !rc && sb_mm_verify_checksums(&idx, &files) == 0 && files == CLASSES * SB_N_SPLITS);
    char dat[512], sums[512];
    sb_mm_dat_path(dat, sizeof dat, dir, names[1], SB_SPLIT_VALID);
    FILE *df = fopen(dat, "r+b");
    int byte = df ? fgetc(df) : EOF;
    if (df) fseek(df, 0, SEEK_SET), fputc(byte ^ 4, df), fclose(df);
    t_check_error("a flipped bit in a .dat file is named", rc ? -1 : sb_mm_verify_checksums(&idx, &files), dat);
    snprintf(sums, sizeof sums, "%s/%s", dir, SB_MM_CHECKSUM_FILE);
    t_check_true("a dataset without checksums verifies nothing",
                 !rc && remove(sums) == 0 && sb_mm_verify_checksums(&idx, &files) == 0 && files == 0);
    sb_mm_index_free(&idx);

    char path[512], sum[512];
    snprintf(sum, sizeof sum, "%s/%s", dir, SB_MM_SUM_FILE);
    FILE *f = fopen(sum, "r");
    char line[600] = "";
    if (f && fgets(line, sizeof line, f)) {
        char want[600];
        snprintf(want, sizeof want, "%s/cat.dat\t%u\n", dir, counts[0][0] + counts[0][1] + counts[0][2]);
        t_check_true("sum file line as the original's", strcmp(line, want) == 0);
    } else {
        t_check_true("sum file readable", 0);
    }
    if (f) fclose(f);

    /* A .dat file that lost its last point. */
    sb_mm_dat_path(path, sizeof path, dir, "cat", SB_SPLIT_TRAIN);
    uint64_t points = 0;
    for (uint32_t k = 0; k < counts[0][0]; k++) points += lengths[0][0][k];
    if (truncate(path, (off_t)(points - 1) * 6) != 0) perror(path);
    t_check_error("truncated .dat detected", sb_mm_index_load(&idx, dir), "do not match");
    /* A damaged index. */
    snprintf(path, sizeof path, "%s/%s", dir, SB_MM_INDEX_FILE);
    f = fopen(path, "r+b");
    if (f) {
        fseek(f, 20, SEEK_SET);
        fputc('X', f);
        fclose(f);
    }
    t_check_error("damaged index detected", sb_mm_index_load(&idx, dir), "checksum");

    /* A writer that fails half-way leaves nothing behind. */
    char dir2[600];
    snprintf(dir2, sizeof dir2, "%s/partial", dir);
    sb_mm_writer *w;
    sb_mm_writer_open(&w, dir2);
    sb_mm_writer_begin_class(w, "cat");
    sb_mm_writer_add(w, 0, sketches[0][0][0], lengths[0][0][0]);
    t_check_error("class name with a slash rejected", sb_mm_writer_begin_class(w, "a/b"), "cannot be a file name");
    sb_mm_writer_abort(w);
    t_check_true("aborted write leaves no file", count_files(dir2) == 0);

    hostile_ranges(dir);
    index_over_4gib();

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("# could not remove %s\n", dir);
    return t_finish(NULL);
}
