/* The run folder (log_dir) of `sketchbert train`: one writer at a time,
 * and a run already there is never destroyed by accident.
 *
 * - Lock: <dir>/train.lock, flock()ed for the whole run and holding the
 *   writer's pid; a second train on the same folder is refused naming that
 *   pid. The file is removed when the run ends (after checking, when taking
 *   it, that the locked file is still the one at that path, so a remover
 *   and a newcomer never both think they hold it).
 * - Run files: log.jsonl, config.yml and *_ckpt.safetensors; a folder
 *   holds a run when it has log.jsonl or a checkpoint (a config.yml alone
 *   may be the user's own config).
 * - Overwrite: the old run files are moved into <dir>/replaced_run/ when
 *   the new run starts and deleted once it writes its first checkpoint; a
 *   run that fails before that gets them moved back. A replaced_run/ left
 *   by a killed process stops the next train until the user moves its
 *   files back or deletes it.
 * - A start that fails leaves nothing behind: no lock, and the folders it
 *   created are removed again when empty.
 * defines: sb_run_dir, sb_run_dir_open, sb_run_dir_find_run,
 *          sb_run_dir_set_aside, sb_run_dir_commit, sb_run_dir_close,
 *          sb_run_checkpoint */
#ifndef SB_TRAIN_RUN_DIR_H
#define SB_TRAIN_RUN_DIR_H

#include <stddef.h>

#include "io/config.h"

typedef struct sb_run_dir {
    char path[SB_CONFIG_PATH_MAX];
    char created[SB_CONFIG_PATH_MAX]; /* top-most folder this process created ("" none) */
    int lock_fd;                      /* -1: not locked */
    int set_aside;                    /* the old run waits in replaced_run/ */
} sb_run_dir;

/* Creates path (and its parents) when missing and takes the lock. */
int sb_run_dir_open(sb_run_dir *d, const char *path);

/* 1 when the folder holds run files, with what was found in `what`
 * (e.g. "latest_ckpt.safetensors at step 6, best_ckpt.safetensors,
 * log.jsonl"); 0 when it holds none. */
int sb_run_dir_find_run(const sb_run_dir *d, char *what, size_t cap);

/* Moves the run files into replaced_run/ (all or none). */
int sb_run_dir_set_aside(sb_run_dir *d);

/* The new run wrote a checkpoint: the old run set aside is deleted. */
int sb_run_dir_commit(sb_run_dir *d);

/* Ends the run: with `failed`, run files set aside come back (the new
 * run's files are removed first); then the lock is released and the
 * folders this process created are removed if empty. */
void sb_run_dir_close(sb_run_dir *d, int failed);

/* The checkpoint that represents the run in log_dir: best_ckpt, else
 * latest_ckpt; an error naming both when neither exists. */
int sb_run_checkpoint(const char *log_dir, char *path, size_t cap);

#endif
