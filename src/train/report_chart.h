/* Line charts of run-log series as inline SVG (for the run report): steps
 * on x, one path per series (M/L commands, one per finite point; a null or,
 * on a log scale, a non-positive value breaks the line), dots on series of
 * few points, a legend. No script, no external resource.
 * defines: sb_chart_svg */
#ifndef SB_TRAIN_REPORT_CHART_H
#define SB_TRAIN_REPORT_CHART_H

#include <stdio.h>

#include "train/run_log.h"

/* series: n (up to 4) series of one quantity; log_y: log10 y axis. */
void sb_chart_svg(FILE *f, const char *title, const sb_run_series *const *series, int n, int log_y);

#endif
