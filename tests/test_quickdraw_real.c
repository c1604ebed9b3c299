/* Raw QuickDraw drawings simplified here against Google's own simplified
 * lines for the same key_id (../shared/data pairs them up), every
 * simplified drawing converted to stroke-3 and back, and the raw-drawing
 * signs: every raw drawing shows one, no simplified drawing (Google's or
 * ours) does. Skips without the shared data. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/quickdraw.h"
#include "io/ndjson.h"
#include "test_util.h"

/* Distance from (px, py) to the polyline of stroke s of d. */
static double to_stroke(const sb_drawing *d, int s, int at, double px, double py) {
    double best = INFINITY;
    int n = d->stroke_len[s];
    for (int i = 0; i < n; i++) {
        double ax = d->x[at + i], ay = d->y[at + i];
        double bx = d->x[at + (i + 1 < n ? i + 1 : i)], by = d->y[at + (i + 1 < n ? i + 1 : i)];
        double dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
        double t = l2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / l2 : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        best = fmin(best, hypot(px - (ax + t * dx), py - (ay + t * dy)));
    }
    return best;
}

static sb_drawing view_of(const sb_qd_drawing *q) {
    return (sb_drawing){q->n_strokes, q->stroke_len, q->n_points, q->x, q->y, NULL};
}

int main(void) {
    const char *data = getenv("SKETCHBERT_SHARED_DATA");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/quickdraw/raw", data ? data : "../shared/data");
    DIR *d = opendir(dir);
    if (!d) {
        printf("SKIP test_quickdraw_real: %s not found (needs ../shared/data)\n", dir);
        return 77;
    }
    int pairs = 0, same_strokes = 0, roundtrip_ok = 1, files = 0, raw_signed = 0, simple_signed = 0;
    unsigned raw_signs = 0;
    double sum_dist = 0, max_mean = 0;
    long n_dist = 0, points_ours = 0, points_google = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strstr(e->d_name, ".ndjson") || files >= 60) continue; /* 60 classes keep it quick */
        char raw_path[2048], simp_path[2048];
        snprintf(raw_path, sizeof raw_path, "%s/%s", dir, e->d_name);
        snprintf(simp_path, sizeof simp_path, "%s/../simplified/%s", dir, e->d_name);
        sb_ndjson *raw, *simp;
        if (sb_ndjson_open(&raw, raw_path)) continue;
        if (sb_ndjson_open(&simp, simp_path)) { /* zigzag has no simplified file */
            sb_ndjson_close(raw);
            continue;
        }
        files++;
        sb_qd_drawing r, s;
        while (sb_ndjson_next(raw, &r) == 1 && sb_ndjson_next(simp, &s) == 1) {
            if (strcmp(r.key_id, s.key_id) != 0) break; /* raw holds the first lines only */
            sb_drawing rv = view_of(&r), sv = view_of(&s), ours;
            unsigned signs = sb_drawing_raw_signs(&rv, r.t != NULL);
            raw_signed += signs != 0, raw_signs |= signs;
            simple_signed += sb_drawing_raw_signs(&sv, s.t != NULL) != 0;
            if (sb_drawing_simplify(&rv, &ours)) {
                t_check_true(sb_last_error(), 0);
                continue;
            }
            pairs++;
            simple_signed += sb_drawing_raw_signs(&ours, 0) != 0;
            same_strokes += ours.n_strokes == sv.n_strokes;
            points_ours += ours.n_points, points_google += sv.n_points;
            if (ours.n_strokes == sv.n_strokes) {
                double sum = 0;
                for (int k = 0, at = 0, ga = 0; k < ours.n_strokes; at += ours.stroke_len[k], ga += sv.stroke_len[k], k++)
                    for (int i = 0; i < ours.stroke_len[k]; i++)
                        sum += to_stroke(&sv, k, ga, ours.x[at + i], ours.y[at + i]);
                sum_dist += sum, n_dist += ours.n_points;
                if (ours.n_points && sum / ours.n_points > max_mean) max_mean = sum / ours.n_points;
            }
            sb_drawing_free(&ours);
            /* Google's simplified lines to stroke-3 and back: exact. */
            int16_t *p;
            uint32_t n;
            if (sb_drawing_to_stroke3(&sv, &p, &n) == 0) {
                long x = 0, y = 0;
                for (uint32_t k = 0; k < n && roundtrip_ok; k++) {
                    x += p[3 * k], y += p[3 * k + 1];
                    roundtrip_ok = x == (long)sv.x[k] && y == (long)sv.y[k];
                }
                free(p);
            }
        }
        sb_ndjson_close(raw);
        sb_ndjson_close(simp);
    }
    closedir(d);
    double mean = n_dist ? sum_dist / (double)n_dist : INFINITY;
    printf("# %d files, %d raw/simplified pairs: same stroke count %d; points ours %ld vs Google %ld; "
           "mean distance %.3f px, worst drawing mean %.3f px\n",
           files, pairs, same_strokes, points_ours, points_google, mean, max_mean);
    t_check_true("raw/simplified pairs found", pairs > 100);
    t_check_true("same number of strokes as Google's", same_strokes == pairs);
    t_check("mean distance of our points to Google's lines (px)", mean, 0.05);
    t_check("worst drawing's mean distance (px)", max_mean, 1.0);
    t_check("point count relative to Google's", fabs((double)points_ours / (double)points_google - 1), 0.02);
    t_check_true("simplified drawings to stroke-3 and back", roundtrip_ok);
    printf("# raw drawings with a sign %d of %d (signs seen: %#x); simplified ones with a sign %d\n", raw_signed, pairs,
           raw_signs, simple_signed);
    t_check_true("every raw drawing looks raw", raw_signed == pairs);
    t_check_true("time stamps, fractions, range and density all seen", raw_signs == 15);
    t_check_true("no simplified drawing looks raw, Google's or ours", simple_signed == 0);
    return t_finish(NULL);
}
