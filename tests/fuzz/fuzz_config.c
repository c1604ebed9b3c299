/* libFuzzer target for the YAML config reader with `!include`: the input
 * up to its first NUL byte is written as main.yml and the rest as inc.yml
 * in a temporary directory, and main.yml is loaded as a config (every key
 * checked), so an `!include inc.yml` in the first part reads the second.
 * Any crash, leak or sanitizer report is a bug; errors are expected.
 * Build and run: tools/fuzz.sh (docs/fuzzing.md). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) abort();
}

static char dir[64], main_yml[80], inc_yml[80];

static void remove_files(void) { unlink(main_yml), unlink(inc_yml), rmdir(dir); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!main_yml[0]) {
        /* in memory where there is a tmpfs: disk writes slow each run many times over */
        snprintf(dir, sizeof dir, "%s/sb_fuzz_cfg_XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(dir)) abort();
        atexit(remove_files);
        snprintf(main_yml, sizeof main_yml, "%s/main.yml", dir);
        snprintf(inc_yml, sizeof inc_yml, "%s/inc.yml", dir);
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t n_main = nul ? (size_t)(nul - data) : size;
    put(main_yml, data, n_main);
    put(inc_yml, nul ? nul + 1 : data, nul ? size - n_main - 1 : 0);
    sb_config cfg;
    sb_config_default(&cfg);
    if (sb_config_load(&cfg, main_yml) == 0) {
        FILE *out = fopen("/dev/null", "w");
        if (!out) abort();
        (void)sb_config_write_yaml(&cfg, out);
        fclose(out);
    }
    return 0;
}
