/* libFuzzer target for the QuickDraw ndjson reader: the input is read as
 * an ndjson file until the end or the first error, and every point of
 * every drawing is touched. Any crash, leak or sanitizer report is a bug;
 * errors are expected. Build and run: tools/fuzz.sh (docs/fuzzing.md). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "io/ndjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sb_ndjson *r = NULL;
    if (sb_ndjson_open_memory(&r, "fuzz.ndjson", (const char *)data, size)) return 0;
    sb_qd_drawing d;
    volatile double sum = 0;
    while (sb_ndjson_next(r, &d) == 1) {
        int points = 0;
        for (int s = 0; s < d.n_strokes; s++) points += d.stroke_len[s];
        if (points != d.n_points) __builtin_trap();
        for (int k = 0; k < d.n_points; k++) sum += d.x[k] + d.y[k] + (d.t ? d.t[k] : 0);
        sum += (double)(strlen(d.word) + strlen(d.countrycode) + strlen(d.key_id) + strlen(d.timestamp));
    }
    sb_ndjson_close(r);
    return 0;
}
