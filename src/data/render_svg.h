/* Sketches to SVG: one or a grid of cells, each sketch scaled to its cell.
 * Points may carry a state so masked and predicted points show in their
 * own colours (gestalt completion draws original, masked and completed
 * sketches side by side).
 * defines: sb_svg_sketch, sb_render_svg, sb_render_svg_to, sb_svg_text, SB_POINT_* */
#ifndef SB_DATA_RENDER_SVG_H
#define SB_DATA_RENDER_SVG_H

#include <stdint.h>
#include <stdio.h>

enum { SB_POINT_PLAIN = 0, SB_POINT_MASKED = 1, SB_POINT_PREDICTED = 2 };

typedef struct sb_svg_sketch {
    const float *points;         /* [n, 3] stroke-3: dx, dy, pen lifted after */
    uint32_t n;
    const unsigned char *state;  /* n states (SB_POINT_*), or NULL */
    const char *caption;         /* drawn under the cell, or NULL */
    const char *frame;           /* the cell's border colour ("#2ca02c"; a mark, e.g. a
                                    correct retrieval), or NULL for light grey */
} sb_svg_sketch;

/* Writes path atomically. columns <= 0 means one row. */
int sb_render_svg(const char *path, const sb_svg_sketch *sketches, int count, int columns, int cell_px);
/* The same <svg> element into an open file (e.g. inline in HTML). */
int sb_render_svg_to(FILE *f, const sb_svg_sketch *sketches, int count, int columns, int cell_px);
/* Writes s with <, >, & and " escaped (SVG, XML and HTML text). */
void sb_svg_text(FILE *f, const char *s);

#endif
