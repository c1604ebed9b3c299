/* PyTorch checkpoints (torch.save output) read without Python: the zip
 * format (default since torch 1.6: <name>/data.pkl, storages in
 * <name>/data/<key>, optional <name>/byteorder) and the legacy format
 * (pickled magic number, protocol version and system info, the pickled
 * object, the pickled list of storage keys, then each storage as an int64
 * element count and its raw bytes).
 *
 * The pickle is decoded by io/pickle.h (nothing is imported or called) and
 * turned into a tree of sb_torch_value where tensors are resolved:
 * torch._utils._rebuild_tensor_v2 / _rebuild_tensor / _rebuild_parameter
 * become TENSOR values holding a contiguous float copy (views with an
 * offset and strides are gathered); collections.OrderedDict becomes a DICT;
 * a class instantiated by NEWOBJ or copyreg._reconstructor (e.g. a config
 * object) becomes an inert OBJECT recorded by its name with its state and
 * items, never called; a bare global (a storage type, a dtype) stays a
 * GLOBAL. Any other call (REDUCE of a function such as posix.system or
 * builtins.eval) is rejected with a message naming it: only the rebuilders
 * listed in torch_load_convert.c are interpreted.
 *
 * Storages: float32, float16, bfloat16, float64, int64, int32, uint8, int8,
 * int16, bool; every tensor's data is converted to float (int64 values
 * beyond 2^24 lose precision). A bare storage becomes a 1-D tensor.
 *
 * Hostile input: storage sizes are checked against the file (zip member or
 * legacy record), every tensor's extent (offset + sum((size-1) * stride))
 * against its storage, dimensions against SB_TORCH_MAX_DIMS, and the total
 * of converted elements against opt->max_elements; pickle depth, memo and
 * value counts come from opt->pickle. The tree is a DAG where the pickle
 * shares values through its memo (each shared value is converted once):
 * walk it by path, not by expanding every node.
 * defines: sb_torch_kind, sb_torch_dtype, sb_torch_tensor, sb_torch_value,
 *          sb_torch_options, sb_torch_file, sb_torch_load,
 *          sb_torch_load_memory, sb_torch_free, sb_torch_root,
 *          sb_torch_get, sb_torch_get_int, sb_torch_as_dict,
 *          sb_torch_dtype_name, sb_torch_kind_name */
#ifndef SB_IO_TORCH_LOAD_H
#define SB_IO_TORCH_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "io/pickle.h"

#define SB_TORCH_MAX_DIMS 8

typedef enum sb_torch_kind {
    SB_TORCH_NONE,
    SB_TORCH_BOOL,    /* u.i */
    SB_TORCH_INT,     /* u.i */
    SB_TORCH_FLOAT,   /* u.f */
    SB_TORCH_STR,     /* u.str, UTF-8 (or Python 2 8-bit text) */
    SB_TORCH_BYTES,   /* u.str */
    SB_TORCH_LIST,    /* u.seq */
    SB_TORCH_TUPLE,   /* u.seq */
    SB_TORCH_SET,     /* u.seq */
    SB_TORCH_DICT,    /* u.seq: keys and values alternate; dict and OrderedDict keep their order */
    SB_TORCH_TENSOR,  /* u.tensor */
    SB_TORCH_OBJECT,  /* u.object: an inert instance of a class */
    SB_TORCH_GLOBAL   /* u.global: a module.name that is referenced, not called */
} sb_torch_kind;

typedef enum sb_torch_dtype {
    SB_TORCH_F32, SB_TORCH_F16, SB_TORCH_BF16, SB_TORCH_F64, SB_TORCH_I64, SB_TORCH_I32, SB_TORCH_I16,
    SB_TORCH_I8, SB_TORCH_U8, SB_TORCH_BOOL_DT, SB_TORCH_N_DTYPES
} sb_torch_dtype;

typedef struct sb_torch_tensor {
    sb_torch_dtype dtype;  /* of the storage in the file */
    int ndim;              /* 0 for a scalar */
    int64_t shape[SB_TORCH_MAX_DIMS];
    size_t numel;
    float *data;           /* numel values, row-major (contiguous) */
    int requires_grad;
    int parameter;         /* made by _rebuild_parameter (nn.Parameter) */
    const char *storage_key;
} sb_torch_tensor;

typedef struct sb_torch_value sb_torch_value;
struct sb_torch_value {
    sb_torch_kind kind;
    union {
        int64_t i;
        double f;
        struct { const char *data; size_t len; } str;
        struct { const sb_torch_value *const *items; size_t n; } seq;
        sb_torch_tensor tensor;
        struct {
            const char *module, *name;  /* the class */
            const sb_torch_value *args;  /* TUPLE given to cls.__new__ */
            const sb_torch_value *state; /* from BUILD (often a DICT of attributes), or NULL */
            const sb_torch_value *items; /* LIST from APPENDS (a list subclass), or NULL */
            const sb_torch_value *dict;  /* DICT from SETITEMS (a dict subclass), or NULL */
        } object;
        struct { const char *module, *name; } global;
    } u;
};

typedef struct sb_torch_options {
    sb_pickle_options pickle;  /* depth, memo, value and string limits */
    size_t max_elements;       /* tensor elements converted in all; 0: 2 x storage elements + 2^20 */
} sb_torch_options;

typedef struct sb_torch_file sb_torch_file;

/* Reads a checkpoint (either format, told apart by the zip signature).
 * SB_ERR_IO when it cannot be read, SB_ERR_FORMAT naming the file and
 * what is wrong otherwise. opt may be NULL. */
int sb_torch_load(sb_torch_file **out, const char *path, const sb_torch_options *opt);
/* The same on `size` bytes at `data` (not kept); `label` names it. */
int sb_torch_load_memory(sb_torch_file **out, const char *label, const void *data, size_t size,
                         const sb_torch_options *opt);
void sb_torch_free(sb_torch_file *f);

/* The object torch.save was given. */
const sb_torch_value *sb_torch_root(const sb_torch_file *f);
/* "zip" or "legacy". */
const char *sb_torch_format(const sb_torch_file *f);

/* The value under a str key of a DICT (or of an OBJECT's dict, see
 * sb_torch_as_dict), NULL when absent; sb_torch_get_int looks up an int key
 * (optimizer state is keyed by parameter index). */
const sb_torch_value *sb_torch_get(const sb_torch_value *dict, const char *key);
const sb_torch_value *sb_torch_get_int(const sb_torch_value *dict, int64_t key);
/* v itself when a DICT; for an OBJECT, its attribute dict (the BUILD state)
 * when that is a DICT, else its SETITEMS dict; NULL otherwise. */
const sb_torch_value *sb_torch_as_dict(const sb_torch_value *v);

const char *sb_torch_dtype_name(sb_torch_dtype t); /* "float32", ... */
const char *sb_torch_kind_name(sb_torch_kind k);   /* "dict", "tensor", ... */

#endif
