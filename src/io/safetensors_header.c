/* The safetensors header (see safetensors.h): a bounded parser for exactly
 * the JSON subset the format uses (nesting at most MAX_DEPTH), the tensor
 * table and "__metadata__" read into an sb_st_file, and the checks on the
 * table (sizes match shapes, ranges inside the data, no overlap, unique
 * names). Reading the file and the tensors is safetensors.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "io/safetensors_internal.h"
#include "runtime/error.h"

#define MAX_DEPTH 4

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

/* An object's key and the ':' after it; the key malloc'd. */
static int js_key(js *j, char **out) {
    SB_TRY(js_string(j, out));
    int rc = js_expect(j, ':');
    if (rc) free(*out), *out = NULL;
    return rc;
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
                SB_TRY(js_key(j, &k));
                free(k);
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

// ---- the header object

static int parse_metadata(js *j, sb_st_file *f) {
    SB_TRY(js_expect(j, '{'));
    if (js_take(j, '}')) return 0;
    do {
        char *k = NULL, *v = NULL;
        int rc = js_key(j, &k);
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
            SB_TRY(js_key(j, &key));
            int rc = 0;
            if (!strcmp(key, "dtype")) {
                char *name = NULL;
                rc = js_string(j, &name);
                if (!rc) {
                    int d = 0;
                    while (d < SB_ST_N_DTYPES && strcmp(sb_st_dtype_name((sb_st_dtype)d), name)) d++;
                    if (d == SB_ST_N_DTYPES)
                        rc = sb_fail(SB_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", f->path, t->name, name);
                    t->dtype = (sb_st_dtype)d;
                    have_dtype = 1;
                }
                free(name);
            } else if (!strcmp(key, "shape")) {
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
            } else if (!strcmp(key, "data_offsets")) {
                rc = js_expect(j, '[');
                if (!rc) rc = js_uint(j, &t->begin);
                if (!rc) rc = js_expect(j, ',');
                if (!rc) rc = js_uint(j, &t->end);
                if (!rc) rc = js_expect(j, ']');
                have_offsets = 1;
            } else {
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
            SB_TRY(js_key(j, &key));
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
        if (t->end - t->begin != numel * sb_st_dtype_size(t->dtype))
            return sb_fail(SB_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but %s of %llu "
                           "elements needs %llu", f->path, t->name, (unsigned long long)t->begin,
                           (unsigned long long)t->end, (unsigned long long)(t->end - t->begin),
                           sb_st_dtype_name(t->dtype), (unsigned long long)numel,
                           (unsigned long long)(numel * sb_st_dtype_size(t->dtype)));
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

int st_parse_header(sb_st_file *f, const char *text, size_t len, uint64_t data_len) {
    js j = {text, len, 0, f->path};
    SB_TRY(parse_header(&j, f));
    return validate(f, data_len);
}
