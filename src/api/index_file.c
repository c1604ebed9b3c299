/* The retrieval index file (docs/api.md), little-endian:
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
 *                before checksums end without it)
 * The reader trusts no size in the file: each is checked, without
 * overflow, against the file's size before anything is allocated. */
#include "api/index_file.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "io/atomic_file.h"
#include "io/checksum.h"
#include "runtime/checked.h"

#define INDEX_MAGIC "SBINDEX\0"
#define INDEX_VERSION 2u
#define CRC_MAGIC "SBCRC32\0"
enum { CRC_TRAILER_BYTES = 12 };

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

/* Writes n bytes and continues the file's CRC over them. */
static void write_crc(FILE *f, uint32_t *crc, const void *p, size_t n) {
    fwrite(p, 1, n, f);
    *crc = sb_crc32(*crc, p, n);
}

sb_status sb_index_save(const sb_index *x, const char *path) {
    if (!x || !path) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_save: NULL argument");
    uint64_t label_bytes = 0;
    for (int i = 0; i < x->n; i++) label_bytes += strlen(x->label[i]) + 1;
    unsigned char h[API_INDEX_HEADER_BYTES];
    memcpy(h, INDEX_MAGIC, 8);
    put_u32(h + 8, INDEX_VERSION);
    put_u32(h + 12, (uint32_t)x->dim);
    put_u64(h + 16, (uint64_t)x->n);
    memcpy(h + API_INDEX_FINGERPRINT_AT, x->fingerprint, 32);
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
    unsigned char trailer[CRC_TRAILER_BYTES];
    memcpy(trailer, CRC_MAGIC, 8);
    put_u32(trailer + 8, crc);
    fwrite(trailer, 1, sizeof trailer, af.f);
    return (sb_status)sb_atomic_commit(&af);
}

static int read_exact(FILE *f, void *buf, size_t n, const char *path) {
    if (fread(buf, 1, n, f) == n) return 0;
    return sb_fail(SB_ERR_IO, "%s: cannot read %zu bytes (did the file change?)", path, n);
}

/* The sizes in the file, each checked against its size. */
typedef struct {
    uint32_t dim;
    uint64_t n, label_bytes, feat_bytes, points;
} layout;

static int check_sizes(FILE *f, const char *path, const unsigned char *h, uint64_t size, layout *l) {
    l->dim = get_u32(h + 12);
    l->n = get_u64(h + 16), l->label_bytes = get_u64(h + 56);
    uint64_t body = size - API_INDEX_HEADER_BYTES;
    /* These fields are where they are in every version: a size that runs
     * past the file is corruption before the version is even looked at. */
    if (l->dim > INT_MAX) return sb_fail(SB_ERR_FORMAT, "%s: truncated or corrupt: dim %u", path, l->dim);
    if (l->n > INT_MAX || sb_mul_u64(l->n, l->dim, &l->feat_bytes) || sb_mul_u64(l->feat_bytes, 4, &l->feat_bytes) ||
        l->feat_bytes > body)
        return sb_fail(SB_ERR_FORMAT,
                       "%s: truncated or corrupt: n %llu items of dim %u floats do not fit in the %llu bytes after "
                       "the header",
                       path, (unsigned long long)l->n, l->dim, (unsigned long long)body);
    uint64_t rest = body - l->feat_bytes;
    if (l->label_bytes > rest || l->label_bytes < l->n)
        return sb_fail(SB_ERR_FORMAT,
                       "%s: truncated or corrupt: label_bytes %llu for %llu labels, but %llu bytes follow the features",
                       path, (unsigned long long)l->label_bytes, (unsigned long long)l->n, (unsigned long long)rest);
    if (get_u32(h + 8) != INDEX_VERSION)
        return sb_fail(SB_ERR_FORMAT, "%s: index version %u, this library reads %u", path, get_u32(h + 8), INDEX_VERSION);
    /* Version 2: P, n lengths and P points fill the rest exactly. */
    rest -= l->label_bytes;
    unsigned char b[8];
    if (rest < 8)
        return sb_fail(SB_ERR_FORMAT, "%s: truncated or corrupt: no sketch block (P) after the labels", path);
    if (fseeko(f, (off_t)(size - rest), SEEK_SET) != 0 || fread(b, 1, 8, f) != 8 ||
        fseeko(f, API_INDEX_HEADER_BYTES, SEEK_SET) != 0)
        return sb_fail(SB_ERR_IO, "%s: cannot seek", path);
    l->points = get_u64(b);
    uint64_t point_bytes;
    if (l->points < l->n || sb_mul_u64(l->points, 6, &point_bytes) || point_bytes > rest - 8 ||
        4 * l->n != rest - 8 - point_bytes)
        return sb_fail(SB_ERR_FORMAT,
                       "%s: truncated or corrupt: P %llu points of %llu sketches do not fill the %llu bytes left",
                       path, (unsigned long long)l->points, (unsigned long long)l->n, (unsigned long long)(rest - 8));
    if (size >= SIZE_MAX) return sb_fail(SB_ERR_MEMORY, "%s: too large for this machine's memory", path);
    return 0;
}

/* The labels of the block p[0, bytes) into x->label. */
static int read_labels(sb_index *x, const char *p, uint64_t bytes, uint64_t n, const char *path) {
    const char *stop = p + bytes;
    for (uint64_t i = 0; i < n; i++) {
        const char *z = memchr(p, '\0', (size_t)(stop - p));
        if (!z) return sb_fail(SB_ERR_FORMAT, "%s: truncated or corrupt: label %llu is not terminated", path,
                               (unsigned long long)i);
        if (!(x->label[x->n] = strdup(p))) return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", path);
        x->n++, p = z + 1;
    }
    if (p != stop)
        return sb_fail(SB_ERR_FORMAT, "%s: truncated or corrupt: %llu labels do not fill label_bytes %llu", path,
                       (unsigned long long)n, (unsigned long long)bytes);
    return 0;
}

/* The sketch block after P: n lengths, then the points, into x->sk. */
static int read_sketches(sb_index *x, const unsigned char *raw, const layout *l, const char *path) {
    int16_t *pts = malloc(6 * (size_t)l->points + 1);
    if (!pts) return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", path);
    for (size_t k = 0; k < 3 * (size_t)l->points; k++)
        pts[k] = (int16_t)(uint16_t)(raw[4 * l->n + 2 * k] | raw[4 * l->n + 2 * k + 1] << 8);
    uint64_t first = 0;
    int rc = 0;
    for (uint64_t i = 0; !rc && i < l->n; i++) {
        uint32_t len = get_u32(raw + 4 * i);
        if (len < 1 || len > l->points - first)
            rc = sb_fail(SB_ERR_FORMAT, "%s: truncated or corrupt: sketch %llu has %u points, %llu are left", path,
                         (unsigned long long)i, len, (unsigned long long)(l->points - first));
        else rc = sb_sketches_add_i16(x->sk, pts + 3 * first, (int)len, NULL), first += len;
    }
    if (!rc && first != l->points)
        rc = sb_fail(SB_ERR_FORMAT, "%s: truncated or corrupt: the sketches hold %llu of P %llu points", path,
                     (unsigned long long)first, (unsigned long long)l->points);
    free(pts);
    return rc;
}

/* Where f's content ends (*end, given the file's size): before the
 * checksum trailer, which is verified, or at the end of a file written
 * before checksums. Leaves f at its start. */
static int check_trailer(FILE *f, const char *path, off_t *end) {
    unsigned char t[CRC_TRAILER_BYTES];
    int has = *end >= API_INDEX_HEADER_BYTES + CRC_TRAILER_BYTES && !fseeko(f, *end - CRC_TRAILER_BYTES, SEEK_SET) &&
              fread(t, 1, sizeof t, f) == sizeof t && !memcmp(t, CRC_MAGIC, 8);
    if (fseeko(f, 0, SEEK_SET) != 0) return sb_fail(SB_ERR_IO, "%s: cannot seek", path);
    if (!has) return 0;
    *end -= CRC_TRAILER_BYTES;
    enum { CHUNK = 1 << 16 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", path);
    uint32_t crc = 0;
    for (off_t at = 0; at < *end;) {
        size_t k = fread(buf, 1, *end - at < CHUNK ? (size_t)(*end - at) : CHUNK, f);
        if (!k) break;
        crc = sb_crc32(crc, buf, k), at += (off_t)k;
    }
    free(buf);
    if (fseeko(f, 0, SEEK_SET) != 0) return sb_fail(SB_ERR_IO, "%s: cannot seek", path);
    if (crc != get_u32(t + 8))
        return sb_fail(SB_ERR_FORMAT, "%s: bytes 0-%lld do not match the index's checksum: the file is damaged", path,
                       (long long)*end);
    return 0;
}

int api_index_read(sb_index *x, FILE *f, const char *path) {
    if (fseeko(f, 0, SEEK_END) != 0) return sb_fail(SB_ERR_IO, "%s: cannot seek", path);
    off_t end = ftello(f);
    if (end < 0 || fseeko(f, 0, SEEK_SET) != 0) return sb_fail(SB_ERR_IO, "%s: cannot tell its size", path);
    SB_TRY(check_trailer(f, path, &end));
    unsigned char h[API_INDEX_HEADER_BYTES];
    size_t got = fread(h, 1, sizeof h, f);
    if (got < 8 || memcmp(h, INDEX_MAGIC, 8) != 0) return sb_fail(SB_ERR_FORMAT, "%s is not a sketchbert index file", path);
    if (got < sizeof h)
        return sb_fail(SB_ERR_FORMAT, "%s: truncated or corrupt: header (%zu bytes, a header has %d)", path, got,
                       API_INDEX_HEADER_BYTES);
    layout l = {0};
    SB_TRY(check_sizes(f, path, h, (uint64_t)end, &l));
    /* Every size is now bounded by the file's. */
    x->dim = (int)l.dim;
    memcpy(x->fingerprint, h + API_INDEX_FINGERPRINT_AT, 32);
    x->fingerprint[32] = '\0';
    size_t sketch_bytes = 4 * (size_t)l.n + 6 * (size_t)l.points;
    free(x->feat), free(x->label);
    x->feat = malloc(l.feat_bytes ? (size_t)l.feat_bytes : 1);
    x->label = calloc(l.n ? (size_t)l.n : 1, sizeof *x->label);
    char *labels = malloc((size_t)l.label_bytes + 1);
    unsigned char *sketches = malloc(sketch_bytes + 1);
    int rc = x->feat && x->label && labels && sketches ? 0 : sb_fail(SB_ERR_MEMORY, "%s: out of host memory", path);
    if (!rc) x->cap = (int)l.n;
    if (!rc) rc = read_exact(f, x->feat, (size_t)l.feat_bytes, path);
    if (!rc) rc = read_exact(f, labels, (size_t)l.label_bytes, path);
    if (!rc && fseeko(f, 8, SEEK_CUR) != 0) rc = sb_fail(SB_ERR_IO, "%s: cannot seek", path); /* P, read above */
    if (!rc) rc = read_exact(f, sketches, sketch_bytes, path);
    for (size_t k = 0; !rc && k < (size_t)l.feat_bytes / 4; k++) { /* little-endian in place */
        uint32_t bits = get_u32((const unsigned char *)x->feat + 4 * k);
        memcpy(&x->feat[k], &bits, 4);
    }
    if (!rc) rc = read_labels(x, labels, l.label_bytes, l.n, path);
    if (!rc) rc = read_sketches(x, sketches, &l, path);
    free(labels), free(sketches);
    return rc;
}
