/* The memmap sketch layout: writer (temporary names, renamed when complete)
 * and reader (index checked against the .dat files, mmap of each split). */
#include "data/memmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/checked.h"
#include "io/checksum.h"
#include "runtime/error.h"

const char *const sb_split_names[SB_N_SPLITS] = {"train", "valid", "test"};

int sb_split_from_name(const char *name) {
    for (int s = 0; s < SB_N_SPLITS; s++)
        if (strcmp(name, sb_split_names[s]) == 0) return s;
    return -1;
}

int sb_mm_dat_path(char *buf, size_t cap, const char *dir, const char *class_name, int split) {
    int n = snprintf(buf, cap, "%s/%s_%s.dat", dir, class_name, sb_split_names[split]);
    if (n < 0 || (size_t)n >= cap) return sb_fail(SB_ERR_INVALID, "path too long for class %s", class_name);
    return 0;
}

/* ---- growable byte buffer for the index */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} bytes;

static int put(bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) return sb_fail(SB_ERR_MEMORY, "out of host memory");
        b->p = q, b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
    return 0;
}

static int put_u16(bytes *b, uint16_t v) { return put(b, (unsigned char[]){v & 255, v >> 8}, 2); }
static int put_u32(bytes *b, uint32_t v) {
    unsigned char le[4] = {v & 255, (v >> 8) & 255, (v >> 16) & 255, v >> 24};
    return put(b, le, 4);
}
static int put_u64(bytes *b, uint64_t v) {
    SB_TRY(put_u32(b, (uint32_t)v));
    return put_u32(b, (uint32_t)(v >> 32));
}
static uint32_t get_u32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get_u64(const unsigned char *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

/* ---- writer */

struct sb_mm_writer {
    char *dir;
    char *final_dir; /* the folder the sum file names */
    sb_mm_index idx; /* what has been written so far */
    uint32_t cap_ranges[SB_N_SPLITS];
    FILE *files[SB_N_SPLITS];
    char **tmp_paths; /* every temporary file, renamed at finish */
    int n_tmp;
    uint32_t crc[SB_N_SPLITS]; /* of the current class's .dat files so far */
    bytes sums;                /* SB_MM_CHECKSUM_FILE lines of the classes done */
};

static char *tmp_name_of(const char *path) {
    size_t n = strlen(path) + 16;
    char *t = malloc(n);
    if (t) snprintf(t, n, "%s.tmp", path);
    return t;
}

static int remember_tmp(sb_mm_writer *w, char *path) {
    char **grown = realloc(w->tmp_paths, (size_t)(w->n_tmp + 1) * sizeof *grown);
    if (!grown) {
        free(path);
        return sb_fail(SB_ERR_MEMORY, "out of host memory");
    }
    w->tmp_paths = grown;
    w->tmp_paths[w->n_tmp++] = path;
    return 0;
}

int sb_mm_writer_open_as(sb_mm_writer **out, const char *dir, const char *final_dir) {
    *out = NULL;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return sb_fail(SB_ERR_IO, "cannot create directory %s: %s", dir, strerror(errno));
    sb_mm_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->dir = strdup(dir)) || !(w->final_dir = strdup(final_dir))) {
        if (w) free(w->dir);
        free(w);
        return sb_fail(SB_ERR_MEMORY, "out of host memory");
    }
    *out = w;
    return 0;
}

int sb_mm_writer_open(sb_mm_writer **out, const char *dir) { return sb_mm_writer_open_as(out, dir, dir); }

static int close_class_files(sb_mm_writer *w) {
    int rc = 0;
    for (int s = 0; s < SB_N_SPLITS; s++) {
        if (!w->files[s]) continue;
        if (fclose(w->files[s]) != 0 && !rc)
            rc = sb_fail(SB_ERR_IO, "writing %s: %s", w->tmp_paths[w->n_tmp - SB_N_SPLITS + s], strerror(errno));
        w->files[s] = NULL;
        char line[4200];
        int n = snprintf(line, sizeof line, "%08x  %s_%s.dat\n", (unsigned)w->crc[s],
                         w->idx.classes[w->idx.n_classes - 1].name, sb_split_names[s]);
        if (!rc) rc = put(&w->sums, line, (size_t)n);
        w->crc[s] = 0;
    }
    return rc;
}

int sb_mm_writer_begin_class(sb_mm_writer *w, const char *class_name) {
    SB_TRY(close_class_files(w));
    if (!*class_name || strchr(class_name, '/') || strchr(class_name, '\t') || strchr(class_name, '\n'))
        return sb_fail(SB_ERR_INVALID, "class name '%s' cannot be a file name", class_name);
    if (sb_mm_index_find(&w->idx, class_name) >= 0)
        return sb_fail(SB_ERR_INVALID, "class %s is given twice", class_name);
    sb_mm_class *grown = realloc(w->idx.classes, (w->idx.n_classes + 1) * sizeof *grown);
    if (!grown) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    w->idx.classes = grown;
    sb_mm_class *c = &w->idx.classes[w->idx.n_classes++];
    memset(c, 0, sizeof *c);
    memset(w->cap_ranges, 0, sizeof w->cap_ranges);
    if (!(c->name = strdup(class_name))) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    for (int s = 0; s < SB_N_SPLITS; s++) {
        char path[4096];
        SB_TRY(sb_mm_dat_path(path, sizeof path, w->dir, class_name, s));
        char *tmp = tmp_name_of(path);
        if (!tmp) return sb_fail(SB_ERR_MEMORY, "out of host memory");
        SB_TRY(remember_tmp(w, tmp));
        if (!(w->files[s] = fopen(tmp, "wb"))) return sb_fail(SB_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    }
    return 0;
}

int sb_mm_writer_add(sb_mm_writer *w, int split, const int16_t *points, uint32_t n) {
    if (w->idx.n_classes == 0 || split < 0 || split >= SB_N_SPLITS || !w->files[split])
        return sb_fail(SB_ERR_INVALID, "memmap writer: no open class or bad split %d", split);
    sb_mm_class *c = &w->idx.classes[w->idx.n_classes - 1];
    if (c->count[split] == w->cap_ranges[split]) {
        uint32_t cap = w->cap_ranges[split] ? 2 * w->cap_ranges[split] : 1024;
        sb_mm_range *r = realloc(c->ranges[split], cap * sizeof *r);
        if (!r) return sb_fail(SB_ERR_MEMORY, "out of host memory");
        c->ranges[split] = r, w->cap_ranges[split] = cap;
    }
    uint64_t start = c->count[split] ? c->ranges[split][c->count[split] - 1].end : 0;
    c->ranges[split][c->count[split]++] = (sb_mm_range){start, start + n};
    /* Little-endian on disk whatever the host. */
    unsigned char buf[3 * 2 * 256];
    for (uint32_t i = 0; i < n;) {
        uint32_t m = n - i < 256 ? n - i : 256;
        for (uint32_t k = 0; k < 3 * m; k++) {
            uint16_t v = (uint16_t)points[3 * i + k];
            buf[2 * k] = v & 255, buf[2 * k + 1] = v >> 8;
        }
        w->crc[split] = sb_crc32(w->crc[split], buf, 6 * (size_t)m);
        if (fwrite(buf, 6, m, w->files[split]) != m)
            return sb_fail(SB_ERR_IO, "writing class %s, split %s: %s", c->name, sb_split_names[split],
                           strerror(errno));
        i += m;
    }
    return 0;
}

static int write_file_tmp(sb_mm_writer *w, const char *name, const void *data, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    char *tmp = tmp_name_of(path);
    if (!tmp) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    SB_TRY(remember_tmp(w, tmp));
    FILE *f = fopen(tmp, "wb");
    if (!f) return sb_fail(SB_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    int ok = fwrite(data, 1, n, f) == n;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    if (fclose(f) != 0 || !ok) return sb_fail(SB_ERR_IO, "writing %s: %s", tmp, strerror(errno));
    return 0;
}

int sb_mm_writer_finish(sb_mm_writer *w) {
    SB_TRY(close_class_files(w));
    SB_TRY(write_file_tmp(w, SB_MM_CHECKSUM_FILE, w->sums.p ? (const void *)w->sums.p : "", w->sums.n));
    bytes b = {0};
    int rc = put(&b, SB_MM_INDEX_MAGIC, 8) || put_u32(&b, SB_MM_INDEX_VERSION) || put_u32(&b, w->idx.n_classes);
    for (uint32_t i = 0; !rc && i < w->idx.n_classes; i++) {
        const sb_mm_class *c = &w->idx.classes[i];
        size_t len = strlen(c->name);
        rc = len > 65535 || put_u16(&b, (uint16_t)len) || put(&b, c->name, len);
        for (int s = 0; !rc && s < SB_N_SPLITS; s++) rc = put_u32(&b, c->count[s]);
        for (int s = 0; !rc && s < SB_N_SPLITS; s++)
            for (uint32_t k = 0; !rc && k < c->count[s]; k++)
                rc = put_u64(&b, c->ranges[s][k].start) || put_u64(&b, c->ranges[s][k].end);
    }
    if (!rc) rc = put_u32(&b, sb_crc32(0, b.p, b.n));
    if (!rc) rc = write_file_tmp(w, SB_MM_INDEX_FILE, b.p, b.n);
    free(b.p);
    if (rc) return rc;
    /* The sum file as the original's: path to <class>.dat, then a count. */
    bytes sum = {0};
    for (uint32_t i = 0; !rc && i < w->idx.n_classes; i++) {
        const sb_mm_class *c = &w->idx.classes[i];
        char line[4500];
        int n = snprintf(line, sizeof line, "%s/%s.dat\t%u\n", w->final_dir, c->name,
                         c->count[0] + c->count[1] + c->count[2]);
        rc = put(&sum, line, (size_t)n);
    }
    if (!rc) rc = write_file_tmp(w, SB_MM_SUM_FILE, sum.p ? (const void *)sum.p : "", sum.n);
    free(sum.p);
    if (rc) return rc;
    /* Data first, index and sum file last: a reader never sees an index
     * whose .dat files are missing. */
    for (int i = 0; i < w->n_tmp; i++) {
        char *final = strdup(w->tmp_paths[i]);
        if (!final) return sb_fail(SB_ERR_MEMORY, "out of host memory");
        final[strlen(final) - 4] = '\0';
        if (rename(w->tmp_paths[i], final) != 0) {
            rc = sb_fail(SB_ERR_IO, "cannot rename %s to %s: %s", w->tmp_paths[i], final, strerror(errno));
            free(final);
            return rc;
        }
        free(final);
        w->tmp_paths[i][0] = '\0'; /* renamed: nothing to remove */
    }
    sb_mm_writer_abort(w); /* frees */
    return 0;
}

void sb_mm_writer_abort(sb_mm_writer *w) {
    if (!w) return;
    for (int s = 0; s < SB_N_SPLITS; s++)
        if (w->files[s]) fclose(w->files[s]);
    for (int i = 0; i < w->n_tmp; i++) {
        if (w->tmp_paths[i][0]) remove(w->tmp_paths[i]);
        free(w->tmp_paths[i]);
    }
    free(w->tmp_paths);
    free(w->sums.p);
    sb_mm_index_free(&w->idx);
    free(w->dir);
    free(w->final_dir);
    free(w);
}

/* ---- reader */

void sb_mm_index_free(sb_mm_index *idx) {
    for (uint32_t i = 0; i < idx->n_classes; i++) {
        free(idx->classes[i].name);
        for (int s = 0; s < SB_N_SPLITS; s++) free(idx->classes[i].ranges[s]);
    }
    free(idx->classes);
    free(idx->dir);
    memset(idx, 0, sizeof *idx);
}

int sb_mm_index_find(const sb_mm_index *idx, const char *class_name) {
    for (uint32_t i = 0; i < idx->n_classes; i++)
        if (strcmp(idx->classes[i].name, class_name) == 0) return (int)i;
    return -1;
}

static int read_whole(const char *path, unsigned char **data, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return sb_fail(SB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
        fclose(f);
        return sb_fail(SB_ERR_IO, "cannot stat %s", path);
    }
    *n = (size_t)st.st_size;
    *data = malloc(*n ? *n : 1);
    int ok = *data && fread(*data, 1, *n, f) == *n;
    fclose(f);
    if (!ok) {
        free(*data);
        return sb_fail(SB_ERR_IO, "cannot read %s", path);
    }
    return 0;
}

/* The split's ranges against its .dat file (by division, so that no
 * product of a point count from the file can wrap: 6 * (2^63 + 29) is 174),
 * then each sketch's length, which readers hold in an int. */
static int check_dat(const char *path, const sb_mm_class *c, int s) {
    struct stat st;
    if (stat(path, &st) != 0) return sb_fail(SB_ERR_IO, "%s: %s", path, strerror(errno));
    uint64_t size = (uint64_t)st.st_size, in_file = size / 6;
    const sb_mm_range *r = c->ranges[s];
    uint32_t n = c->count[s];
    if (n && r[n - 1].end > in_file) {
        uint32_t k = 0;
        while (r[k].end <= in_file) k++; /* the first one past the end */
        return sb_fail(SB_ERR_FORMAT,
                       "%s: class %s split %s sketch %u: range [%llu, %llu) is past the end of the file (%llu "
                       "bytes, %llu points): index and .dat do not match",
                       path, c->name, sb_split_names[s], k, (unsigned long long)r[k].start,
                       (unsigned long long)r[k].end, (unsigned long long)size, (unsigned long long)in_file);
    }
    uint64_t points = n ? r[n - 1].end : 0;
    if (size != points * 6)
        return sb_fail(SB_ERR_FORMAT,
                       "%s: %llu bytes, but the offsets index says %llu points (%llu bytes) for class %s split %s: "
                       "index and .dat do not match",
                       path, (unsigned long long)size, (unsigned long long)points, (unsigned long long)points * 6,
                       c->name, sb_split_names[s]);
    for (uint32_t k = 0; k < n; k++)
        if (r[k].end - r[k].start > SB_MM_MAX_SKETCH_POINTS)
            return sb_fail(SB_ERR_FORMAT, "%s: class %s split %s sketch %u: range [%llu, %llu) has more than %u points",
                           path, c->name, sb_split_names[s], k, (unsigned long long)r[k].start,
                           (unsigned long long)r[k].end, SB_MM_MAX_SKETCH_POINTS);
    return 0;
}

int sb_mm_index_parse(sb_mm_index *idx, const char *dir, const char *path, const unsigned char *d, size_t n) {
    memset(idx, 0, sizeof *idx);
#define BAD(...)                                                                                                     \
    do {                                                                                                             \
        int rc_ = sb_fail(SB_ERR_FORMAT, __VA_ARGS__);                                                               \
        sb_mm_index_free(idx);                                                                                       \
        return rc_;                                                                                                  \
    } while (0)
    if (n < 20 || memcmp(d, SB_MM_INDEX_MAGIC, 8) != 0) BAD("%s: not a sketchbert offsets index (bad magic)", path);
    if (get_u32(d + 8) != SB_MM_INDEX_VERSION)
        BAD("%s: index version %u, this build reads version %u", path, get_u32(d + 8), SB_MM_INDEX_VERSION);
    if (get_u32(d + n - 4) != sb_crc32(0, d, n - 4)) BAD("%s: checksum mismatch (file damaged)", path);
    uint32_t n_classes = get_u32(d + 12);
    size_t pos = 16, end = n - 4;
    if (n_classes > end / 14) BAD("%s: %u classes cannot fit in %zu bytes", path, n_classes, n);
    idx->classes = calloc(n_classes ? n_classes : 1, sizeof *idx->classes);
    if (!idx->classes || !(idx->dir = strdup(dir))) BAD("out of host memory");
    for (uint32_t i = 0; i < n_classes; i++) {
        sb_mm_class *c = &idx->classes[i];
        idx->n_classes = i + 1;
        if (pos + 2 > end) BAD("%s: truncated at class %u", path, i);
        size_t len = d[pos] | d[pos + 1] << 8;
        pos += 2;
        if (len == 0 || pos + len + 12 > end) BAD("%s: truncated at class %u", path, i);
        if (!(c->name = malloc(len + 1))) BAD("out of host memory");
        memcpy(c->name, d + pos, len);
        c->name[len] = '\0';
        /* The writer's rule: a name is part of a file name in dir. */
        if (strlen(c->name) != len || strchr(c->name, '/') || strchr(c->name, '\t') || strchr(c->name, '\n'))
            BAD("%s: class %u: name '%s' cannot be a file name", path, i, c->name);
        pos += len;
        for (int s = 0; s < SB_N_SPLITS; s++, pos += 4) c->count[s] = get_u32(d + pos);
        for (int s = 0; s < SB_N_SPLITS; s++) {
            if (c->count[s] > (end - pos) / 16) BAD("%s: class %s split %s: truncated", path, c->name, sb_split_names[s]);
            c->ranges[s] = malloc((c->count[s] ? c->count[s] : 1) * sizeof(sb_mm_range));
            if (!c->ranges[s]) BAD("out of host memory");
            uint64_t prev = 0;
            for (uint32_t k = 0; k < c->count[s]; k++, pos += 16) {
                sb_mm_range r = {get_u64(d + pos), get_u64(d + pos + 8)};
                if (r.start != prev || r.end < r.start)
                    BAD("%s: class %s split %s sketch %u: range [%llu, %llu) is not contiguous", path, c->name,
                        sb_split_names[s], k, (unsigned long long)r.start, (unsigned long long)r.end);
                c->ranges[s][k] = r;
                prev = r.end;
            }
        }
    }
    if (pos != end) BAD("%s: %zu unexpected trailing bytes", path, end - pos);
#undef BAD
    return 0;
}

int sb_mm_index_load(sb_mm_index *idx, const char *dir) {
    memset(idx, 0, sizeof *idx);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, SB_MM_INDEX_FILE);
    unsigned char *d = NULL;
    size_t n = 0;
    SB_TRY(read_whole(path, &d, &n));
    int rc = sb_mm_index_parse(idx, dir, path, d, n);
    free(d);
    SB_TRY(rc);
    for (uint32_t i = 0; i < idx->n_classes; i++)
        for (int s = 0; s < SB_N_SPLITS; s++) {
            rc = sb_mm_dat_path(path, sizeof path, dir, idx->classes[i].name, s);
            if (!rc) rc = check_dat(path, &idx->classes[i], s);
            if (rc) {
                sb_mm_index_free(idx);
                return rc;
            }
        }
    return 0;
}

int sb_mm_split_open(sb_mm_split *s, const sb_mm_index *idx, uint32_t cls, int split) {
    memset(s, 0, sizeof *s);
    if (cls >= idx->n_classes || split < 0 || split >= SB_N_SPLITS)
        return sb_fail(SB_ERR_INVALID, "memmap: no class %u or split %d", cls, split);
    const sb_mm_class *c = &idx->classes[cls];
    s->n_points = c->count[split] ? c->ranges[split][c->count[split] - 1].end : 0;
    if (s->n_points == 0) return 0;
    char path[4096];
    SB_TRY(sb_mm_dat_path(path, sizeof path, idx->dir, c->name, split));
    SB_TRY(check_dat(path, c, split));
    int fd = open(path, O_RDONLY);
    if (fd < 0) return sb_fail(SB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    uint64_t bytes;
    if (sb_mul_u64(s->n_points, 6, &bytes) || bytes >= SIZE_MAX) {
        close(fd);
        return sb_fail(SB_ERR_FORMAT, "%s: %llu points cannot be mapped on this machine", path,
                       (unsigned long long)s->n_points);
    }
    s->map_bytes = (size_t)bytes;
    s->map = mmap(NULL, s->map_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (s->map == MAP_FAILED) {
        s->map = NULL;
        return sb_fail(SB_ERR_IO, "cannot map %s: %s", path, strerror(errno));
    }
    s->points = s->map;
    return 0;
}

void sb_mm_split_close(sb_mm_split *s) {
    if (s->map) munmap(s->map, s->map_bytes);
    memset(s, 0, sizeof *s);
}

/* ---- checksums of the .dat files */

int sb_mm_verify_checksums(const sb_mm_index *idx, int *files) {
    *files = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", idx->dir, SB_MM_CHECKSUM_FILE);
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? 0 : sb_fail(SB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    int rc = buf ? 0 : sb_fail(SB_ERR_MEMORY, "out of host memory");
    char line[4200], name[4200];
    unsigned want;
    for (int ln = 1; !rc && fgets(line, sizeof line, f); ln++) {
        if (sscanf(line, "%8x  %4199[^\n]", &want, name) != 2 || strchr(name, '/')) {
            rc = sb_fail(SB_ERR_FORMAT, "%s:%d: not '<crc32>  <file>.dat'", path, ln);
            break;
        }
        char dat[8400];
        snprintf(dat, sizeof dat, "%s/%s", idx->dir, name);
        FILE *d = fopen(dat, "rb");
        if (!d) {
            rc = sb_fail(SB_ERR_IO, "cannot open %s (listed in %s): %s", dat, path, strerror(errno));
            break;
        }
        uint32_t crc = 0;
        for (size_t n; (n = fread(buf, 1, CHUNK, d)) > 0;) crc = sb_crc32(crc, buf, n);
        if (ferror(d)) rc = sb_fail(SB_ERR_IO, "reading %s: %s", dat, strerror(errno));
        else if (crc != want)
            rc = sb_fail(SB_ERR_FORMAT, "%s does not match its checksum in %s (%08x, now %08x): the data is damaged",
                         dat, path, want, (unsigned)crc);
        fclose(d);
        ++*files;
    }
    free(buf);
    fclose(f);
    return rc;
}
