/* PyTorch checkpoint reader, phase 1: converts the inert pickle tree
 * (io/pickle.h) into sb_torch_value nodes. Tensor rebuilders register
 * their storage (dtype, element count) and become pending tensors whose
 * extent is checked against it; OrderedDict becomes a DICT, class
 * instances inert OBJECTs; every other call is refused by name. Each
 * pickle value is converted once (a memo map: the pickle is a DAG). */
#include <stdlib.h>
#include <string.h>

#include "io/torch_load_internal.h"
#include "runtime/error.h"

// ---- converted values by pickle value

static size_t map_slot(const torch_loader *L, const sb_pickle_value *k) {
    size_t h = (size_t)((uintptr_t)k >> 4) * (size_t)0x9E3779B97F4A7C15ull;
    size_t i = h & (L->map_cap - 1);
    while (L->map_keys[i] && L->map_keys[i] != k) i = (i + 1) & (L->map_cap - 1);
    return i;
}

static int map_put(torch_loader *L, const sb_pickle_value *k, sb_torch_value *v) {
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
            return torch_oom(L);
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

static sb_torch_value *map_get(const torch_loader *L, const sb_pickle_value *k) {
    if (!L->map_cap) return NULL;
    size_t s = map_slot(L, k);
    return L->map_keys[s] ? L->map_vals[s] : NULL;
}

// ---- phase 1: converting the pickle

static int new_node(torch_loader *L, sb_torch_kind kind, sb_torch_value **out) {
    *out = torch_file_alloc(L->f, sizeof **out);
    if (!*out) return torch_oom(L);
    (*out)->kind = kind;
    return SB_OK;
}

static int convert_seq(torch_loader *L, const sb_pickle_value *p, sb_torch_kind kind, sb_torch_value *v) {
    size_t n = p->u.seq.n;
    const sb_torch_value **items = torch_file_alloc(L->f, (n ? n : 1) * sizeof *items);
    if (!items) return torch_oom(L);
    for (size_t i = 0; i < n; i++) SB_TRY(torch_convert(L, p->u.seq.items[i], &items[i]));
    v->kind = kind;
    v->u.seq.items = items;
    v->u.seq.n = n;
    return SB_OK;
}

static int as_int(torch_loader *L, const sb_pickle_value *v, const char *what, int64_t *out) {
    if (!v || (v->kind != SB_PICKLE_INT && v->kind != SB_PICKLE_BOOL))
        return sb_fail(SB_ERR_FORMAT, "%s: %s is a %s, not an int", L->label, what,
                       v ? sb_pickle_kind_name(v->kind) : "missing value");
    *out = v->u.i;
    return SB_OK;
}

/* A persistent id ('storage', torch.<Type>Storage, key, location, numel
 * [, view_metadata]): registers the storage, or checks it against the
 * earlier registration of the same key. */
static int storage_of(torch_loader *L, const sb_pickle_value *p, size_t *index) {
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
        if (strcmp(type->u.global.module, "torch") == 0 && strcmp(type->u.global.name, torch_dtypes[t].storage) == 0) dt = t;
    if (dt < 0)
        return sb_fail(SB_ERR_FORMAT, "%s: storage %s has type %s.%s, which is not supported", L->label,
                       key->u.str.data, type->u.global.module, type->u.global.name);
    int64_t numel = 0;
    SB_TRY(as_int(L, sb_pickle_item(pid, 4), "a storage's element count", &numel));
    if (numel < 0 || (uint64_t)numel > L->input_size / torch_dtypes[dt].size)
        return sb_fail(SB_ERR_FORMAT, "%s: storage %s declares %lld elements, more than the %zu-byte file holds",
                       L->label, key->u.str.data, (long long)numel, L->input_size);
    const torch_storage *known = torch_find_storage(L, key->u.str.data, key->u.str.len);
    if (known) {
        if (known->dtype != (sb_torch_dtype)dt || known->numel != (size_t)numel)
            return sb_fail(SB_ERR_FORMAT, "%s: storage %s is declared twice with different types or sizes", L->label,
                           key->u.str.data);
        *index = (size_t)(known - L->st);
        return SB_OK;
    }
    return torch_add_storage(L, (torch_storage){.key = key->u.str.data, .dtype = (sb_torch_dtype)dt, .numel = (size_t)numel},
                       index);
}

/* A tensor of `shape` viewing storage `si` at `offset` with `stride`;
 * checks that every element it reads lies inside the storage. */
static int make_tensor(torch_loader *L, sb_torch_value *v, size_t si, int64_t offset, int ndim, const int64_t *shape,
                       const int64_t *stride) {
    const torch_storage *s = &L->st[si];
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
    SB_TRY(torch_grow(L, (void **)&L->pend, &L->pend_cap, L->n_pend + 1, sizeof *L->pend));
    torch_pending *pe = &L->pend[L->n_pend++];
    *pe = (torch_pending){.t = t, .storage = si, .offset = offset};
    for (int d = 0; d < ndim; d++) pe->stride[d] = stride[d];
    return SB_OK;
}

static int int_tuple(torch_loader *L, const sb_pickle_value *v, const char *what, int64_t *out, int *n) {
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
static int rebuild_tensor(torch_loader *L, const sb_pickle_value *args, sb_torch_value *v) {
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
static int rebuild_parameter(torch_loader *L, const sb_pickle_value *args, sb_torch_value *v) {
    const sb_torch_value *data = NULL;
    if (args->u.seq.n < 2)
        return sb_fail(SB_ERR_FORMAT, "%s: _rebuild_parameter with %zu arguments", L->label, args->u.seq.n);
    SB_TRY(torch_convert(L, args->u.seq.items[0], &data));
    if (data->kind != SB_TORCH_TENSOR)
        return sb_fail(SB_ERR_FORMAT, "%s: _rebuild_parameter of a %s, not a tensor", L->label,
                       sb_torch_kind_name(data->kind));
    *v = *data;
    v->u.tensor.parameter = 1;
    v->u.tensor.requires_grad = args->u.seq.items[1]->kind == SB_PICKLE_BOOL && args->u.seq.items[1]->u.i;
    /* the Parameter shares the tensor's data once gathered */
    SB_TRY(torch_grow(L, (void **)&L->pend, &L->pend_cap, L->n_pend + 1, sizeof *L->pend));
    L->pend[L->n_pend++] = (torch_pending){.t = &v->u.tensor, .alias = &data->u.tensor};
    return SB_OK;
}

/* collections.OrderedDict([pairs]) plus its SETITEMS: a DICT. */
static int ordered_dict(torch_loader *L, const sb_pickle_value *r, sb_torch_value *v) {
    const sb_pickle_value *args = r->u.reduce.args, *pairs = sb_pickle_item(args, 0), *d = r->u.reduce.dict;
    size_t n_pairs = 0, n_items = d ? d->u.seq.n : 0;
    if (pairs && pairs->kind != SB_PICKLE_LIST && pairs->kind != SB_PICKLE_TUPLE)
        return sb_fail(SB_ERR_FORMAT, "%s: OrderedDict of a %s", L->label, sb_pickle_kind_name(pairs->kind));
    if (pairs) n_pairs = pairs->u.seq.n;
    const sb_torch_value **items = torch_file_alloc(L->f, (2 * n_pairs + n_items + 1) * sizeof *items);
    if (!items) return torch_oom(L);
    for (size_t i = 0; i < n_pairs; i++) {
        const sb_pickle_value *pair = pairs->u.seq.items[i];
        if (pair->kind != SB_PICKLE_TUPLE && pair->kind != SB_PICKLE_LIST) pair = NULL;
        if (!pair || pair->u.seq.n != 2) return sb_fail(SB_ERR_FORMAT, "%s: OrderedDict item is not a pair", L->label);
        SB_TRY(torch_convert(L, pair->u.seq.items[0], &items[2 * i]));
        SB_TRY(torch_convert(L, pair->u.seq.items[1], &items[2 * i + 1]));
    }
    for (size_t i = 0; i < n_items; i++) SB_TRY(torch_convert(L, d->u.seq.items[i], &items[2 * n_pairs + i]));
    v->kind = SB_TORCH_DICT;
    v->u.seq.items = items;
    v->u.seq.n = 2 * n_pairs + n_items;
    return SB_OK;
}

/* An inert instance of class `cls` (a GLOBAL), with the REDUCE value's
 * state, list items and dict items; args are what cls.__new__ would get. */
static int inert_object(torch_loader *L, const sb_pickle_value *cls, const sb_pickle_value *args, const sb_pickle_value *r,
                        sb_torch_value *v) {
    const sb_torch_value *a = NULL, *state = NULL, *items = NULL, *dict = NULL;
    SB_TRY(torch_convert(L, args, &a));
    if (r->u.reduce.state) SB_TRY(torch_convert(L, r->u.reduce.state, &state));
    if (r->u.reduce.items) SB_TRY(torch_convert(L, r->u.reduce.items, &items));
    if (r->u.reduce.dict) SB_TRY(torch_convert(L, r->u.reduce.dict, &dict));
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
static int convert_reduce(torch_loader *L, const sb_pickle_value *r, sb_torch_value *v) {
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

int torch_convert(torch_loader *L, const sb_pickle_value *p, const sb_torch_value **out) {
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
