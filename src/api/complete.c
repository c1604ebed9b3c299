/* Gestalt completion with the maskrec head: mask points of one sketch
 * (all five stroke-5 columns, like the 'single' SGM mask), run the model,
 * and turn the predictions of the masked rows back into stroke-3 points in
 * the sketch's own units by undoing the transform's normalisation.
 * Shapes: T rows (max_length), row j + 1 holds stroke-3 point j (row 0 is
 * the prepended zero point). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "data/rng.h"

void api_denorm(const sb_model_handle *m, const int16_t *pts, int length, double scale[2], double shift[2]) {
    const sb_transform_config *tc = &m->transform;
    for (int a = 0; a < 2; a++) {
        double sum = 0, lo = 0, hi = 0, sum2 = 0;
        /* rows 1..length-1 are points 0..length-2; row 0 adds 0 */
        for (int r = 1; r < length; r++) {
            double d = pts[3 * (r - 1) + a];
            d = d < -tc->limit ? -tc->limit : d > tc->limit ? tc->limit : d;
            sum += d, sum2 += d * d;
            lo = sum < lo ? sum : lo, hi = sum > hi ? sum : hi;
        }
        scale[a] = 1, shift[a] = 0;
        if (tc->normalization == SB_NORM_MAX_SCALE) {
            double size = hi - lo;
            scale[a] = (size == 0 ? 1 : size) / tc->max_scale_factor;
        } else if (tc->normalization == SB_NORM_VAR_SCALE) {
            double mean = sum / length, var = sum2 / length - mean * mean;
            double sd = var > 0 ? sqrt(var) : 0;
            scale[a] = sd == 0 ? 1 : sd, shift[a] = mean;
        }
    }
}

/* The points to mask as 0/1 flags over the usable ones. */
static int pick(const sb_sketches *s, int i, int usable, const int *points, int n_points, double share, uint64_t seed,
                unsigned char *flag) {
    memset(flag, 0, (size_t)usable);
    if (points) {
        if (n_points < 1) return sb_fail(SB_ERR_INVALID, "sb_complete: no points to mask");
        for (int k = 0; k < n_points; k++) {
            if (points[k] < 0 || points[k] >= s->n[i])
                return sb_fail(SB_ERR_INVALID, "sb_complete: sketch %d has %d points, no point %d", i, s->n[i], points[k]);
            if (points[k] >= usable)
                return sb_fail(SB_ERR_INVALID, "sb_complete: point %d of sketch %d is cut off (the model takes %d points)",
                               points[k], i, usable);
            flag[points[k]] = 1;
        }
        return 0;
    }
    if (!(share > 0 && share <= 1)) return sb_fail(SB_ERR_INVALID, "sb_complete: share %g is outside (0, 1]", share);
    int k = (int)floor(share * usable);
    k = k < 1 ? 1 : k;
    int32_t *pool = malloc(sizeof(int32_t) * (size_t)usable);
    if (!pool) return sb_fail(SB_ERR_MEMORY, "sb_complete: out of host memory");
    for (int j = 0; j < usable; j++) pool[j] = j;
    sb_rng r;
    sb_rng_seed_key(&r, seed, 0x636f6d70ull /* "comp" */, (uint64_t)i);
    sb_rng_choose(&r, pool, (size_t)usable, (size_t)k);
    for (int j = 0; j < k; j++) flag[pool[j]] = 1;
    free(pool);
    return 0;
}

sb_status sb_complete(sb_model_handle *m, const sb_sketches *s, int i, const int *points, int n_points, double share,
                      uint64_t seed, unsigned char *masked, float *completed, int *pen) {
    if (!m || !s) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_complete: NULL argument");
    SB_TRY(sb_model_require(m, SB_HEAD_MASKREC));
    if (i < 0 || i >= s->count)
        return (sb_status)sb_fail(SB_ERR_INVALID, "sb_complete: no sketch %d (the set has %d)", i, s->count);
    const int T = m->mc.max_length, n = s->n[i], usable = n < T - 1 ? n : T - 1, length = usable + 1;
    const int16_t *pts = s->data + s->start[i];
    unsigned char *flag = malloc((size_t)usable);
    float *mask = malloc(sizeof(float) * (size_t)T * 5), *rec = malloc(sizeof(float) * (size_t)T * 5);
    int rc = flag && mask && rec ? 0 : sb_fail(SB_ERR_MEMORY, "sb_complete: out of host memory");
    if (!rc) rc = pick(s, i, usable, points, n_points, share, seed, flag);
    if (!rc) {
        for (int k = 0; k < T * 5; k++) mask[k] = 1.0f;
        for (int j = 0; j < usable; j++)
            if (flag[j]) memset(mask + 5 * (size_t)(j + 1), 0, 5 * sizeof(float));
        rc = api_fill_batch(m, s, i, 0, mask);
    }
    if (!rc) {
        m->batch.size = 1;
        rc = sb_model_forward(m->model, &m->batch, 0, 0, 0, 0);
    }
    if (!rc) rc = sb_tensor_read(m->ctx->rt, sb_model_rec_output(m->model), rec); // (1, T, 5)
    if (!rc) {
        double scale[2], shift[2];
        api_denorm(m, pts, length, scale, shift);
        for (int j = 0; j < n; j++) {
            /* Points past the model's length (cut, as in training) are kept
             * as they are; rec holds rows for the first usable points only. */
            int on = j < usable && flag[j];
            const float *y = on ? rec + 5 * (size_t)(j + 1) : NULL;
            int state = !on ? 0 : y[3] > y[2] ? (y[4] > y[3] ? 2 : 1) : (y[4] > y[2] ? 2 : 0); /* argmax, lower on ties */
            if (masked) masked[j] = (unsigned char)on;
            if (pen) pen[j] = on ? state : -1;
            if (!completed) continue;
            float *o = completed + 3 * (size_t)j;
            if (on) {
                o[0] = (float)(scale[0] * y[0] + shift[0]);
                o[1] = (float)(scale[1] * y[1] + shift[1]);
                o[2] = state >= 1 ? 1.0f : 0.0f;
            } else {
                o[0] = pts[3 * j], o[1] = pts[3 * j + 1], o[2] = pts[3 * j + 2];
            }
        }
    }
    free(flag), free(mask), free(rec);
    return (sb_status)rc;
}
