/* npz stroke-3 datasets: zip member -> npy object array -> pickled ndarrays
 * -> int16 sketches in one block. */
#include "io/npz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/npy.h"
#include "runtime/error.h"

void sb_sketch_set_free(sb_sketch_set *s) {
    if (!s) return;
    free(s->sketches);
    free(s->data);
    memset(s, 0, sizeof *s);
}

/* Views of every element as a numeric array; sums the points of those of
 * shape (n, 3). Other shapes are skipped and counted, as the original's
 * conversion script does (ndim is set to -1 to mark them). */
static int element_views(sb_pickle_doc *doc, sb_pickle_value *const *items, size_t count, const char *label,
                         sb_npy *views, size_t *total, size_t *skipped) {
    *total = 0;
    for (size_t i = 0; i < count; i++) {
        char what[340];
        snprintf(what, sizeof what, "%.300s: sketch %zu", label, i);
        SB_TRY(sb_npy_from_pickle(&views[i], doc, items[i], what));
        if (views[i].ndim != 2 || views[i].shape[1] != 3 || views[i].shape[0] > INT32_MAX) {
            views[i].ndim = -1;
            (*skipped)++;
            continue;
        }
        *total += views[i].count;
    }
    return SB_OK;
}

static int fill_set(const sb_npy *views, size_t count, const char *label, sb_sketch_set *out, size_t total) {
    out->sketches = calloc(count ? count : 1, sizeof *out->sketches);
    out->data = malloc((total ? total : 1) * sizeof *out->data);
    if (!out->sketches || !out->data)
        return sb_fail(SB_ERR_MEMORY, "%s: out of memory for %zu sketches", label, count);
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        if (views[i].ndim < 0) continue; /* skipped: wrong shape */
        size_t rounded;
        char what[340];
        snprintf(what, sizeof what, "%.300s: sketch %zu", label, i);
        SB_TRY(sb_npy_to_i16(&views[i], what, out->data + at, &rounded));
        out->n_rounded += rounded;
        sb_sketch *k = &out->sketches[out->count++];
        k->n = (int)views[i].shape[0];
        k->points = out->data + at;
        if (k->n > out->max_len) out->max_len = k->n;
        at += views[i].count;
    }
    return SB_OK;
}

int sb_npz_read_split(const sb_zip *z, const char *split, sb_sketch_set *out) {
    memset(out, 0, sizeof *out);
    char member[64], label[320];
    snprintf(member, sizeof member, "%.50s.npy", split);
    snprintf(label, sizeof label, "%.250s:%s", z->path, member);
    const sb_zip_entry *e = sb_zip_find(z, member);
    if (!e) return sb_fail(SB_ERR_FORMAT, "%s: no member %s (split '%s')", z->path, member, split);
    if (e->size > SB_NPZ_MAX_MEMBER) /* the zip reader allows 1032x its size: a deflate bomb */
        return sb_fail(SB_ERR_FORMAT, "%s: %llu bytes uncompressed, over the %d MiB limit of an npz member, refused",
                       label, (unsigned long long)e->size, (int)(SB_NPZ_MAX_MEMBER >> 20));
    unsigned char *buf;
    size_t size;
    SB_TRY(sb_zip_extract(z, e, &buf, &size));
    sb_npy arr;
    sb_pickle_doc *doc = NULL;
    sb_pickle_value *const *items = NULL;
    sb_npy *views = NULL;
    size_t total = 0;
    int rc = sb_npy_parse(&arr, label, buf, size);
    if (!rc && arr.ndim != 1)
        rc = sb_fail(SB_ERR_FORMAT, "%s: expected a 1-d object array of sketches, got %d dimensions", label, arr.ndim);
    if (!rc) rc = sb_npy_load_objects(&arr, label, &doc, &items);
    if (!rc && !(views = calloc(arr.count ? arr.count : 1, sizeof *views)))
        rc = sb_fail(SB_ERR_MEMORY, "%s: out of memory", label);
    if (!rc) rc = element_views(doc, items, arr.count, label, views, &total, &out->n_skipped);
    if (!rc) rc = fill_set(views, arr.count, label, out, total);
    free(views);
    sb_pickle_free(doc);
    free(buf);
    if (rc) sb_sketch_set_free(out);
    return rc;
}

int sb_npz_load_split(const char *path, const char *split, sb_sketch_set *out) {
    sb_zip z;
    memset(out, 0, sizeof *out);
    SB_TRY(sb_zip_open(&z, path));
    int rc = sb_npz_read_split(&z, split, out);
    sb_zip_close(&z);
    return rc;
}
