/* Files that appear complete or not at all: write to "<path>.tmp<pid>",
 * then flush, fsync and rename over <path>; abort removes the temporary.
 * A process killed between open and commit leaves its temporary behind;
 * sb_atomic_remove_stale removes those of a folder.
 * defines: sb_atomic_file, sb_atomic_open, sb_atomic_commit, sb_atomic_abort,
 *          sb_atomic_remove_stale */
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
/* Removes the temporaries ("<name>.tmp<pid>") in dir whose <name> ends
 * with one of the n suffixes (e.g. "_ckpt.safetensors"), printing each to
 * out (when not NULL); returns how many it removed, or -1 with the error
 * set when dir cannot be read. */
int sb_atomic_remove_stale(const char *dir, const char *const *suffixes, int n, FILE *out);

#endif
