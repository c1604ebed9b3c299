/* The config's key table, its defaults (the original
 * sketch_transformer.yml's values, our extras off) and its YAML writer.
 * Reading is src/io/config.c; docs/config.md describes every key. */
#include "io/config_keys.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "runtime/error.h"

/* ---- the key table */

const char *const cfg_task_names[] = {"maskrec", "sketchclsinput", "sketchretrieval", NULL};
const char *const cfg_load_names[] = {"scratch", "continue", "pretrained", NULL};
const char *const cfg_restore_names[] = {"enc_net", "enc_opt", "task_net", "task_opt", NULL};
static const char *const model_names[] = {"albert", "bert", NULL};
static const char *const get_names[] = {"single", "triplet", NULL};
static const char *const norm_names[] = {"max_scale", "var_scale", "global_scale", NULL};
static const char *const mask_names[] = {"task", "single", "full", NULL};
static const char *const stroke_names[] = {"stroke-5", NULL};
static const char *const position_names[] = {"learn", NULL};
static const char *const schedule_names[] = {"constant", "cosine", NULL};
static const char *const optimizer_names[] = {"adam", "adamw", NULL};
static const char *const dataset_names[] = {"quickdraw_memmap", "tuberlin_memmap", "sketchy_memmap", NULL};
/* K_FIXED keys: the original's other values select models we do not build. */
static const char *const trainer_names[] = {"sketch_transformer", NULL};
static const char *const embed_type_names[] = {"linear", NULL};
static const char *const segment_names[] = {"none", NULL};
static const char *const norm_layer_names[] = {"LN", NULL};
static const char *const activation_names[] = {"gelu", NULL};

#define AT(field) .off = offsetof(sb_config, field), .size = sizeof(((sb_config *)0)->field)
#define INT(field, lo_, hi_) {.name = #field, .kind = K_INT, AT(field), .lo = (lo_), .hi = (hi_)}
#define REAL(field, lo_, lo_open_, hi_, hi_open_) \
    {.name = #field, .kind = K_REAL, AT(field), .lo = (lo_), .lo_open = (lo_open_), .hi = (hi_), .hi_open = (hi_open_)}
#define BOOL(field) {.name = #field, .kind = K_BOOL, AT(field)}
#define TEXT(field) {.name = #field, .kind = K_TEXT, AT(field)}
#define CHOICE(field, names) {.name = #field, .kind = K_CHOICE, AT(field), .choices = (names)}
#define NAME(field, names) {.name = #field, .kind = K_NAME, AT(field), .choices = (names)}
#define DIMS(field, min) {.name = #field, .kind = K_DIMS, AT(field), .min_n = (min)}
#define FIXED(key, names) {.name = #key, .kind = K_FIXED, .choices = (names)}
#define IGNORED(key) {.name = #key, .kind = K_IGNORED}

const cfg_key cfg_keys[] = {
    {.name = "task_types", .kind = K_TASKS, AT(task_types), .section = "tasks and restoring"},
    CHOICE(load_pretrained, cfg_load_names),
    {.name = "which_pretrained", .kind = K_RESTORE, AT(which_pretrained)},
    TEXT(restore_checkpoint_path),

    {.name = "dataset", .kind = K_NAME, AT(dataset), .choices = dataset_names, .section = "data"},
    TEXT(sum_path),
    TEXT(offset_path),
    TEXT(cls_limit_path),
    INT(max_length, 2, 65536),
    REAL(limit, 0, 1, HUGE_VAL, 0),
    NAME(normalization_type, norm_names),
    REAL(max_scale_factor, 0, 1, HUGE_VAL, 0),
    REAL(mask_prob, 0, 0, 1, 0),
    NAME(mask_task_type, mask_names),
    NAME(stroke_type, stroke_names),
    CHOICE(get_type, get_names),
    BOOL(input_is_complete),
    INT(max_cls_cache, 1, INT_MAX),
    INT(each_max_samples, 1, INT_MAX),
    INT(each_val_samples, 1, INT_MAX),

    {.name = "model_type", .kind = K_CHOICE, AT(model_type), .choices = model_names, .section = "model"},
    {.name = "layers_setting", .kind = K_LAYERS, AT(layers_setting)},
    DIMS(embed_layers_setting, 1),
    DIMS(rec_layers_setting, 0),
    DIMS(cls_layers_setting, 0),
    DIMS(rel_layers_setting, 0),
    INT(input_dim, 5, 5),
    INT(cls_dim, 1, INT_MAX),
    INT(rel_feat_dim, 1, INT_MAX),
    NAME(position_type, position_names),
    REAL(attention_dropout_prob, 0, 0, 1, 1),
    REAL(hidden_dropout_prob, 0, 0, 1, 1),
    REAL(output_dropout_prob, 0, 0, 1, 1),

    {.name = "batch_size", .kind = K_INT, AT(batch_size), .lo = 1, .hi = 1 << 20, .section = "training"},
    REAL(learning_rate, 0, 1, HUGE_VAL, 0),
    INT(num_epoch, 0, INT_MAX),
    {.name = "num_iterations", .kind = K_INT64, AT(num_iterations), .lo = 0, .hi = 9e15},

    {.name = "triplet_margin", .kind = K_REAL, AT(triplet_margin), .lo = 0, .hi = HUGE_VAL, .section = "losses"},
    REAL(mask_axis_weight, 0, 0, HUGE_VAL, 0),
    REAL(rec_axis_weight, 0, 0, HUGE_VAL, 0),
    REAL(mask_type_weight, 0, 0, HUGE_VAL, 0),
    REAL(rec_type_weight, 0, 0, HUGE_VAL, 0),
    REAL(prediction_weight, 0, 0, HUGE_VAL, 0),
    REAL(triplet_weight, 0, 0, HUGE_VAL, 0),

    {.name = "log_dir", .kind = K_TEXT, AT(log_dir), .section = "output"},
    INT(print_every, 1, INT_MAX),
    INT(checkpoint_every, 1, INT_MAX),
    INT(save_model_every, 1, INT_MAX),

    {.name = "seed", .kind = K_SEED, AT(seed), .section = "sketchbert extras (not in the original)"},
    TEXT(device),
    BOOL(eval_dropout),
    BOOL(eval_mask),
    INT(warmup_steps, 0, INT_MAX),
    CHOICE(lr_schedule, schedule_names),
    CHOICE(optimizer, optimizer_names),
    REAL(weight_decay, 0, 0, HUGE_VAL, 0),
    REAL(grad_clip, 0, 0, HUGE_VAL, 0),
    BOOL(skip_nonfinite),
    BOOL(tensorboard),

    {.name = "trainer", .kind = K_FIXED, .choices = trainer_names,
     .section = "the original's choices that sketchbert implements one way"},
    FIXED(sketch_embed_type, embed_type_names),
    FIXED(segment_type, segment_names),
    FIXED(attention_norm_type, norm_layer_names),
    FIXED(inter_activation, activation_names),

    IGNORED(gpu_ids), IGNORED(mode), IGNORED(num_train_samples), IGNORED(num_val_samples),
    IGNORED(shuffle_val), IGNORED(loader_num_workers), IGNORED(image_sum_path), IGNORED(max_size),
    IGNORED(image_size), IGNORED(type_size), IGNORED(each_image_max_samples), IGNORED(encoder_type),
    IGNORED(output_attentions), IGNORED(output_all_states), IGNORED(keep_multihead_output),
    IGNORED(latent_dim), IGNORED(M), IGNORED(embed_pool_type), IGNORED(atten_type), IGNORED(gamma),
    IGNORED(mask_gmm_weight), IGNORED(rec_gmm_weight), IGNORED(num_display_samples),
};
_Static_assert(sizeof cfg_keys / sizeof cfg_keys[0] == CFG_N_KEYS, "CFG_N_KEYS counts the table");

_Static_assert(sizeof(sb_task_type) == sizeof(int) && sizeof(sb_load_pretrained) == sizeof(int) &&
                   sizeof(sb_model_type) == sizeof(int) && sizeof(sb_get_type) == sizeof(int) &&
                   sizeof(sb_lr_schedule) == sizeof(int) && sizeof(sb_optimizer) == sizeof(int),
               "K_CHOICE stores enums as int");

int cfg_find_key(const char *name) {
    for (int i = 0; i < CFG_N_KEYS; i++)
        if (strcmp(cfg_keys[i].name, name) == 0) return i;
    return -1;
}

int cfg_find_name(const char *const *names, const char *s) {
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

const char *cfg_join_names(const char *const *names, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && n < cap; i++) n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", names[i]);
    return buf;
}

/* ---- defaults */

void cfg_set_text(char *field, size_t cap, const char *s) {
    memset(field, 0, cap);
    memcpy(field, s, strlen(s));
}
#define SET_TEXT(field, s) cfg_set_text((field), sizeof(field), (s))

static void set_dims(sb_dims *d, int n, const int *v) {
    d->n = n;
    for (int i = 0; i < n; i++) d->d[i] = v[i];
}

void sb_config_default(sb_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->n_tasks = 1;
    cfg->task_types[0] = SB_TASK_MASKREC;
    cfg->load_pretrained = SB_LOAD_SCRATCH;
    cfg->which_pretrained = SB_RESTORE_ENC_NET;
    SET_TEXT(cfg->restore_checkpoint_path, "qd_8_12_768.pth.tar");

    SET_TEXT(cfg->dataset, "quickdraw_memmap");
    SET_TEXT(cfg->sum_path, "data/memmap/memmap_sum.txt");
    SET_TEXT(cfg->offset_path, "data/memmap/offsets.sbidx");
    cfg->max_length = 250;
    cfg->limit = 1000;
    SET_TEXT(cfg->normalization_type, "max_scale");
    cfg->max_scale_factor = 10;
    cfg->mask_prob = 0.85;
    SET_TEXT(cfg->mask_task_type, "task");
    SET_TEXT(cfg->stroke_type, "stroke-5");
    cfg->get_type = SB_GET_SINGLE;
    cfg->input_is_complete = 0;
    cfg->max_cls_cache = 345;
    cfg->each_max_samples = 5000;
    cfg->each_val_samples = 1000;

    cfg->model_type = SB_MODEL_ALBERT;
    cfg->n_layers = 8;
    for (int i = 0; i < cfg->n_layers; i++) cfg->layers_setting[i] = (sb_layer_setting){12, 768, 3072};
    set_dims(&cfg->embed_layers_setting, 3, (const int[]){128, 256, 512});
    set_dims(&cfg->rec_layers_setting, 3, (const int[]){512, 256, 128});
    cfg->input_dim = 5;
    cfg->cls_dim = 345;
    cfg->rel_feat_dim = 128;
    SET_TEXT(cfg->position_type, "learn");
    cfg->attention_dropout_prob = cfg->hidden_dropout_prob = cfg->output_dropout_prob = 0.5;

    cfg->batch_size = 10;
    cfg->learning_rate = 1e-4;
    cfg->num_epoch = 200;
    cfg->num_iterations = 2000000;

    cfg->triplet_margin = 2.0;
    cfg->mask_axis_weight = 1;
    cfg->mask_type_weight = 1;
    cfg->prediction_weight = 1;
    cfg->triplet_weight = 1;

    SET_TEXT(cfg->log_dir, "sketch_albert_qd_struct_8_12_768_test_mask_max_scale");
    cfg->print_every = 100;
    cfg->checkpoint_every = 2000;
    cfg->save_model_every = 20000;

    cfg->lr_schedule = SB_LR_CONSTANT;
    cfg->optimizer = SB_OPTIMIZER_ADAM;
}

int sb_config_has_task(const sb_config *cfg, sb_task_type task) {
    for (int i = 0; i < cfg->n_tasks; i++)
        if (cfg->task_types[i] == task) return 1;
    return 0;
}

/* ---- writing */

/* Whole numbers as integers, others in the shortest %g form that reads
 * back to x; the mantissa keeps a dot so that PyYAML, too, reads 1.0e-05
 * as a number. */
static void write_real(FILE *f, double x) {
    char buf[40];
    if (x == floor(x) && fabs(x) < 1e15) { /* whole: 1000, not 1e+03 */
        fprintf(f, "%.0f", x);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    char *e = strchr(buf, 'e');
    if (e && !memchr(buf, '.', (size_t)(e - buf))) fprintf(f, "%.*s.0%s", (int)(e - buf), buf, e);
    else fputs(buf, f);
}

/* A single-quoted YAML string ('' stands for '). */
static void write_text(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

static void write_dims(FILE *f, const sb_dims *d) {
    fputc('[', f);
    for (int i = 0; i < d->n; i++) fprintf(f, "%s%d", i ? ", " : "", d->d[i]);
    fputc(']', f);
}

int sb_config_write_yaml(const sb_config *cfg, FILE *f) {
    if (!cfg || !f) return sb_fail(SB_ERR_INVALID, "sb_config_write_yaml: NULL argument");
    fputs("# sketchbert config (every key; docs/config.md)\n", f);
    for (int i = 0; i < CFG_N_KEYS; i++) {
        const cfg_key *k = &cfg_keys[i];
        const char *field = (const char *)cfg + k->off;
        if (k->kind == K_IGNORED) continue;
        if (k->section) fprintf(f, "%s# ---- %s\n", i ? "\n" : "", k->section);
        fprintf(f, "%s: ", k->name);
        int id;
        switch (k->kind) {
        case K_INT: fprintf(f, "%d", *(const int *)field); break;
        case K_INT64: fprintf(f, "%lld", (long long)*(const int64_t *)field); break;
        case K_SEED: fprintf(f, "%llu", (unsigned long long)*(const uint64_t *)field); break;
        case K_REAL: write_real(f, *(const double *)field); break;
        case K_BOOL: fputs(*(const int *)field ? "true" : "false", f); break;
        case K_TEXT: write_text(f, field); break;
        case K_NAME: fputs(field, f); break;
        case K_CHOICE:
            memcpy(&id, field, sizeof id);
            fputs(k->choices[id], f);
            break;
        case K_DIMS: write_dims(f, (const sb_dims *)field); break;
        case K_LAYERS:
            fputc('[', f);
            for (int r = 0; r < cfg->n_layers; r++) {
                const sb_layer_setting *l = &cfg->layers_setting[r];
                fprintf(f, "%s[%d, %d, %d]", r ? ", " : "", l->heads, l->hidden, l->intermediate);
            }
            fputc(']', f);
            break;
        case K_TASKS:
            fputc('[', f);
            for (int t = 0; t < cfg->n_tasks; t++) fprintf(f, "%s%s", t ? ", " : "", cfg_task_names[cfg->task_types[t]]);
            fputc(']', f);
            break;
        case K_RESTORE:
            fputc('[', f);
            for (int b = 0, first = 1; cfg_restore_names[b]; b++)
                if (cfg->which_pretrained & 1u << b) fprintf(f, "%s%s", first ? "" : ", ", cfg_restore_names[b]), first = 0;
            fputc(']', f);
            break;
        case K_FIXED: fputs(k->choices[0], f); break;
        case K_IGNORED: break;
        }
        fputc('\n', f);
    }
    if (fflush(f) || ferror(f)) return sb_fail(SB_ERR_IO, "config: writing YAML failed: %s", strerror(errno));
    return 0;
}
