/* Original Sketch-BERT PyTorch checkpoints (torch.save, zip or legacy
 * format, read by the safe src/io/torch_load.h) to our safetensors
 * checkpoints: netE_state.<key>, net_<task>_state.<key>, optionally the
 * Adam moments <opt>_state.<key>.exp_avg / .exp_avg_sq, the inferred model
 * config as YAML and the counters in the metadata (docs/formats.md,
 * "PyTorch checkpoints").
 * defines: sb_torch_import_options, sb_torch_import, sb_is_torch_path */
#ifndef SB_TRAIN_TORCH_IMPORT_H
#define SB_TRAIN_TORCH_IMPORT_H

#include <stdio.h>

enum {
    SB_IMPORT_NO_OPTIMIZER = 0,
    SB_IMPORT_OPTIMIZER,            /* the Adam moments too; their absence is an error */
    SB_IMPORT_OPTIMIZER_IF_PRESENT  /* the Adam moments when the file has them */
};

typedef struct sb_torch_import_options {
    int optimizer;     /* SB_IMPORT_* */
    int layers, heads; /* what the weights cannot tell when args lacks it; 0: from args */
} sb_torch_import_options;

/* Converts `in` to the safetensors file `out` (written atomically). When
 * report is not NULL, prints the format, the inferred model shape, the
 * counters and what was skipped. */
int sb_torch_import(const char *in, const char *out, const sb_torch_import_options *o, FILE *report);

/* 1 when the path names a torch.save file (.pth, .pth.tar, .pt). */
int sb_is_torch_path(const char *path);

#endif
