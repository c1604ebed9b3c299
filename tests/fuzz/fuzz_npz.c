/* libFuzzer target for the sketch-rnn .npz reader: the input is opened as
 * a zip archive and each of the train, valid and test splits is read into
 * int16 sketches. Any crash, leak or sanitizer report is a bug; errors are
 * expected. Build and run: tools/fuzz.sh (docs/fuzzing.md). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "io/npz.h"
#include "io/zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const splits[] = {"train", "valid", "test"};
    sb_zip z;
    if (sb_zip_open_memory(&z, "fuzz.npz", data, size)) return 0;
    for (int s = 0; s < 3; s++) {
        sb_sketch_set set;
        if (sb_npz_read_split(&z, splits[s], &set)) continue;
        volatile long sum = 0;
        for (size_t i = 0; i < set.count; i++)
            sum += set.sketches[i].points[0] + set.sketches[i].points[3 * set.sketches[i].n - 1];
        sb_sketch_set_free(&set);
    }
    sb_zip_close(&z);
    return 0;
}
