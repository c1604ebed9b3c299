/* Model pictures for the run report. */
#include "cli/report_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/infer_common.h"
#include "data/render_svg.h"
#include "runtime/error.h"
#include "train/metrics.h"

enum { MAX_WRONG = 24, WRONG_COLUMNS = 8, CELL = 120, MAX_PICKED = 6, TOP_K = 5 };

/* Per-class accuracy as sb_confusion_print writes it, inside <pre>. */
static void per_class(FILE *f, const int64_t *counts, int C, const char *const *names) {
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) return;
    sb_confusion_print(m, counts, C, names);
    fclose(m);
    fputs("<h3>Per-class accuracy</h3>\n<pre>", f);
    sb_svg_text(f, text);
    fputs("</pre>\n", f);
    free(text);
}

/* Rows true classes, columns top-1 classes; cells shaded by row share. */
static void confusion_table(FILE *f, const int64_t *counts, int C, const char *const *names) {
    fputs("<h3>Confusion matrix</h3>\n<table class=\"confusion\">\n<tr><th>true \\ predicted</th>", f);
    for (int c = 0; c < C; c++) fputs("<th>", f), sb_svg_text(f, names[c]), fputs("</th>", f);
    fputs("</tr>\n", f);
    for (int r = 0; r < C; r++) {
        int64_t row = 0;
        for (int c = 0; c < C; c++) row += counts[(size_t)r * C + c];
        fputs("<tr><th>", f);
        sb_svg_text(f, names[r]);
        fputs("</th>", f);
        for (int c = 0; c < C; c++) {
            int64_t v = counts[(size_t)r * C + c];
            double share = row ? (double)v / (double)row : 0;
            fprintf(f, "<td style=\"background:rgba(%s,%.2f)\">%lld</td>", r == c ? "44,160,44" : "214,39,40",
                    share * 0.8, (long long)v);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* Up to MAX_WRONG misclassified sketches captioned "true > predicted". */
static int misclassified(FILE *f, const sb_sketches *s, const int *truth, const int *top1, const char *const *names) {
    cli_cells g = {0};
    int rc = 0, len;
    for (int i = 0, n = sb_sketches_count(s); i < n && g.n < MAX_WRONG && !rc; i++) {
        if (truth[i] < 0 || truth[i] == top1[i]) continue;
        const int16_t *p = sb_sketches_points(s, i, &len);
        rc = cli_cells_add(&g, p, len, NULL, "%.40s > %.40s", names[truth[i]], names[top1[i]]);
    }
    fprintf(f, "<h3>Misclassified sketches</h3>\n<p>%d shown (at most %d), captioned true &gt; predicted.</p>\n",
            g.n, MAX_WRONG);
    if (!rc && g.n) rc = sb_render_svg_to(f, g.cells, g.n, WRONG_COLUMNS, CELL);
    cli_cells_free(&g);
    return rc;
}

static int classification(FILE *f, sb_model_handle *m, const sb_sketches *s) {
    int n = sb_sketches_count(s), C = sb_model_num_classes(m);
    int *top1 = malloc(sizeof(int) * (size_t)n), *truth = malloc(sizeof(int) * (size_t)n);
    float *probs = malloc(sizeof(float) * (size_t)n);
    int64_t *counts = calloc((size_t)C * (size_t)C, sizeof *counts);
    const char **names = malloc(sizeof *names * (size_t)C);
    int rc = top1 && truth && probs && counts && names ? 0 : sb_fail(SB_ERR_MEMORY, "out of host memory");
    if (!rc) rc = sb_classify(m, s, 1, top1, probs);
    for (int c = 0; c < C && !rc; c++) names[c] = sb_model_class_name(m, c);
    long known = 0, hit = 0;
    for (int i = 0; i < n && !rc; i++) {
        truth[i] = sb_model_class_index(m, sb_sketches_label(s, i));
        if (truth[i] < 0) continue;
        known++, hit += truth[i] == top1[i];
        counts[(size_t)truth[i] * C + top1[i]]++;
    }
    if (!rc && !known) rc = sb_fail(SB_ERR_INVALID, "no validation sketch has one of the model's classes as its label");
    if (!rc) {
        fprintf(f, "<p>Top-1 accuracy %.4f on %ld sketches.</p>\n", (double)hit / known, known);
        per_class(f, counts, C, names);
        confusion_table(f, counts, C, names);
        rc = misclassified(f, s, truth, top1, names);
    }
    free(top1), free(truth), free(probs), free(counts), free(names);
    return rc;
}

/* The first sketch of each label, of up to MAX_PICKED labels: the
 * sketches drawn for completion and retrieval. Returns their count. */
static int first_of_classes(const sb_sketches *s, int picked[MAX_PICKED]) {
    int n = sb_sketches_count(s), k = 0;
    for (int i = 0; i < n && k < MAX_PICKED; i++) {
        int seen = 0;
        for (int j = 0; j < k; j++) seen |= sb_class_names_match(sb_sketches_label(s, picked[j]), sb_sketches_label(s, i));
        if (!seen) picked[k++] = i;
    }
    return k;
}

/* Gestalt completion of the first sketch of up to MAX_PICKED classes,
 * as `sketchbert complete` draws it (15% of the points masked, seed 0). */
static int completion(FILE *f, sb_model_handle *m, const sb_sketches *s) {
    int picked[MAX_PICKED], k = first_of_classes(s, picked);
    sb_svg_sketch cells[3 * MAX_PICKED];
    float *bufs[2 * MAX_PICKED] = {0};
    unsigned char *states[2 * MAX_PICKED] = {0};
    double err[3] = {0};
    long count = 0;
    int rc = 0;
    for (int j = 0; j < k && !rc; j++)
        rc = cli_complete_cells(m, s, picked[j], NULL, 0, 0.15, 0, NULL, cells + 3 * j, bufs + 2 * j, states + 2 * j,
                                err, &count);
    if (!rc && count) {
        fprintf(f,
                "<h3>Gestalt completion</h3>\n<p>Original, masked (red) and completed (predicted points blue); %ld "
                "masked points: mean |dx error| %.3f, mean |dy error| %.3f, pen accuracy %.3f.</p>\n",
                count, err[0] / count, err[1] / count, err[2] / count);
        rc = sb_render_svg_to(f, cells, 3 * k, 6, CELL);
    }
    for (int j = 0; j < 2 * k; j++) free(bufs[j]), free(states[j]);
    return rc;
}

/* Retrieval as the run's validation measures it (src/train/metrics.h): each
 * sketch queries all the others by its retrieval features; then the first
 * sketch of up to MAX_PICKED classes with its TOP_K nearest, framed green
 * when of the query's class, red when not. */
static int retrieval(FILE *f, sb_model_handle *m, const sb_sketches *s) {
    int n = sb_sketches_count(s), dim = sb_model_retrieval_dim(m), classes = 0;
    if (n < 2) return sb_fail(SB_ERR_INVALID, "retrieval needs at least 2 validation sketches, got %d", n);
    float *feat = malloc(sizeof(float) * (size_t)n * (size_t)dim);
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)n), *first = malloc(sizeof(int32_t) * (size_t)n);
    sb_neighbour *nb = malloc(sizeof *nb * (size_t)(n - 1));
    int rc = feat && labels && first && nb ? 0 : sb_fail(SB_ERR_MEMORY, "out of host memory");
    if (!rc) rc = sb_retrieval_features(m, s, feat);
    for (int i = 0; i < n && !rc; i++) { /* class indices in order of first appearance */
        const char *l = sb_sketches_label(s, i);
        int c = 0;
        while (c < classes && !sb_class_names_match(sb_sketches_label(s, first[c]), l)) c++;
        if (c == classes) first[classes++] = i;
        labels[i] = c;
    }
    sb_retrieval_result r;
    if (!rc) rc = sb_retrieval_evaluate(feat, labels, n, dim, &r);
    cli_cells g = {0};
    int picked[MAX_PICKED], k = first_of_classes(s, picked), kk = n - 1 < TOP_K ? n - 1 : TOP_K, len;
    if (!rc)
        fprintf(f,
                "<h3>Retrieval</h3>\n<p>Each of %d sketches queries the other %d: top-1 %.4f, top-5 %.4f, "
                "top-10 %.4f, mAP %.4f.</p>\n<h3>Retrieved sketches</h3>\n<p>%d queries, each with its %d nearest "
                "(rank, label, distance), framed green when of the query's class, red when not.</p>\n",
                n, n - 1, r.top1, r.top5, r.top10, r.map, k, kk);
    for (int q = 0; q < k && !rc; q++) {
        const char *ql = sb_sketches_label(s, picked[q]);
        const int16_t *p = sb_sketches_points(s, picked[q], &len);
        rc = cli_cells_add(&g, p, len, NULL, "query: %.60s", ql);
        sb_retrieval_rank(feat, n, dim, picked[q], nb);
        for (int j = 0; j < kk && !rc; j++) {
            const char *il = sb_sketches_label(s, nb[j].j);
            p = sb_sketches_points(s, nb[j].j, &len);
            rc = cli_cells_add(&g, p, len, cli_retrieval_mark(ql, il), "%d. %.40s %.3f", j + 1, il, nb[j].d);
        }
    }
    if (!rc && g.n) rc = sb_render_svg_to(f, g.cells, g.n, 1 + kk, CELL);
    cli_cells_free(&g);
    free(feat), free(labels), free(first), free(nb);
    return rc;
}

char *cli_report_model(const cli_options *co, const char *checkpoint, const char *data_dir, int limit) {
    char *html = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&html, &len);
    if (!f) return NULL;
    fputs("<h2 id=\"model\">Model on the validation split</h2>\n", f);
    cli_infer o;
    cli_infer_init(&o, "sketchbert report");
    o.split = "valid", o.limit = limit;
    sb_context *ctx = NULL;
    sb_model_handle *m = NULL;
    sb_sketches *s = NULL;
    const char *why = NULL;
    char *dir = (char *)data_dir;
    if (!checkpoint) why = "no checkpoint (best or latest) in the run folder";
    else if (!data_dir) why = "the config names no sum_path (the data)";
    else if (cli_open_model(co, &o, checkpoint, &ctx, &m)) why = "the checkpoint could not be opened (see stderr)";

    else if (cli_load_sketches(&o, &dir, 1, m, &s)) why = "the validation sketches could not be read (see stderr)";
    if (!why) {
        fputs("<p>Checkpoint ", f);
        sb_svg_text(f, checkpoint);
        fputs(", data ", f);
        sb_svg_text(f, data_dir);
        fputs(".</p>\n", f);
        int rc = sb_model_heads(m) & SB_HEAD_CLASSIFY ? classification(f, m, s) : 0;
        if (!rc && sb_model_heads(m) & SB_HEAD_RETRIEVAL) rc = retrieval(f, m, s);
        if (!rc && sb_model_heads(m) & SB_HEAD_MASKREC) rc = completion(f, m, s);
        if (rc) why = sb_last_error();
    }
    if (why) {
        fputs("<p class=\"warn\">No model pictures: ", f);
        sb_svg_text(f, why);
        fputs(".</p>\n", f);
        fprintf(stderr, "sketchbert report: warning: no model pictures: %s\n", why);
    }
    sb_sketches_destroy(s);
    sb_model_close(m);
    sb_context_destroy(ctx);
    fclose(f);
    return html;
}
