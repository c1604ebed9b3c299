/* libFuzzer target for the safetensors reader: the input is written to a
 * temporary file (the reader takes a path), opened, and every tensor of a
 * dtype that converts is read. Any crash, leak, sanitizer report or
 * allocation over the RSS limit is a bug (the header's shapes and offsets
 * must be checked against the file first); errors are expected. Build and
 * run: tools/fuzz.sh (docs/fuzzing.md). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void remove_file(void) { unlink(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    if (fd < 0) { /* in memory where there is a tmpfs: disk writes slow each run many times over */
        snprintf(path, sizeof path, "%s/sb_fuzz_st_XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if ((fd = mkstemp(path)) < 0) abort();
        atexit(remove_file);
    }
    if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
    sb_st_file *f = NULL;
    if (sb_st_open(&f, path)) return 0;
    for (int i = 0; i < f->n_tensors; i++) {
        const sb_st_tensor *t = &f->tensors[i];
        if (sb_st_find(f, t->name) == NULL) __builtin_trap();
        /* numel was checked against the bytes in the file */
        void *dst = malloc(t->numel * 8 + 1);
        if (!dst) abort();
        if (sb_st_read_f32(f, t, dst)) (void)sb_st_read_i64(f, t, dst);
        free(dst);
    }
    (void)sb_st_meta(f, "format");
    sb_st_close(f);
    return 0;
}
