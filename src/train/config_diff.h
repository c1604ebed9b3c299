/* The model keys in which a checkpoint's stored config differs from the
 * config in use, in words, for messages about a checkpoint that does not
 * fit the model: "layers_setting [[2, 32, 64]] in the checkpoint's
 * config, [[2, 48, 64]] in this one; cls_dim 4 ..., ...".
 * defines: sb_config_model_diff */
#ifndef SB_TRAIN_CONFIG_DIFF_H
#define SB_TRAIN_CONFIG_DIFF_H

#include <stddef.h>

#include "io/config.h"

/* The encoder's keys (model_type, layers_setting, embed_layers_setting,
 * input_dim) and, with heads, the task heads' (rec/cls/rel_layers_setting,
 * cls_dim, rel_feat_dim), joined by "; " into buf ("" when none differ). */
void sb_config_model_diff(const sb_config *ckpt, const sb_config *own, int heads, char *buf, size_t cap);

#endif
