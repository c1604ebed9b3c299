/* Run folder lock, run detection and overwrite (see run_dir.h). */
#include "train/run_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "runtime/error.h"

#define ASIDE "replaced_run"
#define LOCK "train.lock"

enum { PATH_CAP = SB_CONFIG_PATH_MAX + 300 };

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && !strcmp(s + n - m, tail);
}

static int is_run_file(const char *name) {
    return !strcmp(name, "log.jsonl") || !strcmp(name, "config.yml") || ends_with(name, "_ckpt.safetensors");
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* The folders sb_run_dir_open made, deepest first, while they are empty. */
static void remove_created(sb_run_dir *d) {
    sb_rmdir_created(d->path, d->created);
    d->created[0] = '\0';
}

static int lock(sb_run_dir *d) {
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/" LOCK, d->path);
    /* a holder that ends removes the file: retry when the file we locked
     * is no longer the one at the path */
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) return sb_fail(SB_ERR_IO, "cannot create %s: %s", path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int err = errno;
            char pid[32] = "";
            ssize_t n = err == EWOULDBLOCK ? read(fd, pid, sizeof pid - 1) : 0;
            close(fd);
            if (err != EWOULDBLOCK) return sb_fail(SB_ERR_IO, "cannot lock %s: %s", path, strerror(err));
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            return sb_fail(SB_ERR_IO, "%s is in use by another `sketchbert train`%s%s%s (lock %s); wait for it to end "
                           "or train into another --log-dir", d->path, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "",
                           path);
        }
        struct stat held, now;
        if (fstat(fd, &held) == 0 && stat(path, &now) == 0 && held.st_ino == now.st_ino && held.st_dev == now.st_dev) {
            char pid[32];
            int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || write(fd, pid, (size_t)n) != n) {
                int rc = sb_fail(SB_ERR_IO, "cannot write %s: %s", path, strerror(errno));
                unlink(path);
                close(fd);
                return rc;
            }
            d->lock_fd = fd;
            return 0;
        }
        close(fd);
    }
    return sb_fail(SB_ERR_IO, "cannot lock %s: it keeps being replaced", path);
}

int sb_run_dir_open(sb_run_dir *d, const char *path) {
    memset(d, 0, sizeof *d);
    d->lock_fd = -1;
    if (!path[0]) return sb_fail(SB_ERR_INVALID, "config: log_dir is empty");
    if (snprintf(d->path, sizeof d->path, "%s", path) >= (int)sizeof d->path)
        return sb_fail(SB_ERR_INVALID, "config: log_dir is too long");
    for (size_t n = strlen(d->path); n > 1 && d->path[n - 1] == '/'; n--) d->path[n - 1] = '\0';
    int rc = sb_mkdir_p(d->path, d->created, sizeof d->created);
    if (!rc) rc = lock(d);
    char aside[PATH_CAP];
    snprintf(aside, sizeof aside, "%s/" ASIDE, d->path);
    if (!rc && exists(aside))
        rc = sb_fail(SB_ERR_INVALID, "%s holds a run set aside by an --overwrite that did not finish: move its files "
                     "back into %s to keep that run, or delete it", aside, d->path);
    if (rc) sb_run_dir_close(d, 0);
    return rc;
}

/* Calls fn(d, name) for each run file in folder `dir`; stops at an error. */
static int each_run_file(const char *dir, int (*fn)(const char *dir, const char *name, void *arg), void *arg) {
    DIR *dp = opendir(dir);
    if (!dp) return sb_fail(SB_ERR_IO, "cannot read directory %s: %s", dir, strerror(errno));
    int rc = 0;
    for (struct dirent *e; !rc && (e = readdir(dp));)
        if (is_run_file(e->d_name)) rc = fn(dir, e->d_name, arg);
    closedir(dp);
    return rc;
}

typedef struct { char *buf; size_t cap; int n; } found_list;

static void append(found_list *f, const char *item) {
    size_t len = strlen(f->buf);
    snprintf(f->buf + len, f->cap - len, "%s%s", len ? ", " : "", item);
}

/* The latest checkpoint comes first (it is what --continue resumes), with
 * its step; then up to 5 other run files. */
static int note_found(const char *dir, const char *name, void *arg) {
    found_list *f = arg;
    (void)dir;
    /* config.yml alone is no run: it may be the user's own config */
    if (!strcmp(name, "latest_ckpt.safetensors") || !strcmp(name, "config.yml")) return 0;
    if (f->n++ < 5) append(f, name);
    return 0;
}

int sb_run_dir_find_run(const sb_run_dir *d, char *what, size_t cap) {
    found_list f = {what, cap, 0};
    char path[PATH_CAP], item[128];
    what[0] = '\0';
    snprintf(path, sizeof path, "%s/latest_ckpt.safetensors", d->path);
    int latest = exists(path);
    if (latest) {
        sb_st_file *st = NULL;
        const char *t = sb_st_open(&st, path) == 0 ? sb_st_meta(st, "counters.t") : NULL;
        snprintf(item, sizeof item, "latest_ckpt.safetensors%s%.20s", t ? " at step " : "", t ? t : "");
        if (st) sb_st_close(st);
        append(&f, item);
    }
    if (each_run_file(d->path, note_found, &f)) return latest;
    if (f.n > 5) {
        snprintf(item, sizeof item, "%d more", f.n - 5);
        append(&f, item);
    }
    return latest || f.n > 0;
}

static int move_file(const char *from_dir, const char *name, const char *to_dir) {
    char from[PATH_CAP], to[PATH_CAP];
    snprintf(from, sizeof from, "%s/%s", from_dir, name);
    snprintf(to, sizeof to, "%s/%s", to_dir, name);
    if (rename(from, to) != 0) return sb_fail(SB_ERR_IO, "cannot move %s to %s: %s", from, to, strerror(errno));
    return 0;
}

static int move_to(const char *dir, const char *name, void *arg) { return move_file(dir, name, arg); }

static int move_back(const char *dir, const char *name, void *arg) {
    char parent[PATH_CAP];
    snprintf(parent, sizeof parent, "%s", dir);
    (void)arg;
    *strrchr(parent, '/') = '\0';
    return move_file(dir, name, parent);
}

static int remove_file(const char *dir, const char *name, void *arg) {
    char path[PATH_CAP];
    (void)arg;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (unlink(path) != 0) return sb_fail(SB_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int sb_run_dir_set_aside(sb_run_dir *d) {
    char aside[PATH_CAP];
    snprintf(aside, sizeof aside, "%s/" ASIDE, d->path);
    if (mkdir(aside, 0777) != 0) return sb_fail(SB_ERR_IO, "cannot create directory %s: %s", aside, strerror(errno));
    int rc = each_run_file(d->path, move_to, aside);
    if (rc) {
        /* all or none: what moved goes back */
        each_run_file(aside, move_back, NULL);
        rmdir(aside);
        return sb_fail_context(rc, "setting the old run aside");
    }
    d->set_aside = 1;
    return 0;
}

int sb_run_dir_commit(sb_run_dir *d) {
    if (!d->set_aside) return 0;
    char aside[PATH_CAP];
    snprintf(aside, sizeof aside, "%s/" ASIDE, d->path);
    SB_TRY(each_run_file(aside, remove_file, NULL));
    if (rmdir(aside) != 0) return sb_fail(SB_ERR_IO, "cannot remove directory %s: %s", aside, strerror(errno));
    d->set_aside = 0;
    return 0;
}

void sb_run_dir_close(sb_run_dir *d, int failed) {
    if (failed && d->set_aside) {
        char aside[PATH_CAP];
        snprintf(aside, sizeof aside, "%s/" ASIDE, d->path);
        /* on an error here replaced_run/ stays, and the next start says so */
        if (!each_run_file(d->path, remove_file, NULL) && !each_run_file(aside, move_back, NULL)) rmdir(aside);
        d->set_aside = 0;
    }
    if (d->lock_fd >= 0) {
        char path[PATH_CAP];
        snprintf(path, sizeof path, "%s/" LOCK, d->path);
        unlink(path); /* while still holding it (see lock) */
        close(d->lock_fd);
        d->lock_fd = -1;
    }
    remove_created(d);
}

int sb_run_checkpoint(const char *log_dir, char *path, size_t cap) {
    const char *names[] = {"best_ckpt.safetensors", "latest_ckpt.safetensors"};
    if (!path || cap < 2) return sb_fail(SB_ERR_INVALID, "sb_run_checkpoint: no room for the path");
    for (int i = 0; i < 2; i++) {
        snprintf(path, cap, "%s/%s", log_dir, names[i]);
        if (exists(path)) return 0;
    }
    path[0] = '\0';
    return sb_fail(SB_ERR_IO, "%s holds neither best_ckpt.safetensors nor latest_ckpt.safetensors (train first, "
                   "or name one with --checkpoint)", log_dir);
}
