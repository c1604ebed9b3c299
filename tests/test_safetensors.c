/* safetensors reader and writer: a round trip of every written dtype with
 * metadata that needs escaping, hand-made files in F16/BF16/F64/I32 with
 * padded headers and unicode escapes, and corrupt files (truncated, header
 * length past the end, bad JSON, offsets out of range or overlapping,
 * wrong sizes, unknown dtype, duplicates) rejected with one-line messages
 * naming the file and the tensor; checksums: a flipped bit in a tensor,
 * in the metadata or in the tensor table is refused naming the tensor or
 * the header, a file without checksums still opens. Host only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "sketchbert/sketchbert.h"
#include "test_util.h"

static char dir[] = "/tmp/sketchbert_test_safetensors_XXXXXX";
static char path[300];

/* A file of an 8-byte length, the header text as given, then data. */
static void write_raw(const char *header, const void *data, size_t n, long long claimed_len) {
    FILE *f = fopen(path, "wb");
    uint64_t len = claimed_len >= 0 ? (uint64_t)claimed_len : strlen(header);
    uint8_t l8[8];
    for (int i = 0; i < 8; i++) l8[i] = (uint8_t)(len >> (8 * i));
    fwrite(l8, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

/* Opening must fail with one line that contains the path and `needle`. */
static void expect_error(const char *what, const char *needle) {
    sb_st_file *f = NULL;
    int rc = sb_st_open(&f, path);
    const char *msg = sb_last_error();
    int ok = rc != 0 && !f && strstr(msg, path) && strstr(msg, needle) && !strchr(msg, '\n');
    if (!ok) printf("# rc %d, message: %s\n", rc, msg);
    t_check_true(what, ok);
    sb_st_close(f);
}

static void test_round_trip(void) {
    float a[6] = {1.5f, -2.25f, 3e-38f, INFINITY, -0.0f, 123456.789f};
    int32_t b[4] = {-1, 0, 2147483647, -2147483647 - 1};
    int64_t c = -9000000000000LL;
    int64_t sa[2] = {2, 3}, sb[1] = {4}, se[2] = {0, 5};
    sb_st_writer *w;
    int rc = sb_st_writer_open(&w, path);
    rc = rc ? rc : sb_st_writer_add(w, "netE.weight", SB_ST_F32, 2, sa, a);
    rc = rc ? rc : sb_st_writer_add(w, "ints", SB_ST_I32, 1, sb, b);
    rc = rc ? rc : sb_st_writer_add(w, "scalar", SB_ST_I64, 0, NULL, &c);
    rc = rc ? rc : sb_st_writer_add(w, "empty", SB_ST_F32, 2, se, NULL);
    rc = rc ? rc : sb_st_writer_meta(w, "config", "a: \"quoted\"\n\tb: [1, 2] \\ \x01 caf\xc3\xa9");
    rc = rc ? rc : sb_st_writer_meta(w, "step", "1");
    rc = rc ? rc : sb_st_writer_meta(w, "step", "42"); /* replaces */
    t_check_error("adding a name twice", sb_st_writer_add(w, "ints", SB_ST_I32, 1, sb, b), "added twice");
    t_check_error("writing F16 is refused", sb_st_writer_add(w, "h", SB_ST_F16, 1, sb, b), "not supported");
    rc = rc ? rc : sb_st_writer_commit(w);
    t_check_true("write", rc == 0);
    if (rc) {
        printf("# %s\n", sb_last_error());
        return;
    }
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    t_check_true("no temporary left behind", access(tmp, F_OK) != 0);

    FILE *fp = fopen(path, "rb");
    uint8_t l8[8];
    t_check_true("length read", fread(l8, 1, 8, fp) == 8);
    fclose(fp);
    t_check_true("header padded to 8 bytes", l8[0] % 8 == 0);

    sb_st_file *f;
    rc = sb_st_open(&f, path);
    t_check_true("open", rc == 0);
    if (rc) {
        printf("# %s\n", sb_last_error());
        return;
    }
    t_check_true("four tensors, two metadata keys and the checksums",
                 f->n_tensors == 4 && f->n_meta == 3 && sb_st_meta(f, SB_ST_CHECKSUM_KEY) && f->checksummed);
    const sb_st_tensor *ta = sb_st_find(f, "netE.weight"), *tb = sb_st_find(f, "ints"),
                       *tc = sb_st_find(f, "scalar"), *te = sb_st_find(f, "empty");
    t_check_true("found by name", ta && tb && tc && te && !sb_st_find(f, "nope"));
    if (!ta || !tb || !tc || !te) return;
    t_check_true("shapes", ta->ndim == 2 && ta->shape[0] == 2 && ta->shape[1] == 3 && ta->dtype == SB_ST_F32 &&
                               tc->ndim == 0 && tc->numel == 1 && te->numel == 0 && tb->dtype == SB_ST_I32);
    float ra[6];
    int64_t rb[4], rcv;
    t_check_true("read F32", sb_st_read_f32(f, ta, ra) == 0 && !memcmp(ra, a, sizeof a));
    t_check_true("read I32 as int64", sb_st_read_i64(f, tb, rb) == 0 && rb[0] == -1 && rb[2] == 2147483647 &&
                                          rb[3] == -2147483647 - 1);
    t_check_true("read I64 scalar", sb_st_read_i64(f, tc, &rcv) == 0 && rcv == c);
    t_check_true("read empty", sb_st_read_f32(f, te, ra) == 0);
    t_check_error("I32 does not read as float", sb_st_read_f32(f, tb, ra), "'ints': dtype I32 does not convert");
    const char *cfg = sb_st_meta(f, "config");
    t_check_true("metadata escaped and read back", cfg && !strcmp(cfg, "a: \"quoted\"\n\tb: [1, 2] \\ \x01 caf\xc3\xa9"));
    t_check_true("metadata replaced", sb_st_meta(f, "step") && !strcmp(sb_st_meta(f, "step"), "42"));
    sb_st_close(f);
}

static void test_other_dtypes(void) {
    /* F16 1.0, -2.0, 65504, smallest subnormal; BF16 1.0, -3.0; F64 0.1;
     * I32 -5. Header padded with spaces, a unicode escape in a name and
     * in metadata, an unknown key skipped. */
    uint8_t data[8 + 4 + 8 + 4] = {0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00, /* F16 */
                                   0x80, 0x3f, 0x40, 0xc0};                         /* BF16 */
    double d = 0.1;
    uint64_t u;
    memcpy(&u, &d, 8);
    for (int i = 0; i < 8; i++) data[12 + i] = (uint8_t)(u >> (8 * i));
    data[20] = 0xfb, data[21] = 0xff, data[22] = 0xff, data[23] = 0xff;
    write_raw("{\"h\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
              "\"b\\u00e9\":{\"shape\":[2],\"dtype\":\"BF16\",\"data_offsets\":[8,12],\"extra\":[1,{\"x\":null}]},"
              "\"d\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[12,20]},"
              "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[20,24]},"
              "\"__metadata__\":{\"k\\ud83d\\ude00\":\"v\"}}      ",
              data, sizeof data, -1);
    sb_st_file *f;
    int rc = sb_st_open(&f, path);
    t_check_true("open hand-made file", rc == 0);
    if (rc) {
        printf("# %s\n", sb_last_error());
        return;
    }
    float h[4], b[2], dv;
    int64_t iv;
    const sb_st_tensor *tb = sb_st_find(f, "b\xc3\xa9");
    t_check_true("F16 to float", sb_st_read_f32(f, sb_st_find(f, "h"), h) == 0 && h[0] == 1.0f && h[1] == -2.0f &&
                                     h[2] == 65504.0f && h[3] == ldexpf(1.0f, -24));
    t_check_true("BF16 to float", tb && sb_st_read_f32(f, tb, b) == 0 && b[0] == 1.0f && b[1] == -3.0f);
    t_check_true("F64 to float", sb_st_read_f32(f, sb_st_find(f, "d"), &dv) == 0 && dv == 0.1f);
    t_check_true("I32 to int64", sb_st_read_i64(f, sb_st_find(f, "i"), &iv) == 0 && iv == -5);
    t_check_true("surrogate pair in metadata key", sb_st_meta(f, "k\xf0\x9f\x98\x80") != NULL);
    sb_st_close(f);
}

static void test_corrupt(void) {
    float z[4] = {0};
    const char *good = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

    FILE *fp = fopen(path, "wb");
    fwrite("abc", 1, 3, fp);
    fclose(fp);
    expect_error("shorter than the length field", "too short");
    write_raw(good, z, 4, -1);
    expect_error("truncated data", "'w': data_offsets [0, 8] outside the data (4 bytes)");
    write_raw(good, z, 8, 1000);
    expect_error("header length beyond the file", "runs past the end of the file");
    write_raw(good, z, 8, 1LL << 40);
    expect_error("absurd header length", "over the 100 MB limit");
    write_raw("{\"w\" {\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", z, 8, -1);
    expect_error("missing colon", "expected ':'");
    write_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", z, 8, -1);
    expect_error("unclosed object", "expected '}'");
    write_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", z, 8, -1);
    expect_error("text after the header", "text after the header");
    write_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", z, 8, -1);
    expect_error("negative dimension", "expected a non-negative integer");
    write_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", z, 8, -1);
    expect_error("fractional dimension", "expected an integer");
    write_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,99999999999999999999]}}", z, 8, -1);
    expect_error("offset overflow", "integer too large");
    write_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":[[[[[[1]]]]]]}}", z, 8, -1);
    expect_error("nesting bound", "nested too deeply");
    write_raw("{\"w\":{\"dtype\":\"F7\",\"shape\":[2],\"data_offsets\":[0,8]}}", z, 8, -1);
    expect_error("unknown dtype", "tensor 'w': unknown dtype 'F7'");
    write_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", z, 8, -1);
    expect_error("missing data_offsets", "tensor 'w': missing data_offsets");
    write_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", z, 16, -1);
    expect_error("size does not match the shape", "tensor 'w': data_offsets [0, 8] hold 8 bytes, but F32 of 3");
    /* hostile sizes: shapes claiming terabytes to more than 2^64 bytes are
     * refused from the header alone, before any allocation */
    write_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", z,
              8, -1);
    expect_error("shape of 2^96 elements", "tensor 'w': shape too large");
    write_raw("{\"w\":{\"dtype\":\"F64\",\"shape\":[1000000,1000000],\"data_offsets\":[0,8]}}", z, 8, -1);
    expect_error("8 TB shape over 8 bytes", "tensor 'w': data_offsets [0, 8] hold 8 bytes, but F64 of");
    write_raw("{\"w\":{\"dtype\":\"F64\",\"shape\":[1000000,1000000],\"data_offsets\":[0,8000000000000]}}", z,
              8, -1);
    expect_error("8 TB shape with matching offsets", "tensor 'w': data_offsets [0, 8000000000000] outside the data");
    write_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", z, 8, -1);
    expect_error("reversed offsets", "tensor 'w': data_offsets [8, 0]");
    write_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", z, 12, -1);
    expect_error("overlapping tensors", "tensor 'w': data_offsets [4, 12] overlap tensor 'a'");
    write_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", z, 8, -1);
    expect_error("duplicate name", "tensor 'w' appears twice");
    write_raw("{\"__metadata__\":{\"step\":3}}", NULL, 0, -1);
    expect_error("metadata value not a string", "__metadata__ values must be strings");
    write_raw("{\"w\\q\":{}}", NULL, 0, -1);
    expect_error("bad escape", "bad escape");
    write_raw("{\"w\\udc00\":{}}", NULL, 0, -1);
    expect_error("lone low surrogate", "unpaired surrogate");
    write_raw("{\"w\\u0000\":{}}", NULL, 0, -1);
    expect_error("NUL escape", "NUL character");

    sb_st_file *f = NULL;
    snprintf(path + strlen(path), 16, ".absent");
    int rc = sb_st_open(&f, path);
    t_check_true("missing file named", rc == SB_ERR_IO && strstr(sb_last_error(), path) != NULL);
    path[strlen(path) - 7] = '\0';
}

/* Flips one bit of the file at byte offset `at` (from the end when < 0). */
static void flip_bit(long at) {
    FILE *f = fopen(path, "r+b");
    fseek(f, at, at < 0 ? SEEK_END : SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, at < 0 ? SEEK_END : SEEK_SET);
    fputc(c ^ 0x01, f); /* digits stay digits */
    fclose(f);
}

/* The round-trip file, damaged in different places. */
static void test_checksums(void) {
    test_round_trip();
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    char *orig = calloc((size_t)size + 1, 1); /* the header text after 8 bytes is NUL-free */
    fseek(f, 0, SEEK_SET);
    t_check_true("read the file", fread(orig, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    char *meta = strstr(orig + 8, "\"42\""), *name = strstr(orig + 8, "\"ints\"");
    t_check_true("the header holds the metadata and the name", meta && name);
    if (!meta || !name) return free(orig);
    struct { const char *what; long at; const char *needle; } cases[] = {
        {"a flipped bit in the last tensor (netE.weight... ints, scalar) is refused naming it", -3,
         "tensor 'scalar' (file bytes"},
        {"a flipped bit in the first tensor is refused naming it", -(long)(8 + 16 + 24) + 1, "tensor 'netE.weight'"},
        {"a flipped bit in a metadata value is refused", meta - orig + 2, "the header (metadata and tensor table"},
        {"a renamed tensor in the tensor table is refused", name - orig + 1, "the header (metadata and tensor table"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f = fopen(path, "wb");
        fwrite(orig, 1, (size_t)size, f);
        fclose(f);
        flip_bit(cases[i].at);
        expect_error(cases[i].what, cases[i].needle);
    }
    f = fopen(path, "wb");
    fwrite(orig, 1, (size_t)size - 4, f);
    fclose(f);
    expect_error("a truncated file is refused naming the tensor", "tensor 'scalar'");
    free(orig);

    /* a file of another tool: no checksum key, opens unverified */
    float v[2] = {1, 2};
    write_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", v, 8, -1);
    sb_st_file *st = NULL;
    t_check_true("a file without checksums opens, marked unverified",
                 sb_st_open(&st, path) == 0 && st && !st->checksummed);
    sb_st_close(st);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/t.safetensors", dir);
    test_round_trip();
    test_other_dtypes();
    test_corrupt();
    test_checksums();
    remove(path);
    rmdir(dir);
    return t_finish(NULL);
}
