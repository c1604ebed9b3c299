/* Zip reader: end-of-central-directory, central directory, local headers,
 * stored and raw-deflate members, CRC-32. Everything is bounds-checked
 * against the archive size before it is read. */
#include "io/zip.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io/checksum.h"
#include "runtime/error.h"

enum {
    EOCD_SIG = 0x06054b50, EOCD_LEN = 22,
    CDIR_SIG = 0x02014b50, CDIR_LEN = 46,
    LOCAL_SIG = 0x04034b50, LOCAL_LEN = 30,
    FLAG_ENCRYPTED = 1,
    MAX_DEFLATE_RATIO = 1032 /* deflate cannot expand 1 byte to more */
};

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

// ---- opening

/* Finds the end-of-central-directory record, scanning back over at most a
 * 64 KiB comment. Returns its offset or -1. */
static long find_eocd(const unsigned char *d, size_t size) {
    if (size < EOCD_LEN) return -1;
    size_t lowest = size - EOCD_LEN > 0xFFFF ? size - EOCD_LEN - 0xFFFF : 0;
    for (size_t pos = size - EOCD_LEN + 1; pos-- > lowest;)
        if (rd32(d + pos) == EOCD_SIG && pos + EOCD_LEN + rd16(d + pos + 20) <= size) return (long)pos;
    return -1;
}

static int read_central_directory(sb_zip *z) {
    const unsigned char *d = z->data;
    long eocd = find_eocd(d, z->size);
    if (eocd < 0)
        return sb_fail(SB_ERR_FORMAT, "%s: no zip end-of-central-directory record (truncated, or not a zip file)",
                       z->path);
    const unsigned char *e = d + eocd;
    /* A zip64 end record may precede this one (torch.save always writes
     * one); it is only needed when a field below is saturated. */
    uint16_t n = rd16(e + 10);
    uint32_t cd_size = rd32(e + 12), cd_off = rd32(e + 16);
    if (n == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu)
        return sb_fail(SB_ERR_FORMAT, "%s: zip64 archives are not supported", z->path);
    if (rd16(e + 4) != 0 || rd16(e + 6) != 0 || rd16(e + 8) != n)
        return sb_fail(SB_ERR_FORMAT, "%s: multi-disk zip archives are not supported", z->path);
    if ((uint64_t)cd_off + cd_size > (uint64_t)eocd)
        return sb_fail(SB_ERR_FORMAT, "%s: central directory (offset %u, %u bytes) runs past its end record at %ld "
                       "(truncated or corrupt)", z->path, cd_off, cd_size, eocd);
    z->entries = calloc(n ? n : 1, sizeof *z->entries);
    if (!z->entries) return sb_fail(SB_ERR_MEMORY, "%s: out of memory for %u zip entries", z->path, n);
    size_t pos = cd_off, end = (size_t)cd_off + cd_size;
    for (uint16_t i = 0; i < n; i++) {
        if (pos + CDIR_LEN > end || rd32(d + pos) != CDIR_SIG)
            return sb_fail(SB_ERR_FORMAT, "%s: central directory entry %u of %u is missing or corrupt", z->path,
                           i + 1, n);
        const unsigned char *c = d + pos;
        size_t name_len = rd16(c + 28), var_len = name_len + rd16(c + 30) + rd16(c + 32);
        if (pos + CDIR_LEN + var_len > end)
            return sb_fail(SB_ERR_FORMAT, "%s: central directory entry %u runs past the directory", z->path, i + 1);
        sb_zip_entry *en = &z->entries[i];
        en->name = malloc(name_len + 1);
        if (!en->name) return sb_fail(SB_ERR_MEMORY, "%s: out of memory", z->path);
        memcpy(en->name, c + CDIR_LEN, name_len);
        en->name[name_len] = '\0';
        z->n_entries = (size_t)i + 1;
        en->flags = rd16(c + 8);
        en->method = rd16(c + 10);
        en->crc32 = rd32(c + 16);
        en->comp_size = rd32(c + 20);
        en->size = rd32(c + 24);
        en->header_off = rd32(c + 42);
        if (en->comp_size == 0xFFFFFFFFu || en->size == 0xFFFFFFFFu || en->header_off == 0xFFFFFFFFu)
            return sb_fail(SB_ERR_FORMAT, "%s: member %s: zip64 sizes are not supported", z->path, en->name);
        if (strlen(en->name) != name_len)
            return sb_fail(SB_ERR_FORMAT, "%s: member %u: name contains a NUL byte", z->path, i + 1);
        pos += CDIR_LEN + var_len;
    }
    return SB_OK;
}

int sb_zip_open_memory(sb_zip *z, const char *label, const void *data, size_t size) {
    memset(z, 0, sizeof *z);
    z->path = strdup(label);
    z->data = malloc(size ? size : 1);
    if (!z->path || !z->data) {
        sb_zip_close(z);
        return sb_fail(SB_ERR_MEMORY, "%s: out of memory for a %zu-byte zip", label, size);
    }
    memcpy(z->data, data, size);
    z->size = size;
    int rc = read_central_directory(z);
    if (rc) sb_zip_close(z);
    return rc;
}

int sb_zip_open(sb_zip *z, const char *path) {
    memset(z, 0, sizeof *z);
    FILE *f = fopen(path, "rb");
    if (!f) return sb_fail(SB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int rc = SB_OK;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = sb_fail(SB_ERR_IO, "%s: cannot determine its size: %s", path, strerror(errno));
    } else if (!(z->path = strdup(path)) || !(z->data = malloc(len ? (size_t)len : 1))) {
        rc = sb_fail(SB_ERR_MEMORY, "%s: out of memory for %ld bytes", path, len);
    } else if (fread(z->data, 1, (size_t)len, f) != (size_t)len) {
        rc = sb_fail(SB_ERR_IO, "%s: read failed: %s", path, ferror(f) ? strerror(errno) : "file shrank");
    } else {
        z->size = (size_t)len;
        rc = read_central_directory(z);
    }
    fclose(f);
    if (rc) sb_zip_close(z);
    return rc;
}

void sb_zip_close(sb_zip *z) {
    if (!z) return;
    for (size_t i = 0; i < z->n_entries; i++) free(z->entries[i].name);
    free(z->entries);
    free(z->data);
    free(z->path);
    memset(z, 0, sizeof *z);
}

const sb_zip_entry *sb_zip_find(const sb_zip *z, const char *name) {
    for (size_t i = 0; i < z->n_entries; i++)
        if (strcmp(z->entries[i].name, name) == 0) return &z->entries[i];
    return NULL;
}

// ---- extraction

static int inflate_raw(const sb_zip *z, const sb_zip_entry *e, const unsigned char *src, unsigned char *dst) {
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -15) != Z_OK)
        return sb_fail(SB_ERR_MEMORY, "%s: member %s: zlib inflateInit2 failed", z->path, e->name);
    s.next_in = (unsigned char *)src;
    /* both under 4 GiB (no zip64), so they fit zlib's uInt */
    s.avail_in = (uInt)e->comp_size;
    s.next_out = dst;
    s.avail_out = (uInt)e->size + 1; /* one spare byte detects overlong data */
    int zrc = inflate(&s, Z_FINISH);
    uint64_t produced = s.total_out;
    const char *msg = s.msg ? s.msg : "no detail";
    char detail[128];
    snprintf(detail, sizeof detail, "%s", msg);
    inflateEnd(&s);
    if (zrc == Z_STREAM_END && produced == e->size) return SB_OK;
    if (zrc == Z_DATA_ERROR)
        return sb_fail(SB_ERR_FORMAT, "%s: member %s: corrupt deflate data (zlib: %s)", z->path, e->name, detail);
    if (produced > e->size)
        return sb_fail(SB_ERR_FORMAT, "%s: member %s: inflates to more than its declared %llu bytes", z->path,
                       e->name, (unsigned long long)e->size);
    if (zrc == Z_STREAM_END)
        return sb_fail(SB_ERR_FORMAT, "%s: member %s: inflates to %llu bytes, declared %llu", z->path, e->name,
                       (unsigned long long)produced, (unsigned long long)e->size);
    return sb_fail(SB_ERR_FORMAT, "%s: member %s: deflate stream ends early (truncated)", z->path, e->name);
}

int sb_zip_extract(const sb_zip *z, const sb_zip_entry *e, unsigned char **out, size_t *size) {
    *out = NULL;
    *size = 0;
    const unsigned char *d = z->data;
    if (e->flags & FLAG_ENCRYPTED)
        return sb_fail(SB_ERR_FORMAT, "%s: member %s is encrypted", z->path, e->name);
    if (e->method != 0 && e->method != 8)
        return sb_fail(SB_ERR_FORMAT, "%s: member %s: compression method %u is not supported (only stored and deflate)",
                       z->path, e->name, e->method);
    if (e->header_off + LOCAL_LEN > z->size || rd32(d + e->header_off) != LOCAL_SIG)
        return sb_fail(SB_ERR_FORMAT, "%s: member %s: no local file header at offset %llu (truncated or corrupt)",
                       z->path, e->name, (unsigned long long)e->header_off);
    const unsigned char *h = d + e->header_off;
    size_t name_len = rd16(h + 26);
    uint64_t data_off = e->header_off + LOCAL_LEN + name_len + rd16(h + 28);
    if (name_len != strlen(e->name) || data_off > z->size || memcmp(h + LOCAL_LEN, e->name, name_len) != 0)
        return sb_fail(SB_ERR_FORMAT, "%s: member %s: local header names a different member", z->path, e->name);
    if (rd16(h + 8) != e->method)
        return sb_fail(SB_ERR_FORMAT, "%s: member %s: local header and central directory disagree on the method",
                       z->path, e->name);
    if (e->comp_size > z->size - data_off)
        return sb_fail(SB_ERR_FORMAT, "%s: member %s: %llu data bytes run past the end of the archive (truncated)",
                       z->path, e->name, (unsigned long long)e->comp_size);
    if (e->method == 0 ? e->size != e->comp_size : e->size / MAX_DEFLATE_RATIO > e->comp_size + 1)
        return sb_fail(SB_ERR_FORMAT, "%s: member %s: declared size %llu is impossible for %llu compressed bytes",
                       z->path, e->name, (unsigned long long)e->size, (unsigned long long)e->comp_size);
    unsigned char *buf = malloc((size_t)e->size + 1);
    if (!buf)
        return sb_fail(SB_ERR_MEMORY, "%s: member %s: out of memory for %llu bytes", z->path, e->name,
                       (unsigned long long)e->size);
    int rc = SB_OK;
    if (e->method == 0)
        memcpy(buf, d + data_off, (size_t)e->size);
    else
        rc = inflate_raw(z, e, d + data_off, buf);
    if (!rc) {
        uint32_t crc = sb_crc32(0, buf, (size_t)e->size);
        if (crc != e->crc32)
            rc = sb_fail(SB_ERR_FORMAT, "%s: member %s: CRC-32 mismatch (stored %08x, computed %08x)", z->path,
                         e->name, e->crc32, crc);
    }
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *size = (size_t)e->size;
    return SB_OK;
}
