/* `sketchbert complete`: gestalt completion with a maskrec model. Masks a
 * share (or given points) of each sketch, predicts them and draws
 * original, masked (masked points red) and completed (predicted points
 * blue) side by side as SVG; prints each prediction next to the truth. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/infer_common.h"
#include "data/render_svg.h"

static void usage(FILE *f) {
    fprintf(f, "usage: sketchbert complete CHECKPOINT INPUT... -o OUT.svg [--share F] [--seed S]\n"
               "                           [--points LIST] [--cell PX] [input options]\n"
               "\n"
               "For each sketch (use --index to pick): masks points, predicts them with the\n"
               "checkpoint's maskrec head, prints one line per masked point (sketch, point,\n"
               "predicted dx dy pen, true dx dy pen; pen 0 down, 1 lift, 2 end) and a summary\n"
               "(mean |error| of dx, dy in the sketch's units, pen accuracy), and draws one row per\n"
               "sketch: original, masked (red), completed (predicted points blue).\n"
               "  --share F      share of the points to mask, chosen at random (default 0.15)\n"
               "  --seed S       seed of that choice (default 0)\n"
               "  --points LIST  mask these points instead, e.g. 3,5-9 (0-based stroke-3 points)\n"
               "  --cell PX      size of one drawing (default 200)\n");
    cli_infer_usage(f);
    fprintf(f, "exit codes: 0 written, 1 failure (no maskrec head, a point out of range, input,\n"
               "output), 2 bad usage\n");
}

int cli_complete_cells(sb_model_handle *m, const sb_sketches *s, int i, const int *pts, int n_pts, double share,
                       unsigned long long seed, FILE *lines, sb_svg_sketch *cells, float **bufs, unsigned char **states,
                       double err[3], long *count) {
    int n;
    const int16_t *p = sb_sketches_points(s, i, &n);
    float *orig = malloc(sizeof(float) * 3 * (size_t)n), *done = malloc(sizeof(float) * 3 * (size_t)n);
    unsigned char *masked = malloc((size_t)n), *blue = malloc((size_t)n);
    int *pen = malloc(sizeof(int) * (size_t)n);
    bufs[0] = orig, bufs[1] = done, states[0] = masked, states[1] = blue;
    if (!orig || !done || !masked || !blue || !pen) {
        free(pen);
        return sb_fail(SB_ERR_MEMORY, "out of host memory");
    }
    int rc = sb_complete(m, s, i, pts, n_pts, share, seed, masked, done, pen);
    for (int j = 0; j < n && !rc; j++) {
        for (int c = 0; c < 3; c++) orig[3 * j + c] = p[3 * j + c];
        int on = masked[j] != 0;
        blue[j] = on ? SB_POINT_PREDICTED : SB_POINT_PLAIN;
        masked[j] = on ? SB_POINT_MASKED : SB_POINT_PLAIN;
        if (!on) continue;
        if (lines)
            fprintf(lines, "%d\t%d\t%.2f %.2f %d\t%d %d %d\n", i, j, (double)done[3 * j], (double)done[3 * j + 1], pen[j],
               p[3 * j], p[3 * j + 1], p[3 * j + 2]);
        err[0] += fabs(done[3 * j] - p[3 * j]), err[1] += fabs(done[3 * j + 1] - p[3 * j + 1]);
        err[2] += (pen[j] >= 1) == (p[3 * j + 2] == 1);
        (*count)++;
    }
    free(pen);
    const char *label = sb_sketches_label(s, i);
    cells[0] = (sb_svg_sketch){orig, (uint32_t)n, NULL, label[0] ? label : "original", NULL};
    cells[1] = (sb_svg_sketch){orig, (uint32_t)n, masked, "masked", NULL};
    cells[2] = (sb_svg_sketch){done, (uint32_t)n, blue, "completed", NULL};
    return rc;
}

int cmd_complete(const cli_options *co, int argc, char **argv) {
    cli_infer o;
    cli_infer_init(&o, "sketchbert complete");
    const char *out = NULL, *points = NULL;
    double share = 0.15;
    unsigned long long seed = 0;
    int cell = 200;
    char *pos[64];
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        int r = cli_infer_option(&o, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        int is_opt = !strcmp(a, "-o") || !strcmp(a, "--out") || !strcmp(a, "--share") || !strcmp(a, "--seed") ||
                     !strcmp(a, "--points") || !strcmp(a, "--cell");
        if (is_opt) {
            if (i + 1 >= argc) return fprintf(stderr, "%s: %s needs a value\n", o.cmd, a), 2;
            const char *v = argv[++i];
            char *end = NULL;
            if (!strcmp(a, "--share")) share = strtod(v, &end);
            else if (!strcmp(a, "--seed")) seed = strtoull(v, &end, 10);
            else if (!strcmp(a, "--cell")) cell = (int)strtol(v, &end, 10);
            else if (!strcmp(a, "--points")) points = v;
            else out = v;
            if (end && (*end || end == v))
                return fprintf(stderr, "%s: %s '%s' is not a number\n", o.cmd, a, v), 2;
        } else if (a[0] == '-' && a[1]) {
            return fprintf(stderr, "%s: unknown option '%s' (see --help)\n", o.cmd, a), 2;
        } else if (n_pos < 64) {
            pos[n_pos++] = argv[i];
        }
    }
    if (n_pos < 2 || !out) {
        fprintf(stderr, "%s: needs CHECKPOINT, INPUT and -o OUT.svg\n", o.cmd);
        usage(stderr);
        return 2;
    }
    if (!(share > 0 && share <= 1)) return fprintf(stderr, "%s: --share %g is outside (0, 1]\n", o.cmd, share), 2;
    int *pts = NULL, n_pts = 0;
    if (points && (n_pts = cli_parse_list(points, &pts)) < 0)
        return fprintf(stderr, "%s: --points '%s' is not a list like 3,5-9\n", o.cmd, points), 2;
    sb_context *ctx;
    sb_model_handle *m;
    if (cli_open_model(co, &o, pos[0], &ctx, &m)) return free(pts), 1;
    sb_sketches *s = NULL;
    int rc = sb_model_require(m, SB_HEAD_MASKREC);
    if (rc) fprintf(stderr, "%s: %s\n", o.cmd, sb_last_error());
    if (!rc && cli_load_sketches(&o, pos + 1, n_pos - 1, m, &s)) rc = -1;
    int n = sb_sketches_count(s);
    sb_svg_sketch *cells = calloc((size_t)(3 * (n ? n : 1)), sizeof *cells);
    float **bufs = calloc((size_t)(2 * (n ? n : 1)), sizeof *bufs);
    unsigned char **states = calloc((size_t)(2 * (n ? n : 1)), sizeof *states);
    if (!rc && (!cells || !bufs || !states)) rc = sb_fail(SB_ERR_MEMORY, "out of host memory");
    double err[3] = {0};
    long count = 0;
    if (!rc) printf("# sketch\tpoint\tpredicted dx dy pen\ttrue dx dy pen\n");
    for (int i = 0; i < n && !rc; i++) {
        rc = cli_complete_cells(m, s, i, pts, n_pts, share, seed, stdout, cells + 3 * i, bufs + 2 * i, states + 2 * i,
                                err, &count);
        if (rc) fprintf(stderr, "%s: %s\n", o.cmd, sb_last_error());
    }
    if (!rc) {
        printf("%ld masked points: mean |dx error| %.3f, mean |dy error| %.3f, pen accuracy %.3f\n", count,
               err[0] / count, err[1] / count, err[2] / count);
        rc = sb_render_svg(out, cells, 3 * n, 3, cell);
        if (rc) fprintf(stderr, "%s: %s\n", o.cmd, sb_last_error());
        else printf("wrote %s\n", out);
    }
    for (int i = 0; bufs && states && i < 2 * n; i++) free(bufs[i]), free(states[i]);
    free(cells), free(bufs), free(states), free(pts);
    sb_sketches_destroy(s);
    sb_model_close(m);
    sb_context_destroy(ctx);
    return rc ? 1 : 0;
}
