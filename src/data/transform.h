/* The per-sketch transform of Sketch-BERT: int16 stroke-3 in, padded
 * stroke-5, segment ids and length mask out, exactly as the original
 * QuickDrawMemMapDataset.transform_stroke (avalonstrel/SketchBERT) with
 * stroke_type 'stroke-5'. Host code, no allocation: the caller owns every
 * array. T is max_length, n the number of stroke-3 points.
 *
 * Steps and the details checked against the original code:
 *  1. One all-zero point (0, 0, p = 0) is prepended: L_full = n + 1 points.
 *     Its p is 0, so in stroke-5 it is a pen-down point [0, 0, 1, 0, 0]
 *     (before normalisation; var_scale shifts its dx, dy like any point).
 *  2. length = min(n + 1, T); length_mask[0:length] = 1, the rest 0.
 *     (The original drops sketches with n >= T when input_is_complete is
 *     true; the shipped config has it false, so truncation does happen.)
 *  3. Segment ids are computed on the untruncated, unclipped sketch,
 *     before step 4: the points up to and including the first pen lift
 *     (p = 1), the prepended point among them, get 2, the points up to the
 *     next lift 3, and so on. Points after the last pen lift keep id 0 (the
 *     original's loop never assigns them; QuickDraw sketches end with a
 *     lift, so this is rare; reproduced). Padding rows (i >= n + 1) get 1.
 *     The original holds them as float; here they are int32.
 *  4. Truncate to T points, then clip dx, dy to [-limit, limit].
 *  5. Normalise dx, dy, in double precision as the original (float64):
 *     - SB_NORM_MAX_SCALE: bounds of the running sums of dx, dy over the
 *       `length` truncated, clipped points; min and max start at 0, so the
 *       origin is always inside. size = max - min, 0 becomes 1;
 *       d = d / size * max_scale_factor (that order of operations).
 *     - SB_NORM_VAR_SCALE: per axis (d - mean) / std over the `length`
 *       points, the prepended zero included; std is the population one
 *       (numpy's default, ddof 0); a zero std becomes 1.
 *     - SB_NORM_NONE: the original's 'global_scale', which it accepts but
 *       never applies: dx, dy stay as clipped.
 *  6. stroke-5 rows [dx, dy, 1 - p, p, 0] for i < length and padding rows
 *     [0, 0, 0, 0, 1] for length <= i < T; values are then rounded to
 *     float (the original keeps float64).
 * p must be 0 or 1 (QuickDraw's convention); anything else is rejected. */
#ifndef SB_DATA_TRANSFORM_H
#define SB_DATA_TRANSFORM_H

#include <stdint.h>

typedef enum sb_norm_type {
    SB_NORM_MAX_SCALE, /* 'max_scale' (the shipped config's choice) */
    SB_NORM_VAR_SCALE, /* 'var_scale' (the dataset class's default) */
    SB_NORM_NONE       /* 'global_scale': accepted by the original, a no-op */
} sb_norm_type;

typedef struct sb_transform_config {
    int max_length;          /* T, 250 in the original */
    double limit;            /* clip bound for dx, dy, 1000 */
    sb_norm_type normalization;
    double max_scale_factor; /* 10 */
} sb_transform_config;

/* The original's defaults: T 250, limit 1000, max_scale, factor 10. */
sb_transform_config sb_transform_config_default(void);

/* Parses "max_scale", "var_scale" or "global_scale". */
int sb_norm_type_parse(const char *name, sb_norm_type *out);

/* stroke3 is (n, 3) int16 row-major (dx, dy, p), n >= 0.
 * Outputs: stroke5 (T, 5) float, segment (T) int32, length_mask (T) float
 * (1 = real point, 0 = padding), *length = min(n + 1, T) (may be NULL).
 * Returns SB_ERR_INVALID for a bad config or argument, SB_ERR_FORMAT for a
 * point whose p is not 0 or 1; the outputs are then unspecified. */
int sb_transform_sketch(const sb_transform_config *cfg, const int16_t *stroke3, int n, float *stroke5,
                        int32_t *segment, float *length_mask, int *length);

#endif
