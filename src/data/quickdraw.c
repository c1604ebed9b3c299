/* QuickDraw drawings to stroke-3; simplification of raw drawings. */
#include "data/quickdraw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

int sb_drawing_alloc(sb_drawing *d, int n_strokes, int n_points, int **len, float **x, float **y) {
    memset(d, 0, sizeof *d);
    if (n_strokes < 0 || n_points < 0) return sb_fail(SB_ERR_INVALID, "drawing: negative size");
    size_t bytes = (size_t)n_strokes * sizeof(int) + 2 * (size_t)n_points * sizeof(float) + sizeof(float);
    char *block = malloc(bytes);
    if (!block) return sb_fail(SB_ERR_MEMORY, "drawing of %d points: out of host memory", n_points);
    /* floats first keeps every array aligned */
    *x = (float *)block;
    *y = *x + n_points;
    *len = (int *)(*y + n_points);
    d->n_strokes = n_strokes, d->n_points = n_points;
    d->stroke_len = *len, d->x = *x, d->y = *y;
    d->owned = block;
    return 0;
}

void sb_drawing_free(sb_drawing *d) {
    free(d->owned);
    memset(d, 0, sizeof *d);
}

int sb_drawing_to_stroke3(const sb_drawing *d, int16_t **points, uint32_t *n) {
    *points = NULL;
    *n = 0;
    if (d->n_points <= 0) return sb_fail(SB_ERR_INVALID, "drawing has no points");
    int16_t *p = malloc((size_t)d->n_points * 3 * sizeof *p);
    if (!p) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    long px = 0, py = 0;
    uint32_t k = 0;
    for (int s = 0, at = 0; s < d->n_strokes; at += d->stroke_len[s++]) {
        for (int i = 0; i < d->stroke_len[s]; i++, k++) {
            long x = lround(d->x[at + i]), y = lround(d->y[at + i]);
            long dx = x - px, dy = y - py;
            if (dx < INT16_MIN || dx > INT16_MAX || dy < INT16_MIN || dy > INT16_MAX) {
                free(p);
                return sb_fail(SB_ERR_INVALID, "stroke %d point %d: offset (%ld, %ld) does not fit int16", s, i, dx,
                               dy);
            }
            p[3 * k] = (int16_t)dx, p[3 * k + 1] = (int16_t)dy, p[3 * k + 2] = i + 1 == d->stroke_len[s];
            px = x, py = y;
        }
    }
    *points = p;
    *n = k;
    return 0;
}

/* ---- simplification */

/* Bounds of the drawing and the factor that scales its larger side to 255. */
static float scale_to_255(const sb_drawing *d, float *minx, float *miny) {
    float maxv = 0;
    *minx = *miny = INFINITY;
    for (int k = 0; k < d->n_points; k++) *minx = fminf(*minx, d->x[k]), *miny = fminf(*miny, d->y[k]);
    for (int k = 0; k < d->n_points; k++) maxv = fmaxf(maxv, fmaxf(d->x[k] - *minx, d->y[k] - *miny));
    return maxv > 0 ? 255.0f / maxv : 1.0f;
}

/* Length of every stroke's polyline, times scale. */
static double path_length(const sb_drawing *d, float scale) {
    double length = 0;
    for (int s = 0, at = 0; s < d->n_strokes; at += d->stroke_len[s++])
        for (int i = at + 1; i < at + d->stroke_len[s]; i++)
            length += hypot(d->x[i] - d->x[i - 1], d->y[i] - d->y[i - 1]) * scale;
    return length;
}

unsigned sb_drawing_raw_signs(const sb_drawing *d, int timed) {
    unsigned signs = timed ? SB_RAW_TIMED : 0;
    for (int k = 0; k < d->n_points; k++) {
        float x = d->x[k], y = d->y[k];
        if (x != floorf(x) || y != floorf(y)) signs |= SB_RAW_FRACTIONAL;
        if (!(x >= 0 && x <= 255 && y >= 0 && y <= 255)) signs |= SB_RAW_RANGE;
    }
    if (d->n_points >= 20) {
        float minx, miny;
        if ((double)d->n_points * 100 > 40 * path_length(d, scale_to_255(d, &minx, &miny))) signs |= SB_RAW_DENSE;
    }
    return signs;
}

/* Resamples a polyline at `step` spacing along its length; keeps the first
 * and last points. out must hold floor(length/step) + n + 1 points. */
static int resample(const float *x, const float *y, int n, float step, float *ox, float *oy) {
    int m = 0;
    ox[m] = x[0], oy[m++] = y[0];
    double carry = 0; /* distance walked since the last emitted point */
    for (int i = 1; i < n; i++) {
        double sx = x[i - 1], sy = y[i - 1], len = hypot(x[i] - sx, y[i] - sy);
        double t = step - carry;
        for (; t <= len; t += step) {
            ox[m] = (float)(sx + (x[i] - sx) * t / len);
            oy[m++] = (float)(sy + (y[i] - sy) * t / len);
        }
        carry = len - (t - step);
    }
    if (n > 1 && (ox[m - 1] != x[n - 1] || oy[m - 1] != y[n - 1])) ox[m] = x[n - 1], oy[m++] = y[n - 1];
    return m;
}

static double line_distance(double px, double py, double ax, double ay, double bx, double by) {
    double dx = bx - ax, dy = by - ay, len = hypot(dx, dy);
    if (len == 0) return hypot(px - ax, py - ay);
    return fabs(dy * px - dx * py + bx * ay - by * ax) / len;
}

/* Ramer-Douglas-Peucker, iterative with an explicit stack; keep[] marks the
 * points that survive. stack holds 2n entries. */
static void rdp(const float *x, const float *y, int n, double eps, unsigned char *keep, int *stack) {
    memset(keep, 0, (size_t)n);
    keep[0] = keep[n - 1] = 1;
    int top = 0;
    stack[top++] = 0, stack[top++] = n - 1;
    while (top) {
        int b = stack[--top], a = stack[--top];
        double best = -1;
        int at = a;
        for (int i = a + 1; i < b; i++) {
            double d = line_distance(x[i], y[i], x[a], y[a], x[b], y[b]);
            if (d > best) best = d, at = i;
        }
        if (best > eps) {
            keep[at] = 1;
            stack[top++] = a, stack[top++] = at;
            stack[top++] = at, stack[top++] = b;
        }
    }
}

int sb_drawing_simplify(const sb_drawing *raw, sb_drawing *out) {
    memset(out, 0, sizeof *out);
    if (raw->n_points <= 0) return sb_fail(SB_ERR_INVALID, "drawing has no points");
    float minx, miny, scale = scale_to_255(raw, &minx, &miny);
    /* Scaled coordinates; resampled polylines of every stroke one after
     * another; RDP keeps a subset of those. */
    double length = path_length(raw, scale);
    int longest = 0;
    for (int s = 0; s < raw->n_strokes; s++)
        if (raw->stroke_len[s] > longest) longest = raw->stroke_len[s];
    size_t cap = (size_t)length + (size_t)raw->n_points + (size_t)raw->n_strokes + 2;
    float *sx = malloc((size_t)longest * 2 * sizeof *sx + 1), *rx = malloc(cap * 2 * sizeof *rx);
    unsigned char *keep = malloc(cap);
    int *stack = malloc(cap * 2 * sizeof *stack);
    int rc = 0;
    if (!sx || !rx || !keep || !stack) rc = sb_fail(SB_ERR_MEMORY, "out of host memory");
    float *sy = sx ? sx + longest : NULL, *ry = rx ? rx + cap : NULL;
    int *len = NULL;
    float *ox = NULL, *oy = NULL;
    int kept_total = 0, n_out = 0;
    /* Two passes: count what RDP keeps, then write the drawing. */
    for (int pass = 0; !rc && pass < 2; pass++) {
        if (pass == 1) rc = sb_drawing_alloc(out, n_out, kept_total, &len, &ox, &oy);
        int written = 0, stroke = 0;
        for (int s = 0, at = 0; !rc && s < raw->n_strokes; at += raw->stroke_len[s++]) {
            int n = raw->stroke_len[s];
            if (n == 0) continue;
            for (int i = 0; i < n; i++) sx[i] = (raw->x[at + i] - minx) * scale, sy[i] = (raw->y[at + i] - miny) * scale;
            int m = resample(sx, sy, n, 1.0f, rx, ry);
            rdp(rx, ry, m, 2.0, keep, stack);
            int kept = 0;
            for (int i = 0; i < m; i++) {
                if (!keep[i]) continue;
                if (pass == 1) ox[written + kept] = roundf(rx[i]), oy[written + kept] = roundf(ry[i]);
                kept++;
            }
            if (pass == 0) kept_total += kept, n_out++;
            else len[stroke++] = kept, written += kept;
        }
    }
    free(sx), free(rx), free(keep), free(stack);
    if (rc) sb_drawing_free(out);
    return rc;
}
