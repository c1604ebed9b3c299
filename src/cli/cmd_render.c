/* `sketchbert render`: sketches from an npz, ndjson or memmap dataset to
 * an SVG file, one sketch or a grid. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "data/memmap.h"
#include "data/quickdraw.h"
#include "data/render_svg.h"
#include "io/ndjson.h"
#include "io/npz.h"

static void usage(FILE *f) {
    fprintf(f, "usage: sketchbert render (--npz FILE | --ndjson FILE | --memmap DIR --class NAME)\n"
               "                         [--split train|valid|test] [--index LIST] [--columns N]\n"
               "                         [--cell PX] -o OUT.svg\n"
               "\n"
               "Draws sketches as SVG: one, or a grid with captions.\n"
               "  --index LIST   sketches to draw: 0,3,7 or 0-15 (default 0); for ndjson the\n"
               "                 drawing's position in the file, from 0\n"
               "  --split S      npz and memmap split (default train)\n"
               "  --columns N    grid columns (default: up to 8)\n"
               "  --cell PX      size of one cell (default 200)\n"
               "exit codes: 0 written, 1 an input or index failed, 2 bad usage\n");
}

/* "0,3,5-9" -> indices; returns the count or -1. */
static int parse_indices(const char *s, long *out, int cap) {
    int n = 0;
    while (*s) {
        char *end;
        long a = strtol(s, &end, 10), b = a;
        if (end == s || a < 0) return -1;
        if (*end == '-') {
            s = end + 1;
            b = strtol(s, &end, 10);
            if (end == s || b < a) return -1;
        }
        for (long i = a; i <= b; i++) {
            if (n == cap) return -1;
            out[n++] = i;
        }
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n;
}

/* Appends stroke-3 int16 points as floats; returns the float array. */
static float *to_float(const int16_t *p, uint32_t n) {
    float *f = malloc((size_t)n * 3 * sizeof *f + 1);
    for (uint32_t i = 0; f && i < 3 * n; i++) f[i] = p[i];
    return f;
}

int cmd_render(const cli_options *co, int argc, char **argv) {
    (void)co;
    const char *npz = NULL, *ndjson = NULL, *memmap = NULL, *cls = NULL, *out = NULL, *split_name = "train";
    const char *index_spec = "0";
    int columns = 0, cell = 200;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        const char **dst = !strcmp(a, "--npz") ? &npz : !strcmp(a, "--ndjson") ? &ndjson
                          : !strcmp(a, "--memmap") ? &memmap : !strcmp(a, "--class") ? &cls
                          : !strcmp(a, "-o") || !strcmp(a, "--out") ? &out : !strcmp(a, "--split") ? &split_name
                          : !strcmp(a, "--index") ? &index_spec : NULL;
        if (!dst && strcmp(a, "--columns") && strcmp(a, "--cell")) {
            fprintf(stderr, "sketchbert render: unknown argument '%s'\n", a);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "sketchbert render: %s needs a value\n", a);
            return 2;
        }
        if (dst) *dst = v;
        else if (!strcmp(a, "--columns")) columns = atoi(v);
        else cell = atoi(v);
        i++;
    }
    int split = sb_split_from_name(split_name);
    long idx[1024];
    int n = parse_indices(index_spec, idx, 1024);
    if (!out || (!!npz + !!ndjson + !!memmap) != 1 || (memmap && !cls) || split < 0 || n <= 0 || cell < 16) {
        fprintf(stderr, "sketchbert render: %s\n",
                !out ? "-o OUT.svg is required"
                : (!!npz + !!ndjson + !!memmap) != 1 ? "give exactly one of --npz, --ndjson, --memmap"
                : memmap && !cls ? "--memmap needs --class"
                : split < 0 ? "--split must be train, valid or test"
                : n <= 0 ? "--index: expected a list like 0,3,7 or 0-15 (at most 1024)"
                         : "--cell must be at least 16");
        return 2;
    }
    sb_svg_sketch *sk = calloc((size_t)n, sizeof *sk);
    char (*captions)[80] = calloc((size_t)n, sizeof *captions);
    int rc = !sk || !captions ? sb_fail(SB_ERR_MEMORY, "out of host memory") : 0;
    if (!rc && npz) {
        sb_sketch_set set;
        rc = sb_npz_load_split(npz, split_name, &set);
        for (int k = 0; !rc && k < n; k++) {
            if ((size_t)idx[k] >= set.count)
                rc = sb_fail(SB_ERR_INVALID, "%s: split %s has %zu sketches, no index %ld", npz, split_name, set.count, idx[k]);
            else sk[k].n = (uint32_t)set.sketches[idx[k]].n, sk[k].points = to_float(set.sketches[idx[k]].points, sk[k].n);
            snprintf(captions[k], sizeof captions[k], "%s #%ld", split_name, idx[k]);
        }
        if (!rc) sb_sketch_set_free(&set);
    } else if (!rc && memmap) {
        sb_mm_index index;
        sb_mm_split sp = {0};
        rc = sb_mm_index_load(&index, memmap);
        int c = rc ? -1 : sb_mm_index_find(&index, cls);
        if (!rc && c < 0) {
            /* the first classes, then a count */
            char list[400] = "";
            uint32_t k = 0;
            for (; k < index.n_classes && strlen(list) + strlen(index.classes[k].name) < sizeof list - 8; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", index.classes[k].name);
            if (k < index.n_classes)
                snprintf(list + strlen(list), sizeof list - strlen(list), ", ... %u more", index.n_classes - k);
            rc = sb_fail(SB_ERR_INVALID, "%s: no class '%s' (its %u classes: %s)", memmap, cls, index.n_classes, list);
        }
        if (!rc) rc = sb_mm_split_open(&sp, &index, (uint32_t)c, split);
        for (int k = 0; !rc && k < n; k++) {
            if ((uint32_t)idx[k] >= index.classes[c].count[split] || idx[k] > UINT32_MAX)
                rc = sb_fail(SB_ERR_INVALID, "%s: class %s split %s has %u sketches, no index %ld", memmap, cls,
                             split_name, index.classes[c].count[split], idx[k]);
            else {
                sb_mm_range r = index.classes[c].ranges[split][idx[k]];
                sk[k].n = (uint32_t)(r.end - r.start);
                sk[k].points = to_float(sp.points + 3 * r.start, sk[k].n);
            }
            snprintf(captions[k], sizeof captions[k], "%.50s %s #%ld", cls, split_name, idx[k]);
        }
        sb_mm_split_close(&sp);
        if (c >= 0 || !rc) sb_mm_index_free(&index);
    } else if (!rc) {
        sb_ndjson *r;
        rc = sb_ndjson_open(&r, ndjson);
        sb_qd_drawing q;
        for (long line = 0, got = 1; !rc && got == 1; line++) {
            got = sb_ndjson_next(r, &q);
            if (got < 0) rc = (int)got;
            for (int k = 0; got == 1 && k < n; k++) {
                if (idx[k] != line) continue;
                sb_drawing d = {q.n_strokes, q.stroke_len, q.n_points, q.x, q.y, NULL};
                int16_t *p;
                if (!(rc = sb_drawing_to_stroke3(&d, &p, &sk[k].n))) sk[k].points = to_float(p, sk[k].n), free(p);
                snprintf(captions[k], sizeof captions[k], "%.50s #%ld", q.word, line);
            }
        }
        for (int k = 0; !rc && k < n; k++)
            if (!sk[k].points) rc = sb_fail(SB_ERR_INVALID, "%s: no drawing number %ld", ndjson, idx[k]);
        if (r) sb_ndjson_close(r);
    }
    for (int k = 0; !rc && k < n; k++) sk[k].caption = n > 1 ? captions[k] : NULL;
    if (!rc) rc = sb_render_svg(out, sk, n, columns > 0 ? columns : (n < 8 ? n : 8), cell);
    if (rc) fprintf(stderr, "sketchbert render: %s\n", sb_last_error());
    else printf("wrote %s (%d sketch%s)\n", out, n, n > 1 ? "es" : "");
    for (int k = 0; sk && k < n; k++) free((void *)sk[k].points);
    free(sk);
    free(captions);
    return rc ? 1 : 0;
}
