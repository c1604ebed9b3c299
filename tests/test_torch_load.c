/* PyTorch checkpoint reader: the fixtures written by
 * tools/make_torch_fixtures.py (zip and legacy torch.save formats) load and
 * every tensor matches the checksums torch computed (sum, sum of |x|,
 * index-weighted sum; shape and dtype); `args` loads as an inert object;
 * hostile inputs (truncation at every offset, wrong magic, unknown opcodes,
 * deep nesting, huge lengths, REDUCE of posix.system / builtins.eval,
 * storages and views beyond the data, random byte flips) are clear errors
 * that name the input and never crash (run under ASan too). */
#include <math.h>
#include <string.h>

#include "io/torch_load.h"
#include "io_test_util.h"

static const char *fixtures(void) {
    const char *d = getenv("SKETCHBERT_FIXTURES");
    return d && *d ? d : "tests/data";
}

static char *fixture_bytes(const char *name, size_t *size) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fixtures(), name);
    return io_read_file(path, size);
}

/* The value at a '/'-separated path: dict keys (str, else int) and list
 * indices. */
static const sb_torch_value *at_path(const sb_torch_value *v, const char *path) {
    char part[256];
    while (v && *path) {
        const char *slash = strchr(path, '/');
        size_t n = slash ? (size_t)(slash - path) : strlen(path);
        if (n >= sizeof part) return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        path += n + (slash != NULL);
        if (v->kind == SB_TORCH_LIST || v->kind == SB_TORCH_TUPLE) {
            size_t i = (size_t)strtoul(part, NULL, 10);
            v = i < v->u.seq.n ? v->u.seq.items[i] : NULL;
        } else {
            const sb_torch_value *s = sb_torch_get(v, part);
            v = s ? s : sb_torch_get_int(v, strtoll(part, NULL, 10));
        }
    }
    return v;
}

static int close_to(double got, double want) { return fabs(got - want) <= 1e-6 * fabs(want) + 1e-5; }

/* Every line of torch_expected.txt for `name` against the loaded tree. */
static void check_expected(const char *name, const sb_torch_file *f) {
    size_t size = 0;
    char *text = fixture_bytes("torch_expected.txt", &size);
    if (!t_check_true("torch_expected.txt is readable", text != NULL)) return;
    int lines = 0, bad = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        char file[128], path[256], dtype[32], shape[64];
        double sum, asum, wsum;
        if (line[0] == '#' || sscanf(line, "%127s %255s %31s %63s %lf %lf %lf", file, path, dtype, shape, &sum, &asum,
                                     &wsum) != 7 || strcmp(file, name) != 0)
            continue;
        lines++;
        const sb_torch_value *v = at_path(sb_torch_root(f), path);
        if (!v || v->kind != SB_TORCH_TENSOR) {
            printf("  %s: %s is %s\n", name, path, v ? sb_torch_kind_name(v->kind) : "missing");
            bad++;
            continue;
        }
        const sb_torch_tensor *t = &v->u.tensor;
        char got_shape[64] = "";
        for (int d = 0; d < t->ndim; d++)
            snprintf(got_shape + strlen(got_shape), sizeof got_shape - strlen(got_shape), "%s%lld", d ? "x" : "",
                     (long long)t->shape[d]);
        if (!t->ndim) strcpy(got_shape, "scalar");
        double s = 0, a = 0, w = 0;
        for (size_t i = 0; i < t->numel; i++) {
            s += t->data[i];
            a += fabs(t->data[i]);
            w += t->data[i] * (double)(i + 1);
        }
        if (strcmp(got_shape, shape) || strcmp(sb_torch_dtype_name(t->dtype), dtype) || !close_to(s, sum) ||
            !close_to(a, asum) || !close_to(w, wsum)) {
            printf("  %s: %s got %s %s %.9g %.9g %.9g, want %s %s %.9g %.9g %.9g\n", name, path,
                   sb_torch_dtype_name(t->dtype), got_shape, s, a, w, dtype, shape, sum, asum, wsum);
            bad++;
        }
    }
    char what[256];
    snprintf(what, sizeof what, "%s: %d tensors match torch's shapes, dtypes and checksums", name, lines);
    t_check_true(what, lines > 0 && bad == 0);
    free(text);
}

static void check_checkpoint(const char *name, const char *format) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fixtures(), name);
    sb_torch_file *f = NULL;
    int rc = sb_torch_load(&f, path, NULL);
    char what[256];
    snprintf(what, sizeof what, "%s loads (%s format)", name, format);
    if (!t_check_true(what, rc == 0 && strcmp(sb_torch_format(f), format) == 0)) {
        printf("  %s\n", sb_last_error());
        sb_torch_free(f);
        return;
    }
    check_expected(name, f);
    const sb_torch_value *root = sb_torch_root(f);
    if (sb_torch_get(root, "args")) {
        const sb_torch_value *args = sb_torch_get(root, "args"), *cfg = sb_torch_get(args, "_cfg_dict");
        const sb_torch_value *ml = sb_torch_get(cfg, "max_length"), *mt = sb_torch_get(cfg, "model_type");
        snprintf(what, sizeof what, "%s: args is an inert __main__.Config object with _cfg_dict", name);
        t_check_true(what, args->kind == SB_TORCH_OBJECT && strcmp(args->u.object.module, "__main__") == 0 &&
                               strcmp(args->u.object.name, "Config") == 0 && ml && ml->kind == SB_TORCH_INT &&
                               ml->u.i == 12 && mt && mt->kind == SB_TORCH_STR &&
                               strcmp(mt->u.str.data, "albert") == 0);
        const sb_torch_value *items = args->u.object.dict, *note = items ? sb_torch_get(items, "note") : NULL;
        snprintf(what, sizeof what, "%s: the Config's own dict items are kept", name);
        t_check_true(what, note && note->kind == SB_TORCH_STR);
        const sb_torch_value *t = at_path(root, "counters/t");
        snprintf(what, sizeof what, "%s: counters.t is 41", name);
        t_check_true(what, t && t->kind == SB_TORCH_INT && t->u.i == 41);
        const sb_torch_value *pg = at_path(root, "optE_state/param_groups/0/params");
        snprintf(what, sizeof what, "%s: optimizer param_groups list 21 parameter indices", name);
        t_check_true(what, pg && pg->kind == SB_TORCH_LIST && pg->u.seq.n == 21);
    } else if (sb_torch_get(root, "param")) {
        const sb_torch_value *p = sb_torch_get(root, "param"), *c = sb_torch_get(root, "column");
        snprintf(what, sizeof what, "%s: nn.Parameter is marked; a view keeps its storage key", name);
        t_check_true(what, p && p->kind == SB_TORCH_TENSOR && p->u.tensor.parameter && p->u.tensor.requires_grad &&
                               c && c->kind == SB_TORCH_TENSOR && !c->u.tensor.parameter &&
                               strcmp(c->u.tensor.storage_key, sb_torch_get(root, "block")->u.tensor.storage_key) == 0);
    }
    sb_torch_free(f);
}

// ---- hostile inputs

static int load_buf(const buf *b, const sb_torch_options *o) {
    sb_torch_file *f = NULL;
    int rc = sb_torch_load_memory(&f, "hostile.pth", b->p, b->n, o);
    sb_torch_free(f);
    return rc;
}

static void expect_error(const char *what, const buf *b, const char *needle) {
    int rc = load_buf(b, NULL);
    t_check_error(what, rc, needle);
    if (rc && !strstr(sb_last_error(), "hostile.pth")) t_check_true("  ... and the message names the input", 0);
}

/* A legacy-format file around `main` (the object's pickle): magic,
 * protocol, system info, main, the keys, then each storage record
 * (element count, then `bytes` raw bytes). */
static void legacy_build(buf *b, const buf *main, int n_keys, const char *const *keys, const int64_t *counts,
                         const size_t *bytes) {
    static const unsigned char magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                          0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};
    buf_put(b, magic, sizeof magic);
    pk_proto(b, 2); pk_int(b, 1001); pk_op(b, '.');
    pk_proto(b, 2); pk_op(b, '}'); pk_text(b, "little_endian"); pk_op(b, 0x88); pk_op(b, 's'); pk_op(b, '.');
    buf_put(b, main->p, main->n);
    pk_proto(b, 2); pk_op(b, ']'); pk_op(b, '(');
    for (int i = 0; i < n_keys; i++) pk_text(b, keys[i]);
    pk_op(b, 'e'); pk_op(b, '.');
    for (int i = 0; i < n_keys; i++) {
        buf_le(b, (uint64_t)counts[i], 8);
        for (size_t k = 0; k < bytes[i]; k++) buf_byte(b, (unsigned)k);
    }
}

/* Any int64: LONG1 8 bytes when BININT would not hold it. */
static void pk_long(buf *b, int64_t v) {
    if (v >= 0 && v < 65536) {
        pk_int(b, v);
    } else {
        buf_byte(b, 0x8a); buf_byte(b, 8); buf_le(b, (uint64_t)v, 8);
    }
}

/* _rebuild_tensor_v2(('storage', torch.FloatStorage, key, 'cpu', numel),
 * offset, (n,), (stride,), False, OrderedDict()) */
static void pk_tensor(buf *b, const char *key, int64_t numel, int64_t offset, int64_t n, int64_t stride) {
    pk_global(b, "torch._utils", "_rebuild_tensor_v2");
    pk_op(b, '(');
    pk_op(b, '('); pk_text(b, "storage"); pk_global(b, "torch", "FloatStorage"); pk_text(b, key); pk_text(b, "cpu");
    pk_long(b, numel);
    pk_op(b, 't'); pk_op(b, 'Q');
    pk_long(b, offset);
    pk_long(b, n); pk_op(b, 0x85);
    pk_long(b, stride); pk_op(b, 0x85);
    pk_op(b, 0x89);
    pk_global(b, "collections", "OrderedDict"); pk_op(b, ')'); pk_op(b, 'R');
    pk_op(b, 't'); pk_op(b, 'R');
}

/* A legacy file holding (tensor, a `pad`-byte string): the padding makes
 * the file large enough that claims are checked against the record, not
 * only against the file size. */
static void legacy_one_tensor(buf *out, int64_t numel, int64_t offset, int64_t n, int64_t stride, int64_t count,
                              size_t bytes, size_t pad) {
    buf m = {0};
    pk_proto(&m, 2);
    pk_tensor(&m, "0", numel, offset, n, stride);
    char *text = calloc(1, pad + 1);
    memset(text, 'x', pad);
    pk_text(&m, text);
    free(text);
    pk_op(&m, 0x86);
    pk_op(&m, '.');
    const char *keys[] = {"0"};
    legacy_build(out, &m, 1, keys, &count, &bytes);
    buf_free(&m);
}

static void check_legacy_built(void) {
    buf b = {0};
    legacy_one_tensor(&b, 4, 1, 2, 2, 4, 16, 0);
    sb_torch_file *f = NULL;
    int rc = sb_torch_load_memory(&f, "built.pth", b.p, b.n, NULL);
    const sb_torch_value *r = rc ? NULL : sb_torch_root(f)->u.seq.items[0];
    /* bytes 0..15 as four floats; elements 1 and 3 */
    float want[4];
    unsigned char raw[16];
    for (int k = 0; k < 16; k++) raw[k] = (unsigned char)k;
    memcpy(want, raw, 16);
    t_check_true("built legacy file: a strided view gathers elements 1 and 3",
                 r && r->kind == SB_TORCH_TENSOR && r->u.tensor.numel == 2 &&
                     memcmp(&r->u.tensor.data[0], &want[1], 4) == 0 && memcmp(&r->u.tensor.data[1], &want[3], 4) == 0);
    if (rc) printf("  %s\n", sb_last_error());
    sb_torch_free(f);
    buf_free(&b);
}

static void check_hostile_built(void) {
    buf b = {0};
    legacy_one_tensor(&b, 4, 0, 4, 1, 4, 16, 0);
    b.p[5] ^= 0x40;
    expect_error("wrong magic number", &b, "not a PyTorch checkpoint");
    buf_free(&b);

    legacy_one_tensor(&b, 4, 2, 3, 1, 4, 16, 0);
    expect_error("view beyond its storage", &b, "reaches element");
    buf_free(&b);

    legacy_one_tensor(&b, 4, 0, 2, (int64_t)1 << 61, 4, 16, 0);
    expect_error("huge stride", &b, "reaches");
    buf_free(&b);

    legacy_one_tensor(&b, (int64_t)1 << 40, 0, 4, 1, 4, 16, 0);
    expect_error("storage declares more elements than the file holds", &b, "more than the");
    buf_free(&b);

    legacy_one_tensor(&b, 64, 0, 4, 1, 64, 16, 400);
    expect_error("storage record beyond the end of the file", &b, "run past the end");
    buf_free(&b);

    legacy_one_tensor(&b, 4, 0, 4, 1, 5, 16, 0);
    expect_error("record count disagrees with the persistent id", &b, "holds 5 elements");
    buf_free(&b);

    const char *calls[][2] = {{"posix", "system"}, {"builtins", "eval"}, {"os", "system"}, {"subprocess", "Popen"}};
    for (int i = 0; i < 4; i++) {
        buf m = {0};
        pk_proto(&m, 2);
        pk_global(&m, calls[i][0], calls[i][1]);
        pk_text(&m, "echo pwned");
        pk_op(&m, 0x85); pk_op(&m, 'R'); pk_op(&m, '.');
        legacy_build(&b, &m, 0, NULL, NULL, NULL);
        char what[128], needle[128];
        snprintf(what, sizeof what, "REDUCE of %s.%s is refused", calls[i][0], calls[i][1]);
        snprintf(needle, sizeof needle, "refusing to call %s.%s", calls[i][0], calls[i][1]);
        expect_error(what, &b, needle);
        buf_free(&b);
        buf_free(&m);
    }

    buf m = {0};
    pk_proto(&m, 2); pk_op(&m, 0xf0); pk_op(&m, '.');
    legacy_build(&b, &m, 0, NULL, NULL, NULL);
    expect_error("unknown opcode", &b, "opcode 0xf0");
    buf_free(&b);
    buf_free(&m);

    pk_proto(&m, 2);
    for (int i = 0; i < 3000; i++) pk_op(&m, ']');
    for (int i = 0; i < 2999; i++) pk_op(&m, 'a');
    pk_op(&m, '.');
    legacy_build(&b, &m, 0, NULL, NULL, NULL);
    expect_error("lists nested 3000 deep", &b, "nested deeper");
    buf_free(&b);
    buf_free(&m);

    pk_proto(&m, 2);
    buf_byte(&m, 0x8d); buf_le(&m, (uint64_t)1 << 60, 8); pk_op(&m, '.');
    legacy_build(&b, &m, 0, NULL, NULL, NULL);
    expect_error("a string of 2^60 bytes", &b, "hostile.pth");
    buf_free(&b);
    buf_free(&m);

    /* billion laughs: each level holds the previous one twice (a DAG the
     * loader converts once per value) */
    pk_proto(&m, 2);
    pk_op(&m, ']');
    for (int i = 0; i < 60; i++) { pk_op(&m, '2'); pk_op(&m, 0x86); }
    pk_op(&m, '.');
    legacy_build(&b, &m, 0, NULL, NULL, NULL);
    sb_torch_file *f = NULL;
    int rc = sb_torch_load_memory(&f, "laughs.pth", b.p, b.n, NULL);
    t_check_true("2^60 shared references convert once each", rc == 0);
    sb_torch_free(f);
    buf_free(&b);
    buf_free(&m);

    /* a tensor whose element count beats the limit through a broadcast */
    pk_proto(&m, 2);
    pk_tensor(&m, "0", 4, 0, 1 << 24, 0);
    pk_op(&m, '.');
    const char *keys[] = {"0"};
    int64_t count = 4;
    size_t bytes = 16;
    legacy_build(&b, &m, 1, keys, &count, &bytes);
    expect_error("a stride-0 broadcast beyond the element limit", &b, "more than the limit");
    buf_free(&b);
    buf_free(&m);

    /* zip: a storage member shorter than its persistent id says */
    pk_proto(&m, 2);
    pk_tensor(&m, "0", 100, 0, 4, 1);
    pk_op(&m, '.');
    float four[4] = {1, 2, 3, 4};
    zip_member zm[] = {{"archive/data.pkl", m.p, m.n, 0}, {"archive/data/0", four, sizeof four, 0}};
    zip_build(&b, zm, 2);
    for (int i = 0; i < 200; i++) buf_byte(&b, 0); /* room in the file for the 100 floats claimed */
    expect_error("zip storage member shorter than declared", &b, "holds 16 bytes");
    buf_free(&b);
    zip_member nomember[] = {{"archive/data.pkl", m.p, m.n, 0}, {"archive/data/1", four, sizeof four, 0}};
    zip_build(&b, nomember, 2);
    for (int i = 0; i < 400; i++) buf_byte(&b, 0);
    expect_error("zip storage without its member", &b, "has no member archive/data/0");
    buf_free(&b);
    zip_member nopkl[] = {{"archive/other", four, sizeof four, 0}};
    zip_build(&b, nopkl, 1);
    expect_error("zip without data.pkl", &b, "data.pkl");
    buf_free(&b);
    buf_free(&m);
}

/* byteorder "big": storages hold big-endian values. */
static void check_big_endian(void) {
    buf m = {0}, b = {0};
    pk_proto(&m, 2);
    pk_tensor(&m, "0", 2, 0, 2, 1);
    pk_op(&m, '.');
    const unsigned char be[8] = {0x3f, 0x80, 0, 0, 0xc0, 0x20, 0, 0}; /* 1.0f, -2.5f */
    zip_member zm[] = {{"archive/data.pkl", m.p, m.n, 0}, {"archive/byteorder", "big", 3, 0},
                       {"archive/data/0", be, sizeof be, 1}};
    zip_build(&b, zm, 3);
    sb_torch_file *f = NULL;
    int rc = sb_torch_load_memory(&f, "big.pth", b.p, b.n, NULL);
    const sb_torch_value *r = rc ? NULL : sb_torch_root(f);
    t_check_true("zip with byteorder big: values swapped (deflated member)",
                 r && r->kind == SB_TORCH_TENSOR && r->u.tensor.data[0] == 1.0f && r->u.tensor.data[1] == -2.5f);
    if (rc) printf("  %s\n", sb_last_error());
    sb_torch_free(f);
    buf_free(&b);
    buf_free(&m);
}

/* Every prefix (or `step`-spaced prefixes) and random byte flips of a
 * fixture: errors that name the input, no crash. */
static void check_truncation_and_flips(const char *name, size_t step, int flips) {
    size_t size = 0;
    char *data = fixture_bytes(name, &size);
    if (!t_check_true("fixture is readable", data != NULL)) return;
    int named = 1, accepted = 0, tried = 0;
    for (size_t n = 0; n < size; n += (n < 64 ? 1 : step)) {
        buf cut = {(unsigned char *)data, n, n};
        int rc = load_buf(&cut, NULL);
        tried++;
        if (!rc) accepted++;
        else if (!strstr(sb_last_error(), "hostile.pth")) named = 0;
    }
    char what[256];
    snprintf(what, sizeof what, "%s: %d truncations are errors naming the input", name, tried);
    t_check_true(what, named && accepted == 0);
    buf m = {0};
    buf_put(&m, data, size);
    int failures = 0;
    for (int trial = 0; trial < flips; trial++) {
        memcpy(m.p, data, size);
        for (int k = 0; k < 1 + trial % 3; k++) m.p[t_rand_u32() % size] = (unsigned char)t_rand_u32();
        int rc = load_buf(&m, NULL);
        if (rc && !strstr(sb_last_error(), "hostile.pth")) named = 0;
        failures += rc != 0;
    }
    printf("# %s: %d of %d mutated files rejected, the rest loaded\n", name, failures, flips);
    snprintf(what, sizeof what, "%s: random byte flips never crash; failures name the input", name);
    t_check_true(what, named);
    buf_free(&m);
    free(data);
}

int main(void) {
    printf("# test_torch_load (host only; fixtures in %s)\n", fixtures());
    check_checkpoint("torch_ckpt_zip.pth.tar", "zip");
    check_checkpoint("torch_ckpt_legacy.pth.tar", "legacy");
    check_checkpoint("torch_views_zip.pth", "zip");
    check_checkpoint("torch_views_legacy.pth", "legacy");
    check_checkpoint("torch_bert_noargs.pth", "zip");
    check_legacy_built();
    check_big_endian();
    check_hostile_built();
    check_truncation_and_flips("torch_views_legacy.pth", 1, 3000);
    check_truncation_and_flips("torch_views_zip.pth", 1, 3000);
    check_truncation_and_flips("torch_ckpt_legacy.pth.tar", 97, 300);
    check_truncation_and_flips("torch_ckpt_zip.pth.tar", 97, 300);
    return t_finish(NULL);
}
