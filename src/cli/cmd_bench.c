/* `sketchbert bench KIND ...`: picks the benchmark (model: cmd_bench_model). */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

int cmd_bench(const cli_options *o, int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "model") == 0) return cmd_bench_model(o, argc - 1, argv + 1);
    int help = argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    if (!help && argc > 1) fprintf(stderr, "sketchbert bench: unknown benchmark '%s'\n\n", argv[1]);
    fprintf(help ? stdout : stderr,
            "usage: sketchbert bench model CONFIG.yml [OPTIONS]\n\n"
            "benchmarks:\n  model  training step and inference speed of a config's model "
            "(see `sketchbert bench model --help`)\n");
    return help ? 0 : 2;
}
