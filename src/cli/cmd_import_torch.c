/* `sketchbert import-torch IN.pth[.tar] OUT.safetensors`: an original
 * Sketch-BERT PyTorch checkpoint to our safetensors checkpoint, without
 * Python. The conversion is src/train/torch_import.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "train/torch_import.h"

static void usage(FILE *f) {
    fprintf(f, "usage: sketchbert import-torch [--with-optimizer] [--layers N] [--heads N]\n"
               "                               IN.pth[.tar] OUT.safetensors\n\n"
               "Converts an original Sketch-BERT PyTorch checkpoint (either torch.save format) into a\n"
               "sketchbert safetensors checkpoint: netE_state and net_<task>_state for maskrec,\n"
               "sketchclsinput and sketchretrieval; with --with-optimizer also the Adam moments of\n"
               "optE_state and opt_<task>_state. Prints the inferred model shape. --layers and\n"
               "--heads supply what the weights cannot tell when args lacks layers_setting.\n"
               "Nothing in the file is executed; see docs/formats.md, \"PyTorch checkpoints\".\n");
}

static int positive(const char *s, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 1 || v > 4096) return 0;
    *out = (int)v;
    return 1;
}

int cmd_import_torch(const cli_options *o, int argc, char **argv) {
    (void)o;
    sb_torch_import_options io = {0};
    const char *paths[2] = {0};
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout), 0;
        if (!strcmp(argv[i], "--with-optimizer")) {
            io.optimizer = SB_IMPORT_OPTIMIZER;
        } else if ((!strcmp(argv[i], "--layers") || !strcmp(argv[i], "--heads")) && i + 1 < argc) {
            if (!positive(argv[i + 1], argv[i][2] == 'l' ? &io.layers : &io.heads)) {
                fprintf(stderr, "sketchbert import-torch: %s needs a positive integer\n", argv[i]);
                return 2;
            }
            i++;
        } else if (argv[i][0] != '-' && n < 2) {
            paths[n++] = argv[i];
        } else {
            fprintf(stderr, "sketchbert import-torch: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (n != 2) return usage(stderr), 2;
    if (sb_torch_import(paths[0], paths[1], &io, stdout)) {
        fprintf(stderr, "sketchbert import-torch: %s\n", sb_last_error());
        return 1;
    }
    return 0;
}
