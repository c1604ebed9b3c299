/* SVG rendering: segment count follows the pen, states get their colours,
 * captions are escaped, a drawing far from the origin fills and centres
 * its cell, bad arguments and unwritable paths are errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/render_svg.h"
#include "test_util.h"

static int count_of(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++) n++;
    return n;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* Bounds of every <line> end in svg: minx, maxx, miny, maxy. */
static void line_bounds(const char *svg, double b[4]) {
    b[0] = b[2] = 1e300, b[1] = b[3] = -1e300;
    for (const char *p = svg; (p = strstr(p, "<line ")); p++) {
        double x1, y1, x2, y2;
        if (sscanf(p, "<line x1=\"%lf\" y1=\"%lf\" x2=\"%lf\" y2=\"%lf\"", &x1, &y1, &x2, &y2) != 4) continue;
        b[0] = fmin(b[0], fmin(x1, x2)), b[1] = fmax(b[1], fmax(x1, x2));
        b[2] = fmin(b[2], fmin(y1, y2)), b[3] = fmax(b[3], fmax(y1, y2));
    }
}

/* A 100 x 50 rectangle whose first point is (1000, 2000), as raw screen
 * coordinates are: in a 200 px cell with 8 % padding (16 px) it spans the
 * 168 px of the width, x 16..184, and is centred vertically, y 58..142. */
static void far_from_origin(const char *path) {
    float r[5 * 3] = {1000, 2000, 0, 100, 0, 0, 0, 50, 0, -100, 0, 0, 0, -50, 1};
    sb_svg_sketch s = {r, 5, NULL, NULL, NULL};
    double b[4];
    int rc = sb_render_svg(path, &s, 1, 1, 200);
    char *svg = rc ? NULL : slurp(path);
    t_check_true("render a drawing far from the origin", svg != NULL);
    if (!svg) return;
    line_bounds(svg, b);
    double err = fmax(fmax(fabs(b[0] - 16), fabs(b[1] - 184)), fmax(fabs(b[2] - 58), fabs(b[3] - 142)));
    printf("# rectangle drawn over x %.2f..%.2f, y %.2f..%.2f\n", b[0], b[1], b[2], b[3]);
    t_check("it fills the cell's width and is centred (px)", err, 0.01);
}

int main(void) {
    /* Two strokes: 3 points then 2 points; the first point is a move. */
    float a[5 * 3] = {10, 10, 0, 5, 0, 0, 0, 5, 1, 3, 3, 0, 2, 0, 1};
    unsigned char state[5] = {0, 1, 0, 0, 2};
    float b[2 * 3] = {0, 0, 0, 1, 1, 1};
    sb_svg_sketch s[2] = {{a, 5, state, "cat <1> & \"dog\"", NULL}, {b, 2, NULL, NULL, "#2ca02c"}};
    char path[] = "/tmp/sketchbert_test_svg_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    t_check_true("render two sketches", sb_render_svg(path, s, 2, 2, 128) == 0);
    char *svg = slurp(path);
    t_check_true("svg written", svg && strstr(svg, "<svg") && strstr(svg, "</svg>"));
    /* sketch a: segments 0->1, 1->2 and 3->4 (pen lifted at 2); b: 0->1 */
    t_check_true("one line per pen-down segment", svg && count_of(svg, "<line") == 4);
    t_check_true("masked point drawn red", svg && count_of(svg, "#d62728") == 2);
    t_check_true("predicted point drawn blue", svg && count_of(svg, "#1f77b4") == 2);
    t_check_true("caption escaped", svg && strstr(svg, "cat &lt;1&gt; &amp; &quot;dog&quot;"));
    t_check_true("grid size", svg && strstr(svg, "width=\"256\" height=\"128\""));
    /* the second cell framed in its colour, inside its own 128 px square */
    t_check_true("framed cell", svg && count_of(svg, "stroke=\"#2ca02c\" stroke-width=\"3\"") == 1 &&
                                    strstr(svg, "<rect x=\"129.5\" y=\"1.5\" width=\"125.0\" height=\"125.0\""));
    t_check_true("the other cell's frame light grey", svg && count_of(svg, "stroke=\"#dddddd\"") == 1);
    far_from_origin(path);
    t_check_error("no sketches rejected", sb_render_svg(path, s, 0, 1, 128), "no sketch");
    t_check_error("unwritable path", sb_render_svg("/nonexistent-dir/x.svg", s, 1, 1, 128), "cannot create");
    remove(path);
    return t_finish(NULL);
}
