/* SVG rendering of stroke-3 sketches. A segment is drawn from a point to
 * the next while the pen is down, coloured by the state of the point it
 * ends at; masked and predicted points also get a dot. */
#include "data/render_svg.h"

#include <math.h>
#include <stdio.h>

#include "io/atomic_file.h"
#include "runtime/error.h"

static const char *const colours[3] = {"#222222", "#d62728", "#1f77b4"};

void sb_svg_text(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void draw_cell(FILE *f, const sb_svg_sketch *s, double ox, double oy, double cell) {
    /* the box of the points only: the pen starts at the origin, lifted, so
     * the origin is not drawn (raw drawings start far from it) */
    double x = 0, y = 0, minx = INFINITY, maxx = -INFINITY, miny = INFINITY, maxy = -INFINITY;
    for (uint32_t i = 0; i < s->n; i++) {
        x += s->points[3 * i], y += s->points[3 * i + 1];
        minx = fmin(minx, x), maxx = fmax(maxx, x), miny = fmin(miny, y), maxy = fmax(maxy, y);
    }
    if (!s->n) minx = maxx = miny = maxy = 0;
    double pad = cell * 0.08, caption = s->caption ? 16 : 0;
    double span = fmax(fmax(maxx - minx, maxy - miny), 1e-9);
    double scale = (cell - 2 * pad - caption) / span;
    double cx = ox + pad + ((cell - 2 * pad) - (maxx - minx) * scale) / 2 - minx * scale;
    double cy = oy + pad + ((cell - 2 * pad - caption) - (maxy - miny) * scale) / 2 - miny * scale;
    if (s->frame) /* inside the cell, so neighbours do not cover it */
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" stroke=\"%s\" "
                "stroke-width=\"3\"/>\n",
                ox + 1.5, oy + 1.5, cell - 3, cell - 3, s->frame);
    else
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" stroke=\"#dddddd\"/>\n",
                ox, oy, cell, cell);
    x = y = 0;
    int pen_down = 0; /* the first point is reached with the pen up */
    for (uint32_t i = 0; i < s->n; i++) {
        double nx = x + s->points[3 * i], ny = y + s->points[3 * i + 1];
        int st = s->state ? s->state[i] : SB_POINT_PLAIN;
        if (st < 0 || st > 2) st = SB_POINT_PLAIN;
        if (pen_down)
            fprintf(f,
                    "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"%.1f\" "
                    "stroke-linecap=\"round\"/>\n",
                    cx + x * scale, cy + y * scale, cx + nx * scale, cy + ny * scale, colours[st],
                    st ? 2.0 : 1.5);
        if (st != SB_POINT_PLAIN)
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2\" fill=\"%s\"/>\n", cx + nx * scale, cy + ny * scale,
                    colours[st]);
        pen_down = s->points[3 * i + 2] < 0.5f;
        x = nx, y = ny;
    }
    if (s->caption) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-family=\"sans-serif\" font-size=\"12\" text-anchor=\"middle\">",
                ox + cell / 2, oy + cell - 6);
        sb_svg_text(f, s->caption);
        fputs("</text>\n", f);
    }
}

int sb_render_svg_to(FILE *f, const sb_svg_sketch *sketches, int count, int columns, int cell_px) {
    if (count <= 0) return sb_fail(SB_ERR_INVALID, "render: no sketch to draw");
    if (cell_px < 16) return sb_fail(SB_ERR_INVALID, "render: cell size %d is too small", cell_px);
    if (columns <= 0 || columns > count) columns = count;
    int rows = (count + columns - 1) / columns;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            columns * cell_px, rows * cell_px, columns * cell_px, rows * cell_px);
    for (int i = 0; i < count; i++)
        draw_cell(f, &sketches[i], (double)(i % columns) * cell_px, (double)(i / columns) * cell_px, cell_px);
    fputs("</svg>\n", f);
    return 0;
}

int sb_render_svg(const char *path, const sb_svg_sketch *sketches, int count, int columns, int cell_px) {
    if (count <= 0) return sb_fail(SB_ERR_INVALID, "render %s: no sketch to draw", path);
    if (cell_px < 16) return sb_fail(SB_ERR_INVALID, "render %s: cell size %d is too small", path, cell_px);
    sb_atomic_file af;
    SB_TRY(sb_atomic_open(&af, path));
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", af.f);
    int rc = sb_render_svg_to(af.f, sketches, count, columns, cell_px);
    if (rc) {
        sb_atomic_abort(&af);
        return rc;
    }
    return sb_atomic_commit(&af);
}
