/* libFuzzer target for the zip reader and the PyTorch zip-format reader:
 * the input is opened as a zip archive, every member is extracted (CRC
 * checked), and it is loaded as a torch.save file. Any crash, leak or
 * sanitizer report is a bug; errors are expected. Build and run:
 * tools/fuzz.sh (docs/fuzzing.md). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "io/torch_load.h"
#include "io/zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sb_zip z;
    if (sb_zip_open_memory(&z, "fuzz", data, size) == 0) {
        for (size_t i = 0; i < z.n_entries; i++) {
            unsigned char *out = NULL;
            size_t n = 0;
            if (sb_zip_extract(&z, &z.entries[i], &out, &n) == 0) free(out);
        }
        sb_zip_close(&z);
    }
    sb_torch_options topt = {.pickle = {.max_depth = 200, .max_memo = 4096, .max_values = 1 << 16}};
    sb_torch_file *f = NULL;
    if (sb_torch_load_memory(&f, "fuzz", data, size, &topt) == 0) sb_torch_free(f);
    return 0;
}
