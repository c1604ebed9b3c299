/* Sketch Gestalt Model (SGM) masks, as the original
 * QuickDrawMemMapDataset.generate_mask (avalonstrel/SketchBERT). A mask is
 * (T, 5) float, 1 = keep, 0 = masked; the model input is stroke5 * mask.
 * The random choices come from sb_rng keyed by (seed, step, index), so a
 * mask depends only on its key and the sketch, not on call order.
 *
 * Counts use the original's arithmetic: k = (int)(count * (1.0 - mask_prob))
 * in double precision (truncation), so e.g. 10 points with mask_prob 0.9
 * give k = 0, because 1.0 - 0.9 is slightly below 0.1. A group with k = 0
 * is skipped.
 *
 * SB_MASK_TASK ('task'):
 *  - axis, columns 0-1: the `length` real points are split into stroke
 *    starts (point 0, and each point i >= 1 whose p1 (column 2) is 1 while
 *    point i-1's is 0, i.e. the point after a pen lift) and the others;
 *    in each group k random points get m[i, 0:2] = 0. Padding is in
 *    neither group.
 *  - pen state, columns 2-4: for each column c in 2, 3, 4, the group is
 *    every row i < T with stroke5[i, c] == 1, padding rows included, so
 *    the p3 group is exactly the padding rows (the original does this;
 *    reproduced): k random rows of the group get m[i, 2:5] = 0.
 *  - finally m[length - 1, 2:5] = 0 always (the last real point).
 *  Draw order: axis others, axis starts, p1, p2, p3.
 * SB_MASK_SINGLE ('single'): k = (int)(length * (1 - mask_prob)) random
 *  real points get all 5 columns masked.
 * SB_MASK_FULL ('full'): the original's docstring says "mask every
 *  dimension randomly", but its generate_mask has no branch for it: the
 *  mask is all ones (nothing masked). Reproduced.
 * defines: sb_mask_type, sb_mask_type_parse, sb_sgm_mask, sb_sgm_axis_start */
#ifndef SB_DATA_SGM_MASK_H
#define SB_DATA_SGM_MASK_H

#include <stdint.h>

typedef enum sb_mask_type { SB_MASK_TASK, SB_MASK_SINGLE, SB_MASK_FULL } sb_mask_type;

/* Parses "task", "single" or "full". */
int sb_mask_type_parse(const char *name, sb_mask_type *out);

/* 1 when real point i (< length) starts a stroke in the axis grouping
 * above, else 0. stroke5 is (T, 5). */
int sb_sgm_axis_start(const float *stroke5, int i);

/* stroke5 is (T, 5) from sb_transform_sketch, length its real point count
 * (1 <= length <= T), mask_prob in [0, 1] (the fraction kept; the config's
 * 0.85 masks 15%). mask is (T, 5) output; scratch holds T int32 (index
 * pools). Deterministic for (seed, step, index). */
int sb_sgm_mask(sb_mask_type type, double mask_prob, const float *stroke5, int max_length, int length,
                uint64_t seed, uint64_t step, uint64_t index, float *mask, int32_t *scratch);

#endif
