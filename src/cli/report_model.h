/* The model section of `sketchbert report`: a checkpoint of the run run on
 * the validation split of its data, as HTML. For a classifier: per-class
 * accuracy (sb_confusion_print), the confusion matrix, a grid of
 * misclassified sketches (src/data/render_svg.c); for a retrieval model:
 * top-k and mAP as the run's validation, and a few queries with their
 * nearest sketches, framed by whether they are of the query's class; for a
 * maskrec model: original, masked and completed sketches as `sketchbert
 * complete`.
 * defines: cli_report_model */
#ifndef SB_CLI_REPORT_MODEL_H
#define SB_CLI_REPORT_MODEL_H

#include "cli/commands.h"

/* The section (malloc'd HTML): the pictures, or a paragraph saying why
 * there are none (the reason is also printed to stderr). data_dir: the
 * run's `sketchbert prepare` folder; limit: sketches per class (0 all).
 * NULL only when out of memory. */
char *cli_report_model(const cli_options *co, const char *checkpoint, const char *data_dir, int limit);

#endif
