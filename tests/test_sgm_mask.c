/* SGM masks against the NumPy reference groups and counts
 * (tools/reference_transform.py): for every fixture case, both
 * normalisations, each mask type and mask_prob, the masked points come
 * only from the right groups, in exactly the original's numbers, the last
 * real point's pen state is always masked, and masks depend only on their
 * key. Host only. usage: test_sgm_mask FIXTURE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/sgm_mask.h"
#include "data/transform.h"
#include "sketchbert/sketchbert.h"
#include "test_util.h"
#include "transform_fixture.h"

enum { SEED = 1234 };

/* Row i's columns [c0, c1) all masked (1), all kept (0), or mixed (-1). */
static int row_state(const float *mask, int i, int c0, int c1) {
    int zeros = 0, ones = 0;
    for (int c = c0; c < c1; c++) zeros += mask[i * 5 + c] == 0.0f, ones += mask[i * 5 + c] == 1.0f;
    return zeros == c1 - c0 ? 1 : ones == c1 - c0 ? 0 : -1;
}

/* The task-mask rules for one case and one k row; returns 1 when all hold,
 * else prints what failed and returns 0. */
static int task_ok(const tf_case *c, const float *mask, const int *k) {
    int T = c->max_length, L = c->length, masked[5] = {0};
    for (int i = 0; i < T; i++) {
        int axis = row_state(mask, i, 0, 2), pen = row_state(mask, i, 2, 5);
        if (axis < 0 || pen < 0) return printf("  row %d partly masked\n", i), 0;
        if (axis && i >= L) return printf("  padding row %d has masked axes\n", i), 0;
        if (axis) masked[c->start[i]]++;
        if (pen) masked[2 + c->pen[i]]++;
    }
    if (row_state(mask, L - 1, 2, 5) != 1) return printf("  last real point's pen state kept\n"), 0;
    for (int g = 0; g < 5; g++) {
        /* the last real point's group may hold one more than k: it is masked
         * whether or not the draw chose it */
        int last_group = g >= 2 && g - 2 == c->pen[L - 1];
        int ok = masked[g] == k[g] || (last_group && masked[g] == k[g] + 1);
        if (!ok) return printf("  group %d: %d masked, expected %d%s\n", g, masked[g], k[g], last_group ? " (+1)" : ""), 0;
    }
    return 1;
}

static int single_ok(const tf_case *c, const float *mask, int k) {
    int n = 0;
    for (int i = 0; i < c->max_length; i++) {
        int s = row_state(mask, i, 0, 5);
        if (s < 0 || (s && i >= c->length)) return printf("  row %d wrongly masked\n", i), 0;
        n += s;
    }
    if (n != k) return printf("  %d rows masked, expected %d\n", n, k), 0;
    return 1;
}

static int full_ok(const tf_case *c, const float *mask) {
    for (int i = 0; i < c->max_length * 5; i++)
        if (mask[i] != 1.0f) return 0;
    return 1;
}

static int transform(const tf_case *c, float *stroke5) {
    sb_transform_config cfg = sb_transform_config_default();
    cfg.max_length = c->max_length, cfg.limit = c->limit, cfg.max_scale_factor = c->factor;
    int32_t seg[1024];
    float length_mask[1024];
    if (c->max_length > 1024 || sb_norm_type_parse(c->norm, &cfg.normalization) ||
        sb_transform_sketch(&cfg, c->in, c->n, stroke5, seg, length_mask, NULL))
        return t_check_true(sb_last_error(), 0), 1;
    return 0;
}

static void check_case(const tf_case *c, int case_index) {
    static const char *type_names[] = {"task", "single", "full"};
    int T = c->max_length;
    float *stroke5 = malloc((size_t)T * 5 * sizeof *stroke5), *mask = malloc((size_t)T * 5 * sizeof *mask),
          *again = malloc((size_t)T * 5 * sizeof *again);
    int32_t *scratch = malloc((size_t)T * sizeof *scratch);
    if (transform(c, stroke5)) goto done;
    int start_ok = 1;
    for (int i = 0; i < c->length; i++) start_ok &= sb_sgm_axis_start(stroke5, i) == c->start[i];
    char what[200];
    snprintf(what, sizeof what, "%s/%s: axis stroke-start groups", c->name, c->norm);
    t_check_true(what, start_ok);

    for (int t = 0; t < 3; t++) {
        sb_mask_type type;
        sb_mask_type_parse(type_names[t], &type);
        int all_ok = 1, det_ok = 1;
        for (int p = 0; p < c->n_probs; p++) {
            for (int step = 0; step < 3; step++) {
                for (int i = 0; i < T * 5; i++) mask[i] = 0.5f; /* poison */
                if (sb_sgm_mask(type, c->prob[p], stroke5, T, c->length, SEED, step, case_index, mask, scratch)) {
                    t_check_true(sb_last_error(), 0);
                    goto done;
                }
                int ok = type == SB_MASK_TASK     ? task_ok(c, mask, c->counts[p])
                         : type == SB_MASK_SINGLE ? single_ok(c, mask, c->counts[p][5])
                                                  : full_ok(c, mask);
                if (!ok) printf("  (%s, mask_prob %g, step %d)\n", type_names[t], c->prob[p], step);
                all_ok &= ok;
                sb_sgm_mask(type, c->prob[p], stroke5, T, c->length, SEED, step, case_index, again, scratch);
                det_ok &= memcmp(mask, again, (size_t)T * 5 * sizeof *mask) == 0;
            }
        }
        snprintf(what, sizeof what, "%s/%s: %s masks: groups and counts as the original", c->name, c->norm,
                 type_names[t]);
        t_check_true(what, all_ok);
        snprintf(what, sizeof what, "%s/%s: %s masks: same key, same mask", c->name, c->norm, type_names[t]);
        t_check_true(what, det_ok);
    }
done:
    free(stroke5), free(mask), free(again), free(scratch);
}

/* Keys that differ in any word give different masks (on a sketch with
 * enough points that equal masks would be a failure, not chance). */
static void check_keys_differ(const tf_case *c) {
    int T = c->max_length;
    float *stroke5 = malloc((size_t)T * 5 * sizeof *stroke5), *m[4];
    int32_t *scratch = malloc((size_t)T * sizeof *scratch);
    for (int j = 0; j < 4; j++) m[j] = malloc((size_t)T * 5 * sizeof *m[j]);
    if (!transform(c, stroke5)) {
        const uint64_t keys[4][3] = {{SEED, 0, 0}, {SEED, 0, 1}, {SEED, 1, 0}, {SEED + 1, 0, 0}};
        for (int j = 0; j < 4; j++)
            sb_sgm_mask(SB_MASK_TASK, 0.5, stroke5, T, c->length, keys[j][0], keys[j][1], keys[j][2], m[j], scratch);
        int differ = 1;
        for (int a = 0; a < 4; a++)
            for (int b = a + 1; b < 4; b++) differ &= memcmp(m[a], m[b], (size_t)T * 5 * sizeof(float)) != 0;
        char what[160];
        snprintf(what, sizeof what, "%s/%s: different keys (seed, step, index) give different masks", c->name, c->norm);
        t_check_true(what, differ);
    }
    for (int j = 0; j < 4; j++) free(m[j]);
    free(stroke5), free(scratch);
}

static void check_errors(void) {
    float stroke5[4 * 5] = {0}, mask[4 * 5];
    int32_t scratch[4];
    sb_mask_type type;
    t_check_error("length 0 rejected", sb_sgm_mask(SB_MASK_TASK, 0.85, stroke5, 4, 0, 1, 0, 0, mask, scratch),
                  "length 0");
    t_check_error("length > max_length rejected",
                  sb_sgm_mask(SB_MASK_TASK, 0.85, stroke5, 4, 5, 1, 0, 0, mask, scratch), "length 5");
    t_check_error("mask_prob 1.5 rejected", sb_sgm_mask(SB_MASK_SINGLE, 1.5, stroke5, 4, 2, 1, 0, 0, mask, scratch),
                  "mask_prob 1.5");
    t_check_error("unknown mask_task_type rejected", sb_mask_type_parse("half", &type), "'half'");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE\n", argv[0]);
        return 2;
    }
    tf_case *cases;
    int n_cases;
    if (tf_load(argv[1], &cases, &n_cases)) return 1;
    printf("# test_sgm_mask: %d reference cases from %s\n", n_cases, argv[1]);
    for (int i = 0; i < n_cases; i++) {
        check_case(&cases[i], i);
        if (strcmp(cases[i].name, "long") == 0 || strcmp(cases[i].name, "walk") == 0) check_keys_differ(&cases[i]);
    }
    check_errors();
    tf_free(cases, n_cases);
    return t_finish(NULL);
}
