/* PyTorch checkpoint reader, storages: the storage dtypes and their
 * element conversion to float, the registry of storages by key, and
 * phase 3, gathering each tensor (any offset and strides) from its
 * storage's bytes into a contiguous float copy. */
#include <stdlib.h>
#include <string.h>

#include "io/float16.h"
#include "io/torch_load_internal.h"
#include "runtime/error.h"

// ---- dtypes

const torch_dtype_info torch_dtypes[SB_TORCH_N_DTYPES] = {
    [SB_TORCH_F32] = {"FloatStorage", "float32", 4},   [SB_TORCH_F16] = {"HalfStorage", "float16", 2},
    [SB_TORCH_BF16] = {"BFloat16Storage", "bfloat16", 2}, [SB_TORCH_F64] = {"DoubleStorage", "float64", 8},
    [SB_TORCH_I64] = {"LongStorage", "int64", 8},      [SB_TORCH_I32] = {"IntStorage", "int32", 4},
    [SB_TORCH_I16] = {"ShortStorage", "int16", 2},     [SB_TORCH_I8] = {"CharStorage", "int8", 1},
    [SB_TORCH_U8] = {"ByteStorage", "uint8", 1},       [SB_TORCH_BOOL_DT] = {"BoolStorage", "bool", 1},
};

const char *sb_torch_dtype_name(sb_torch_dtype t) {
    return (unsigned)t < SB_TORCH_N_DTYPES ? torch_dtypes[t].name : "unknown dtype";
}

/* Element i of a storage as float; `swap` reverses big-endian bytes. */
static float element(sb_torch_dtype t, const unsigned char *base, size_t i, int swap) {
    size_t n = torch_dtypes[t].size;
    unsigned char b[8];
    for (size_t k = 0; k < n; k++) b[k] = base[i * n + (swap ? n - 1 - k : k)];
    uint64_t u = 0;
    for (size_t k = n; k-- > 0;) u = u << 8 | b[k]; /* little-endian value */
    switch (t) {
    case SB_TORCH_F32: { uint32_t w = (uint32_t)u; float f; memcpy(&f, &w, 4); return f; }
    case SB_TORCH_F16: return sb_f16_to_f32((uint16_t)u);
    case SB_TORCH_BF16: return sb_bf16_to_f32((uint16_t)u);
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

// ---- storages by key (a hash: files may name many storages)

static size_t key_slot(const torch_loader *L, const char *key, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
    size_t i = (size_t)h & (L->st_slot_cap - 1);
    while (L->st_slots[i]) {
        const torch_storage *s = &L->st[L->st_slots[i] - 1];
        if (strlen(s->key) == len && memcmp(s->key, key, len) == 0) break;
        i = (i + 1) & (L->st_slot_cap - 1);
    }
    return i;
}

/* The storage called key (len bytes), or NULL. */
torch_storage *torch_find_storage(const torch_loader *L, const char *key, size_t len) {
    if (!L->st_slot_cap) return NULL;
    size_t i = L->st_slots[key_slot(L, key, len)];
    return i ? &L->st[i - 1] : NULL;
}

/* Appends s and indexes it by key. */
int torch_add_storage(torch_loader *L, torch_storage s, size_t *index) {
    SB_TRY(torch_grow(L, (void **)&L->st, &L->st_cap, L->n_st + 1, sizeof *L->st));
    L->st[L->n_st++] = s;
    if (2 * L->n_st > L->st_slot_cap) {
        size_t cap = L->st_slot_cap ? 2 * L->st_slot_cap : 64;
        size_t *slots = calloc(cap, sizeof *slots);
        if (!slots) return torch_oom(L);
        free(L->st_slots);
        L->st_slots = slots;
        L->st_slot_cap = cap;
        for (size_t i = 0; i + 1 < L->n_st; i++) L->st_slots[key_slot(L, L->st[i].key, strlen(L->st[i].key))] = i + 1;
    }
    L->st_slots[key_slot(L, s.key, strlen(s.key))] = L->n_st;
    *index = L->n_st - 1;
    return SB_OK;
}

// ---- phase 3: gathering tensors

int torch_gather(torch_loader *L, const sb_torch_options *opt, int swap) {
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
        const torch_pending *pe = &L->pend[i];
        sb_torch_tensor *t = pe->t;
        const torch_storage *s = &L->st[pe->storage];
        if (pe->alias) { /* gathered earlier: pending entries are in conversion order */
            t->data = pe->alias->data;
            continue;
        }
        SB_TRY(torch_grow(L, (void **)&f->tensor_data, &f->data_cap, f->n_data + 1, sizeof *f->tensor_data));
        t->data = malloc((t->numel ? t->numel : 1) * sizeof *t->data);
        if (!t->data) return torch_oom(L);
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
