/* `sketchbert bench data DIR`: how fast the dataset turns sketches into
 * masked stroke-5 batches (transform + SGM mask), on one core, and through
 * the prefetching loader, warm or cold (the split's .dat files dropped from
 * the page cache first). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "data/dataset.h"
#include "data/rng.h"

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }

#define USAGE                                                                                                   \
    "usage: sketchbert bench data DIR [--batch N] [--max-length T] [--seconds S] [--threads N]\n"         \
    "                             [--read-ahead auto|on|off] [--sequential] [--cold]\n"

/* Drops the train split's files from the page cache (clean pages of files
 * we may read: no privileges needed, other files untouched). */
static int evict(const char *dir) {
    sb_mm_index idx;
    SB_TRY(sb_mm_index_load(&idx, dir));
    int rc = 0;
    for (uint32_t c = 0; !rc && c < idx.n_classes; c++) {
        char path[4200];
        sb_mm_dat_path(path, sizeof path, dir, idx.classes[c].name, SB_SPLIT_TRAIN);
        int fd = open(path, O_RDONLY);
        if (fd < 0 || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0)
            rc = sb_fail(SB_ERR_IO, "cannot drop %s from the page cache", path);
        if (fd >= 0) close(fd);
    }
    sb_mm_index_free(&idx);
    return rc;
}

int cmd_bench_data(int argc, char **argv) {
    const char *dir = NULL;
    int batch = 64, max_length = 250, sequential = 0, cold = 0, threads = 0, read_ahead = 0;
    double seconds = 2.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf(USAGE "\n"
                   "Sketches per second through the transform and SGM mask of the training split of a\n"
                   "prepared dataset: on one core (sb_dataset_fill) in a shuffled order like training\n"
                   "(--sequential: file order), then through the prefetching loader (shuffled; --threads\n"
                   "workers, default as in training), with its rate in each second. --cold drops the\n"
                   "split's files from the page cache before each. --read-ahead: the dataset's read_ahead.\n");
            return 0;
        }
        if (i + 1 < argc && !strcmp(argv[i], "--batch")) batch = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--max-length")) max_length = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--seconds")) seconds = atof(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--read-ahead")) {
            const char *v = argv[++i];
            read_ahead = !strcmp(v, "on") ? 1 : !strcmp(v, "off") ? -1 : !strcmp(v, "auto") ? 0 : 2;
        } else if (!strcmp(argv[i], "--sequential")) sequential = 1;
        else if (!strcmp(argv[i], "--cold")) cold = 1;
        else if (argv[i][0] != '-' && !dir) dir = argv[i];
        else {
            fprintf(stderr, "sketchbert bench data: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!dir || batch < 1 || max_length < 2 || !(seconds > 0) || threads < 0 || read_ahead == 2) {
        fprintf(stderr, USAGE);
        return 2;
    }
    char sum[4096];
    snprintf(sum, sizeof sum, "%s/memmap_sum.txt", dir);
    sb_dataset_config c = {.sum_path = sum, .split = SB_SPLIT_TRAIN, .mask_type = SB_MASK_TASK, .mask_prob = 0.85,
                           .apply_mask = 1, .cls_token = 1, .seed = 1, .loader_threads = threads,
                           .read_ahead = read_ahead};
    c.transform = sb_transform_config_default();
    c.transform.max_length = max_length;
    sb_dataset *d;
    if (sb_dataset_open(&d, &c)) {
        fprintf(stderr, "sketchbert bench data: %s\n", sb_last_error());
        return 1;
    }
    uint32_t n = sb_dataset_size(d);
    if ((uint32_t)batch > n) batch = (int)n;
    sb_batch b = {0};
    int32_t *order = malloc((size_t)n * sizeof *order);
    int rc = !order || sb_batch_alloc(&b, d, batch);
    if (!rc) {
        for (uint32_t i = 0; i < n; i++) order[i] = (int32_t)i;
        sb_rng r;
        sb_rng_seed_key(&r, 7, 0, 0); /* not the loader's order: cold runs read other sketches */
        if (!sequential) sb_rng_shuffle(&r, order, n);
    }
    if (!rc && cold) rc = evict(dir);
    long sketches = 0;
    double t0 = now_s(), t = t0;
    for (uint64_t step = 0; !rc && t - t0 < seconds; step++) {
        rc = sb_dataset_fill(d, (const uint32_t *)order + (step * (uint64_t)batch) % (n - (uint32_t)batch + 1), batch,
                             step, &b);
        sketches += batch;
        t = now_s();
    }
    if (!rc)
        printf("one core, %s order%s: %.0f sketches/s (batch %d, T %d, %u sketches, %d classes)\n",
               sequential ? "file" : "shuffled", cold ? ", cold" : "", sketches / (t - t0), batch, max_length, n,
               sb_dataset_num_classes(d));
    sb_batch_free(&b);
    sb_loader *l = NULL;
    /* Pages this process has mapped stay cached: reopen to drop them. */
    sb_dataset_close(d), d = NULL;
    if (!rc && cold) rc = evict(dir);
    if (!rc && sb_dataset_open(&d, &c)) rc = 1;
    /* From the first batch on: the first waits for the epoch's shuffle. */
    double t_open = now_s();
    const sb_batch *bb;
    if (!rc) rc = sb_loader_open(&l, d, batch, 1, 1, 0);
    if (!rc) rc = sb_loader_next(l, &bb, NULL, NULL);
    sketches = 0;
    long window = 0;
    t0 = t = now_s();
    double t_window = t0, cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    if (!rc)
        printf("loader (%d prefetch threads, read-ahead %s, consumer idle%s; first batch after %.2f s), sketches/s in "
               "each second:", sb_loader_threads(l), sb_dataset_reads_ahead(d) ? "on" : "off", cold ? ", cold" : "",
               t0 - t_open);
    while (!rc && t - t0 < seconds) {
        rc = sb_loader_next(l, &bb, NULL, NULL);
        if (!rc) sketches += bb->size, window += bb->size;
        t = now_s();
        if (t - t_window >= 1.0) {
            printf(" %.0f", window / (t - t_window));
            fflush(stdout);
            window = 0, t_window = t;
        }
    }
    if (!rc)
        printf("\nloader overall: %.0f sketches/s, %.0f per CPU-second of the process (the rate one free core gives)\n",
               sketches / (t - t0), sketches / (clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0));
    sb_loader_close(l);
    if (rc) fprintf(stderr, "sketchbert bench data: %s\n", sb_last_error());
    free(order);
    sb_dataset_close(d);
    return rc ? 1 : 0;
}
