/* libFuzzer target for the retrieval index file reader (src/api/
 * index_file.c, the part of sb_index_load that needs no model): the input
 * is read as an .sbindex through fmemopen, and every label and the first
 * and last point of every sketch of an index that loads are read. Any crash, leak, sanitizer report or allocation over
 * the RSS limit is a bug (every size in the header must be checked against
 * the input's length first); errors are expected. Build and run:
 * tools/fuzz.sh (docs/fuzzing.md). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/index_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0; /* fmemopen needs a byte */
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f) return 0;
    sb_index x;
    memset(&x, 0, sizeof x);
    if (sb_sketches_create(&x.sk)) abort();
    if (api_index_read(&x, f, "fuzz") == 0) {
        volatile size_t chars = 0;
        for (int i = 0; i < x.n; i++) chars += strlen(x.label[i]);
        volatile float first = x.n && x.dim ? x.feat[0] + x.feat[(size_t)x.n * x.dim - 1] : 0;
        (void)first;
        for (int i = 0; i < sb_sketches_count(x.sk); i++) {
            int n = 0;
            const int16_t *p = sb_sketches_points(x.sk, i, &n);
            chars += (size_t)(p[0] + p[3 * n - 1]);
        }
    }
    for (int i = 0; i < x.n; i++) free(x.label[i]); /* what was read, also after an error */
    free(x.label), free(x.feat);
    sb_sketches_destroy(x.sk);
    fclose(f);
    return 0;
}
