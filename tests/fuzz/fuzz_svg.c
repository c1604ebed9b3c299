/* libFuzzer target for the SVG stroke reader: the input is read as an SVG
 * at two flattening tolerances. Any crash, leak or sanitizer report is a
 * bug; errors are expected. Build and run:
 * tools/fuzz.sh (docs/fuzzing.md). */
#include <stddef.h>
#include <stdint.h>

#include "io/svg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const double tolerances[] = {SB_SVG_TOLERANCE, 0.01};
    for (int k = 0; k < 2; k++) {
        sb_svg_drawing d;
        if (sb_svg_parse("fuzz", (const char *)data, size, tolerances[k], &d) == 0) {
            int sum = 0;
            for (int s = 0; s < d.n_strokes; s++) sum += d.stroke_len[s];
            if (sum != d.n_points) __builtin_trap(); /* strokes must account for every point */
            sb_svg_free(&d);
        }
    }
    return 0;
}
