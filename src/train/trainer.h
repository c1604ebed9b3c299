/* The trainer shared by the files of src/train that implement train.h:
 * set-up and checkpoints (trainer.c), log lines (train_log.c),
 * evaluation (evaluate.c), the data-parallel steps (data_parallel.c) and
 * the loop (train.c).
 * defines: trainer, term, sb_trainer_open, sb_trainer_close,
 *          sb_trainer_open_eval_set, sb_trainer_memory_hint,
 *          sb_trainer_ckpt_model, sb_trainer_save, sb_trainer_restore,
 *          sb_trainer_checkpoint_meta, sb_trainer_evaluate,
 *          sb_trainer_best_metric, sb_tlog_* */
#ifndef SB_TRAIN_TRAINER_H
#define SB_TRAIN_TRAINER_H

#include <stdio.h>

#include "data/dataset.h"
#include "train/checkpoint.h"
#include "train/run_dir.h"
#include "train/tensorboard.h"
#include "train/train.h"

typedef struct trainer {
    sb_runtime *rt;
    const sb_config *cfg;
    sb_model *model;
    sb_param *params;
    int n_params;
    int triplet, has_cls, has_rel, has_rec;
    sb_dataset *train_set, *val_set;
    /* optimizer state: Adam moments per parameter, gradient norm scratch */
    sb_plan opt_plan;
    sb_tensor *exp_avg, *exp_avg_sq, norm_work, norm;
    const sb_tensor **grads;
    sb_ckpt_counters counters;
    char *config_yaml;
    char *class_names;                           /* the data's classes, one a line */
    FILE *log;                                   /* log.jsonl (/dev/null on ranks > 0) */
    sb_tb_writer *tb;                            /* TensorBoard events of the log, or NULL */
    sb_run_dir *dir;                             /* training on rank 0: the locked run folder */
    char last_ckpt[SB_CONFIG_PATH_MAX + 64];     /* the last checkpoint written ("" none) */
    /* data parallelism (data_parallel.c): this rank of `ranks`; with one
     * rank nothing below is used */
    int rank, ranks;
    float *staging;                              /* the gradients and loss shares on the host */
    size_t staging_n;
    struct sb_dp_buckets *buckets;               /* the gradients' sums, in buckets */
    double sum_wait_s;                           /* this log window's time from the backward's end to the sums' */
    float share[SB_LOSS_TERMS];                  /* this rank's share of each term's global mean */
} trainer;

/* The active loss terms: weight > 0 and the task present (the original's
 * valid_losses). */
typedef struct { const char *name; float value; } term;

// ---- trainer.c

/* The training set (training), model, fresh parameters, and (training)
 * optimizer state. */
int sb_trainer_open(trainer *tr, sb_runtime *rt, const sb_config *cfg, int training);
void sb_trainer_close(trainer *tr);
/* The split evaluated (validation or test); each_max <= 0: all of it. */
int sb_trainer_open_eval_set(trainer *tr, int split, int each_max);
/* Memory errors get the hint that matters most. */
int sb_trainer_memory_hint(int rc, const sb_config *cfg);
sb_ckpt_model sb_trainer_ckpt_model(const trainer *tr);
/* <log_dir>/<name>_ckpt.safetensors, its path into path. */
int sb_trainer_save(trainer *tr, const char *name, char *path, size_t cap);
int sb_trainer_restore(trainer *tr, unsigned which, int counters, const char *path);
/* A metadata string of the checkpoint at path (malloc'd), or NULL. */
char *sb_trainer_checkpoint_meta(const char *path, const char *key);

// ---- evaluate.c

/* Runs the model over every sketch of the evaluation set (no shuffle)
 * with the evaluation settings, this rank's share of each global batch;
 * the metrics are those of the whole set on every rank. confusion
 * (classification; may be NULL): zeroed (classes x cls_dim) counts to add
 * to. */
int sb_trainer_evaluate(trainer *tr, sb_eval_result *r, long *confusion);
double sb_trainer_best_metric(const trainer *tr, const sb_eval_result *r);

// ---- train_log.c

void sb_tlog_num(FILE *f, const char *key, double v);
/* A JSON string literal (paths may hold quotes or backslashes). */
void sb_tlog_str(FILE *f, const char *s);
int sb_tlog_terms(const trainer *tr, const sb_loss_terms *l, term *out);
void sb_tlog_losses(const trainer *tr, FILE *f, const sb_loss_terms *l, int json);
void sb_tlog_eval(const trainer *tr, FILE *f, const sb_eval_result *r, int json);
/* Opens a log.jsonl record: event, UTC time (ISO 8601, milliseconds), step. */
void sb_tlog_begin(trainer *tr, const char *event, long long step);

// ---- data_parallel.c

/* The rank, the rank count and the host staging of the gradients. */
int sb_dp_open(trainer *tr);
void sb_dp_close(trainer *tr);
/* Every rank's device in a table (host, rank, local rank, device) on out
 * of rank 0. */
int sb_dp_rank_table(trainer *tr, FILE *out);
/* After the forward (ran: it ran, the batch was not empty): sums the
 * ranks' loss counts and flags; sets this rank's shares (the model's
 * backward uses them); *finite and *stop become those of all ranks. */
int sb_dp_agree(trainer *tr, int ran, int *finite, int *stop);
/* After the backward (which started the buckets it finished; rc: its
 * status): sums the gradients over the ranks (this rank's are zeroed first
 * when it had no batch) and *lt becomes the global batch's losses. After a
 * failed backward only the sums it started are awaited, and rc returned. */
int sb_dp_reduce(trainer *tr, int ran, int rc, sb_loss_terms *lt);
/* Every SKETCHBERT_MPI_CHECK_EVERY (default 100) steps: the parameters'
 * checksums compared; drift stops the run with a message. */
int sb_dp_check(trainer *tr, int64_t step);
/* 0 when the rank count and batch size give the global batch that the
 * checkpoint's run had (or neither run has several ranks); else a
 * message. */
int sb_dp_check_resume(trainer *tr, const char *path);
/* Start failures on any rank fail every rank. */
int sb_dp_start(trainer *tr, int rc);

#endif
