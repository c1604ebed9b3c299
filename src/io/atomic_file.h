/* Files that appear complete or not at all: write to "<path>.tmp<pid>",
 * then flush, fsync and rename over <path>; abort removes the temporary.
 * A process killed between open and commit leaves its temporary behind;
 * sb_atomic_remove_stale removes those of a folder. Output folders are made
 * with their parents (sb_mkdir_p), and removed again after a failure
 * (sb_rmdir_created).
 * defines: sb_atomic_file, sb_atomic_open, sb_atomic_commit, sb_atomic_abort,
 *          sb_atomic_remove_stale, sb_mkdir_p, sb_rmdir_created */
#ifndef SB_IO_ATOMIC_FILE_H
#define SB_IO_ATOMIC_FILE_H

#include <stddef.h>
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

/* Creates folder dir and the parents it lacks (mkdir -p); the top-most
 * folder it created goes to created (cap bytes; "" when none), also when it
 * fails part way. The error names the folder that could not be made. */
int sb_mkdir_p(const char *dir, char *created, size_t cap);
/* Removes dir and its parents, deepest first, up to `created` (from
 * sb_mkdir_p), while they are empty. */
void sb_rmdir_created(const char *dir, const char *created);

#endif
