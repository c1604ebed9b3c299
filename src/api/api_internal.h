/* What the public handles of sketchbert/api.h hold, shared by the files of
 * src/api/ (one per concern: context, sketches, model, inference, index,
 * completion). Not installed.
 * defines: struct sb_context, struct sb_sketches, struct sb_model_handle,
 *          struct sb_index, api_fill_batch, api_forward, api_denorm,
 *          api_fnv */
#ifndef SB_API_INTERNAL_H
#define SB_API_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "io/config.h"
#include "model/model.h"
#include "runtime/runtime.h"
#include "sketchbert/sketchbert.h"

struct sb_context {
    sb_runtime *rt;
    char device[300]; /* "platform: device" */
};

/* Sketches: every sketch's points in one growing block. */
struct sb_sketches {
    int count, cap;
    int16_t *data;      /* (points, 3) of all sketches */
    size_t n_data, cap_data; /* int16 values */
    size_t *start;      /* first value of sketch i in data */
    int *n;             /* points of sketch i */
    char **label;       /* strdup'd; "" when none */
    int skipped;        /* empty sketches left out by sb_sketches_load */
    sb_simplify simplify;   /* ndjson drawings: which to simplify */
    sb_raw_report raw;      /* what the ndjson drawings looked like */
    int mask;           /* SGM-mask the inputs */
    uint64_t mask_seed;
};

struct sb_model_handle {
    sb_context *ctx;
    char *path;
    sb_config cfg;                /* the checkpoint's config */
    sb_model_config mc;           /* the model built: heads as in the file */
    sb_transform_config transform;
    sb_mask_type mask_type;
    unsigned heads;               /* SB_HEAD_* */
    int K;                        /* leading task tokens */
    int max_batch;
    sb_model *model;
    sb_batch batch;               /* host side of one chunk */
    char **class_names;           /* cls_dim names */
    sb_class_source class_source;
    char fingerprint[33];
};

struct sb_index {
    char fingerprint[33];
    int features;                 /* retrieval or pooled encoder (api/index.c) */
    int dim, n, cap;
    float *feat;                  /* (n, dim) */
    char **label;
    sb_sketches *sk;              /* the items' points (their labels are in label) */
};

/* Row r of m->batch from sketch i of s: transform, optional mask (mask
 * NULL: s's SGM choice; else (T, 5) given), task tokens. */
int api_fill_batch(sb_model_handle *m, const sb_sketches *s, int i, int r, const float *mask);

/* Fills m->batch with sketches first..first+count-1 of s (count <=
 * max_batch), or of order[first..] when order is not NULL, and runs the
 * model without loss, dropout off. */
int api_forward(sb_model_handle *m, const sb_sketches *s, const int *order, int first, int count);

/* Per axis a, normalised value v -> scale[a] * v + shift[a]: the inverse
 * of sb_transform_sketch's normalisation of points (n, 3) over its first
 * `length` rows (the prepended zero point and length - 1 clipped points). */
void api_denorm(const sb_model_handle *m, const int16_t *points, int length, double scale[2], double shift[2]);

/* 64-bit FNV-1a over bytes, continuing from h. */
uint64_t api_fnv(uint64_t h, const void *data, size_t size);

#endif
