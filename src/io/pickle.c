/* Safe pickle reader: a bounds-checked opcode loop building inert values in
 * an arena. Nothing is ever imported or called; see pickle.h for the rules
 * that keep hostile input from crashing it or exhausting memory. */
#include "io/pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

// ---- arena: every value, string and item array of a document

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} chunk;

struct sb_pickle_doc {
    chunk *chunks;
};

enum { CHUNK_BYTES = 64 * 1024 };

static void *arena_alloc(sb_pickle_doc *doc, size_t n) {
    n = (n + 15) & ~(size_t)15;
    chunk *c = doc->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK_BYTES ? n : CHUNK_BYTES;
        chunk *fresh = malloc(sizeof *fresh + cap);
        if (!fresh) return NULL;
        fresh->used = 0;
        fresh->cap = cap;
        if (c && n > CHUNK_BYTES) { /* a big block: keep filling the current chunk */
            fresh->next = c->next;
            c->next = fresh;
            fresh->used = n;
            return fresh->data;
        }
        fresh->next = c;
        doc->chunks = c = fresh;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

void sb_pickle_free(sb_pickle_doc *doc) {
    if (!doc) return;
    for (chunk *c = doc->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(doc);
}

// ---- reader state

typedef struct reader {
    sb_pickle_doc *doc;
    const char *label;
    const unsigned char *in;
    size_t size, pos, op_pos;
    sb_pickle_options opt;
    sb_pickle_value **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    sb_pickle_value **memo;
    size_t memo_cap, memo_count;
    size_t n_values;
} reader;

static int bad(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(reader *r, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sb_fail(SB_ERR_FORMAT, "%s: pickle: %s (at byte %zu)", r->label, msg, r->op_pos);
}

static int oom(reader *r) { return sb_fail(SB_ERR_MEMORY, "%s: pickle: out of memory", r->label); }

/* Grows a malloc'd array to hold at least `need` elements. */
static int grow(reader *r, void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return SB_OK;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need) n *= 2;
    void *p = realloc(*arr, n * elem);
    if (!p) return oom(r);
    *arr = p;
    *cap = n;
    return SB_OK;
}

static int take(reader *r, size_t n, const unsigned char **p) {
    if (r->size - r->pos < n)
        return bad(r, "input ends inside opcode 0x%02x, which needs %zu more bytes (truncated)", r->in[r->op_pos], n);
    *p = r->in + r->pos;
    r->pos += n;
    return SB_OK;
}

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int take_le(reader *r, int n, uint64_t *v) {
    const unsigned char *p = NULL;
    SB_TRY(take(r, (size_t)n, &p));
    *v = le(p, n);
    return SB_OK;
}

// ---- values

static int new_value(reader *r, sb_pickle_kind kind, sb_pickle_value **out) {
    if (r->n_values >= r->opt.max_values) return bad(r, "more than %zu values", r->opt.max_values);
    sb_pickle_value *v = arena_alloc(r->doc, sizeof *v);
    if (!v) return oom(r);
    memset(v, 0, sizeof *v);
    v->kind = kind;
    r->n_values++;
    *out = v;
    return SB_OK;
}

static int new_string(reader *r, sb_pickle_kind kind, const void *src, size_t len, sb_pickle_value **out) {
    if (len > r->opt.max_string) return bad(r, "a %zu-byte string exceeds the limit of %zu", len, r->opt.max_string);
    SB_TRY(new_value(r, kind, out));
    char *s = arena_alloc(r->doc, len + 1);
    if (!s) return oom(r);
    memcpy(s, src, len);
    s[len] = '\0';
    (*out)->u.str.data = s;
    (*out)->u.str.len = len;
    return SB_OK;
}

/* Makes child a part of owner. An owner already inside another value is
 * frozen; with that rule no cycle can form (see pickle.h). */
static int adopt(reader *r, sb_pickle_value *owner, sb_pickle_value *child, uint32_t levels) {
    if (owner->shared)
        return bad(r, "a %s is modified after being placed in another value (self-referencing pickles are "
                   "not supported)", sb_pickle_kind_name(owner->kind));
    if (child == owner) return bad(r, "a %s contains itself", sb_pickle_kind_name(owner->kind));
    child->shared = 1;
    uint32_t h = child->height + levels;
    if (h > owner->height) owner->height = h;
    if (owner->height > r->opt.max_depth) return bad(r, "values nested deeper than %u levels", r->opt.max_depth);
    return SB_OK;
}

/* Appends child to seq, which is owner itself or a LIST / DICT inside the
 * REDUCE owner. */
static int append(reader *r, sb_pickle_value *owner, sb_pickle_value *seq, sb_pickle_value *child) {
    SB_TRY(adopt(r, owner, child, owner == seq ? 1 : 2));
    if (child->height + 1 > seq->height) seq->height = child->height + 1;
    size_t n = seq->u.seq.n;
    if (n == seq->cap) {
        size_t cap = n ? 2 * n : 4;
        sb_pickle_value **items = arena_alloc(r->doc, cap * sizeof *items);
        if (!items) return oom(r);
        if (n) memcpy(items, seq->u.seq.items, n * sizeof *items);
        seq->u.seq.items = items;
        seq->cap = cap;
    }
    seq->u.seq.items[n] = child;
    seq->u.seq.n = n + 1;
    return SB_OK;
}

// ---- stack, marks, memo

static int push(reader *r, sb_pickle_value *v) {
    if (r->sp >= r->opt.max_values) return bad(r, "stack deeper than %zu values", r->opt.max_values);
    SB_TRY(grow(r, (void **)&r->stack, &r->stack_cap, r->sp + 1, sizeof *r->stack));
    r->stack[r->sp++] = v;
    return SB_OK;
}

static size_t floor_sp(const reader *r) { return r->n_marks ? r->marks[r->n_marks - 1] : 0; }

static int pop(reader *r, sb_pickle_value **v) {
    if (r->sp <= floor_sp(r)) return bad(r, "opcode 0x%02x pops an empty stack", r->in[r->op_pos]);
    *v = r->stack[--r->sp];
    return SB_OK;
}

static int top(reader *r, sb_pickle_value **v) {
    if (r->sp <= floor_sp(r)) return bad(r, "opcode 0x%02x needs a value on the stack", r->in[r->op_pos]);
    *v = r->stack[r->sp - 1];
    return SB_OK;
}

/* Pops the topmost MARK; *first is the stack index of the first value
 * above it. */
static int pop_mark(reader *r, size_t *first) {
    if (!r->n_marks) return bad(r, "opcode 0x%02x without a MARK", r->in[r->op_pos]);
    *first = r->marks[--r->n_marks];
    return SB_OK;
}

static int memo_put(reader *r, uint64_t idx) {
    if (idx >= r->opt.max_memo) return bad(r, "memo index %llu exceeds the limit of %zu", (unsigned long long)idx,
                                           r->opt.max_memo);
    sb_pickle_value *v;
    SB_TRY(top(r, &v));
    size_t old = r->memo_cap;
    SB_TRY(grow(r, (void **)&r->memo, &r->memo_cap, (size_t)idx + 1, sizeof *r->memo));
    if (r->memo_cap > old) memset(r->memo + old, 0, (r->memo_cap - old) * sizeof *r->memo);
    if (!r->memo[idx]) r->memo_count++;
    r->memo[idx] = v;
    return SB_OK;
}

static int memo_get(reader *r, uint64_t idx) {
    if (idx >= r->memo_cap || !r->memo[idx]) return bad(r, "memo entry %llu was never stored", (unsigned long long)idx);
    return push(r, r->memo[idx]);
}

// ---- opcodes

static int check_global(reader *r, const char *module, size_t mlen, const char *name, size_t nlen) {
    if (r->opt.any_global) return SB_OK;
    for (size_t i = 0; i < r->opt.n_allowed; i++) {
        const sb_pickle_global *g = &r->opt.allowed[i];
        if (strlen(g->module) == mlen && strlen(g->name) == nlen && memcmp(g->module, module, mlen) == 0 &&
            memcmp(g->name, name, nlen) == 0)
            return SB_OK;
    }
    return bad(r, "global %.*s.%.*s is not allowed", (int)(mlen > 200 ? 200 : mlen), module,
               (int)(nlen > 200 ? 200 : nlen), name);
}

static int push_global(reader *r, const char *module, size_t mlen, const char *name, size_t nlen) {
    SB_TRY(check_global(r, module, mlen, name, nlen));
    sb_pickle_value *m = NULL, *n = NULL, *g = NULL;
    SB_TRY(new_string(r, SB_PICKLE_STR, module, mlen, &m));
    SB_TRY(new_string(r, SB_PICKLE_STR, name, nlen, &n));
    SB_TRY(new_value(r, SB_PICKLE_GLOBAL, &g));
    g->u.global.module = m->u.str.data;
    g->u.global.name = n->u.str.data;
    return push(r, g);
}

/* GLOBAL: "module\nname\n" */
static int op_global(reader *r) {
    const char *lines[2];
    size_t lens[2];
    for (int k = 0; k < 2; k++) {
        const unsigned char *nl = memchr(r->in + r->pos, '\n', r->size - r->pos);
        if (!nl) return bad(r, "GLOBAL name is not terminated by a newline (truncated)");
        lines[k] = (const char *)r->in + r->pos;
        lens[k] = (size_t)(nl - (r->in + r->pos));
        r->pos += lens[k] + 1;
    }
    return push_global(r, lines[0], lens[0], lines[1], lens[1]);
}

static int op_stack_global(reader *r) {
    sb_pickle_value *name = NULL, *module = NULL;
    SB_TRY(pop(r, &name));
    SB_TRY(pop(r, &module));
    if (name->kind != SB_PICKLE_STR || module->kind != SB_PICKLE_STR)
        return bad(r, "STACK_GLOBAL needs two str values, got %s and %s", sb_pickle_kind_name(module->kind),
                   sb_pickle_kind_name(name->kind));
    return push_global(r, module->u.str.data, module->u.str.len, name->u.str.data, name->u.str.len);
}

static int op_string(reader *r, sb_pickle_kind kind, int len_bytes) {
    uint64_t len = 0;
    const unsigned char *p = NULL;
    SB_TRY(take_le(r, len_bytes, &len));
    if (len_bytes == 4 && kind == SB_PICKLE_STR8 && (len & 0x80000000u))
        return bad(r, "negative string length");
    if (len > r->size - r->pos)
        return bad(r, "declared length %llu runs past the end of the input (%zu bytes left)",
                   (unsigned long long)len, r->size - r->pos);
    SB_TRY(take(r, (size_t)len, &p));
    sb_pickle_value *v = NULL;
    SB_TRY(new_string(r, kind, p, (size_t)len, &v));
    return push(r, v);
}

static int push_int(reader *r, sb_pickle_kind kind, int64_t i) {
    sb_pickle_value *v = NULL;
    SB_TRY(new_value(r, kind, &v));
    v->u.i = i;
    return push(r, v);
}

/* LONG1 / LONG4: little-endian two's complement of n bytes. */
static int op_long(reader *r, int len_bytes) {
    uint64_t n = 0;
    SB_TRY(take_le(r, len_bytes, &n));
    if (n > 8) return bad(r, "a %llu-byte integer does not fit in 64 bits", (unsigned long long)n);
    const unsigned char *p = NULL;
    SB_TRY(take(r, (size_t)n, &p));
    uint64_t u = le(p, (int)n);
    if (n && n < 8 && (p[n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n);
    return push_int(r, SB_PICKLE_INT, (int64_t)u);
}

static int op_float(reader *r) {
    const unsigned char *p = NULL;
    SB_TRY(take(r, 8, &p));
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u = u << 8 | p[i]; /* big-endian */
    sb_pickle_value *v = NULL;
    SB_TRY(new_value(r, SB_PICKLE_FLOAT, &v));
    memcpy(&v->u.f, &u, sizeof u);
    return push(r, v);
}

/* A new container of `kind` holding stack[first..sp), which are popped. */
static int collect(reader *r, sb_pickle_kind kind, size_t first) {
    sb_pickle_value *c = NULL;
    SB_TRY(new_value(r, kind, &c));
    for (size_t i = first; i < r->sp; i++) SB_TRY(append(r, c, c, r->stack[i]));
    r->sp = first;
    return push(r, c);
}

static int op_tuple_n(reader *r, size_t n) {
    if (r->sp - floor_sp(r) < n) return bad(r, "TUPLE%zu needs %zu values on the stack", n, n);
    return collect(r, SB_PICKLE_TUPLE, r->sp - n);
}

static int op_reduce(reader *r, int newobj) {
    sb_pickle_value *args = NULL, *callable = NULL, *v = NULL;
    SB_TRY(pop(r, &args));
    SB_TRY(pop(r, &callable));
    if (args->kind != SB_PICKLE_TUPLE)
        return bad(r, "%s arguments are a %s, not a tuple", newobj ? "NEWOBJ" : "REDUCE", sb_pickle_kind_name(args->kind));
    SB_TRY(new_value(r, SB_PICKLE_REDUCE, &v));
    SB_TRY(adopt(r, v, callable, 1));
    SB_TRY(adopt(r, v, args, 1));
    v->u.reduce.callable = callable;
    v->u.reduce.args = args;
    v->u.reduce.newobj = newobj;
    return push(r, v);
}

static int op_build(reader *r) {
    sb_pickle_value *state = NULL, *obj = NULL;
    SB_TRY(pop(r, &state));
    SB_TRY(top(r, &obj));
    if (obj->kind != SB_PICKLE_REDUCE) return bad(r, "BUILD on a %s", sb_pickle_kind_name(obj->kind));
    if (obj->u.reduce.state) return bad(r, "BUILD on an object that already has a state");
    SB_TRY(adopt(r, obj, state, 1));
    obj->u.reduce.state = state;
    return SB_OK;
}

static int op_persid(reader *r) {
    sb_pickle_value *pid = NULL, *v = NULL;
    SB_TRY(pop(r, &pid));
    SB_TRY(new_value(r, SB_PICKLE_PERSID, &v));
    SB_TRY(adopt(r, v, pid, 1));
    v->u.persid.pid = pid;
    return push(r, v);
}

/* The sequence that APPEND / SETITEM / ADDITEMS add to on target. */
static int target_seq(reader *r, sb_pickle_value *target, sb_pickle_kind want, sb_pickle_value **seq) {
    if (target->kind == want) {
        *seq = target;
        return SB_OK;
    }
    if (target->kind != SB_PICKLE_REDUCE || want == SB_PICKLE_SET)
        return bad(r, "cannot add items to a %s", sb_pickle_kind_name(target->kind));
    const sb_pickle_value **slot = want == SB_PICKLE_LIST ? &target->u.reduce.items : &target->u.reduce.dict;
    if (!*slot) {
        sb_pickle_value *s = NULL;
        SB_TRY(new_value(r, want, &s));
        s->shared = 1;
        *slot = s;
    }
    *seq = (sb_pickle_value *)*slot;
    return SB_OK;
}

/* APPENDS, SETITEMS, ADDITEMS: add stack[first..sp) to stack[first-1]. */
static int add_items(reader *r, sb_pickle_kind want, size_t first, size_t stride) {
    if (first == 0 || first <= floor_sp(r)) return bad(r, "no object below the MARK to add items to");
    if ((r->sp - first) % stride) return bad(r, "SETITEMS with an odd number of values");
    sb_pickle_value *target = r->stack[first - 1], *seq = NULL;
    SB_TRY(target_seq(r, target, want, &seq));
    for (size_t i = first; i < r->sp; i++) SB_TRY(append(r, target, seq, r->stack[i]));
    r->sp = first;
    return SB_OK;
}

static int step(reader *r, int *stop) {
    r->op_pos = r->pos;
    if (r->pos >= r->size) return bad(r, "input ends without a STOP opcode (truncated)");
    unsigned char op = r->in[r->pos++];
    uint64_t u = 0;
    size_t first = 0;
    sb_pickle_value *v = NULL;
    switch (op) {
    case 0x80: /* PROTO */
        SB_TRY(take_le(r, 1, &u));
        if (u > 5) return bad(r, "protocol %llu is not supported (at most 5)", (unsigned long long)u);
        return SB_OK;
    case 0x95: /* FRAME: frames are transparent, only check the length */
        SB_TRY(take_le(r, 8, &u));
        if (u > r->size - r->pos) return bad(r, "FRAME of %llu bytes runs past the end (truncated)", (unsigned long long)u);
        return SB_OK;
    case '.': *stop = 1; return SB_OK; /* STOP */
    case '(': /* MARK */
        if (r->n_marks >= r->opt.max_depth) return bad(r, "MARKs nested deeper than %u", r->opt.max_depth);
        SB_TRY(grow(r, (void **)&r->marks, &r->marks_cap, r->n_marks + 1, sizeof *r->marks));
        r->marks[r->n_marks++] = r->sp;
        return SB_OK;
    case '0': return pop(r, &v); /* POP */
    case '1': SB_TRY(pop_mark(r, &first)); r->sp = first; return SB_OK; /* POP_MARK */
    case '2': SB_TRY(top(r, &v)); return push(r, v); /* DUP */
    case 'N': SB_TRY(new_value(r, SB_PICKLE_NONE, &v)); return push(r, v);
    case 0x88: return push_int(r, SB_PICKLE_BOOL, 1); /* NEWTRUE */
    case 0x89: return push_int(r, SB_PICKLE_BOOL, 0); /* NEWFALSE */
    case 'J': SB_TRY(take_le(r, 4, &u)); return push_int(r, SB_PICKLE_INT, (int32_t)(uint32_t)u); /* BININT */
    case 'K': SB_TRY(take_le(r, 1, &u)); return push_int(r, SB_PICKLE_INT, (int64_t)u); /* BININT1 */
    case 'M': SB_TRY(take_le(r, 2, &u)); return push_int(r, SB_PICKLE_INT, (int64_t)u); /* BININT2 */
    case 0x8a: return op_long(r, 1); /* LONG1 */
    case 0x8b: return op_long(r, 4); /* LONG4 */
    case 'G': return op_float(r); /* BINFLOAT */
    case 'U': return op_string(r, SB_PICKLE_STR8, 1); /* SHORT_BINSTRING */
    case 'T': return op_string(r, SB_PICKLE_STR8, 4); /* BINSTRING */
    case 0x8c: return op_string(r, SB_PICKLE_STR, 1); /* SHORT_BINUNICODE */
    case 'X': return op_string(r, SB_PICKLE_STR, 4); /* BINUNICODE */
    case 0x8d: return op_string(r, SB_PICKLE_STR, 8); /* BINUNICODE8 */
    case 'C': return op_string(r, SB_PICKLE_BYTES, 1); /* SHORT_BINBYTES */
    case 'B': return op_string(r, SB_PICKLE_BYTES, 4); /* BINBYTES */
    case 0x8e: return op_string(r, SB_PICKLE_BYTES, 8); /* BINBYTES8 */
    case 0x96: return op_string(r, SB_PICKLE_BYTES, 8); /* BYTEARRAY8 */
    case ']': SB_TRY(new_value(r, SB_PICKLE_LIST, &v)); return push(r, v); /* EMPTY_LIST */
    case ')': SB_TRY(new_value(r, SB_PICKLE_TUPLE, &v)); return push(r, v); /* EMPTY_TUPLE */
    case '}': SB_TRY(new_value(r, SB_PICKLE_DICT, &v)); return push(r, v); /* EMPTY_DICT */
    case 0x8f: SB_TRY(new_value(r, SB_PICKLE_SET, &v)); return push(r, v); /* EMPTY_SET */
    case 'l': SB_TRY(pop_mark(r, &first)); return collect(r, SB_PICKLE_LIST, first); /* LIST */
    case 't': SB_TRY(pop_mark(r, &first)); return collect(r, SB_PICKLE_TUPLE, first); /* TUPLE */
    case 0x91: SB_TRY(pop_mark(r, &first)); return collect(r, SB_PICKLE_SET, first); /* FROZENSET */
    case 'd': /* DICT */
        SB_TRY(pop_mark(r, &first));
        if ((r->sp - first) % 2) return bad(r, "DICT with an odd number of values");
        return collect(r, SB_PICKLE_DICT, first);
    case 0x85: return op_tuple_n(r, 1);
    case 0x86: return op_tuple_n(r, 2);
    case 0x87: return op_tuple_n(r, 3);
    case 'a': /* APPEND */
        if (r->sp - floor_sp(r) < 2) return bad(r, "APPEND needs a list and a value");
        return add_items(r, SB_PICKLE_LIST, r->sp - 1, 1);
    case 's': /* SETITEM */
        if (r->sp - floor_sp(r) < 3) return bad(r, "SETITEM needs a dict, a key and a value");
        return add_items(r, SB_PICKLE_DICT, r->sp - 2, 2);
    case 'e': SB_TRY(pop_mark(r, &first)); return add_items(r, SB_PICKLE_LIST, first, 1); /* APPENDS */
    case 'u': SB_TRY(pop_mark(r, &first)); return add_items(r, SB_PICKLE_DICT, first, 2); /* SETITEMS */
    case 0x90: SB_TRY(pop_mark(r, &first)); return add_items(r, SB_PICKLE_SET, first, 1); /* ADDITEMS */
    case 'c': return op_global(r);
    case 0x93: return op_stack_global(r);
    case 'R': return op_reduce(r, 0);
    case 0x81: return op_reduce(r, 1); /* NEWOBJ */
    case 'b': return op_build(r);
    case 'Q': return op_persid(r); /* BINPERSID */
    case 'q': SB_TRY(take_le(r, 1, &u)); return memo_put(r, u); /* BINPUT */
    case 'r': SB_TRY(take_le(r, 4, &u)); return memo_put(r, u); /* LONG_BINPUT */
    case 0x94: return memo_put(r, r->memo_count); /* MEMOIZE */
    case 'h': SB_TRY(take_le(r, 1, &u)); return memo_get(r, u); /* BINGET */
    case 'j': SB_TRY(take_le(r, 4, &u)); return memo_get(r, u); /* LONG_BINGET */
    default:
        if (op >= 0x20 && op < 0x7f)
            return bad(r, "opcode 0x%02x ('%c') is unknown or not supported", op, op);
        return bad(r, "opcode 0x%02x is unknown or not supported", op);
    }
}

int sb_pickle_load(sb_pickle_doc **doc, const sb_pickle_value **root, const char *label, const void *data,
                   size_t size, const sb_pickle_options *opt) {
    size_t used = 0;
    return sb_pickle_load_prefix(doc, root, label, data, size, opt, &used);
}

int sb_pickle_load_prefix(sb_pickle_doc **doc, const sb_pickle_value **root, const char *label, const void *data,
                          size_t size, const sb_pickle_options *opt, size_t *used) {
    *doc = NULL;
    *used = 0;
    *root = NULL;
    reader r = {.label = label, .in = data, .size = size};
    if (opt) r.opt = *opt;
    if (!r.opt.max_depth) r.opt.max_depth = 1000;
    if (!r.opt.max_memo) r.opt.max_memo = (size_t)1 << 20;
    if (!r.opt.max_values) r.opt.max_values = (size_t)1 << 24;
    if (!r.opt.max_string) r.opt.max_string = (size_t)1 << 30;
    r.doc = calloc(1, sizeof *r.doc);
    if (!r.doc) return oom(&r);
    int stop = 0, rc = SB_OK;
    while (!rc && !stop) rc = step(&r, &stop);
    if (!rc && r.sp == 0) rc = bad(&r, "STOP with an empty stack");
    if (!rc) {
        *doc = r.doc;
        *root = r.stack[r.sp - 1];
        *used = r.pos;
    } else {
        sb_pickle_free(r.doc);
    }
    free(r.stack);
    free(r.marks);
    free(r.memo);
    return rc;
}

// ---- accessors

const sb_pickle_value *sb_pickle_item(const sb_pickle_value *v, size_t i) {
    if (!v || (v->kind != SB_PICKLE_LIST && v->kind != SB_PICKLE_TUPLE && v->kind != SB_PICKLE_SET)) return NULL;
    return i < v->u.seq.n ? v->u.seq.items[i] : NULL;
}

const sb_pickle_value *sb_pickle_dict_get(const sb_pickle_value *dict, const char *key) {
    if (!dict || dict->kind != SB_PICKLE_DICT) return NULL;
    const sb_pickle_value *found = NULL;
    for (size_t k = 0; k + 1 < dict->u.seq.n; k += 2) {
        const sb_pickle_value *kv = dict->u.seq.items[k];
        if ((kv->kind == SB_PICKLE_STR || kv->kind == SB_PICKLE_STR8) && strcmp(kv->u.str.data, key) == 0)
            found = dict->u.seq.items[k + 1];
    }
    return found;
}

int sb_pickle_is_global(const sb_pickle_value *v, const char *module, const char *name) {
    return v && v->kind == SB_PICKLE_GLOBAL && strcmp(v->u.global.module, module) == 0 &&
           strcmp(v->u.global.name, name) == 0;
}

/* UTF-8 text whose code points are all below 256, as latin-1 bytes. */
static int latin1_from_utf8(sb_pickle_doc *doc, const sb_pickle_value *s, const char *what,
                            const unsigned char **data, size_t *len) {
    const unsigned char *p = (const unsigned char *)s->u.str.data;
    size_t n = s->u.str.len, k = 0;
    unsigned char *out = arena_alloc(doc, n + 1);
    if (!out) return sb_fail(SB_ERR_MEMORY, "%s: out of memory", what);
    for (size_t i = 0; i < n; k++) {
        if (p[i] < 0x80) {
            out[k] = p[i++];
        } else if ((p[i] & 0xE0) == 0xC0 && i + 1 < n && (p[i + 1] & 0xC0) == 0x80 && p[i] <= 0xC3) {
            out[k] = (unsigned char)((p[i] & 0x1F) << 6 | (p[i + 1] & 0x3F));
            i += 2;
        } else {
            return sb_fail(SB_ERR_FORMAT, "%s: latin-1 text holds a character beyond U+00FF or invalid UTF-8 at "
                           "byte %zu", what, i);
        }
    }
    *data = out;
    *len = k;
    return SB_OK;
}

int sb_pickle_as_bytes(sb_pickle_doc *doc, const sb_pickle_value *v, const char *what, const unsigned char **data,
                       size_t *len) {
    if (v && (v->kind == SB_PICKLE_BYTES || v->kind == SB_PICKLE_STR8)) {
        *data = (const unsigned char *)v->u.str.data;
        *len = v->u.str.len;
        return SB_OK;
    }
    if (v && v->kind == SB_PICKLE_REDUCE && sb_pickle_is_global(v->u.reduce.callable, "_codecs", "encode") &&
        !v->u.reduce.state && !v->u.reduce.items && !v->u.reduce.dict && v->u.reduce.args->u.seq.n == 2) {
        const sb_pickle_value *text = sb_pickle_item(v->u.reduce.args, 0), *enc = sb_pickle_item(v->u.reduce.args, 1);
        if (text->kind == SB_PICKLE_STR && enc->kind == SB_PICKLE_STR &&
            (strcmp(enc->u.str.data, "latin1") == 0 || strcmp(enc->u.str.data, "latin-1") == 0))
            return latin1_from_utf8(doc, text, what, data, len);
    }
    return sb_fail(SB_ERR_FORMAT, "%s: expected bytes, got a %s", what,
                   v ? sb_pickle_kind_name(v->kind) : "missing value");
}

const char *sb_pickle_kind_name(sb_pickle_kind kind) {
    static const char *const names[] = {"None", "bool", "int", "float", "str", "Python 2 str", "bytes", "list",
                                        "tuple", "set", "dict", "global", "reduced object", "persistent id"};
    return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "unknown value";
}
