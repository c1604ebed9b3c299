/* The --set KEY=VALUE options of the commands that read a config (train,
 * test, bench model): collected in order, applied by sb_config_load_sets. */
#include <stdio.h>

#include "cli/commands.h"

int cli_add_set(cli_sets *s, const char *cmd, const char *set) {
    if (s->n == CLI_MAX_SETS) {
        fprintf(stderr, "sketchbert %s: more than %d --set options\n", cmd, CLI_MAX_SETS);
        return 2;
    }
    s->v[s->n++] = set;
    return 0;
}
