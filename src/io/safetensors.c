/* safetensors reader (see safetensors.h): the dtype table, the checksum
 * layout shared with the writer, opening a file (header length, the header
 * through safetensors_header.c, checksums verified when present) and
 * reading tensors with dtype conversion. The writer is safetensors_write.c. */
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/checksum.h"
#include "io/float16.h"
#include "io/safetensors_internal.h"
#include "runtime/error.h"

#define MAX_HEADER ((uint64_t)100 << 20) /* as the Rust implementation */

static const struct { const char *name; size_t size; } dtypes[SB_ST_N_DTYPES] = {
    [SB_ST_BOOL] = {"BOOL", 1}, [SB_ST_U8] = {"U8", 1},     [SB_ST_I8] = {"I8", 1},
    [SB_ST_F8_E5M2] = {"F8_E5M2", 1}, [SB_ST_F8_E4M3] = {"F8_E4M3", 1}, [SB_ST_I16] = {"I16", 2},
    [SB_ST_U16] = {"U16", 2},   [SB_ST_F16] = {"F16", 2},   [SB_ST_BF16] = {"BF16", 2},
    [SB_ST_I32] = {"I32", 4},   [SB_ST_U32] = {"U32", 4},   [SB_ST_F32] = {"F32", 4},
    [SB_ST_F64] = {"F64", 8},   [SB_ST_I64] = {"I64", 8},   [SB_ST_U64] = {"U64", 8},
};

const char *sb_st_dtype_name(sb_st_dtype t) { return (unsigned)t < SB_ST_N_DTYPES ? dtypes[t].name : "?"; }
size_t sb_st_dtype_size(sb_st_dtype t) { return (unsigned)t < SB_ST_N_DTYPES ? dtypes[t].size : 0; }

static uint64_t load_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

// ---- checksums (see safetensors.h: SB_ST_CHECKSUM_KEY)

/* The header's checksum covers every metadata entry but the checksum's own
 * and every tensor's name, dtype, shape and offsets, in header order. */
uint32_t st_crc_meta(uint32_t crc, const char *key, const char *value) {
    crc = sb_crc32(crc, key, strlen(key) + 1);
    return sb_crc32(crc, value, strlen(value) + 1);
}

uint32_t st_crc_entry(uint32_t crc, const char *name, sb_st_dtype dtype, int ndim, const int64_t *shape,
                      uint64_t begin, uint64_t end) {
    char buf[64];
    crc = sb_crc32(crc, name, strlen(name) + 1);
    crc = sb_crc32(crc, dtypes[dtype].name, strlen(dtypes[dtype].name) + 1);
    for (int d = 0; d < ndim; d++) crc = sb_crc32(crc, buf, (size_t)snprintf(buf, sizeof buf, "%lld,", (long long)shape[d]));
    return sb_crc32(crc, buf, (size_t)snprintf(buf, sizeof buf, "[%llu,%llu]", (unsigned long long)begin,
                                                (unsigned long long)end));
}

// ---- reader

void sb_st_close(sb_st_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    for (int i = 0; i < f->n_meta; i++) free(f->meta_keys[i]), free(f->meta_values[i]);
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->path);
    free(f);
}

/* Reads exactly n bytes at offset; a short file is a format error. */
static int read_at(const sb_st_file *f, void *dst, size_t n, uint64_t offset, const char *what) {
    uint8_t *p = dst;
    while (n) {
        ssize_t r = pread(f->fd, p, n, (off_t)offset);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return sb_fail(SB_ERR_IO, "%s: reading %s: %s", f->path, what, strerror(errno));
        if (r == 0) return sb_fail(SB_ERR_FORMAT, "%s: %s: file is truncated", f->path, what);
        p += r, n -= (size_t)r, offset += (uint64_t)r;
    }
    return 0;
}

/* Checks the header and every tensor's bytes against SB_ST_CHECKSUM_KEY
 * when the file has it. */
static int verify(sb_st_file *f) {
    const char *sum = sb_st_meta(f, SB_ST_CHECKSUM_KEY);
    if (!sum) return 0;
    uint32_t want, crc = 0;
    size_t len = strlen(sum);
    if (len != 9 * (size_t)(f->n_tensors + 1) - 1)
        return sb_fail(SB_ERR_FORMAT, "%s: metadata '%s' holds %zu bytes, not %d checksums: the file is damaged",
                       f->path, SB_ST_CHECKSUM_KEY, len, f->n_tensors + 1);
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], SB_ST_CHECKSUM_KEY)) crc = st_crc_meta(crc, f->meta_keys[i], f->meta_values[i]);
    for (int i = 0; i < f->n_tensors; i++) {
        const sb_st_tensor *t = &f->tensors[i];
        crc = st_crc_entry(crc, t->name, t->dtype, t->ndim, t->shape, t->begin, t->end);
    }
    if (sb_crc32_parse(sum, &want) || want != crc)
        return sb_fail(SB_ERR_FORMAT, "%s: the header (metadata and tensor table, bytes 8-%llu) does not match its "
                       "checksum: the file is damaged", f->path, (unsigned long long)f->data_start);
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = malloc(CHUNK);
    if (!buf) return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", f->path);
    int rc = 0;
    for (int i = 0; i < f->n_tensors && !rc; i++) {
        const sb_st_tensor *t = &f->tensors[i];
        char what[200];
        snprintf(what, sizeof what, "tensor '%s'", t->name);
        crc = 0;
        for (uint64_t at = t->begin; at < t->end && !rc; at += CHUNK) {
            size_t n = t->end - at < CHUNK ? (size_t)(t->end - at) : CHUNK;
            rc = read_at(f, buf, n, f->data_start + at, what);
            crc = sb_crc32(crc, buf, n);
        }
        if (!rc && (sb_crc32_parse(sum + 9 * (i + 1), &want) || want != crc))
            rc = sb_fail(SB_ERR_FORMAT, "%s: tensor '%s' (file bytes %llu-%llu) does not match its checksum: the file "
                         "is damaged", f->path, t->name, (unsigned long long)(f->data_start + t->begin),
                         (unsigned long long)(f->data_start + t->end));
    }
    free(buf);
    if (!rc) f->checksummed = 1;
    return rc;
}

int sb_st_open(sb_st_file **out, const char *path) {
    *out = NULL;
    sb_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", path);
    }
    f->fd = open(path, O_RDONLY);
    if (f->fd < 0) {
        int rc = sb_fail(SB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        sb_st_close(f);
        return rc;
    }
    struct stat st;
    uint8_t len8[8];
    char *header = NULL;
    int rc = fstat(f->fd, &st) ? sb_fail(SB_ERR_IO, "%s: %s", path, strerror(errno)) : 0;
    uint64_t size = rc ? 0 : (uint64_t)st.st_size, hlen = 0;
    if (!rc && size < 8) rc = sb_fail(SB_ERR_FORMAT, "%s: %llu bytes is too short for a safetensors file", path,
                                      (unsigned long long)size);
    if (!rc) rc = read_at(f, len8, 8, 0, "header length");
    if (!rc) {
        hlen = load_le(len8, 8);
        if (hlen > MAX_HEADER)
            rc = sb_fail(SB_ERR_FORMAT, "%s: safetensors header length %llu is over the 100 MB limit", path,
                         (unsigned long long)hlen);
        else if (hlen > size - 8)
            rc = sb_fail(SB_ERR_FORMAT, "%s: safetensors header length %llu runs past the end of the file (%llu bytes)",
                         path, (unsigned long long)hlen, (unsigned long long)size);
    }
    if (!rc && !(header = malloc(hlen + 1))) rc = sb_fail(SB_ERR_MEMORY, "%s: out of host memory", path);
    if (!rc) rc = read_at(f, header, hlen, 8, "header");
    if (!rc) {
        f->data_start = 8 + hlen;
        rc = st_parse_header(f, header, hlen, size - f->data_start);
    }
    if (!rc) rc = verify(f);
    free(header);
    if (rc) {
        sb_st_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

const sb_st_tensor *sb_st_find(const sb_st_file *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const char *sb_st_meta(const sb_st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
    return NULL;
}

/* The raw bytes of t in a malloc'd buffer. */
static int read_raw(const sb_st_file *f, const sb_st_tensor *t, uint8_t **out) {
    size_t n = (size_t)(t->end - t->begin);
    *out = malloc(n ? n : 1);
    if (!*out) return sb_fail(SB_ERR_MEMORY, "%s: tensor '%s': out of host memory (%zu bytes)", f->path, t->name, n);
    char what[200];
    snprintf(what, sizeof what, "tensor '%s'", t->name);
    int rc = read_at(f, *out, n, f->data_start + t->begin, what);
    if (rc) free(*out), *out = NULL;
    return rc;
}

int sb_st_read_f32(const sb_st_file *f, const sb_st_tensor *t, float *dst) {
    if (t->dtype != SB_ST_F32 && t->dtype != SB_ST_F16 && t->dtype != SB_ST_BF16 && t->dtype != SB_ST_F64)
        return sb_fail(SB_ERR_FORMAT, "%s: tensor '%s': dtype %s does not convert to float (F32, F16, BF16, F64 do)",
                       f->path, t->name, dtypes[t->dtype].name);
    uint8_t *raw;
    SB_TRY(read_raw(f, t, &raw));
    for (uint64_t i = 0; i < t->numel; i++) {
        uint32_t u;
        double d;
        switch (t->dtype) {
        case SB_ST_F32: u = (uint32_t)load_le(raw + 4 * i, 4), memcpy(&dst[i], &u, 4); break;
        case SB_ST_F16: dst[i] = sb_f16_to_f32((uint16_t)load_le(raw + 2 * i, 2)); break;
        case SB_ST_BF16: dst[i] = sb_bf16_to_f32((uint16_t)load_le(raw + 2 * i, 2)); break;
        default: {
            uint64_t b = load_le(raw + 8 * i, 8);
            memcpy(&d, &b, 8);
            dst[i] = (float)d;
        }
        }
    }
    free(raw);
    return 0;
}

int sb_st_read_i64(const sb_st_file *f, const sb_st_tensor *t, int64_t *dst) {
    if (t->dtype != SB_ST_I64 && t->dtype != SB_ST_I32)
        return sb_fail(SB_ERR_FORMAT, "%s: tensor '%s': dtype %s does not convert to an integer (I64, I32 do)",
                       f->path, t->name, dtypes[t->dtype].name);
    uint8_t *raw;
    SB_TRY(read_raw(f, t, &raw));
    for (uint64_t i = 0; i < t->numel; i++)
        dst[i] = t->dtype == SB_ST_I64 ? (int64_t)load_le(raw + 8 * i, 8) : (int32_t)(uint32_t)load_le(raw + 4 * i, 4);
    free(raw);
    return 0;
}
