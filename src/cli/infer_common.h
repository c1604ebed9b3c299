/* What the inference commands (embed, classify, retrieve, complete) share:
 * their input and batch options, opening the model and reading the
 * sketches through the public API (sketchbert/sketchbert.h), warnings.
 * defines: cli_infer, cli_infer_option, cli_infer_usage, cli_open_model,
 *          cli_warn_class_names, cli_load_sketches, cli_cells, cli_cells_add,
 *          cli_cells_free, cli_retrieval_mark, cli_parse_list, cli_complete_cells */
#ifndef SB_CLI_INFER_COMMON_H
#define SB_CLI_INFER_COMMON_H

#include <stdio.h>

#include "cli/commands.h"
#include "data/render_svg.h"
#include "sketchbert/sketchbert.h"

typedef struct cli_infer {
    const char *cmd;         /* "sketchbert classify", for messages */
    const char *split;       /* --split (npz, memmap); default test */
    int limit;               /* --limit N sketches per file / class; 0 all */
    const char *select;      /* --index LIST of the loaded sketches; NULL all */
    int batch_size;          /* --batch-size */
    const char *class_names; /* --class-names FILE */
    sb_simplify simplify;    /* --simplify / --no-simplify; default auto */
} cli_infer;

void cli_infer_init(cli_infer *o, const char *cmd);
/* Consumes argv[*i] (and its value) when it is a shared option: returns 1,
 * 0 when not one, -1 after printing a usage error. */
int cli_infer_option(cli_infer *o, int argc, char **argv, int *i);
/* The shared options' help lines. */
void cli_infer_usage(FILE *f);

/* Context on the global --device and the model with --batch-size and
 * --class-names; prints the error and returns 1 on failure. */
int cli_open_model(const cli_options *co, const cli_infer *o, const char *checkpoint, sb_context **ctx,
                   sb_model_handle **m);
/* A warning when the model's classes have only generic names (an older
 * checkpoint away from its training data), for commands that print them. */
void cli_warn_class_names(const cli_infer *o, const char *checkpoint, const sb_model_handle *m);
/* Sketches of the input files (npz, ndjson, svg, svg and memmap folders), then
 * --index; says which ndjson drawings looked raw and what was done, warns
 * about skipped and truncated sketches. Returns 1 after printing the
 * error. */
int cli_load_sketches(const cli_infer *o, char **inputs, int n_inputs, const sb_model_handle *m, sb_sketches **out);

/* Cells of a drawing (sb_render_svg): each owns a float copy of its points
 * and its caption, so callers add sketches from anywhere (a sketch set, an
 * index) without keeping buffers of their own. Start from {0}. */
typedef struct cli_cells {
    sb_svg_sketch *cells;
    int n, cap;
} cli_cells;
/* Appends the n int16 stroke-3 points, captioned by fmt; frame: the cell's
 * border colour (a mark) or NULL. */
int cli_cells_add(cli_cells *g, const int16_t *points, int n, const char *frame, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void cli_cells_free(cli_cells *g);
/* The frame of a retrieved item: green when its label matches the query's,
 * red when not, NULL when the query has no label. */
const char *cli_retrieval_mark(const char *query_label, const char *item_label);

/* "0,3,5-9" -> ascending list of ints (malloc'd); -1 on a bad list. */
int cli_parse_list(const char *s, int **out);

/* Gestalt completion of sketch i (src/cli/cmd_complete.c): masks the given
 * points or a share of them, predicts them, writes one line per masked
 * point to `lines` (NULL: none), adds |dx|, |dy| errors and pen hits to
 * err and the masked points to count, and fills three cells: original,
 * masked (red), completed (blue), whose buffers (bufs[2], states[2]) the
 * caller frees. */
int cli_complete_cells(sb_model_handle *m, const sb_sketches *s, int i, const int *pts, int n_pts, double share,
                       unsigned long long seed, FILE *lines, sb_svg_sketch *cells, float **bufs, unsigned char **states,
                       double err[3], long *count);

#endif
