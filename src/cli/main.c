/* The `sketchbert` command: global options, then a subcommand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "ops/gemm.h"

static const struct {
    const char *name;
    int (*run)(const cli_options *, int, char **);
    const char *summary;
} commands[] = {
    {"devices", cmd_devices, "list OpenCL platforms and devices; mark the default"},
    {"demo", cmd_demo, "run a short op demo on the device and check it against the CPU"},
    {"prepare", cmd_prepare, "convert npz / ndjson / bin sketch files to the memmap layout"},
    {"render", cmd_render, "draw sketches from npz, ndjson or memmap data as SVG"},
    {"data", cmd_data, "data stats|verify DIR: sketches per class, lengths; checks"},
    {"check", cmd_check, "verify checkpoints: structure, checksums, finite values"},
    {"import-torch", cmd_import_torch, "convert an original PyTorch checkpoint to safetensors"},
    {"train", cmd_train, "train as a config says (pre-training, classification, retrieval)"},
    {"test", cmd_test, "evaluate a checkpoint: losses, accuracy, retrieval mAP"},
    {"bench", cmd_bench, "benchmarks: bench gemm, bench data DIR, bench model CONFIG"},
    {"embed", cmd_embed, "features of sketches from a trained model, to .npy or CSV"},
    {"classify", cmd_classify, "the top-k classes of sketches, with probabilities"},
    {"retrieve", cmd_retrieve, "retrieve index|query: nearest sketches of a collection"},
    {"complete", cmd_complete, "gestalt completion: mask points, predict them, draw SVG"},
    {"report", cmd_report, "report RUN_DIR: an HTML page of a run's curves, checkpoints, config"},
};
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void usage(FILE *f) {
    fprintf(f,
            "usage: sketchbert [--device INDEX|NAME] [--gemm clblast|host|auto] [--profile] COMMAND [ARGS]\n"
            "\n"
            "Sketch-BERT on any OpenCL device (version %s).\n\ncommands:\n",
            sb_version());
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\noptions:\n"
            "  --device D   device index or name substring (see `sketchbert devices`);\n"
            "               default: $SKETCHBERT_DEVICE, else the first GPU, else the first CPU\n"
            "  --gemm P     GEMM path: clblast (on the device), host (the host BLAS on mapped\n"
            "               buffers) or auto (host for CPU devices when built with one);\n"
            "               default: $SKETCHBERT_GEMM, else auto\n"
            "  --profile    print time per kernel and per GEMM shape at the end\n"
            "  --help       this text; `sketchbert COMMAND --help` for a command\n"
            "  --version    print the version\n"
            "\nexit codes: 0 success, 1 failure (the message says what failed), 2 bad usage\n");
}

sb_runtime *cli_runtime(const cli_options *o) {
    sb_runtime *rt = NULL;
    if (sb_runtime_create(&rt, o->device, o->profile ? SB_RUNTIME_PROFILE : 0)) {
        fprintf(stderr, "sketchbert: %s\n", sb_last_error());
        return NULL;
    }
    return rt;
}

int main(int argc, char **argv) {
    cli_options o = {0};
    /* Global options may come before or after the command name; remove them. */
    int n = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sketchbert: --device needs a value\n");
                return 2;
            }
            o.device = argv[++i];
        } else if (strncmp(argv[i], "--device=", 9) == 0) {
            o.device = argv[i] + 9;
        } else if (strcmp(argv[i], "--gemm") == 0 || strncmp(argv[i], "--gemm=", 7) == 0) {
            const char *v = argv[i][6] == '=' ? argv[i] + 7 : i + 1 < argc ? argv[++i] : NULL;
            if (!v || (strcmp(v, "clblast") && strcmp(v, "host") && strcmp(v, "auto"))) {
                fprintf(stderr, "sketchbert: --gemm needs clblast, host or auto\n");
                return 2;
            }
            if (!strcmp(v, "host") && !sb_gemm_host_blas()) {
                fprintf(stderr, "sketchbert: --gemm host: this build has no host BLAS (see docs/building.md)\n");
                return 2;
            }
            /* Through the environment, so that every runtime of the process
             * (the API's too) takes the same path. */
            setenv("SKETCHBERT_GEMM", v, 1);
        } else if (strcmp(argv[i], "--profile") == 0) {
            o.profile = 1;
        } else {
            argv[n++] = argv[i];
        }
    }
    argc = n;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("sketchbert %s\n", sb_version());
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(&o, argc - 1, argv + 1);
    fprintf(stderr, "sketchbert: unknown command '%s' (see sketchbert --help)\n", argv[1]);
    return 2;
}
