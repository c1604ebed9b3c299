/* .npy header parsing, numeric conversion, and numpy ndarrays inside
 * pickles. The header is a Python dict literal, parsed here by hand. */
#include "io/npy.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

const sb_pickle_global sb_npy_pickle_globals[] = {
    {"numpy.core.multiarray", "_reconstruct"},
    {"numpy._core.multiarray", "_reconstruct"},
    {"numpy", "ndarray"},
    {"numpy", "dtype"},
    {"_codecs", "encode"},
};
const size_t sb_npy_n_pickle_globals = sizeof sb_npy_pickle_globals / sizeof sb_npy_pickle_globals[0];

static const int itemsize[] = {[SB_NPY_I16] = 2, [SB_NPY_I32] = 4, [SB_NPY_I64] = 8,
                               [SB_NPY_F32] = 4, [SB_NPY_F64] = 8, [SB_NPY_OBJECT] = 0};

const char *sb_npy_dtype_name(sb_npy_dtype dtype) {
    static const char *const names[] = {"int16", "int32", "int64", "float32", "float64", "object"};
    return names[dtype];
}

static int host_big_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 0;
}

/* "<i2", ">f8", "|O" ... (also "O8" as dtype pickles spell it). */
static int parse_descr(sb_npy *a, const char *label, const char *d) {
    const char *t = d;
    a->big_endian = host_big_endian();
    if (*t == '<' || *t == '>' || *t == '|' || *t == '=') {
        if (*t == '<') a->big_endian = 0;
        if (*t == '>') a->big_endian = 1;
        t++;
    }
    static const struct { const char *code; sb_npy_dtype dtype; } known[] = {
        {"i2", SB_NPY_I16}, {"i4", SB_NPY_I32}, {"i8", SB_NPY_I64}, {"f4", SB_NPY_F32},
        {"f8", SB_NPY_F64}, {"O", SB_NPY_OBJECT}, {"O8", SB_NPY_OBJECT},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(t, known[i].code) == 0) {
            a->dtype = known[i].dtype;
            return SB_OK;
        }
    return sb_fail(SB_ERR_FORMAT, "%s: unsupported npy dtype '%s' (supported: int16, int32, int64, float32, "
                   "float64, object)", label, d);
}

/* Element count of a shape; fails on overflow. */
static int shape_count(sb_npy *a, const char *label) {
    size_t n = 1;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] < 0) return sb_fail(SB_ERR_FORMAT, "%s: negative dimension in shape", label);
        if (a->shape[i] && n > SIZE_MAX / 16 / (size_t)a->shape[i])
            return sb_fail(SB_ERR_FORMAT, "%s: shape has too many elements", label);
        n *= (size_t)a->shape[i];
    }
    a->count = n;
    return SB_OK;
}

// ---- header: {'descr': '<i2', 'fortran_order': False, 'shape': (3, 4), }

typedef struct { const char *start, *p, *end, *label; } hdr;

static void skip_ws(hdr *h) {
    while (h->p < h->end && isspace((unsigned char)*h->p)) h->p++;
}

static int expect(hdr *h, char c) {
    skip_ws(h);
    if (h->p >= h->end || *h->p != c)
        return sb_fail(SB_ERR_FORMAT, "%s: npy header: expected '%c' at header byte %d", h->label, c,
                       (int)(h->p - h->start));
    h->p++;
    return SB_OK;
}

static int accept(hdr *h, char c) {
    skip_ws(h);
    if (h->p < h->end && *h->p == c) {
        h->p++;
        return 1;
    }
    return 0;
}

/* A quoted string into buf (at most cap-1 chars). */
static int hdr_string(hdr *h, char *buf, size_t cap) {
    skip_ws(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"'))
        return sb_fail(SB_ERR_FORMAT, "%s: npy header: expected a quoted string", h->label);
    char q = *h->p++;
    size_t n = 0;
    while (h->p < h->end && *h->p != q) {
        if (n + 1 >= cap) return sb_fail(SB_ERR_FORMAT, "%s: npy header: string too long", h->label);
        buf[n++] = *h->p++;
    }
    if (h->p >= h->end) return sb_fail(SB_ERR_FORMAT, "%s: npy header: unterminated string", h->label);
    h->p++;
    buf[n] = '\0';
    return SB_OK;
}

static int hdr_shape(hdr *h, sb_npy *a) {
    SB_TRY(expect(h, '('));
    a->ndim = 0;
    while (!accept(h, ')')) {
        skip_ws(h);
        if (h->p >= h->end || !isdigit((unsigned char)*h->p))
            return sb_fail(SB_ERR_FORMAT, "%s: npy header: bad shape", h->label);
        if (a->ndim == SB_NPY_MAX_DIMS)
            return sb_fail(SB_ERR_FORMAT, "%s: npy header: more than %d dimensions", h->label, SB_NPY_MAX_DIMS);
        int64_t v = 0;
        while (h->p < h->end && isdigit((unsigned char)*h->p)) {
            if (v > (INT64_MAX - 9) / 10) return sb_fail(SB_ERR_FORMAT, "%s: npy header: dimension too large", h->label);
            v = v * 10 + (*h->p++ - '0');
        }
        a->shape[a->ndim++] = v;
        if (!accept(h, ',')) { /* the last dimension: leave ')' for the loop */
            SB_TRY(expect(h, ')'));
            h->p--;
        }
    }
    return SB_OK;
}

static int parse_header(sb_npy *a, const char *label, const char *text, size_t len) {
    hdr h = {text, text, text + len, label};
    int seen_descr = 0, seen_order = 0, seen_shape = 0;
    SB_TRY(expect(&h, '{'));
    while (!accept(&h, '}')) {
        char key[32], val[64];
        SB_TRY(hdr_string(&h, key, sizeof key));
        SB_TRY(expect(&h, ':'));
        if (strcmp(key, "descr") == 0) {
            skip_ws(&h);
            if (h.p < h.end && *h.p == '[')
                return sb_fail(SB_ERR_FORMAT, "%s: unsupported npy dtype: structured arrays are not supported", label);
            SB_TRY(hdr_string(&h, val, sizeof val));
            SB_TRY(parse_descr(a, label, val));
            seen_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            skip_ws(&h);
            if ((size_t)(h.end - h.p) >= 4 && memcmp(h.p, "True", 4) == 0) {
                a->fortran_order = 1, h.p += 4;
            } else if ((size_t)(h.end - h.p) >= 5 && memcmp(h.p, "False", 5) == 0) {
                a->fortran_order = 0, h.p += 5;
            } else {
                return sb_fail(SB_ERR_FORMAT, "%s: npy header: fortran_order is not True or False", label);
            }
            seen_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            SB_TRY(hdr_shape(&h, a));
            seen_shape = 1;
        } else {
            return sb_fail(SB_ERR_FORMAT, "%s: npy header: unknown key '%s'", label, key);
        }
        if (!accept(&h, ',')) { /* the last key: leave '}' for the loop */
            SB_TRY(expect(&h, '}'));
            h.p--;
        }
    }
    if (!seen_descr || !seen_order || !seen_shape)
        return sb_fail(SB_ERR_FORMAT, "%s: npy header lacks '%s'", label,
                       !seen_descr ? "descr" : !seen_order ? "fortran_order" : "shape");
    return shape_count(a, label);
}

int sb_npy_parse(sb_npy *a, const char *label, const void *buf, size_t size) {
    const unsigned char *b = buf;
    memset(a, 0, sizeof *a);
    if (size < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return sb_fail(SB_ERR_FORMAT, "%s: not an npy file (no \\x93NUMPY magic)", label);
    int major = b[6];
    size_t hlen, start;
    if (major == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) return sb_fail(SB_ERR_FORMAT, "%s: npy header truncated", label);
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        start = 12;
    } else {
        return sb_fail(SB_ERR_FORMAT, "%s: npy format version %d.%d is not supported (1, 2 or 3)", label, major, b[7]);
    }
    if (hlen > size - start)
        return sb_fail(SB_ERR_FORMAT, "%s: npy header of %zu bytes runs past the end of the file (truncated)", label,
                       hlen);
    SB_TRY(parse_header(a, label, (const char *)b + start, hlen));
    a->data = b + start + hlen;
    a->data_size = size - start - hlen;
    if (a->dtype != SB_NPY_OBJECT) {
        size_t need = a->count * (size_t)itemsize[a->dtype];
        if (a->data_size != need)
            return sb_fail(SB_ERR_FORMAT, "%s: %s payload has %zu bytes, shape needs %zu%s", label,
                           sb_npy_dtype_name(a->dtype), a->data_size, need, a->data_size < need ? " (truncated)" : "");
    }
    return SB_OK;
}

// ---- conversion

/* Where element i, counted in row-major order, is stored: i itself, or its
 * column-major position for Fortran-order arrays. */
static size_t storage_index(const sb_npy *a, size_t i) {
    if (!a->fortran_order || a->ndim < 2) return i;
    size_t idx = 0, stride = 1, rest = i, coord[SB_NPY_MAX_DIMS];
    for (int d = a->ndim - 1; d >= 0; d--) {
        coord[d] = rest % (size_t)a->shape[d];
        rest /= (size_t)a->shape[d];
    }
    for (int d = 0; d < a->ndim; d++) { /* Fortran: first index varies fastest */
        idx += coord[d] * stride;
        stride *= (size_t)a->shape[d];
    }
    return idx;
}

static uint64_t load_bits(const sb_npy *a, size_t i) {
    int n = itemsize[a->dtype];
    size_t at = a->fortran_order && a->ndim > 1 ? storage_index(a, i) : i; /* C order: as stored */
    const unsigned char *p = a->data + at * (size_t)n;
    uint64_t u = 0;
    if (a->big_endian)
        for (int k = 0; k < n; k++) u = u << 8 | p[k];
    else
        for (int k = n - 1; k >= 0; k--) u = u << 8 | p[k];
    return u;
}

static int is_float(sb_npy_dtype t) { return t == SB_NPY_F32 || t == SB_NPY_F64; }

static double load_f(const sb_npy *a, size_t i) {
    uint64_t u = load_bits(a, i);
    if (a->dtype == SB_NPY_F32) {
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, sizeof f);
        return f;
    }
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static int64_t load_i(const sb_npy *a, size_t i) {
    uint64_t u = load_bits(a, i);
    switch (a->dtype) {
    case SB_NPY_I16: return (int16_t)(uint16_t)u;
    case SB_NPY_I32: return (int32_t)(uint32_t)u;
    default: return (int64_t)u;
    }
}

static int check_numeric(const sb_npy *a, const char *label) {
    if (a->dtype == SB_NPY_OBJECT)
        return sb_fail(SB_ERR_FORMAT, "%s: object array where numbers were expected", label);
    return SB_OK;
}

/* Little-endian int16 in C order is already what callers want. */
static int is_plain_i16(const sb_npy *a) {
    uint16_t probe = 1;
    unsigned char host_little;
    memcpy(&host_little, &probe, 1);
    return a->dtype == SB_NPY_I16 && !a->big_endian && host_little && (!a->fortran_order || a->ndim <= 1);
}

int sb_npy_to_i16(const sb_npy *a, const char *label, int16_t *out, size_t *n_rounded) {
    SB_TRY(check_numeric(a, label));
    if (is_plain_i16(a)) {
        memcpy(out, a->data, a->count * sizeof *out);
        if (n_rounded) *n_rounded = 0;
        return SB_OK;
    }
    size_t rounded = 0;
    for (size_t i = 0; i < a->count; i++) {
        if (is_float(a->dtype)) {
            double v = load_f(a, i), r = nearbyint(v); /* default rounding: to nearest, ties to even */
            if (!(r >= INT16_MIN && r <= INT16_MAX))
                return sb_fail(SB_ERR_FORMAT, "%s: element %zu (%g) does not fit in int16", label, i, v);
            rounded += r != v;
            out[i] = (int16_t)r;
        } else {
            int64_t v = load_i(a, i);
            if (v < INT16_MIN || v > INT16_MAX)
                return sb_fail(SB_ERR_FORMAT, "%s: element %zu (%lld) does not fit in int16", label, i, (long long)v);
            out[i] = (int16_t)v;
        }
    }
    if (n_rounded) *n_rounded = rounded;
    return SB_OK;
}

int sb_npy_to_f32(const sb_npy *a, const char *label, float *out) {
    SB_TRY(check_numeric(a, label));
    for (size_t i = 0; i < a->count; i++)
        out[i] = is_float(a->dtype) ? (float)load_f(a, i) : (float)load_i(a, i);
    return SB_OK;
}

// ---- ndarrays inside pickles

/* reduce(_reconstruct, (ndarray, (0,), b'b')) with a BUILD state
 * (version, shape, dtype, is_fortran, payload): fills shape, dtype and
 * byte order of a and returns the payload value. */
static int ndarray_state(sb_npy *a, const sb_pickle_value *v, const char *label, const sb_pickle_value **payload) {
    memset(a, 0, sizeof *a);
    if (!v || v->kind != SB_PICKLE_REDUCE ||
        !(sb_pickle_is_global(v->u.reduce.callable, "numpy.core.multiarray", "_reconstruct") ||
          sb_pickle_is_global(v->u.reduce.callable, "numpy._core.multiarray", "_reconstruct")) ||
        !sb_pickle_is_global(sb_pickle_item(v->u.reduce.args, 0), "numpy", "ndarray"))
        return sb_fail(SB_ERR_FORMAT, "%s: expected a pickled numpy.ndarray, got a %s", label,
                       v ? sb_pickle_kind_name(v->kind) : "missing value");
    const sb_pickle_value *st = v->u.reduce.state;
    if (!st || st->kind != SB_PICKLE_TUPLE || st->u.seq.n != 5)
        return sb_fail(SB_ERR_FORMAT, "%s: pickled ndarray lacks its 5-item state", label);
    const sb_pickle_value *shape = st->u.seq.items[1], *dt = st->u.seq.items[2], *fortran = st->u.seq.items[3];
    if (shape->kind != SB_PICKLE_TUPLE || shape->u.seq.n > SB_NPY_MAX_DIMS)
        return sb_fail(SB_ERR_FORMAT, "%s: pickled ndarray shape is not a tuple of at most %d ints", label,
                       SB_NPY_MAX_DIMS);
    a->ndim = (int)shape->u.seq.n;
    for (int i = 0; i < a->ndim; i++) {
        if (shape->u.seq.items[i]->kind != SB_PICKLE_INT)
            return sb_fail(SB_ERR_FORMAT, "%s: pickled ndarray shape holds a %s", label,
                           sb_pickle_kind_name(shape->u.seq.items[i]->kind));
        a->shape[i] = shape->u.seq.items[i]->u.i;
    }
    SB_TRY(shape_count(a, label));
    if (fortran->kind != SB_PICKLE_BOOL && fortran->kind != SB_PICKLE_INT)
        return sb_fail(SB_ERR_FORMAT, "%s: pickled ndarray fortran flag is a %s", label,
                       sb_pickle_kind_name(fortran->kind));
    a->fortran_order = fortran->u.i != 0;
    /* dtype: reduce(numpy.dtype, ('i2', False, True)) with state (3, '<', ...) */
    const sb_pickle_value *name = dt->kind == SB_PICKLE_REDUCE ? sb_pickle_item(dt->u.reduce.args, 0) : NULL;
    const sb_pickle_value *order = dt->kind == SB_PICKLE_REDUCE ? sb_pickle_item(dt->u.reduce.state, 1) : NULL;
    if (!name || !order || !sb_pickle_is_global(dt->u.reduce.callable, "numpy", "dtype") ||
        (name->kind != SB_PICKLE_STR && name->kind != SB_PICKLE_STR8) ||
        (order->kind != SB_PICKLE_STR && order->kind != SB_PICKLE_STR8) || order->u.str.len != 1 ||
        name->u.str.len > 16)
        return sb_fail(SB_ERR_FORMAT, "%s: pickled ndarray has no readable numpy.dtype", label);
    char descr[24];
    snprintf(descr, sizeof descr, "%s%s", order->u.str.data, name->u.str.data);
    SB_TRY(parse_descr(a, label, descr));
    *payload = st->u.seq.items[4];
    return SB_OK;
}

int sb_npy_from_pickle(sb_npy *a, sb_pickle_doc *doc, const sb_pickle_value *v, const char *label) {
    const sb_pickle_value *payload = NULL;
    SB_TRY(ndarray_state(a, v, label, &payload));
    SB_TRY(check_numeric(a, label));
    SB_TRY(sb_pickle_as_bytes(doc, payload, label, &a->data, &a->data_size));
    size_t need = a->count * (size_t)itemsize[a->dtype];
    if (a->data_size != need)
        return sb_fail(SB_ERR_FORMAT, "%s: pickled %s ndarray has %zu bytes, shape needs %zu", label,
                       sb_npy_dtype_name(a->dtype), a->data_size, need);
    return SB_OK;
}

int sb_npy_load_objects(const sb_npy *a, const char *label, sb_pickle_doc **doc, sb_pickle_value *const **items) {
    *doc = NULL;
    *items = NULL;
    if (a->dtype != SB_NPY_OBJECT)
        return sb_fail(SB_ERR_FORMAT, "%s: expected an object array, got %s", label, sb_npy_dtype_name(a->dtype));
    sb_pickle_options opt = {.allowed = sb_npy_pickle_globals, .n_allowed = sb_npy_n_pickle_globals};
    const sb_pickle_value *root = NULL, *payload = NULL;
    SB_TRY(sb_pickle_load(doc, &root, label, a->data, a->data_size, &opt));
    sb_npy inner;
    int rc = ndarray_state(&inner, root, label, &payload);
    if (!rc && inner.dtype != SB_NPY_OBJECT)
        rc = sb_fail(SB_ERR_FORMAT, "%s: pickled array is %s, the header says object", label,
                     sb_npy_dtype_name(inner.dtype));
    if (!rc && (payload->kind != SB_PICKLE_LIST || payload->u.seq.n != a->count || inner.count != a->count))
        rc = sb_fail(SB_ERR_FORMAT, "%s: pickled object array holds %zu items, the header shape %zu", label,
                     payload->kind == SB_PICKLE_LIST ? payload->u.seq.n : 0, a->count);
    if (rc) {
        sb_pickle_free(*doc);
        *doc = NULL;
        return rc;
    }
    *items = payload->u.seq.items;
    return SB_OK;
}
