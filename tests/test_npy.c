/* npy reader: headers of versions 1-3, every supported dtype in both byte
 * orders, Fortran order, conversion to int16 (with rounding counted) and
 * float, pickled ndarrays with each raw-bytes form (bytes, Python 2 str,
 * _codecs.encode), object arrays; unsupported dtypes and damaged files are
 * clear errors. */
#include <math.h>
#include <string.h>

#include "io/npy.h"
#include "io_test_util.h"

/* Values 1, -2, 3, -4, 5, -6 (+ frac) as `size`-byte ints or floats in
 * the given byte order. */
static void encode(unsigned char *out, int size, int is_float, int big, double frac) {
    for (int i = 0; i < 6; i++) {
        double v = (i % 2 ? -(i + 1) : i + 1) + frac;
        uint64_t u;
        if (is_float && size == 4) { float f = (float)v; uint32_t w; memcpy(&w, &f, 4); u = w; }
        else if (is_float) memcpy(&u, &v, 8);
        else u = (uint64_t)(int64_t)v;
        for (int k = 0; k < size; k++) out[i * size + k] = (unsigned char)(u >> 8 * (big ? size - 1 - k : k));
    }
}

static void check_dtypes(void) {
    static const struct { const char *code; int size, is_float; } types[] = {
        {"i2", 2, 0}, {"i4", 4, 0}, {"i8", 8, 0}, {"f4", 4, 1}, {"f8", 8, 1}};
    for (int t = 0; t < 5; t++)
        for (int big = 0; big < 2; big++)
            for (int version = 1; version <= 3; version++) {
                unsigned char data[48];
                encode(data, types[t].size, types[t].is_float, big, 0);
                char descr[8], what[96];
                snprintf(descr, sizeof descr, "%c%s", big ? '>' : '<', types[t].code);
                buf b = {0};
                npy_build(&b, version, descr, 0, "(2, 3)", data, 6 * (size_t)types[t].size);
                sb_npy a;
                int16_t i16[6];
                float f32[6];
                size_t rounded = 99;
                int rc = sb_npy_parse(&a, "t.npy", b.p, b.n);
                if (!rc) rc = sb_npy_to_i16(&a, "t.npy", i16, &rounded);
                if (!rc) rc = sb_npy_to_f32(&a, "t.npy", f32);
                int ok = !rc && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 && a.count == 6 && rounded == 0;
                for (int i = 0; ok && i < 6; i++) {
                    int want = i % 2 ? -(i + 1) : i + 1;
                    ok = i16[i] == want && f32[i] == (float)want;
                }
                snprintf(what, sizeof what, "npy v%d %s reads as int16 and float", version, descr);
                t_check_true(what, ok);
                buf_free(&b);
            }
}

static void check_rounding_and_order(void) {
    unsigned char data[48];
    encode(data, 8, 1, 0, 0.5); /* 1.5, -1.5, 3.5, -3.5, 5.5, -5.5 */
    buf b = {0};
    npy_build(&b, 1, "<f8", 0, "(6,)", data, 48);
    sb_npy a;
    int16_t v[6];
    size_t rounded = 0;
    int rc = sb_npy_parse(&a, "t.npy", b.p, b.n);
    if (!rc) rc = sb_npy_to_i16(&a, "t.npy", v, &rounded);
    t_check_true("floats round half to even and are counted", !rc && rounded == 6 && v[0] == 2 && v[1] == -2 &&
                                                                  v[2] == 4 && v[3] == -4 && v[4] == 6 && v[5] == -6);
    /* Fortran order: storage 1..6 of a (2, 3) array is column-major */
    b.n = 0;
    const int16_t col[6] = {1, 4, 2, 5, 3, 6};
    npy_build(&b, 1, "<i2", 1, "(2, 3)", col, sizeof col);
    rc = sb_npy_parse(&a, "t.npy", b.p, b.n);
    if (!rc) rc = sb_npy_to_i16(&a, "t.npy", v, NULL);
    int ok = !rc && a.fortran_order;
    for (int i = 0; ok && i < 6; i++) ok = v[i] == i + 1;
    t_check_true("Fortran order converts to row-major", ok);
    buf_free(&b);
}

static void check_errors(void) {
    const unsigned char z[32] = {0};
    buf b = {0};
    sb_npy a;
    npy_build(&b, 1, "<c8", 0, "(2,)", z, 16);
    t_check_error("complex dtype", sb_npy_parse(&a, "t.npy", b.p, b.n), "t.npy: unsupported npy dtype '<c8'");
    b.n = 0;
    npy_build(&b, 1, "|u1", 0, "(2,)", z, 2);
    t_check_error("uint8 dtype", sb_npy_parse(&a, "t.npy", b.p, b.n), "unsupported npy dtype '|u1'");
    b.n = 0;
    const char structured[] = "\x93NUMPY\x01\x00\x40\x00{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }";
    buf_put(&b, structured, sizeof structured - 1);
    t_check_error("structured dtype", sb_npy_parse(&a, "t.npy", b.p, b.n), "structured arrays are not supported");
    b.n = 0;
    npy_build(&b, 1, "<i4", 0, "(3,)", z, 10);
    t_check_error("payload short", sb_npy_parse(&a, "t.npy", b.p, b.n), "int32 payload has 10 bytes, shape needs 12 (truncated)");
    b.n = 0;
    npy_build(&b, 4, "<i4", 0, "(1,)", z, 4);
    b.p[6] = 4;
    t_check_error("version 4", sb_npy_parse(&a, "t.npy", b.p, b.n), "npy format version 4.0 is not supported");
    t_check_error("no magic", sb_npy_parse(&a, "t.npy", "PK\x03\x04xxxxxxxx", 12), "not an npy file");
    b.n = 0;
    npy_build(&b, 1, "<i4", 0, "(1,)", z, 4);
    b.p[9] = 0x7F;
    t_check_error("header length past the end", sb_npy_parse(&a, "t.npy", b.p, b.n), "runs past the end");
    b.n = 0;
    npy_build(&b, 1, "<i4", 0, "(2 3)", z, 24);
    t_check_error("malformed shape", sb_npy_parse(&a, "t.npy", b.p, b.n), "npy header: expected ')'");
    b.n = 0;
    npy_build(&b, 1, "<i4", 0, "(1,)", z, 4);
    memcpy(strstr((char *)b.p + 10, "shape"), "shope", 5);
    t_check_error("unknown key", sb_npy_parse(&a, "t.npy", b.p, b.n), "unknown key 'shope'");
    b.n = 0;
    const int32_t big[2] = {40000, 1};
    npy_build(&b, 1, "<i4", 0, "(2,)", big, sizeof big);
    int16_t v[2];
    int rc = sb_npy_parse(&a, "t.npy", b.p, b.n);
    t_check_error("int32 beyond int16", rc ? rc : sb_npy_to_i16(&a, "t.npy", v, NULL),
                  "element 0 (40000) does not fit in int16");
    b.n = 0;
    const double nan[2] = {NAN, 1};
    npy_build(&b, 1, "<f8", 0, "(2,)", nan, sizeof nan);
    rc = sb_npy_parse(&a, "t.npy", b.p, b.n);
    t_check_error("NaN to int16", rc ? rc : sb_npy_to_i16(&a, "t.npy", v, NULL), "does not fit in int16");
    /* every truncation of a valid file fails cleanly */
    b.n = 0;
    npy_build(&b, 1, "<i2", 0, "(4, 3)", z, 24);
    int all = 1;
    for (size_t n = 0; n < b.n; n++)
        if (sb_npy_parse(&a, "t.npy", b.p, n) == 0) all = 0;
    t_check_true("every truncation is an error", all);
    buf_free(&b);
}

/* An object array of two int16 (n, 3) sketches whose raw bytes are written
 * as `form`: 'C' bytes, 'U' Python 2 str, 'E' _codecs.encode. */
static void object_npy(buf *b, int form, const char *order, const char *descr) {
    static const int16_t s0[6] = {1, -2, 0, 300, -400, 1}, s1[3] = {7, 8, 1};
    const int16_t *s[2] = {s0, s1};
    buf p = {0};
    pk_proto(&p, 2);
    int64_t n2 = 2;
    pk_ndarray_begin(&p, 1, &n2, "O8", "|");
    pk_op(&p, ']'); pk_op(&p, '(');
    for (int k = 0; k < 2; k++) {
        int64_t shape[2] = {k ? 1 : 2, 3};
        unsigned char raw[12];
        for (int i = 0; i < 3 * (int)shape[0]; i++) {
            uint16_t u = (uint16_t)s[k][i];
            raw[2 * i + (order[0] == '>')] = (unsigned char)(u & 0xFF);
            raw[2 * i + (order[0] != '>')] = (unsigned char)(u >> 8);
        }
        size_t n = 6 * (size_t)shape[0];
        pk_ndarray_begin(&p, 2, shape, descr, order);
        if (form == 'E') pk_codecs_bytes(&p, raw, n);
        else pk_string(&p, (unsigned)form, raw, n);
        pk_ndarray_end(&p);
    }
    pk_op(&p, 'e');
    pk_ndarray_end(&p);
    pk_op(&p, '.');
    npy_build(b, 1, "|O", 0, "(2,)", p.p, p.n);
    buf_free(&p);
}

static int read_objects(const buf *b, int16_t *out) {
    sb_npy a, e;
    sb_pickle_doc *doc;
    sb_pickle_value *const *items;
    SB_TRY(sb_npy_parse(&a, "o.npy", b->p, b->n));
    SB_TRY(sb_npy_load_objects(&a, "o.npy", &doc, &items));
    int rc = sb_npy_from_pickle(&e, doc, items[0], "o.npy[0]");
    if (!rc) rc = sb_npy_to_i16(&e, "o.npy[0]", out, NULL);
    if (!rc) rc = sb_npy_from_pickle(&e, doc, items[1], "o.npy[1]");
    if (!rc) rc = sb_npy_to_i16(&e, "o.npy[1]", out + 6, NULL);
    sb_pickle_free(doc);
    return rc;
}

static void check_objects(void) {
    static const int16_t want[9] = {1, -2, 0, 300, -400, 1, 7, 8, 1};
    static const struct { int form; const char *order, *what; } cases[] = {
        {'C', "<", "object array, bytes payload (protocol 3 style)"},
        {'U', "<", "object array, Python 2 str payload (protocol 2, hardmaru)"},
        {'E', "<", "object array, _codecs.encode payload (Python 3 at protocol 2)"},
        {'C', ">", "object array, big-endian int16 elements"}};
    for (int c = 0; c < 4; c++) {
        buf b = {0};
        object_npy(&b, cases[c].form, cases[c].order, "i2");
        int16_t out[9] = {0};
        int rc = read_objects(&b, out);
        t_check_true(cases[c].what, !rc && memcmp(out, want, sizeof want) == 0);
        if (rc) printf("  %s\n", sb_last_error());
        buf_free(&b);
    }
    buf b = {0};
    object_npy(&b, 'C', "<", "c8");
    int16_t out[9];
    t_check_error("pickled element of unsupported dtype", read_objects(&b, out), "o.npy[0]: unsupported npy dtype '<c8'");
    b.n = 0;
    object_npy(&b, 'C', "<", "i4"); /* shape says 6 int32 = 24 bytes, payload has 12 */
    t_check_error("pickled element payload too short", read_objects(&b, out), "has 12 bytes, shape needs 24");
    b.n = 0;
    buf p = {0};
    pk_proto(&p, 2); pk_global(&p, "os", "system"); pk_text(&p, "x"); pk_op(&p, 0x85); pk_op(&p, 'R'); pk_op(&p, '.');
    npy_build(&b, 1, "|O", 0, "(1,)", p.p, p.n);
    t_check_error("object array pickle naming os.system", read_objects(&b, out),
                  "o.npy: pickle: global os.system is not allowed");
    buf_free(&p);
    buf_free(&b);
}

int main(void) {
    printf("# test_npy (host only)\n");
    check_dtypes();
    check_rounding_and_order();
    check_errors();
    check_objects();
    return t_finish(NULL);
}
