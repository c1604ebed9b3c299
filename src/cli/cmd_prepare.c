/* `sketchbert prepare` (also installed as `sketchbert-prepare`): sketch
 * files to the memmap layout (src/data/memmap.h, docs/formats.md).
 * Inputs: sketch-rnn .npz (splits kept), QuickDraw ndjson (simplified or
 * raw) and .bin, and TU-Berlin SVG folders or filelist.txt (seeded split). Classes are converted by worker threads and
 * written in input order by the main thread into a folder beside --out,
 * which is renamed to --out only when every class is done: a failure
 * leaves no folder, or the dataset that was there, as it was. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "data/memmap.h"
#include "data/quickdraw.h"
#include "data/rng.h"
#include "io/atomic_file.h"
#include "io/ndjson.h"
#include "io/npz.h"
#include "io/qdbin.h"
#include "io/svg.h"

typedef enum { IN_NPZ, IN_NDJSON, IN_BIN, IN_SVG } in_kind;

typedef struct {
    double value;
    int percent;
} split_size;

typedef struct {
    const char *out_dir;
    split_size valid, test;
    long max_per_class; /* 0: all */
    uint64_t seed;
    double svg_tolerance;
    int simplify, threads, quiet, overwrite;
} options;

/* The sketches of one split, points in one growing block. */
typedef struct {
    int16_t *pts;
    size_t n_pts, cap_pts;
    uint32_t *len;
    size_t count, cap;
} sketch_list;

typedef struct {
    char *path;
    char name[256];
    in_kind kind;
    char **svgs; /* IN_SVG: the class's files */
    int n_svgs;
    sketch_list split[SB_N_SPLITS];
    size_t skipped, rounded;
    int done, rc;
    char error[1024];
} job;

typedef struct {
    const options *opt;
    job *jobs;
    int n_jobs, next, written;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} pool;

static void usage(FILE *f) {
    fprintf(f,
            "usage: sketchbert prepare --out DIR [options] (FILE... | --list LIST)\n"
            "\n"
            "Converts sketch files to the memmap layout read by `sketchbert train`:\n"
            "DIR/<class>_{train,valid,test}.dat, DIR/memmap_sum.txt, DIR/offsets.sbidx.\n"
            "One class per input file, named after the file (cat.npz -> cat), or per SVG folder.\n"
            "\n"
            "inputs:\n"
            "  *.npz      sketch-rnn stroke-3 sets; train/valid/test kept (float sets are rounded)\n"
            "  *.ndjson   QuickDraw simplified or raw drawings; split by --valid/--test\n"
            "  *.bin      QuickDraw binary drawings; split by --valid/--test\n"
            "  FOLDER     TU-Berlin SVGs: FOLDER/<class>/<n>.svg, one class per subfolder (or a\n"
            "             class folder of .svg files); split by --valid/--test\n"
            "  filelist.txt  TU-Berlin's list of <class>/<n>.svg paths (relative to its folder)\n"
            "\n"
            "options:\n"
            "  --list LIST       read input paths from LIST, one per line (first tab field,\n"
            "                    like the original's npz_sum.txt)\n"
            "  --out DIR         output directory (created, parents too; an existing one must be empty)\n"
            "  --overwrite       replace the dataset in an existing DIR as a whole (only\n"
            "                    when DIR holds nothing but prepare's files)\n"
            "  --valid N | P%%    valid sketches per class for ndjson/bin/SVG (default 5%%)\n"
            "  --test N | P%%     test sketches per class for ndjson/bin/SVG (default 5%%)\n"
            "  --max-per-class N use the first N drawings of each ndjson/bin file or SVG class\n"
            "  --seed S          seed of the ndjson/bin/SVG split (default 0)\n"
            "  --simplify        raw ndjson and SVG: simplify as Google did (align, scale to\n"
            "                    255, resample at 1 px, RDP epsilon 2); default keeps raw coordinates\n"
            "  --svg-tolerance T SVG Bezier flattening: points within T canvas units of the\n"
            "                    curve (default 0.5)\n"
            "  --threads N       conversion threads (default: number of cores)\n"
            "  --quiet           no progress lines\n"
            "\n"
            "exit codes: 0 done, 1 an input or the output failed (nothing is left half-written), 2 bad usage\n");
}

/* ---- sketch lists */

static int list_add(sketch_list *l, const int16_t *pts, uint32_t n) {
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        uint32_t *len = realloc(l->len, cap * sizeof *len);
        if (!len) return sb_fail(SB_ERR_MEMORY, "out of host memory");
        l->len = len, l->cap = cap;
    }
    if (l->n_pts + n > l->cap_pts) {
        size_t cap = l->cap_pts ? 2 * l->cap_pts : 4096;
        while (cap < l->n_pts + n) cap *= 2;
        int16_t *pts = realloc(l->pts, cap * 3 * sizeof *pts);
        if (!pts) return sb_fail(SB_ERR_MEMORY, "out of host memory");
        l->pts = pts, l->cap_pts = cap;
    }
    memcpy(l->pts + 3 * l->n_pts, pts, (size_t)n * 3 * sizeof *pts);
    l->n_pts += n;
    l->len[l->count++] = n;
    return 0;
}

static void list_free(sketch_list *l) {
    free(l->pts);
    free(l->len);
    memset(l, 0, sizeof *l);
}

static void job_free(job *j) {
    for (int s = 0; s < SB_N_SPLITS; s++) list_free(&j->split[s]);
    sb_svg_list_free(j->svgs, j->n_svgs);
    free(j->path);
}

/* ---- conversion of one input */

static int convert_npz(job *j) {
    for (int s = 0; s < SB_N_SPLITS; s++) {
        sb_sketch_set set;
        SB_TRY(sb_npz_load_split(j->path, sb_split_names[s], &set));
        int rc = 0;
        for (size_t k = 0; !rc && k < set.count; k++) {
            if (set.sketches[k].n == 0) j->skipped++;
            else rc = list_add(&j->split[s], set.sketches[k].points, (uint32_t)set.sketches[k].n);
        }
        j->skipped += set.n_skipped, j->rounded += set.n_rounded;
        sb_sketch_set_free(&set);
        if (rc) return rc;
    }
    return 0;
}

/* One drawing (simplified first when asked and raw) into `all`. */
static int add_drawing(job *j, const options *o, const sb_drawing *d, int raw, sketch_list *all) {
    sb_drawing simple = {0};
    const sb_drawing *use = d;
    if (d->n_points == 0) return j->skipped++, 0;
    if (raw && o->simplify) {
        SB_TRY(sb_drawing_simplify(d, &simple));
        use = &simple;
    }
    int16_t *pts;
    uint32_t n;
    int rc = sb_drawing_to_stroke3(use, &pts, &n);
    sb_drawing_free(&simple);
    if (rc) return rc;
    rc = list_add(all, pts, n);
    free(pts);
    return rc;
}

static int convert_ndjson(job *j, const options *o, sketch_list *all) {
    sb_ndjson *r;
    SB_TRY(sb_ndjson_open(&r, j->path));
    sb_qd_drawing q;
    int got, rc = 0;
    while (!rc && (o->max_per_class <= 0 || (long)all->count < o->max_per_class) && (got = sb_ndjson_next(r, &q)) == 1) {
        sb_drawing d = {q.n_strokes, q.stroke_len, q.n_points, q.x, q.y, NULL};
        rc = add_drawing(j, o, &d, q.t != NULL, all);
        if (rc) sb_fail_context(rc, "%s:%ld", j->path, q.line);
    }
    if (!rc && got < 0) rc = got;
    sb_ndjson_close(r);
    return rc;
}

static int convert_bin(job *j, const options *o, sketch_list *all) {
    FILE *f = fopen(j->path, "rb");
    if (!f) return sb_fail(SB_ERR_IO, "cannot open %s: %s", j->path, strerror(errno));
    struct stat st;
    unsigned char *data = NULL;
    size_t size = 0;
    int ok = fstat(fileno(f), &st) == 0 && (data = malloc((size_t)st.st_size + 1));
    if (ok) size = (size_t)st.st_size, ok = fread(data, 1, size, f) == size;
    fclose(f);
    if (!ok) {
        free(data);
        return sb_fail(SB_ERR_IO, "cannot read %s", j->path);
    }
    size_t pos = 0;
    sb_qdbin_record rec;
    int got, rc = 0;
    while (!rc && (o->max_per_class <= 0 || (long)all->count < o->max_per_class) &&
           (got = sb_qdbin_next(data, size, &pos, j->path, &rec)) == 1) {
        rc = add_drawing(j, o, &rec.drawing, 0, all);
        sb_drawing_free(&rec.drawing);
    }
    if (!rc && got < 0) rc = got;
    free(data);
    return rc;
}

static size_t split_count(split_size s, size_t total) {
    return s.percent ? (size_t)(s.value / 100.0 * (double)total) : (size_t)s.value;
}

/* A seeded split of `all`: valid, test, and the rest to train; each split
 * keeps the file's order. The seed is mixed with the class name so classes
 * get independent splits. */
static int split_drawings(job *j, const options *o, sketch_list *all) {
    size_t n = all->count, n_valid = split_count(o->valid, n), n_test = split_count(o->test, n);
    if (n_valid + n_test >= n && n > 0)
        return sb_fail(SB_ERR_INVALID, "%s: %zu drawings cannot give %zu valid + %zu test and keep any for training",
                       j->path, n, n_valid, n_test);
    int32_t *perm = malloc((n ? n : 1) * sizeof *perm);
    unsigned char *which = malloc(n ? n : 1);
    size_t *start = malloc((n ? n : 1) * sizeof *start);
    if (!perm || !which || !start) {
        free(perm), free(which), free(start);
        return sb_fail(SB_ERR_MEMORY, "out of host memory");
    }
    uint64_t h = 1469598103934665603ull;
    for (const char *c = j->name; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    sb_rng r;
    sb_rng_seed_key(&r, o->seed, h, 0);
    for (size_t i = 0; i < n; i++) perm[i] = (int32_t)i, which[i] = SB_SPLIT_TRAIN;
    sb_rng_choose(&r, perm, n, n_valid + n_test);
    for (size_t i = 0; i < n_valid + n_test; i++) which[perm[i]] = i < n_valid ? SB_SPLIT_VALID : SB_SPLIT_TEST;
    for (size_t i = 0, at = 0; i < n; at += all->len[i++]) start[i] = at;
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) rc = list_add(&j->split[which[i]], all->pts + 3 * start[i], all->len[i]);
    free(perm), free(which), free(start);
    return rc;
}

static int convert_svg(job *j, const options *o, sketch_list *all) {
    int rc = 0;
    for (int k = 0; !rc && k < j->n_svgs && (o->max_per_class <= 0 || (long)all->count < o->max_per_class); k++) {
        sb_svg_drawing s;
        if ((rc = sb_svg_read(j->svgs[k], o->svg_tolerance, &s))) break;
        sb_drawing d = {s.n_strokes, s.stroke_len, s.n_points, s.x, s.y, NULL};
        rc = add_drawing(j, o, &d, 1, all);
        if (rc) sb_fail_context(rc, "%s", j->svgs[k]);
        sb_svg_free(&s);
    }
    return rc;
}

static int convert(job *j, const options *o) {
    if (j->kind == IN_NPZ) return convert_npz(j);
    sketch_list all = {0};
    int rc = j->kind == IN_NDJSON ? convert_ndjson(j, o, &all)
             : j->kind == IN_BIN  ? convert_bin(j, o, &all)
                                  : convert_svg(j, o, &all);
    if (!rc) rc = split_drawings(j, o, &all);
    list_free(&all);
    return rc;
}

/* ---- threads */

static void *worker(void *arg) {
    pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        /* Stay at most 2 x threads classes ahead of the writer (memory). */
        while (p->next < p->n_jobs && p->next >= p->written + 2 * p->opt->threads) pthread_cond_wait(&p->cv, &p->mu);
        if (p->next >= p->n_jobs) break;
        job *j = &p->jobs[p->next++];
        pthread_mutex_unlock(&p->mu);
        int rc = convert(j, p->opt);
        pthread_mutex_lock(&p->mu);
        j->rc = rc;
        if (rc) snprintf(j->error, sizeof j->error, "%s", sb_last_error());
        j->done = 1;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- inputs */

/* A new job for class `name` (name_len bytes) read from path. */
static int new_job(job **jobs, int *n, const char *path, const char *name, int name_len, in_kind kind,
                   const char *where) {
    job *grown = realloc(*jobs, (size_t)(*n + 1) * sizeof *grown);
    if (!grown) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    *jobs = grown;
    job *j = &grown[(*n)++];
    memset(j, 0, sizeof *j);
    j->kind = kind;
    if (!(j->path = strdup(path))) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    snprintf(j->name, sizeof j->name, "%.*s", name_len, name);
    for (int k = 0; k < *n - 1; k++)
        if (!strcmp(grown[k].name, j->name))
            return sb_fail(SB_ERR_INVALID, "%s%s: class %s is given twice (also %s)", where, path, j->name,
                           grown[k].path);
    return 0;
}

static const char *base_name(const char *path) {
    const char *base = strrchr(path, '/');
    return base ? base + 1 : path;
}

/* A TU-Berlin folder: one class per subfolder holding .svg files, or the
 * folder itself as one class when it holds them. */
static int add_svg_folder(job **jobs, int *n, const char *dir, const char *where) {
    char **svgs, **subs;
    int n_svgs, n_subs, before = *n;
    SB_TRY(sb_svg_list(dir, 0, &svgs, &n_svgs));
    if (n_svgs) {
        size_t len = strlen(dir);
        while (len > 1 && dir[len - 1] == '/') len--;
        char class_dir[4096];
        snprintf(class_dir, sizeof class_dir, "%.*s", (int)len, dir);
        const char *name = base_name(class_dir);
        int rc = new_job(jobs, n, class_dir, name, (int)strlen(name), IN_SVG, where);
        if (!rc) (*jobs)[*n - 1].svgs = svgs, (*jobs)[*n - 1].n_svgs = n_svgs;
        else sb_svg_list_free(svgs, n_svgs);
        return rc;
    }
    sb_svg_list_free(svgs, 0);
    SB_TRY(sb_svg_list(dir, 1, &subs, &n_subs));
    int rc = 0;
    for (int k = 0; !rc && k < n_subs; k++) {
        if ((rc = sb_svg_list(subs[k], 0, &svgs, &n_svgs)) || !n_svgs) {
            sb_svg_list_free(svgs, 0);
            continue;
        }
        const char *name = base_name(subs[k]);
        rc = new_job(jobs, n, subs[k], name, (int)strlen(name), IN_SVG, where);
        if (!rc) (*jobs)[*n - 1].svgs = svgs, (*jobs)[*n - 1].n_svgs = n_svgs;
        else sb_svg_list_free(svgs, n_svgs);
    }
    sb_svg_list_free(subs, n_subs);
    if (!rc && *n == before) rc = sb_fail(SB_ERR_INVALID, "%s%s: a folder without .svg files in it or in its "
                                          "subfolders", where, dir);
    return rc;
}

/* TU-Berlin's filelist.txt: "<class>/<n>.svg" lines relative to its
 * folder; a class is made of its lines in the list's order. */
static int add_svg_filelist(job **jobs, int *n, const char *list, const char *where) {
    FILE *f = fopen(list, "r");
    if (!f) return sb_fail(SB_ERR_IO, "%s%s: %s", where, list, strerror(errno));
    const char *slash = strrchr(list, '/');
    int dir_len = slash ? (int)(slash - list) : 1, first = *n, rc = 0;
    const char *dir = slash ? list : ".";
    char line[4096], path[8300];
    for (int lineno = 1; !rc && fgets(line, sizeof line, f); lineno++) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) continue;
        char *cut = strchr(line, '/');
        size_t len = strlen(line);
        if (!cut || len < 5 || strcmp(line + len - 4, ".svg")) {
            rc = sb_fail(SB_ERR_INVALID, "%s%s:%d: expected a <class>/<n>.svg path, not '%.100s'", where, list,
                         lineno, line);
            break;
        }
        snprintf(path, sizeof path, "%.*s/%s", dir_len, dir, line);
        job *j = NULL;
        for (int k = first; k < *n && !j; k++)
            if (!strncmp((*jobs)[k].name, line, (size_t)(cut - line)) && !(*jobs)[k].name[cut - line]) j = &(*jobs)[k];
        if (!j) {
            char class_dir[4200];
            snprintf(class_dir, sizeof class_dir, "%.*s/%.*s", dir_len, dir, (int)(cut - line), line);
            if ((rc = new_job(jobs, n, class_dir, line, (int)(cut - line), IN_SVG, where))) break;
            j = &(*jobs)[*n - 1];
        }
        char **grown = realloc(j->svgs, (size_t)(j->n_svgs + 1) * sizeof *grown);
        if (grown) j->svgs = grown;
        if (!grown || !(j->svgs[j->n_svgs] = strdup(path))) rc = sb_fail(SB_ERR_MEMORY, "out of host memory");
        else j->n_svgs++;
    }
    fclose(f);
    if (!rc && *n == first) rc = sb_fail(SB_ERR_INVALID, "%s%s: no .svg paths in the list", where, list);
    return rc;
}

static int add_input(job **jobs, int *n, const char *path, const char *where) {
    const char *base = base_name(path);
    const char *dot = strrchr(base, '.');
    in_kind kind;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return add_svg_folder(jobs, n, path, where);
    if (dot && !strcmp(dot, ".npz")) kind = IN_NPZ;
    else if (dot && !strcmp(dot, ".ndjson")) kind = IN_NDJSON;
    else if (dot && !strcmp(dot, ".bin")) kind = IN_BIN;
    else if (!strcmp(base, "filelist.txt")) return add_svg_filelist(jobs, n, path, where);
    else return sb_fail(SB_ERR_INVALID, "%s%s: not an .npz, .ndjson or .bin file, a folder of SVGs or a filelist.txt",
                        where, path);
    if (stat(path, &st) != 0) return sb_fail(SB_ERR_IO, "%s%s: %s", where, path, strerror(errno));
    return new_job(jobs, n, path, base, (int)(dot - base), kind, where);
}

static int read_list(const char *list, job **jobs, int *n) {
    FILE *f = fopen(list, "r");
    if (!f) return sb_fail(SB_ERR_IO, "cannot open list %s: %s", list, strerror(errno));
    char line[4096];
    int rc = 0;
    for (int lineno = 1; !rc && fgets(line, sizeof line, f); lineno++) {
        line[strcspn(line, "\t\r\n")] = '\0';
        if (!line[0] || line[0] == '#') continue;
        char where[600];
        snprintf(where, sizeof where, "%.500s:%d: ", list, lineno);
        rc = add_input(jobs, n, line, where);
    }
    fclose(f);
    return rc;
}

static int parse_split_size(const char *s, split_size *out) {
    char *end;
    out->value = strtod(s, &end);
    out->percent = *end == '%';
    if (out->percent) end++;
    return *end == '\0' && out->value >= 0 && (!out->percent || out->value < 100);
}

/* ---- the output folder: built beside it, then renamed into place */

/* A file name that prepare writes: memmap_sum.txt, offsets.sbidx, *.dat,
 * and their .tmp names. */
static int is_dataset_file(const char *name) {
    size_t n = strlen(name);
    if (n > 4 && !strcmp(name + n - 4, ".tmp")) n -= 4;
    return (n == strlen(SB_MM_SUM_FILE) && !strncmp(name, SB_MM_SUM_FILE, n)) ||
           (n == strlen(SB_MM_INDEX_FILE) && !strncmp(name, SB_MM_INDEX_FILE, n)) ||
           (n == strlen(SB_MM_CHECKSUM_FILE) && !strncmp(name, SB_MM_CHECKSUM_FILE, n)) ||
           (n > 4 && !strncmp(name + n - 4, ".dat", 4));
}

/* Whether dir has entries (*n_entries) and, for the first that is not a
 * dataset file, its name in other (else ""). */
static int look_into(const char *dir, int *n_entries, char *other, size_t cap) {
    DIR *d = opendir(dir);
    if (!d) return sb_fail(SB_ERR_IO, "--out %s: %s", dir, strerror(errno));
    *n_entries = 0;
    other[0] = '\0';
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int file = lstat(path, &st) == 0 && S_ISREG(st.st_mode);
        if (!other[0] && (!file || !is_dataset_file(e->d_name))) snprintf(other, cap, "%s", e->d_name);
        ++*n_entries;
    }
    closedir(d);
    return 0;
}

/* Removes the files of a folder that holds only files, then the folder. */
static int remove_folder(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return sb_fail(SB_ERR_IO, "cannot open %s: %s", dir, strerror(errno));
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0 && !rc) rc = sb_fail(SB_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    }
    closedir(d);
    if (!rc && rmdir(dir) != 0) rc = sb_fail(SB_ERR_IO, "cannot remove %s: %s", dir, strerror(errno));
    return rc;
}

/* "out" without trailing slashes, then suffix and the process id. */
static void sibling(char *buf, size_t cap, const char *out, const char *suffix) {
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/') n--;
    snprintf(buf, cap, "%.*s.%s-%ld", (int)n, out, suffix, (long)getpid());
}

/* out's parent folder into buf ("" when out has none but the current or
 * the root folder). */
static void parent_of(char *buf, size_t cap, const char *out) {
    snprintf(buf, cap, "%s", out);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash && slash != buf) *slash = '\0';
    else buf[0] = '\0';
}

/* Checks that out may be written (absent, empty, or with --overwrite a
 * folder of dataset files only), creates its missing parents (parent_of;
 * the top-most into created, for cleaning up) and the folder to build in
 * (build stays "" when there is none). */
static int begin_output(const options *o, const char *parent, char *build, size_t cap, char *created,
                        size_t created_cap) {
    struct stat st;
    if (stat(o->out_dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return sb_fail(SB_ERR_INVALID, "--out %s exists and is not a folder", o->out_dir);
        int n = 0;
        char other[256];
        SB_TRY(look_into(o->out_dir, &n, other, sizeof other));
        if (n && !o->overwrite)
            return sb_fail(SB_ERR_INVALID, "--out %s is not empty (a dataset prepared before?): pass --overwrite to "
                           "replace that dataset as a whole, or choose another folder", o->out_dir);
        if (other[0])
            return sb_fail(SB_ERR_INVALID, "--out %s holds %s, which prepare did not write: --overwrite only replaces "
                           "a folder of prepare's files (%s, %s, %s, *.dat); move it away or choose another folder",
                           o->out_dir, other, SB_MM_SUM_FILE, SB_MM_INDEX_FILE, SB_MM_CHECKSUM_FILE);
    } else if (errno != ENOENT) {
        return sb_fail(SB_ERR_IO, "--out %s: %s", o->out_dir, strerror(errno));
    } else if (parent[0]) {
        SB_TRY(sb_mkdir_p(parent, created, created_cap));
    }
    sibling(build, cap, o->out_dir, "prepare");
    if (mkdir(build, 0755) != 0) {
        int rc = sb_fail(SB_ERR_IO, "cannot create %s: %s", build, strerror(errno));
        build[0] = '\0';
        return rc;
    }
    return 0;
}

/* Puts the finished folder build in place of out; the dataset that was
 * there stays until the new one is in place, and is then removed. */
static int swap_in(const char *build, const char *out) {
    char old[4200];
    sibling(old, sizeof old, out, "old");
    int had = rename(build, out) != 0; /* succeeds when out is absent or empty */
    if (had && (errno != ENOTEMPTY && errno != EEXIST))
        return sb_fail(SB_ERR_IO, "cannot rename %s to %s: %s", build, out, strerror(errno));
    if (had && rename(out, old) != 0)
        return sb_fail(SB_ERR_IO, "cannot move the old dataset %s aside: %s", out, strerror(errno));
    if (had && rename(build, out) != 0) {
        int err = errno;
        if (rename(old, out) != 0)
            return sb_fail(SB_ERR_IO, "cannot rename %s to %s: %s; the old dataset is in %s", build, out,
                           strerror(err), old);
        return sb_fail(SB_ERR_IO, "cannot rename %s to %s: %s", build, out, strerror(err));
    }
    if (had && remove_folder(old))
        fprintf(stderr, "sketchbert prepare: warning: the old dataset is left in %s: %s\n", old, sb_last_error());
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int cmd_prepare(const cli_options *co, int argc, char **argv) {
    (void)co;
    options o = {.valid = {5, 1}, .test = {5, 1}, .svg_tolerance = SB_SVG_TOLERANCE};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = cores > 0 ? (int)cores : 1;
    job *jobs = NULL;
    int n_jobs = 0, rc = 0;
    for (int i = 1; !rc && i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        int takes = !strcmp(a, "--out") || !strcmp(a, "--list") || !strcmp(a, "--valid") || !strcmp(a, "--test") ||
                    !strcmp(a, "--max-per-class") || !strcmp(a, "--seed") || !strcmp(a, "--threads") ||
                    !strcmp(a, "--svg-tolerance");
        if (takes && !v) {
            fprintf(stderr, "sketchbert prepare: %s needs a value\n", a);
            return 2;
        }
        char *end = NULL;
        if (!strcmp(a, "--out")) o.out_dir = v;
        else if (!strcmp(a, "--list")) rc = read_list(v, &jobs, &n_jobs);
        else if (!strcmp(a, "--valid") || !strcmp(a, "--test")) {
            if (!parse_split_size(v, a[2] == 'v' ? &o.valid : &o.test)) {
                fprintf(stderr, "sketchbert prepare: %s '%s': expected a count or a percentage below 100%%\n", a, v);
                return 2;
            }
        } else if (!strcmp(a, "--max-per-class")) o.max_per_class = strtol(v, &end, 10);
        else if (!strcmp(a, "--seed")) o.seed = strtoull(v, &end, 10);
        else if (!strcmp(a, "--threads")) o.threads = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--svg-tolerance")) o.svg_tolerance = strtod(v, &end);
        else if (!strcmp(a, "--simplify")) o.simplify = 1;
        else if (!strcmp(a, "--quiet")) o.quiet = 1;
        else if (!strcmp(a, "--overwrite")) o.overwrite = 1;
        else if (a[0] == '-') {
            fprintf(stderr, "sketchbert prepare: unknown option %s (see --help)\n", a);
            return 2;
        } else rc = add_input(&jobs, &n_jobs, a, "");
        if (end && (*end || o.threads < 1 || o.max_per_class < 0 || !(o.svg_tolerance > 0))) {
            fprintf(stderr, "sketchbert prepare: %s '%s' is not a valid number\n", a, v);
            return 2;
        }
        if (takes) i++;
    }
    if (!rc && (!o.out_dir || n_jobs == 0)) {
        fprintf(stderr, "sketchbert prepare: %s\n", !o.out_dir ? "--out DIR is required" : "no input files given");
        usage(stderr);
        for (int i = 0; i < n_jobs; i++) job_free(&jobs[i]);
        free(jobs);
        return 2;
    }
    sb_mm_writer *w = NULL;
    char build[4200] = "", created[4200] = "", parent[4200];
    parent_of(parent, sizeof parent, o.out_dir);
    if (!rc) rc = begin_output(&o, parent, build, sizeof build, created, sizeof created);
    if (!rc) rc = sb_mm_writer_open_as(&w, build, o.out_dir);
    if (rc) {
        fprintf(stderr, "sketchbert prepare: %s\n", sb_last_error());
        if (build[0]) remove_folder(build);
        sb_rmdir_created(parent, created);
        for (int i = 0; i < n_jobs; i++) job_free(&jobs[i]);
        free(jobs);
        return 1;
    }
    if (o.threads > n_jobs) o.threads = n_jobs;
    pool p = {.opt = &o, .jobs = jobs, .n_jobs = n_jobs};
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t *threads = calloc((size_t)o.threads, sizeof *threads);
    int started = 0;
    while (threads && started < o.threads && pthread_create(&threads[started], NULL, worker, &p) == 0) started++;
    double t0 = now_s();
    size_t totals[SB_N_SPLITS] = {0}, skipped = 0, rounded = 0;
    for (int i = 0; i < n_jobs; i++) {
        job *j = &jobs[i];
        pthread_mutex_lock(&p.mu);
        while (!j->done && started) pthread_cond_wait(&p.cv, &p.mu);
        pthread_mutex_unlock(&p.mu);
        if (!started) {
            rc = sb_fail(SB_ERR_MEMORY, "cannot start conversion threads");
            break;
        }
        rc = j->rc ? sb_fail(j->rc, "%s", j->error) : sb_mm_writer_begin_class(w, j->name);
        for (int s = 0; !rc && s < SB_N_SPLITS; s++)
            for (size_t k = 0, at = 0; !rc && k < j->split[s].count; at += j->split[s].len[k++])
                rc = sb_mm_writer_add(w, s, j->split[s].pts + 3 * at, j->split[s].len[k]);
        if (rc) break;
        for (int s = 0; s < SB_N_SPLITS; s++) totals[s] += j->split[s].count;
        skipped += j->skipped, rounded += j->rounded;
        if (!o.quiet)
            fprintf(stderr, "[%d/%d] %s: %zu train, %zu valid, %zu test%s (%.1f s)\n", i + 1, n_jobs, j->name,
                    j->split[0].count, j->split[1].count, j->split[2].count, j->skipped ? ", some skipped" : "",
                    now_s() - t0);
        if (j->rounded)
            fprintf(stderr, "sketchbert prepare: warning: %s: %zu float values rounded to int16\n", j->path, j->rounded);
        if (j->skipped)
            fprintf(stderr, "sketchbert prepare: %s: %zu sketches skipped (not of shape (n, 3) or empty)\n", j->path,
                    j->skipped);
        for (int s = 0; s < SB_N_SPLITS; s++) list_free(&j->split[s]);
        pthread_mutex_lock(&p.mu);
        p.written = i + 1;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
    }
    if (rc) { /* let the workers run out of jobs */
        pthread_mutex_lock(&p.mu);
        p.next = n_jobs;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
    }
    for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
    if (!rc) rc = sb_mm_writer_finish(w);
    else sb_mm_writer_abort(w);
    if (!rc) rc = swap_in(build, o.out_dir);
    if (rc) {
        fprintf(stderr, "sketchbert prepare: %s\n", sb_last_error());
        remove_folder(build);
        sb_rmdir_created(parent, created);
    }
    else
        printf("prepared %d classes into %s: %zu train, %zu valid, %zu test sketches; %zu skipped; %.2f s with %d "
               "threads\n",
               n_jobs, o.out_dir, totals[0], totals[1], totals[2], skipped, now_s() - t0, started);
    for (int i = 0; i < n_jobs; i++) job_free(&jobs[i]);
    free(jobs);
    free(threads);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    return rc ? 1 : 0;
}
