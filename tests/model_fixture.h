/* Shared by the model tests: a batch of synthetic sketches made by the data
 * path (sb_transform_sketch, sb_sgm_mask, task tokens as the dataset puts
 * them), and the record file format of the PyTorch fixture
 * (tools/torch_reference.py documents it):
 *   "SBG1", then records of u32 name length, name, u32 dtype (0 f32,
 *   1 i32), u32 ndim, u32 shape[ndim], the data; little-endian.
 * defines: mf_make_batch, mf_free_batch, mf_record, mf_file, mf_load,
 *          mf_find, mf_free, mf_write, mf_write_batch */
#ifndef SB_TEST_MODEL_FIXTURE_H
#define SB_TEST_MODEL_FIXTURE_H

#include <stdint.h>
#include <stdio.h>

#include "data/dataset.h"

/* `size` sketches of max_length T with K = cls_token + rel_token leading
 * tokens (retrieval first); lengths vary around T (some padded, some
 * truncated); SGM 'task' masks with mask_prob 0.85; labels in [0, classes). */
int mf_make_batch(sb_batch *b, int size, int T, int cls_token, int rel_token, int classes, uint64_t seed);
void mf_free_batch(sb_batch *b);

typedef struct mf_record {
    char name[128];
    int dtype, ndim, shape[4];
    size_t n;
    void *data;
} mf_record;

typedef struct mf_file {
    mf_record *recs;
    int n;
} mf_file;

/* Reads a whole record file; errors go to stderr, return non-zero. */
int mf_load(const char *path, mf_file *f);
/* The record called name with n elements, or NULL (with a message). */
const mf_record *mf_find(const mf_file *f, const char *name, size_t n);
void mf_free(mf_file *f);

int mf_write(FILE *out, const char *name, int dtype, int ndim, const int *shape, const void *data);
/* The batch's input, stroke, mask, length_mask and label as records. */
int mf_write_batch(FILE *out, const sb_batch *b);

#endif
