/* sketchbert/api.h: using a trained Sketch-BERT model (included by
 * sketchbert/sketchbert.h; include that one). Opaque handles and plain
 * functions: a context (one OpenCL device), a model loaded from a training
 * checkpoint, a batch of sketches, a retrieval index. docs/api.md has
 * examples.
 *
 * Threads: no handle is locked internally. A context and every model and
 * index made with it must be used by one thread at a time (they share the
 * device queue and its kernels); separate contexts may be used from
 * separate threads at once. An sb_sketches set may be read by several calls
 * at once as long as no thread adds to it. Error messages (sb_last_error)
 * are per thread.
 *
 * Sketches are stroke-3 points (dx, dy, p), p = 1 when the pen lifts after
 * the point, as in QuickDraw's sketch-rnn files. Every call transforms them
 * exactly as training does (a leading zero point, clipping, the config's
 * normalisation, stroke-5, padding to max_length), with no SGM mask unless
 * sb_sketches_set_mask asks for one. A sketch of n points uses n + 1 rows,
 * so points past max_length - 1 are cut off, as in training.
 *
 * Arrays are row-major; "count" is sb_sketches_count(s). */
#ifndef SKETCHBERT_API_H
#define SKETCHBERT_API_H

#include <stdint.h>

#include "sketchbert/sketchbert.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sb_context sb_context;           /* one OpenCL device */
typedef struct sb_model_handle sb_model_handle; /* a loaded checkpoint, ready for inference */
typedef struct sb_sketches sb_sketches;         /* a batch of stroke-3 sketches */
typedef struct sb_index sb_index;               /* retrieval features of a collection */

/* ---- context */

/* device: an index or a case-insensitive substring of "platform device"
 * (`sketchbert devices` lists them); NULL or "" picks $SKETCHBERT_DEVICE,
 * else the first GPU, else the first CPU. */
sb_status sb_context_create(sb_context **out, const char *device);
/* Destroy models and indexes of the context first. NULL is fine. */
void sb_context_destroy(sb_context *ctx);
/* "platform: device" of the context. */
const char *sb_context_device(const sb_context *ctx);

/* ---- model */

/* Task heads a checkpoint may hold (bits). */
typedef enum sb_head {
    SB_HEAD_MASKREC = 1,  /* 'maskrec': gestalt completion */
    SB_HEAD_CLASSIFY = 2, /* 'sketchclsinput': class scores */
    SB_HEAD_RETRIEVAL = 4 /* 'sketchretrieval': retrieval features */
} sb_head;

/* Loads a checkpoint written by `sketchbert train` (or converted by
 * `sketchbert import-torch`): the config YAML from its metadata builds the
 * encoder and every head whose weights the file holds, for batches of up to
 * max_batch sketches (calls split larger sets). Dropout is off. */
sb_status sb_model_open(sb_context *ctx, const char *checkpoint, int max_batch, sb_model_handle **out);
void sb_model_close(sb_model_handle *m); /* NULL is fine */

/* SB_HEAD_* bits of the heads the checkpoint has. */
unsigned sb_model_heads(const sb_model_handle *m);
/* Fails naming the heads the model has when `head` is not among them,
 * e.g. "m.safetensors has no sketchclsinput head (it has: maskrec)". */
sb_status sb_model_require(const sb_model_handle *m, sb_head head);
/* T: rows per sketch, the leading zero point included. */
int sb_model_max_length(const sb_model_handle *m);
int sb_model_max_batch(const sb_model_handle *m);
/* H: width of the encoder's hidden states (sb_encode's feature size). */
int sb_model_hidden_size(const sb_model_handle *m);
/* Size of the retrieval features (rel_feat_dim); 0 without that head. */
int sb_model_retrieval_dim(const sb_model_handle *m);

/* Classes of the classification head (0 without it). Names come from, in
 * order: sb_model_set_class_names; the checkpoint's "class_names" metadata
 * (one a line; `sketchbert train` writes it); for older checkpoints the
 * training data's sum file named by the checkpoint's config (sum_path,
 * with its max_cls_cache and cls_limit_path) when it can be read; else
 * "class_<i>". */
int sb_model_num_classes(const sb_model_handle *m);
const char *sb_model_class_name(const sb_model_handle *m, int cls);
/* Where the class names came from. */
typedef enum sb_class_source {
    SB_CLASSES_NONE = 0,      /* no classification head */
    SB_CLASSES_CHECKPOINT,    /* the checkpoint's "class_names" metadata */
    SB_CLASSES_TRAINING_DATA, /* the sum file named by the checkpoint's config */
    SB_CLASSES_FILE,          /* sb_model_set_class_names */
    SB_CLASSES_GENERIC        /* none found: "class_<i>" */
} sb_class_source;
sb_class_source sb_model_class_source(const sb_model_handle *m);
/* Whether two labels name the same class: equal once spaces and
 * underscores count as the same character (QuickDraw's word "alarm clock"
 * and the file and class name "alarm_clock"). */
int sb_class_names_match(const char *a, const char *b);
/* Index of a class name (sb_class_names_match); -1 (and an error message
 * listing the classes) when the model has no such class. */
int sb_model_class_index(const sb_model_handle *m, const char *name);
/* Names from a file: a memmap_sum.txt (lines "<dir>/<class>.dat<TAB>n") or
 * one name a line. Extra names are ignored; missing ones stay "class_<i>". */
sb_status sb_model_set_class_names(sb_model_handle *m, const char *path);

/* 32 hex digits identifying what retrieval features depend on: the
 * encoder's and retrieval head's weights, max_length and the transform
 * settings. Indexes record it. */
const char *sb_model_fingerprint(const sb_model_handle *m);

/* ---- sketches */

sb_status sb_sketches_create(sb_sketches **out);
void sb_sketches_destroy(sb_sketches *s); /* NULL is fine */
/* Appends one sketch of n >= 1 points, (n, 3): dx, dy, p with p 0 or 1.
 * Float coordinates are rounded to integers, as `sketchbert prepare`
 * stores float data; values outside int16 are an error. label may be NULL. */
sb_status sb_sketches_add_i16(sb_sketches *s, const int16_t *points, int n, const char *label);
sb_status sb_sketches_add_f32(sb_sketches *s, const float *points, int n, const char *label);
/* Appends sketches read from a file, at most `limit` (<= 0: all):
 * - "*.npz" (sketch-rnn): split "train", "valid" or "test" (NULL: test);
 *   label: the file name without ".npz";
 * - "*.ndjson" (QuickDraw, simplified or raw drawings): label: "word";
 *   raw drawings are simplified first as `sketchbert prepare --simplify`
 *   does (sb_sketches_set_simplify);
 * - a directory of `sketchbert prepare` output (memmap_sum.txt,
 *   offsets.sbidx): every class of the split (NULL: test) in the sum
 *   file's order, at most `limit` per class; label: the class;
 * - "*.svg" (TU-Berlin), or a folder of them, or a folder of class folders
 *   of them (at most `limit` per folder): Beziers flattened and the drawing
 *   simplified as `sketchbert prepare --simplify` does; label: the name of
 *   the file's folder.
 * Sketches with no points are skipped and counted (sb_sketches_skipped). */
sb_status sb_sketches_load(sb_sketches *s, const char *path, const char *split, int limit);

/* What sb_sketches_load does with QuickDraw ndjson drawings. Models are
 * trained on Google's simplified drawings (aligned, scaled to 0..255,
 * resampled, Ramer-Douglas-Peucker); raw ones (screen coordinates, dense
 * points, time stamps) score like noise unless simplified the same way. */
typedef enum sb_simplify {
    SB_SIMPLIFY_AUTO = 0, /* the default: simplify the drawings that look raw */
    SB_SIMPLIFY_ALL = 1,  /* simplify every drawing */
    SB_SIMPLIFY_NONE = 2  /* use every drawing as it is */
} sb_simplify;
void sb_sketches_set_simplify(sb_sketches *s, sb_simplify mode);

/* Counts over the ndjson drawings sb_sketches_load has read into s: how
 * many looked raw, by sign (a drawing may show several), and how many were
 * simplified. */
typedef struct sb_raw_report {
    int drawings;   /* ndjson drawings read (with points) */
    int raw;        /* drawings with at least one sign below */
    int timed;      /* a time array per stroke (raw ndjson files) */
    int fractional; /* a coordinate that is not an integer */
    int range;      /* a coordinate outside 0..255 */
    int dense;      /* 20 points or more, over 40 per 100 px of path at 0..255 scale */
    int simplified; /* drawings simplified before use */
} sb_raw_report;
void sb_sketches_raw_report(const sb_sketches *s, sb_raw_report *out);

int sb_sketches_count(const sb_sketches *s);
int sb_sketches_skipped(const sb_sketches *s);
/* The points of sketch i ((n, 3) int16) and its label ("" when none). */
const int16_t *sb_sketches_points(const sb_sketches *s, int i, int *n);
const char *sb_sketches_label(const sb_sketches *s, int i);
/* Sketches longer than the model takes (n + 1 > max_length): they are cut
 * to max_length - 1 points, as training does. */
int sb_sketches_truncated(const sb_sketches *s, const sb_model_handle *m);
/* enable != 0: every call SGM-masks the inputs as training does (the
 * checkpoint config's mask_task_type and mask_prob), keyed by seed and the
 * sketch's position; 0 (the default): no mask. */
void sb_sketches_set_mask(sb_sketches *s, int enable, uint64_t seed);

/* ---- features and classes */

typedef enum sb_pool {
    SB_POOL_MEAN = 0, /* mean of the final hidden states of the sketch's real
                         rows (leading zero point included, task tokens and
                         padding excluded) */
    SB_POOL_FIRST = 1 /* the first row: the retrieval token when the model has
                         one, else the classification token, else the
                         leading zero point */
} sb_pool;

/* Encoder features: out is (count, H), H = sb_model_hidden_size. */
sb_status sb_encode(sb_model_handle *m, const sb_sketches *s, sb_pool pool, float *out);
/* Classification logits: out is (count, C), C = sb_model_num_classes. */
sb_status sb_class_logits(sb_model_handle *m, const sb_sketches *s, float *out);
/* The k best classes of each sketch, best first: classes and probs are
 * (count, k): class index and softmax probability (ties: lower index
 * first). k is at most C. */
sb_status sb_classify(sb_model_handle *m, const sb_sketches *s, int k, int *classes, float *probs);
/* Retrieval features: out is (count, D), D = sb_model_retrieval_dim. */
sb_status sb_retrieval_features(sb_model_handle *m, const sb_sketches *s, float *out);

/* ---- retrieval index: features of a collection, Euclidean nearest */

/* An empty index for m's retrieval features. */
sb_status sb_index_create(const sb_model_handle *m, sb_index **out);
/* An empty index for m's encoder features pooled by `pool` (as sb_encode),
 * e.g. for a model without a retrieval head. Its fingerprint is a hash of
 * the model's and the pooling, so sb_index_load knows which features a
 * file holds and an index is only ever queried with the features it has. */
sb_status sb_index_create_encoder(const sb_model_handle *m, sb_pool pool, sb_index **out);
/* The features idx holds: "retrieval", "encoder mean" or "encoder first". */
const char *sb_index_features(const sb_index *idx);
/* Adds every sketch of s (its label kept) with m, which must be the model
 * the index is for (same fingerprint). */
sb_status sb_index_add(sb_index *idx, sb_model_handle *m, const sb_sketches *s);
void sb_index_destroy(sb_index *idx); /* NULL is fine */
int sb_index_size(const sb_index *idx);
const char *sb_index_label(const sb_index *idx, int item);
/* The points of an item as added ((n, 3) int16); NULL past the end. */
const int16_t *sb_index_points(const sb_index *idx, int item, int *n);
/* The file holds the model fingerprint, the features, the labels and the
 * sketches; written atomically. Loading refuses an index made by another model. */
sb_status sb_index_save(const sb_index *idx, const char *path);
sb_status sb_index_load(const sb_model_handle *m, const char *path, sb_index **out);
/* For each sketch of s the k nearest items, nearest first (ties: lower
 * item first): items and dists are (count, k), Euclidean distances of the
 * features the index holds. With fewer than k items the rest are -1 and
 * INFINITY. */
sb_status sb_index_query(const sb_index *idx, sb_model_handle *m, const sb_sketches *s, int k, int *items,
                         float *dists);

/* ---- gestalt completion (maskrec head) */

/* Masks points of sketch i of s (all five stroke-5 columns) and predicts
 * them. Points to mask: the n_points indices in `points` (0-based, each
 * < min(n, max_length - 1)), or, with points == NULL, a random
 * floor(share * n') of the n' = min(n, max_length - 1) usable points (at
 * least one; 0 < share <= 1) chosen by seed. Outputs, for the sketch's n
 * points (caller-allocated; any may be NULL):
 *   masked (n): 1 where a point was masked, else 0;
 *   completed (n, 3): the sketch with each masked point replaced by the
 *     prediction: dx, dy in the sketch's units (the normalisation undone)
 *     and p = 1 when the predicted pen state is a lift or the end;
 *   pen (n): the predicted pen state of masked points (0 pen down, 1 pen
 *     lifts, 2 end of sketch), -1 elsewhere. */
sb_status sb_complete(sb_model_handle *m, const sb_sketches *s, int i, const int *points, int n_points, double share,
                      uint64_t seed, unsigned char *masked, float *completed, int *pen);

#ifdef __cplusplus
}
#endif
#endif
