/* Helpers shared by the io tests (no OpenCL device needed): a byte buffer,
 * builders for pickles and zip archives made in memory, the shared data
 * folder, and rows of the shared data's SOURCES.md tables. Results are
 * counted with t_check_true / t_check_error and printed by t_finish(NULL)
 * from test_util.
 * defines: buf, buf_put, pk_*, npy_build, zip_build, io_data_path, io_read_file,
 *          io_table_rows, io_peak_rss_mb */
#ifndef SB_IO_TEST_UTIL_H
#define SB_IO_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zlib.h>

#include "test_util.h"

// ---- growable byte buffer (aborts the test on allocation failure)

typedef struct { unsigned char *p; size_t n, cap; } buf;

static inline void buf_put(buf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}
static inline void buf_byte(buf *b, unsigned v) { unsigned char c = (unsigned char)v; buf_put(b, &c, 1); }
static inline void buf_le(buf *b, uint64_t v, int n) { for (int i = 0; i < n; i++) buf_byte(b, i < 8 ? (unsigned)(v >> 8 * i) & 0xFF : 0); }
static inline void buf_str(buf *b, const char *s) { buf_put(b, s, strlen(s)); }
static inline void buf_free(buf *b) { free(b->p); memset(b, 0, sizeof *b); }

// ---- pickle builder: one function per opcode family

static inline void pk_op(buf *b, unsigned op) { buf_byte(b, op); }
static inline void pk_proto(buf *b, unsigned v) { buf_byte(b, 0x80); buf_byte(b, v); }
static inline void pk_global(buf *b, const char *module, const char *name) {
    buf_byte(b, 'c'); buf_str(b, module); buf_byte(b, '\n'); buf_str(b, name); buf_byte(b, '\n');
}
static inline void pk_int(buf *b, int64_t v) {
    if (v >= 0 && v < 256) { buf_byte(b, 'K'); buf_byte(b, (unsigned)v); }
    else if (v >= 0 && v < 65536) { buf_byte(b, 'M'); buf_le(b, (uint64_t)v, 2); }
    else { buf_byte(b, 'J'); buf_le(b, (uint64_t)v, 4); }
}
/* kind: 'U' / 'T' Python 2 str, 'X' / 0x8c str, 'C' / 'B' bytes */
static inline void pk_string(buf *b, unsigned kind, const void *s, size_t n) {
    buf_byte(b, kind);
    buf_le(b, n, kind == 'U' || kind == 'C' || kind == 0x8c ? 1 : 4);
    buf_put(b, s, n);
}
static inline void pk_text(buf *b, const char *s) { pk_string(b, 'X', s, strlen(s)); }

/* bytes as Python 3 writes them at protocol 2: _codecs.encode(latin-1
 * text as UTF-8, 'latin1') */
static inline void pk_codecs_bytes(buf *b, const unsigned char *s, size_t n) {
    pk_global(b, "_codecs", "encode");
    buf t = {0};
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) buf_byte(&t, s[i]);
        else { buf_byte(&t, 0xC0 | s[i] >> 6); buf_byte(&t, 0x80 | (s[i] & 0x3F)); }
    }
    pk_string(b, 'X', t.p, t.n);
    pk_text(b, "latin1");
    pk_op(b, 0x86); /* TUPLE2 */
    pk_op(b, 'R');
    buf_free(&t);
}

/* numpy.dtype(name) with byte order `order` ('<', '>', '|') */
static inline void pk_dtype(buf *b, const char *name, const char *order) {
    pk_global(b, "numpy", "dtype");
    pk_string(b, 'U', name, strlen(name));
    pk_int(b, 0); pk_int(b, 1);
    pk_op(b, 0x87); pk_op(b, 'R'); /* TUPLE3 REDUCE */
    pk_op(b, '('); pk_int(b, 3); pk_string(b, 'U', order, 1);
    pk_op(b, 'N'); pk_op(b, 'N'); pk_op(b, 'N');
    pk_int(b, -1); pk_int(b, -1); pk_int(b, 0);
    pk_op(b, 't'); pk_op(b, 'b'); /* TUPLE BUILD */
}

/* Opens _reconstruct(ndarray, (0,), b'b') and the state tuple up to the
 * payload: (1, shape, dtype, False, ...; the caller writes the payload and
 * calls pk_ndarray_end. */
static inline void pk_ndarray_begin(buf *b, int ndim, const int64_t *shape, const char *dtype, const char *order) {
    pk_global(b, "numpy.core.multiarray", "_reconstruct");
    pk_global(b, "numpy", "ndarray");
    pk_int(b, 0); pk_op(b, 0x85); pk_string(b, 'U', "b", 1); pk_op(b, 0x87); pk_op(b, 'R');
    pk_op(b, '('); pk_int(b, 1);
    pk_op(b, '(');
    for (int i = 0; i < ndim; i++) pk_int(b, shape[i]);
    pk_op(b, 't');
    pk_dtype(b, dtype, order);
    pk_op(b, 0x89); /* NEWFALSE */
}
static inline void pk_ndarray_end(buf *b) { pk_op(b, 't'); pk_op(b, 'b'); }

// ---- npy builder

/* An .npy file: magic, version, padded header dict, payload. */
static inline void npy_build(buf *b, int version, const char *descr, int fortran, const char *shape, const void *data,
                      size_t n) {
    char dict[256];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr,
             fortran ? "True" : "False", shape);
    size_t pre = version == 1 ? 10 : 12, len = strlen(dict) + 1;
    while ((pre + len) % 64) len++;
    buf_put(b, "\x93NUMPY", 6);
    buf_byte(b, (unsigned)version);
    buf_byte(b, 0);
    buf_le(b, len, version == 1 ? 2 : 4);
    buf_str(b, dict);
    for (size_t i = strlen(dict); i + 1 < len; i++) buf_byte(b, ' ');
    buf_byte(b, '\n');
    buf_put(b, data, n);
}

// ---- zip builder

typedef struct { const char *name; const void *data; size_t size; int deflate; } zip_member;

/* A zip archive of the members, stored or raw-deflated, as numpy writes. */
static inline void zip_build(buf *z, const zip_member *m, int n) {
    buf cd = {0};
    for (int i = 0; i < n; i++) {
        buf body = {0};
        if (m[i].deflate) {
            z_stream s;
            memset(&s, 0, sizeof s);
            uLong bound = compressBound((uLong)m[i].size) + 64;
            body.p = malloc(bound); body.cap = bound;
            if (deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
            s.next_in = (unsigned char *)m[i].data; s.avail_in = (uInt)m[i].size;
            s.next_out = body.p; s.avail_out = (uInt)bound;
            if (deflate(&s, Z_FINISH) != Z_STREAM_END) abort();
            body.n = s.total_out;
            deflateEnd(&s);
        } else {
            buf_put(&body, m[i].data, m[i].size);
        }
        uint32_t crc = (uint32_t)crc32(0L, m[i].data, (uInt)m[i].size);
        size_t off = z->n, name_len = strlen(m[i].name);
        unsigned method = m[i].deflate ? 8 : 0;
        buf_le(z, 0x04034b50, 4); buf_le(z, 20, 2); buf_le(z, 0, 2); buf_le(z, method, 2);
        buf_le(z, 0, 4); buf_le(z, crc, 4); buf_le(z, body.n, 4); buf_le(z, m[i].size, 4);
        buf_le(z, name_len, 2); buf_le(z, 0, 2); buf_str(z, m[i].name);
        buf_put(z, body.p, body.n);
        buf_le(&cd, 0x02014b50, 4); buf_le(&cd, 20, 2); buf_le(&cd, 20, 2); buf_le(&cd, 0, 2);
        buf_le(&cd, method, 2); buf_le(&cd, 0, 4); buf_le(&cd, crc, 4); buf_le(&cd, body.n, 4);
        buf_le(&cd, m[i].size, 4); buf_le(&cd, name_len, 2); buf_le(&cd, 0, 2); buf_le(&cd, 0, 2);
        buf_le(&cd, 0, 2); buf_le(&cd, 0, 2); buf_le(&cd, 0, 4); buf_le(&cd, off, 4);
        buf_str(&cd, m[i].name);
        buf_free(&body);
    }
    size_t cd_off = z->n;
    buf_put(z, cd.p, cd.n);
    buf_le(z, 0x06054b50, 4); buf_le(z, 0, 2); buf_le(z, 0, 2); buf_le(z, (uint64_t)n, 2);
    buf_le(z, (uint64_t)n, 2); buf_le(z, cd.n, 4); buf_le(z, cd_off, 4); buf_le(z, 0, 2);
    buf_free(&cd);
}

// ---- memory

/* The process's peak resident set so far, in MB (hostile-size tests). */
static inline long io_peak_rss_mb(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss / 1024;
}

// ---- shared data

/* SKETCHBERT_SHARED_DATA/rel into out; 0 when the folder is missing. */
static inline int io_data_path(char *out, size_t cap, const char *rel) {
    const char *root = getenv("SKETCHBERT_SHARED_DATA");
    if (!root || !*root) return 0;
    snprintf(out, cap, "%s/SOURCES.md", root);
    FILE *f = fopen(out, "rb");
    if (!f) return 0;
    fclose(f);
    snprintf(out, cap, "%s/%s", root, rel);
    return 1;
}

/* The whole file, NUL-terminated (caller frees); NULL when unreadable. */
static inline char *io_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_put(&b, chunk, n);
    fclose(f);
    buf_byte(&b, 0);
    if (size) *size = b.n - 1;
    return (char *)b.p;
}

/* Calls row(cells, n_cells, ctx) for every table row of SOURCES.md whose
 * first cell starts with `prefix`; cells are trimmed and NUL-terminated.
 * Returns the number of rows, or -1 when SOURCES.md is missing. */
typedef void (*io_row_fn)(char **cells, int n_cells, void *ctx);
static inline int io_table_rows(const char *prefix, io_row_fn row, void *ctx) {
    char path[1024];
    if (!io_data_path(path, sizeof path, "SOURCES.md")) return -1;
    char *text = io_read_file(path, NULL);
    if (!text) return -1;
    int rows = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (strncmp(line, "| ", 2) != 0 || strncmp(line + 2, prefix, strlen(prefix)) != 0) continue;
        char *cells[32];
        int n = 0;
        for (char *c = line + 1; n < 32;) {
            char *bar = strchr(c, '|');
            if (!bar) break;
            *bar = '\0';
            while (*c == ' ') c++;
            for (char *e = bar; e > c && e[-1] == ' ';) *--e = '\0';
            cells[n++] = c;
            c = bar + 1;
        }
        row(cells, n, ctx);
        rows++;
    }
    free(text);
    return rows;
}

#endif
