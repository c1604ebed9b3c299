/* The training config: every key of the original Sketch-BERT
 * sketch_transformer.yml that affects data, model, training or evaluation,
 * with the original's values as defaults, plus our own extras (all off by
 * default). Read from YAML with libyaml, with the original's `!include`;
 * written back as YAML for logs and checkpoint metadata. docs/config.md
 * describes every key.
 *
 * sb_config is a plain value (fixed-size arrays, no pointers): copy it
 * freely, nothing to free. Unused bytes (past a string's end, list entries
 * past n) are zero after sb_config_default and sb_config_load, so two
 * configs holding the same values compare equal with memcmp.
 * defines: sb_config, sb_config_default, sb_config_load, sb_config_load_sets,
 *          sb_config_load_string, sb_config_write_yaml, sb_config_has_task */
#ifndef SB_IO_CONFIG_H
#define SB_IO_CONFIG_H

#include <stdint.h>
#include <stdio.h>

enum {
    SB_CONFIG_MAX_TASKS = 3,
    SB_CONFIG_MAX_LAYERS = 32, /* encoder layers (the model's SB_MAX_LAYERS) */
    SB_CONFIG_MAX_DIMS = 8,    /* entries of embed/rec/cls/rel_layers_setting (SB_MAX_HEAD_LAYERS) */
    SB_CONFIG_PATH_MAX = 1024, /* bytes of a path, with its NUL */
    SB_CONFIG_NAME_MAX = 32    /* bytes of a short name such as 'max_scale' */
};

typedef enum sb_task_type {
    SB_TASK_MASKREC,        /* 'maskrec': SGM pre-training */
    SB_TASK_SKETCHCLSINPUT, /* 'sketchclsinput': classification (CLS token) */
    SB_TASK_SKETCHRETRIEVAL /* 'sketchretrieval': retrieval (triplet loss) */
} sb_task_type;

typedef enum sb_load_pretrained {
    SB_LOAD_SCRATCH,   /* 'scratch': fresh weights */
    SB_LOAD_CONTINUE,  /* 'continue': restore, also the step counters */
    SB_LOAD_PRETRAINED /* 'pretrained': restore weights, count from 0 */
} sb_load_pretrained;

/* which_pretrained: what to restore from restore_checkpoint_path. */
enum {
    SB_RESTORE_ENC_NET = 1,  /* 'enc_net' */
    SB_RESTORE_ENC_OPT = 2,  /* 'enc_opt' */
    SB_RESTORE_TASK_NET = 4, /* 'task_net' */
    SB_RESTORE_TASK_OPT = 8  /* 'task_opt' */
};

typedef enum sb_model_type {
    SB_MODEL_ALBERT, /* 'albert': one layer's weights shared by all layers */
    SB_MODEL_BERT    /* 'bert': each layer has its own */
} sb_model_type;

typedef enum sb_get_type {
    SB_GET_SINGLE, /* 'single': one sketch per sample */
    SB_GET_TRIPLET /* 'triplet': anchor, positive, negative (retrieval) */
} sb_get_type;

typedef enum sb_lr_schedule { SB_LR_CONSTANT, SB_LR_COSINE } sb_lr_schedule;
typedef enum sb_optimizer { SB_OPTIMIZER_ADAM, SB_OPTIMIZER_ADAMW } sb_optimizer;

/* One encoder layer: [heads, hidden, intermediate]. */
typedef struct sb_layer_setting {
    int heads, hidden, intermediate;
} sb_layer_setting;

/* A list of layer widths, e.g. embed_layers_setting [128, 256, 512]. */
typedef struct sb_dims {
    int n;
    int d[SB_CONFIG_MAX_DIMS];
} sb_dims;

typedef struct sb_config {
    /* ---- tasks and restoring */
    int n_tasks;
    sb_task_type task_types[SB_CONFIG_MAX_TASKS]; /* distinct, in file order */
    sb_load_pretrained load_pretrained;
    unsigned which_pretrained; /* SB_RESTORE_* flags */
    char restore_checkpoint_path[SB_CONFIG_PATH_MAX];

    /* ---- data ("" means unset for paths) */
    char dataset[SB_CONFIG_NAME_MAX];     /* *_memmap: all read the same memmap layout */
    char sum_path[SB_CONFIG_PATH_MAX];    /* memmap_sum.txt of a prepared dataset */
    char offset_path[SB_CONFIG_PATH_MAX]; /* its offsets.sbidx */
    char cls_limit_path[SB_CONFIG_PATH_MAX]; /* class names to keep, one a line */
    int max_length;                       /* T: points per sketch, with the leading zero point */
    double limit;                         /* dx, dy clipped to [-limit, limit] */
    char normalization_type[SB_CONFIG_NAME_MAX]; /* max_scale | var_scale | global_scale */
    double max_scale_factor;
    double mask_prob;                          /* share of points KEPT by the SGM mask */
    char mask_task_type[SB_CONFIG_NAME_MAX];   /* task | single | full */
    char stroke_type[SB_CONFIG_NAME_MAX];      /* stroke-5 */
    sb_get_type get_type;
    int input_is_complete; /* skip sketches longer than max_length - 1 points */
    int max_cls_cache;     /* use the first max_cls_cache classes of the sum file */
    int each_max_samples;  /* sketches per class, training split */
    int each_val_samples;  /* sketches per class, validation split */

    /* ---- model */
    sb_model_type model_type;
    int n_layers;
    sb_layer_setting layers_setting[SB_CONFIG_MAX_LAYERS];
    sb_dims embed_layers_setting; /* n >= 1: embedding width, then refine widths */
    sb_dims rec_layers_setting, cls_layers_setting, rel_layers_setting; /* head widths */
    int input_dim;                /* 5 (stroke-5) */
    int cls_dim;                  /* classes of the classification head */
    int rel_feat_dim;             /* retrieval feature size */
    char position_type[SB_CONFIG_NAME_MAX]; /* learn */
    double attention_dropout_prob, hidden_dropout_prob, output_dropout_prob;

    /* ---- training */
    int batch_size;
    double learning_rate;
    int num_epoch;
    int64_t num_iterations; /* > 0: stop after this many steps too; 0: no cap */

    /* ---- losses */
    double triplet_margin;
    double mask_axis_weight, rec_axis_weight, mask_type_weight, rec_type_weight;
    double prediction_weight, triplet_weight;

    /* ---- output */
    char log_dir[SB_CONFIG_PATH_MAX];
    int print_every, checkpoint_every, save_model_every; /* in steps */

    /* ---- our extras (the original has none of these); all off by default */
    uint64_t seed;                /* data order, masks, dropout, init */
    char device[SB_CONFIG_NAME_MAX * 4]; /* device selector; "" = default choice */
    int eval_dropout;             /* keep dropout on when evaluating (as the original did) */
    int eval_mask;                /* SGM-mask cls/retrieval inputs when evaluating (as the original did) */
    int warmup_steps;             /* linear learning-rate warm-up; 0 = none */
    sb_lr_schedule lr_schedule;   /* constant (original) | cosine */
    sb_optimizer optimizer;       /* adam (original) | adamw */
    double weight_decay;          /* 0 = none */
    double grad_clip;             /* max global gradient L2 norm; 0 = none */
    int skip_nonfinite;           /* skip steps with a non-finite loss or gradient */
    int tensorboard;              /* also write TensorBoard event files to log_dir */
} sb_config;

/* The original sketch_transformer.yml's values (data paths point at
 * data/memmap/, where `sketchbert prepare` writes) and our extras off. */
void sb_config_default(sb_config *cfg);

/* Defaults, then the keys of the YAML file at path. `!include name` (any
 * value) reads name relative to the including file: .yml/.yaml as YAML,
 * anything else as text. An unknown key is an error that names the
 * nearest known key ("file:line: unknown key 'learning_rat' (did you mean
 * learning_rate?)"); keys of the original that we do not use are accepted
 * silently. Errors: "file:line: key: what is wrong (allowed: ...)",
 * "file:line:column: YAML syntax error: ...", or a file that cannot be read
 * (missing, unreadable, a directory). On error *cfg is left unchanged. */
int sb_config_load(sb_config *cfg, const char *path);

/* sb_config_load, then the n_sets overrides "KEY=VALUE" in order (the
 * CLI's --set): VALUE is YAML as in a file (`16`, `0.5`, `[[4, 128, 512]]`,
 * `'text'`; empty is null), checked as the file's values are; the rules
 * across keys are checked last. Errors about a set name it:
 * "--set batch_size=0: batch_size: 0 is out of range (allowed: ...)". */
int sb_config_load_sets(sb_config *cfg, const char *path, const char *const *sets, int n_sets);

/* The same from YAML text, for checkpoint metadata: `label` stands for the
 * file name in messages and for `!include` (NULL: "<string>", includes
 * relative to the current directory). An unknown key only warns on stderr:
 * metadata converted from an original checkpoint carries its run's
 * arguments (log_id, any key of the config it was trained with). */
int sb_config_load_string(sb_config *cfg, const char *text, const char *label);

/* Every key of cfg as YAML that sb_config_load reads back to the same
 * struct; numbers print in the shortest form that reads back exactly. */
int sb_config_write_yaml(const sb_config *cfg, FILE *f);

/* 1 when task is in cfg->task_types. */
int sb_config_has_task(const sb_config *cfg, sb_task_type task);

#endif
