/* Options, model and sketch loading shared by the inference commands. */
#include "cli/infer_common.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

void cli_infer_init(cli_infer *o, const char *cmd) {
    memset(o, 0, sizeof *o);
    o->cmd = cmd;
    o->split = "test";
    o->batch_size = 32;
}

void cli_infer_usage(FILE *f) {
    fprintf(f, "input: INPUT is a sketch-rnn .npz, a QuickDraw .ndjson, a TU-Berlin .svg or a folder\n"
               "of them (or of class folders of them), or a directory written by `sketchbert prepare`;\n"
               "sketches longer than the model's max_length are cut (warning).\n"
               "  --split S          npz / memmap split: train, valid or test (default test)\n"
               "  --limit N          at most N sketches per file (per class for memmap)\n"
               "  --index LIST       only these of the loaded sketches: 0,3,7 or 0-15\n"
               "  --batch-size N     sketches per device batch (default 32)\n"
               "  --class-names F    class names: a memmap_sum.txt or one name a line (default:\n"
               "                     the checkpoint's, else its training sum file, else class_<i>)\n"
               "  --simplify         simplify every ndjson drawing as `prepare --simplify` does\n"
               "                     (default: only those that look raw: time stamps, fractional\n"
               "                     coordinates or ones outside 0..255, dense points)\n"
               "  --no-simplify      use ndjson drawings as they are, raw or not\n");
}

int cli_infer_option(cli_infer *o, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (!strcmp(a, "--simplify") || !strcmp(a, "--no-simplify")) {
        o->simplify = a[2] == 's' ? SB_SIMPLIFY_ALL : SB_SIMPLIFY_NONE;
        return 1;
    }
    const char *names[] = {"--split", "--limit", "--index", "--batch-size", "--class-names"};
    int which = -1;
    for (int k = 0; k < 5; k++)
        if (!strcmp(a, names[k])) which = k;
    if (which < 0) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value\n", o->cmd, a);
        return -1;
    }
    const char *v = argv[++*i];
    char *end;
    long n = 0;
    if (which == 1 || which == 3) {
        n = strtol(v, &end, 10);
        if (*end || end == v || n < (which == 1 ? 0 : 1) || n > 1000000) {
            fprintf(stderr, "%s: %s '%s' is not a valid count\n", o->cmd, a, v);
            return -1;
        }
    }
    if (which == 2) {
        int *list, n_list = cli_parse_list(v, &list);
        free(list);
        if (n_list < 0) {
            fprintf(stderr, "%s: --index '%s' is not a list like 0,3,5-9\n", o->cmd, v);
            return -1;
        }
    }
    switch (which) {
    case 0: o->split = v; break;
    case 1: o->limit = (int)n; break;
    case 2: o->select = v; break;
    case 3: o->batch_size = (int)n; break;
    default: o->class_names = v;
    }
    return 1;
}

int cli_open_model(const cli_options *co, const cli_infer *o, const char *checkpoint, sb_context **ctx,
                   sb_model_handle **m) {
    *ctx = NULL, *m = NULL;
    int rc = sb_context_create(ctx, co->device);
    if (!rc) rc = sb_model_open(*ctx, checkpoint, o->batch_size, m);
    if (!rc && o->class_names) rc = sb_model_set_class_names(*m, o->class_names);
    if (rc) {
        fprintf(stderr, "%s: %s\n", o->cmd, sb_last_error());
        sb_model_close(*m), *m = NULL;
        sb_context_destroy(*ctx), *ctx = NULL;
        return 1;
    }
    return 0;
}

void cli_warn_class_names(const cli_infer *o, const char *checkpoint, const sb_model_handle *m) {
    if (sb_model_class_source(m) != SB_CLASSES_GENERIC) return;
    fprintf(stderr,
            "%s: warning: %s has no class names (a checkpoint of an older `sketchbert train`) and its "
            "training sum file cannot be read from here: classes are called class_0 .. class_%d and "
            "labels cannot be matched to them; give --class-names FILE (the training data's "
            "memmap_sum.txt or one name a line)\n",
            o->cmd, checkpoint, sb_model_num_classes(m) - 1);
}

/* Says what the ndjson drawings of one input looked like and what was done
 * (`was` is the report before the input was read). */
static void report_raw(const cli_infer *o, const char *input, const sb_raw_report *was, const sb_raw_report *now) {
    int drawings = now->drawings - was->drawings, raw = now->raw - was->raw;
    int simplified = now->simplified - was->simplified;
    if (!raw && !simplified) return;
    if (!raw) {
        fprintf(stderr, "%s: %s: %d of %d drawings simplified (--simplify)\n", o->cmd, input, simplified, drawings);
        return;
    }
    fprintf(stderr, "%s: %s: %d of %d drawings look like raw QuickDraw data (%d with time stamps, %d with "
                    "fractional coordinates, %d outside 0..255, %d with dense points): ",
            o->cmd, input, raw, drawings, now->timed - was->timed, now->fractional - was->fractional,
            now->range - was->range, now->dense - was->dense);
    if (simplified)
        fprintf(stderr, "%d simplified as `sketchbert prepare --simplify` does\n", simplified);
    else
        fprintf(stderr, "kept as they are (--no-simplify); a model trained on simplified drawings does poorly "
                        "on them\n");
}

int cli_cells_add(cli_cells *g, const int16_t *points, int n, const char *frame, const char *fmt, ...) {
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 16;
        sb_svg_sketch *c = realloc(g->cells, sizeof *c * (size_t)cap);
        if (!c) return sb_fail(SB_ERR_MEMORY, "out of host memory");
        g->cells = c, g->cap = cap;
    }
    enum { CAPTION = 96 };
    float *buf = malloc(sizeof(float) * 3 * (size_t)n + CAPTION); /* the points, then the caption */
    if (!buf) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    for (int v = 0; v < 3 * n; v++) buf[v] = points[v];
    char *caption = (char *)(buf + 3 * (size_t)n);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(caption, CAPTION, fmt, ap);
    va_end(ap);
    g->cells[g->n++] = (sb_svg_sketch){buf, (uint32_t)n, NULL, caption, frame};
    return 0;
}

const char *cli_retrieval_mark(const char *query_label, const char *item_label) {
    if (!query_label[0]) return NULL;
    return sb_class_names_match(query_label, item_label) ? "#2ca02c" : "#d62728";
}

void cli_cells_free(cli_cells *g) {
    for (int i = 0; i < g->n; i++) free((void *)g->cells[i].points);
    free(g->cells);
    *g = (cli_cells){0};
}

int cli_parse_list(const char *s, int **out) {
    int n = 0, cap = 0, *v = NULL;
    *out = NULL;
    while (*s) {
        char *end;
        long a = strtol(s, &end, 10), b = a;
        if (end == s || a < 0 || a > 100000000) goto bad;
        if (*end == '-') {
            const char *t = end + 1;
            b = strtol(t, &end, 10);
            if (end == t || b < a || b > 100000000) goto bad;
        }
        if (*end && *end != ',') goto bad;
        for (long k = a; k <= b; k++) {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                int *g = realloc(v, sizeof *g * (size_t)cap);
                if (!g) goto bad;
                v = g;
            }
            v[n++] = (int)k;
        }
        s = *end ? end + 1 : end;
    }
    if (!n) goto bad;
    *out = v;
    return n;
bad:
    free(v);
    return -1;
}

/* Keeps the sketches of `all` listed in o->select. */
static int select_sketches(const cli_infer *o, sb_sketches *all, sb_sketches **out) {
    int *idx, n = cli_parse_list(o->select, &idx); /* checked when parsed */
    int rc = n < 0 ? sb_fail(SB_ERR_MEMORY, "out of host memory") : sb_sketches_create(out);
    for (int k = 0; k < n && !rc; k++) {
        int len;
        const int16_t *p = sb_sketches_points(all, idx[k], &len);
        if (!p) {
            fprintf(stderr, "%s: --index %d: the input has %d sketches\n", o->cmd, idx[k], sb_sketches_count(all));
            free(idx);
            return 1;
        }
        rc = sb_sketches_add_i16(*out, p, len, sb_sketches_label(all, idx[k]));
    }
    free(idx);
    if (rc) fprintf(stderr, "%s: %s\n", o->cmd, sb_last_error());
    return rc ? 1 : 0;
}

int cli_load_sketches(const cli_infer *o, char **inputs, int n_inputs, const sb_model_handle *m, sb_sketches **out) {
    sb_sketches *all = NULL;
    *out = NULL;
    int rc = sb_sketches_create(&all);
    if (!rc) sb_sketches_set_simplify(all, o->simplify);
    for (int k = 0; k < n_inputs && !rc; k++) {
        sb_raw_report was, now;
        sb_sketches_raw_report(all, &was);
        rc = sb_sketches_load(all, inputs[k], o->split, o->limit);
        sb_sketches_raw_report(all, &now);
        if (!rc) report_raw(o, inputs[k], &was, &now);
    }
    if (rc) {
        fprintf(stderr, "%s: %s\n", o->cmd, sb_last_error());
        sb_sketches_destroy(all);
        return 1;
    }
    if (sb_sketches_skipped(all))
        fprintf(stderr, "%s: warning: %d sketches with no points skipped\n", o->cmd, sb_sketches_skipped(all));
    if (o->select) {
        rc = select_sketches(o, all, out);
        sb_sketches_destroy(all);
        if (rc) {
            sb_sketches_destroy(*out), *out = NULL;
            return 1;
        }
    } else {
        *out = all;
    }
    if (sb_sketches_count(*out) == 0) {
        fprintf(stderr, "%s: no sketches in the input\n", o->cmd);
        sb_sketches_destroy(*out), *out = NULL;
        return 1;
    }
    int cut = sb_sketches_truncated(*out, m);
    if (cut)
        fprintf(stderr, "%s: warning: %d of %d sketches have more than %d points and are cut to that, as in training\n",
                o->cmd, cut, sb_sketches_count(*out), sb_model_max_length(m) - 1);
    return 0;
}
