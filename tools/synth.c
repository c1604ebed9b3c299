/* sketchbert-synth: procedural sketches in the QuickDraw sketch-rnn format,
 * for tests and for trying the pipeline without the real data. One .npz
 * per class (circle, square, ...) with object arrays train, valid, test of
 * int16 stroke-3 sketches (dx, dy, p; p = 1 where the pen lifts), drawn in
 * QuickDraw-like units (a sketch spans about 100-250 units), with random
 * pose, jitter, a varying number of points and several strokes where the
 * shape has them. Deterministic by --seed; a class's sketches do not
 * depend on which other classes are written. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/rng.h"
#include "io/npz_write.h"
#include "sketchbert/sketchbert.h"

#define PI 3.14159265358979323846

// ---- strokes in unit coordinates (about [-1, 1] on each axis)

typedef struct {
    double *xy;    /* (n, 2) points */
    int *lift;     /* 1 on the last point of a stroke */
    int n, cap;
} drawing;

static void pt(drawing *d, double x, double y) {
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 256;
        d->xy = realloc(d->xy, (size_t)d->cap * 2 * sizeof *d->xy);
        d->lift = realloc(d->lift, (size_t)d->cap * sizeof *d->lift);
        if (!d->xy || !d->lift) {
            fprintf(stderr, "sketchbert-synth: out of memory\n");
            exit(1);
        }
    }
    d->xy[2 * d->n] = x, d->xy[2 * d->n + 1] = y, d->lift[d->n] = 0;
    d->n++;
}

static void lift(drawing *d) {
    if (d->n) d->lift[d->n - 1] = 1;
}

static int between(sb_rng *r, int lo, int hi) { return lo + (int)sb_rng_below(r, (uint32_t)(hi - lo + 1)); }
static double uniform(sb_rng *r, double lo, double hi) { return lo + (hi - lo) * sb_rng_uniform(r); }

/* A straight segment a -> b as `steps` points after a (a itself not added). */
static void segment_to(drawing *d, double ax, double ay, double bx, double by, int steps) {
    for (int i = 1; i <= steps; i++) pt(d, ax + (bx - ax) * i / steps, ay + (by - ay) * i / steps);
}

/* A polyline through corners (closed: back to the first), each side
 * subdivided into 1-3 steps; one stroke. */
static void polyline(sb_rng *r, drawing *d, const double *c, int n, int closed) {
    pt(d, c[0], c[1]);
    for (int i = 1; i < n + closed; i++) {
        int j = i % n, k = i - 1;
        segment_to(d, c[2 * k], c[2 * k + 1], c[2 * j], c[2 * j + 1], between(r, 1, 3));
    }
    lift(d);
}

/* An elliptic arc from angle a0 to a1 with `n` + 1 points; one stroke. */
static void arc(drawing *d, double cx, double cy, double rx, double ry, double a0, double a1, int n) {
    for (int i = 0; i <= n; i++) {
        double a = a0 + (a1 - a0) * i / n;
        pt(d, cx + rx * cos(a), cy + ry * sin(a));
    }
    lift(d);
}

// ---- the classes

static void draw_circle(sb_rng *r, drawing *d) {
    double a0 = uniform(r, 0, 2 * PI);
    arc(d, 0, 0, 1, uniform(r, 0.7, 1.0), a0, a0 + 2 * PI * uniform(r, 0.95, 1.08), between(r, 10, 30));
}

static void draw_square(sb_rng *r, drawing *d) {
    double c[8] = {-1, -1, 1, -1, 1, 1, -1, 1};
    if (sb_rng_below(r, 2)) { /* drawn as two strokes: two L shapes */
        double a[6] = {c[0], c[1], c[2], c[3], c[4], c[5]}, b[6] = {c[4], c[5], c[6], c[7], c[0], c[1]};
        polyline(r, d, a, 3, 0);
        polyline(r, d, b, 3, 0);
    } else {
        polyline(r, d, c, 4, 1);
    }
}

static void draw_triangle(sb_rng *r, drawing *d) {
    double c[6] = {-1, 0.9, 1, 0.9, uniform(r, -0.3, 0.3), -1};
    polyline(r, d, c, 3, 1);
}

static void draw_star(sb_rng *r, drawing *d) {
    double c[20], inner = uniform(r, 0.35, 0.5), a0 = -PI / 2 + uniform(r, -0.2, 0.2);
    for (int i = 0; i < 10; i++) {
        double rad = i % 2 ? inner : 1.0, a = a0 + i * PI / 5;
        c[2 * i] = rad * cos(a), c[2 * i + 1] = rad * sin(a);
    }
    polyline(r, d, c, 10, 1);
}

static void draw_spiral(sb_rng *r, drawing *d) {
    double turns = uniform(r, 2.0, 3.5), a0 = uniform(r, 0, 2 * PI);
    int n = between(r, 20, 45), dir = sb_rng_below(r, 2) ? 1 : -1;
    for (int i = 0; i <= n; i++) {
        double t = (double)i / n;
        pt(d, t * cos(a0 + dir * 2 * PI * turns * t), t * sin(a0 + dir * 2 * PI * turns * t));
    }
    lift(d);
}

static void draw_zigzag(sb_rng *r, drawing *d) {
    int teeth = between(r, 3, 8);
    double amp = uniform(r, 0.3, 0.8);
    pt(d, -1, 0);
    for (int i = 1; i <= 2 * teeth; i++) pt(d, -1 + 2.0 * i / (2 * teeth), i % 2 ? -amp : (i == 2 * teeth ? 0 : amp));
    lift(d);
}

static void draw_house(sb_rng *r, drawing *d) {
    double body[8] = {-0.8, -0.2, 0.8, -0.2, 0.8, 1, -0.8, 1};
    double roof[6] = {-1, -0.1, 0, uniform(r, -1, -0.7), 1, -0.1};
    double dw = uniform(r, 0.12, 0.25), dx = uniform(r, -0.4, 0.4);
    double door[8] = {dx - dw, 1, dx - dw, 0.5, dx + dw, 0.5, dx + dw, 1};
    polyline(r, d, body, 4, 1);
    polyline(r, d, roof, 3, 0);
    polyline(r, d, door, 4, 0);
    if (sb_rng_below(r, 2)) { /* a window */
        double wx = dx > 0 ? -0.45 : 0.45, w[8] = {wx - 0.15, 0.1, wx + 0.15, 0.1, wx + 0.15, 0.35, wx - 0.15, 0.35};
        polyline(r, d, w, 4, 1);
    }
}

static void draw_heart(sb_rng *r, drawing *d) {
    /* the classic parametric heart, y pointing down as in QuickDraw */
    int n = between(r, 8, 16);
    for (int half = 0; half < 2; half++) {
        for (int i = 0; i <= n; i++) {
            double t = PI * i / n * (half ? -1 : 1), s = sin(t);
            pt(d, s * s * s, -(13 * cos(t) - 5 * cos(2 * t) - 2 * cos(3 * t) - cos(4 * t)) / 16.0);
        }
        lift(d);
    }
}

static void draw_cross(sb_rng *r, drawing *d) {
    double h = uniform(r, -0.4, 0.2);
    pt(d, 0, -1), segment_to(d, 0, -1, 0, 1, between(r, 1, 4)), lift(d);
    pt(d, -0.8, h), segment_to(d, -0.8, h, 0.8, h, between(r, 1, 4)), lift(d);
}

static void draw_wave(sb_rng *r, drawing *d) {
    int lines = between(r, 1, 2), n = between(r, 12, 30);
    double periods = uniform(r, 1, 3), amp = uniform(r, 0.2, 0.5), phase = uniform(r, 0, 2 * PI);
    for (int k = 0; k < lines; k++) {
        for (int i = 0; i <= n; i++) {
            double x = -1 + 2.0 * i / n;
            pt(d, x, (lines == 2 ? (k ? 0.5 : -0.5) : 0) + amp * sin(phase + 2 * PI * periods * (x + 1) / 2));
        }
        lift(d);
    }
}

static void draw_smiley(sb_rng *r, drawing *d) {
    double a0 = uniform(r, 0, 2 * PI), eye = uniform(r, 0.08, 0.15);
    arc(d, 0, 0, 1, 1, a0, a0 + 2 * PI, between(r, 12, 24));
    arc(d, -0.35, -0.3, eye, eye, 0, 2 * PI, 6);
    arc(d, 0.35, -0.3, eye, eye, 0, 2 * PI, 6);
    arc(d, 0, 0.1, 0.5, uniform(r, 0.2, 0.45), 0.15 * PI, 0.85 * PI, between(r, 5, 10));
}

static const struct {
    const char *name;
    void (*draw)(sb_rng *, drawing *);
} classes[] = {
    {"circle", draw_circle}, {"square", draw_square}, {"triangle", draw_triangle}, {"star", draw_star},
    {"spiral", draw_spiral}, {"zigzag", draw_zigzag}, {"house", draw_house},       {"heart", draw_heart},
    {"cross", draw_cross},   {"wave", draw_wave},     {"smiley", draw_smiley},
};
#define N_CLASSES ((int)(sizeof classes / sizeof classes[0]))

// ---- one sketch: pose, jitter, integer stroke-3

typedef struct { int16_t *points; size_t *starts; size_t count, n_points, cap; } sketch_set;

static void append_point(sketch_set *s, long dx, long dy, int p) {
    if (s->n_points == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 4096;
        s->points = realloc(s->points, s->cap * 3 * sizeof *s->points);
        if (!s->points) {
            fprintf(stderr, "sketchbert-synth: out of memory\n");
            exit(1);
        }
    }
    int16_t *q = s->points + 3 * s->n_points++;
    q[0] = (int16_t)dx, q[1] = (int16_t)dy, q[2] = (int16_t)p;
}

/* Draws class c, poses and jitters it, and appends it as stroke-3: each
 * point rounded to integer absolute coordinates, deltas between them (the
 * first from the origin), repeated points within a stroke dropped. */
static void add_sketch(sb_rng *r, int c, drawing *d, sketch_set *s) {
    d->n = 0;
    classes[c].draw(r, d);
    double scale = uniform(r, 50, 120), aspect = uniform(r, 0.85, 1.15), rot = uniform(r, -0.35, 0.35);
    double tx = uniform(r, -20, 20), ty = uniform(r, -20, 20), jitter = uniform(r, 0.01, 0.035);
    long px = 0, py = 0;
    for (int i = 0; i < d->n; i++) {
        double x = d->xy[2 * i] * aspect + jitter * sb_rng_normal(r), y = d->xy[2 * i + 1] + jitter * sb_rng_normal(r);
        long ax = lround(tx + scale * (x * cos(rot) - y * sin(rot)));
        long ay = lround(ty + scale * (x * sin(rot) + y * cos(rot)));
        int first_of_stroke = i == 0 || d->lift[i - 1];
        if (ax == px && ay == py && !first_of_stroke && !d->lift[i]) continue;
        append_point(s, ax - px, ay - py, d->lift[i]);
        px = ax, py = ay;
    }
    s->starts[++s->count] = s->n_points;
}

// ---- command line

static void usage(FILE *f) {
    fprintf(f,
            "usage: sketchbert-synth [--out DIR] [--seed N] [--classes A,B,...]\n"
            "                        [--train N] [--valid N] [--test N] [--stored]\n"
            "\n"
            "Writes DIR/<class>.npz in the QuickDraw sketch-rnn format (object arrays\n"
            "train, valid, test of int16 (n, 3) stroke-3 sketches) for procedural classes.\n"
            "\n"
            "  --out DIR      output directory, created if missing (default: .)\n"
            "  --seed N       random seed (default 1); the same seed gives the same files\n"
            "  --classes L    comma-separated subset (default: all):\n"
            "                ");
    for (int c = 0; c < N_CLASSES; c++) fprintf(f, " %s", classes[c].name);
    fprintf(f,
            "\n"
            "  --train N      sketches per class in train (default 200)\n"
            "  --valid N      ... in valid (default 20)\n"
            "  --test N       ... in test (default 20)\n"
            "  --stored       store members uncompressed (default: deflate, as\n"
            "                 np.savez_compressed)\n"
            "  --help         this text\n"
            "\nEach file is written as DIR/<class>.npz.tmp and renamed when complete.\n"
            "exit codes: 0 success, 1 failure, 2 bad usage\n");
}

static int parse_count(const char *opt, const char *v, long max, long *out) {
    char *end;
    errno = 0;
    long n = v ? strtol(v, &end, 10) : -1;
    if (!v || errno || *end || n < 0 || n > max) {
        fprintf(stderr, "sketchbert-synth: %s needs an integer in [0, %ld], got '%s'\n", opt, max, v ? v : "");
        return 0;
    }
    *out = n;
    return 1;
}

static int write_class(const char *dir, int c, uint64_t seed, const long *sizes, int deflate) {
    static const char *split_names[3] = {"train", "valid", "test"};
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s.npz", dir, classes[c].name) >= (int)sizeof path) {
        fprintf(stderr, "sketchbert-synth: output path too long\n");
        return 0;
    }
    sb_npz_writer *w;
    if (sb_npz_writer_open(&w, path, deflate)) {
        fprintf(stderr, "sketchbert-synth: %s\n", sb_last_error());
        return 0;
    }
    drawing d = {0};
    int ok = 1;
    for (int k = 0; ok && k < 3; k++) {
        sketch_set s = {0};
        s.starts = calloc((size_t)sizes[k] + 1, sizeof *s.starts);
        if (!s.starts) {
            fprintf(stderr, "sketchbert-synth: out of memory\n");
            exit(1);
        }
        sb_rng r;
        sb_rng_seed_key(&r, seed, (uint64_t)c, (uint64_t)k); /* class index in the full table */
        for (long i = 0; i < sizes[k]; i++) add_sketch(&r, c, &d, &s);
        if (sb_npz_writer_add_sketches(w, split_names[k], s.points, s.starts, s.count)) {
            fprintf(stderr, "sketchbert-synth: %s\n", sb_last_error());
            ok = 0;
        }
        free(s.points), free(s.starts);
    }
    free(d.xy), free(d.lift);
    if (!ok) {
        sb_npz_writer_abort(w);
        return 0;
    }
    if (sb_npz_writer_close(w)) {
        fprintf(stderr, "sketchbert-synth: %s\n", sb_last_error());
        return 0;
    }
    printf("%s: %ld/%ld/%ld sketches\n", path, sizes[0], sizes[1], sizes[2]);
    return 1;
}

int main(int argc, char **argv) {
    const char *out = ".", *class_list = NULL;
    long sizes[3] = {200, 20, 20}, seed = 1;
    int deflate = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--stored") == 0) {
            deflate = 0;
        } else if (strcmp(a, "--out") == 0 && v) {
            out = v, i++;
        } else if (strcmp(a, "--classes") == 0 && v) {
            class_list = v, i++;
        } else if (strcmp(a, "--seed") == 0) {
            if (!parse_count(a, v, 0x7fffffffL, &seed)) return 2;
            i++;
        } else if (strcmp(a, "--train") == 0 || strcmp(a, "--valid") == 0 || strcmp(a, "--test") == 0) {
            int k = a[2] == 't' && a[3] == 'r' ? 0 : a[2] == 'v' ? 1 : 2;
            if (!parse_count(a, v, 10000000L, &sizes[k])) return 2;
            i++;
        } else {
            fprintf(stderr, "sketchbert-synth: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    int chosen[N_CLASSES] = {0};
    if (!class_list) {
        for (int c = 0; c < N_CLASSES; c++) chosen[c] = 1;
    } else {
        for (const char *p = class_list; *p;) {
            size_t len = strcspn(p, ",");
            int found = 0;
            for (int c = 0; c < N_CLASSES; c++)
                if (strlen(classes[c].name) == len && strncmp(classes[c].name, p, len) == 0) chosen[c] = found = 1;
            if (!found) {
                fprintf(stderr, "sketchbert-synth: unknown class '%.*s' (see --help)\n", (int)len, p);
                return 2;
            }
            p += len + (p[len] == ',');
        }
    }
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "sketchbert-synth: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    for (int c = 0; c < N_CLASSES; c++)
        if (chosen[c] && !write_class(out, c, (uint64_t)seed, sizes, deflate)) return 1;
    return 0;
}
