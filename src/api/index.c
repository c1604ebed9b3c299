/* sb_index: retrieval features of a collection with their labels, saved
 * and loaded with the model's fingerprint, queried by Euclidean distance
 * (exhaustive, on the host). For models without a retrieval head an index
 * may hold pooled encoder features instead; its fingerprint is then a hash
 * of the model's and the pooling, which is how a loaded file tells which
 * features it holds.
 *
 * The items' sketches are kept too, so that query results can be drawn.
 *
 * File (little-endian; docs/api.md):
 *   "SBINDEX\0"  magic, 8 bytes
 *   u32 version (2), u32 dim, u64 n
 *   32 bytes     model fingerprint (hex digits)
 *   u64          bytes of the label block
 *   f32 (n, dim) features
 *   labels       n NUL-terminated strings
 *   u64 P        points of all sketches (version 2)
 *   u32 (n)      points of each sketch, each >= 1, summing to P
 *   i16 (P, 3)   the sketches' stroke-3 points, one after the other
 *   "SBCRC32\0", u32  CRC-32 of every byte before it (files written
 *                before checksums end without it) */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "io/atomic_file.h"
#include "io/checksum.h"

#define INDEX_MAGIC "SBINDEX\0"
#define INDEX_VERSION 2u
#define CRC_MAGIC "SBCRC32\0"

/* x->features: the retrieval head's, or the encoder's pooled by 1 + sb_pool */
enum { FEAT_RETRIEVAL, FEAT_ENCODER_MEAN, FEAT_ENCODER_FIRST, N_FEAT };
static const char *const feature_names[N_FEAT] = {"retrieval", "encoder mean", "encoder first"};

/* The fingerprint of an index of these features made with m. */
static void features_fingerprint(const sb_model_handle *m, int features, char out[33]) {
    if (features == FEAT_RETRIEVAL) {
        memcpy(out, m->fingerprint, 33);
        return;
    }
    uint64_t h[2] = {14695981039346656037ull, 0x9e3779b97f4a7c15ull};
    for (int k = 0; k < 2; k++)
        h[k] = api_fnv(api_fnv(h[k], m->fingerprint, 32), feature_names[features], strlen(feature_names[features]));
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h[0], (unsigned long long)h[1]);
}

static sb_status new_index(const sb_model_handle *m, int features, sb_index **out) {
    sb_index *x = calloc(1, sizeof *x);
    if (!x) return (sb_status)sb_fail(SB_ERR_MEMORY, "index: out of host memory");
    x->features = features;
    if (sb_sketches_create(&x->sk)) {
        free(x);
        return (sb_status)sb_fail(SB_ERR_MEMORY, "index: out of host memory");
    }
    x->dim = features == FEAT_RETRIEVAL ? m->mc.rel_feat_dim : sb_model_hidden_size(m);
    features_fingerprint(m, features, x->fingerprint);
    *out = x;
    return SB_OK;
}

sb_status sb_index_create(const sb_model_handle *m, sb_index **out) {
    if (!m || !out) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_create: NULL argument");
    *out = NULL;
    SB_TRY(sb_model_require(m, SB_HEAD_RETRIEVAL));
    return new_index(m, FEAT_RETRIEVAL, out);
}

sb_status sb_index_create_encoder(const sb_model_handle *m, sb_pool pool, sb_index **out) {
    if (!m || !out) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_create_encoder: NULL argument");
    *out = NULL;
    if (pool != SB_POOL_MEAN && pool != SB_POOL_FIRST)
        return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_create_encoder: unknown pooling %d", (int)pool);
    return new_index(m, FEAT_ENCODER_MEAN + (int)pool, out);
}

const char *sb_index_features(const sb_index *x) { return x ? feature_names[x->features] : NULL; }

void sb_index_destroy(sb_index *x) {
    if (!x) return;
    for (int i = 0; i < x->n; i++) free(x->label[i]);
    free(x->label), free(x->feat);
    sb_sketches_destroy(x->sk);
    free(x);
}

const int16_t *sb_index_points(const sb_index *x, int i, int *n) {
    if (n) *n = 0;
    return x && i >= 0 && i < x->n ? sb_sketches_points(x->sk, i, n) : NULL;
}

/* Appends item x->n: its label and points (features are the caller's). */
static int add_item(sb_index *x, const char *label, const int16_t *points, int n) {
    char *l = strdup(label);
    if (!l) return sb_fail(SB_ERR_MEMORY, "index: out of host memory");
    int rc = sb_sketches_add_i16(x->sk, points, n, NULL);
    if (rc) return free(l), rc;
    x->label[x->n++] = l;
    return 0;
}

int sb_index_size(const sb_index *x) { return x ? x->n : 0; }
const char *sb_index_label(const sb_index *x, int i) { return x && i >= 0 && i < x->n ? x->label[i] : NULL; }

static int same_model(const sb_index *x, const sb_model_handle *m, const char *what) {
    char want[33];
    features_fingerprint(m, x->features, want);
    if (strcmp(x->fingerprint, want) == 0) return 0;
    return sb_fail(SB_ERR_INVALID, "%s was built by another model (index fingerprint %s, model %s gives %s)", what,
                   x->fingerprint, m->path, want);
}

/* The features of s that x holds: out is (count, x->dim). */
static int features_of(const sb_index *x, sb_model_handle *m, const sb_sketches *s, float *out) {
    if (x->features == FEAT_RETRIEVAL) return sb_retrieval_features(m, s, out);
    return sb_encode(m, s, x->features == FEAT_ENCODER_MEAN ? SB_POOL_MEAN : SB_POOL_FIRST, out);
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
    SB_TRY(features_of(x, m, s, x->feat + (size_t)x->n * x->dim));
    for (int i = 0; i < s->count; i++)
        SB_TRY(add_item(x, s->label[i], s->data + s->start[i], s->n[i]));
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

/* Writes n bytes and continues the file's CRC over them. */
static void write_crc(FILE *f, uint32_t *crc, const void *p, size_t n) {
    fwrite(p, 1, n, f);
    *crc = sb_crc32(*crc, p, n);
}

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
    uint32_t crc = 0;
    write_crc(af.f, &crc, h, sizeof h);
    for (size_t k = 0; k < (size_t)x->n * x->dim; k++) {
        uint32_t bits;
        unsigned char b[4];
        memcpy(&bits, &x->feat[k], 4);
        put_u32(b, bits);
        write_crc(af.f, &crc, b, 4);
    }
    for (int i = 0; i < x->n; i++) write_crc(af.f, &crc, x->label[i], strlen(x->label[i]) + 1);
    unsigned char b[8];
    put_u64(b, (uint64_t)x->sk->n_data / 3);
    write_crc(af.f, &crc, b, 8);
    for (int i = 0; i < x->n; i++) put_u32(b, (uint32_t)x->sk->n[i]), write_crc(af.f, &crc, b, 4);
    for (size_t k = 0; k < x->sk->n_data; k++) {
        uint16_t v = (uint16_t)x->sk->data[k];
        b[0] = (unsigned char)v, b[1] = (unsigned char)(v >> 8);
        write_crc(af.f, &crc, b, 2);
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

/* The sketch block of n items into x->sk: it must fill f up to byte end. */
static int load_sketches(sb_index *x, FILE *f, uint64_t n, long end, const char *path) {
    unsigned char b[8];
    SB_TRY(read_exact(f, b, 8, path));
    uint64_t total = get_u64(b);
    long here = ftell(f);
    if (here < 0) return sb_fail(SB_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    if (here > end) return sb_fail(SB_ERR_FORMAT, "%s: index file is truncated", path);
    if (total < n || total > (uint64_t)(end - here) || 4 * n + 6 * total != (uint64_t)(end - here))
        return sb_fail(SB_ERR_FORMAT, "%s: %llu points of %llu sketches do not fill the %ld bytes left", path,
                       (unsigned long long)total, (unsigned long long)n, end - here);
    unsigned char *raw = malloc(4 * n + 6 * total + 1);
    int16_t *pts = malloc(6 * total + 1);
    int rc = raw && pts ? read_exact(f, raw, 4 * n + 6 * total, path)
                        : sb_fail(SB_ERR_MEMORY, "%s: out of host memory", path);
    for (uint64_t k = 0; !rc && k < 3 * total; k++)
        pts[k] = (int16_t)(uint16_t)(raw[4 * n + 2 * k] | raw[4 * n + 2 * k + 1] << 8);
    uint64_t first = 0;
    for (uint64_t i = 0; !rc && i < n; i++) {
        uint32_t len = get_u32(raw + 4 * i);
        if (len < 1 || len > total - first)
            rc = sb_fail(SB_ERR_FORMAT, "%s: sketch %llu has %u points, %llu are left", path, (unsigned long long)i,
                         len, (unsigned long long)(total - first));
        else rc = sb_sketches_add_i16(x->sk, pts + 3 * first, (int)len, NULL), first += len;
    }
    if (!rc && first != total)
        rc = sb_fail(SB_ERR_FORMAT, "%s: the sketches hold %llu of %llu points", path, (unsigned long long)first,
                     (unsigned long long)total);
    free(raw), free(pts);
    return rc;
}

/* Where f's content ends (*end): before the checksum trailer, which is
 * verified, or at the end of a file written before checksums. Leaves f
 * at its start. */
static int check_trailer(FILE *f, const char *path, long *end) {
    unsigned char t[12];
    long size = fseek(f, 0, SEEK_END) ? -1 : ftell(f);
    if (size < 0) return sb_fail(SB_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    *end = size;
    int has = size >= HEADER_BYTES + 12 && !fseek(f, size - 12, SEEK_SET) && fread(t, 1, 12, f) == 12 &&
              !memcmp(t, CRC_MAGIC, 8);
    rewind(f);
    if (!has) return 0;
    *end = size - 12;
    enum { CHUNK = 1 << 16 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", path);
    uint32_t crc = 0;
    for (long at = 0; at < *end;) {
        size_t k = fread(buf, 1, *end - at < CHUNK ? (size_t)(*end - at) : CHUNK, f);
        if (!k) break;
        crc = sb_crc32(crc, buf, k), at += (long)k;
    }
    free(buf);
    rewind(f);
    if (crc != get_u32(t + 8))
        return sb_fail(SB_ERR_FORMAT, "%s: bytes 0-%ld do not match the index's checksum: the file is damaged", path,
                       *end);
    return 0;
}

static int load(sb_index *x, FILE *f, const char *path, const sb_model_handle *m) {
    long content_end = 0;
    SB_TRY(check_trailer(f, path, &content_end));
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
    int rc = read_exact(f, raw, (size_t)n * dim * 4 + (size_t)label_bytes, path);
    if (!rc) rc = load_sketches(x, f, n, content_end, path);
    if (!rc && ftell(f) != content_end) rc = sb_fail(SB_ERR_FORMAT, "%s: bytes after the last sketch", path);
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

/* Which features the index file f holds: those whose fingerprint with m
 * its header has; else retrieval features where m has the head (loading
 * then says the index is another model's). Leaves f at its start. */
static int file_features(const sb_model_handle *m, FILE *f) {
    unsigned char h[HEADER_BYTES];
    int whole = fread(h, 1, sizeof h, f) == sizeof h;
    rewind(f);
    int has_head = (m->heads & SB_HEAD_RETRIEVAL) != 0;
    for (int k = has_head ? FEAT_RETRIEVAL : FEAT_ENCODER_MEAN; whole && k < N_FEAT; k++) {
        char fp[33];
        features_fingerprint(m, k, fp);
        if (!memcmp(h + 24, fp, 32)) return k;
    }
    return has_head ? FEAT_RETRIEVAL : FEAT_ENCODER_MEAN;
}

sb_status sb_index_load(const sb_model_handle *m, const char *path, sb_index **out) {
    if (!m || !path || !out) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_load: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return (sb_status)sb_fail(SB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    sb_index *x = NULL;
    int rc = new_index(m, file_features(m, f), &x);
    if (!rc) rc = load(x, f, path, m);
    fclose(f);
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
    int rc = features_of(x, m, s, q);
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
