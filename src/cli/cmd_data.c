/* `sketchbert data stats DIR`: sketches per class and split of a memmap
 * dataset, a histogram of sketch lengths, and the share over max_length.
 * `sketchbert data verify DIR`: the index (its CRC, ranges contiguous and
 * within each .dat file's size), every split mapped, and the .dat files
 * against checksums.crc32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "data/memmap.h"
#include "io/config.h"
#include "runtime/error.h"

static void stats_usage(FILE *f) {
    fprintf(f, "usage: sketchbert data stats [DIR] [--max-length N | --config CONFIG.yml]\n\n"
               "DIR holds a prepared memmap dataset (memmap_sum.txt, offsets.sbidx, *.dat;\n"
               "see `sketchbert prepare`). Prints sketches per class and split, a histogram\n"
               "of lengths in points, and the share of sketches with at least N points\n"
               "(default 250: training cuts these to N - 1 points, or skips them when\n"
               "input_is_complete). --config takes N and input_is_complete from a training\n"
               "config, and DIR (when not given) from the folder of its sum_path.\n");
}

static int cmd_stats(int argc, char **argv) {
    const char *dir = NULL, *config = NULL;
    int max_length = 0, skipped = 0;
    char config_dir[SB_CONFIG_PATH_MAX];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return stats_usage(stdout), 0;
        if (!strcmp(argv[i], "--max-length") && i + 1 < argc) {
            max_length = atoi(argv[++i]);
            if (max_length < 1) {
                fprintf(stderr, "sketchbert data stats: --max-length must be positive\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            config = argv[++i];
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            fprintf(stderr, "sketchbert data stats: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (config && max_length) {
        fprintf(stderr, "sketchbert data stats: --config gives max_length; drop --max-length\n");
        return 2;
    }
    if (config) {
        sb_config cfg;
        sb_config_default(&cfg);
        if (sb_config_load(&cfg, config)) {
            fprintf(stderr, "sketchbert data stats: %s\n", sb_last_error());
            return 1;
        }
        max_length = cfg.max_length, skipped = cfg.input_is_complete;
        if (!dir) {
            snprintf(config_dir, sizeof config_dir, "%s", cfg.sum_path);
            char *slash = strrchr(config_dir, '/');
            if (slash) *slash = '\0';
            else snprintf(config_dir, sizeof config_dir, ".");
            dir = config_dir;
        }
    }
    if (!max_length) max_length = 250;
    if (!dir) return stats_usage(stderr), 2;
    sb_mm_index idx;
    if (sb_mm_index_load(&idx, dir)) {
        fprintf(stderr, "sketchbert data stats: %s\n", sb_last_error());
        return 1;
    }
    enum { BINS = 11 };
    uint64_t hist[BINS] = {0}, total[SB_N_SPLITS] = {0}, over = 0, all = 0, points = 0;
    uint64_t min_len = UINT64_MAX, max_len = 0;
    int width = max_length / (BINS - 1) > 0 ? max_length / (BINS - 1) : 1;
    printf("%-32s %9s %9s %9s\n", "class", "train", "valid", "test");
    for (uint32_t c = 0; c < idx.n_classes; c++) {
        const sb_mm_class *k = &idx.classes[c];
        printf("%-32s %9u %9u %9u\n", k->name, k->count[0], k->count[1], k->count[2]);
        for (int s = 0; s < SB_N_SPLITS; s++) {
            total[s] += k->count[s];
            for (uint32_t j = 0; j < k->count[s]; j++) {
                uint64_t n = k->ranges[s][j].end - k->ranges[s][j].start;
                uint64_t bin = n / (uint64_t)width;
                hist[bin < BINS ? bin : BINS - 1]++;
                over += n >= (uint64_t)max_length;
                all++, points += n;
                if (n < min_len) min_len = n;
                if (n > max_len) max_len = n;
            }
        }
    }
    printf("%-32s %9llu %9llu %9llu\n", "total", (unsigned long long)total[0], (unsigned long long)total[1],
           (unsigned long long)total[2]);
    if (all) {
        printf("\nlength in points: min %llu, mean %.1f, max %llu\n", (unsigned long long)min_len,
               (double)points / (double)all, (unsigned long long)max_len);
        for (int b = 0; b < BINS; b++) {
            char range[32];
            if (b < BINS - 1) snprintf(range, sizeof range, "%d-%d", b * width, (b + 1) * width - 1);
            else snprintf(range, sizeof range, ">=%d", b * width);
            int bar = (int)(50.0 * (double)hist[b] / (double)all + 0.5);
            printf("%12s %8llu ", range, (unsigned long long)hist[b]);
            for (int i = 0; i < bar; i++) putchar('#');
            putchar('\n');
        }
        printf("sketches with >= %d points: %llu of %llu (%.2f%%): %s\n", max_length, (unsigned long long)over,
               (unsigned long long)all, 100.0 * (double)over / (double)all,
               skipped ? "skipped in training (input_is_complete)" : "cut in training");
    }
    sb_mm_index_free(&idx);
    return 0;
}

static int cmd_verify(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: sketchbert data verify DIR\n\n"
               "Checks a prepared memmap dataset: the index's CRC, every sketch's range\n"
               "within its .dat file, the .dat sizes, and each .dat file against\n"
               "checksums.crc32 (datasets prepared before checksums say \"no checksums\").\n"
               "Exits 1 naming the first file that fails.\n");
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: sketchbert data verify DIR\n");
        return 2;
    }
    sb_mm_index idx;
    if (sb_mm_index_load(&idx, argv[1])) {
        fprintf(stderr, "sketchbert data verify: %s\n", sb_last_error());
        return 1;
    }
    uint64_t sketches = 0;
    int rc = 0, files = 0;
    for (uint32_t c = 0; c < idx.n_classes && !rc; c++)
        for (int s = 0; s < SB_N_SPLITS && !rc; s++) {
            sb_mm_split sp;
            rc = sb_mm_split_open(&sp, &idx, c, s);
            if (!rc) sb_mm_split_close(&sp);
            sketches += idx.classes[c].count[s];
        }
    if (!rc) rc = sb_mm_verify_checksums(&idx, &files);
    if (rc) fprintf(stderr, "sketchbert data verify: %s\n", sb_last_error());
    else
        printf("%s: ok, %u classes, %llu sketches, %s\n", argv[1], idx.n_classes, (unsigned long long)sketches,
               files ? "checksums of the .dat files match" : "no checksums (prepared before they existed)");
    sb_mm_index_free(&idx);
    return rc ? 1 : 0;
}

int cmd_data(const cli_options *o, int argc, char **argv) {
    (void)o;
    if (argc >= 2 && !strcmp(argv[1], "stats")) return cmd_stats(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "verify")) return cmd_verify(argc - 1, argv + 1);
    FILE *f = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout : stderr;
    fprintf(f, "usage: sketchbert data stats [DIR] [--max-length N | --config CONFIG.yml]\n"
               "       sketchbert data verify DIR\n");
    return f == stdout ? 0 : 2;
}
