/* QuickDraw drawings (absolute coordinates, stroke after stroke, as in the
 * ndjson and .bin files) to stroke-3, and Google's "simplified"
 * preprocessing of raw drawings: align to the top-left, scale uniformly so
 * the largest coordinate is 255, resample every stroke at 1 px spacing,
 * Ramer-Douglas-Peucker with epsilon 2.0, round to integers.
 * defines: sb_drawing, sb_drawing_free, sb_drawing_to_stroke3,
 *          sb_drawing_simplify, sb_drawing_raw_signs, SB_RAW_* */
#ifndef SB_DATA_QUICKDRAW_H
#define SB_DATA_QUICKDRAW_H

#include <stdint.h>

/* The same layout as the ndjson reader's sb_qd_drawing, so its records
 * are used as they are: x[k], y[k] for k < n_points, stroke s holding the
 * next stroke_len[s] points. `owned` is the one block to free, or NULL for
 * a view of someone else's arrays. */
typedef struct sb_drawing {
    int n_strokes;
    const int *stroke_len;
    int n_points;
    const float *x, *y;
    void *owned;
} sb_drawing;

/* Allocates one block for n_strokes lengths and n_points coordinates;
 * *len, *x, *y point into it for the caller to fill. */
int sb_drawing_alloc(sb_drawing *d, int n_strokes, int n_points, int **len, float **x, float **y);
void sb_drawing_free(sb_drawing *d);

/* stroke-3 as sketch-rnn's lines_to_strokes: coordinates rounded to
 * integers, the first point relative to (0, 0), each later one to the point
 * before it (across strokes), pen = 1 on the last point of each stroke.
 * Empty strokes are skipped. *points is malloc'd [n, 3]; a delta outside
 * int16 is an error. */
int sb_drawing_to_stroke3(const sb_drawing *d, int16_t **points, uint32_t *n);

/* Google's simplification of a raw drawing into out (caller frees). */
int sb_drawing_simplify(const sb_drawing *raw, sb_drawing *out);

/* Signs that a drawing is raw rather than simplified (bits; 0: it looks
 * simplified): a time array (`timed`, from the ndjson reader), a
 * coordinate that is not an integer, one outside 0..255, or dense points:
 * at least 20 points and more than 40 per 100 px of path once scaled to
 * 255 as sb_drawing_simplify does (Google's simplified drawings have at
 * most ~15, raw ones up to ~90, 1 px resampling 100). */
enum { SB_RAW_TIMED = 1, SB_RAW_FRACTIONAL = 2, SB_RAW_RANGE = 4, SB_RAW_DENSE = 8 };
unsigned sb_drawing_raw_signs(const sb_drawing *d, int timed);

#endif
