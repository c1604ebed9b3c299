/* sb_sketches: a batch of stroke-3 sketches for the public API, added from
 * arrays or read from npz, ndjson, SVG or memmap (`sketchbert prepare`)
 * files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api_internal.h"
#include "data/memmap.h"
#include "data/quickdraw.h"
#include "io/ndjson.h"
#include "io/npz.h"
#include "io/svg.h"

sb_status sb_sketches_create(sb_sketches **out) {
    if (!out) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_sketches_create: out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? SB_OK : (sb_status)sb_fail(SB_ERR_MEMORY, "sb_sketches_create: out of host memory");
}

void sb_sketches_destroy(sb_sketches *s) {
    if (!s) return;
    for (int i = 0; i < s->count; i++) free(s->label[i]);
    free(s->label), free(s->start), free(s->n), free(s->data);
    free(s);
}

/* Room for one more sketch of n points; returns its int16 (n, 3) slot. */
static int16_t *reserve(sb_sketches *s, int n) {
    if (s->count == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        size_t *st = realloc(s->start, (size_t)cap * sizeof *st);
        if (st) s->start = st;
        int *nn = realloc(s->n, (size_t)cap * sizeof *nn);
        if (nn) s->n = nn;
        char **lb = realloc(s->label, (size_t)cap * sizeof *lb);
        if (lb) s->label = lb;
        if (!st || !nn || !lb) return NULL;
        s->cap = cap;
    }
    size_t need = s->n_data + 3 * (size_t)n;
    if (need > s->cap_data) {
        size_t cap = s->cap_data ? s->cap_data : 4096;
        while (cap < need) cap *= 2;
        int16_t *d = realloc(s->data, cap * sizeof *d);
        if (!d) return NULL;
        s->data = d, s->cap_data = cap;
    }
    return s->data + s->n_data;
}

/* Commits the slot reserve() gave. */
static int commit(sb_sketches *s, int n, const char *label) {
    char *l = strdup(label ? label : "");
    if (!l) return sb_fail(SB_ERR_MEMORY, "sketches: out of host memory");
    s->start[s->count] = s->n_data;
    s->n[s->count] = n;
    s->label[s->count++] = l;
    s->n_data += 3 * (size_t)n;
    return 0;
}

static int check_pen(int p, int n_sketch, int point) {
    if (p == 0 || p == 1) return 0;
    return sb_fail(SB_ERR_INVALID, "sketch %d, point %d: pen state %d is not 0 or 1", n_sketch, point, p);
}

sb_status sb_sketches_add_i16(sb_sketches *s, const int16_t *points, int n, const char *label) {
    if (!s || (!points && n > 0)) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_sketches_add_i16: NULL argument");
    if (n <= 0) return (sb_status)sb_fail(SB_ERR_INVALID, "sketch %d has %d points (at least 1 needed)", s->count, n);
    for (int k = 0; k < n; k++) SB_TRY(check_pen(points[3 * k + 2], s->count, k));
    int16_t *dst = reserve(s, n);
    if (!dst) return (sb_status)sb_fail(SB_ERR_MEMORY, "sketches: out of host memory");
    memcpy(dst, points, 3 * (size_t)n * sizeof *dst);
    return (sb_status)commit(s, n, label);
}

sb_status sb_sketches_add_f32(sb_sketches *s, const float *points, int n, const char *label) {
    if (!s || (!points && n > 0)) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_sketches_add_f32: NULL argument");
    if (n <= 0) return (sb_status)sb_fail(SB_ERR_INVALID, "sketch %d has %d points (at least 1 needed)", s->count, n);
    int16_t *dst = reserve(s, n);
    if (!dst) return (sb_status)sb_fail(SB_ERR_MEMORY, "sketches: out of host memory");
    for (int k = 0; k < 3 * n; k++) {
        float v = rintf(points[k]);
        if (!(v >= -32768.0f && v <= 32767.0f))
            return (sb_status)sb_fail(SB_ERR_INVALID, "sketch %d, point %d: value %g is outside int16", s->count, k / 3,
                                      (double)points[k]);
        dst[k] = (int16_t)v;
        if (k % 3 == 2) SB_TRY(check_pen(dst[k], s->count, k / 3));
    }
    return (sb_status)commit(s, n, label);
}

int sb_sketches_count(const sb_sketches *s) { return s ? s->count : 0; }
int sb_sketches_skipped(const sb_sketches *s) { return s ? s->skipped : 0; }

const int16_t *sb_sketches_points(const sb_sketches *s, int i, int *n) {
    if (!s || i < 0 || i >= s->count) {
        if (n) *n = 0;
        return NULL;
    }
    if (n) *n = s->n[i];
    return s->data + s->start[i];
}

const char *sb_sketches_label(const sb_sketches *s, int i) {
    return s && i >= 0 && i < s->count ? s->label[i] : "";
}

int sb_sketches_truncated(const sb_sketches *s, const sb_model_handle *m) {
    int t = 0;
    for (int i = 0; s && m && i < s->count; i++) t += s->n[i] + 1 > m->mc.max_length;
    return t;
}

void sb_sketches_set_simplify(sb_sketches *s, sb_simplify mode) {
    if (s) s->simplify = mode;
}

void sb_sketches_raw_report(const sb_sketches *s, sb_raw_report *out) {
    if (!out) return;
    if (s) *out = s->raw;
    else memset(out, 0, sizeof *out);
}

void sb_sketches_set_mask(sb_sketches *s, int enable, uint64_t seed) {
    if (!s) return;
    s->mask = enable != 0;
    s->mask_seed = seed;
}

// ---- files

/* Adds a sketch read from a file; empty ones are counted, not added. */
static int add_read(sb_sketches *s, const int16_t *p, int n, const char *label) {
    if (n <= 0) {
        s->skipped++;
        return 0;
    }
    return sb_sketches_add_i16(s, p, n, label);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int load_npz(sb_sketches *s, const char *path, const char *split, int limit) {
    sb_sketch_set set;
    SB_TRY(sb_npz_load_split(path, split, &set));
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char label[256];
    snprintf(label, sizeof label, "%.*s", (int)(strlen(base) - 4), base);
    int rc = 0;
    for (size_t i = 0; i < set.count && !rc && (limit <= 0 || i < (size_t)limit); i++)
        rc = add_read(s, set.sketches[i].points, set.sketches[i].n, label);
    sb_sketch_set_free(&set);
    return rc;
}

/* Counts the raw signs of d and simplifies it into *simple when the mode
 * says so; *use is the drawing to convert. */
static int maybe_simplify(sb_sketches *s, const sb_drawing *d, int timed, sb_drawing *simple, const sb_drawing **use) {
    unsigned signs = sb_drawing_raw_signs(d, timed);
    sb_raw_report *r = &s->raw;
    r->drawings++;
    r->raw += signs != 0;
    r->timed += (signs & SB_RAW_TIMED) != 0, r->fractional += (signs & SB_RAW_FRACTIONAL) != 0;
    r->range += (signs & SB_RAW_RANGE) != 0, r->dense += (signs & SB_RAW_DENSE) != 0;
    *use = d;
    if (s->simplify == SB_SIMPLIFY_NONE || (s->simplify == SB_SIMPLIFY_AUTO && !signs)) return 0;
    SB_TRY(sb_drawing_simplify(d, simple));
    r->simplified++;
    *use = simple;
    return 0;
}

static int load_ndjson(sb_sketches *s, const char *path, int limit) {
    sb_ndjson *r;
    SB_TRY(sb_ndjson_open(&r, path));
    sb_qd_drawing q;
    int rc = 0, got = 0;
    for (int k = 0; !rc && (limit <= 0 || k < limit) && (got = sb_ndjson_next(r, &q)) == 1; k++) {
        sb_drawing d = {q.n_strokes, q.stroke_len, q.n_points, q.x, q.y, NULL}, simple = {0};
        const sb_drawing *use;
        int16_t *p = NULL;
        uint32_t n = 0;
        if (q.n_points == 0) {
            s->skipped++;
            continue;
        }
        rc = maybe_simplify(s, &d, q.t != NULL, &simple, &use);
        if (!rc) rc = sb_drawing_to_stroke3(use, &p, &n);
        sb_drawing_free(&simple);
        if (!rc) rc = add_read(s, p, (int)n, q.word);
        if (rc) sb_fail_context(rc, "%s:%ld", path, q.line);
        free(p);
    }
    if (!rc && got < 0) rc = got;
    sb_ndjson_close(r);
    return rc;
}

static int load_memmap(sb_sketches *s, const char *dir, const char *split_name, int limit) {
    int split = sb_split_from_name(split_name);
    sb_mm_index idx;
    SB_TRY(sb_mm_index_load(&idx, dir));
    int rc = 0;
    for (uint32_t c = 0; c < idx.n_classes && !rc; c++) {
        sb_mm_split m;
        const sb_mm_class *mc = &idx.classes[c];
        if ((rc = sb_mm_split_open(&m, &idx, c, split))) break;
        for (uint32_t j = 0; j < mc->count[split] && !rc && (limit <= 0 || j < (uint32_t)limit); j++) {
            sb_mm_range r = mc->ranges[split][j];
            rc = add_read(s, m.points + 3 * r.start, (int)(r.end - r.start), mc->name);
        }
        sb_mm_split_close(&m);
    }
    sb_mm_index_free(&idx);
    return rc;
}

/* One SVG drawing, simplified as `prepare --simplify` does (flattened
 * Beziers are far denser than max_length allows), labelled with its
 * folder's name (the TU-Berlin class). */
static int load_svg(sb_sketches *s, const char *path) {
    sb_svg_drawing v;
    SB_TRY(sb_svg_read(path, SB_SVG_TOLERANCE, &v));
    sb_drawing d = {v.n_strokes, v.stroke_len, v.n_points, v.x, v.y, NULL}, simple = {0};
    const char *slash = strrchr(path, '/');
    while (slash && slash > path && slash[-1] == '/') slash--; /* "class//1.svg": a folder given as "class/" */
    const char *b = slash;
    while (b && b > path && b[-1] != '/') b--;
    char label[256];
    snprintf(label, sizeof label, "%.*s", slash ? (int)(slash - b) : 0, slash ? b : "");
    int16_t *p = NULL;
    uint32_t n = 0;
    int rc = v.n_points ? sb_drawing_simplify(&d, &simple) : 0;
    if (!rc && v.n_points) rc = sb_drawing_to_stroke3(&simple, &p, &n);
    if (!rc) rc = add_read(s, p, (int)n, label);
    if (rc) sb_fail_context(rc, "%s", path);
    free(p);
    sb_drawing_free(&simple);
    sb_svg_free(&v);
    return rc;
}

/* At most limit SVGs of a folder; *found counts its .svg files. */
static int load_svg_files(sb_sketches *s, const char *dir, int limit, int *found) {
    char **files;
    int n, rc = 0;
    SB_TRY(sb_svg_list(dir, 0, &files, &n));
    for (int k = 0; !rc && k < n && (limit <= 0 || k < limit); k++) rc = load_svg(s, files[k]);
    sb_svg_list_free(files, n);
    *found += n;
    return rc;
}

/* A folder of SVGs, or TU-Berlin's folder of class folders of SVGs. */
static int load_svg_folder(sb_sketches *s, const char *dir, int limit) {
    int found = 0;
    SB_TRY(load_svg_files(s, dir, limit, &found));
    if (found) return 0;
    char **subs;
    int n, rc = 0;
    SB_TRY(sb_svg_list(dir, 1, &subs, &n));
    for (int k = 0; !rc && k < n; k++) rc = load_svg_files(s, subs[k], limit, &found);
    sb_svg_list_free(subs, n);
    if (!rc && !found)
        rc = sb_fail(SB_ERR_INVALID, "%s: neither a `sketchbert prepare` folder (no %s) nor a folder of .svg files",
                     dir, SB_MM_INDEX_FILE);
    return rc;
}

sb_status sb_sketches_load(sb_sketches *s, const char *path, const char *split, int limit) {
    if (!s || !path) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_sketches_load: NULL argument");
    if (!split) split = "test";
    if (sb_split_from_name(split) < 0)
        return (sb_status)sb_fail(SB_ERR_INVALID, "%s: split '%s' is not train, valid or test", path, split);
    struct stat st;
    int before = s->count, skipped = s->skipped, rc;
    sb_raw_report raw = s->raw;
    char index[4200];
    snprintf(index, sizeof index, "%s/%s", path, SB_MM_INDEX_FILE);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        rc = stat(index, &st) == 0 ? load_memmap(s, path, split, limit) : load_svg_folder(s, path, limit);
    else if (ends_with(path, ".npz")) rc = load_npz(s, path, split, limit);
    else if (ends_with(path, ".ndjson")) rc = load_ndjson(s, path, limit);
    else if (ends_with(path, ".svg")) rc = load_svg(s, path);
    else
        rc = sb_fail(SB_ERR_INVALID,
                     "%s: not an .npz, .ndjson or .svg file, a folder of SVGs or a directory of `sketchbert prepare` "
                     "output", path);
    if (rc) {
        /* all or nothing: drop what this call added */
        while (s->count > before) free(s->label[--s->count]);
        s->skipped = skipped, s->raw = raw;
        s->n_data = s->count ? s->start[s->count - 1] + 3 * (size_t)s->n[s->count - 1] : 0;
    }
    return (sb_status)rc;
}
