/* libFuzzer target for the .npy reader: the input is parsed as a whole
 * .npy file; a numeric array is converted to int16 and float, an object
 * array's pickle is read and every element taken as an ndarray. Any crash,
 * leak or sanitizer report is a bug; errors are expected. Build and run:
 * tools/fuzz.sh (docs/fuzzing.md). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sb_npy a;
    if (sb_npy_parse(&a, "fuzz.npy", data, size)) return 0;
    if (a.dtype != SB_NPY_OBJECT) {
        /* parse checked count elements against the input, so this is bounded */
        int16_t *i16 = malloc(a.count * sizeof *i16 + 1);
        float *f32 = malloc(a.count * sizeof *f32 + 1);
        if (!i16 || !f32) abort();
        size_t rounded = 0;
        (void)sb_npy_to_i16(&a, "fuzz.npy", i16, &rounded);
        (void)sb_npy_to_f32(&a, "fuzz.npy", f32);
        free(i16), free(f32);
        return 0;
    }
    sb_pickle_doc *doc = NULL;
    sb_pickle_value *const *items = NULL;
    if (sb_npy_load_objects(&a, "fuzz.npy", &doc, &items) == 0) {
        for (size_t i = 0; i < a.count; i++) {
            sb_npy e;
            (void)sb_npy_from_pickle(&e, doc, items[i], "fuzz.npy");
        }
    }
    sb_pickle_free(doc);
    return 0;
}
