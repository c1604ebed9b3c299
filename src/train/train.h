/* The training loop and evaluation, as the original's
 * SketchTransformerTrainer.train / validate, driven by an sb_config.
 *
 * Training: a shuffled loader over the train split, one Adam (or AdamW)
 * per network at the config's learning rate (optional warm-up, cosine
 * decay, global gradient clipping), num_epoch epochs capped by
 * num_iterations. Every print_every steps a progress line (each loss term,
 * steps/s, sketches/s, ETA); every checkpoint_every steps a validation
 * (dropout off unless eval_dropout) and the checkpoints
 * <log_dir>/latest_ckpt.safetensors and, when the validation is the best
 * so far, best_ckpt.safetensors; every save_model_every steps
 * iter_<t>_ckpt.safetensors. Every event is also a JSON line in
 * <log_dir>/log.jsonl, with its UTC time. A stop request (SIGINT/SIGTERM
 * in the CLI) writes latest_ckpt and returns. A non-finite loss stops the
 * run naming the step (the last checkpoint written stays the last good
 * one), or skips the step with skip_nonfinite. load_pretrained 'continue'
 * resumes bit for bit: data order, masks, triplets and dropout are keyed
 * by (seed, step).
 *
 * The run folder (train/run_dir.h) is locked for the whole run. A run
 * already in log_dir is refused unless the config continues it or the
 * options say overwrite. Everything that can be checked before the first
 * step is (config, data, model, restore), and a start that fails leaves
 * the folder as it was. The valid split is needed only when a validation
 * falls inside the run. Sketches cut by max_length are counted and warned
 * about at the start.
 *
 * Best model: classification top-1 when the run classifies (as the
 * original), else retrieval mAP, else minus the summed validation losses;
 * ties go to the later step (the original compares with <=).
 * defines: sb_train_options, sb_eval_result, sb_train, sb_evaluate,
 *          sb_eval_result_free, sb_model_config_from */
#ifndef SB_TRAIN_TRAIN_H
#define SB_TRAIN_TRAIN_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "io/config.h"
#include "model/model.h"

typedef struct sb_train_options {
    int64_t max_steps;                   /* > 0: stop after this many steps in this run */
    int overwrite;                       /* replace a run found in log_dir (see run_dir.h) */
    FILE *out;                           /* progress lines; NULL: silent */
    FILE *warn;                          /* warnings; NULL: none */
    volatile sig_atomic_t *stop;         /* set asynchronously to stop with a checkpoint; may be NULL */
} sb_train_options;

typedef struct sb_eval_result {
    long sketches;                       /* evaluated (anchors, for triplets) */
    sb_loss_terms loss;                  /* weighted terms, averaged per sketch */
    int has_cls, has_rel;
    double top1, top5;                   /* classification accuracy */
    double rel_top1, rel_top5, rel_top10, rel_map; /* retrieval */
    /* sb_evaluate with classification: the split's classes and the
     * confusion counts confusion[true * cls_dim + predicted] (rows: the
     * n_classes of the split, columns: the cls_dim of the head; the
     * prediction is the top-1 class) */
    int n_classes, cls_dim;
    char **class_names;
    long *confusion;
} sb_eval_result;

/* The model part of cfg. */
int sb_model_config_from(const sb_config *cfg, sb_model_config *out);

/* Trains as cfg says (restoring per load_pretrained first). */
int sb_train(sb_runtime *rt, const sb_config *cfg, const sb_train_options *opt);

/* Loads the networks from checkpoint and evaluates them on `split`
 * (SB_SPLIT_*) with the validation settings; max_per_class > 0 takes at
 * most that many sketches of each class, else the whole split. */
int sb_evaluate(sb_runtime *rt, const sb_config *cfg, const char *checkpoint, int split, int max_per_class,
                sb_eval_result *out);
void sb_eval_result_free(sb_eval_result *r);

#endif
