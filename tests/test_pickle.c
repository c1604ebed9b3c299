/* Safe pickle reader: every value kind and memo/frame/persistent-id opcode
 * built here decodes to the expected tree (including a torch-like state
 * dict); disallowed globals, unknown opcodes, deep nesting, huge lengths,
 * cycles and truncation are clear errors; every prefix and random byte
 * flips of a valid pickle never crash (run under ASan too). */
#include <math.h>
#include <string.h>

#include "io/pickle.h"
#include "io_test_util.h"

static const sb_pickle_global allow[] = {
    {"collections", "OrderedDict"}, {"torch._utils", "_rebuild_tensor_v2"}, {"torch", "FloatStorage"},
    {"numpy", "dtype"},
};
static const sb_pickle_options opts = {.allowed = allow, .n_allowed = 4};

static int load(const buf *b, sb_pickle_doc **doc, const sb_pickle_value **root, const sb_pickle_options *o) {
    return sb_pickle_load(doc, root, "test.pkl", b->p, b->n, o ? o : &opts);
}

/* Loads b and expects an error containing needle. */
static void expect_error(const char *what, const buf *b, const sb_pickle_options *o, const char *needle) {
    sb_pickle_doc *doc;
    const sb_pickle_value *root;
    int rc = load(b, &doc, &root, o);
    t_check_error(what, rc, needle);
    sb_pickle_free(doc);
}

static int is_str(const sb_pickle_value *v, sb_pickle_kind kind, const char *s, size_t n) {
    return v && v->kind == kind && v->u.str.len == n && memcmp(v->u.str.data, s, n) == 0 && v->u.str.data[n] == 0;
}

static void check_scalars(void) {
    buf b = {0};
    pk_proto(&b, 4);
    buf_byte(&b, 0x95); buf_le(&b, 0, 8); /* FRAME (length not enforced) */
    pk_op(&b, '(');
    pk_op(&b, 'N'); pk_op(&b, 0x88); pk_op(&b, 0x89);
    pk_int(&b, 200); pk_int(&b, 40000); pk_int(&b, -5); pk_int(&b, 100000);
    buf_byte(&b, 0x8a); buf_byte(&b, 2); buf_le(&b, 0xFF7F, 2);            /* LONG1 -129 */
    buf_byte(&b, 0x8a); buf_byte(&b, 8); buf_le(&b, 0x7FFFFFFFFFFFFFFFull, 8); /* LONG1 int64 max */
    buf_byte(&b, 'G');
    const unsigned char half[8] = {0x3F, 0xE0, 0, 0, 0, 0, 0, 0};         /* 0.5, big-endian */
    buf_put(&b, half, 8);
    pk_string(&b, 'U', "py2", 3); pk_string(&b, 'T', "str8\xff", 5);
    pk_string(&b, 0x8c, "short", 5); pk_string(&b, 'X', "caf\xc3\xa9", 5);
    pk_string(&b, 'C', "\x00\x01", 2); pk_string(&b, 'B', "bytes", 5);
    buf_byte(&b, 0x8d); buf_le(&b, 2, 8); buf_str(&b, "u8");              /* BINUNICODE8 */
    buf_byte(&b, 0x96); buf_le(&b, 1, 8); buf_byte(&b, 7);                /* BYTEARRAY8 */
    pk_op(&b, 'l'); pk_op(&b, '.');                                       /* LIST STOP */
    sb_pickle_doc *doc;
    const sb_pickle_value *root;
    int rc = load(&b, &doc, &root, NULL);
    t_check_true("scalars decode", rc == 0 && root->kind == SB_PICKLE_LIST && root->u.seq.n == 18);
    if (rc) {
        printf("  %s\n", sb_last_error());
        buf_free(&b);
        return;
    }
    const sb_pickle_value *const *v = (const sb_pickle_value *const *)root->u.seq.items;
    t_check_true("None, True, False", v[0]->kind == SB_PICKLE_NONE && v[1]->kind == SB_PICKLE_BOOL && v[1]->u.i == 1 &&
                                      v[2]->kind == SB_PICKLE_BOOL && v[2]->u.i == 0);
    t_check_true("BININT1/2, BININT, LONG1", v[3]->u.i == 200 && v[4]->u.i == 40000 && v[5]->u.i == -5 &&
                                                 v[6]->u.i == 100000 && v[7]->u.i == -129 &&
                                                 v[8]->u.i == INT64_MAX && v[8]->kind == SB_PICKLE_INT);
    t_check_true("BINFLOAT", v[9]->kind == SB_PICKLE_FLOAT && v[9]->u.f == 0.5);
    t_check_true("Python 2 strings", is_str(v[10], SB_PICKLE_STR8, "py2", 3) && is_str(v[11], SB_PICKLE_STR8, "str8\xff", 5));
    t_check_true("unicode strings, SHORT_BINBYTES", is_str(v[12], SB_PICKLE_STR, "short", 5) &&
                                        is_str(v[13], SB_PICKLE_STR, "caf\xc3\xa9", 5) && is_str(v[14], SB_PICKLE_BYTES, "\x00\x01", 2));
    t_check_true("bytes, BINUNICODE8, BYTEARRAY8", is_str(v[15], SB_PICKLE_BYTES, "bytes", 5) &&
                                                       is_str(v[16], SB_PICKLE_STR, "u8", 2) &&
                                                       is_str(v[17], SB_PICKLE_BYTES, "\x07", 1));
    sb_pickle_free(doc);
    buf_free(&b);
}

/* {"a": [1, 2], "b": (x, x)} with x memoized, a set, DUP and POP_MARK. */
static void check_containers(void) {
    buf b = {0};
    pk_proto(&b, 4);
    pk_op(&b, '}'); pk_op(&b, 0x94);                 /* EMPTY_DICT MEMOIZE -> memo 0 */
    pk_op(&b, '(');
    pk_text(&b, "a"); pk_op(&b, ']'); pk_op(&b, '('); pk_int(&b, 1); pk_int(&b, 2); pk_op(&b, 'e');
    pk_text(&b, "b"); pk_text(&b, "x"); buf_byte(&b, 'q'); buf_byte(&b, 7);   /* BINPUT 7 */
    buf_byte(&b, 'j'); buf_le(&b, 7, 4); pk_op(&b, 0x86);                      /* LONG_BINGET 7, TUPLE2 */
    pk_text(&b, "s"); pk_op(&b, 0x8f); pk_op(&b, '('); pk_int(&b, 3); pk_op(&b, 0x90); /* EMPTY_SET ADDITEMS */
    pk_text(&b, "f"); pk_op(&b, '('); pk_int(&b, 4); pk_op(&b, 0x91);         /* FROZENSET */
    pk_op(&b, 'u');                                                             /* SETITEMS */
    pk_op(&b, '('); pk_int(&b, 9); pk_op(&b, '2'); pk_op(&b, '1');             /* MARK 9 DUP POP_MARK */
    pk_int(&b, 5); pk_op(&b, '0');                                              /* POP */
    pk_op(&b, '.');
    sb_pickle_doc *doc;
    const sb_pickle_value *root;
    int rc = load(&b, &doc, &root, NULL);
    t_check_true("containers decode", rc == 0 && root->kind == SB_PICKLE_DICT && root->u.seq.n == 8);
    if (!rc) {
        const sb_pickle_value *a = sb_pickle_dict_get(root, "a"), *bb = sb_pickle_dict_get(root, "b");
        t_check_true("dict of list", a && a->kind == SB_PICKLE_LIST && a->u.seq.n == 2 &&
                                         sb_pickle_item(a, 1)->u.i == 2 && !sb_pickle_item(a, 2));
        t_check_true("memoized value shared in a tuple", bb && bb->kind == SB_PICKLE_TUPLE &&
                                                             sb_pickle_item(bb, 0) == sb_pickle_item(bb, 1));
        const sb_pickle_value *s = sb_pickle_dict_get(root, "s"), *f = sb_pickle_dict_get(root, "f");
        t_check_true("set and frozenset", s && s->kind == SB_PICKLE_SET && sb_pickle_item(s, 0)->u.i == 3 && f &&
                                              f->kind == SB_PICKLE_SET && sb_pickle_item(f, 0)->u.i == 4);
        t_check_true("missing key", !sb_pickle_dict_get(root, "zz"));
    } else {
        printf("  %s\n", sb_last_error());
    }
    sb_pickle_free(doc);
    buf_free(&b);
}

/* A torch.save-like state dict: OrderedDict() + SETITEMS of
 * _rebuild_tensor_v2(persistent_load(('storage', FloatStorage, '0', 'cpu',
 * 6)), 0, (2, 3), (3, 1), False, OrderedDict()), with STACK_GLOBAL. */
static void check_torch_like(void) {
    buf b = {0};
    pk_proto(&b, 2);
    pk_global(&b, "collections", "OrderedDict"); pk_op(&b, ')'); pk_op(&b, 'R');
    pk_text(&b, "layer.weight");
    pk_text(&b, "torch._utils"); pk_text(&b, "_rebuild_tensor_v2"); pk_op(&b, 0x93);
    pk_op(&b, '(');
    pk_op(&b, '('); pk_text(&b, "storage"); pk_global(&b, "torch", "FloatStorage"); pk_text(&b, "0");
    pk_text(&b, "cpu"); pk_int(&b, 6); pk_op(&b, 't'); pk_op(&b, 'Q'); /* BINPERSID */
    pk_int(&b, 0); pk_int(&b, 2); pk_int(&b, 3); pk_op(&b, 0x86); pk_int(&b, 3); pk_int(&b, 1); pk_op(&b, 0x86);
    pk_op(&b, 0x89); pk_global(&b, "collections", "OrderedDict"); pk_op(&b, ')'); pk_op(&b, 'R');
    pk_op(&b, 't'); pk_op(&b, 'R');
    pk_op(&b, 's'); /* SETITEM on the OrderedDict */
    pk_op(&b, '.');
    sb_pickle_doc *doc;
    const sb_pickle_value *root;
    int rc = load(&b, &doc, &root, NULL);
    int ok = rc == 0 && root->kind == SB_PICKLE_REDUCE &&
             sb_pickle_is_global(root->u.reduce.callable, "collections", "OrderedDict") && root->u.reduce.dict;
    t_check_true("OrderedDict recorded with its items", ok);
    if (ok) {
        const sb_pickle_value *t = sb_pickle_dict_get(root->u.reduce.dict, "layer.weight");
        ok = t && t->kind == SB_PICKLE_REDUCE &&
             sb_pickle_is_global(t->u.reduce.callable, "torch._utils", "_rebuild_tensor_v2");
        t_check_true("tensor recorded as _rebuild_tensor_v2(...)", ok);
        const sb_pickle_value *pid = ok ? sb_pickle_item(t->u.reduce.args, 0) : NULL;
        ok = pid && pid->kind == SB_PICKLE_PERSID && pid->u.persid.pid->kind == SB_PICKLE_TUPLE &&
             sb_pickle_is_global(sb_pickle_item(pid->u.persid.pid, 1), "torch", "FloatStorage") &&
             sb_pickle_item(pid->u.persid.pid, 4)->u.i == 6;
        t_check_true("persistent id recorded", ok);
    } else if (rc) {
        printf("  %s\n", sb_last_error());
    }
    sb_pickle_free(doc);
    buf_free(&b);
}

static void check_bytes_forms(void) {
    static const sb_pickle_global codecs[] = {{"_codecs", "encode"}};
    sb_pickle_options o = {.allowed = codecs, .n_allowed = 1};
    const unsigned char raw[4] = {0x00, 0xE9, 0x7F, 0xFF};
    buf b = {0};
    pk_proto(&b, 2);
    pk_codecs_bytes(&b, raw, 4);
    pk_op(&b, '.');
    sb_pickle_doc *doc;
    const sb_pickle_value *root;
    int rc = load(&b, &doc, &root, &o);
    const unsigned char *data = NULL;
    size_t len = 0;
    if (!rc) rc = sb_pickle_as_bytes(doc, root, "payload", &data, &len);
    t_check_true("_codecs.encode(latin-1 text) gives the raw bytes", !rc && len == 4 && memcmp(data, raw, 4) == 0);
    sb_pickle_free(doc);
    b.n = 0;
    pk_proto(&b, 2); pk_text(&b, "x"); pk_op(&b, '.');
    rc = load(&b, &doc, &root, &o);
    t_check_error("str is not bytes", rc ? rc : sb_pickle_as_bytes(doc, root, "payload", &data, &len),
                  "payload: expected bytes, got a str");
    sb_pickle_free(doc);
    buf_free(&b);
}

static void check_errors(void) {
    buf b = {0};
    pk_proto(&b, 2); pk_global(&b, "os", "system"); pk_text(&b, "echo hi"); pk_op(&b, 0x85); pk_op(&b, 'R');
    pk_op(&b, '.');
    expect_error("os.system via REDUCE", &b, NULL, "test.pkl: pickle: global os.system is not allowed");
    b.n = 0;
    pk_proto(&b, 4); pk_text(&b, "builtins"); pk_text(&b, "eval"); pk_op(&b, 0x93); pk_op(&b, '.');
    expect_error("builtins.eval via STACK_GLOBAL", &b, NULL, "global builtins.eval is not allowed");
    b.n = 0;
    pk_proto(&b, 2); pk_op(&b, 'I'); buf_str(&b, "1\n."); /* protocol 0 INT */
    expect_error("unsupported opcode", &b, NULL, "opcode 0x49 ('I') is unknown or not supported (at byte 2)");
    b.n = 0;
    pk_proto(&b, 2); pk_op(&b, 0xFF);
    expect_error("unknown opcode 0xff", &b, NULL, "opcode 0xff is unknown");
    b.n = 0;
    pk_proto(&b, 6); pk_op(&b, 'N'); pk_op(&b, '.');
    expect_error("protocol 6", &b, NULL, "protocol 6 is not supported");

    b.n = 0;
    pk_proto(&b, 2);
    for (int i = 0; i < 100000; i++) pk_op(&b, '(');
    pk_op(&b, '.');
    expect_error("100000 MARKs", &b, NULL, "MARKs nested deeper than 1000");
    b.n = 0;
    pk_proto(&b, 2);
    for (int i = 0; i < 100000; i++) pk_op(&b, ']');
    for (int i = 0; i < 99999; i++) pk_op(&b, 'a');
    pk_op(&b, '.');
    expect_error("100000 nested lists", &b, NULL, "values nested deeper than 1000 levels");
    b.n = 0;
    pk_proto(&b, 2);
    for (int i = 0; i < 1000; i++) pk_op(&b, ')');
    for (int i = 0; i < 999; i++) pk_op(&b, 0x86);
    pk_op(&b, '.');
    sb_pickle_options shallow = opts;
    shallow.max_depth = 50;
    expect_error("nested tuples past max_depth 50", &b, &shallow, "nested deeper than 50 levels");

    b.n = 0;
    pk_proto(&b, 2); buf_byte(&b, 'X'); buf_le(&b, 0xFFFFFFF0u, 4); buf_str(&b, "abc");
    expect_error("huge BINUNICODE length", &b, NULL, "declared length 4294967280 runs past the end of the input");
    b.n = 0;
    pk_proto(&b, 4); buf_byte(&b, 0x8e); buf_le(&b, 0x7FFFFFFFFFFFFFFFull, 8);
    expect_error("huge BINBYTES8 length", &b, NULL, "runs past the end");
    b.n = 0;
    pk_proto(&b, 4); buf_byte(&b, 0x95); buf_le(&b, 1ull << 62, 8);
    expect_error("huge FRAME length", &b, NULL, "FRAME of");
    b.n = 0;
    pk_proto(&b, 2); pk_string(&b, 'B', "0123456789", 10); pk_op(&b, '.');
    sb_pickle_options small = opts;
    small.max_string = 8;
    expect_error("string over max_string", &b, &small, "10-byte string exceeds the limit of 8");
    b.n = 0;
    pk_proto(&b, 2); buf_byte(&b, 'T'); buf_le(&b, 0x80000000u, 4);
    expect_error("negative BINSTRING length", &b, NULL, "negative string length");
    b.n = 0;
    pk_proto(&b, 2); buf_byte(&b, 0x8a); buf_byte(&b, 9); buf_le(&b, 1, 9); pk_op(&b, '.');
    expect_error("9-byte integer", &b, NULL, "does not fit in 64 bits");

    b.n = 0;
    pk_proto(&b, 2); pk_op(&b, 'N'); buf_byte(&b, 'r'); buf_le(&b, 0xFFFFFFFFu, 4); pk_op(&b, '.');
    expect_error("memo index past max_memo", &b, NULL, "memo index 4294967295 exceeds the limit");
    b.n = 0;
    pk_proto(&b, 2); buf_byte(&b, 'h'); buf_byte(&b, 3); pk_op(&b, '.');
    expect_error("BINGET of an unset memo entry", &b, NULL, "memo entry 3 was never stored");
    b.n = 0;
    pk_proto(&b, 2); pk_op(&b, ']'); buf_byte(&b, 'q'); buf_byte(&b, 0); buf_byte(&b, 'h'); buf_byte(&b, 0);
    pk_op(&b, 'a'); pk_op(&b, '.');
    expect_error("list appended to itself", &b, NULL, "contains itself");
    b.n = 0; /* A = [], B = [A], then A.append(B): A is frozen once inside B */
    pk_proto(&b, 2); pk_op(&b, ']'); buf_byte(&b, 'q'); buf_byte(&b, 0); pk_op(&b, ']'); buf_byte(&b, 'q');
    buf_byte(&b, 1); buf_byte(&b, 'h'); buf_byte(&b, 0); pk_op(&b, 'a'); pk_op(&b, '0'); buf_byte(&b, 'h');
    buf_byte(&b, 1); pk_op(&b, 'a'); pk_op(&b, '.');
    expect_error("cycle through two lists", &b, NULL, "modified after being placed in another value");
    b.n = 0;
    pk_proto(&b, 2); pk_op(&b, 'a');
    expect_error("APPEND on an empty stack", &b, NULL, "APPEND needs a list and a value");
    b.n = 0;
    pk_proto(&b, 2); pk_int(&b, 1); pk_int(&b, 2); pk_op(&b, 'a'); pk_op(&b, '.');
    expect_error("APPEND to an int", &b, NULL, "cannot add items to a int");
    b.n = 0;
    pk_proto(&b, 2); pk_op(&b, 'e');
    expect_error("APPENDS without MARK", &b, NULL, "without a MARK");
    b.n = 0;
    pk_proto(&b, 2); pk_op(&b, '.');
    expect_error("STOP on an empty stack", &b, NULL, "STOP with an empty stack");
    b.n = 0;
    pk_proto(&b, 2); pk_int(&b, 1); pk_int(&b, 2); pk_op(&b, 'R'); pk_op(&b, '.');
    expect_error("REDUCE with non-tuple args", &b, NULL, "REDUCE arguments are a int, not a tuple");
    b.n = 0;
    pk_proto(&b, 2); pk_op(&b, '}'); pk_op(&b, '}'); pk_op(&b, 'b'); pk_op(&b, '.');
    expect_error("BUILD on a dict", &b, NULL, "BUILD on a dict");
    b.n = 0;
    pk_proto(&b, 2); pk_int(&b, 1); pk_string(&b, 'U', "abcdef", 6);
    b.n -= 3;
    expect_error("input cut inside a string", &b, NULL, "runs past the end of the input");
    b.n = 0;
    pk_proto(&b, 2); pk_int(&b, 1);
    expect_error("no STOP", &b, NULL, "without a STOP opcode (truncated)");
    buf_free(&b);
}

/* Every prefix and many random byte flips of a valid pickle: each load
 * succeeds or fails with a message naming the input, never crashes. */
static void check_fuzz(void) {
    buf b = {0};
    pk_proto(&b, 2);
    int64_t shape[2] = {2, 3};
    pk_op(&b, ']'); pk_op(&b, '(');
    for (int k = 0; k < 3; k++) {
        pk_op(&b, '}'); pk_text(&b, "k"); pk_int(&b, k); pk_op(&b, 's');
        pk_ndarray_begin(&b, 2, shape, "i2", "<");
        pk_string(&b, 'C', "abcdefghijkl", 12);
        pk_ndarray_end(&b);
        pk_op(&b, 0x86);
    }
    pk_op(&b, 'e'); pk_op(&b, '.');
    static const sb_pickle_global np[] = {{"numpy.core.multiarray", "_reconstruct"}, {"numpy", "ndarray"},
                                          {"numpy", "dtype"}};
    sb_pickle_options o = {.allowed = np, .n_allowed = 3};
    sb_pickle_doc *doc;
    const sb_pickle_value *root;
    t_check_true("fuzz seed pickle loads", load(&b, &doc, &root, &o) == 0 && root->u.seq.n == 3);
    sb_pickle_free(doc);
    int named = 1, prefix_ok = 1;
    for (size_t n = 0; n < b.n; n++) {
        buf cut = {b.p, n, n};
        int rc = load(&cut, &doc, &root, &o);
        sb_pickle_free(doc);
        if (rc == 0) prefix_ok = 0;
        else if (!strstr(sb_last_error(), "test.pkl")) named = 0;
    }
    t_check_true("every proper prefix is an error naming the input", prefix_ok && named);
    buf m = {0};
    buf_put(&m, b.p, b.n);
    int failures = 0;
    for (int trial = 0; trial < 20000; trial++) {
        memcpy(m.p, b.p, b.n);
        for (int k = 0; k < 1 + trial % 3; k++) m.p[t_rand_u32() % b.n] = (unsigned char)t_rand_u32();
        int rc = load(&m, &doc, &root, &o);
        sb_pickle_free(doc);
        if (rc && !strstr(sb_last_error(), "test.pkl")) named = 0;
        failures += rc != 0;
    }
    printf("# %d of 20000 mutated pickles rejected\n", failures);
    t_check_true("random byte flips: each failure names the input", named && failures > 0);
    buf_free(&m);
    buf_free(&b);
}

int main(void) {
    printf("# test_pickle (host only)\n");
    check_scalars();
    check_containers();
    check_torch_like();
    check_bytes_forms();
    check_errors();
    check_fuzz();
    return t_finish(NULL);
}
