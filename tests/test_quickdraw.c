/* QuickDraw drawings: .bin records decoded, drawings to stroke-3 as
 * sketch-rnn does, the raw simplification on shapes whose answer is
 * known (a straight line, a circle), and the signs of raw drawings. Real raw vs simplified pairs are
 * checked in test_quickdraw_real when ../shared data is present. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/quickdraw.h"
#include "io/qdbin.h"
#include "test_util.h"

static size_t put_record(unsigned char *b, uint64_t key, const unsigned char *xs, const unsigned char *ys,
                         const unsigned *lens, unsigned n_strokes) {
    size_t p = 0;
    for (int i = 0; i < 8; i++) b[p++] = (unsigned char)(key >> (8 * i));
    b[p++] = 'D', b[p++] = 'E', b[p++] = 1;
    b[p++] = 0x78, b[p++] = 0x56, b[p++] = 0x34, b[p++] = 0x12;
    b[p++] = (unsigned char)n_strokes, b[p++] = 0;
    for (unsigned s = 0, off = 0; s < n_strokes; off += lens[s++]) {
        b[p++] = (unsigned char)lens[s], b[p++] = 0;
        memcpy(b + p, xs + off, lens[s]), p += lens[s];
        memcpy(b + p, ys + off, lens[s]), p += lens[s];
    }
    return p;
}

static void test_bin_and_stroke3(void) {
    unsigned char buf[512];
    const unsigned char xs[5] = {10, 20, 30, 5, 6}, ys[5] = {100, 90, 95, 0, 255};
    const unsigned lens[2] = {3, 2};
    size_t n1 = put_record(buf, 0x0102030405060708ull, xs, ys, lens, 2);
    size_t n2 = put_record(buf + n1, 42, xs, ys, lens, 1);
    size_t pos = 0;
    sb_qdbin_record r;
    int got = sb_qdbin_next(buf, n1 + n2, &pos, "mem.bin", &r);
    t_check_true("first record read", got == 1 && r.key_id == 0x0102030405060708ull && r.recognized == 1 &&
                                           r.timestamp == 0x12345678 && !strcmp(r.countrycode, "DE") &&
                                           r.drawing.n_strokes == 2 && r.drawing.stroke_len[1] == 2 &&
                                           r.drawing.y[4] == 255);
    int16_t *p;
    uint32_t n;
    int rc = sb_drawing_to_stroke3(&r.drawing, &p, &n);
    const int16_t want[15] = {10, 100, 0, 10, -10, 0, 10, 5, 1, -25, -95, 0, 1, 255, 1};
    t_check_true("stroke-3 as sketch-rnn's lines_to_strokes", !rc && n == 5 && !memcmp(p, want, sizeof want));
    free(p);
    sb_drawing_free(&r.drawing);
    got = sb_qdbin_next(buf, n1 + n2, &pos, "mem.bin", &r);
    t_check_true("second record read", got == 1 && r.key_id == 42 && r.drawing.n_strokes == 1);
    sb_drawing_free(&r.drawing);
    t_check_true("end of data", sb_qdbin_next(buf, n1 + n2, &pos, "mem.bin", &r) == 0);
    pos = 0;
    t_check_error("truncated record", sb_qdbin_next(buf, n1 - 3, &pos, "mem.bin", &r), "mem.bin: record at byte 0");
}

/* A one-stroke drawing; *x, *y to fill. */
static sb_drawing one_stroke(int n, float **x, float **y) {
    sb_drawing d;
    int *len;
    if (sb_drawing_alloc(&d, 1, n, &len, x, y)) exit(1);
    len[0] = n;
    return d;
}

static void test_simplify(void) {
    float *x, *y;
    sb_drawing line = one_stroke(1000, &x, &y), out;
    for (int i = 0; i < 1000; i++) x[i] = 100 + 0.5f * i, y[i] = 300;
    int rc = sb_drawing_simplify(&line, &out);
    t_check_true("straight line becomes its two ends, scaled to 0..255",
                 !rc && out.n_strokes == 1 && out.n_points == 2 && out.x[0] == 0 && out.x[1] == 255 &&
                     out.y[0] == 0 && out.y[1] == 0);
    sb_drawing_free(&out);
    sb_drawing_free(&line);

    sb_drawing circle = one_stroke(721, &x, &y);
    for (int i = 0; i < 721; i++) {
        double a = 2 * M_PI * i / 720.0;
        x[i] = (float)(1000 + 400 * cos(a)), y[i] = (float)(50 + 400 * sin(a));
    }
    rc = sb_drawing_simplify(&circle, &out);
    /* Every kept point lies on the scaled circle (radius 127.5 about
     * (127.5, 127.5)) up to rounding, and the chords stay within epsilon 2
     * of the arc: few points, but enough of them. */
    double worst = 0;
    for (int i = 0; !rc && i < out.n_points; i++)
        worst = fmax(worst, fabs(hypot(out.x[i] - 127.5, out.y[i] - 127.5) - 127.5));
    int m = rc ? 0 : out.n_points;
    t_check_true("circle keeps its points on the circle", !rc && worst < 1.0);
    /* A chord of a circle of radius r deviates by r(1 - cos(theta/2)); with
     * eps 2 and r 127.5 that allows ~20 degree chords: about 18-40 points. */
    t_check_true("circle simplified to a few dozen points", m >= 16 && m <= 48);
    sb_drawing_free(&out);
    sb_drawing_free(&circle);
    sb_drawing empty = {0};
    t_check_error("empty drawing rejected", sb_drawing_simplify(&empty, &out), "no points");
}

/* A circle of radius r about (cx, cy) in n + 1 points. */
static sb_drawing circle_of(int n, float cx, float cy, float r) {
    float *x, *y;
    sb_drawing d = one_stroke(n + 1, &x, &y);
    for (int i = 0; i <= n; i++) {
        double a = 2 * M_PI * i / n;
        x[i] = roundf((float)(cx + r * cos(a))), y[i] = roundf((float)(cy + r * sin(a)));
    }
    return d;
}

static void test_raw_signs(void) {
    /* as Google simplifies: integers in 0..255, a few dozen points */
    sb_drawing d = circle_of(24, 127.5f, 127.5f, 127);
    t_check_true("a simplified circle shows no sign", sb_drawing_raw_signs(&d, 0) == 0);
    t_check_true("a time array is a sign", sb_drawing_raw_signs(&d, 1) == SB_RAW_TIMED);
    ((float *)d.x)[3] += 0.25f;
    t_check_true("a fractional coordinate is a sign", sb_drawing_raw_signs(&d, 0) == SB_RAW_FRACTIONAL);
    sb_drawing_free(&d);
    d = circle_of(24, 400, 300, 120); /* screen coordinates */
    t_check_true("coordinates past 255 are a sign", sb_drawing_raw_signs(&d, 0) == SB_RAW_RANGE);
    sb_drawing_free(&d);
    /* 400 points 2 px apart on the 0..255 scale: 50 per 100 px */
    d = circle_of(400, 127.5f, 127.5f, 127);
    t_check_true("dense points are a sign", sb_drawing_raw_signs(&d, 0) == SB_RAW_DENSE);
    sb_drawing simple;
    int rc = sb_drawing_simplify(&d, &simple);
    t_check_true("and none once simplified", !rc && sb_drawing_raw_signs(&simple, 0) == 0);
    if (!rc) sb_drawing_free(&simple);
    sb_drawing_free(&d);
    d = circle_of(18, 127.5f, 127.5f, 2); /* tiny, but too few points to call dense */
    t_check_true("fewer than 20 points are never dense", sb_drawing_raw_signs(&d, 0) == 0);
    sb_drawing_free(&d);
}

int main(void) {
    test_bin_and_stroke3();
    test_simplify();
    test_raw_signs();
    return t_finish(NULL);
}
