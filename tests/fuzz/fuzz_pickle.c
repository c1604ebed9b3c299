/* libFuzzer target for the safe unpickler and the PyTorch legacy-format
 * reader: the input is decoded as a pickle (once with every global
 * accepted, once with a small allowlist) and then loaded as a torch.save
 * file. Any crash, leak or sanitizer report is a bug; errors are expected.
 * Build and run: tools/fuzz.sh (docs/fuzzing.md). */
#include <stddef.h>
#include <stdint.h>

#include "io/pickle.h"
#include "io/torch_load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const sb_pickle_global allowed[] = {{"collections", "OrderedDict"}, {"torch", "FloatStorage"},
                                               {"torch._utils", "_rebuild_tensor_v2"}};
    /* small limits keep each run fast and still exercise the limit checks */
    sb_pickle_options opt = {.max_depth = 200, .max_memo = 4096, .max_values = 1 << 16, .max_string = 1 << 20};
    sb_pickle_doc *doc = NULL;
    const sb_pickle_value *root = NULL;
    size_t used = 0;
    opt.any_global = 1;
    if (sb_pickle_load_prefix(&doc, &root, "fuzz", data, size, &opt, &used) == 0) sb_pickle_free(doc);
    opt.any_global = 0;
    opt.allowed = allowed;
    opt.n_allowed = 3;
    if (sb_pickle_load(&doc, &root, "fuzz", data, size, &opt) == 0) sb_pickle_free(doc);
    sb_torch_options topt = {.pickle = {.max_depth = 200, .max_memo = 4096, .max_values = 1 << 16}};
    sb_torch_file *f = NULL;
    if (sb_torch_load_memory(&f, "fuzz", data, size, &topt) == 0) sb_torch_free(f);
    return 0;
}
