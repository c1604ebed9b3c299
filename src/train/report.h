/* The run report: one self-contained HTML page (inline CSS and SVG, no
 * script, no network) of a training run: summary, curves of every logged
 * loss term and metric (train and valid), learning rate and speed, the
 * checkpoints, the command to resume, the device the run used (its log's
 * start event: device, GEMM path, attention form) and the config's. What is
 * missing (log, config, a checkpoint the log names) is said on the page.
 * defines: sb_report_checkpoint, sb_report_input, sb_report_write */
#ifndef SB_TRAIN_REPORT_H
#define SB_TRAIN_REPORT_H

#include <stdint.h>

#include "train/run_log.h"

typedef struct sb_report_checkpoint {
    const char *name;  /* file name in the run folder */
    long long bytes;   /* -1: the log names it but the file is missing */
    int64_t step;      /* the last checkpoint event naming it, or -1 */
} sb_report_checkpoint;

typedef struct sb_report_input {
    const char *run_dir;
    const sb_run_log *log;       /* NULL when there is no readable log */
    const char *log_problem;     /* why log is NULL, or NULL */
    const char *config_text;     /* config.yml, or NULL when missing */
    const char *device;          /* the config's device key ("" = default choice) */
    const sb_report_checkpoint *ckpts;
    int n_ckpts;
    const char *resume_command;  /* or NULL when the run cannot be resumed */
    int log_scale;               /* loss curves on a log10 axis */
    const char *model_html;      /* a ready section of model pictures, or NULL */
} sb_report_input;

/* Writes path atomically. */
int sb_report_write(const char *path, const sb_report_input *in);

#endif
