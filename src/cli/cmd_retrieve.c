/* `sketchbert retrieve index|query`: a retrieval index of a collection
 * (the retrieval head's features, or the mean-pooled encoder features of a
 * model without that head, with labels and the model fingerprint) and
 * nearest-neighbour queries against it by Euclidean distance, drawn to SVG
 * on request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/infer_common.h"
#include "data/render_svg.h"

static void usage(FILE *f) {
    fprintf(f, "usage: sketchbert retrieve index CHECKPOINT INPUT... -o INDEX [input options]\n"
               "       sketchbert retrieve query CHECKPOINT INDEX INPUT... [--top-k K] [--svg OUT.svg]\n"
               "                                 [input options]\n"
               "\n"
               "index: the retrieval features of every input sketch, with its label and points,\n"
               "       into INDEX (the file records the model's fingerprint).\n"
               "query: for each input sketch, the K nearest items of INDEX, one line each:\n"
               "       query, query label, rank, item, item label, Euclidean distance (tab-separated);\n"
               "       then the share of queries whose nearest (and K nearest) hold an item of\n"
               "       their own label, where labels are known.\n"
               "  --top-k K        neighbours per query (default 5)\n"
               "  --svg OUT.svg    draws a row per query: the query, then its neighbours nearest\n"
               "                   first, each captioned with rank, item, label and distance and\n"
               "                   framed green when its label is the query's, red when not\n"
               "Without a sketchretrieval head the index holds the encoder's features, mean-pooled\n"
               "(as embed --features encoder), and says so. An index made by another model is refused.\n");
    cli_infer_usage(f);
    fprintf(f, "exit codes: 0 done, 1 failure (index of another model, input, output), 2 bad usage\n");
}

static int do_index(const char *cmd, sb_model_handle *m, const sb_sketches *s, const char *out) {
    sb_index *x = NULL;
    int rc;
    if (sb_model_require(m, SB_HEAD_RETRIEVAL) == SB_OK) {
        rc = sb_index_create(m, &x);
    } else {
        fprintf(stderr, "%s: %s: indexing the encoder's features, mean-pooled (%d values), instead\n", cmd,
                sb_last_error(), sb_model_hidden_size(m));
        rc = sb_index_create_encoder(m, SB_POOL_MEAN, &x);
    }
    if (!rc) rc = sb_index_add(x, m, s);
    if (!rc) rc = sb_index_save(x, out);
    if (!rc) printf("%s: %d items, model %s\n", out, sb_index_size(x), sb_model_fingerprint(m));
    sb_index_destroy(x);
    return rc;
}

/* Rows of the query sketch and its kk nearest items (items (n, k)), items
 * of the query's label framed green, others red. */
static int draw(const char *out, const sb_index *x, const sb_sketches *s, int k, int kk, const int *items,
                const float *d) {
    int n = sb_sketches_count(s);
    if (kk < 1) return sb_fail(SB_ERR_INVALID, "--svg: the index is empty: no neighbours to draw");
    if ((size_t)n * (size_t)(1 + kk) > 100000)
        return sb_fail(SB_ERR_INVALID, "--svg: %d queries with %d neighbours each are too many cells to draw", n, kk);
    cli_cells g = {0};
    int rc = 0, len;
    for (int q = 0; q < n && !rc; q++) {
        const char *ql = sb_sketches_label(s, q);
        const int16_t *p = sb_sketches_points(s, q, &len);
        rc = cli_cells_add(&g, p, len, NULL, "query %d: %.60s", q, ql);
        for (int j = 0; j < kk && !rc; j++) {
            int it = items[(size_t)q * k + j];
            const char *il = sb_index_label(x, it);
            p = sb_index_points(x, it, &len);
            rc = cli_cells_add(&g, p, len, cli_retrieval_mark(ql, il), "%d. #%d %.40s %.3f", j + 1, it, il,
                               (double)d[(size_t)q * k + j]);
        }
    }
    if (!rc) rc = sb_render_svg(out, g.cells, g.n, 1 + kk, 160);
    cli_cells_free(&g);
    return rc;
}

static int do_query(const char *cmd, sb_model_handle *m, const sb_sketches *s, const char *path, int k,
                    const char *svg) {
    sb_index *x = NULL;
    SB_TRY(sb_index_load(m, path, &x));
    if (strcmp(sb_index_features(x), "retrieval"))
        fprintf(stderr, "%s: %s holds %s-pooled encoder features, not retrieval features\n", cmd, path,
                sb_index_features(x) + strlen("encoder "));
    int n = sb_sketches_count(s);
    int *items = malloc(sizeof(int) * (size_t)n * (size_t)k);
    float *d = malloc(sizeof(float) * (size_t)n * (size_t)k);
    int rc = items && d ? sb_index_query(x, m, s, k, items, d) : sb_fail(SB_ERR_MEMORY, "out of host memory");
    long known = 0, hit1 = 0, hitk = 0;
    for (int i = 0; i < n && !rc; i++) {
        const char *ql = sb_sketches_label(s, i);
        int any = 0;
        for (int j = 0; j < k && items[(size_t)i * k + j] >= 0; j++) {
            int it = items[(size_t)i * k + j];
            const char *il = sb_index_label(x, it);
            printf("%d\t%s\t%d\t%d\t%s\t%.4f\n", i, ql, j + 1, it, il, (double)d[(size_t)i * k + j]);
            if (ql[0] && sb_class_names_match(ql, il)) {
                hit1 += j == 0;
                any = 1;
            }
        }
        known += ql[0] != 0, hitk += any;
    }
    if (!rc && known) { /* top-k only when k > 1: for k = 1 it is top-1 again */
        printf("same label: top-1 %.4f", (double)hit1 / known);
        if (k > 1) printf(" top-%d %.4f", k, (double)hitk / known);
        printf(" (%ld labelled queries)\n", known);
    }
    int kk = k < sb_index_size(x) ? k : sb_index_size(x);
    if (!rc && svg && !(rc = draw(svg, x, s, k, kk, items, d)))
        printf("%s: %d queries with %d neighbours each\n", svg, n, kk);
    free(items), free(d);
    sb_index_destroy(x);
    return rc;
}

int cmd_retrieve(const cli_options *co, int argc, char **argv) {
    cli_infer o;
    cli_infer_init(&o, "sketchbert retrieve");
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) return usage(stdout), 0;
    int query = argc >= 2 && !strcmp(argv[1], "query");
    if (argc < 2 || (!query && strcmp(argv[1], "index"))) {
        fprintf(stderr, "%s: needs a subcommand: index or query\n", o.cmd);
        usage(stderr);
        return 2;
    }
    o.cmd = query ? "sketchbert retrieve query" : "sketchbert retrieve index";
    const char *out = NULL, *svg = NULL;
    int k = 5;
    char *pos[64];
    int n_pos = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        int r = cli_infer_option(&o, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(a, "-o") || !strcmp(a, "--out") || !strcmp(a, "--top-k") || !strcmp(a, "--svg")) {
            if (i + 1 >= argc) return fprintf(stderr, "%s: %s needs a value\n", o.cmd, a), 2;
            const char *v = argv[++i];
            if (a[1] == 'o' || a[2] == 'o' || a[2] == 's') {
                *(a[2] == 's' ? &svg : &out) = v;
                continue;
            }
            char *end;
            k = (int)strtol(v, &end, 10);
            if (*end || end == v || k < 1 || k > 100000)
                return fprintf(stderr, "%s: --top-k '%s' must be a positive count\n", o.cmd, v), 2;
        } else if (a[0] == '-' && a[1]) {
            return fprintf(stderr, "%s: unknown option '%s' (see --help)\n", o.cmd, a), 2;
        } else if (n_pos < 64) {
            pos[n_pos++] = argv[i];
        }
    }
    if (n_pos < (query ? 3 : 2) || (!query && (!out || svg)) || (query && out)) {
        fprintf(stderr,
                query ? "%s: needs CHECKPOINT, INDEX and INPUT (no -o)\n"
                      : "%s: needs CHECKPOINT, INPUT and -o INDEX (no --svg)\n",
                o.cmd);
        usage(stderr);
        return 2;
    }
    sb_context *ctx;
    sb_model_handle *m;
    if (cli_open_model(co, &o, pos[0], &ctx, &m)) return 1;
    sb_sketches *s = NULL;
    int first = query ? 2 : 1, rc = 0;
    if (cli_load_sketches(&o, pos + first, n_pos - first, m, &s)) rc = -1;
    if (!rc) {
        rc = query ? do_query(o.cmd, m, s, pos[1], k, svg) : do_index(o.cmd, m, s, out);
        if (rc) fprintf(stderr, "%s: %s\n", o.cmd, sb_last_error());
    }
    sb_sketches_destroy(s);
    sb_model_close(m);
    sb_context_destroy(ctx);
    return rc ? 1 : 0;
}
