/* Stroke drawings from SVG files such as the TU-Berlin sketches (Eitz et
 * al. 2012: one <path> per stroke, cubic Beziers, viewBox 0 0 800 800,
 * <g transform="translate() scale()"> around them). Every <path> inside
 * <svg> and <g> elements is read; M/m starts a stroke; L, H, V, C, S, Z
 * and their relative forms are understood; cubic Beziers are flattened to
 * points within `tolerance` (viewBox units) of the curve. Coordinates are
 * in viewBox units relative to its top-left corner. The XML reader is
 * small and bounded: no entity expansion (a DOCTYPE with an internal
 * subset is refused), SB_SVG_MAX_DEPTH nested elements, numbers of at most
 * 64 characters and magnitude SB_SVG_MAX_COORD, SB_SVG_MAX_POINTS points.
 * defines: sb_svg_drawing, sb_svg_parse, sb_svg_read, sb_svg_free,
 *          sb_svg_list, sb_svg_list_free */
#ifndef SB_IO_SVG_H
#define SB_IO_SVG_H

#include <stddef.h>

#define SB_SVG_TOLERANCE 0.5       /* default flattening tolerance, viewBox units */
#define SB_SVG_MAX_BYTES (16u << 20)
#define SB_SVG_MAX_DEPTH 32
#define SB_SVG_MAX_COORD 1e5
#define SB_SVG_MAX_POINTS 1000000

/* The layout of the ndjson reader's drawings (src/io/ndjson.h): x[k], y[k]
 * for k < n_points, stroke s holding the next stroke_len[s] points. */
typedef struct sb_svg_drawing {
    int n_strokes;
    int *stroke_len;
    int n_points;
    float *x, *y;
    double width, height; /* the viewBox size (0 when the file has none) */
} sb_svg_drawing;

/* Reads an SVG held in memory; `label` names it in messages
 * ("cat/1.svg:12: svg: ..."). out is freed with sb_svg_free even on error. */
int sb_svg_parse(const char *label, const char *text, size_t len, double tolerance, sb_svg_drawing *out);
int sb_svg_read(const char *path, double tolerance, sb_svg_drawing *out);
void sb_svg_free(sb_svg_drawing *d);

/* The entries of a folder, as "dir/name" paths in natural order (2.svg
 * before 10.svg): the .svg files (dirs = 0) or the subfolders (dirs = 1).
 * Hidden entries are left out. */
int sb_svg_list(const char *dir, int dirs, char ***paths, int *n);
void sb_svg_list_free(char **paths, int n);

#endif
