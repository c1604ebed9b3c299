/* safetensors files (the Hugging Face format): 8 bytes little-endian
 * header length N, N bytes of JSON
 *   {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]},
 *    "__metadata__": {"<key>": "<string value>"}}
 * (possibly padded with spaces), then the raw little-endian tensor bytes;
 * data_offsets are relative to the first byte after the header.
 *
 * The reader checks the whole header before handing out anything: a
 * bounded JSON parser (header at most 100 MB, nesting at most 4 deep),
 * known dtypes, offsets inside the file, sizes that match the shape, no
 * two tensors overlapping, no duplicate names. Every error is one line
 * naming the file and, where one is involved, the tensor. Reading converts
 * F32/F16/BF16/F64 to float and I64/I32 to int64.
 *
 * The writer collects tensors (copied) and metadata and writes the file
 * atomically (io/atomic_file.h): tensors in the order added, header padded
 * with spaces to a multiple of 8 bytes as the Python package does.
 *
 * Checksums: the writer stores in metadata SB_ST_CHECKSUM_KEY the CRC-32
 * (io/checksum.h) of the header (every other metadata key and value, and
 * each tensor's name, dtype, shape and offsets, in order) and then of each
 * tensor's bytes, in header order, as 8 hex digits separated by spaces.
 * sb_st_open verifies them when the key is present (files of other tools
 * lack it and open as before): a damaged file is refused naming the
 * tensor and its byte range, or the header.
 * defines: sb_st_dtype, sb_st_tensor, sb_st_file, sb_st_open, sb_st_close,
 *          sb_st_find, sb_st_meta, sb_st_read_f32, sb_st_read_i64,
 *          sb_st_writer, sb_st_writer_open, sb_st_writer_add,
 *          sb_st_writer_meta, sb_st_writer_commit, sb_st_writer_abort */
#ifndef SB_IO_SAFETENSORS_H
#define SB_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define SB_ST_MAX_DIMS 8
#define SB_ST_CHECKSUM_KEY "sketchbert_crc32"

/* Every dtype of the format; only some convert (see sb_st_read_*). */
typedef enum sb_st_dtype {
    SB_ST_BOOL, SB_ST_U8, SB_ST_I8, SB_ST_F8_E5M2, SB_ST_F8_E4M3, SB_ST_I16, SB_ST_U16, SB_ST_F16,
    SB_ST_BF16, SB_ST_I32, SB_ST_U32, SB_ST_F32, SB_ST_F64, SB_ST_I64, SB_ST_U64, SB_ST_N_DTYPES
} sb_st_dtype;

/* "F32" and friends, and their element sizes in bytes. */
const char *sb_st_dtype_name(sb_st_dtype t);
size_t sb_st_dtype_size(sb_st_dtype t);

typedef struct sb_st_tensor {
    char *name;
    sb_st_dtype dtype;
    int ndim;
    int64_t shape[SB_ST_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end; /* byte range in the data section */
} sb_st_tensor;

typedef struct sb_st_file {
    char *path;
    int fd;
    uint64_t data_start; /* 8 + header length */
    int n_tensors;
    sb_st_tensor *tensors; /* in header order */
    int n_meta;
    char **meta_keys, **meta_values;
    int checksummed; /* 1: had SB_ST_CHECKSUM_KEY and it matched */
} sb_st_file;

/* Opens and validates path, verifying its checksums if it has them. */
int sb_st_open(sb_st_file **out, const char *path);
void sb_st_close(sb_st_file *f);

/* The tensor or metadata value of that name; NULL when absent. */
const sb_st_tensor *sb_st_find(const sb_st_file *f, const char *name);
const char *sb_st_meta(const sb_st_file *f, const char *key);

/* Reads tensor t (numel elements) into dst, converting F32, F16, BF16 and
 * F64 to float, or I64 and I32 to int64; other dtypes are an error naming
 * the tensor. */
int sb_st_read_f32(const sb_st_file *f, const sb_st_tensor *t, float *dst);
int sb_st_read_i64(const sb_st_file *f, const sb_st_tensor *t, int64_t *dst);

/* ---- writer */

typedef struct sb_st_writer sb_st_writer;

int sb_st_writer_open(sb_st_writer **out, const char *path);
/* Adds a tensor; data (numel * element size bytes, host order, written
 * little-endian) is copied. dtype is F32, I32 or I64. */
int sb_st_writer_add(sb_st_writer *w, const char *name, sb_st_dtype dtype, int ndim, const int64_t *shape,
                     const void *data);
/* Adds (or replaces) a "__metadata__" entry. */
int sb_st_writer_meta(sb_st_writer *w, const char *key, const char *value);
/* Writes the file atomically and frees w (also on failure). */
int sb_st_writer_commit(sb_st_writer *w);
/* Frees w without writing anything (NULL is fine). */
void sb_st_writer_abort(sb_st_writer *w);

#endif
