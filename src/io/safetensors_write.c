/* safetensors writer (see safetensors.h): collects copies of tensors and
 * metadata; on commit adds the checksums to the metadata, then writes the
 * header (padded with spaces to a multiple of 8 bytes) and the data
 * atomically through io/atomic_file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "io/checksum.h"
#include "io/safetensors.h"
#include "io/safetensors_internal.h"
#include "runtime/error.h"

/* The low n bytes of v, little-endian. */
static void store_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

typedef struct {
    char *name;
    sb_st_dtype dtype;
    int ndim;
    int64_t shape[SB_ST_MAX_DIMS];
    uint8_t *data; /* little-endian */
    size_t bytes;
} wtensor;

struct sb_st_writer {
    char *path;
    wtensor *t;
    int n, cap;
    char **mk, **mv;
    int n_meta;
};

int sb_st_writer_open(sb_st_writer **out, const char *path) {
    *out = calloc(1, sizeof **out);
    if (!*out || !((*out)->path = strdup(path))) {
        free(*out);
        *out = NULL;
        return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", path);
    }
    return 0;
}

void sb_st_writer_abort(sb_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->t[i].name), free(w->t[i].data);
    for (int i = 0; i < w->n_meta; i++) free(w->mk[i]), free(w->mv[i]);
    free(w->t), free(w->mk), free(w->mv), free(w->path), free(w);
}

int sb_st_writer_add(sb_st_writer *w, const char *name, sb_st_dtype dtype, int ndim, const int64_t *shape,
                     const void *data) {
    if (dtype != SB_ST_F32 && dtype != SB_ST_I32 && dtype != SB_ST_I64)
        return sb_fail(SB_ERR_INVALID, "%s: tensor '%s': writing dtype %s is not supported", w->path, name,
                       sb_st_dtype_name(dtype));
    if (ndim < 0 || ndim > SB_ST_MAX_DIMS)
        return sb_fail(SB_ERR_INVALID, "%s: tensor '%s': %d dimensions", w->path, name, ndim);
    if (!strcmp(name, "__metadata__"))
        return sb_fail(SB_ERR_INVALID, "%s: '__metadata__' is not a tensor name", w->path);
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name)) return sb_fail(SB_ERR_INVALID, "%s: tensor '%s' added twice", w->path, name);
    size_t numel = 1, es = sb_st_dtype_size(dtype);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return sb_fail(SB_ERR_INVALID, "%s: tensor '%s': negative dimension", w->path, name);
        numel *= (size_t)shape[d];
    }
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        wtensor *nt = realloc(w->t, (size_t)cap * sizeof *nt);
        if (!nt) return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", w->path);
        w->t = nt, w->cap = cap;
    }
    wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->bytes = numel * es;
    t->name = strdup(name);
    t->data = malloc(t->bytes ? t->bytes : 1);
    if (!t->name || !t->data) {
        free(t->name), free(t->data);
        return sb_fail(SB_ERR_MEMORY, "%s: tensor '%s': out of host memory (%zu bytes)", w->path, name, t->bytes);
    }
    t->dtype = dtype, t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    const uint8_t *src = data;
    for (size_t i = 0; i < numel; i++) { /* host order to little-endian */
        uint64_t v = 0;
        if (es == 4) {
            uint32_t u;
            memcpy(&u, src + 4 * i, 4);
            v = u;
        } else {
            memcpy(&v, src + 8 * i, 8);
        }
        store_le(t->data + es * i, v, (int)es);
    }
    w->n++;
    return 0;
}

int sb_st_writer_meta(sb_st_writer *w, const char *key, const char *value) {
    for (int i = 0; i < w->n_meta; i++)
        if (!strcmp(w->mk[i], key)) {
            char *v = strdup(value);
            if (!v) return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", w->path);
            free(w->mv[i]);
            w->mv[i] = v;
            return 0;
        }
    char **nk = realloc(w->mk, (size_t)(w->n_meta + 1) * sizeof *nk);
    if (nk) w->mk = nk;
    char **nv = nk ? realloc(w->mv, (size_t)(w->n_meta + 1) * sizeof *nv) : NULL;
    if (nv) w->mv = nv;
    char *k = nv ? strdup(key) : NULL, *v = k ? strdup(value) : NULL;
    if (!v) {
        free(k);
        return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", w->path);
    }
    w->mk[w->n_meta] = k, w->mv[w->n_meta] = v;
    w->n_meta++;
    return 0;
}

/* A JSON string literal of s. */
static void put_json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", out);
        else if (*p < 0x20) fprintf(out, "\\u%04x", *p);
        else fputc(*p, out);
    }
    fputc('"', out);
}

/* The header JSON, padded with spaces to a multiple of 8 bytes. */
static int build_header(const sb_st_writer *w, char **text, size_t *len) {
    FILE *out = open_memstream(text, len);
    if (!out) return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", w->path);
    fputc('{', out);
    if (w->n_meta) {
        fputs("\"__metadata__\":{", out);
        for (int i = 0; i < w->n_meta; i++) {
            if (i) fputc(',', out);
            put_json_string(out, w->mk[i]);
            fputc(':', out);
            put_json_string(out, w->mv[i]);
        }
        fputc('}', out);
    }
    uint64_t offset = 0;
    for (int i = 0; i < w->n; i++) {
        const wtensor *t = &w->t[i];
        if (i || w->n_meta) fputc(',', out);
        put_json_string(out, t->name);
        fprintf(out, ":{\"dtype\":\"%s\",\"shape\":[", sb_st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) fprintf(out, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        fprintf(out, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                (unsigned long long)(offset + t->bytes));
        offset += t->bytes;
    }
    fputc('}', out);
    long pos = ftell(out);
    while (pos >= 0 && pos % 8) fputc(' ', out), pos++;
    int bad = ferror(out) || pos < 0;
    if (fclose(out) || bad) {
        free(*text);
        *text = NULL;
        return sb_fail(SB_ERR_MEMORY, "%s: out of host memory building the header", w->path);
    }
    return 0;
}

/* Sets SB_ST_CHECKSUM_KEY: the header's checksum, then each tensor's. */
static int add_checksums(sb_st_writer *w) {
    char *sum = malloc(9 * (size_t)(w->n + 1));
    if (!sum) return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", w->path);
    uint32_t crc = 0;
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->mk[i], SB_ST_CHECKSUM_KEY)) crc = st_crc_meta(crc, w->mk[i], w->mv[i]);
    uint64_t offset = 0;
    for (int i = 0; i < w->n; i++) {
        const wtensor *t = &w->t[i];
        crc = st_crc_entry(crc, t->name, t->dtype, t->ndim, t->shape, offset, offset + t->bytes);
        offset += t->bytes;
    }
    sb_crc32_hex(sum, crc);
    for (int i = 0; i < w->n; i++) {
        sum[9 * i + 8] = ' ';
        sb_crc32_hex(sum + 9 * (i + 1), sb_crc32(0, w->t[i].data, w->t[i].bytes));
    }
    int rc = sb_st_writer_meta(w, SB_ST_CHECKSUM_KEY, sum);
    free(sum);
    return rc;
}

int sb_st_writer_commit(sb_st_writer *w) {
    char *header = NULL;
    size_t hlen = 0;
    int rc = add_checksums(w);
    if (!rc) rc = build_header(w, &header, &hlen);
    sb_atomic_file af;
    if (!rc) rc = sb_atomic_open(&af, w->path);
    if (!rc) {
        uint8_t len8[8];
        store_le(len8, hlen, 8);
        fwrite(len8, 1, 8, af.f);
        fwrite(header, 1, hlen, af.f);
        for (int i = 0; i < w->n; i++) fwrite(w->t[i].data, 1, w->t[i].bytes, af.f);
        rc = sb_atomic_commit(&af);
    }
    free(header);
    sb_st_writer_abort(w);
    return rc;
}
