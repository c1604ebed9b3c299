/* QuickDraw drawings (absolute coordinates per stroke, as in the ndjson and
 * .bin files) to stroke-3, and Google's "simplified" preprocessing of raw
 * drawings: align to the top-left, scale uniformly so the largest coordinate
 * is 255, resample every stroke at 1 px spacing, Ramer-Douglas-Peucker with
 * epsilon 2.0, round to integers.
 * defines: sb_stroke, sb_drawing, sb_drawing_free, sb_drawing_to_stroke3,
 *          sb_drawing_simplify */
#ifndef SB_DATA_QUICKDRAW_H
#define SB_DATA_QUICKDRAW_H

#include <stdint.h>

typedef struct sb_stroke {
    uint32_t n;
    float *x, *y; /* absolute coordinates, n each */
} sb_stroke;

typedef struct sb_drawing {
    sb_stroke *strokes;
    uint32_t n_strokes;
} sb_drawing;

void sb_drawing_free(sb_drawing *d);

/* stroke-3 as sketch-rnn's lines_to_strokes: coordinates rounded to
 * integers, the first point relative to (0, 0), each later one to the point
 * before it (across strokes), pen = 1 on the last point of each stroke.
 * Empty strokes are skipped. *points is malloc'd [n, 3]; a delta outside
 * int16 is an error. */
int sb_drawing_to_stroke3(const sb_drawing *d, int16_t **points, uint32_t *n);

/* Google's simplification of a raw drawing into out (caller frees). */
int sb_drawing_simplify(const sb_drawing *raw, sb_drawing *out);

#endif
