/* sketchbert-prepare: the same program as `sketchbert prepare`
 * (src/cli/cmd_prepare.c), under the name the data issue asks for. */
#include "cli/commands.h"

int main(int argc, char **argv) {
    cli_options o = {0};
    return cmd_prepare(&o, argc, argv);
}
