/* Per-sketch transform vs the NumPy float64 reference fixture
 * (tools/reference_transform.py), plus rejected inputs. Host only: no
 * OpenCL device is needed. usage: test_transform FIXTURE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "data/transform.h"
#include "sketchbert/sketchbert.h"
#include "test_util.h"
#include "transform_fixture.h"

// ---- one fixture case

static void check_case(const tf_case *c) {
    char what[160];
    sb_transform_config cfg = sb_transform_config_default();
    cfg.max_length = c->max_length, cfg.limit = c->limit, cfg.max_scale_factor = c->factor;
    if (sb_norm_type_parse(c->norm, &cfg.normalization)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    int T = c->max_length, length = -1;
    float *stroke5 = malloc((size_t)T * 5 * sizeof *stroke5), *length_mask = malloc((size_t)T * sizeof *length_mask);
    int32_t *segment = malloc((size_t)T * sizeof *segment);
    for (int i = 0; i < T * 5; i++) stroke5[i] = NAN; /* poison: every element must be written */
    for (int i = 0; i < T; i++) length_mask[i] = NAN, segment[i] = -7;
    int rc = sb_transform_sketch(&cfg, c->in, c->n, stroke5, segment, length_mask, &length);
    snprintf(what, sizeof what, "%s/%s: transform runs", c->name, c->norm);
    if (!t_check_true(what, rc == 0)) {
        printf("  %s\n", sb_last_error());
        goto done;
    }
    snprintf(what, sizeof what, "%s/%s: length %d", c->name, c->norm, c->length);
    t_check_true(what, length == c->length);

    float *xy = malloc((size_t)c->length * 2 * sizeof *xy);
    for (int i = 0; i < c->length; i++) xy[2 * i] = stroke5[i * 5], xy[2 * i + 1] = stroke5[i * 5 + 1];
    snprintf(what, sizeof what, "%s/%s: dx, dy vs NumPy", c->name, c->norm);
    t_check(what, t_rel_err(xy, c->xy, (size_t)c->length * 2), 1e-6);
    free(xy);

    int pen_ok = 1, seg_ok = 1, mask_ok = 1;
    for (int i = 0; i < T; i++) {
        const float *row = stroke5 + i * 5;
        for (int k = 0; k < 3; k++) pen_ok &= row[2 + k] == (k == c->pen[i] ? 1.0f : 0.0f);
        if (i >= c->length) pen_ok &= row[0] == 0.0f && row[1] == 0.0f; /* padding [0, 0, 0, 0, 1] */
        seg_ok &= segment[i] == c->seg[i];
        mask_ok &= length_mask[i] == (i < c->length ? 1.0f : 0.0f);
    }
    snprintf(what, sizeof what, "%s/%s: pen states and padding rows", c->name, c->norm);
    t_check_true(what, pen_ok);
    snprintf(what, sizeof what, "%s/%s: segment ids", c->name, c->norm);
    t_check_true(what, seg_ok);
    snprintf(what, sizeof what, "%s/%s: length mask", c->name, c->norm);
    t_check_true(what, mask_ok);
done:
    free(stroke5), free(length_mask), free(segment);
}

// ---- rejected inputs

static void check_errors(void) {
    sb_transform_config cfg = sb_transform_config_default();
    cfg.max_length = 8;
    float stroke5[8 * 5], length_mask[8];
    int32_t segment[8];
    int16_t bad_pen[6] = {1, 2, 0, 3, 4, 2};
    t_check_error("pen state 2 rejected", sb_transform_sketch(&cfg, bad_pen, 2, stroke5, segment, length_mask, NULL),
                  "pen state 2");
    cfg.max_length = 0;
    t_check_error("max_length 0 rejected", sb_transform_sketch(&cfg, bad_pen, 0, stroke5, segment, length_mask, NULL),
                  "max_length 0");
    cfg.max_length = 8, cfg.limit = 0;
    t_check_error("limit 0 rejected", sb_transform_sketch(&cfg, bad_pen, 0, stroke5, segment, length_mask, NULL),
                  "limit 0");
    cfg.limit = 1000;
    t_check_error("negative point count rejected",
                  sb_transform_sketch(&cfg, bad_pen, -1, stroke5, segment, length_mask, NULL), "-1 points");
    sb_norm_type norm;
    t_check_error("unknown normalization_type rejected", sb_norm_type_parse("min_scale", &norm), "min_scale");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE\n", argv[0]);
        return 2;
    }
    tf_case *cases;
    int n_cases;
    if (tf_load(argv[1], &cases, &n_cases)) return 1;
    printf("# test_transform: %d reference cases from %s\n", n_cases, argv[1]);
    for (int i = 0; i < n_cases; i++) check_case(&cases[i]);
    check_errors();
    tf_free(cases, n_cases);
    return t_finish(NULL);
}
