/* Training checkpoints: one safetensors file holding what the original's
 * checkpoint dict holds, under the original's keys.
 *
 * Tensors (F32), for each network <net> of model.h (netE, net_maskrec,
 * net_sketchclsinput, net_sketchretrieval) and its optimizer <opt> (optE,
 * opt_maskrec, ...), with <key> the original state_dict key (the model
 * parameter name without "<net>."):
 *   "<net>_state.<key>"                e.g. netE_state.embedding.embedding.weight
 *   "<opt>_state.<key>.exp_avg"        Adam first moment
 *   "<opt>_state.<key>.exp_avg_sq"     Adam second moment
 * Metadata (strings): "format" "pt", "sketchbert_checkpoint" (format
 * version, "1"), "config" (the effective config as YAML: it also holds the
 * transform settings inference needs), "class_names" (the training data's
 * classes in label order, one a line; absent in older files), "counters.t"
 * (completed steps), "counters.epoch" (1-based epoch of the next step),
 * "best_t", "best_metric", "<opt>_state.step" (Adam steps per optimizer),
 * "counters.ranks" (data-parallel ranks, when more than one; the config's
 * batch_size is per rank).
 *
 * Loading follows the original's restore_models for load_pretrained
 * 'continue' and 'pretrained' and the which_pretrained flags (the
 * SB_RESTORE_* bits of io/config.h: enc_net 1, enc_opt 2, task_net 4,
 * task_opt 8):
 * - enc_net: every encoder tensor must be in the file with the model's
 *   shape, except the position embedding, which is remapped as the
 *   original's SketchTransformerModel.load_model when the number of
 *   leading task tokens differs (sb_ckpt_remap_positions);
 * - task_net / task_opt: each task of the model whose network (optimizer)
 *   is in the file is loaded whole; a task absent from the file keeps its
 *   fresh weights (optimizer), as the original;
 * - enc_opt: the encoder's Adam moments and step;
 * - continue also restores the counters (the original wrote them into its
 *   checkpoint dict but never into its loop counters; we resume from them);
 *   best_t and best_metric may be absent (files of `sketchbert
 *   import-torch`): then 0 and -inf.
 * Nothing is changed unless every needed tensor is present with the right
 * shape: errors name the file, the tensor and both shapes.
 * defines: sb_ckpt_counters, sb_ckpt_model, sb_checkpoint_save,
 *          sb_checkpoint_load, sb_checkpoint_nets, sb_ckpt_remap_positions */
#ifndef SB_TRAIN_CHECKPOINT_H
#define SB_TRAIN_CHECKPOINT_H

#include <stdint.h>

#include "io/safetensors.h"
#include "model/model.h"

#define SB_CKPT_VERSION "1"

typedef struct sb_ckpt_counters {
    int64_t step;               /* completed training steps (counters.t) */
    int64_t epoch;              /* 1-based epoch of the next step */
    int64_t best_step;          /* best_t: step of the best validation so far */
    double best_metric;
    int64_t opt_step[SB_N_NETS]; /* Adam steps of each network's optimizer */
    int64_t ranks;              /* data-parallel ranks of the run ("counters.ranks", written when > 1) */
} sb_ckpt_counters;

/* The model's parameters and, per parameter, its Adam moments (same
 * shape; NULL arrays when there is no optimizer, e.g. `sketchbert test`). */
typedef struct sb_ckpt_model {
    const sb_param *params;
    int n_params;
    const sb_tensor *exp_avg, *exp_avg_sq;
} sb_ckpt_model;

/* Writes path atomically. config_yaml and class_names may be NULL. */
int sb_checkpoint_save(sb_runtime *rt, const char *path, const sb_ckpt_model *m, const sb_ckpt_counters *c,
                       const char *config_yaml, const char *class_names);

/* Restores from path what `which` (SB_RESTORE_* bits) asks; with
 * restore_counters (load_pretrained 'continue') also *c's step, epoch and
 * best; Adam steps come with the optimizers restored. Fields not restored
 * are left as they are. */
int sb_checkpoint_load(sb_runtime *rt, const char *path, const sb_ckpt_model *m, unsigned which, int restore_counters,
                       sb_ckpt_counters *c);

/* Which networks (SB_NET_*) have weights in the file at path. */
int sb_checkpoint_nets(const char *path, int has_net[SB_N_NETS]);

/* Opens a checkpoint: a safetensors file, or an original PyTorch file
 * (.pth, .pth.tar, .pt) converted on the fly (src/train/torch_import.h), so
 * restore_checkpoint_path may name either. */
int sb_checkpoint_open(sb_st_file **f, const char *path);

/* The original's position-embedding remap, on the host. own is
 * (own_rows, E), already initialised; pre is (pre_rows, E); rel/cls say
 * which leading tokens each side has (retrieval first). Rows of the
 * sequence are copied position by position (as many as both have); token
 * rows are copied where both sides have that token. Deviation: with own
 * having both tokens and pre only the classification token, the original
 * copies pre rows 0-1 (its cls row and first position) into own's rel and
 * cls rows; its own code's unreachable branch shows the intent, which we
 * follow: own's cls row gets pre's cls row, own's rel row stays fresh. */
void sb_ckpt_remap_positions(float *own, int own_rows, int own_rel, int own_cls, const float *pre, int pre_rows,
                             int pre_rel, int pre_cls, int E);

#endif
