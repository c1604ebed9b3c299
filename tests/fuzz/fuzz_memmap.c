/* libFuzzer target for the memmap dataset reader: the input is an
 * offsets.sbidx whose CRC-32 the harness sets (mutations would otherwise
 * stop at the checksum). It is parsed from memory; when it parses and
 * names at most 8 classes it is written to a temporary directory with a
 * sparse .dat file per class and split that holds the index's points
 * exactly (6 * points as it wraps in 64 bits where that is smaller, capped
 * at 64 MiB), except one: the input's original CRC bytes pick which, and
 * whether it is 6 bytes short, 6 bytes long or the wrapped size. Then the
 * directory is loaded with sb_mm_index_load, every split is mapped, every
 * range is checked to lie within the map (abort otherwise) and the first
 * and last point of every sketch is read. Any crash, abort, leak or
 * sanitizer report is a bug; errors are expected. Build and run:
 * tools/fuzz.sh (docs/fuzzing.md). */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/memmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_CLASSES = 8 };
#define MAX_DAT ((uint64_t)64 << 20)

static uint64_t dat_size(uint64_t points, unsigned pick) {
    uint64_t wrapped = points * 6; /* what an unchecked reader compares */
    uint64_t exact = points <= MAX_DAT / 6 ? points * 6 : (wrapped <= MAX_DAT ? wrapped : MAX_DAT);
    switch (pick & 3) {
    case 0: return exact;
    case 1: return exact >= 6 ? exact - 6 : 0;
    case 2: return exact + 6;
    default: return wrapped <= MAX_DAT ? wrapped : MAX_DAT;
    }
}

static int write_file(const char *path, const void *bytes, size_t n, uint64_t sparse) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    int ok = n ? write(fd, bytes, n) == (ssize_t)n : ftruncate(fd, (off_t)sparse) == 0;
    close(fd);
    return ok ? 0 : -1;
}

static char dir[] = "/tmp/sketchbert_fuzz_memmap_XXXXXX";

static void remove_dir(void) { rmdir(dir); } /* each input leaves it empty */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int have_dir;
    if (!have_dir) {
        if (!mkdtemp(dir)) abort();
        atexit(remove_dir);
        have_dir = 1;
    }
    if (size < 20 || size > (1u << 20)) return 0;
    unsigned char *d = malloc(size);
    memcpy(d, data, size);
    uint32_t crc = (uint32_t)crc32(0, d, (uInt)(size - 4));
    for (int i = 0; i < 4; i++) d[size - 4 + i] = (unsigned char)(crc >> (8 * i));

    sb_mm_index idx;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, SB_MM_INDEX_FILE);
    if (sb_mm_index_parse(&idx, dir, path, d, size) != 0) {
        free(d);
        return 0;
    }
    int files = idx.n_classes <= MAX_CLASSES && write_file(path, d, size, 0) == 0;
    for (uint32_t i = 0; files && i < idx.n_classes; i++)
        for (int s = 0; s < SB_N_SPLITS; s++) {
            const sb_mm_class *c = &idx.classes[i];
            uint64_t points = c->count[s] ? c->ranges[s][c->count[s] - 1].end : 0;
            unsigned pick = 3 * i + (unsigned)s == data[size - 3] % (3 * idx.n_classes) ? data[size - 4] : 0;
            if (sb_mm_dat_path(path, sizeof path, dir, c->name, s) == 0) write_file(path, NULL, 0, dat_size(points, pick));
        }
    sb_mm_index loaded;
    if (files && sb_mm_index_load(&loaded, dir) == 0) {
        volatile int sum = 0;
        for (uint32_t i = 0; i < loaded.n_classes; i++)
            for (int s = 0; s < SB_N_SPLITS; s++) {
                sb_mm_split sp;
                if (sb_mm_split_open(&sp, &loaded, i, s) != 0) continue;
                for (uint32_t k = 0; k < loaded.classes[i].count[s]; k++) {
                    sb_mm_range r = loaded.classes[i].ranges[s][k];
                    /* the reader's promise: every range lies in the map */
                    if (r.end > sp.map_bytes / 6 || r.end - r.start > SB_MM_MAX_SKETCH_POINTS) abort();
                    if (r.end > r.start) sum += sp.points[3 * r.start] + sp.points[3 * (r.end - 1) + 2];
                }
                sb_mm_split_close(&sp);
            }
        sb_mm_index_free(&loaded);
    }
    /* leave the directory empty for the next input */
    for (uint32_t i = 0; files && i < idx.n_classes; i++)
        for (int s = 0; s < SB_N_SPLITS; s++)
            if (sb_mm_dat_path(path, sizeof path, dir, idx.classes[i].name, s) == 0) unlink(path);
    snprintf(path, sizeof path, "%s/%s", dir, SB_MM_INDEX_FILE);
    unlink(path);
    sb_mm_index_free(&idx);
    free(d);
    return 0;
}
