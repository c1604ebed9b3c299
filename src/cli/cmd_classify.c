/* `sketchbert classify`: the k best classes of each sketch with their
 * probabilities, and top-1 / top-k accuracy where the true class is known
 * (the input's labels, or --label): overall, per class and as a confusion
 * matrix (CSV). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/infer_common.h"
#include "train/metrics.h"

static void usage(FILE *f) {
    fprintf(f, "usage: sketchbert classify CHECKPOINT INPUT... [--top-k K] [--label CLASS] [--confusion OUT.csv]\n"
               "                           [input options]\n"
               "\n"
               "Prints for each sketch: index, label, then K 'class probability' pairs, best first\n"
               "(tab-separated). Where the true class is known (the input's label when it is one\n"
               "of the model's classes, or --label for every sketch) it ends with the accuracy,\n"
               "then the top-1 accuracy of each class that has sketches.\n"
               "  --top-k K            classes per sketch (default 5, at most the model's classes)\n"
               "  --label CLASS        the true class of every sketch (must be one of the model's)\n"
               "  --confusion OUT.csv  the top-1 confusion matrix: a row per true class, a column\n"
               "                       per predicted class, sketch counts (needs known classes)\n");
    cli_infer_usage(f);
    fprintf(f, "exit codes: 0 classified, 1 failure (no classification head, unknown class,\n"
               "input), 2 bad usage\n");
}

int cmd_classify(const cli_options *co, int argc, char **argv) {
    cli_infer o;
    cli_infer_init(&o, "sketchbert classify");
    const char *label = NULL, *confusion = NULL;
    int k = 5;
    char *pos[64];
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        int r = cli_infer_option(&o, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(a, "--top-k") || !strcmp(a, "--label") || !strcmp(a, "--confusion")) {
            if (i + 1 >= argc) return fprintf(stderr, "%s: %s needs a value\n", o.cmd, a), 2;
            const char *v = argv[++i];
            if (a[2] != 't') {
                *(a[2] == 'l' ? &label : &confusion) = v;
                continue;
            }
            char *end;
            k = (int)strtol(v, &end, 10);
            if (*end || end == v || k < 1) return fprintf(stderr, "%s: --top-k '%s' must be a positive count\n", o.cmd, v), 2;
        } else if (a[0] == '-' && a[1]) {
            return fprintf(stderr, "%s: unknown option '%s' (see --help)\n", o.cmd, a), 2;
        } else if (n_pos < 64) {
            pos[n_pos++] = argv[i];
        }
    }
    if (n_pos < 2) {
        fprintf(stderr, "%s: needs CHECKPOINT and INPUT\n", o.cmd);
        usage(stderr);
        return 2;
    }
    sb_context *ctx;
    sb_model_handle *m;
    if (cli_open_model(co, &o, pos[0], &ctx, &m)) return 1;
    cli_warn_class_names(&o, pos[0], m);
    sb_sketches *s = NULL;
    int *classes = NULL, given = -1, rc = sb_model_require(m, SB_HEAD_CLASSIFY);
    float *probs = NULL;
    int64_t *counts = NULL; /* (C, C) confusion matrix: true class, top-1 class */
    const char **names = NULL;
    if (!rc && label && (given = sb_model_class_index(m, label)) < 0) rc = SB_ERR_INVALID;
    if (rc) fprintf(stderr, "%s: %s\n", o.cmd, sb_last_error());
    if (!rc) rc = cli_load_sketches(&o, pos + 1, n_pos - 1, m, &s);
    int n = sb_sketches_count(s), C = sb_model_num_classes(m);
    if (!rc && k > C) {
        fprintf(stderr, "%s: warning: --top-k %d is more than the model's %d classes; using %d\n", o.cmd, k, C, C);
        k = C;
    }
    if (!rc) {
        classes = malloc(sizeof(int) * (size_t)n * (size_t)k);
        probs = malloc(sizeof(float) * (size_t)n * (size_t)k);
        counts = calloc((size_t)C * (size_t)C, sizeof *counts);
        names = malloc(sizeof *names * (size_t)C);
        int got = classes && probs && counts && names;
        rc = got ? sb_classify(m, s, k, classes, probs) : SB_ERR_MEMORY;
        if (rc) fprintf(stderr, "%s: %s\n", o.cmd, got ? sb_last_error() : "out of host memory");
        for (int c = 0; c < C && got; c++) names[c] = sb_model_class_name(m, c);
    }
    long known = 0, hit1 = 0, hitk = 0;
    for (int i = 0; i < n && !rc; i++) {
        const char *l = sb_sketches_label(s, i);
        printf("%d\t%s", i, l);
        for (int j = 0; j < k; j++)
            printf("\t%s %.4f", sb_model_class_name(m, classes[(size_t)i * k + j]), (double)probs[(size_t)i * k + j]);
        printf("\n");
        int truth = given;
        if (truth < 0 && l[0]) truth = sb_model_class_index(m, l);
        if (truth < 0) continue;
        known++;
        counts[(size_t)truth * C + classes[(size_t)i * k]]++;
        hit1 += classes[(size_t)i * k] == truth;
        for (int j = 0; j < k; j++) hitk += classes[(size_t)i * k + j] == truth;
    }
    if (!rc && known) {
        printf("accuracy: top-1 %.4f", (double)hit1 / known);
        if (k > 1) printf(" top-%d %.4f", k, (double)hitk / known);
        printf(" (%ld sketches of a known class)\n", known);
        sb_confusion_print(stdout, counts, C, names);
    }
    if (!rc && confusion && !known) {
        fprintf(stderr, "%s: --confusion: no sketch has one of the model's classes as its label (see --label)\n",
                o.cmd);
        rc = 1;
    } else if (!rc && confusion) {
        rc = sb_confusion_write_csv(confusion, counts, C, names);
        if (rc) fprintf(stderr, "%s: %s\n", o.cmd, sb_last_error());
        else printf("confusion matrix: %s\n", confusion);
    }
    free(classes), free(probs), free(counts), free(names);
    sb_sketches_destroy(s);
    sb_model_close(m);
    sb_context_destroy(ctx);
    return rc ? 1 : 0;
}
