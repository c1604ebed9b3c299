/* libFuzzer target for the QuickDraw .bin reader: records are decoded
 * until the end or the first error, and every point is touched. Any crash,
 * leak or sanitizer report is a bug; errors are expected. Build and run:
 * tools/fuzz.sh (docs/fuzzing.md). */
#include <stddef.h>
#include <stdint.h>

#include "io/qdbin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t pos = 0;
    sb_qdbin_record rec;
    volatile double sum = 0;
    while (sb_qdbin_next(data, size, &pos, "fuzz.bin", &rec) == 1) {
        const sb_drawing *d = &rec.drawing;
        int points = 0;
        for (int s = 0; s < d->n_strokes; s++) points += d->stroke_len[s];
        if (points != d->n_points || pos > size) __builtin_trap();
        for (int k = 0; k < d->n_points; k++) sum += d->x[k] + d->y[k];
        sb_drawing_free(&rec.drawing);
    }
    return 0;
}
