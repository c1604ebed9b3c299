/* sb_index: retrieval features of a collection with their labels, saved
 * and loaded with the model's fingerprint, queried by Euclidean distance
 * (exhaustive, on the host).
 *
 * File (little-endian; docs/api.md):
 *   "SBINDEX\0"  magic, 8 bytes
 *   u32 version (1), u32 dim, u64 n
 *   32 bytes     model fingerprint (hex digits)
 *   u64          bytes of the label block
 *   f32 (n, dim) features
 *   labels       n NUL-terminated strings
 *   "SBCRC32\0", u32  CRC-32 of every byte before the trailer (optional:
 *                files of earlier versions end after the labels) */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "io/atomic_file.h"
#include "io/checksum.h"

#define INDEX_MAGIC "SBINDEX\0"
#define INDEX_VERSION 1u
#define CRC_MAGIC "SBCRC32\0"

sb_status sb_index_create(const sb_model_handle *m, sb_index **out) {
    if (!m || !out) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_create: NULL argument");
    *out = NULL;
    SB_TRY(sb_model_require(m, SB_HEAD_RETRIEVAL));
    sb_index *x = calloc(1, sizeof *x);
    if (!x) return (sb_status)sb_fail(SB_ERR_MEMORY, "sb_index_create: out of host memory");
    x->dim = m->mc.rel_feat_dim;
    memcpy(x->fingerprint, m->fingerprint, sizeof x->fingerprint);
    *out = x;
    return SB_OK;
}

void sb_index_destroy(sb_index *x) {
    if (!x) return;
    for (int i = 0; i < x->n; i++) free(x->label[i]);
    free(x->label), free(x->feat), free(x);
}

int sb_index_size(const sb_index *x) { return x ? x->n : 0; }
const char *sb_index_label(const sb_index *x, int i) { return x && i >= 0 && i < x->n ? x->label[i] : NULL; }

static int same_model(const sb_index *x, const sb_model_handle *m, const char *what) {
    if (strcmp(x->fingerprint, m->fingerprint) == 0) return 0;
    return sb_fail(SB_ERR_INVALID, "%s was built by another model (index fingerprint %s, model %s has %s)", what,
                   x->fingerprint, m->path, m->fingerprint);
}

static int reserve(sb_index *x, int more) {
    if (x->n + more <= x->cap) return 0;
    int cap = x->cap ? x->cap : 64;
    while (cap < x->n + more) cap *= 2;
    float *f = realloc(x->feat, sizeof(float) * (size_t)cap * (size_t)x->dim);
    if (f) x->feat = f;
    char **l = realloc(x->label, sizeof *l * (size_t)cap);
    if (l) x->label = l;
    if (!f || !l) return sb_fail(SB_ERR_MEMORY, "index: out of host memory for %d items", cap);
    x->cap = cap;
    return 0;
}

sb_status sb_index_add(sb_index *x, sb_model_handle *m, const sb_sketches *s) {
    if (!x || !m || !s) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_add: NULL argument");
    SB_TRY(same_model(x, m, "the index"));
    if (s->count == 0) return SB_OK;
    SB_TRY(reserve(x, s->count));
    SB_TRY(sb_retrieval_features(m, s, x->feat + (size_t)x->n * x->dim));
    for (int i = 0; i < s->count; i++) {
        if (!(x->label[x->n] = strdup(s->label[i]))) return (sb_status)sb_fail(SB_ERR_MEMORY, "index: out of host memory");
        x->n++;
    }
    return SB_OK;
}

// ---- file

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

enum { HEADER_BYTES = 8 + 4 + 4 + 8 + 32 + 8 };

sb_status sb_index_save(const sb_index *x, const char *path) {
    if (!x || !path) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_save: NULL argument");
    uint64_t label_bytes = 0;
    for (int i = 0; i < x->n; i++) label_bytes += strlen(x->label[i]) + 1;
    unsigned char h[HEADER_BYTES];
    memcpy(h, INDEX_MAGIC, 8);
    put_u32(h + 8, INDEX_VERSION);
    put_u32(h + 12, (uint32_t)x->dim);
    put_u64(h + 16, (uint64_t)x->n);
    memcpy(h + 24, x->fingerprint, 32);
    put_u64(h + 56, label_bytes);
    sb_atomic_file af;
    SB_TRY(sb_atomic_open(&af, path));
    fwrite(h, 1, sizeof h, af.f);
    uint32_t crc = sb_crc32(0, h, sizeof h);
    for (size_t k = 0; k < (size_t)x->n * x->dim; k++) {
        uint32_t bits;
        unsigned char b[4];
        memcpy(&bits, &x->feat[k], 4);
        put_u32(b, bits);
        fwrite(b, 1, 4, af.f);
        crc = sb_crc32(crc, b, 4);
    }
    for (int i = 0; i < x->n; i++) {
        fwrite(x->label[i], 1, strlen(x->label[i]) + 1, af.f);
        crc = sb_crc32(crc, x->label[i], strlen(x->label[i]) + 1);
    }
    unsigned char trailer[12];
    memcpy(trailer, CRC_MAGIC, 8);
    put_u32(trailer + 8, crc);
    fwrite(trailer, 1, sizeof trailer, af.f);
    return (sb_status)sb_atomic_commit(&af);
}

static int read_exact(FILE *f, void *buf, size_t n, const char *path) {
    if (fread(buf, 1, n, f) == n) return 0;
    return sb_fail(SB_ERR_FORMAT, "%s: index file is truncated", path);
}

static int load(sb_index *x, FILE *f, const char *path, const sb_model_handle *m) {
    unsigned char h[HEADER_BYTES];
    SB_TRY(read_exact(f, h, sizeof h, path));
    if (memcmp(h, INDEX_MAGIC, 8) != 0) return sb_fail(SB_ERR_FORMAT, "%s is not a sketchbert index file", path);
    if (get_u32(h + 8) != INDEX_VERSION)
        return sb_fail(SB_ERR_FORMAT, "%s: index version %u, this library reads %u", path, get_u32(h + 8), INDEX_VERSION);
    uint32_t dim = get_u32(h + 12);
    uint64_t n = get_u64(h + 16), label_bytes = get_u64(h + 56);
    memcpy(x->fingerprint, h + 24, 32);
    x->fingerprint[32] = '\0';
    SB_TRY(same_model(x, m, path));
    if (dim != (uint32_t)x->dim)
        return sb_fail(SB_ERR_FORMAT, "%s: features of size %u, the model's are %d", path, dim, x->dim);
    if (n > (uint64_t)INT32_MAX / (dim ? dim : 1) || label_bytes > ((uint64_t)1 << 40) || label_bytes < n)
        return sb_fail(SB_ERR_FORMAT, "%s: %llu items with %llu label bytes is not a valid index", path,
                       (unsigned long long)n, (unsigned long long)label_bytes);
    SB_TRY(reserve(x, (int)n));
    unsigned char *raw = malloc((size_t)n * dim * 4 + (size_t)label_bytes + 1);
    if (!raw) return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", path);
    size_t body = (size_t)n * dim * 4 + (size_t)label_bytes;
    int rc = read_exact(f, raw, body, path);
    unsigned char trailer[13];
    size_t tail = rc ? 0 : fread(trailer, 1, sizeof trailer, f);
    if (!rc && tail == 12 && !memcmp(trailer, CRC_MAGIC, 8)) {
        uint32_t crc = sb_crc32(sb_crc32(0, h, sizeof h), raw, body);
        if (crc != get_u32(trailer + 8))
            rc = sb_fail(SB_ERR_FORMAT, "%s: bytes 0-%zu do not match the index's checksum: the file is damaged", path,
                         sizeof h + body);
    } else if (!rc && tail) {
        rc = sb_fail(SB_ERR_FORMAT, "%s: bytes after the last label", path);
    }
    for (size_t k = 0; !rc && k < (size_t)n * dim; k++) {
        uint32_t bits = get_u32(raw + 4 * k);
        memcpy(&x->feat[k], &bits, 4);
    }
    const char *p = (const char *)raw + (size_t)n * dim * 4, *end = p + label_bytes;
    for (uint64_t i = 0; !rc && i < n; i++) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        if (!z) rc = sb_fail(SB_ERR_FORMAT, "%s: label %llu is not terminated", path, (unsigned long long)i);
        else if (!(x->label[x->n] = strdup(p))) rc = sb_fail(SB_ERR_MEMORY, "%s: out of host memory", path);
        else x->n++, p = z + 1;
    }
    if (!rc && p != end) rc = sb_fail(SB_ERR_FORMAT, "%s: %llu labels do not fill the label block", path, (unsigned long long)n);
    free(raw);
    return rc;
}

sb_status sb_index_load(const sb_model_handle *m, const char *path, sb_index **out) {
    if (!m || !path || !out) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_load: NULL argument");
    *out = NULL;
    sb_index *x;
    SB_TRY(sb_index_create(m, &x));
    FILE *f = fopen(path, "rb");
    int rc = f ? load(x, f, path, m) : sb_fail(SB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (f) fclose(f);
    if (rc) {
        sb_index_destroy(x);
        return (sb_status)rc;
    }
    *out = x;
    return SB_OK;
}

// ---- query

sb_status sb_index_query(const sb_index *x, sb_model_handle *m, const sb_sketches *s, int k, int *items,
                         float *dists) {
    if (!x || !m || !s || !items) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_query: NULL argument");
    if (k < 1) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_query: k %d must be at least 1", k);
    SB_TRY(same_model(x, m, "the index"));
    const int D = x->dim;
    float *q = malloc(sizeof(float) * (size_t)(s->count ? s->count : 1) * (size_t)D);
    double *best = malloc(sizeof(double) * (size_t)k);
    if (!q || !best) {
        free(q), free(best);
        return (sb_status)sb_fail(SB_ERR_MEMORY, "sb_index_query: out of host memory");
    }
    int rc = sb_retrieval_features(m, s, q);
    for (int i = 0; i < s->count && !rc; i++) {
        int *it = items + (size_t)i * k;
        for (int j = 0; j < k; j++) it[j] = -1, best[j] = INFINITY;
        /* insertion into the k best so far; strict < keeps the lower item on ties */
        for (int t = 0; t < x->n; t++) {
            double d = 0;
            for (int c = 0; c < D; c++) {
                double e = (double)q[(size_t)i * D + c] - x->feat[(size_t)t * D + c];
                d += e * e;
            }
            if (!(d < best[k - 1])) continue;
            int j = k - 1;
            for (; j > 0 && d < best[j - 1]; j--) best[j] = best[j - 1], it[j] = it[j - 1];
            best[j] = d, it[j] = t;
        }
        for (int j = 0; dists && j < k; j++) dists[(size_t)i * k + j] = (float)sqrt(best[j]);
    }
    free(q), free(best);
    return (sb_status)rc;
}
