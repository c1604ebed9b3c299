/* QuickDraw drawings to stroke-3; simplification of raw drawings. */
#include "data/quickdraw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

void sb_drawing_free(sb_drawing *d) {
    for (uint32_t i = 0; i < d->n_strokes; i++) {
        free(d->strokes[i].x);
        free(d->strokes[i].y);
    }
    free(d->strokes);
    d->strokes = NULL;
    d->n_strokes = 0;
}

int sb_drawing_to_stroke3(const sb_drawing *d, int16_t **points, uint32_t *n) {
    uint64_t total = 0;
    for (uint32_t s = 0; s < d->n_strokes; s++) total += d->strokes[s].n;
    *points = NULL;
    *n = 0;
    if (total == 0) return sb_fail(SB_ERR_INVALID, "drawing has no points");
    if (total > UINT32_MAX / 3) return sb_fail(SB_ERR_INVALID, "drawing has too many points");
    int16_t *p = malloc(total * 3 * sizeof *p);
    if (!p) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    long px = 0, py = 0;
    uint32_t k = 0;
    for (uint32_t s = 0; s < d->n_strokes; s++) {
        const sb_stroke *st = &d->strokes[s];
        for (uint32_t i = 0; i < st->n; i++, k++) {
            long x = lround(st->x[i]), y = lround(st->y[i]);
            long dx = x - px, dy = y - py;
            if (dx < INT16_MIN || dx > INT16_MAX || dy < INT16_MIN || dy > INT16_MAX) {
                free(p);
                return sb_fail(SB_ERR_INVALID, "stroke %u point %u: offset (%ld, %ld) does not fit int16", s, i, dx,
                               dy);
            }
            p[3 * k] = (int16_t)dx, p[3 * k + 1] = (int16_t)dy, p[3 * k + 2] = i + 1 == st->n;
            px = x, py = y;
        }
    }
    *points = p;
    *n = k;
    return 0;
}

/* ---- simplification */

/* Resamples a polyline at `step` spacing along its length; keeps the first
 * and last points. out must hold floor(length/step) + 2 points. */
static uint32_t resample(const float *x, const float *y, uint32_t n, float step, float *ox, float *oy) {
    uint32_t m = 0;
    ox[m] = x[0], oy[m++] = y[0];
    double carry = 0; /* distance walked since the last emitted point */
    for (uint32_t i = 1; i < n; i++) {
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
 * points that survive. */
static int rdp(const float *x, const float *y, uint32_t n, double eps, unsigned char *keep) {
    memset(keep, 0, n);
    keep[0] = keep[n - 1] = 1;
    uint32_t *stack = malloc(2 * (size_t)n * sizeof *stack);
    if (!stack) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    size_t top = 0;
    stack[top++] = 0, stack[top++] = n - 1;
    while (top) {
        uint32_t b = stack[--top], a = stack[--top];
        double best = -1;
        uint32_t at = a;
        for (uint32_t i = a + 1; i < b; i++) {
            double d = line_distance(x[i], y[i], x[a], y[a], x[b], y[b]);
            if (d > best) best = d, at = i;
        }
        if (best > eps) {
            keep[at] = 1;
            stack[top++] = a, stack[top++] = at;
            stack[top++] = at, stack[top++] = b;
        }
    }
    free(stack);
    return 0;
}

int sb_drawing_simplify(const sb_drawing *raw, sb_drawing *out) {
    memset(out, 0, sizeof *out);
    float minx = INFINITY, miny = INFINITY, maxv = 0;
    for (uint32_t s = 0; s < raw->n_strokes; s++)
        for (uint32_t i = 0; i < raw->strokes[s].n; i++) {
            minx = fminf(minx, raw->strokes[s].x[i]);
            miny = fminf(miny, raw->strokes[s].y[i]);
        }
    if (!isfinite(minx)) return sb_fail(SB_ERR_INVALID, "drawing has no points");
    for (uint32_t s = 0; s < raw->n_strokes; s++)
        for (uint32_t i = 0; i < raw->strokes[s].n; i++)
            maxv = fmaxf(maxv, fmaxf(raw->strokes[s].x[i] - minx, raw->strokes[s].y[i] - miny));
    float scale = maxv > 0 ? 255.0f / maxv : 1.0f;
    out->strokes = calloc(raw->n_strokes ? raw->n_strokes : 1, sizeof *out->strokes);
    if (!out->strokes) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    for (uint32_t s = 0; s < raw->n_strokes; s++) {
        const sb_stroke *in = &raw->strokes[s];
        if (in->n == 0) continue;
        /* Scaled coordinates, then the resampled polyline. */
        float *sx = malloc(in->n * sizeof *sx), *sy = malloc(in->n * sizeof *sy);
        double length = 0;
        for (uint32_t i = 0; sx && sy && i < in->n; i++) {
            sx[i] = (in->x[i] - minx) * scale, sy[i] = (in->y[i] - miny) * scale;
            if (i) length += hypot(sx[i] - sx[i - 1], sy[i] - sy[i - 1]);
        }
        size_t cap = (size_t)length + in->n + 2;
        float *rx = malloc(cap * sizeof *rx), *ry = malloc(cap * sizeof *ry);
        unsigned char *keep = malloc(cap);
        int rc = sx && sy && rx && ry && keep ? 0 : sb_fail(SB_ERR_MEMORY, "out of host memory");
        uint32_t m = rc ? 0 : resample(sx, sy, in->n, 1.0f, rx, ry);
        if (!rc) rc = rdp(rx, ry, m, 2.0, keep);
        sb_stroke *o = &out->strokes[out->n_strokes];
        if (!rc) {
            uint32_t kept = 0;
            for (uint32_t i = 0; i < m; i++) kept += keep[i];
            o->x = malloc(kept * sizeof *o->x), o->y = malloc(kept * sizeof *o->y);
            if (!o->x || !o->y) rc = sb_fail(SB_ERR_MEMORY, "out of host memory");
            for (uint32_t i = 0; !rc && i < m; i++)
                if (keep[i]) o->x[o->n] = roundf(rx[i]), o->y[o->n++] = roundf(ry[i]);
            out->n_strokes++;
        }
        free(sx), free(sy), free(rx), free(ry), free(keep);
        if (rc) {
            sb_drawing_free(out);
            return rc;
        }
    }
    return 0;
}
