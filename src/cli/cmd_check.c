/* `sketchbert check FILE...`: verifies safetensors files (checkpoints,
 * import-torch output) by hand: structure, the checksums of the header
 * and of every tensor (io/safetensors.h), and that float tensors hold only
 * finite values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "io/safetensors.h"
#include "runtime/error.h"

static void usage(FILE *f) {
    fprintf(f, "usage: sketchbert check FILE...\n\n"
               "Verifies safetensors files (checkpoints): the header, the checksum of the\n"
               "header and of every tensor's bytes, and that float tensors hold only finite\n"
               "values. Prints one line per file; exits 1 if any file fails. Files written\n"
               "before checksums existed (or by other tools) are checked without them and\n"
               "say \"no checksum\".\n");
}

/* Non-finite values in the float tensors of f; names the first such tensor. */
static int count_nonfinite(const sb_st_file *f, uint64_t *bad, const char **first) {
    *bad = 0, *first = NULL;
    for (int i = 0; i < f->n_tensors; i++) {
        const sb_st_tensor *t = &f->tensors[i];
        if (t->dtype != SB_ST_F32 && t->dtype != SB_ST_F16 && t->dtype != SB_ST_BF16 && t->dtype != SB_ST_F64) continue;
        float *v = malloc(t->numel ? t->numel * sizeof *v : 1);
        if (!v) return sb_fail(SB_ERR_MEMORY, "%s: tensor '%s': out of host memory", f->path, t->name);
        int rc = sb_st_read_f32(f, t, v);
        uint64_t n = 0;
        for (uint64_t j = 0; j < t->numel && !rc; j++) n += !isfinite(v[j]);
        free(v);
        if (rc) return rc;
        if (n && !*first) *first = t->name;
        *bad += n;
    }
    return 0;
}

static int check_file(const char *path) {
    sb_st_file *f;
    if (sb_st_open(&f, path)) {
        fprintf(stderr, "sketchbert check: %s\n", sb_last_error());
        return 1;
    }
    uint64_t bad, bytes = 0;
    const char *first;
    int rc = count_nonfinite(f, &bad, &first);
    for (int i = 0; i < f->n_tensors; i++) bytes += f->tensors[i].end - f->tensors[i].begin;
    if (rc) fprintf(stderr, "sketchbert check: %s\n", sb_last_error());
    else if (bad)
        fprintf(stderr, "sketchbert check: %s: %llu non-finite values, the first in tensor '%s'\n", path,
                (unsigned long long)bad, first);
    else
        printf("%s: ok, %d tensors, %llu bytes, %s\n", path, f->n_tensors, (unsigned long long)bytes,
               f->checksummed ? "checksums match" : "no checksum (structure and values checked)");
    sb_st_close(f);
    return rc || bad;
}

int cmd_check(const cli_options *o, int argc, char **argv) {
    (void)o;
    int files = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout), 0;
        if (argv[i][0] == '-') {
            fprintf(stderr, "sketchbert check: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    for (int i = 1; i < argc; i++) files++, failed += check_file(argv[i]);
    if (!files) return usage(stderr), 2;
    return failed ? 1 : 0;
}
