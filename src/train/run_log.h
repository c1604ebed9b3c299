/* A training run's log.jsonl read back for reports: every numeric field of
 * the "train" and "valid" events as a series over steps, the checkpoint
 * events, and the lines that could not be read. Tolerant by design: unknown
 * events and fields, strings, arrays and objects are skipped, a truncated or
 * broken line is counted (the first is named) and reading goes on.
 * defines: sb_run_series, sb_run_checkpoint, sb_run_log, sb_run_log_init,
 *          sb_run_log_add_line, sb_run_log_read, sb_run_log_find, sb_run_log_free */
#ifndef SB_TRAIN_RUN_LOG_H
#define SB_TRAIN_RUN_LOG_H

#include <stdint.h>

typedef struct sb_run_series {
    char event[16], key[48]; /* "train" / "valid", the field name */
    int n, cap;
    int64_t *step;
    double *value;           /* NAN where the log has null */
} sb_run_series;

typedef struct sb_run_checkpoint {
    int64_t step;
    char *path;
} sb_run_checkpoint;

typedef struct sb_run_log {
    sb_run_series *series; /* in order of first appearance */
    int n_series, cap_series;
    sb_run_checkpoint *ckpt;
    int n_ckpt, cap_ckpt;
    long lines;            /* non-blank lines */
    long bad_lines;        /* lines that are not a JSON object */
    char first_bad[200];   /* "line N: what is wrong", or "" */
    long n_train, n_valid, n_start, n_stopped, n_nonfinite;
    int64_t last_step;     /* -1 when no event had a step */
    int64_t best_step;     /* the last valid event with "best":true, or -1 */
    struct {
        char key[48], value[160];
    } start_info[16];      /* the fields of the last "start" event, as text */
    int n_start_info;
} sb_run_log;

/* An empty log; then lines one at a time (line_no names a bad line). */
void sb_run_log_init(sb_run_log *log);
int sb_run_log_add_line(sb_run_log *log, const char *line, long line_no);
/* Fails only when the file cannot be read or memory runs out. */
int sb_run_log_read(const char *path, sb_run_log *out);
/* The series of `key` in `event` events, or NULL. */
const sb_run_series *sb_run_log_find(const sb_run_log *log, const char *event, const char *key);
void sb_run_log_free(sb_run_log *log);

#endif
