/* safetensors reader and writer (see safetensors.h): a small bounded JSON
 * parser for the header, validation of the tensor table, dtype conversion,
 * and a writer that builds the header and writes through io/atomic_file. */
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "io/checksum.h"
#include "runtime/error.h"

#define MAX_HEADER ((uint64_t)100 << 20) /* as the Rust implementation */
#define MAX_DEPTH 4

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

static void store_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

// ---- JSON header parser: exactly the subset the format uses

typedef struct {
    const char *s;
    size_t n, pos;
    const char *path;
} js;

static int js_fail(const js *j, const char *what) {
    return sb_fail(SB_ERR_FORMAT, "%s: safetensors header byte %zu: %s", j->path, j->pos, what);
}

static void js_ws(js *j) {
    while (j->pos < j->n && (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' || j->s[j->pos] == '\n' || j->s[j->pos] == '\r'))
        j->pos++;
}

/* Skips white space; 1 when the next byte is c (consumed). */
static int js_take(js *j, char c) {
    js_ws(j);
    if (j->pos < j->n && j->s[j->pos] == c) {
        j->pos++;
        return 1;
    }
    return 0;
}

static int js_expect(js *j, char c) {
    if (js_take(j, c)) return 0;
    char msg[32];
    snprintf(msg, sizeof msg, "expected '%c'", c);
    return js_fail(j, msg);
}

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

/* A JSON string into a malloc'd UTF-8 C string (NUL escapes rejected). */
static int js_string(js *j, char **out) {
    *out = NULL;
    if (!js_take(j, '"')) return js_fail(j, "expected a string");
    size_t start = j->pos;
    char *buf = malloc(j->n - start + 1); /* decoded text is never longer */
    if (!buf) return sb_fail(SB_ERR_MEMORY, "%s: out of host memory reading the safetensors header", j->path);
    size_t len = 0;
    for (;;) {
        if (j->pos >= j->n) {
            free(buf);
            return js_fail(j, "unterminated string");
        }
        unsigned char c = (unsigned char)j->s[j->pos++];
        if (c == '"') break;
        if (c < 0x20) {
            free(buf);
            return js_fail(j, "control character in a string");
        }
        if (c != '\\') {
            buf[len++] = (char)c;
            continue;
        }
        if (j->pos >= j->n) break; /* reported as unterminated above */
        char e = j->s[j->pos++];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (simple && e) {
            static const char repl[] = "\"\\/\b\f\n\r\t";
            buf[len++] = repl[simple - "\"\\/bfnrt"];
            continue;
        }
        unsigned cp, lo;
        if (e != 'u' || j->pos + 4 > j->n || hex4(j->s + j->pos, &cp)) {
            free(buf);
            return js_fail(j, "bad escape in a string");
        }
        j->pos += 4;
        if (cp >= 0xD800 && cp < 0xDC00) { /* surrogate pair */
            if (j->pos + 6 > j->n || j->s[j->pos] != '\\' || j->s[j->pos + 1] != 'u' || hex4(j->s + j->pos + 2, &lo) ||
                lo < 0xDC00 || lo > 0xDFFF) {
                free(buf);
                return js_fail(j, "unpaired surrogate in a string");
            }
            j->pos += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if ((cp >= 0xDC00 && cp < 0xE000) || cp == 0) {
            free(buf);
            return js_fail(j, cp ? "unpaired surrogate in a string" : "NUL character in a string");
        }
        /* UTF-8: at most 4 bytes, never more than the 6-12 escape bytes */
        if (cp < 0x80) buf[len++] = (char)cp;
        else if (cp < 0x800) buf[len++] = (char)(0xC0 | cp >> 6), buf[len++] = (char)(0x80 | (cp & 63));
        else if (cp < 0x10000)
            buf[len++] = (char)(0xE0 | cp >> 12), buf[len++] = (char)(0x80 | (cp >> 6 & 63)),
            buf[len++] = (char)(0x80 | (cp & 63));
        else
            buf[len++] = (char)(0xF0 | cp >> 18), buf[len++] = (char)(0x80 | (cp >> 12 & 63)),
            buf[len++] = (char)(0x80 | (cp >> 6 & 63)), buf[len++] = (char)(0x80 | (cp & 63));
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

/* A non-negative integer without sign, fraction or exponent. */
static int js_uint(js *j, uint64_t *out) {
    js_ws(j);
    size_t start = j->pos;
    uint64_t v = 0;
    while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9') {
        unsigned d = (unsigned)(j->s[j->pos] - '0');
        if (v > (UINT64_MAX - d) / 10) return js_fail(j, "integer too large");
        v = v * 10 + d;
        j->pos++;
    }
    if (j->pos == start) return js_fail(j, "expected a non-negative integer");
    if (j->pos < j->n && strchr(".eE", j->s[j->pos]) && j->s[j->pos]) return js_fail(j, "expected an integer");
    *out = v;
    return 0;
}

/* Skips any JSON value (for keys the format does not define). */
static int js_skip(js *j, int depth) {
    if (depth > MAX_DEPTH) return js_fail(j, "nested too deeply");
    js_ws(j);
    if (j->pos >= j->n) return js_fail(j, "unexpected end of the header");
    char c = j->s[j->pos];
    if (c == '"') {
        char *s;
        SB_TRY(js_string(j, &s));
        free(s);
        return 0;
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->pos++;
        if (js_take(j, close)) return 0;
        do {
            if (c == '{') {
                char *k;
                SB_TRY(js_string(j, &k));
                free(k);
                SB_TRY(js_expect(j, ':'));
            }
            SB_TRY(js_skip(j, depth + 1));
        } while (js_take(j, ','));
        return js_expect(j, close);
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(words[i]);
        if (j->n - j->pos >= l && !memcmp(j->s + j->pos, words[i], l)) {
            j->pos += l;
            return 0;
        }
    }
    size_t start = j->pos;
    while (j->pos < j->n && strchr("+-0123456789.eE", j->s[j->pos]) && j->s[j->pos]) j->pos++;
    return j->pos > start ? 0 : js_fail(j, "expected a value");
}

// ---- checksums (see safetensors.h: SB_ST_CHECKSUM_KEY)

/* The header's checksum covers every metadata entry but the checksum's own
 * and every tensor's name, dtype, shape and offsets, in header order. */
static uint32_t crc_meta(uint32_t crc, const char *key, const char *value) {
    crc = sb_crc32(crc, key, strlen(key) + 1);
    return sb_crc32(crc, value, strlen(value) + 1);
}

static uint32_t crc_entry(uint32_t crc, const char *name, sb_st_dtype dtype, int ndim, const int64_t *shape,
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

static int parse_metadata(js *j, sb_st_file *f) {
    SB_TRY(js_expect(j, '{'));
    if (js_take(j, '}')) return 0;
    do {
        char *k = NULL, *v = NULL;
        int rc = js_string(j, &k);
        if (!rc) rc = js_expect(j, ':');
        if (!rc) {
            js_ws(j);
            rc = j->pos < j->n && j->s[j->pos] == '"' ? js_string(j, &v)
                                                        : js_fail(j, "__metadata__ values must be strings");
        }
        if (!rc) {
            char **nk = realloc(f->meta_keys, (size_t)(f->n_meta + 1) * sizeof *nk);
            if (nk) f->meta_keys = nk;
            char **nv = nk ? realloc(f->meta_values, (size_t)(f->n_meta + 1) * sizeof *nv) : NULL;
            if (nv) f->meta_values = nv;
            if (!nk || !nv) rc = sb_fail(SB_ERR_MEMORY, "%s: out of host memory", f->path);
        }
        if (rc) {
            free(k), free(v);
            return rc;
        }
        f->meta_keys[f->n_meta] = k, f->meta_values[f->n_meta] = v;
        f->n_meta++;
    } while (js_take(j, ','));
    return js_expect(j, '}');
}

static int parse_tensor(js *j, sb_st_file *f, sb_st_tensor *t) {
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    SB_TRY(js_expect(j, '{'));
    if (!js_take(j, '}')) {
        do {
            char *key;
            SB_TRY(js_string(j, &key));
            int rc = js_expect(j, ':');
            if (!rc && !strcmp(key, "dtype")) {
                char *name = NULL;
                rc = js_string(j, &name);
                if (!rc) {
                    int d = 0;
                    while (d < SB_ST_N_DTYPES && strcmp(dtypes[d].name, name)) d++;
                    if (d == SB_ST_N_DTYPES)
                        rc = sb_fail(SB_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", f->path, t->name, name);
                    t->dtype = (sb_st_dtype)d;
                    have_dtype = 1;
                }
                free(name);
            } else if (!rc && !strcmp(key, "shape")) {
                rc = js_expect(j, '[');
                t->ndim = 0;
                if (!rc && !js_take(j, ']')) {
                    do {
                        uint64_t d;
                        if ((rc = js_uint(j, &d))) break;
                        if (t->ndim == SB_ST_MAX_DIMS || d > INT64_MAX) {
                            rc = sb_fail(SB_ERR_FORMAT, "%s: tensor '%s': shape has more than %d dimensions or a "
                                         "dimension too large", f->path, t->name, SB_ST_MAX_DIMS);
                            break;
                        }
                        t->shape[t->ndim++] = (int64_t)d;
                    } while (js_take(j, ','));
                    if (!rc) rc = js_expect(j, ']');
                }
                have_shape = 1;
            } else if (!rc && !strcmp(key, "data_offsets")) {
                rc = js_expect(j, '[');
                if (!rc) rc = js_uint(j, &t->begin);
                if (!rc) rc = js_expect(j, ',');
                if (!rc) rc = js_uint(j, &t->end);
                if (!rc) rc = js_expect(j, ']');
                have_offsets = 1;
            } else if (!rc) {
                rc = js_skip(j, 2);
            }
            free(key);
            if (rc) return rc;
        } while (js_take(j, ','));
        SB_TRY(js_expect(j, '}'));
    }
    if (!have_dtype || !have_shape || !have_offsets)
        return sb_fail(SB_ERR_FORMAT, "%s: tensor '%s': missing %s", f->path, t->name,
                       !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    return 0;
}

static int parse_header(js *j, sb_st_file *f) {
    SB_TRY(js_expect(j, '{'));
    if (!js_take(j, '}')) {
        do {
            char *key;
            SB_TRY(js_string(j, &key));
            int rc = js_expect(j, ':');
            if (rc) {
                free(key);
                return rc;
            }
            if (!strcmp(key, "__metadata__")) {
                free(key);
                SB_TRY(parse_metadata(j, f));
                continue;
            }
            sb_st_tensor *nt = realloc(f->tensors, (size_t)(f->n_tensors + 1) * sizeof *nt);
            if (!nt) {
                free(key);
                return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", f->path);
            }
            f->tensors = nt;
            sb_st_tensor *t = &f->tensors[f->n_tensors++];
            memset(t, 0, sizeof *t);
            t->name = key;
            SB_TRY(parse_tensor(j, f, t));
        } while (js_take(j, ','));
        SB_TRY(js_expect(j, '}'));
    }
    js_ws(j);
    return j->pos == j->n ? 0 : js_fail(j, "text after the header object");
}

static int cmp_by_begin(const void *a, const void *b) {
    const sb_st_tensor *x = *(const sb_st_tensor *const *)a, *y = *(const sb_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_by_name(const void *a, const void *b) {
    return strcmp((*(const sb_st_tensor *const *)a)->name, (*(const sb_st_tensor *const *)b)->name);
}

/* Sizes match shapes, ranges lie inside the data, no overlap, unique names. */
static int validate(sb_st_file *f, uint64_t data_len) {
    for (int i = 0; i < f->n_tensors; i++) {
        sb_st_tensor *t = &f->tensors[i];
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            uint64_t s = (uint64_t)t->shape[d];
            if (s && numel > UINT64_MAX / s / 8)
                return sb_fail(SB_ERR_FORMAT, "%s: tensor '%s': shape too large", f->path, t->name);
            numel *= s;
        }
        t->numel = numel;
        if (t->begin > t->end || t->end > data_len)
            return sb_fail(SB_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] outside the data (%llu bytes)",
                           f->path, t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                           (unsigned long long)data_len);
        if (t->end - t->begin != numel * dtypes[t->dtype].size)
            return sb_fail(SB_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but %s of %llu "
                           "elements needs %llu", f->path, t->name, (unsigned long long)t->begin,
                           (unsigned long long)t->end, (unsigned long long)(t->end - t->begin),
                           dtypes[t->dtype].name, (unsigned long long)numel,
                           (unsigned long long)(numel * dtypes[t->dtype].size));
    }
    if (f->n_tensors < 2) return 0;
    const sb_st_tensor **order = malloc((size_t)f->n_tensors * sizeof *order);
    if (!order) return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", f->path);
    for (int i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    int rc = 0;
    qsort(order, (size_t)f->n_tensors, sizeof *order, cmp_by_begin);
    for (int i = 1; i < f->n_tensors && !rc; i++)
        if (order[i]->begin < order[i - 1]->end)
            rc = sb_fail(SB_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]",
                         f->path, order[i]->name, (unsigned long long)order[i]->begin,
                         (unsigned long long)order[i]->end, order[i - 1]->name,
                         (unsigned long long)order[i - 1]->begin, (unsigned long long)order[i - 1]->end);
    qsort(order, (size_t)f->n_tensors, sizeof *order, cmp_by_name);
    for (int i = 1; i < f->n_tensors && !rc; i++)
        if (!strcmp(order[i]->name, order[i - 1]->name))
            rc = sb_fail(SB_ERR_FORMAT, "%s: tensor '%s' appears twice in the header", f->path, order[i]->name);
    free(order);
    return rc;
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
        if (strcmp(f->meta_keys[i], SB_ST_CHECKSUM_KEY)) crc = crc_meta(crc, f->meta_keys[i], f->meta_values[i]);
    for (int i = 0; i < f->n_tensors; i++) {
        const sb_st_tensor *t = &f->tensors[i];
        crc = crc_entry(crc, t->name, t->dtype, t->ndim, t->shape, t->begin, t->end);
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
        js j = {header, hlen, 0, path};
        f->data_start = 8 + hlen;
        rc = parse_header(&j, f);
    }
    if (!rc) rc = validate(f, size - f->data_start);
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

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = h >> 10 & 31, m = h & 1023, bits;
    if (e == 31) bits = sign | 0x7F800000u | m << 13; /* inf, nan */
    else if (e) bits = sign | (e + 112) << 23 | m << 13;
    else if (!m) bits = sign;
    else { /* subnormal: normalise */
        e = 113;
        while (!(m & 1024)) m <<= 1, e--;
        bits = sign | e << 23 | (m & 1023) << 13;
    }
    float v;
    memcpy(&v, &bits, 4);
    return v;
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
        case SB_ST_F16: dst[i] = half_to_float((uint16_t)load_le(raw + 2 * i, 2)); break;
        case SB_ST_BF16: u = (uint32_t)load_le(raw + 2 * i, 2) << 16, memcpy(&dst[i], &u, 4); break;
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

// ---- writer

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
    size_t numel = 1, es = dtypes[dtype].size;
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
        fprintf(out, ":{\"dtype\":\"%s\",\"shape\":[", dtypes[t->dtype].name);
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
        if (strcmp(w->mk[i], SB_ST_CHECKSUM_KEY)) crc = crc_meta(crc, w->mk[i], w->mv[i]);
    uint64_t offset = 0;
    for (int i = 0; i < w->n; i++) {
        const wtensor *t = &w->t[i];
        crc = crc_entry(crc, t->name, t->dtype, t->ndim, t->shape, offset, offset + t->bytes);
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
