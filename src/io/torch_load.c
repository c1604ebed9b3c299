/* PyTorch checkpoint reader: finds the pickle and the storages of either
 * torch.save format, converts the inert pickle tree (io/pickle.h) into
 * sb_torch_value nodes, and gathers every tensor into a contiguous float
 * copy. See torch_load.h for what is interpreted and what is refused.
 *
 * Three phases, the same for both formats:
 * 1. convert the pickle: tensors are created with their shape, strides and
 *    storage reference (storages are registered from persistent ids with
 *    their dtype and element count);
 * 2. locate every registered storage's bytes (zip member, or legacy record)
 *    and check their sizes;
 * 3. gather each tensor from its storage into floats. */
#include "io/torch_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/zip.h"
#include "runtime/error.h"

// ---- arena: nodes and item arrays of one file

typedef struct block {
    struct block *next;
    _Alignas(16) unsigned char data[];
} block;

struct sb_torch_file {
    const char *format;
    sb_pickle_doc *doc;       /* strings of the tree point into it */
    block *blocks;
    float **tensor_data;      /* every tensor's data, freed with the file */
    size_t n_data, data_cap;
    const sb_torch_value *root;
};

static void *file_alloc(sb_torch_file *f, size_t n) {
    block *b = calloc(1, sizeof *b + n);
    if (!b) return NULL;
    b->next = f->blocks;
    f->blocks = b;
    return b->data;
}

void sb_torch_free(sb_torch_file *f) {
    if (!f) return;
    for (block *b = f->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    for (size_t i = 0; i < f->n_data; i++) free(f->tensor_data[i]);
    free(f->tensor_data);
    sb_pickle_free(f->doc);
    free(f);
}

// ---- dtypes

static const struct {
    const char *storage, *name;
    size_t size;
} dtypes[SB_TORCH_N_DTYPES] = {
    [SB_TORCH_F32] = {"FloatStorage", "float32", 4},   [SB_TORCH_F16] = {"HalfStorage", "float16", 2},
    [SB_TORCH_BF16] = {"BFloat16Storage", "bfloat16", 2}, [SB_TORCH_F64] = {"DoubleStorage", "float64", 8},
    [SB_TORCH_I64] = {"LongStorage", "int64", 8},      [SB_TORCH_I32] = {"IntStorage", "int32", 4},
    [SB_TORCH_I16] = {"ShortStorage", "int16", 2},     [SB_TORCH_I8] = {"CharStorage", "int8", 1},
    [SB_TORCH_U8] = {"ByteStorage", "uint8", 1},       [SB_TORCH_BOOL_DT] = {"BoolStorage", "bool", 1},
};

const char *sb_torch_dtype_name(sb_torch_dtype t) {
    return (unsigned)t < SB_TORCH_N_DTYPES ? dtypes[t].name : "unknown dtype";
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | man << 13;
    } else if (exp) {
        bits = sign | (exp + 112) << 23 | man << 13;
    } else if (man) { /* subnormal: normalise */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400));
        bits = sign | (uint32_t)(112 - e) << 23 | (man & 0x3ff) << 13;
    } else {
        bits = sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Element i of a storage as float; `swap` reverses big-endian bytes. */
static float element(sb_torch_dtype t, const unsigned char *base, size_t i, int swap) {
    size_t n = dtypes[t].size;
    unsigned char b[8];
    for (size_t k = 0; k < n; k++) b[k] = base[i * n + (swap ? n - 1 - k : k)];
    uint64_t u = 0;
    for (size_t k = n; k-- > 0;) u = u << 8 | b[k]; /* little-endian value */
    switch (t) {
    case SB_TORCH_F32: { uint32_t w = (uint32_t)u; float f; memcpy(&f, &w, 4); return f; }
    case SB_TORCH_F16: return half_to_float((uint16_t)u);
    case SB_TORCH_BF16: { uint32_t w = (uint32_t)u << 16; float f; memcpy(&f, &w, 4); return f; }
    case SB_TORCH_F64: { double d; memcpy(&d, &u, 8); return (float)d; }
    case SB_TORCH_I64: return (float)(int64_t)u;
    case SB_TORCH_I32: return (float)(int32_t)(uint32_t)u;
    case SB_TORCH_I16: return (float)(int16_t)(uint16_t)u;
    case SB_TORCH_I8: return (float)(int8_t)(uint8_t)u;
    case SB_TORCH_U8: return (float)(uint8_t)u;
    case SB_TORCH_BOOL_DT: return u ? 1.0f : 0.0f;
    default: return 0.0f;
    }
}

// ---- loader state

typedef struct storage {
    const char *key;            /* in the pickle doc */
    sb_torch_dtype dtype;
    size_t numel;               /* from the persistent id */
    const unsigned char *bytes; /* phase 2: numel * element size bytes */
    unsigned char *owned;       /* extracted zip member, freed at the end */
} storage;

typedef struct pending {
    sb_torch_tensor *t;
    const sb_torch_tensor *alias; /* a Parameter sharing this earlier tensor's data */
    size_t storage;
    int64_t offset, stride[SB_TORCH_MAX_DIMS];
} pending;

typedef struct loader {
    const char *label;
    sb_torch_file *f;
    size_t input_size;          /* bytes of the file: bounds every storage */
    storage *st;
    size_t n_st, st_cap;
    size_t *st_slots;           /* hash of storage keys: index + 1, 0 empty */
    size_t st_slot_cap;
    pending *pend;
    size_t n_pend, pend_cap;
    size_t elements;            /* tensor elements in all */
    /* converted value of each pickle value (the pickle is a DAG) */
    const sb_pickle_value **map_keys;
    sb_torch_value **map_vals;
    size_t map_cap, map_n;
} loader;

static int oom(loader *L) { return sb_fail(SB_ERR_MEMORY, "%s: out of memory", L->label); }

static int grow(loader *L, void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return SB_OK;
    size_t cap2 = *cap ? *cap * 2 : 16;
    while (cap2 < need) cap2 *= 2;
    void *p = realloc(*arr, cap2 * elem);
    if (!p) return oom(L);
    *arr = p;
    *cap = cap2;
    return SB_OK;
}

static size_t map_slot(const loader *L, const sb_pickle_value *k) {
    size_t h = (size_t)((uintptr_t)k >> 4) * (size_t)0x9E3779B97F4A7C15ull;
    size_t i = h & (L->map_cap - 1);
    while (L->map_keys[i] && L->map_keys[i] != k) i = (i + 1) & (L->map_cap - 1);
    return i;
}

static int map_put(loader *L, const sb_pickle_value *k, sb_torch_value *v) {
    if (2 * (L->map_n + 1) > L->map_cap) {
        size_t old_cap = L->map_cap, cap = old_cap ? old_cap * 2 : 256;
        const sb_pickle_value **ok = L->map_keys;
        sb_torch_value **ov = L->map_vals;
        L->map_keys = calloc(cap, sizeof *L->map_keys);
        L->map_vals = calloc(cap, sizeof *L->map_vals);
        if (!L->map_keys || !L->map_vals) {
            free(L->map_keys);
            free(L->map_vals);
            L->map_keys = ok;
            L->map_vals = ov;
            return oom(L);
        }
        L->map_cap = cap;
        for (size_t i = 0; i < old_cap; i++)
            if (ok[i]) {
                size_t s = map_slot(L, ok[i]);
                L->map_keys[s] = ok[i];
                L->map_vals[s] = ov[i];
            }
        free(ok);
        free(ov);
    }
    size_t s = map_slot(L, k);
    L->map_keys[s] = k;
    L->map_vals[s] = v;
    L->map_n++;
    return SB_OK;
}

static sb_torch_value *map_get(const loader *L, const sb_pickle_value *k) {
    if (!L->map_cap) return NULL;
    size_t s = map_slot(L, k);
    return L->map_keys[s] ? L->map_vals[s] : NULL;
}

static void loader_free(loader *L) {
    for (size_t i = 0; i < L->n_st; i++) free(L->st[i].owned);
    free(L->st);
    free(L->st_slots);
    free(L->pend);
    free(L->map_keys);
    free(L->map_vals);
}

// ---- storages by key (a hash: files may name many storages)

static size_t key_slot(const loader *L, const char *key, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
    size_t i = (size_t)h & (L->st_slot_cap - 1);
    while (L->st_slots[i]) {
        const storage *s = &L->st[L->st_slots[i] - 1];
        if (strlen(s->key) == len && memcmp(s->key, key, len) == 0) break;
        i = (i + 1) & (L->st_slot_cap - 1);
    }
    return i;
}

/* The storage called key (len bytes), or NULL. */
static storage *find_storage(const loader *L, const char *key, size_t len) {
    if (!L->st_slot_cap) return NULL;
    size_t i = L->st_slots[key_slot(L, key, len)];
    return i ? &L->st[i - 1] : NULL;
}

/* Appends s and indexes it by key. */
static int add_storage(loader *L, storage s, size_t *index) {
    SB_TRY(grow(L, (void **)&L->st, &L->st_cap, L->n_st + 1, sizeof *L->st));
    L->st[L->n_st++] = s;
    if (2 * L->n_st > L->st_slot_cap) {
        size_t cap = L->st_slot_cap ? 2 * L->st_slot_cap : 64;
        size_t *slots = calloc(cap, sizeof *slots);
        if (!slots) return oom(L);
        free(L->st_slots);
        L->st_slots = slots;
        L->st_slot_cap = cap;
        for (size_t i = 0; i + 1 < L->n_st; i++) L->st_slots[key_slot(L, L->st[i].key, strlen(L->st[i].key))] = i + 1;
    }
    L->st_slots[key_slot(L, s.key, strlen(s.key))] = L->n_st;
    *index = L->n_st - 1;
    return SB_OK;
}

// ---- phase 1: converting the pickle

static int convert(loader *L, const sb_pickle_value *p, const sb_torch_value **out);

static int new_node(loader *L, sb_torch_kind kind, sb_torch_value **out) {
    *out = file_alloc(L->f, sizeof **out);
    if (!*out) return oom(L);
    (*out)->kind = kind;
    return SB_OK;
}

static int convert_seq(loader *L, const sb_pickle_value *p, sb_torch_kind kind, sb_torch_value *v) {
    size_t n = p->u.seq.n;
    const sb_torch_value **items = file_alloc(L->f, (n ? n : 1) * sizeof *items);
    if (!items) return oom(L);
    for (size_t i = 0; i < n; i++) SB_TRY(convert(L, p->u.seq.items[i], &items[i]));
    v->kind = kind;
    v->u.seq.items = items;
    v->u.seq.n = n;
    return SB_OK;
}

static int as_int(loader *L, const sb_pickle_value *v, const char *what, int64_t *out) {
    if (!v || (v->kind != SB_PICKLE_INT && v->kind != SB_PICKLE_BOOL))
        return sb_fail(SB_ERR_FORMAT, "%s: %s is a %s, not an int", L->label, what,
                       v ? sb_pickle_kind_name(v->kind) : "missing value");
    *out = v->u.i;
    return SB_OK;
}

/* A persistent id ('storage', torch.<Type>Storage, key, location, numel
 * [, view_metadata]): registers the storage, or checks it against the
 * earlier registration of the same key. */
static int storage_of(loader *L, const sb_pickle_value *p, size_t *index) {
    if (p->kind != SB_PICKLE_PERSID)
        return sb_fail(SB_ERR_FORMAT, "%s: a tensor's storage is a %s, not a persistent id", L->label,
                       sb_pickle_kind_name(p->kind));
    const sb_pickle_value *pid = p->u.persid.pid;
    const sb_pickle_value *tag = sb_pickle_item(pid, 0), *type = sb_pickle_item(pid, 1), *key = sb_pickle_item(pid, 2);
    if (pid->kind != SB_PICKLE_TUPLE || pid->u.seq.n < 5 || tag->kind != SB_PICKLE_STR ||
        strcmp(tag->u.str.data, "storage") != 0 || type->kind != SB_PICKLE_GLOBAL || key->kind != SB_PICKLE_STR)
        return sb_fail(SB_ERR_FORMAT, "%s: persistent id is not ('storage', type, key, location, numel)", L->label);
    const sb_pickle_value *view = sb_pickle_item(pid, 5);
    if (view && view->kind != SB_PICKLE_NONE)
        return sb_fail(SB_ERR_FORMAT, "%s: storage %s is a legacy storage view, which is not supported", L->label,
                       key->u.str.data);
    int dt = -1;
    for (int t = 0; t < SB_TORCH_N_DTYPES; t++)
        if (strcmp(type->u.global.module, "torch") == 0 && strcmp(type->u.global.name, dtypes[t].storage) == 0) dt = t;
    if (dt < 0)
        return sb_fail(SB_ERR_FORMAT, "%s: storage %s has type %s.%s, which is not supported", L->label,
                       key->u.str.data, type->u.global.module, type->u.global.name);
    int64_t numel = 0;
    SB_TRY(as_int(L, sb_pickle_item(pid, 4), "a storage's element count", &numel));
    if (numel < 0 || (uint64_t)numel > L->input_size / dtypes[dt].size)
        return sb_fail(SB_ERR_FORMAT, "%s: storage %s declares %lld elements, more than the %zu-byte file holds",
                       L->label, key->u.str.data, (long long)numel, L->input_size);
    const storage *known = find_storage(L, key->u.str.data, key->u.str.len);
    if (known) {
        if (known->dtype != (sb_torch_dtype)dt || known->numel != (size_t)numel)
            return sb_fail(SB_ERR_FORMAT, "%s: storage %s is declared twice with different types or sizes", L->label,
                           key->u.str.data);
        *index = (size_t)(known - L->st);
        return SB_OK;
    }
    return add_storage(L, (storage){.key = key->u.str.data, .dtype = (sb_torch_dtype)dt, .numel = (size_t)numel},
                       index);
}

/* A tensor of `shape` viewing storage `si` at `offset` with `stride`;
 * checks that every element it reads lies inside the storage. */
static int make_tensor(loader *L, sb_torch_value *v, size_t si, int64_t offset, int ndim, const int64_t *shape,
                       const int64_t *stride) {
    const storage *s = &L->st[si];
    if (offset < 0) return sb_fail(SB_ERR_FORMAT, "%s: tensor on storage %s has a negative offset", L->label, s->key);
    uint64_t numel = 1, last = (uint64_t)offset;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || stride[d] < 0)
            return sb_fail(SB_ERR_FORMAT, "%s: tensor on storage %s has a negative size or stride", L->label, s->key);
        if (shape[d] && numel > (UINT64_MAX >> 2) / (uint64_t)shape[d])
            return sb_fail(SB_ERR_FORMAT, "%s: tensor on storage %s has too many elements", L->label, s->key);
        numel *= (uint64_t)shape[d];
    }
    for (int d = 0; numel && d < ndim; d++) {
        uint64_t span = (uint64_t)(shape[d] - 1);
        if (stride[d] && span > (UINT64_MAX >> 2) / (uint64_t)stride[d])
            return sb_fail(SB_ERR_FORMAT, "%s: tensor on storage %s reaches beyond its %zu elements", L->label,
                           s->key, s->numel);
        last += span * (uint64_t)stride[d];
        if (last >= s->numel) break;
    }
    if (numel && last >= s->numel)
        return sb_fail(SB_ERR_FORMAT, "%s: tensor on storage %s reaches element %llu of %zu", L->label, s->key,
                       (unsigned long long)last, s->numel);
    L->elements = (size_t)numel > SIZE_MAX - L->elements ? SIZE_MAX : L->elements + (size_t)numel;
    v->kind = SB_TORCH_TENSOR;
    sb_torch_tensor *t = &v->u.tensor;
    t->dtype = s->dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->numel = (size_t)numel;
    t->storage_key = s->key;
    SB_TRY(grow(L, (void **)&L->pend, &L->pend_cap, L->n_pend + 1, sizeof *L->pend));
    pending *pe = &L->pend[L->n_pend++];
    *pe = (pending){.t = t, .storage = si, .offset = offset};
    for (int d = 0; d < ndim; d++) pe->stride[d] = stride[d];
    return SB_OK;
}

static int int_tuple(loader *L, const sb_pickle_value *v, const char *what, int64_t *out, int *n) {
    if (!v || v->kind != SB_PICKLE_TUPLE)
        return sb_fail(SB_ERR_FORMAT, "%s: a tensor's %s is a %s, not a tuple", L->label, what,
                       v ? sb_pickle_kind_name(v->kind) : "missing value");
    if (v->u.seq.n > SB_TORCH_MAX_DIMS)
        return sb_fail(SB_ERR_FORMAT, "%s: a tensor has %zu dimensions (at most %d)", L->label, v->u.seq.n,
                       SB_TORCH_MAX_DIMS);
    *n = (int)v->u.seq.n;
    for (int i = 0; i < *n; i++) SB_TRY(as_int(L, v->u.seq.items[i], what, &out[i]));
    return SB_OK;
}

/* _rebuild_tensor(storage, offset, size, stride) and _rebuild_tensor_v2
 * (the same, then requires_grad, backward_hooks[, metadata]). */
static int rebuild_tensor(loader *L, const sb_pickle_value *args, sb_torch_value *v) {
    if (args->u.seq.n < 4)
        return sb_fail(SB_ERR_FORMAT, "%s: _rebuild_tensor with %zu arguments", L->label, args->u.seq.n);
    size_t si = 0;
    SB_TRY(storage_of(L, args->u.seq.items[0], &si));
    int64_t offset = 0, shape[SB_TORCH_MAX_DIMS], stride[SB_TORCH_MAX_DIMS];
    int ndim = 0, nstride = 0;
    SB_TRY(as_int(L, args->u.seq.items[1], "storage offset", &offset));
    SB_TRY(int_tuple(L, args->u.seq.items[2], "size", shape, &ndim));
    SB_TRY(int_tuple(L, args->u.seq.items[3], "stride", stride, &nstride));
    if (nstride != ndim)
        return sb_fail(SB_ERR_FORMAT, "%s: a tensor has %d sizes and %d strides", L->label, ndim, nstride);
    SB_TRY(make_tensor(L, v, si, offset, ndim, shape, stride));
    const sb_pickle_value *rg = sb_pickle_item(args, 4);
    v->u.tensor.requires_grad = rg && rg->kind == SB_PICKLE_BOOL && rg->u.i;
    return SB_OK;
}

/* _rebuild_parameter(data, requires_grad, backward_hooks) and
 * _rebuild_parameter_with_state(..., state): the tensor, marked. */
static int rebuild_parameter(loader *L, const sb_pickle_value *args, sb_torch_value *v) {
    const sb_torch_value *data = NULL;
    if (args->u.seq.n < 2)
        return sb_fail(SB_ERR_FORMAT, "%s: _rebuild_parameter with %zu arguments", L->label, args->u.seq.n);
    SB_TRY(convert(L, args->u.seq.items[0], &data));
    if (data->kind != SB_TORCH_TENSOR)
        return sb_fail(SB_ERR_FORMAT, "%s: _rebuild_parameter of a %s, not a tensor", L->label,
                       sb_torch_kind_name(data->kind));
    *v = *data;
    v->u.tensor.parameter = 1;
    v->u.tensor.requires_grad = args->u.seq.items[1]->kind == SB_PICKLE_BOOL && args->u.seq.items[1]->u.i;
    /* the Parameter shares the tensor's data once gathered */
    SB_TRY(grow(L, (void **)&L->pend, &L->pend_cap, L->n_pend + 1, sizeof *L->pend));
    L->pend[L->n_pend++] = (pending){.t = &v->u.tensor, .alias = &data->u.tensor};
    return SB_OK;
}

/* collections.OrderedDict([pairs]) plus its SETITEMS: a DICT. */
static int ordered_dict(loader *L, const sb_pickle_value *r, sb_torch_value *v) {
    const sb_pickle_value *args = r->u.reduce.args, *pairs = sb_pickle_item(args, 0), *d = r->u.reduce.dict;
    size_t n_pairs = 0, n_items = d ? d->u.seq.n : 0;
    if (pairs && pairs->kind != SB_PICKLE_LIST && pairs->kind != SB_PICKLE_TUPLE)
        return sb_fail(SB_ERR_FORMAT, "%s: OrderedDict of a %s", L->label, sb_pickle_kind_name(pairs->kind));
    if (pairs) n_pairs = pairs->u.seq.n;
    const sb_torch_value **items = file_alloc(L->f, (2 * n_pairs + n_items + 1) * sizeof *items);
    if (!items) return oom(L);
    for (size_t i = 0; i < n_pairs; i++) {
        const sb_pickle_value *pair = pairs->u.seq.items[i];
        if (pair->kind != SB_PICKLE_TUPLE && pair->kind != SB_PICKLE_LIST) pair = NULL;
        if (!pair || pair->u.seq.n != 2) return sb_fail(SB_ERR_FORMAT, "%s: OrderedDict item is not a pair", L->label);
        SB_TRY(convert(L, pair->u.seq.items[0], &items[2 * i]));
        SB_TRY(convert(L, pair->u.seq.items[1], &items[2 * i + 1]));
    }
    for (size_t i = 0; i < n_items; i++) SB_TRY(convert(L, d->u.seq.items[i], &items[2 * n_pairs + i]));
    v->kind = SB_TORCH_DICT;
    v->u.seq.items = items;
    v->u.seq.n = 2 * n_pairs + n_items;
    return SB_OK;
}

/* An inert instance of class `cls` (a GLOBAL), with the REDUCE value's
 * state, list items and dict items; args are what cls.__new__ would get. */
static int inert_object(loader *L, const sb_pickle_value *cls, const sb_pickle_value *args, const sb_pickle_value *r,
                        sb_torch_value *v) {
    const sb_torch_value *a = NULL, *state = NULL, *items = NULL, *dict = NULL;
    SB_TRY(convert(L, args, &a));
    if (r->u.reduce.state) SB_TRY(convert(L, r->u.reduce.state, &state));
    if (r->u.reduce.items) SB_TRY(convert(L, r->u.reduce.items, &items));
    if (r->u.reduce.dict) SB_TRY(convert(L, r->u.reduce.dict, &dict));
    v->kind = SB_TORCH_OBJECT;
    v->u.object.module = cls->u.global.module;
    v->u.object.name = cls->u.global.name;
    v->u.object.args = a;
    v->u.object.state = state;
    v->u.object.items = items;
    v->u.object.dict = dict;
    return SB_OK;
}

/* REDUCE / NEWOBJ: only the callables below are interpreted; classes
 * created by NEWOBJ or copyreg._reconstructor become inert objects. */
static int convert_reduce(loader *L, const sb_pickle_value *r, sb_torch_value *v) {
    const sb_pickle_value *c = r->u.reduce.callable, *args = r->u.reduce.args;
    if (c->kind != SB_PICKLE_GLOBAL)
        return sb_fail(SB_ERR_FORMAT, "%s: a %s is called (REDUCE); only named globals are understood", L->label,
                       sb_pickle_kind_name(c->kind));
    if (r->u.reduce.newobj) return inert_object(L, c, args, r, v);
    if (sb_pickle_is_global(c, "torch._utils", "_rebuild_tensor_v2") ||
        sb_pickle_is_global(c, "torch._utils", "_rebuild_tensor"))
        return rebuild_tensor(L, args, v);
    if (sb_pickle_is_global(c, "torch._utils", "_rebuild_parameter") ||
        sb_pickle_is_global(c, "torch._utils", "_rebuild_parameter_with_state"))
        return rebuild_parameter(L, args, v);
    if (sb_pickle_is_global(c, "collections", "OrderedDict")) return ordered_dict(L, r, v);
    if (sb_pickle_is_global(c, "_codecs", "encode")) {
        const unsigned char *bytes = NULL;
        size_t len = 0;
        SB_TRY(sb_pickle_as_bytes(L->f->doc, r, L->label, &bytes, &len));
        v->kind = SB_TORCH_BYTES;
        v->u.str.data = (const char *)bytes;
        v->u.str.len = len;
        return SB_OK;
    }
    if (sb_pickle_is_global(c, "copyreg", "_reconstructor") ||
        sb_pickle_is_global(c, "copy_reg", "_reconstructor")) {
        const sb_pickle_value *cls = sb_pickle_item(args, 0), *base = sb_pickle_item(args, 1);
        if (!cls || cls->kind != SB_PICKLE_GLOBAL || !base || base->kind != SB_PICKLE_GLOBAL)
            return sb_fail(SB_ERR_FORMAT, "%s: copyreg._reconstructor without a class and a base class", L->label);
        return inert_object(L, cls, args, r, v);
    }
    /* Plain data classes whose constructor runs no user code. */
    if (sb_pickle_is_global(c, "torch", "device") || sb_pickle_is_global(c, "torch", "Size") ||
        sb_pickle_is_global(c, "argparse", "Namespace"))
        return inert_object(L, c, args, r, v);
    return sb_fail(SB_ERR_FORMAT,
                   "%s: refusing to call %.100s.%.100s (REDUCE): only tensor rebuilders, OrderedDict and class "
                   "instances are understood",
                   L->label, c->u.global.module, c->u.global.name);
}

static int convert(loader *L, const sb_pickle_value *p, const sb_torch_value **out) {
    sb_torch_value *v = map_get(L, p);
    if (v) {
        *out = v;
        return SB_OK;
    }
    SB_TRY(new_node(L, SB_TORCH_NONE, &v));
    SB_TRY(map_put(L, p, v));
    *out = v;
    switch (p->kind) {
    case SB_PICKLE_NONE: return SB_OK;
    case SB_PICKLE_BOOL: v->kind = SB_TORCH_BOOL; v->u.i = p->u.i; return SB_OK;
    case SB_PICKLE_INT: v->kind = SB_TORCH_INT; v->u.i = p->u.i; return SB_OK;
    case SB_PICKLE_FLOAT: v->kind = SB_TORCH_FLOAT; v->u.f = p->u.f; return SB_OK;
    case SB_PICKLE_STR:
    case SB_PICKLE_STR8:
    case SB_PICKLE_BYTES:
        v->kind = p->kind == SB_PICKLE_BYTES ? SB_TORCH_BYTES : SB_TORCH_STR;
        v->u.str.data = p->u.str.data;
        v->u.str.len = p->u.str.len;
        return SB_OK;
    case SB_PICKLE_LIST: return convert_seq(L, p, SB_TORCH_LIST, v);
    case SB_PICKLE_TUPLE: return convert_seq(L, p, SB_TORCH_TUPLE, v);
    case SB_PICKLE_SET: return convert_seq(L, p, SB_TORCH_SET, v);
    case SB_PICKLE_DICT: return convert_seq(L, p, SB_TORCH_DICT, v);
    case SB_PICKLE_GLOBAL:
        v->kind = SB_TORCH_GLOBAL;
        v->u.global.module = p->u.global.module;
        v->u.global.name = p->u.global.name;
        return SB_OK;
    case SB_PICKLE_REDUCE: return convert_reduce(L, p, v);
    case SB_PICKLE_PERSID: { /* a bare storage: a 1-D tensor of all of it */
        size_t si = 0;
        SB_TRY(storage_of(L, p, &si));
        int64_t n = (int64_t)L->st[si].numel, one = 1;
        return make_tensor(L, v, si, 0, 1, &n, &one);
    }
    }
    return sb_fail(SB_ERR_FORMAT, "%s: unknown pickle value", L->label);
}

// ---- phase 3: gathering tensors

static int gather(loader *L, const sb_torch_options *opt, int swap) {
    size_t total = 0;
    for (size_t i = 0; i < L->n_st; i++) total += L->st[i].numel;
    size_t limit = opt && opt->max_elements ? opt->max_elements : 2 * total + ((size_t)1 << 20);
    if (L->elements > limit)
        return sb_fail(SB_ERR_FORMAT, "%s: tensors hold %zu elements in all, more than the limit of %zu (storages "
                       "hold %zu)", L->label, L->elements, limit, total);
    sb_torch_file *f = L->f;
    const uint16_t one = 1;
    const int host_le = *(const unsigned char *)&one == 1;
    for (size_t i = 0; i < L->n_pend; i++) {
        const pending *pe = &L->pend[i];
        sb_torch_tensor *t = pe->t;
        const storage *s = &L->st[pe->storage];
        if (pe->alias) { /* gathered earlier: pending entries are in conversion order */
            t->data = pe->alias->data;
            continue;
        }
        SB_TRY(grow(L, (void **)&f->tensor_data, &f->data_cap, f->n_data + 1, sizeof *f->tensor_data));
        t->data = malloc((t->numel ? t->numel : 1) * sizeof *t->data);
        if (!t->data) return oom(L);
        f->tensor_data[f->n_data++] = t->data;
        int contiguous = 1;
        int64_t expect = 1;
        for (int d = t->ndim - 1; d >= 0; expect *= t->shape[d], d--)
            if (t->shape[d] != 1 && pe->stride[d] != expect) contiguous = 0;
        if (contiguous && s->dtype == SB_TORCH_F32 && !swap && host_le) { /* the common case: one copy */
            memcpy(t->data, s->bytes + 4 * (size_t)pe->offset, 4 * t->numel);
            continue;
        }
        int64_t idx[SB_TORCH_MAX_DIMS] = {0};
        for (size_t k = 0; k < t->numel; k++) {
            int64_t at = pe->offset;
            for (int d = 0; d < t->ndim; d++) at += idx[d] * pe->stride[d];
            t->data[k] = element(s->dtype, s->bytes, (size_t)at, swap);
            for (int d = t->ndim - 1; d >= 0; d--) {
                if (++idx[d] < t->shape[d]) break;
                idx[d] = 0;
            }
        }
    }
    return SB_OK;
}

// ---- zip format

static int load_zip(loader *L, const void *data, size_t size, const sb_torch_options *opt) {
    sb_zip z;
    SB_TRY(sb_zip_open_memory(&z, L->label, data, size));
    int rc = SB_OK;
    unsigned char *pkl = NULL, *member = NULL;
    size_t pkl_size = 0, member_size = 0;
    char *name = NULL;
    const sb_zip_entry *e = NULL;
    for (size_t i = 0; i < z.n_entries && !e; i++) {
        const char *n = z.entries[i].name, *slash = strchr(n, '/');
        if (slash && strcmp(slash, "/data.pkl") == 0) e = &z.entries[i];
    }
    if (!e) {
        rc = sb_fail(SB_ERR_FORMAT, "%s: zip archive without <name>/data.pkl: not a torch.save checkpoint", L->label);
        goto done;
    }
    size_t prefix = (size_t)(strchr(e->name, '/') - e->name) + 1;
    if ((rc = sb_zip_extract(&z, e, &pkl, &pkl_size))) goto done;
    const sb_pickle_value *root = NULL;
    if ((rc = sb_pickle_load(&L->f->doc, &root, L->label, pkl, pkl_size, &opt->pickle))) goto done;
    if ((rc = convert(L, root, &L->f->root))) goto done;
    /* byteorder: "little" (or absent, before torch 1.12) or "big" */
    int swap = 0;
    name = malloc(prefix + 64 + 1);
    if (!name) {
        rc = oom(L);
        goto done;
    }
    memcpy(name, e->name, prefix);
    strcpy(name + prefix, "byteorder");
    const sb_zip_entry *bo = sb_zip_find(&z, name);
    if (bo) {
        if ((rc = sb_zip_extract(&z, bo, &member, &member_size))) goto done;
        if (member_size == 3 && memcmp(member, "big", 3) == 0) {
            swap = 1;
        } else if (!(member_size == 6 && memcmp(member, "little", 6) == 0)) {
            rc = sb_fail(SB_ERR_FORMAT, "%s: byteorder is neither \"little\" nor \"big\"", L->label);
            goto done;
        }
        free(member);
        member = NULL;
    }
    /* one pass over the members: <name>/data/<key> holds storage <key> */
    for (size_t i = 0; i < z.n_entries; i++) {
        const sb_zip_entry *se = &z.entries[i];
        if (strncmp(se->name, e->name, prefix) != 0 || strncmp(se->name + prefix, "data/", 5) != 0) continue;
        const char *key = se->name + prefix + 5;
        storage *s = find_storage(L, key, strlen(key));
        if (!s || s->owned) continue; /* unused, or a repeated name */
        if (se->size < (uint64_t)s->numel * dtypes[s->dtype].size) {
            rc = sb_fail(SB_ERR_FORMAT, "%s: member %s holds %llu bytes, storage %s needs %zu", L->label, se->name,
                         (unsigned long long)se->size, s->key, s->numel * dtypes[s->dtype].size);
            goto done;
        }
        if ((rc = sb_zip_extract(&z, se, &s->owned, &member_size))) goto done;
        s->bytes = s->owned;
    }
    for (size_t i = 0; i < L->n_st; i++)
        if (!L->st[i].bytes) {
            rc = sb_fail(SB_ERR_FORMAT, "%s: storage %s has no member %.*sdata/%s", L->label, L->st[i].key,
                         (int)prefix, e->name, L->st[i].key);
            goto done;
        }
    rc = gather(L, opt, swap);
done:
    free(name);
    free(member);
    free(pkl);
    sb_zip_close(&z);
    return rc;
}

// ---- legacy format

/* The first pickle of the legacy format: PROTO n [FRAME] LONG1 10 bytes
 * (0x1950a86a20f9469cfc6c) STOP. Its integer is wider than int64, so it is
 * matched byte for byte rather than decoded. */
static int legacy_magic(loader *L, const unsigned char *d, size_t size, size_t *used) {
    static const unsigned char magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    size_t pos = 0;
    if (size >= 2 && d[0] == 0x80) pos = 2;
    if (size >= pos + 9 && d[pos] == 0x95) pos += 9;
    if (size < pos + 13 || d[pos] != 0x8a || d[pos + 1] != 10 || memcmp(d + pos + 2, magic, 10) != 0 ||
        d[pos + 12] != '.')
        return sb_fail(SB_ERR_FORMAT, "%s: not a PyTorch checkpoint (neither a zip archive nor the legacy magic "
                       "number)", L->label);
    *used = pos + 13;
    return SB_OK;
}

static int load_legacy(loader *L, const unsigned char *d, size_t size, const sb_torch_options *opt) {
    if (size > 262 && memcmp(d + 257, "ustar", 5) == 0)
        return sb_fail(SB_ERR_FORMAT, "%s: a tar-format checkpoint (PyTorch before 0.1.10) is not supported",
                       L->label);
    size_t pos = 0, used = 0;
    SB_TRY(legacy_magic(L, d, size, &used));
    pos += used;
    sb_pickle_doc *doc = NULL;
    const sb_pickle_value *v = NULL;
    /* protocol version, then system info */
    SB_TRY(sb_pickle_load_prefix(&doc, &v, L->label, d + pos, size - pos, &opt->pickle, &used));
    int proto_ok = v->kind == SB_PICKLE_INT && v->u.i == 1001;
    sb_pickle_free(doc);
    if (!proto_ok) return sb_fail(SB_ERR_FORMAT, "%s: legacy protocol version is not 1001", L->label);
    pos += used;
    SB_TRY(sb_pickle_load_prefix(&doc, &v, L->label, d + pos, size - pos, &opt->pickle, &used));
    const sb_pickle_value *le = sb_pickle_dict_get(v, "little_endian");
    int swap = le && le->kind == SB_PICKLE_BOOL && !le->u.i;
    int info_ok = v->kind == SB_PICKLE_DICT && le;
    sb_pickle_free(doc);
    if (!info_ok) return sb_fail(SB_ERR_FORMAT, "%s: legacy system info is not a dict with little_endian", L->label);
    pos += used;
    const sb_pickle_value *root = NULL;
    SB_TRY(sb_pickle_load_prefix(&L->f->doc, &root, L->label, d + pos, size - pos, &opt->pickle, &used));
    pos += used;
    SB_TRY(convert(L, root, &L->f->root));
    /* storage keys, then each storage: int64 element count and raw bytes */
    const sb_pickle_value *keys = NULL;
    SB_TRY(sb_pickle_load_prefix(&doc, &keys, L->label, d + pos, size - pos, &opt->pickle, &used));
    pos += used;
    int rc = SB_OK;
    if (keys->kind != SB_PICKLE_LIST) rc = sb_fail(SB_ERR_FORMAT, "%s: legacy storage keys are not a list", L->label);
    for (size_t k = 0; !rc && k < keys->u.seq.n; k++) {
        const sb_pickle_value *key = keys->u.seq.items[k];
        storage *s = key->kind == SB_PICKLE_STR ? find_storage(L, key->u.str.data, key->u.str.len) : NULL;
        if (!s) {
            rc = sb_fail(SB_ERR_FORMAT, "%s: storage record %zu is not used by any tensor", L->label, k);
            break;
        }
        if (size - pos < 8) {
            rc = sb_fail(SB_ERR_FORMAT, "%s: storage %s: file ends before its size (truncated)", L->label, s->key);
            break;
        }
        uint64_t n = 0;
        for (int b = 7; b >= 0; b--) n = n << 8 | d[pos + (swap ? 7 - b : b)];
        pos += 8;
        size_t esize = dtypes[s->dtype].size;
        if (n != s->numel)
            rc = sb_fail(SB_ERR_FORMAT, "%s: storage %s holds %llu elements, its tensors say %zu", L->label, s->key,
                         (unsigned long long)n, s->numel);
        else if (s->numel > (size - pos) / esize)
            rc = sb_fail(SB_ERR_FORMAT, "%s: storage %s: %zu bytes run past the end of the file (truncated)", L->label,
                         s->key, s->numel * esize);
        else if (s->bytes)
            rc = sb_fail(SB_ERR_FORMAT, "%s: storage %s is stored twice", L->label, s->key);
        else {
            s->bytes = d + pos;
            pos += s->numel * esize;
        }
    }
    sb_pickle_free(doc);
    SB_TRY(rc);
    for (size_t i = 0; i < L->n_st; i++)
        if (!L->st[i].bytes)
            return sb_fail(SB_ERR_FORMAT, "%s: storage %s is missing from the file", L->label, L->st[i].key);
    return gather(L, opt, swap);
}

// ---- entry points

int sb_torch_load_memory(sb_torch_file **out, const char *label, const void *data, size_t size,
                         const sb_torch_options *opt) {
    *out = NULL;
    sb_torch_options o;
    memset(&o, 0, sizeof o);
    if (opt) o = *opt;
    o.pickle.any_global = 1; /* every global is vetted in convert_reduce */
    loader L = {.label = label, .input_size = size};
    L.f = calloc(1, sizeof *L.f);
    if (!L.f) return oom(&L);
    const unsigned char *d = data;
    int zip = size >= 4 && memcmp(d, "PK\x03\x04", 4) == 0;
    L.f->format = zip ? "zip" : "legacy";
    int rc = zip ? load_zip(&L, data, size, &o) : load_legacy(&L, d, size, &o);
    loader_free(&L);
    if (rc) {
        sb_torch_free(L.f);
        return rc;
    }
    *out = L.f;
    return SB_OK;
}

int sb_torch_load(sb_torch_file **out, const char *path, const sb_torch_options *opt) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return sb_fail(SB_ERR_IO, "%s: cannot open", path);
    unsigned char *buf = NULL;
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    int rc = SB_OK;
    if (size < 0 || fseek(fp, 0, SEEK_SET) != 0) rc = sb_fail(SB_ERR_IO, "%s: cannot determine its size", path);
    if (!rc && !(buf = malloc((size_t)size + 1)))
        rc = sb_fail(SB_ERR_MEMORY, "%s: out of memory for %ld bytes", path, size);
    if (!rc && fread(buf, 1, (size_t)size, fp) != (size_t)size) rc = sb_fail(SB_ERR_IO, "%s: read failed", path);
    fclose(fp);
    if (!rc) rc = sb_torch_load_memory(out, path, buf, (size_t)size, opt);
    free(buf);
    return rc;
}

// ---- accessors

const sb_torch_value *sb_torch_root(const sb_torch_file *f) { return f->root; }
const char *sb_torch_format(const sb_torch_file *f) { return f->format; }

const sb_torch_value *sb_torch_as_dict(const sb_torch_value *v) {
    if (!v) return NULL;
    if (v->kind == SB_TORCH_DICT) return v;
    if (v->kind != SB_TORCH_OBJECT) return NULL;
    if (v->u.object.state && v->u.object.state->kind == SB_TORCH_DICT) return v->u.object.state;
    return v->u.object.dict;
}

const sb_torch_value *sb_torch_get(const sb_torch_value *dict, const char *key) {
    dict = sb_torch_as_dict(dict);
    if (!dict) return NULL;
    const sb_torch_value *found = NULL;
    for (size_t k = 0; k + 1 < dict->u.seq.n; k += 2) {
        const sb_torch_value *kv = dict->u.seq.items[k];
        if (kv->kind == SB_TORCH_STR && strcmp(kv->u.str.data, key) == 0) found = dict->u.seq.items[k + 1];
    }
    return found;
}

const sb_torch_value *sb_torch_get_int(const sb_torch_value *dict, int64_t key) {
    dict = sb_torch_as_dict(dict);
    if (!dict) return NULL;
    const sb_torch_value *found = NULL;
    for (size_t k = 0; k + 1 < dict->u.seq.n; k += 2) {
        const sb_torch_value *kv = dict->u.seq.items[k];
        if (kv->kind == SB_TORCH_INT && kv->u.i == key) found = dict->u.seq.items[k + 1];
    }
    return found;
}

const char *sb_torch_kind_name(sb_torch_kind k) {
    static const char *const names[] = {"None", "bool", "int", "float", "str", "bytes", "list",
                                        "tuple", "set", "dict", "tensor", "object", "global"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "unknown value";
}
