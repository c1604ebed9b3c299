/* Subcommands of the `sketchbert` CLI. Each takes the arguments after its
 * name and returns the process exit code (0 ok, 1 failure, 2 usage).
 * defines: cli_options, cmd_devices, cmd_demo, cmd_data, cmd_import_torch,
 *          cmd_train, cmd_test, cmd_bench, cmd_bench_data, cmd_bench_model, cmd_embed, cmd_classify,
 *          cmd_retrieve, cmd_complete, cmd_check, cmd_report, cli_runtime, cli_sets, cli_add_set */
#ifndef SB_CLI_COMMANDS_H
#define SB_CLI_COMMANDS_H

#include "runtime/runtime.h"

/* Options every command accepts before or after its name. */
typedef struct cli_options {
    const char *device; /* --device INDEX|NAME */
    int profile;        /* --profile */
} cli_options;

/* Creates the runtime for the chosen device or prints the error. */
sb_runtime *cli_runtime(const cli_options *o);

/* The --set KEY=VALUE options of a command that reads a config, in order
 * (pointers into argv), for sb_config_load_sets. */
enum { CLI_MAX_SETS = 64 };
typedef struct cli_sets {
    const char *v[CLI_MAX_SETS];
    int n;
} cli_sets;
/* Adds one; prints the error and returns 2 (bad usage) when full. */
int cli_add_set(cli_sets *s, const char *cmd, const char *set);

int cmd_devices(const cli_options *o, int argc, char **argv);
int cmd_demo(const cli_options *o, int argc, char **argv);
int cmd_data(const cli_options *o, int argc, char **argv);
int cmd_prepare(const cli_options *o, int argc, char **argv);
int cmd_render(const cli_options *o, int argc, char **argv);
int cmd_import_torch(const cli_options *o, int argc, char **argv);
int cmd_check(const cli_options *o, int argc, char **argv);
int cmd_train(const cli_options *o, int argc, char **argv);
int cmd_test(const cli_options *o, int argc, char **argv);
int cmd_bench(const cli_options *o, int argc, char **argv);
/* `bench data` (src/cli/cmd_bench_data.c), dispatched by cmd_bench. */
int cmd_bench_data(int argc, char **argv);
int cmd_embed(const cli_options *o, int argc, char **argv);
int cmd_classify(const cli_options *o, int argc, char **argv);
int cmd_retrieve(const cli_options *o, int argc, char **argv);
int cmd_report(const cli_options *o, int argc, char **argv);
int cmd_complete(const cli_options *o, int argc, char **argv);
/* `bench model`: argv[0] is "model". */
int cmd_bench_model(const cli_options *o, int argc, char **argv);

#endif
