/* The Sketch-BERT dataset over the memmap layout, as the original
 * QuickDrawMemMapDataset: the sum file picks the classes (in its order, at
 * most max_cls_cache, only those in cls_limit_path when given), each class
 * gives at most each_max_samples sketches of the split (and, when
 * input_is_complete, only sketches shorter than max_length points). Each
 * sketch goes through the transform and SGM mask (src/data/transform.h,
 * src/data/sgm_mask.h); leading task tokens are prepended like the
 * original: a retrieval row of -2s first, then a classification row of -1s.
 *
 * Batches come in a seeded shuffled order per epoch, built ahead by
 * loader_threads background threads (each one batch at a time). Masks and
 * triplet choices are keyed by (seed, step, sample index), so a resumed
 * run, or one with another number of threads, sees exactly the same
 * batches.
 *
 * Shapes (B batch, T max_length, K leading tokens, T_in = K + T):
 *   input (B, T_in, 5) masked stroke-5 with tokens; stroke (B, T, 5);
 *   mask (B, T, 5) 1 = keep; segment (B, T_in) int32; length_mask (B, T_in);
 *   label (B) int32 class index.
 * A triplet batch holds 3B sketches, interleaved: row 3j the anchor j, 3j + 1
 * its positive (same class), 3j + 2 its negative (another class). So a
 * data-parallel rank's triplets are one contiguous run of rows of the
 * step's global batch, and dropout, keyed by row position in the global
 * batch, masks each sketch as one process would.
 * defines: sb_dataset_config, sb_dataset, sb_batch, sb_dataset_open,
 *          sb_dataset_close, sb_dataset_read_ahead, sb_loader, sb_loader_open, sb_loader_next,
 *          sb_loader_open_shard, sb_loader_threads, sb_loader_close */
#ifndef SB_DATA_DATASET_H
#define SB_DATA_DATASET_H

#include <stdint.h>

#include "data/memmap.h"
#include "data/sgm_mask.h"
#include "data/transform.h"

typedef struct sb_dataset_config {
    const char *sum_path;       /* memmap_sum.txt */
    const char *offset_path;    /* offsets.sbidx; NULL: beside the sum file */
    int split;                  /* SB_SPLIT_* */
    int max_cls_cache;          /* <= 0: no limit */
    int each_max_samples;       /* <= 0: no limit */
    const char *cls_limit_path; /* NULL or "": every class */
    int input_is_complete;      /* drop sketches of max_length points or more */
    sb_transform_config transform;
    sb_mask_type mask_type;
    double mask_prob;           /* fraction kept, 0.85 */
    int apply_mask;             /* 0: mask all ones (evaluation) */
    int cls_token, rel_token;   /* leading tokens for sketchclsinput / sketchretrieval */
    int triplet;                /* batches of (anchor, positive, negative) */
    uint64_t seed;
    int loader_threads;         /* sb_loader's prefetch threads; <= 0: cores - 1, 1 to 4 */
    int read_ahead;             /* 0: on when the split's files exceed half the RAM; 1 on; -1 off.
                                   On: the files are mapped for random access (no read-around)
                                   and the loader asks for each batch's pages before building it */
} sb_dataset_config;

typedef struct sb_dataset sb_dataset;

int sb_dataset_open(sb_dataset **out, const sb_dataset_config *cfg);
void sb_dataset_close(sb_dataset *d);
uint32_t sb_dataset_size(const sb_dataset *d);
int sb_dataset_num_classes(const sb_dataset *d);
const char *sb_dataset_class_name(const sb_dataset *d, int cls);
/* Sketches skipped by input_is_complete. */
uint32_t sb_dataset_skipped(const sb_dataset *d);
/* The raw stroke-3 points of sample i (points into the mapped file). */
const int16_t *sb_dataset_points(const sb_dataset *d, uint32_t i, uint32_t *n, int *label);
/* With read_ahead on, starts reading the pages of these samples (async);
 * otherwise does nothing. */
void sb_dataset_read_ahead(const sb_dataset *d, const uint32_t *indices, int count);
int sb_dataset_reads_ahead(const sb_dataset *d); /* whether read_ahead is on */

typedef struct sb_batch {
    int size;     /* sketches in the batch: B, or 3B for triplets */
    int tokens;   /* K */
    int max_length;
    float *input, *stroke, *mask, *length_mask;
    int32_t *segment, *label;
    uint32_t *index; /* dataset index of each sketch */
    int offset;      /* data-parallel: row of the first sketch in the step's global batch (3 x the
                        first anchor's place for triplets); 0 with one rank */
    int global;      /* sketches (anchors) in the step's global batch; = size (anchors) with one rank */
    int32_t *scratch; /* T ints for the mask's index pools */
} sb_batch;

/* Fills `out` (allocated by sb_batch_alloc) with the given samples, masks
 * keyed by step. For triplet datasets, `indices` are the anchors. */
int sb_batch_alloc(sb_batch *b, const sb_dataset *d, int batch_size);
void sb_batch_free(sb_batch *b);
int sb_dataset_fill(const sb_dataset *d, const uint32_t *indices, int count, uint64_t step, sb_batch *out);

/* ---- loader: shuffled epochs, batches prefetched by worker threads */

typedef struct sb_loader sb_loader;

/* shuffle 0 keeps dataset order (evaluation). drop_last skips a final
 * short batch. The first batch served is for `start_step` (resume). */
int sb_loader_open(sb_loader **out, const sb_dataset *d, int batch_size, int shuffle, int drop_last,
                   uint64_t start_step);
/* One rank's share of data-parallel batches: step s's global batch is
 * ranks x batch_size sketches of the epoch's order (the same shuffle on
 * every rank), and `rank` gets its slice [rank x batch_size, + batch_size)
 * of it, so the ranks' slices of a step make up what one process with the
 * global batch would see. A short last batch fills the ranks in order: a
 * rank may get an empty batch (size 0). */
int sb_loader_open_shard(sb_loader **out, const sb_dataset *d, int batch_size, int ranks, int rank, int shuffle,
                         int drop_last, uint64_t start_step);
/* The next batch (valid until the next call); *epoch tells which epoch it
 * belongs to. Returns SB_OK, or an error from the worker. */
int sb_loader_next(sb_loader *l, const sb_batch **batch, uint64_t *step, uint64_t *epoch);
uint64_t sb_loader_batches_per_epoch(const sb_loader *l);
int sb_loader_threads(const sb_loader *l);
void sb_loader_close(sb_loader *l);

#endif
