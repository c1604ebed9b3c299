/* SGM masks: choose which points' axes and pen states the model must
 * restore (see sgm_mask.h for the rules taken from the original). */
#include "data/sgm_mask.h"

#include <string.h>

#include "data/rng.h"
#include "runtime/error.h"

int sb_mask_type_parse(const char *name, sb_mask_type *out) {
    static const struct { const char *name; sb_mask_type type; } names[] = {
        {"task", SB_MASK_TASK}, {"single", SB_MASK_SINGLE}, {"full", SB_MASK_FULL}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (name && strcmp(name, names[i].name) == 0) {
            *out = names[i].type;
            return SB_OK;
        }
    return sb_fail(SB_ERR_INVALID, "mask_task_type '%s' is not task, single or full", name ? name : "(null)");
}

int sb_sgm_axis_start(const float *stroke5, int i) {
    return i == 0 || (stroke5[(size_t)i * 5 + 2] - stroke5[(size_t)(i - 1) * 5 + 2] == 1.0f);
}

/* The original's count: int(count * (1 - mask_prob)) in float64. */
static int mask_count(int count, double mask_prob) { return (int)((double)count * (1.0 - mask_prob)); }

/* Masks columns [c0, c1) of k random rows among pool[0..count). */
static void mask_random(sb_rng *r, int32_t *pool, int count, double mask_prob, float *mask, int c0, int c1) {
    int k = mask_count(count, mask_prob);
    if (k == 0) return;
    sb_rng_choose(r, pool, (size_t)count, (size_t)k);
    for (int j = 0; j < k; j++)
        for (int c = c0; c < c1; c++) mask[(size_t)pool[j] * 5 + c] = 0.0f;
}

int sb_sgm_mask(sb_mask_type type, double mask_prob, const float *stroke5, int max_length, int length,
                uint64_t seed, uint64_t step, uint64_t index, float *mask, int32_t *scratch) {
    if (max_length < 1 || length < 1 || length > max_length)
        return sb_fail(SB_ERR_INVALID, "sgm_mask: length %d must be in [1, max_length %d]", length, max_length);
    if (!(mask_prob >= 0.0 && mask_prob <= 1.0))
        return sb_fail(SB_ERR_INVALID, "sgm_mask: mask_prob %g must be in [0, 1]", mask_prob);
    if (type != SB_MASK_TASK && type != SB_MASK_SINGLE && type != SB_MASK_FULL)
        return sb_fail(SB_ERR_INVALID, "sgm_mask: unknown mask type %d", (int)type);
    if (!stroke5 || !mask || !scratch) return sb_fail(SB_ERR_INVALID, "sgm_mask: an array is NULL");

    for (size_t i = 0; i < (size_t)max_length * 5; i++) mask[i] = 1.0f;
    sb_rng r;
    sb_rng_seed_key(&r, seed, step, index);

    if (type == SB_MASK_SINGLE) {
        for (int i = 0; i < length; i++) scratch[i] = i;
        mask_random(&r, scratch, length, mask_prob, mask, 0, 5);
    } else if (type == SB_MASK_TASK) {
        for (int start = 0; start <= 1; start++) { /* the original's order: others, then starts */
            int count = 0;
            for (int i = 0; i < length; i++)
                if (sb_sgm_axis_start(stroke5, i) == start) scratch[count++] = i;
            mask_random(&r, scratch, count, mask_prob, mask, 0, 2);
        }
        for (int c = 2; c < 5; c++) {
            int count = 0;
            for (int i = 0; i < max_length; i++)
                if (stroke5[(size_t)i * 5 + c] == 1.0f) scratch[count++] = i;
            mask_random(&r, scratch, count, mask_prob, mask, 2, 5);
        }
        for (int c = 2; c < 5; c++) mask[(size_t)(length - 1) * 5 + c] = 0.0f;
    }
    return SB_OK;
}
