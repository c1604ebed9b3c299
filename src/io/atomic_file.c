/* Write-to-temporary-then-rename files. */
#include "io/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/error.h"

int sb_atomic_open(sb_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->path = strdup(path);
    af->tmp_path = malloc(n);
    if (!af->path || !af->tmp_path) {
        sb_atomic_abort(af);
        return sb_fail(SB_ERR_MEMORY, "out of host memory");
    }
    snprintf(af->tmp_path, n, "%s.tmp%ld", path, (long)getpid());
    af->f = fopen(af->tmp_path, "wb");
    if (!af->f) {
        int rc = sb_fail(SB_ERR_IO, "cannot create %s: %s", af->tmp_path, strerror(errno));
        sb_atomic_abort(af);
        return rc;
    }
    return 0;
}

int sb_atomic_commit(sb_atomic_file *af) {
    int ok = !ferror(af->f) && fflush(af->f) == 0 && fsync(fileno(af->f)) == 0;
    int saved = errno;
    ok = fclose(af->f) == 0 && ok;
    af->f = NULL;
    if (!ok) {
        int rc = sb_fail(SB_ERR_IO, "writing %s failed: %s", af->path, strerror(saved ? saved : errno));
        sb_atomic_abort(af);
        return rc;
    }
    if (rename(af->tmp_path, af->path) != 0) {
        int rc = sb_fail(SB_ERR_IO, "cannot rename %s to %s: %s", af->tmp_path, af->path, strerror(errno));
        sb_atomic_abort(af);
        return rc;
    }
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
    return 0;
}

void sb_atomic_abort(sb_atomic_file *af) {
    if (af->f) fclose(af->f);
    if (af->tmp_path) remove(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

/* "<...suffix>.tmp<digits>", as sb_atomic_open names its temporaries. */
static int is_temporary_of(const char *name, const char *suffix) {
    const char *tmp = strstr(name, ".tmp");
    size_t n = strlen(suffix);
    if (!tmp || !tmp[4] || (size_t)(tmp - name) < n || strncmp(tmp - n, suffix, n)) return 0;
    for (const char *p = tmp + 4; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return 1;
}

int sb_atomic_remove_stale(const char *dir, const char *const *suffixes, int n, FILE *out) {
    DIR *d = opendir(dir);
    if (!d) {
        sb_fail(SB_ERR_IO, "cannot read the folder %s: %s", dir, strerror(errno));
        return -1;
    }
    int removed = 0;
    char path[4096];
    for (struct dirent *e; (e = readdir(d));)
        for (int i = 0; i < n; i++)
            if (is_temporary_of(e->d_name, suffixes[i])) {
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                if (remove(path) == 0) {
                    removed++;
                    if (out) fprintf(out, "removed %s, left by an interrupted write\n", path);
                }
                break;
            }
    closedir(d);
    return removed;
}

int sb_mkdir_p(const char *dir, char *created, size_t cap) {
    if (cap) created[0] = '\0';
    char *buf = strdup(dir);
    if (!buf) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    int rc = 0;
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0') continue;
        *p = '\0';
        if (mkdir(buf, 0777) == 0) {
            if (cap && !created[0]) snprintf(created, cap, "%s", buf);
        } else if (errno != EEXIST) {
            rc = sb_fail(SB_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
            break;
        }
        if (c == '\0') break;
        *p = c;
    }
    free(buf);
    return rc;
}

void sb_rmdir_created(const char *dir, const char *created) {
    char *buf = created[0] ? strdup(dir) : NULL;
    if (!buf) return;
    while (rmdir(buf) == 0 && strcmp(buf, created) != 0) {
        char *slash = strrchr(buf, '/');
        if (!slash || slash == buf) break;
        *slash = '\0';
    }
    free(buf);
}
