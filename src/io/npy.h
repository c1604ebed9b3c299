/* NumPy .npy arrays: the header (format versions 1, 2 and 3: 'descr',
 * 'fortran_order', 'shape'), numeric payloads of int16/int32/int64/
 * float32/float64 in either byte order converted to int16 or float, object
 * arrays ('|O', a pickle read by io/pickle), and the ndarrays found inside
 * such pickles (numpy.core.multiarray._reconstruct + BUILD state).
 * defines: sb_npy_dtype, sb_npy, sb_npy_parse, sb_npy_to_i16,
 *          sb_npy_to_f32, sb_npy_load_objects, sb_npy_from_pickle,
 *          sb_npy_pickle_globals, sb_npy_dtype_name */
#ifndef SB_IO_NPY_H
#define SB_IO_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "io/pickle.h"

enum { SB_NPY_MAX_DIMS = 8 };

typedef enum sb_npy_dtype {
    SB_NPY_I16, SB_NPY_I32, SB_NPY_I64, SB_NPY_F32, SB_NPY_F64,
    SB_NPY_OBJECT /* payload is a pickle */
} sb_npy_dtype;

/* A view of an array: data points into the caller's buffer (or pickle). */
typedef struct sb_npy {
    sb_npy_dtype dtype;
    int big_endian;
    int fortran_order;
    int ndim;
    int64_t shape[SB_NPY_MAX_DIMS];
    size_t count;              /* product of shape */
    const unsigned char *data; /* count elements; for OBJECT the pickle */
    size_t data_size;          /* bytes at data */
} sb_npy;

/* Parses a whole .npy file held in memory; `label` names it in messages
 * (e.g. "aaron_sheep.npz:train.npy"). Numeric payloads must hold exactly
 * count elements; an unsupported dtype is an SB_ERR_FORMAT naming it. */
int sb_npy_parse(sb_npy *a, const char *label, const void *buf, size_t size);

/* Converts all elements to int16 (out holds a->count). Floats are rounded
 * to nearest (ties to even, as numpy.round); *n_rounded counts elements
 * that changed, may be NULL. Values outside int16, NaN and inf are errors. */
int sb_npy_to_i16(const sb_npy *a, const char *label, int16_t *out, size_t *n_rounded);
/* Converts all elements to float. */
int sb_npy_to_f32(const sb_npy *a, const char *label, float *out);

/* Reads the pickle of an OBJECT array into *doc and returns its elements
 * (a->count values) in *items, which lives in *doc. Only the numpy globals
 * of sb_npy_pickle_globals may appear. The caller frees *doc with
 * sb_pickle_free. */
int sb_npy_load_objects(const sb_npy *a, const char *label, sb_pickle_doc **doc,
                        sb_pickle_value *const **items);

/* Interprets a pickled numpy.ndarray (as np.save writes inside object
 * arrays) as a numeric array view whose data lives in doc. */
int sb_npy_from_pickle(sb_npy *a, sb_pickle_doc *doc, const sb_pickle_value *v, const char *label);

/* The globals numpy object-array pickles need (numpy.core and numpy._core
 * names, and _codecs.encode for bytes written by Python 3 at protocol 2). */
extern const sb_pickle_global sb_npy_pickle_globals[];
extern const size_t sb_npy_n_pickle_globals;

/* "int16", "float64", "object". */
const char *sb_npy_dtype_name(sb_npy_dtype dtype);

#endif
