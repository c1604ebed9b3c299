/* SVG stroke reader: generated files of known geometry (lines, shorthand
 * and relative commands, transforms, cubic Beziers flattened within the
 * tolerance), hostile files refused with a clear message (and every prefix
 * of a valid file read without crashing), and the TU-Berlin SVGs of the
 * shared data when present. */
#include <math.h>
#include <string.h>

#include "io/svg.h"
#include "io_test_util.h"

static int parse(const char *text, double tol, sb_svg_drawing *d) {
    return sb_svg_parse("mem.svg", text, strlen(text), tol, d);
}

static int fails(const char *body) {
    sb_svg_drawing d;
    return parse(body, SB_SVG_TOLERANCE, &d);
}

/* The drawing has exactly these points (x, y pairs) and stroke lengths. */
static int same_points(const sb_svg_drawing *d, const float *xy, int n, const int *len, int n_strokes) {
    if (d->n_points != n || d->n_strokes != n_strokes) {
        printf("  %d points in %d strokes, expected %d in %d\n", d->n_points, d->n_strokes, n, n_strokes);
        return 0;
    }
    for (int s = 0; s < n_strokes; s++)
        if (d->stroke_len[s] != len[s]) return 0;
    for (int k = 0; k < n; k++)
        if (fabsf(d->x[k] - xy[2 * k]) > 1e-4f || fabsf(d->y[k] - xy[2 * k + 1]) > 1e-4f) {
            printf("  point %d is (%g, %g), expected (%g, %g)\n", k, d->x[k], d->y[k], xy[2 * k], xy[2 * k + 1]);
            return 0;
        }
    return 1;
}

static int same_drawing(const char *a, const char *b) {
    sb_svg_drawing da, db;
    if (parse(a, 0.1, &da)) return 0;
    int ok = !parse(b, 0.1, &db) && da.n_points > 2;
    if (ok) {
        ok = da.n_points == db.n_points && da.n_strokes == db.n_strokes;
        for (int k = 0; ok && k < da.n_points; k++)
            ok = fabsf(da.x[k] - db.x[k]) < 1e-4f && fabsf(da.y[k] - db.y[k]) < 1e-4f;
        sb_svg_free(&db);
    }
    sb_svg_free(&da);
    return ok;
}

static void check_lines(void) {
    sb_svg_drawing d;
    int rc = parse("<?xml version=\"1.0\"?>\n<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x.dtd\">\n"
                   "<!-- a comment <path d='M 0 0'/> -->\n<svg viewBox=\"10 20 100 90\">"
                   "<title>t &amp; <b>x</b></title><defs><path d=\"M 1 1 L 5 5\"/></defs>\n"
                   "<path d=\"M 10 20 L 30 20 l 0 10 H 50 v 5 h -5 V 60 Z\"/>"
                   "<path d='M1.5.5-2e1,3 m 1 1 1 1'/></svg>",
                   SB_SVG_TOLERANCE, &d);
    float want[] = {0, 0, 20, 0, 20, 10, 40, 10, 40, 15, 35, 15, 35, 40, 0, 0,
                    1.5f - 10, 0.5f - 20, -20 - 10, 3 - 20, -19 - 10, 4 - 20, -18 - 10, 5 - 20};
    int len[] = {8, 2, 2};
    t_check_true("lines, shorthands, relative moves, close; comments and <defs> ignored",
                 !rc && same_points(&d, want, 12, len, 3));
    t_check_true("canvas from the viewBox", !rc && d.width == 100 && d.height == 90);
    sb_svg_free(&d);

    rc = parse("<svg><g transform='translate(5,7) scale(2)'><g transform=\"matrix(1 0 0 1 100 0)\">"
               "<path transform='rotate(90)' d='M 1 0 L 1 1'/></g></g></svg>",
               SB_SVG_TOLERANCE, &d);
    /* rotate(90): (1,0)->(0,1), (1,1)->(-1,1); +100 in x; *2; +(5,7) */
    float want_t[] = {205, 9, 203, 9};
    t_check_true("nested transforms compose outer after inner", !rc && same_points(&d, want_t, 2, (int[]){2}, 1));
    t_check_true("no viewBox: canvas 0 x 0", !rc && d.width == 0 && d.height == 0);
    sb_svg_free(&d);

    t_check_true("S reflects the last control point",
                 same_drawing("<svg><path d='M0 0 C 0 10 10 10 10 0 S 20 -10 20 0'/></svg>",
                              "<svg><path d='M0 0 C 0 10 10 10 10 0 C 10 -10 20 -10 20 0'/></svg>"));
    t_check_true("relative c and s equal their absolute forms",
                 same_drawing("<svg><path d='m 5 5 c 0 10 10 10 10 0 s 10 -10 10 0'/></svg>",
                              "<svg><path d='M 5 5 C 5 15 15 15 15 5 S 25 -5 25 5'/></svg>"));
    t_check_true("S after a line uses the current point",
                 same_drawing("<svg><path d='M0 0 L 4 0 S 8 6 12 0'/></svg>",
                              "<svg><path d='M0 0 L 4 0 C 4 0 8 6 12 0'/></svg>"));
}

/* A cubic flattened at several tolerances: ends exact, as many chords as
 * the bound asks, and the true curve within tol of the polyline. */
static void check_curves(void) {
    const double px[] = {10, 40, 300, 120}, py[] = {500, 20, 700, 90};
    char text[256];
    snprintf(text, sizeof text, "<svg><path d='M %g %g C %g %g %g %g %g %g'/></svg>", px[0], py[0], px[1], py[1],
             px[2], py[2], px[3], py[3]);
    double m = fmax(hypot(px[0] - 2 * px[1] + px[2], py[0] - 2 * py[1] + py[2]),
                    hypot(px[1] - 2 * px[2] + px[3], py[1] - 2 * py[2] + py[3]));
    const double tols[] = {0.1, 0.5, 2.0};
    for (int ti = 0; ti < 3; ti++) {
        double tol = tols[ti];
        sb_svg_drawing d;
        int rc = parse(text, tol, &d);
        int chords = (int)ceil(sqrt(0.75 * m / tol));
        double worst = 0;
        for (int i = 0; !rc && i <= 4000; i++) {
            double t = i / 4000.0, u = 1 - t;
            double cx = u * u * u * px[0] + 3 * u * u * t * px[1] + 3 * u * t * t * px[2] + t * t * t * px[3];
            double cy = u * u * u * py[0] + 3 * u * u * t * py[1] + 3 * u * t * t * py[2] + t * t * t * py[3];
            double best = INFINITY;
            for (int k = 0; k + 1 < d.n_points; k++) {
                double ax = d.x[k], ay = d.y[k], dx = d.x[k + 1] - ax, dy = d.y[k + 1] - ay;
                double s = ((cx - ax) * dx + (cy - ay) * dy) / (dx * dx + dy * dy);
                s = s < 0 ? 0 : s > 1 ? 1 : s;
                best = fmin(best, hypot(cx - ax - s * dx, cy - ay - s * dy));
            }
            worst = fmax(worst, best);
        }
        char what[96];
        snprintf(what, sizeof what, "cubic at tol %g: %d chords, curve within tol (%.3f)", tol, chords, worst);
        t_check_true(what, !rc && d.n_points == chords + 1 && worst <= tol + 1e-3 && d.x[0] == 10 && d.y[0] == 500 &&
                               d.x[chords] == 120 && d.y[chords] == 90);
        sb_svg_free(&d);
    }
}

static void check_hostile(void) {
    t_check_error("number too large", fails("<svg><path d='M 1e300 0'/></svg>"), "1e300 is outside");
    char longnum[200] = "<svg><path d='M 1";
    for (int i = 0; i < 100; i++) strcat(longnum, "0");
    strcat(longnum, " 0'/></svg>");
    t_check_error("number too long", fails(longnum), "more than 64 characters");
    t_check_error("transforms past the range", fails("<svg><g transform='scale(1e5)'><path d='M 2 2'/></g></svg>"),
                  "after transforms is outside");
    t_check_error("unterminated path", fails("<svg><path d='M 1 2 L 3'/></svg>"), "mem.svg:1: svg: expected a number at the end");
    t_check_error("path not starting with M", fails("<svg><path d='L 1 2'/></svg>"), "must start with M");
    t_check_error("arcs", fails("<svg><path d='M 1 2 A 1 1 0 0 0 3 3'/></svg>"), "command 'A' is not supported");
    t_check_error("entity declarations",
                  fails("<?xml version='1.0'?>\n<!DOCTYPE svg [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;\">]>\n"
                        "<svg><path d='M &b; 0'/></svg>"),
                  "mem.svg:2: svg: DOCTYPE with an internal subset");
    t_check_error("entity reference in path data", fails("<svg><path d='M &lt; 0'/></svg>"), "expected a number");
    t_check_error("ENTITY outside a DOCTYPE", fails("<!ENTITY a 'x'><svg/>"), "markup declaration '<!ENTITY a '' is not");
    buf deep = {0};
    buf_str(&deep, "<svg>");
    for (int i = 0; i < 10000; i++) buf_str(&deep, "<g>");
    buf_byte(&deep, 0);
    t_check_error("deep nesting", fails((const char *)deep.p), "nested deeper than 32");
    buf_free(&deep);
    t_check_error("root is not svg", fails("<html><path d='M 0 0'/></html>"), "root element is <html>");
    t_check_error("unclosed element", fails("<svg><g><path d='M 0 0'/></g>"), "ends inside <svg>");
    t_check_error("mismatched end tag", fails("<svg><g></svg>"), "</svg> does not close <g>");
    t_check_error("unterminated tag", fails("<svg><path d='M 0 0'"), "unterminated <path> tag");
    t_check_error("unterminated attribute", fails("<svg><path d='M 0 0/></svg>"), "unterminated attribute");
    t_check_error("unterminated comment", fails("<svg><!-- x"), "unterminated comment");
    t_check_error("unsupported transform", fails("<svg><g transform='skewX(3)'/></svg>"), "'skewX' with 1 values");
    t_check_error("bad viewBox", fails("<svg viewBox='0 0 -1 5'/>"), "viewBox must be");
    t_check_error("empty input", fails(""), "no <svg> element");
    sb_svg_drawing d;
    t_check_error("tolerance 0", parse("<svg/>", 0, &d), "tolerance 0 is not > 0");
    t_check_error("missing file", sb_svg_read("/nonexistent/1.svg", 0.5, &d), "cannot open /nonexistent/1.svg");

    /* Every prefix of a valid file either reads or fails cleanly. */
    const char *good = "<?xml version='1.0'?><!DOCTYPE svg PUBLIC 'a' 'b'><svg viewBox='0 0 800 800'><g "
                       "transform='translate(1,2) scale(1.5)'><path d='M1 2 C 3 4 5 6 7 8 s 1 2 3 4 Z'/><!-- c -->"
                       "<path d=\"m 1,1 h 2 v 3\"/></g></svg>";
    int ok = 1, failed = 0;
    for (size_t n = 0; n <= strlen(good); n++) {
        char *cut = malloc(n + 1);
        memcpy(cut, good, n);
        cut[n] = 0;
        int rc = sb_svg_parse("cut.svg", cut, n, 0.5, &d);
        failed += rc != 0;
        ok &= rc ? strstr(sb_last_error(), "cut.svg:1: svg: ") != NULL : 1;
        if (!rc) sb_svg_free(&d);
        free(cut);
    }
    t_check_true("every prefix of a valid file reads or fails with a message", ok && failed == (int)strlen(good));
}

/* | other/tuberlin_svg/airplane/1.svg | airplane | 19 | 6051 | sha | */
typedef struct {
    int files, ok;
} real_ctx;

static void check_real_file(char **cells, int n, void *vctx) {
    real_ctx *c = vctx;
    if (n < 4 || !strstr(cells[0], "tuberlin_svg/")) return;
    c->files++;
    char path[1024];
    io_data_path(path, sizeof path, cells[0]);
    sb_svg_drawing d;
    int rc = sb_svg_read(path, SB_SVG_TOLERANCE, &d), inside = 1;
    for (int k = 0; !rc && k < d.n_points; k++) inside &= d.x[k] >= 0 && d.x[k] <= 800 && d.y[k] >= 0 && d.y[k] <= 800;
    int ok = !rc && d.n_strokes == atoi(cells[2]) && d.width == 800 && d.height == 800 && inside;
    if (!ok) printf("  %s: %s, %d strokes (SOURCES.md: %s)\n", cells[0], rc ? sb_last_error() : "read", d.n_strokes,
                    cells[2]);
    c->ok += ok;
    sb_svg_free(&d);
}

static void check_real(void) {
    char dir[1024];
    char **classes;
    int n_classes;
    if (!io_data_path(dir, sizeof dir, "other/tuberlin_svg") || sb_svg_list(dir, 1, &classes, &n_classes)) {
        printf("SKIP real TU-Berlin checks: other/tuberlin_svg not found (needs ../shared/data)\n");
        return;
    }
    real_ctx c = {0};
    io_table_rows("other/tuberlin_svg/", check_real_file, &c);
    char what[96];
    snprintf(what, sizeof what, "%d TU-Berlin SVGs: strokes as SOURCES.md, 800 x 800, inside the canvas", c.files);
    t_check_true(what, c.files == 15 && c.ok == c.files);
    char **files;
    int n_files = 0;
    int rc = n_classes == 3 ? sb_svg_list(classes[1], 0, &files, &n_files) : 1;
    t_check_true("class folders and files in natural order",
                 n_classes == 3 && strstr(classes[0], "/airplane") && strstr(classes[1], "/alarm_clock") && !rc &&
                     n_files == 5 && strstr(files[0], "/81.svg") && strstr(files[4], "/85.svg"));
    if (!rc) sb_svg_list_free(files, n_files);
    /* airplane/1.svg: "M167 268" under translate(87.52,135.4065)
     * scale(1.6233) translate(0,-60) */
    char path[1100];
    snprintf(path, sizeof path, "%s/1.svg", classes[0]);
    sb_svg_drawing d;
    rc = sb_svg_read(path, SB_SVG_TOLERANCE, &d);
    t_check_true("airplane/1.svg: first point through the file's transform",
                 !rc && fabs(d.x[0] - (87.52 + 1.6233 * 167)) < 1e-3 && fabs(d.y[0] - (135.4065 + 1.6233 * 208)) < 1e-3);
    if (!rc) sb_svg_free(&d);
    sb_svg_list_free(classes, n_classes);
}

int main(void) {
    printf("# test_svg (host only)\n");
    check_lines();
    check_curves();
    check_hostile();
    check_real();
    return t_finish(NULL);
}
