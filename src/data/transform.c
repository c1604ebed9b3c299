/* The per-sketch stroke-3 -> stroke-5 transform (see transform.h for the
 * steps and how they follow the original). */
#include "data/transform.h"

#include <math.h>
#include <string.h>

#include "runtime/error.h"

sb_transform_config sb_transform_config_default(void) {
    sb_transform_config c = {250, 1000.0, SB_NORM_MAX_SCALE, 10.0};
    return c;
}

int sb_norm_type_parse(const char *name, sb_norm_type *out) {
    static const struct { const char *name; sb_norm_type type; } names[] = {
        {"max_scale", SB_NORM_MAX_SCALE}, {"var_scale", SB_NORM_VAR_SCALE}, {"global_scale", SB_NORM_NONE}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (name && strcmp(name, names[i].name) == 0) {
            *out = names[i].type;
            return SB_OK;
        }
    return sb_fail(SB_ERR_INVALID, "normalization_type '%s' is not max_scale, var_scale or global_scale",
                   name ? name : "(null)");
}

static double clip(double d, double limit) { return d > limit ? limit : d < -limit ? -limit : d; }

/* dx (axis 0) or dy (axis 1) of transformed point i < length, clipped;
 * point 0 is the prepended zero, point i > 0 is stroke3 row i - 1. */
static double clipped(const int16_t *stroke3, int i, int axis, double limit) {
    return i == 0 ? 0.0 : clip((double)stroke3[(size_t)(i - 1) * 3 + axis], limit);
}

/* Per-axis normalisation: var_scale maps d -> (d - shift) / size, the
 * others d -> d / size * factor; the original's two forms and operation
 * order are kept so that the float64 results match. */
typedef struct { double shift[2], size[2], factor; int var; } norm_params;

static norm_params norm_fit(const sb_transform_config *cfg, const int16_t *stroke3, int length) {
    norm_params nm = {{0, 0}, {1, 1}, 1.0, 0};
    for (int a = 0; a < 2; a++) {
        if (cfg->normalization == SB_NORM_MAX_SCALE) {
            double pos = 0, lo = 0, hi = 0; /* running sum; bounds include the origin */
            for (int i = 0; i < length; i++) {
                pos += clipped(stroke3, i, a, cfg->limit);
                if (pos < lo) lo = pos;
                if (pos > hi) hi = pos;
            }
            nm.size[a] = hi - lo == 0 ? 1.0 : hi - lo;
            nm.factor = cfg->max_scale_factor;
        } else if (cfg->normalization == SB_NORM_VAR_SCALE) {
            double sum = 0, ss = 0;
            for (int i = 0; i < length; i++) sum += clipped(stroke3, i, a, cfg->limit);
            double mean = sum / length;
            for (int i = 0; i < length; i++) {
                double d = clipped(stroke3, i, a, cfg->limit) - mean;
                ss += d * d;
            }
            double std = sqrt(ss / length);
            nm.shift[a] = mean;
            nm.size[a] = std == 0 ? 1.0 : std;
            nm.var = 1;
        }
    }
    return nm;
}

static double norm_apply(const norm_params *nm, double d, int axis) {
    return nm->var ? (d - nm->shift[axis]) / nm->size[axis] : d / nm->size[axis] * nm->factor;
}

int sb_transform_sketch(const sb_transform_config *cfg, const int16_t *stroke3, int n, float *stroke5,
                        int32_t *segment, float *length_mask, int *length_out) {
    if (!cfg || cfg->max_length < 1)
        return sb_fail(SB_ERR_INVALID, "transform: max_length %d must be >= 1", cfg ? cfg->max_length : 0);
    if (!(cfg->limit > 0)) return sb_fail(SB_ERR_INVALID, "transform: limit %g must be > 0", cfg->limit);
    if (cfg->normalization == SB_NORM_MAX_SCALE && !(cfg->max_scale_factor > 0))
        return sb_fail(SB_ERR_INVALID, "transform: max_scale_factor %g must be > 0", cfg->max_scale_factor);
    if (cfg->normalization != SB_NORM_MAX_SCALE && cfg->normalization != SB_NORM_VAR_SCALE &&
        cfg->normalization != SB_NORM_NONE)
        return sb_fail(SB_ERR_INVALID, "transform: unknown normalization type %d", (int)cfg->normalization);
    if (n < 0 || (n > 0 && !stroke3))
        return sb_fail(SB_ERR_INVALID, "transform: sketch has %d points%s", n, n > 0 ? " but no data" : "");
    if (!stroke5 || !segment || !length_mask) return sb_fail(SB_ERR_INVALID, "transform: an output array is NULL");

    /* Pen lifts over the whole sketch (segments ignore truncation). */
    int last_lift = -1; /* index in the prepended sketch, -1 when none */
    for (int j = 0; j < n; j++) {
        int16_t p = stroke3[(size_t)j * 3 + 2];
        if (p != 0 && p != 1)
            return sb_fail(SB_ERR_FORMAT, "transform: point %d of %d has pen state %d (expected 0 or 1)", j, n, p);
        if (p == 1) last_lift = j + 1;
    }

    int T = cfg->max_length;
    int length = n + 1 < T ? n + 1 : T;
    norm_params nm = norm_fit(cfg, stroke3, length);

    int32_t seg = 2; /* 2 + lifts before point i */
    for (int i = 0; i < T; i++) {
        float *row = stroke5 + (size_t)i * 5;
        if (i < length) {
            int p = i == 0 ? 0 : stroke3[(size_t)(i - 1) * 3 + 2];
            row[0] = (float)norm_apply(&nm, clipped(stroke3, i, 0, cfg->limit), 0);
            row[1] = (float)norm_apply(&nm, clipped(stroke3, i, 1, cfg->limit), 1);
            row[2] = (float)(1 - p);
            row[3] = (float)p;
            row[4] = 0.0f;
            segment[i] = i <= last_lift ? seg : 0;
            seg += p;
            length_mask[i] = 1.0f;
        } else {
            row[0] = row[1] = row[2] = row[3] = 0.0f;
            row[4] = 1.0f;
            segment[i] = 1;
            length_mask[i] = 0.0f;
        }
    }
    if (length_out) *length_out = length;
    return SB_OK;
}
