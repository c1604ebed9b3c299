/* .npz writer for sketch-rnn style files (see npz_write.h): a growable
 * byte buffer, the pickle and .npy encoders, then the zip container. */
#include "io/npz_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "io/checksum.h"
#include "runtime/error.h"

// ---- byte buffer

typedef struct { uint8_t *data; size_t len, cap; int failed; } bytes;

static void put(bytes *b, const void *p, size_t n) {
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return;
        }
        b->data = d, b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_u8(bytes *b, unsigned v) {
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

static void put_le(bytes *b, uint64_t v, int n) { /* n little-endian bytes */
    uint8_t c[8];
    for (int i = 0; i < n; i++) c[i] = (uint8_t)(v >> (8 * i));
    put(b, c, (size_t)n);
}

static void put_str(bytes *b, const char *s) { put(b, s, strlen(s)); }

/* A string literal, embedded NULs included. */
#define put_lit(b, lit) put((b), (lit), sizeof(lit) - 1)

// ---- pickle (protocol 2, as Python 2's cPickle writes NumPy arrays)

/* BINPUT slots: the globals and the two dtypes are written once and
 * fetched from the memo afterwards, as Python's pickler does. */
enum { MEMO_RECONSTRUCT, MEMO_NDARRAY, MEMO_DTYPE, MEMO_OBJECT, MEMO_INT16 };

static void pk_int(bytes *b, int64_t v) { /* v in [0, 2^31) */
    if (v < 256) put_u8(b, 'K'), put_u8(b, (unsigned)v); /* BININT1 */
    else if (v < 65536) put_u8(b, 'M'), put_le(b, (uint64_t)v, 2); /* BININT2 */
    else put_u8(b, 'J'), put_le(b, (uint64_t)v, 4); /* BININT */
}

/* Opcode and length of a Python 2 str of n bytes; the bytes follow. */
static void pk_string_header(bytes *b, size_t n) {
    if (n < 256) put_u8(b, 'U'), put_u8(b, (unsigned)n); /* SHORT_BINSTRING */
    else put_u8(b, 'T'), put_le(b, n, 4); /* BINSTRING */
}

static void pk_string(bytes *b, const char *s) {
    pk_string_header(b, strlen(s));
    put_str(b, s);
}

static void pk_memo_put(bytes *b, int slot) { put_u8(b, 'q'), put_u8(b, (unsigned)slot); }
static void pk_memo_get(bytes *b, int slot) { put_u8(b, 'h'), put_u8(b, (unsigned)slot); }

/* Pushes a global: the first time GLOBAL + BINPUT, later BINGET. */
static void pk_global(bytes *b, const char *module_and_name, int slot, int first) {
    if (!first) {
        pk_memo_get(b, slot);
        return;
    }
    put_u8(b, 'c'), put_str(b, module_and_name);
    pk_memo_put(b, slot);
}

/* numpy.dtype(name, 0, 1) with the state NumPy pickles, (3, order, None,
 * None, None, -1, -1, flags); the first time it is built and memoised in
 * `slot`, later fetched from there. */
static void pk_dtype(bytes *b, const char *name, const char *order, int flags, int slot, int first) {
    if (!first) {
        pk_memo_get(b, slot);
        return;
    }
    /* the object dtype is always pickled first (the outer array's) */
    pk_global(b, "numpy\ndtype\n", MEMO_DTYPE, slot == MEMO_OBJECT);
    pk_string(b, name);
    put_lit(b, "K\x00" "K\x01" "\x87" "R"); /* 0, 1, TUPLE3, REDUCE */
    pk_memo_put(b, slot);
    put_u8(b, '('), pk_int(b, 3), pk_string(b, order);
    put_lit(b, "NNN" "J\xff\xff\xff\xff" "J\xff\xff\xff\xff"); /* None x3, -1, -1 */
    pk_int(b, flags);
    put_lit(b, "tb"); /* TUPLE, BUILD */
}

/* _reconstruct(ndarray, (0,), 'b'), then MARK, 1 and the shape tuple of
 * the state (1, shape, dtype, fortran, data): the caller adds the rest and
 * "tb" (TUPLE, BUILD). first: the outer array, which writes the globals. */
static void pk_array_begin(bytes *b, const int64_t *shape, int ndim, int first) {
    pk_global(b, "numpy.core.multiarray\n_reconstruct\n", MEMO_RECONSTRUCT, first);
    pk_global(b, "numpy\nndarray\n", MEMO_NDARRAY, first);
    put_lit(b, "K\x00" "\x85"); /* (0,) */
    pk_string(b, "b");
    put_lit(b, "\x87" "R" "(");
    pk_int(b, 1);
    for (int i = 0; i < ndim; i++) pk_int(b, shape[i]);
    put_u8(b, ndim == 1 ? 0x85 : 0x86); /* TUPLE1 / TUPLE2 */
}

/* One int16 (n, 3) array; its raw data is a str of little-endian bytes. */
static void pk_sketch(bytes *b, const int16_t *pts, size_t n, int first) {
    int64_t shape[2] = {(int64_t)n, 3};
    pk_array_begin(b, shape, 2, 0);
    pk_dtype(b, "i2", "<", 0, MEMO_INT16, first);
    put_u8(b, 0x89); /* NEWFALSE: not Fortran order */
    pk_string_header(b, n * 3 * 2);
    for (size_t i = 0; i < n * 3; i++) put_le(b, (uint16_t)pts[i], 2);
    put_lit(b, "tb");
}

/* .npy v1.0 header, padded with spaces so the data starts at a multiple
 * of 64 bytes; the shape as Python writes tuples: (n,) or (a, b). */
static void npy_header(bytes *b, const char *descr, const int64_t *shape, int ndim) {
    char dict[256];
    int dlen = snprintf(dict, sizeof dict, "{'descr': '%.16s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < ndim && i < 8; i++)
        dlen += snprintf(dict + dlen, sizeof dict - (size_t)dlen, i ? ", %lld" : "%lld", (long long)shape[i]);
    dlen += snprintf(dict + dlen, sizeof dict - (size_t)dlen, "%s), }", ndim == 1 ? "," : "");
    size_t hlen = (size_t)dlen + 1;
    hlen += (64 - (10 + hlen) % 64) % 64;
    put_lit(b, "\x93NUMPY\x01");
    put_u8(b, 0), put_le(b, hlen, 2), put(b, dict, (size_t)dlen);
    for (size_t i = (size_t)dlen; i + 1 < hlen; i++) put_u8(b, ' ');
    put_u8(b, '\n');
}

int sb_npy_encode(const char *descr, const int64_t *shape, int ndim, const void *data, size_t data_size,
                  uint8_t **out, size_t *out_size) {
    *out = NULL, *out_size = 0;
    if (ndim < 1 || ndim > 8 || strlen(descr) > 16 || (data_size && !data))
        return sb_fail(SB_ERR_INVALID, "npy_encode: %d dimensions of '%s' (or no data)", ndim, descr);
    bytes b = {0};
    npy_header(&b, descr, shape, ndim);
    put(&b, data, data_size);
    if (b.failed) {
        free(b.data);
        return sb_fail(SB_ERR_MEMORY, "npy_encode: out of memory for %zu bytes", data_size);
    }
    *out = b.data, *out_size = b.len;
    return SB_OK;
}

int sb_npy_encode_sketches(const int16_t *points, const size_t *starts, size_t count, uint8_t **out,
                           size_t *out_size) {
    *out = NULL, *out_size = 0;
    if (count > 0x7fffffff || (count > 0 && (!points || !starts)))
        return sb_fail(SB_ERR_INVALID, "npy_encode_sketches: %zu sketches (or no data)", count);
    for (size_t i = 0; i < count; i++)
        if (starts[i + 1] < starts[i] || (starts[i + 1] - starts[i]) * 6 > 0x7fffffff)
            return sb_fail(SB_ERR_INVALID, "npy_encode_sketches: sketch %zu has bad bounds [%zu, %zu)", i, starts[i],
                           starts[i + 1]);
    bytes b = {0};
    int64_t shape[1] = {(int64_t)count};
    npy_header(&b, "|O", shape, 1);
    put_lit(&b, "\x80\x02"); /* PROTO 2 */
    pk_array_begin(&b, shape, 1, 1);
    pk_dtype(&b, "O8", "|", 63, MEMO_OBJECT, 1);
    put_u8(&b, 0x89); /* NEWFALSE */
    put_u8(&b, ']');  /* EMPTY_LIST, then APPENDS in batches of 1000 as Python does */
    for (size_t i = 0; i < count; i += 1000) {
        put_u8(&b, '(');
        for (size_t j = i; j < count && j < i + 1000; j++)
            pk_sketch(&b, points + starts[j] * 3, starts[j + 1] - starts[j], j == 0);
        put_u8(&b, 'e');
    }
    put_lit(&b, "tb.");
    if (b.failed) {
        free(b.data);
        return sb_fail(SB_ERR_MEMORY, "npy_encode_sketches: out of memory for %zu sketches", count);
    }
    *out = b.data, *out_size = b.len;
    return SB_OK;
}

// ---- zip container

typedef struct {
    char *name;
    uint32_t crc, csize, usize, offset;
    uint16_t method;
} zip_entry;

struct sb_npz_writer {
    FILE *f;
    char *path, *tmp_path;
    int deflate;
    uint64_t offset; /* bytes written so far */
    zip_entry *entries;
    size_t n_entries, cap_entries;
};

/* Fixed MS-DOS time stamp (1980-01-01 00:00) so output is reproducible. */
enum { DOS_TIME = 0, DOS_DATE = (0 << 9) | (1 << 5) | 1, ZIP_VERSION = 20 };

static int write_all(sb_npz_writer *w, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, w->f) != n)
        return sb_fail(SB_ERR_IO, "writing %s: %s", w->tmp_path, strerror(errno));
    w->offset += n;
    return SB_OK;
}

static void free_writer(sb_npz_writer *w) {
    for (size_t i = 0; i < w->n_entries; i++) free(w->entries[i].name);
    free(w->entries), free(w->path), free(w->tmp_path), free(w);
}

int sb_npz_writer_open(sb_npz_writer **out, const char *path, int deflate) {
    *out = NULL;
    sb_npz_writer *w = calloc(1, sizeof *w);
    size_t n = strlen(path);
    if (!w || !(w->path = malloc(n + 1)) || !(w->tmp_path = malloc(n + 5))) {
        if (w) free_writer(w);
        return sb_fail(SB_ERR_MEMORY, "npz writer for %s: out of memory", path);
    }
    memcpy(w->path, path, n + 1);
    memcpy(w->tmp_path, path, n), memcpy(w->tmp_path + n, ".tmp", 5);
    w->deflate = deflate != 0;
    if (!(w->f = fopen(w->tmp_path, "wb"))) {
        int rc = sb_fail(SB_ERR_IO, "cannot create %s: %s", w->tmp_path, strerror(errno));
        free_writer(w);
        return rc;
    }
    *out = w;
    return SB_OK;
}

/* Raw deflate (no zlib header), as zip method 8 stores it. */
static int deflate_raw(const void *data, size_t size, uint8_t **out, size_t *out_size, const char *name) {
    z_stream z = {0};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return sb_fail(SB_ERR_MEMORY, "npz member %s: deflateInit2 failed", name);
    size_t bound = deflateBound(&z, (uLong)size);
    uint8_t *buf = malloc(bound);
    if (!buf) {
        deflateEnd(&z);
        return sb_fail(SB_ERR_MEMORY, "npz member %s: out of memory (%zu bytes)", name, bound);
    }
    /* size < 4 GiB (no zip64), so it fits zlib's uInt; output past 4 GiB
     * would need zip64 too */
    z.next_in = (Bytef *)data, z.avail_in = (uInt)size;
    z.next_out = buf, z.avail_out = bound > 0xffffffffu ? 0xffffffffu : (uInt)bound;
    int zrc = deflate(&z, Z_FINISH);
    *out_size = z.total_out;
    deflateEnd(&z);
    if (zrc != Z_STREAM_END) {
        free(buf);
        if (z.avail_out == 0) return sb_fail(SB_ERR_INVALID, "npz member %s would need zip64 (not supported)", name);
        return sb_fail(SB_ERR_FORMAT, "npz member %s: deflate returned %d", name, zrc);
    }
    *out = buf;
    return SB_OK;
}

int sb_npz_writer_add(sb_npz_writer *w, const char *name, const void *data, size_t size) {
    size_t name_len = strlen(name);
    if (name_len == 0 || name_len > 0xffff) return sb_fail(SB_ERR_INVALID, "npz member name '%s' is empty or too long", name);
    if (size >= 0xffffffffu || w->offset >= 0xffffffffu || w->n_entries >= 0xffff)
        return sb_fail(SB_ERR_INVALID, "%s: member %s would need zip64 (not supported)", w->path, name);
    if (w->n_entries == w->cap_entries) {
        size_t cap = w->cap_entries ? 2 * w->cap_entries : 8;
        zip_entry *e = realloc(w->entries, cap * sizeof *e);
        if (!e) return sb_fail(SB_ERR_MEMORY, "npz writer: out of memory");
        w->entries = e, w->cap_entries = cap;
    }
    zip_entry e = {0};
    e.crc = sb_crc32(0, data, size);
    e.usize = (uint32_t)size;
    e.offset = (uint32_t)w->offset;
    e.method = w->deflate ? 8 : 0;
    uint8_t *packed = NULL;
    size_t packed_size = size;
    if (w->deflate) SB_TRY(deflate_raw(data, size, &packed, &packed_size, name));
    if (packed_size >= 0xffffffffu) {
        free(packed);
        return sb_fail(SB_ERR_INVALID, "%s: member %s would need zip64 (not supported)", w->path, name);
    }
    e.csize = (uint32_t)packed_size;
    if (!(e.name = malloc(name_len + 1))) {
        free(packed);
        return sb_fail(SB_ERR_MEMORY, "npz writer: out of memory");
    }
    memcpy(e.name, name, name_len + 1);

    bytes h = {0}; /* local file header */
    put_le(&h, 0x04034b50, 4), put_le(&h, ZIP_VERSION, 2), put_le(&h, 0, 2), put_le(&h, e.method, 2);
    put_le(&h, DOS_TIME, 2), put_le(&h, DOS_DATE, 2), put_le(&h, e.crc, 4), put_le(&h, e.csize, 4);
    put_le(&h, e.usize, 4), put_le(&h, name_len, 2), put_le(&h, 0, 2), put(&h, name, name_len);
    int rc = h.failed ? sb_fail(SB_ERR_MEMORY, "npz writer: out of memory") : write_all(w, h.data, h.len);
    if (!rc) rc = write_all(w, packed ? packed : data, packed_size);
    free(h.data), free(packed);
    if (rc) {
        free(e.name);
        return rc;
    }
    w->entries[w->n_entries++] = e;
    return SB_OK;
}

int sb_npz_writer_add_sketches(sb_npz_writer *w, const char *array, const int16_t *points, const size_t *starts,
                               size_t count) {
    char name[256];
    if (snprintf(name, sizeof name, "%s.npy", array) >= (int)sizeof name)
        return sb_fail(SB_ERR_INVALID, "npz array name '%s' is too long", array);
    uint8_t *npy;
    size_t npy_size;
    int rc = sb_npy_encode_sketches(points, starts, count, &npy, &npy_size);
    if (rc) return sb_fail_context(rc, "%s: array %s", w->path, array);
    rc = sb_npz_writer_add(w, name, npy, npy_size);
    free(npy);
    return rc;
}

void sb_npz_writer_abort(sb_npz_writer *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    remove(w->tmp_path);
    free_writer(w);
}

int sb_npz_writer_close(sb_npz_writer *w) {
    bytes cd = {0}; /* central directory and end record */
    for (size_t i = 0; i < w->n_entries; i++) {
        const zip_entry *e = &w->entries[i];
        size_t name_len = strlen(e->name);
        put_le(&cd, 0x02014b50, 4), put_le(&cd, ZIP_VERSION, 2), put_le(&cd, ZIP_VERSION, 2);
        put_le(&cd, 0, 2), put_le(&cd, e->method, 2), put_le(&cd, DOS_TIME, 2), put_le(&cd, DOS_DATE, 2);
        put_le(&cd, e->crc, 4), put_le(&cd, e->csize, 4), put_le(&cd, e->usize, 4);
        put_le(&cd, name_len, 2), put_le(&cd, 0, 2), put_le(&cd, 0, 2); /* name, extra, comment lengths */
        put_le(&cd, 0, 2), put_le(&cd, 0, 2), put_le(&cd, 0, 4);        /* disk, internal, external attrs */
        put_le(&cd, e->offset, 4), put(&cd, e->name, name_len);
    }
    uint64_t cd_offset = w->offset, cd_size = cd.len;
    put_le(&cd, 0x06054b50, 4), put_le(&cd, 0, 2), put_le(&cd, 0, 2);
    put_le(&cd, w->n_entries, 2), put_le(&cd, w->n_entries, 2);
    put_le(&cd, cd_size, 4), put_le(&cd, cd_offset, 4), put_le(&cd, 0, 2);

    int rc = SB_OK;
    if (cd.failed) rc = sb_fail(SB_ERR_MEMORY, "npz writer: out of memory");
    else if (cd_offset + cd_size >= 0xffffffffu) rc = sb_fail(SB_ERR_INVALID, "%s would need zip64 (not supported)", w->path);
    if (!rc) rc = write_all(w, cd.data, cd.len);
    free(cd.data);
    if (!rc && (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0))
        rc = sb_fail(SB_ERR_IO, "flushing %s: %s", w->tmp_path, strerror(errno));
    int close_rc = fclose(w->f);
    w->f = NULL;
    if (!rc && close_rc != 0) rc = sb_fail(SB_ERR_IO, "closing %s: %s", w->tmp_path, strerror(errno));
    if (!rc && rename(w->tmp_path, w->path) != 0)
        rc = sb_fail(SB_ERR_IO, "renaming %s to %s: %s", w->tmp_path, w->path, strerror(errno));
    if (rc) remove(w->tmp_path);
    free_writer(w);
    return rc;
}
