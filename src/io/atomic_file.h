/* Files that appear complete or not at all: write to "<path>.tmp<pid>",
 * then flush, fsync and rename over <path>; abort removes the temporary.
 * defines: sb_atomic_file, sb_atomic_open, sb_atomic_commit, sb_atomic_abort */
#ifndef SB_IO_ATOMIC_FILE_H
#define SB_IO_ATOMIC_FILE_H

#include <stdio.h>

typedef struct sb_atomic_file {
    FILE *f;
    char *path, *tmp_path;
} sb_atomic_file;

int sb_atomic_open(sb_atomic_file *af, const char *path);
/* Fails (and removes the temporary) if any write to af->f failed. */
int sb_atomic_commit(sb_atomic_file *af);
void sb_atomic_abort(sb_atomic_file *af);

#endif
