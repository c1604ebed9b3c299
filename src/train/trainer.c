/* The trainer behind sb_train and sb_evaluate (train.h): set-up,
 * checkpoints, the model's networks and optimizer state. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer.h"
#include "ops/grad_norm.h"
#include "train/config_diff.h"

int sb_model_config_from(const sb_config *cfg, sb_model_config *m) {
    memset(m, 0, sizeof *m);
    if (cfg->n_layers > SB_MAX_LAYERS)
        return sb_fail(SB_ERR_INVALID, "config: layers_setting has %d layers, at most %d are supported", cfg->n_layers,
                       SB_MAX_LAYERS);
    const struct { const sb_dims *d; const char *key; int *dst, *n; } lists[] = {
        {&cfg->embed_layers_setting, "embed_layers_setting", m->embed_dims, &m->n_embed},
        {&cfg->rec_layers_setting, "rec_layers_setting", m->rec_dims, &m->n_rec},
        {&cfg->cls_layers_setting, "cls_layers_setting", m->cls_dims, &m->n_cls},
        {&cfg->rel_layers_setting, "rel_layers_setting", m->rel_dims, &m->n_rel},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        if (lists[i].d->n > SB_MAX_HEAD_LAYERS)
            return sb_fail(SB_ERR_INVALID, "config: %s has %d entries, at most %d are supported", lists[i].key,
                           lists[i].d->n, SB_MAX_HEAD_LAYERS);
        memcpy(lists[i].dst, lists[i].d->d, sizeof(int) * (size_t)lists[i].d->n);
        *lists[i].n = lists[i].d->n;
    }
    m->albert = cfg->model_type == SB_MODEL_ALBERT;
    m->n_layers = cfg->n_layers;
    for (int l = 0; l < cfg->n_layers; l++)
        m->heads[l] = cfg->layers_setting[l].heads, m->hidden[l] = cfg->layers_setting[l].hidden,
        m->inter[l] = cfg->layers_setting[l].intermediate;
    m->input_dim = cfg->input_dim;
    m->max_length = cfg->max_length;
    m->maskrec = sb_config_has_task(cfg, SB_TASK_MASKREC);
    m->cls = sb_config_has_task(cfg, SB_TASK_SKETCHCLSINPUT);
    m->rel = sb_config_has_task(cfg, SB_TASK_SKETCHRETRIEVAL);
    m->cls_dim = cfg->cls_dim;
    m->rel_feat_dim = cfg->rel_feat_dim;
    m->attention_dropout = (float)cfg->attention_dropout_prob;
    m->hidden_dropout = (float)cfg->hidden_dropout_prob;
    m->output_dropout = (float)cfg->output_dropout_prob;
    m->mask_axis_weight = (float)cfg->mask_axis_weight, m->rec_axis_weight = (float)cfg->rec_axis_weight;
    m->mask_type_weight = (float)cfg->mask_type_weight, m->rec_type_weight = (float)cfg->rec_type_weight;
    m->prediction_weight = (float)cfg->prediction_weight, m->triplet_weight = (float)cfg->triplet_weight;
    m->triplet_margin = (float)cfg->triplet_margin;
    return 0;
}

static int dataset_open(const sb_config *cfg, int split, int apply_mask, int each_max, sb_dataset **out) {
    sb_dataset_config d = {0};
    d.sum_path = cfg->sum_path;
    d.offset_path = cfg->offset_path[0] ? cfg->offset_path : NULL;
    d.split = split;
    d.max_cls_cache = cfg->max_cls_cache;
    d.each_max_samples = each_max;
    d.cls_limit_path = cfg->cls_limit_path;
    d.input_is_complete = cfg->input_is_complete;
    d.transform = sb_transform_config_default();
    d.transform.max_length = cfg->max_length;
    d.transform.limit = cfg->limit;
    d.transform.max_scale_factor = cfg->max_scale_factor;
    SB_TRY(sb_norm_type_parse(cfg->normalization_type, &d.transform.normalization));
    SB_TRY(sb_mask_type_parse(cfg->mask_task_type, &d.mask_type));
    d.mask_prob = cfg->mask_prob;
    d.apply_mask = apply_mask;
    d.cls_token = sb_config_has_task(cfg, SB_TASK_SKETCHCLSINPUT);
    d.rel_token = sb_config_has_task(cfg, SB_TASK_SKETCHRETRIEVAL);
    d.triplet = cfg->get_type == SB_GET_TRIPLET;
    d.seed = cfg->seed;
    SB_TRY(sb_dataset_open(out, &d));
    if (d.cls_token && sb_dataset_num_classes(*out) > cfg->cls_dim) {
        int n = sb_dataset_num_classes(*out);
        sb_dataset_close(*out);
        *out = NULL;
        return sb_fail(SB_ERR_INVALID, "%s: %d classes, but cls_dim is %d (set cls_dim or max_cls_cache)", cfg->sum_path,
                       n, cfg->cls_dim);
    }
    return 0;
}

/* Memory errors get the hint that matters most. */
int sb_trainer_memory_hint(int rc, const sb_config *cfg) {
    const char *msg = sb_last_error();
    if (rc == SB_ERR_MEMORY || strstr(msg, "ALLOCATION_FAILURE") || strstr(msg, "OUT_OF_RESOURCES") ||
        strstr(msg, "OUT_OF_HOST_MEMORY"))
        return sb_fail_context(rc, "out of memory with batch_size %d (try a smaller batch_size or max_length)",
                               cfg->batch_size);
    return rc;
}

void sb_trainer_close(trainer *tr) {
    if (tr->log) fclose(tr->log);
    sb_tb_close(tr->tb);
    sb_plan_release(tr->rt, &tr->opt_plan);
    if (tr->norm.buf) sb_tensor_release(tr->rt, &tr->norm);
    if (tr->norm_work.buf) sb_tensor_release(tr->rt, &tr->norm_work);
    free(tr->exp_avg), free(tr->exp_avg_sq), free(tr->grads), free(tr->config_yaml);
    free(tr->class_names);
    sb_dp_close(tr);
    sb_model_destroy(tr->model);
    sb_dataset_close(tr->train_set);
    sb_dataset_close(tr->val_set);
    memset(tr, 0, sizeof *tr);
}

/* The split evaluated (validation or test); each_max <= 0: all of it. */
int sb_trainer_open_eval_set(trainer *tr, int split, int each_max) {
    /* masks in evaluation: needed by maskrec; for cls/rel only with eval_mask */
    return dataset_open(tr->cfg, split, tr->has_rec || tr->cfg->eval_mask, each_max, &tr->val_set);
}

/* The training set (training), model, fresh parameters, and (training)
 * optimizer state. */
int sb_trainer_open(trainer *tr, sb_runtime *rt, const sb_config *cfg, int training) {
    memset(tr, 0, sizeof *tr);
    tr->rt = rt, tr->cfg = cfg;
    tr->ranks = 1; /* sb_dp_open: the data-parallel group */
    sb_plan_init(&tr->opt_plan);
    tr->triplet = cfg->get_type == SB_GET_TRIPLET;
    tr->has_rec = sb_config_has_task(cfg, SB_TASK_MASKREC);
    tr->has_cls = sb_config_has_task(cfg, SB_TASK_SKETCHCLSINPUT);
    tr->has_rel = sb_config_has_task(cfg, SB_TASK_SKETCHRETRIEVAL);
    if (cfg->batch_size < 1) return sb_fail(SB_ERR_INVALID, "config: batch_size %d", cfg->batch_size);
    sb_model_config mc;
    SB_TRY(sb_model_config_from(cfg, &mc));
    if (training) SB_TRY(dataset_open(cfg, SB_SPLIT_TRAIN, 1, cfg->each_max_samples, &tr->train_set));
    int max_batch = cfg->batch_size * (tr->triplet ? 3 : 1);
    int rc = sb_model_create(rt, &mc, max_batch, &tr->model);
    if (rc) return sb_trainer_memory_hint(sb_fail_context(rc, "creating the model"), cfg);
    SB_TRY(sb_model_params(tr->model, &tr->params, &tr->n_params));
    SB_TRY(sb_model_init_params(tr->model, cfg->seed));
    size_t yaml_len;
    FILE *y = open_memstream(&tr->config_yaml, &yaml_len);
    if (!y) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    rc = sb_config_write_yaml(cfg, y);
    fclose(y);
    SB_TRY(rc);
    if (!training) return 0;
    /* checkpoints name the classes: inference needs neither the data nor its
     * path (every split of a dataset has the same classes) */
    FILE *names = open_memstream(&tr->class_names, &yaml_len);
    if (!names) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    for (int c = 0; c < sb_dataset_num_classes(tr->train_set); c++)
        fprintf(names, "%s%s", c ? "\n" : "", sb_dataset_class_name(tr->train_set, c));
    fclose(names);
    tr->exp_avg = calloc((size_t)tr->n_params, sizeof *tr->exp_avg);
    tr->exp_avg_sq = calloc((size_t)tr->n_params, sizeof *tr->exp_avg_sq);
    tr->grads = calloc((size_t)tr->n_params, sizeof *tr->grads);
    if (!tr->exp_avg || !tr->exp_avg_sq || !tr->grads) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    for (int i = 0; i < tr->n_params; i++) {
        const sb_tensor *v = &tr->params[i].value;
        SB_TRY(sb_plan_add(&tr->opt_plan, &tr->exp_avg[i], "adam_exp_avg", SB_F32, v->ndim, v->shape));
        SB_TRY(sb_plan_add(&tr->opt_plan, &tr->exp_avg_sq[i], "adam_exp_avg_sq", SB_F32, v->ndim, v->shape));
        tr->grads[i] = &tr->params[i].grad;
    }
    rc = sb_plan_allocate(rt, &tr->opt_plan);
    if (rc) return sb_trainer_memory_hint(sb_fail_context(rc, "allocating the Adam moments"), cfg);
    for (int i = 0; i < tr->n_params; i++) {
        SB_TRY(sb_tensor_fill_f32(rt, &tr->exp_avg[i], 0.0f));
        SB_TRY(sb_tensor_fill_f32(rt, &tr->exp_avg_sq[i], 0.0f));
    }
    int work_shape = tr->n_params * SB_GRAD_NORM_GROUPS, one = 1;
    SB_TRY(sb_tensor_alloc(rt, &tr->norm_work, "grad_norm_work", SB_F32, 1, &work_shape));
    SB_TRY(sb_tensor_alloc(rt, &tr->norm, "grad_norm", SB_F32, 1, &one));
    tr->counters.epoch = 1;
    tr->counters.best_metric = -INFINITY;
    return 0;
}

sb_ckpt_model sb_trainer_ckpt_model(const trainer *tr) {
    return (sb_ckpt_model){tr->params, tr->n_params, tr->exp_avg, tr->exp_avg_sq};
}

// ---- checkpoints

int sb_trainer_save(trainer *tr, const char *name, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s_ckpt.safetensors", tr->cfg->log_dir, name);
    snprintf(tr->last_ckpt, sizeof tr->last_ckpt, "%s", path);
    if (tr->rank > 0) return 0; /* rank 0 writes what every rank holds */
    tr->counters.ranks = tr->ranks;
    sb_ckpt_model cm = sb_trainer_ckpt_model(tr);
    SB_TRY(sb_checkpoint_save(tr->rt, path, &cm, &tr->counters, tr->config_yaml, tr->class_names));
    /* an old run set aside by overwrite goes once the new one has a checkpoint */
    if (tr->dir) SB_TRY(sb_run_dir_commit(tr->dir));
    if (tr->log) {
        sb_tlog_begin(tr, "checkpoint", (long long)tr->counters.step);
        fprintf(tr->log, ",\"path\":");
        sb_tlog_str(tr->log, path);
        fprintf(tr->log, "}\n");
        fflush(tr->log);
    }
    return 0;
}

/* A metadata string of the checkpoint at path (malloc'd), or NULL. */
char *sb_trainer_checkpoint_meta(const char *path, const char *key) {
    sb_st_file *f;
    if (sb_checkpoint_open(&f, path)) return NULL;
    const char *v = sb_st_meta(f, key);
    char *copy = v ? strdup(v) : NULL;
    sb_st_close(f);
    return copy;
}

/* A failed restore: names the config keys behind a shape difference, from
 * the config stored in the checkpoint. */
static int restore_hint(int rc, const sb_config *cfg, unsigned which, const char *path) {
    char msg[1024], diff[1024] = "";
    snprintf(msg, sizeof msg, "%s", sb_last_error());
    char *yaml = sb_trainer_checkpoint_meta(path, "config");
    sb_config ck;
    sb_config_default(&ck);
    if (yaml && !sb_config_load_string(&ck, yaml, path)) sb_config_model_diff(&ck, cfg, (which & SB_RESTORE_TASK_NET) != 0, diff, sizeof diff);
    free(yaml);
    return diff[0] ? sb_fail(rc, "%s (%s)", msg, diff) : sb_fail(rc, "%s", msg);
}

int sb_trainer_restore(trainer *tr, unsigned which, int counters, const char *path) {
    if (!path || !path[0])
        return sb_fail(SB_ERR_INVALID, "config: load_pretrained needs restore_checkpoint_path");
    sb_ckpt_model cm = sb_trainer_ckpt_model(tr);
    int rc = sb_checkpoint_load(tr->rt, path, &cm, which, counters, &tr->counters);
    return rc == SB_ERR_FORMAT ? restore_hint(rc, tr->cfg, which, path) : rc;
}

