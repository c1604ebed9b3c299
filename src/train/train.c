/* Training loop, validation and test (see train.h).
 * Shapes: B sketches per step (3B for triplets: anchors, positives,
 * negatives), A anchors (B), C classes, F retrieval feature size. */
#include "train/train.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "data/dataset.h"
#include "ops/adam.h"
#include "ops/grad_norm.h"
#include "train/checkpoint.h"
#include "train/metrics.h"
#include "train/tensorboard.h"

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
    FILE *log;                                   /* log.jsonl */
    sb_tb_writer *tb;                            /* TensorBoard events of the log, or NULL */
    char last_ckpt[SB_CONFIG_PATH_MAX + 64];     /* the last checkpoint written ("" none) */
} trainer;

// ---- setup

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
static int memory_hint(int rc, const sb_config *cfg) {
    const char *msg = sb_last_error();
    if (rc == SB_ERR_MEMORY || strstr(msg, "ALLOCATION_FAILURE") || strstr(msg, "OUT_OF_RESOURCES") ||
        strstr(msg, "OUT_OF_HOST_MEMORY"))
        return sb_fail_context(rc, "out of memory with batch_size %d (try a smaller batch_size or max_length)",
                               cfg->batch_size);
    return rc;
}

static void trainer_close(trainer *tr) {
    if (tr->log) fclose(tr->log);
    sb_tb_close(tr->tb);
    sb_plan_release(tr->rt, &tr->opt_plan);
    if (tr->norm.buf) sb_tensor_release(tr->rt, &tr->norm);
    if (tr->norm_work.buf) sb_tensor_release(tr->rt, &tr->norm_work);
    free(tr->exp_avg), free(tr->exp_avg_sq), free(tr->grads), free(tr->config_yaml);
    free(tr->class_names);
    sb_model_destroy(tr->model);
    sb_dataset_close(tr->train_set);
    sb_dataset_close(tr->val_set);
    memset(tr, 0, sizeof *tr);
}

/* Datasets, model, fresh parameters, and (training) optimizer state. */
static int trainer_open(trainer *tr, sb_runtime *rt, const sb_config *cfg, int training, int eval_split) {
    memset(tr, 0, sizeof *tr);
    tr->rt = rt, tr->cfg = cfg;
    sb_plan_init(&tr->opt_plan);
    tr->triplet = cfg->get_type == SB_GET_TRIPLET;
    tr->has_rec = sb_config_has_task(cfg, SB_TASK_MASKREC);
    tr->has_cls = sb_config_has_task(cfg, SB_TASK_SKETCHCLSINPUT);
    tr->has_rel = sb_config_has_task(cfg, SB_TASK_SKETCHRETRIEVAL);
    if (cfg->batch_size < 1) return sb_fail(SB_ERR_INVALID, "config: batch_size %d", cfg->batch_size);
    sb_model_config mc;
    SB_TRY(sb_model_config_from(cfg, &mc));
    if (training) SB_TRY(dataset_open(cfg, SB_SPLIT_TRAIN, 1, cfg->each_max_samples, &tr->train_set));
    /* masks in evaluation: needed by maskrec; for cls/rel only with eval_mask */
    SB_TRY(dataset_open(cfg, eval_split, tr->has_rec || cfg->eval_mask, cfg->each_val_samples, &tr->val_set));
    int max_batch = cfg->batch_size * (tr->triplet ? 3 : 1);
    int rc = sb_model_create(rt, &mc, max_batch, &tr->model);
    if (rc) return memory_hint(sb_fail_context(rc, "creating the model"), cfg);
    SB_TRY(sb_model_params(tr->model, &tr->params, &tr->n_params));
    SB_TRY(sb_model_init_params(tr->model, cfg->seed));
    size_t yaml_len;
    FILE *y = open_memstream(&tr->config_yaml, &yaml_len);
    if (!y) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    rc = sb_config_write_yaml(cfg, y);
    fclose(y);
    SB_TRY(rc);
    /* checkpoints name the classes: inference needs neither the data nor its path */
    FILE *names = open_memstream(&tr->class_names, &yaml_len);
    if (!names) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    for (int c = 0; c < sb_dataset_num_classes(tr->val_set); c++)
        fprintf(names, "%s%s", c ? "\n" : "", sb_dataset_class_name(tr->val_set, c));
    fclose(names);
    if (!training) return 0;
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
    if (rc) return memory_hint(sb_fail_context(rc, "allocating the Adam moments"), cfg);
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

static sb_ckpt_model ckpt_model(const trainer *tr) {
    return (sb_ckpt_model){tr->params, tr->n_params, tr->exp_avg, tr->exp_avg_sq};
}

// ---- logging

static void jnum(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, ",\"%s\":%.9g", key, v);
    else fprintf(f, ",\"%s\":null", key);
}

/* A JSON string literal (paths may hold quotes or backslashes). */
static void jstr(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", (unsigned char)*s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

/* The active loss terms: weight > 0 and the task present (the original's
 * valid_losses). */
typedef struct { const char *name; float value; } term;

static int active_terms(const trainer *tr, const sb_loss_terms *l, term *out) {
    const sb_config *c = tr->cfg;
    int n = 0;
    if (tr->has_rec) {
        if (c->mask_axis_weight > 0) out[n++] = (term){"mask_axis", l->mask_axis};
        if (c->rec_axis_weight > 0) out[n++] = (term){"rec_axis", l->rec_axis};
        if (c->mask_type_weight > 0) out[n++] = (term){"mask_type", l->mask_type};
        if (c->rec_type_weight > 0) out[n++] = (term){"rec_type", l->rec_type};
    }
    if (tr->has_cls && c->prediction_weight > 0) out[n++] = (term){"prediction", l->prediction};
    if (tr->has_rel && c->triplet_weight > 0) out[n++] = (term){"triplet", l->triplet};
    return n;
}

static void log_losses(const trainer *tr, FILE *f, const sb_loss_terms *l, int json) {
    term t[6];
    int n = active_terms(tr, l, t);
    for (int i = 0; i < n; i++) {
        if (json) jnum(f, t[i].name, t[i].value);
        else fprintf(f, " %s %.4f", t[i].name, t[i].value);
    }
    if (json) jnum(f, "total", l->total);
    else fprintf(f, " total %.4f", l->total);
}

static void log_eval(const trainer *tr, FILE *f, const sb_eval_result *r, int json) {
    log_losses(tr, f, &r->loss, json);
    const struct { int on; const char *key; double v; } m[] = {
        {r->has_cls, "accuracy_1", r->top1}, {r->has_cls, "accuracy_5", r->top5},
        {r->has_rel, "retrieval_1", r->rel_top1}, {r->has_rel, "retrieval_5", r->rel_top5}, {r->has_rel, "map", r->rel_map},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        if (!m[i].on) continue;
        if (json) jnum(f, m[i].key, m[i].v);
        else fprintf(f, " %s %.4f", m[i].key, m[i].v);
    }
}

static void format_duration(char *buf, size_t cap, double s) {
    if (!isfinite(s) || s < 0) snprintf(buf, cap, "?");
    else if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// ---- evaluation

/* Runs the model over every sketch of d (no shuffle) with the evaluation
 * settings; metrics on the anchors of triplet batches, as the original. */
static int evaluate_set(trainer *tr, sb_eval_result *r) {
    const sb_config *cfg = tr->cfg;
    memset(r, 0, sizeof *r);
    r->has_cls = tr->has_cls, r->has_rel = tr->has_rel;
    sb_loader *l;
    SB_TRY(sb_loader_open(&l, tr->val_set, cfg->batch_size, 0, 0, 0));
    uint64_t batches = sb_loader_batches_per_epoch(l);
    uint32_t n = sb_dataset_size(tr->val_set);
    int C = cfg->cls_dim, F = cfg->rel_feat_dim, max_b = cfg->batch_size * (tr->triplet ? 3 : 1);
    float *scores = tr->has_cls ? malloc(sizeof(float) * (size_t)max_b * (size_t)C) : NULL;
    float *feat_b = tr->has_rel ? malloc(sizeof(float) * (size_t)max_b * (size_t)F) : NULL;
    float *feats = tr->has_rel ? malloc(sizeof(float) * (size_t)n * (size_t)F) : NULL;
    int32_t *labels = tr->has_rel ? malloc(sizeof(int32_t) * n) : NULL;
    int rc = (tr->has_cls && !scores) || (tr->has_rel && (!feat_b || !feats || !labels))
                 ? sb_fail(SB_ERR_MEMORY, "evaluation: out of host memory for %u sketches", n)
                 : 0;
    double sums[7] = {0};
    long hit1 = 0, hit5 = 0;
    for (uint64_t b = 0; b < batches && !rc; b++) {
        const sb_batch *batch;
        sb_loss_terms lt;
        rc = sb_loader_next(l, &batch, NULL, NULL);
        if (!rc) rc = sb_model_forward(tr->model, batch, cfg->eval_dropout, cfg->seed, b, 1);
        if (!rc) rc = sb_model_read_losses(tr->model, &lt);
        if (rc) break;
        int A = batch->size / (tr->triplet ? 3 : 1);
        const float v[7] = {lt.mask_axis, lt.rec_axis, lt.mask_type, lt.rec_type, lt.prediction, lt.triplet, lt.total};
        for (int k = 0; k < 7; k++) sums[k] += (double)v[k] * A;
        if (tr->has_cls) {
            rc = sb_tensor_read(tr->rt, sb_model_cls_output(tr->model), scores);
            for (int i = 0; i < A && !rc; i++) {
                hit1 += sb_topk_correct(scores + (size_t)i * C, C, batch->label[i], 1);
                hit5 += sb_topk_correct(scores + (size_t)i * C, C, batch->label[i], 5);
            }
        }
        if (tr->has_rel && !rc) {
            rc = sb_tensor_read(tr->rt, sb_model_rel_output(tr->model), feat_b);
            if (!rc && r->sketches + A <= (long)n) {
                memcpy(feats + (size_t)r->sketches * F, feat_b, sizeof(float) * (size_t)A * F);
                memcpy(labels + r->sketches, batch->label, sizeof(int32_t) * (size_t)A);
            }
        }
        r->sketches += A;
    }
    sb_loader_close(l);
    if (!rc && r->sketches) {
        float *dst[7] = {&r->loss.mask_axis, &r->loss.rec_axis, &r->loss.mask_type, &r->loss.rec_type,
                         &r->loss.prediction, &r->loss.triplet, &r->loss.total};
        for (int k = 0; k < 7; k++) *dst[k] = (float)(sums[k] / (double)r->sketches);
        r->top1 = (double)hit1 / (double)r->sketches, r->top5 = (double)hit5 / (double)r->sketches;
    }
    if (!rc && tr->has_rel) {
        sb_retrieval_result rr;
        rc = sb_retrieval_evaluate(feats, labels, (int)r->sketches, F, &rr);
        r->rel_top1 = rr.top1, r->rel_top5 = rr.top5, r->rel_map = rr.map;
    }
    free(scores), free(feat_b), free(feats), free(labels);
    return rc ? sb_fail_context(rc, "evaluation") : 0;
}

static double best_metric_of(const trainer *tr, const sb_eval_result *r) {
    if (tr->has_cls) return r->top1;
    if (tr->has_rel) return r->rel_map;
    return -(double)r->loss.total;
}

// ---- checkpoints

static int save(trainer *tr, const char *name, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s_ckpt.safetensors", tr->cfg->log_dir, name);
    sb_ckpt_model cm = ckpt_model(tr);
    SB_TRY(sb_checkpoint_save(tr->rt, path, &cm, &tr->counters, tr->config_yaml, tr->class_names));
    snprintf(tr->last_ckpt, sizeof tr->last_ckpt, "%s", path);
    if (tr->log) {
        fprintf(tr->log, "{\"event\":\"checkpoint\",\"step\":%lld,\"path\":", (long long)tr->counters.step);
        jstr(tr->log, path);
        fprintf(tr->log, "}\n");
        fflush(tr->log);
    }
    return 0;
}

static int restore(trainer *tr, unsigned which, int counters, const char *path) {
    if (!path || !path[0])
        return sb_fail(SB_ERR_INVALID, "config: load_pretrained needs restore_checkpoint_path");
    sb_ckpt_model cm = ckpt_model(tr);
    return sb_checkpoint_load(tr->rt, path, &cm, which, counters, &tr->counters);
}

static int mkdir_p(const char *path) {
    char buf[SB_CONFIG_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return sb_fail(SB_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
        if (c == '\0') return 0;
        *p = c;
    }
}

// ---- training

static double learning_rate(const sb_config *cfg, int64_t step, int64_t total) {
    double f = 1.0;
    if (cfg->warmup_steps > 0 && step < cfg->warmup_steps) f = (double)(step + 1) / cfg->warmup_steps;
    if (cfg->lr_schedule == SB_LR_COSINE && total > 0) f *= 0.5 * (1.0 + cos(M_PI * (double)step / (double)total));
    return cfg->learning_rate * f;
}

/* Gradient norm (and clipping) when asked; *finite says whether the loss
 * and the gradients are finite. */
static int check_and_clip(trainer *tr, const sb_loss_terms *lt, int *finite, float *norm) {
    const sb_config *cfg = tr->cfg;
    *finite = isfinite(lt->total) != 0;
    *norm = NAN;
    if (cfg->grad_clip <= 0 && !cfg->skip_nonfinite) return 0;
    SB_TRY(sb_grad_norm(tr->rt, tr->grads, tr->n_params, &tr->norm_work, &tr->norm));
    SB_TRY(sb_grad_norm_read(tr->rt, &tr->norm, norm));
    *finite = *finite && isfinite(*norm);
    if (*finite && cfg->grad_clip > 0) SB_TRY(sb_grad_clip(tr->rt, tr->grads, tr->n_params, &tr->norm, (float)cfg->grad_clip));
    return 0;
}

static int adam_all(trainer *tr, double lr) {
    const sb_config *cfg = tr->cfg;
    sb_adam_config ac = {lr, 0.9, 0.999, 1e-8, cfg->weight_decay, cfg->optimizer == SB_OPTIMIZER_ADAMW};
    int present[SB_N_NETS] = {0};
    for (int i = 0; i < tr->n_params; i++) {
        const sb_param *p = &tr->params[i];
        present[p->net] = 1;
        SB_TRY(sb_adam_step(tr->rt, &ac, (long)tr->counters.opt_step[p->net] + 1, &p->value, &p->grad, &tr->exp_avg[i],
                            &tr->exp_avg_sq[i]));
    }
    for (int n = 0; n < SB_N_NETS; n++) tr->counters.opt_step[n] += present[n];
    return 0;
}

static int validate_and_save(trainer *tr, FILE *out) {
    sb_eval_result r;
    double t0 = now();
    SB_TRY(evaluate_set(tr, &r));
    int64_t t = tr->counters.step;
    double metric = best_metric_of(tr, &r);
    if (metric >= tr->counters.best_metric) tr->counters.best_metric = metric, tr->counters.best_step = t;
    if (out) {
        fprintf(out, "valid step %lld (%ld sketches, %.1fs):", (long long)t, r.sketches, now() - t0);
        log_eval(tr, out, &r, 0);
        fprintf(out, "%s\n", tr->counters.best_step == t ? " (best)" : "");
        fflush(out);
    }
    fprintf(tr->log, "{\"event\":\"valid\",\"step\":%lld,\"sketches\":%ld", (long long)t, r.sketches);
    log_eval(tr, tr->log, &r, 1);
    fprintf(tr->log, ",\"best\":%s}\n", tr->counters.best_step == t ? "true" : "false");
    char path[SB_CONFIG_PATH_MAX + 64];
    SB_TRY(save(tr, "latest", path, sizeof path));
    if (tr->counters.best_step == t) SB_TRY(save(tr, "best", path, sizeof path));
    return tr->tb ? sb_tb_follow(tr->tb) : 0;
}

static int run(trainer *tr, const sb_train_options *opt) {
    const sb_config *cfg = tr->cfg;
    FILE *out = opt->out;
    sb_loader *l = NULL;
    SB_TRY(sb_loader_open(&l, tr->train_set, cfg->batch_size, 1, 0, (uint64_t)tr->counters.step));
    int64_t per_epoch = (int64_t)sb_loader_batches_per_epoch(l);
    int64_t end = per_epoch * cfg->num_epoch;
    if (cfg->num_iterations > 0 && cfg->num_iterations < end) end = cfg->num_iterations;
    int64_t total = end;
    if (opt->max_steps > 0 && tr->counters.step + opt->max_steps < end) end = tr->counters.step + opt->max_steps;
    if (out) {
        fprintf(out, "training %lld steps (%lld per epoch, %u sketches) from step %lld to %lld; log in %s\n",
                (long long)total, (long long)per_epoch, sb_dataset_size(tr->train_set), (long long)tr->counters.step,
                (long long)end, cfg->log_dir);
        fflush(out);
    }
    char path[SB_CONFIG_PATH_MAX + 64];
    int rc = 0, saved_at_end = 0;
    double window_start = now();
    int64_t window_steps = 0, window_sketches = 0, skipped = 0;
    sb_loss_terms lt = {0};
    while (tr->counters.step < end && !rc) {
        if (opt->stop && *opt->stop) {
            rc = save(tr, "latest", path, sizeof path);
            if (!rc && out) fprintf(out, "stopped at step %lld; wrote %s\n", (long long)tr->counters.step, path);
            if (!rc) fprintf(tr->log, "{\"event\":\"stopped\",\"step\":%lld}\n", (long long)tr->counters.step);
            saved_at_end = 1;
            break;
        }
        const sb_batch *batch;
        uint64_t s, epoch;
        int finite;
        float norm;
        rc = sb_loader_next(l, &batch, &s, &epoch);
        if (!rc) rc = sb_model_forward(tr->model, batch, 1, cfg->seed, s, 1);
        if (!rc) rc = sb_model_backward(tr->model);
        if (!rc) rc = sb_model_read_losses(tr->model, &lt);
        if (!rc) rc = check_and_clip(tr, &lt, &finite, &norm);
        if (rc) {
            rc = memory_hint(sb_fail_context(rc, "step %llu", (unsigned long long)s + 1), cfg);
            break;
        }
        if (!finite) {
            fprintf(tr->log, "{\"event\":\"nonfinite\",\"step\":%llu", (unsigned long long)s + 1);
            log_losses(tr, tr->log, &lt, 1);
            jnum(tr->log, "grad_norm", norm);
            fprintf(tr->log, ",\"skipped\":%s}\n", cfg->skip_nonfinite ? "true" : "false");
            fflush(tr->log);
            if (!cfg->skip_nonfinite) {
                rc = sb_fail(SB_ERR_INVALID, "step %llu: the loss is not finite (total %g, gradient norm %g); stopped "
                             "without saving (last good checkpoint: %s; set skip_nonfinite to skip such steps)",
                             (unsigned long long)s + 1, (double)lt.total, (double)norm,
                             tr->last_ckpt[0] ? tr->last_ckpt : "none written by this run");
                break;
            }
            skipped++;
        } else {
            double lr = learning_rate(cfg, (int64_t)s, total);
            rc = adam_all(tr, lr);
            if (rc) {
                rc = memory_hint(sb_fail_context(rc, "step %llu: optimizer", (unsigned long long)s + 1), cfg);
                break;
            }
        }
        int64_t t = tr->counters.step = (int64_t)s + 1;
        tr->counters.epoch = t / per_epoch + 1;
        window_steps++, window_sketches += batch->size;
        if (cfg->print_every > 0 && t % cfg->print_every == 0) {
            double dt = now() - window_start, rate = window_steps / (dt > 0 ? dt : 1e-9);
            char eta[32];
            format_duration(eta, sizeof eta, (double)(end - t) / rate);
            if (out) {
                fprintf(out, "train epoch %llu step %lld/%lld:", (unsigned long long)epoch + 1, (long long)t,
                        (long long)total);
                log_losses(tr, out, &lt, 0);
                fprintf(out, " | %.2f steps/s %.1f sketches/s | ETA %s", rate, window_sketches / (dt > 0 ? dt : 1e-9), eta);
                if (skipped) fprintf(out, " | %lld steps skipped", (long long)skipped);
                fprintf(out, "\n");
                fflush(out);
            }
            fprintf(tr->log, "{\"event\":\"train\",\"step\":%lld,\"epoch\":%llu", (long long)t, (unsigned long long)epoch + 1);
            log_losses(tr, tr->log, &lt, 1);
            jnum(tr->log, "lr", learning_rate(cfg, (int64_t)s, total));
            jnum(tr->log, "steps_per_s", rate);
            jnum(tr->log, "sketches_per_s", window_sketches / (dt > 0 ? dt : 1e-9));
            fprintf(tr->log, "}\n");
            fflush(tr->log);
            if (tr->tb) rc = sb_tb_follow(tr->tb);
            window_start = now(), window_steps = window_sketches = 0;
        }
        saved_at_end = 0;
        if (!rc && cfg->checkpoint_every > 0 && t % cfg->checkpoint_every == 0) {
            rc = validate_and_save(tr, out);
            saved_at_end = 1;
        }
        if (!rc && cfg->save_model_every > 0 && t % cfg->save_model_every == 0) {
            char name[64];
            snprintf(name, sizeof name, "iter_%lld", (long long)t);
            rc = save(tr, name, path, sizeof path);
        }
    }
    sb_loader_close(l);
    /* the state the run ends with, for `continue` and for use */
    if (!rc && !saved_at_end) {
        rc = save(tr, "latest", path, sizeof path);
        if (!rc && out) fprintf(out, "step %lld: wrote %s\n", (long long)tr->counters.step, path);
    }
    return rc;
}

int sb_train(sb_runtime *rt, const sb_config *cfg, const sb_train_options *opt) {
    trainer tr;
    int rc = trainer_open(&tr, rt, cfg, 1, SB_SPLIT_VALID);
    if (!rc) rc = mkdir_p(cfg->log_dir);
    char path[SB_CONFIG_PATH_MAX + 64];
    if (!rc) {
        snprintf(path, sizeof path, "%s/log.jsonl", cfg->log_dir);
        tr.log = fopen(path, "a");
        if (!tr.log) rc = sb_fail(SB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        if (!rc && cfg->tensorboard) rc = sb_tb_open(&tr.tb, cfg->log_dir, path);
    }
    if (!rc && cfg->load_pretrained != SB_LOAD_SCRATCH) {
        int cont = cfg->load_pretrained == SB_LOAD_CONTINUE;
        unsigned all = SB_RESTORE_ENC_NET | SB_RESTORE_ENC_OPT | SB_RESTORE_TASK_NET | SB_RESTORE_TASK_OPT;
        if (cont && (cfg->which_pretrained & all) != all && opt->out)
            fprintf(opt->out, "warning: load_pretrained continue without all of which_pretrained [enc_net, enc_opt, "
                              "task_net, task_opt]: what is not restored starts fresh\n");
        rc = restore(&tr, cfg->which_pretrained, cont, cfg->restore_checkpoint_path);
        if (!rc && opt->out)
            fprintf(opt->out, "restored %s from %s (step %lld)\n", cont ? "the run" : "pretrained weights",
                    cfg->restore_checkpoint_path, (long long)tr.counters.step);
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/config.yml", cfg->log_dir);
        FILE *f = fopen(path, "w");
        if (!f || fputs(tr.config_yaml, f) < 0) rc = sb_fail(SB_ERR_IO, "cannot write %s", path);
        if (f) fclose(f);
        fprintf(tr.log, "{\"event\":\"start\",\"step\":%lld,\"params\":%d,\"param_bytes\":%zu,\"activation_bytes\":%zu}\n",
                (long long)tr.counters.step, tr.n_params, sb_model_param_bytes(tr.model),
                sb_model_activation_bytes(tr.model));
        if (opt->out)
            fprintf(opt->out, "device memory on %s: %.1f MiB of parameters, %.1f MiB of activations (batch %d)\n",
                    rt->info.device_name, sb_model_param_bytes(tr.model) / 1048576.0,
                    sb_model_activation_bytes(tr.model) / 1048576.0, cfg->batch_size);
    }
    if (!rc) rc = run(&tr, opt);
    trainer_close(&tr);
    return rc;
}

int sb_evaluate(sb_runtime *rt, const sb_config *cfg, const char *checkpoint, int split, sb_eval_result *out) {
    trainer tr;
    const char *path = checkpoint ? checkpoint : cfg->restore_checkpoint_path;
    int rc = trainer_open(&tr, rt, cfg, 0, split), has[SB_N_NETS];
    if (!rc) rc = restore(&tr, SB_RESTORE_ENC_NET | SB_RESTORE_TASK_NET, 0, path);
    /* a head evaluated with fresh weights would measure nothing */
    if (!rc) rc = sb_checkpoint_nets(path, has);
    for (int i = 0; i < tr.n_params && !rc; i++)
        if (!has[tr.params[i].net])
            rc = sb_fail(SB_ERR_INVALID, "%s has no weights for %s, which the config's task_types need", path,
                         sb_net_names[tr.params[i].net]);
    if (!rc) rc = evaluate_set(&tr, out);
    trainer_close(&tr);
    return rc;
}
