/* What the parts of the torch.save reader share (not installed):
 * torch_load.c (the file, the two archive formats, entry points),
 * torch_load_convert.c (phase 1: pickle tree to sb_torch_value) and
 * torch_load_storage.c (dtypes, storages by key, phase 3: gathering).
 * defines: struct sb_torch_file, torch_dtype_info, torch_dtypes,
 *          torch_storage, torch_pending, torch_loader, torch_oom,
 *          torch_grow, torch_file_alloc, torch_find_storage,
 *          torch_add_storage, torch_convert, torch_gather */
#ifndef SB_IO_TORCH_LOAD_INTERNAL_H
#define SB_IO_TORCH_LOAD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "io/pickle.h"
#include "io/torch_load.h"

struct sb_torch_file {
    const char *format;
    sb_pickle_doc *doc;       /* strings of the tree point into it */
    struct torch_block *blocks; /* the arena: nodes and item arrays */
    float **tensor_data;      /* every tensor's data, freed with the file */
    size_t n_data, data_cap;
    const sb_torch_value *root;
};

typedef struct torch_dtype_info {
    const char *storage, *name; /* "FloatStorage", "float32" */
    size_t size;                /* bytes per element */
} torch_dtype_info;

extern const torch_dtype_info torch_dtypes[SB_TORCH_N_DTYPES];

typedef struct torch_storage {
    const char *key;            /* in the pickle doc */
    sb_torch_dtype dtype;
    size_t numel;               /* from the persistent id */
    const unsigned char *bytes; /* phase 2: numel * element size bytes */
    unsigned char *owned;       /* extracted zip member, freed at the end */
} torch_storage;

typedef struct torch_pending {
    sb_torch_tensor *t;
    const sb_torch_tensor *alias; /* a Parameter sharing this earlier tensor's data */
    size_t storage;
    int64_t offset, stride[SB_TORCH_MAX_DIMS];
} torch_pending;

typedef struct torch_loader {
    const char *label;
    sb_torch_file *f;
    size_t input_size;          /* bytes of the file: bounds every storage */
    torch_storage *st;
    size_t n_st, st_cap;
    size_t *st_slots;           /* hash of storage keys: index + 1, 0 empty */
    size_t st_slot_cap;
    torch_pending *pend;
    size_t n_pend, pend_cap;
    size_t elements;            /* tensor elements in all */
    /* converted value of each pickle value (the pickle is a DAG) */
    const sb_pickle_value **map_keys;
    sb_torch_value **map_vals;
    size_t map_cap, map_n;
} torch_loader;

/* torch_load.c: the loader's out-of-memory error; growing *arr (*cap
 * elements of elem bytes) to hold need; n zeroed bytes in f's arena,
 * freed with f (NULL when out of memory). */
int torch_oom(torch_loader *L);
int torch_grow(torch_loader *L, void **arr, size_t *cap, size_t need, size_t elem);
void *torch_file_alloc(sb_torch_file *f, size_t n);

/* torch_load_storage.c: the storage called key (len bytes), or NULL;
 * appending s and indexing it by key; phase 3, gathering every pending
 * tensor into floats (`swap` reverses big-endian storages). */
torch_storage *torch_find_storage(const torch_loader *L, const char *key, size_t len);
int torch_add_storage(torch_loader *L, torch_storage s, size_t *index);
int torch_gather(torch_loader *L, const sb_torch_options *opt, int swap);

/* torch_load_convert.c: phase 1, the converted value of pickle value p
 * (tensors registered as pending, their storages by key). */
int torch_convert(torch_loader *L, const sb_pickle_value *p, const sb_torch_value **out);

#endif
