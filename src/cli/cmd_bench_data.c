/* `sketchbert bench data DIR`: how fast the dataset turns sketches into
 * masked stroke-5 batches (transform + SGM mask), on one core, and through
 * the prefetching loader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "data/dataset.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int cmd_bench_data(int argc, char **argv) {
    const char *dir = NULL;
    int batch = 64, max_length = 250;
    double seconds = 2.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: sketchbert bench data DIR [--batch N] [--max-length T] [--seconds S]\n\n"
                   "Sketches per second through the transform and SGM mask of the training split of a\n"
                   "prepared dataset: on one core (sb_dataset_fill), and through the prefetching loader.\n");
            return 0;
        }
        if (i + 1 < argc && !strcmp(argv[i], "--batch")) batch = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--max-length")) max_length = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--seconds")) seconds = atof(argv[++i]);
        else if (argv[i][0] != '-' && !dir) dir = argv[i];
        else {
            fprintf(stderr, "sketchbert bench data: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!dir || batch < 1 || max_length < 2 || !(seconds > 0)) {
        fprintf(stderr, "usage: sketchbert bench data DIR [--batch N] [--max-length T] [--seconds S]\n");
        return 2;
    }
    char sum[4096];
    snprintf(sum, sizeof sum, "%s/memmap_sum.txt", dir);
    sb_dataset_config c = {.sum_path = sum, .split = SB_SPLIT_TRAIN, .mask_type = SB_MASK_TASK, .mask_prob = 0.85,
                           .apply_mask = 1, .cls_token = 1, .seed = 1};
    c.transform = sb_transform_config_default();
    c.transform.max_length = max_length;
    sb_dataset *d;
    if (sb_dataset_open(&d, &c)) {
        fprintf(stderr, "sketchbert bench data: %s\n", sb_last_error());
        return 1;
    }
    uint32_t n = sb_dataset_size(d);
    if ((uint32_t)batch > n) batch = (int)n;
    sb_batch b;
    uint32_t *idx = malloc((size_t)batch * sizeof *idx);
    int rc = !idx || sb_batch_alloc(&b, d, batch);
    long sketches = 0;
    double t0 = now_s(), t = t0;
    for (uint64_t step = 0; !rc && t - t0 < seconds; step++) {
        for (int k = 0; k < batch; k++) idx[k] = (uint32_t)((step * (uint64_t)batch + (uint64_t)k) % n);
        rc = sb_dataset_fill(d, idx, batch, step, &b);
        sketches += batch;
        t = now_s();
    }
    if (!rc) printf("one core: %.0f sketches/s (batch %d, T %d, %u sketches, %d classes)\n", sketches / (t - t0), batch,
                    max_length, n, sb_dataset_num_classes(d));
    sb_batch_free(&b);
    sb_loader *l = NULL;
    if (!rc) rc = sb_loader_open(&l, d, batch, 1, 1, 0);
    sketches = 0;
    t0 = t = now_s();
    while (!rc && t - t0 < seconds) {
        const sb_batch *bb;
        rc = sb_loader_next(l, &bb, NULL, NULL);
        if (!rc) sketches += bb->size;
        t = now_s();
    }
    if (!rc) printf("loader (one prefetch thread, consumer idle): %.0f sketches/s\n", sketches / (t - t0));
    sb_loader_close(l);
    if (rc) fprintf(stderr, "sketchbert bench data: %s\n", sb_last_error());
    free(idx);
    sb_dataset_close(d);
    return rc ? 1 : 0;
}
