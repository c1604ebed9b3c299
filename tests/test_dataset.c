/* Dataset and loader: class and sample limits as the original, batch rows
 * equal the transform and mask of their sketch with the task tokens in
 * front, triplets (interleaved, a rank's shard a run of the global batch's
 * rows), shuffled epochs that cover every sketch once, resume at
 * a step gives the same batches, and errors from the prefetch thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/dataset.h"
#include "test_util.h"

enum { CLASSES = 4, PER_SPLIT = 23, T = 40 };
static char dir[] = "/tmp/sketchbert_test_dataset_XXXXXX";
static char sum_path[256], limit_path[256];

/* Sketch k of class c: (k % 50) + 3 points, several strokes. The point
 * count grows past T for some, to exercise input_is_complete. */
static void make_data(int bad_pen) {
    sb_mm_writer *w;
    if (sb_mm_writer_open(&w, dir)) exit(1);
    static const char *names[CLASSES] = {"circle", "square", "star", "zigzag"};
    for (int c = 0; c < CLASSES; c++) {
        if (sb_mm_writer_begin_class(w, names[c])) exit(1);
        for (int s = 0; s < SB_N_SPLITS; s++)
            for (int k = 0; k < PER_SPLIT; k++) {
                int16_t p[60 * 3];
                uint32_t n = (uint32_t)(k * 2 + 3);
                for (uint32_t i = 0; i < n; i++) {
                    p[3 * i] = (int16_t)((int)(t_rand_u32() % 41) - 20);
                    p[3 * i + 1] = (int16_t)((int)(t_rand_u32() % 41) - 20 + c);
                    p[3 * i + 2] = (int16_t)(i + 1 == n || i % 7 == 6);
                }
                if (bad_pen && c == 2 && k == 5) p[2] = 2;
                if (sb_mm_writer_add(w, s, p, n)) exit(1);
            }
    }
    if (sb_mm_writer_finish(w)) {
        printf("# %s\n", sb_last_error());
        exit(1);
    }
}

static sb_dataset_config base_config(void) {
    sb_dataset_config c = {0};
    c.sum_path = sum_path;
    c.split = SB_SPLIT_TRAIN;
    c.transform = sb_transform_config_default();
    c.transform.max_length = T;
    c.mask_type = SB_MASK_TASK;
    c.mask_prob = 0.85;
    c.apply_mask = 1;
    c.seed = 7;
    return c;
}

static void test_limits(void) {
    sb_dataset_config c = base_config();
    sb_dataset *d;
    int rc = sb_dataset_open(&d, &c);
    t_check_true("open", rc == 0);
    if (rc) {
        printf("# %s\n", sb_last_error());
        return;
    }
    t_check_true("all sketches of the split", sb_dataset_size(d) == CLASSES * PER_SPLIT && sb_dataset_num_classes(d) == CLASSES);
    t_check_true("class order from the sum file", !strcmp(sb_dataset_class_name(d, 2), "star"));
    sb_dataset_close(d);

    c.max_cls_cache = 2, c.each_max_samples = 10;
    sb_dataset_open(&d, &c);
    t_check_true("max_cls_cache and each_max_samples", d && sb_dataset_size(d) == 20 && sb_dataset_num_classes(d) == 2);
    sb_dataset_close(d);

    c.max_cls_cache = 0, c.each_max_samples = 0, c.input_is_complete = 1;
    sb_dataset_open(&d, &c);
    /* k*2+3 >= 40 for k >= 19: 4 of 23 per class dropped */
    t_check_true("input_is_complete drops long sketches", d && sb_dataset_size(d) == CLASSES * 19 &&
                                                                 sb_dataset_skipped(d) == CLASSES * 4);
    sb_dataset_close(d);

    FILE *f = fopen(limit_path, "w");
    fputs("zigzag\ncircle\n", f);
    fclose(f);
    c.input_is_complete = 0, c.cls_limit_path = limit_path;
    sb_dataset_open(&d, &c);
    t_check_true("cls_limit_path keeps the listed classes in sum-file order",
                 d && sb_dataset_num_classes(d) == 2 && !strcmp(sb_dataset_class_name(d, 0), "circle") &&
                     !strcmp(sb_dataset_class_name(d, 1), "zigzag"));
    sb_dataset_close(d);

    c = base_config();
    c.sum_path = "/nonexistent/memmap_sum.txt";
    t_check_error("missing sum file", sb_dataset_open(&d, &c), "/nonexistent");
}

static void test_rows(void) {
    sb_dataset_config c = base_config();
    c.cls_token = c.rel_token = 1;
    sb_dataset *d;
    if (sb_dataset_open(&d, &c)) return;
    sb_batch b;
    sb_batch_alloc(&b, d, 3);
    uint32_t idx[3] = {5, 40, 77};
    int rc = sb_dataset_fill(d, idx, 3, 11, &b);
    float s5[T * 5], lm[T], mask[T * 5];
    int32_t seg[T], scratch[T];
    int ok = !rc && b.size == 3 && b.tokens == 2;
    for (int r = 0; ok && r < 3; r++) {
        uint32_t n;
        int label, len;
        const int16_t *pts = sb_dataset_points(d, idx[r], &n, &label);
        sb_transform_sketch(&c.transform, pts, (int)n, s5, seg, lm, &len);
        sb_sgm_mask(c.mask_type, c.mask_prob, s5, T, len, c.seed, 11, idx[r], mask, scratch);
        const float *in = b.input + (size_t)r * (T + 2) * 5;
        for (int k = 0; k < 5; k++) ok &= in[k] == -2.0f && in[5 + k] == -1.0f;
        ok &= b.segment[r * (T + 2)] == 0 && b.segment[r * (T + 2) + 1] == 0;
        ok &= b.length_mask[r * (T + 2)] == 1 && b.length_mask[r * (T + 2) + 1] == 1;
        ok &= b.label[r] == label && b.index[r] == idx[r];
        for (int k = 0; k < T * 5; k++)
            ok &= in[10 + k] == s5[k] * mask[k] && b.stroke[r * T * 5 + k] == s5[k] && b.mask[r * T * 5 + k] == mask[k];
        for (int k = 0; k < T; k++) ok &= b.segment[r * (T + 2) + 2 + k] == seg[k] && b.length_mask[r * (T + 2) + 2 + k] == lm[k];
    }
    t_check_true("batch rows: tokens (retrieval, then class), transform and mask of their sketch", ok);
    int masked = 0;
    for (int k = 0; k < T * 5; k++) masked += b.mask[k] == 0;
    t_check_true("training batches are masked", masked > 0);
    sb_batch_free(&b);
    sb_dataset_close(d);

    c.apply_mask = 0;
    sb_dataset_open(&d, &c);
    sb_batch_alloc(&b, d, 1);
    sb_dataset_fill(d, idx, 1, 11, &b);
    int ones = 1;
    for (int k = 0; k < T * 5; k++) ones &= b.mask[k] == 1.0f;
    t_check_true("evaluation batches are not masked", ones);
    sb_batch_free(&b);
    sb_dataset_close(d);
}

static void test_triplets(void) {
    sb_dataset_config c = base_config();
    c.triplet = 1;
    sb_dataset *d;
    if (sb_dataset_open(&d, &c)) return;
    sb_batch b;
    sb_batch_alloc(&b, d, 8);
    uint32_t idx[8];
    for (int k = 0; k < 8; k++) idx[k] = (uint32_t)(k * 11);
    int ok = sb_dataset_fill(d, idx, 8, 3, &b) == 0 && b.size == 24;
    for (int k = 0; ok && k < 8; k++) /* interleaved: anchor, positive, negative */
        ok = b.index[3 * k] == idx[k] && b.label[3 * k + 1] == b.label[3 * k] &&
             b.index[3 * k + 1] != b.index[3 * k] && b.label[3 * k + 2] != b.label[3 * k];
    t_check_true("triplets interleaved: anchor, positive of the same class (another sketch), negative of another", ok);
    sb_batch_free(&b);
    sb_dataset_close(d);
}

/* A rank's triplet batch is the run of rows [offset, offset + size) of
 * the step's global batch, row for row (what makes the dropout keys, by row
 * position in the global batch, independent of the split): 3 ranks x 5
 * against 1 x 15, over the short last batch of the epoch (2 triplets, so
 * two ranks get none). */
static void test_triplet_shards(void) {
    sb_dataset_config c = base_config();
    c.triplet = 1;
    sb_dataset *d;
    if (sb_dataset_open(&d, &c)) return;
    sb_loader *one, *part[3];
    int ok = sb_loader_open(&one, d, 15, 1, 0, 0) == 0;
    for (int r = 0; r < 3; r++) ok = ok && sb_loader_open_shard(&part[r], d, 5, 3, r, 1, 0, 0) == 0;
    uint64_t per = ok ? sb_loader_batches_per_epoch(one) : 0;
    int rows = 0, short_seen = 0;
    for (uint64_t k = 0; ok && k < per + 1; k++) {
        const sb_batch *g, *b;
        ok = sb_loader_next(one, &g, NULL, NULL) == 0;
        int at = 0;
        for (int r = 0; ok && r < 3; r++) {
            ok = sb_loader_next(part[r], &b, NULL, NULL) == 0 && b->offset == at && b->global == g->global &&
                 b->size % 3 == 0 && at + b->size <= g->size;
            size_t Tin = (size_t)(b->tokens + T);
            for (int i = 0; ok && i < b->size; i++)
                ok = b->index[i] == g->index[at + i] && b->label[i] == g->label[at + i] &&
                     !memcmp(b->input + i * Tin * 5, g->input + (at + i) * Tin * 5, Tin * 5 * sizeof(float)) &&
                     !memcmp(b->mask + i * T * 5, g->mask + (at + i) * T * 5, (size_t)T * 5 * sizeof(float));
            at += b->size, rows += b->size;
            short_seen |= b->size < 15;
        }
        ok = ok && at == g->size;
    }
    char what[160];
    snprintf(what, sizeof what, "3 ranks x 5 triplets: each rank's rows are rows [offset, + size) of the 1 x 15 "
             "batch (%d rows, %llu steps, a short batch: %s)", rows, (unsigned long long)(per + 1),
             short_seen ? "yes" : "no");
    t_check_true(what, ok && short_seen);
    sb_loader_close(one);
    for (int r = 0; r < 3; r++) sb_loader_close(part[r]);
    sb_dataset_close(d);
}

static void test_loader(void) {
    sb_dataset_config c = base_config();
    sb_dataset *d;
    if (sb_dataset_open(&d, &c)) return;
    uint32_t n = sb_dataset_size(d);
    sb_loader *l;
    sb_loader_open(&l, d, 10, 1, 0, 0);
    unsigned char *seen = calloc(n, 1);
    const sb_batch *b;
    uint64_t step, epoch;
    uint64_t per = sb_loader_batches_per_epoch(l);
    int ok = per == (n + 9) / 10;
    uint32_t first_of_step3[10];
    float input_step3 = 0;
    for (uint64_t k = 0; ok && k < per + 4; k++) {
        ok = sb_loader_next(l, &b, &step, &epoch) == 0 && step == k && epoch == k / per;
        if (k < per)
            for (int r = 0; ok && r < b->size; r++) ok = !seen[b->index[r]]++;
        if (k == per + 3) memcpy(first_of_step3, b->index, sizeof first_of_step3), input_step3 = b->input[123];
    }
    int all = ok;
    for (uint32_t i = 0; i < n; i++) all &= seen[i] == 1;
    t_check_true("an epoch serves every sketch exactly once", all);
    sb_loader_close(l);

    sb_loader_open(&l, d, 10, 1, 0, per + 3); /* resume */
    ok = sb_loader_next(l, &b, &step, &epoch) == 0 && step == per + 3 && epoch == 1 &&
         !memcmp(b->index, first_of_step3, sizeof first_of_step3) && b->input[123] == input_step3;
    t_check_true("resuming at a step gives the same batch", ok);
    sb_loader_close(l);

    sb_loader_open(&l, d, 10, 0, 1, 0);
    ok = sb_loader_next(l, &b, &step, &epoch) == 0 && b->index[0] == 0 && b->index[9] == 9 &&
         sb_loader_batches_per_epoch(l) == n / 10;
    t_check_true("unshuffled, drop_last", ok);
    sb_loader_close(l);
    t_check_error("batch larger than the split", sb_loader_open(&l, d, (int)n + 1, 0, 1, 0), "larger than");
    free(seen);
    sb_dataset_close(d);
}

/* Batches depend on the step only: 1 and 3 prefetch threads (the latter
 * with read-ahead) serve the same ones, over an epoch boundary, whatever
 * order the workers finish in. */
static void test_loader_threads(void) {
    sb_dataset_config c = base_config();
    sb_dataset *d[2];
    c.loader_threads = 1;
    if (sb_dataset_open(&d[0], &c)) return;
    c.loader_threads = 3;
    c.read_ahead = 1;
    if (sb_dataset_open(&d[1], &c)) return;
    sb_loader *l[2];
    int ok = sb_loader_open(&l[0], d[0], 7, 1, 0, 0) == 0 && sb_loader_open(&l[1], d[1], 7, 1, 0, 0) == 0;
    uint64_t per = ok ? sb_loader_batches_per_epoch(l[0]) : 0;
    for (uint64_t k = 0; ok && k < 2 * per + 3; k++) {
        const sb_batch *a, *b;
        uint64_t sa, sb;
        ok = sb_loader_next(l[0], &a, &sa, NULL) == 0 && sb_loader_next(l[1], &b, &sb, NULL) == 0 && sa == k &&
             sb == k && a->size == b->size && !memcmp(a->index, b->index, (size_t)a->size * sizeof *a->index) &&
             !memcmp(a->input, b->input, (size_t)a->size * (size_t)(a->tokens + a->max_length) * 5 * sizeof(float));
        if (k % 5 == 0) usleep(2000); /* let the workers run ahead and finish out of order */
    }
    char what[96];
    snprintf(what, sizeof what, "1 and 3 loader threads (read-ahead on) serve the same batches (%llu steps)",
             (unsigned long long)(2 * per + 3));
    t_check_true(what, ok);
    sb_loader_close(l[0]);
    sb_loader_close(l[1]);
    sb_dataset_close(d[0]);
    sb_dataset_close(d[1]);
}

static void test_worker_error(void) {
    make_data(1); /* class star, sketch 5 has pen value 2 */
    sb_dataset_config c = base_config();
    sb_dataset *d;
    if (sb_dataset_open(&d, &c)) return;
    sb_loader *l;
    sb_loader_open(&l, d, (int)sb_dataset_size(d), 0, 0, 0);
    const sb_batch *b;
    t_check_error("a bad sketch stops the loader with its class named", sb_loader_next(l, &b, NULL, NULL), "star");
    sb_loader_close(l);
    sb_dataset_close(d);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    snprintf(sum_path, sizeof sum_path, "%s/%s", dir, SB_MM_SUM_FILE);
    snprintf(limit_path, sizeof limit_path, "%s/limit.txt", dir);
    make_data(0);
    test_limits();
    test_rows();
    test_triplets();
    test_triplet_shards();
    test_loader();
    test_loader_threads();
    test_worker_error();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("# could not remove %s\n", dir);
    return t_finish(NULL);
}
