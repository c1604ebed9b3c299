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
#include "io/atomic_file.h"
#include "ops/adam.h"
#include "ops/attention.h"
#include "ops/gemm.h"
#include "ops/grad_norm.h"
#include "train/checkpoint.h"
#include "train/config_diff.h"
#include "train/metrics.h"
#include "train/run_dir.h"
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
    sb_run_dir *dir;                             /* training: the locked run folder */
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

/* The split evaluated (validation or test); each_max <= 0: all of it. */
static int open_eval_set(trainer *tr, int split, int each_max) {
    /* masks in evaluation: needed by maskrec; for cls/rel only with eval_mask */
    return dataset_open(tr->cfg, split, tr->has_rec || tr->cfg->eval_mask, each_max, &tr->val_set);
}

/* The training set (training), model, fresh parameters, and (training)
 * optimizer state. */
static int trainer_open(trainer *tr, sb_runtime *rt, const sb_config *cfg, int training) {
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
        {r->has_rel, "retrieval_1", r->rel_top1}, {r->has_rel, "retrieval_5", r->rel_top5},
        {r->has_rel, "retrieval_10", r->rel_top10}, {r->has_rel, "map", r->rel_map},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        if (!m[i].on) continue;
        if (json) jnum(f, m[i].key, m[i].v);
        else fprintf(f, " %s %.4f", m[i].key, m[i].v);
    }
}

/* Opens a log.jsonl record: event, UTC time (ISO 8601, milliseconds), step. */
static void log_begin(trainer *tr, const char *event, long long step) {
    struct timespec ts;
    struct tm tm;
    char when[32] = "";
    clock_gettime(CLOCK_REALTIME, &ts);
    if (gmtime_r(&ts.tv_sec, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(tr->log, "{\"event\":\"%s\",\"time\":\"%s.%03ldZ\",\"step\":%lld", event, when, ts.tv_nsec / 1000000,
            step);
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

/* The top-1 class: ties go to the lower index, as sb_topk_correct. */
static int argmax(const float *v, int n) {
    int best = 0;
    for (int j = 1; j < n; j++)
        if (v[j] > v[best]) best = j;
    return best;
}

/* Runs the model over every sketch of d (no shuffle) with the evaluation
 * settings; metrics on the anchors of triplet batches, as the original.
 * confusion (classification; may be NULL): zeroed (classes x cls_dim)
 * counts to add to. */
static int evaluate_set(trainer *tr, sb_eval_result *r, long *confusion) {
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
                if (confusion) confusion[(size_t)batch->label[i] * C + argmax(scores + (size_t)i * C, C)]++;
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
        r->rel_top1 = rr.top1, r->rel_top5 = rr.top5, r->rel_top10 = rr.top10, r->rel_map = rr.map;
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
    /* an old run set aside by overwrite goes once the new one has a checkpoint */
    if (tr->dir) SB_TRY(sb_run_dir_commit(tr->dir));
    snprintf(tr->last_ckpt, sizeof tr->last_ckpt, "%s", path);
    if (tr->log) {
        log_begin(tr, "checkpoint", (long long)tr->counters.step);
        fprintf(tr->log, ",\"path\":");
        jstr(tr->log, path);
        fprintf(tr->log, "}\n");
        fflush(tr->log);
    }
    return 0;
}

/* A metadata string of the checkpoint at path (malloc'd), or NULL. */
static char *checkpoint_meta(const char *path, const char *key) {
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
    char *yaml = checkpoint_meta(path, "config");
    sb_config ck;
    sb_config_default(&ck);
    if (yaml && !sb_config_load_string(&ck, yaml, path)) sb_config_model_diff(&ck, cfg, (which & SB_RESTORE_TASK_NET) != 0, diff, sizeof diff);
    free(yaml);
    return diff[0] ? sb_fail(rc, "%s (%s)", msg, diff) : sb_fail(rc, "%s", msg);
}

static int restore(trainer *tr, unsigned which, int counters, const char *path) {
    if (!path || !path[0])
        return sb_fail(SB_ERR_INVALID, "config: load_pretrained needs restore_checkpoint_path");
    sb_ckpt_model cm = ckpt_model(tr);
    int rc = sb_checkpoint_load(tr->rt, path, &cm, which, counters, &tr->counters);
    return rc == SB_ERR_FORMAT ? restore_hint(rc, tr->cfg, which, path) : rc;
}

// ---- training

static double learning_rate(const sb_config *cfg, int64_t step, int64_t total) {
    double f = 1.0;
    if (cfg->warmup_steps > 0 && step < cfg->warmup_steps) f = (double)(step + 1) / cfg->warmup_steps;
    if (cfg->lr_schedule == SB_LR_COSINE && total > 0) f *= 0.5 * (1.0 + cos(M_PI * (double)step / (double)total));
    return cfg->learning_rate * f;
}

/* The first non-finite value of the batch's inputs, named into buf; 0
 * when all are finite (a config such as max_scale_factor 1e39 overflows). */
static int batch_nonfinite(const sb_batch *b, char *buf, size_t cap) {
    size_t tin = (size_t)(b->max_length + b->tokens), t = (size_t)b->max_length;
    const struct { const char *name; const float *v; size_t row; } in[] = {
        {"input", b->input, tin * 5}, {"stroke", b->stroke, t * 5}, {"length_mask", b->length_mask, tin}};
    for (size_t k = 0; k < sizeof in / sizeof in[0]; k++)
        for (size_t i = 0; i < (size_t)b->size * in[k].row; i++)
            if (!isfinite(in[k].v[i])) {
                snprintf(buf, cap, "batch tensor '%s' holds %g (sketch %zu of the batch, dataset index %u)", in[k].name,
                         (double)in[k].v[i], i / in[k].row, b->index[i / in[k].row]);
                return 1;
            }
    return 0;
}

/* Names the non-finite loss terms and the first gradient tensor that is
 * not finite into buf (read from the device: only on this rare path). */
static void name_nonfinite(trainer *tr, const sb_loss_terms *lt, char *buf, size_t cap) {
    term t[6];
    int n = active_terms(tr, lt, t);
    size_t len = (size_t)snprintf(buf, cap, "loss");
    for (int i = 0; i < n && len < cap; i++)
        if (!isfinite(t[i].value)) len += (size_t)snprintf(buf + len, cap - len, " %s %g", t[i].name, (double)t[i].value);
    if (len < cap) len += (size_t)snprintf(buf + len, cap - len, " total %g", (double)lt->total);
    size_t max_numel = 1;
    for (int i = 0; i < tr->n_params; i++)
        if (tr->params[i].grad.numel > max_numel) max_numel = tr->params[i].grad.numel;
    float *host = malloc(max_numel * sizeof *host);
    for (int i = 0; host && i < tr->n_params; i++) {
        const sb_param *p = &tr->params[i];
        if (sb_tensor_read(tr->rt, &p->grad, host)) break;
        size_t j = 0;
        while (j < p->grad.numel && isfinite(host[j])) j++;
        if (j < p->grad.numel) {
            if (len < cap) snprintf(buf + len, cap - len, "; first non-finite gradient: %s", p->name);
            break;
        }
    }
    free(host);
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
    SB_TRY(evaluate_set(tr, &r, NULL));
    int64_t t = tr->counters.step;
    double metric = best_metric_of(tr, &r);
    /* a non-finite validation (diverged weights) never becomes best */
    if (isfinite(metric) && metric >= tr->counters.best_metric) tr->counters.best_metric = metric, tr->counters.best_step = t;
    if (out) {
        fprintf(out, "valid step %lld (%ld sketches, %.1fs):", (long long)t, r.sketches, now() - t0);
        log_eval(tr, out, &r, 0);
        fprintf(out, "%s\n", tr->counters.best_step == t ? " (best)" : "");
        fflush(out);
    }
    log_begin(tr, "valid", (long long)t);
    fprintf(tr->log, ",\"sketches\":%ld", r.sketches);
    log_eval(tr, tr->log, &r, 1);
    fprintf(tr->log, ",\"best\":%s}\n", tr->counters.best_step == t ? "true" : "false");
    char path[SB_CONFIG_PATH_MAX + 64];
    /* best before latest: a run killed between the two resumes from the
     * older latest and writes this best again, as the uninterrupted run */
    if (tr->counters.best_step == t) SB_TRY(save(tr, "best", path, sizeof path));
    SB_TRY(save(tr, "latest", path, sizeof path));
    return tr->tb ? sb_tb_follow(tr->tb) : 0;
}

/* The steps of this run: from the current step to end, of total. */
typedef struct span {
    sb_loader *loader;
    int64_t per_epoch, end, total;
} span;

static int plan_span(const trainer *tr, const sb_train_options *opt, span *sp) {
    const sb_config *cfg = tr->cfg;
    SB_TRY(sb_loader_open(&sp->loader, tr->train_set, cfg->batch_size, 1, 0, (uint64_t)tr->counters.step));
    sp->per_epoch = (int64_t)sb_loader_batches_per_epoch(sp->loader);
    sp->end = sp->per_epoch * cfg->num_epoch;
    if (cfg->num_iterations > 0 && cfg->num_iterations < sp->end) sp->end = cfg->num_iterations;
    sp->total = sp->end;
    if (opt->max_steps > 0 && tr->counters.step + opt->max_steps < sp->end) sp->end = tr->counters.step + opt->max_steps;
    return 0;
}

/* 1 when a validation step (a multiple of checkpoint_every) falls in the span. */
static int validates(const trainer *tr, const span *sp) {
    int64_t k = tr->cfg->checkpoint_every;
    return k > 0 && sp->end / k > tr->counters.step / k;
}

static int run(trainer *tr, const sb_train_options *opt, const span *sp) {
    const sb_config *cfg = tr->cfg;
    FILE *out = opt->out;
    sb_loader *l = sp->loader;
    int64_t per_epoch = sp->per_epoch, end = sp->end, total = sp->total;
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
            if (!rc) log_begin(tr, "stopped", (long long)tr->counters.step), fprintf(tr->log, "}\n");
            saved_at_end = 1;
            break;
        }
        const sb_batch *batch;
        uint64_t s, epoch;
        int finite;
        float norm = NAN;
        char cause[512] = "";
        rc = sb_loader_next(l, &batch, &s, &epoch);
        /* a non-finite batch is caught before it reaches the model */
        finite = rc || !batch_nonfinite(batch, cause, sizeof cause);
        if (!finite) lt = (sb_loss_terms){NAN, NAN, NAN, NAN, NAN, NAN, NAN}; /* the model did not run */
        if (!rc && finite) rc = sb_model_forward(tr->model, batch, 1, cfg->seed, s, 1);
        if (!rc && finite) rc = sb_model_backward(tr->model);
        if (!rc && finite) rc = sb_model_read_losses(tr->model, &lt);
        if (!rc && finite) rc = check_and_clip(tr, &lt, &finite, &norm);
        if (rc) {
            rc = memory_hint(sb_fail_context(rc, "step %llu", (unsigned long long)s + 1), cfg);
            break;
        }
        if (!finite) {
            if (!cause[0]) name_nonfinite(tr, &lt, cause, sizeof cause);
            log_begin(tr, "nonfinite", (long long)s + 1);
            log_losses(tr, tr->log, &lt, 1);
            jnum(tr->log, "grad_norm", norm);
            fprintf(tr->log, ",\"cause\":");
            jstr(tr->log, cause);
            fprintf(tr->log, ",\"skipped\":%s}\n", cfg->skip_nonfinite ? "true" : "false");
            fflush(tr->log);
            if (!cfg->skip_nonfinite) {
                rc = sb_fail(SB_ERR_INVALID, "step %llu: not finite: %s; stopped without saving (last good checkpoint: "
                             "%s; set skip_nonfinite to skip such steps)", (unsigned long long)s + 1, cause,
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
            log_begin(tr, "train", (long long)t);
            fprintf(tr->log, ",\"epoch\":%llu", (unsigned long long)epoch + 1);
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
    /* the state the run ends with, for `continue` and for use */
    if (!rc && !saved_at_end) {
        rc = save(tr, "latest", path, sizeof path);
        if (!rc && out) fprintf(out, "step %lld: wrote %s\n", (long long)tr->counters.step, path);
    }
    return rc;
}

// ---- starting a run

/* A run already in log_dir is continued (load_pretrained continue),
 * replaced (*replace, with overwrite) or refused. */
static int check_run_dir(const trainer *tr, const sb_train_options *opt, int *replace) {
    char what[1024];
    *replace = 0;
    if (!sb_run_dir_find_run(tr->dir, what, sizeof what) || tr->cfg->load_pretrained == SB_LOAD_CONTINUE) return 0;
    if (opt->overwrite) return *replace = 1, 0;
    return sb_fail(SB_ERR_INVALID, "%s already holds a run (%s); to keep it, resume it with --continue or train into "
                   "another --log-dir; --overwrite replaces it", tr->cfg->log_dir, what);
}

static int restore_start(trainer *tr, const sb_train_options *opt) {
    const sb_config *cfg = tr->cfg;
    const char *path = cfg->restore_checkpoint_path;
    if (cfg->load_pretrained == SB_LOAD_SCRATCH) return 0;
    int cont = cfg->load_pretrained == SB_LOAD_CONTINUE;
    struct stat st;
    if (cont && path[0] && stat(path, &st) != 0)
        return sb_fail(SB_ERR_INVALID, "nothing to continue: %s does not exist (--continue / load_pretrained continue "
                       "resume a run that wrote it; train without them to start one)", path);
    unsigned all = SB_RESTORE_ENC_NET | SB_RESTORE_ENC_OPT | SB_RESTORE_TASK_NET | SB_RESTORE_TASK_OPT;
    if (cont && (cfg->which_pretrained & all) != all && opt->warn)
        fprintf(opt->warn, "warning: load_pretrained continue without all of which_pretrained [enc_net, enc_opt, "
                           "task_net, task_opt]: what is not restored starts fresh\n");
    SB_TRY(restore(tr, cfg->which_pretrained, cont, path));
    if (opt->out) {
        /* pretrained weights count from 0 here; say which step they are from */
        char *t = cont ? NULL : checkpoint_meta(path, "counters.t");
        fprintf(opt->out, "restored %s from %s (step %s%lld)\n", cont ? "the run" : "pretrained weights", path,
                cont || t ? "" : "unknown, ", cont ? (long long)tr->counters.step : t ? strtoll(t, NULL, 10) : 0);
        free(t);
    }
    return 0;
}

/* Training sketches that max_length cuts: the transform keeps max_length
 * points with the leading zero point, so n >= max_length points lose some
 * (with input_is_complete they are skipped instead). */
static int64_t count_cut(const trainer *tr) {
    const sb_config *cfg = tr->cfg;
    int64_t cut = 0;
    uint32_t n = sb_dataset_size(tr->train_set), len;
    int label;
    for (uint32_t i = 0; i < n && !cfg->input_is_complete; i++) {
        sb_dataset_points(tr->train_set, i, &len, &label);
        cut += len >= (uint32_t)cfg->max_length;
    }
    return cut;
}

/* config.yml, log.jsonl and its start record, and the start lines. */
static int start_log(trainer *tr, const sb_train_options *opt, int64_t cut) {
    const sb_config *cfg = tr->cfg;
    char path[SB_CONFIG_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/config.yml", cfg->log_dir);
    sb_atomic_file af;
    SB_TRY(sb_atomic_open(&af, path));
    fputs(tr->config_yaml, af.f);
    SB_TRY(sb_atomic_commit(&af));
    snprintf(path, sizeof path, "%s/log.jsonl", cfg->log_dir);
    tr->log = fopen(path, "a");
    if (!tr->log) return sb_fail(SB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (cfg->tensorboard) SB_TRY(sb_tb_open(&tr->tb, cfg->log_dir, path));
    long long numel = 0;
    for (int i = 0; i < tr->n_params; i++) numel += tr->params[i].value.numel;
    log_begin(tr, "start", (long long)tr->counters.step);
    fprintf(tr->log, ",\"param_tensors\":%d,\"params\":%lld,\"param_bytes\":%zu,\"activation_bytes\":%zu", tr->n_params,
            numel, sb_model_param_bytes(tr->model), sb_model_activation_bytes(tr->model));
    fprintf(tr->log, ",\"train_sketches\":%u,\"cut_sketches\":%lld", sb_dataset_size(tr->train_set), (long long)cut);
    /* what ran, not what the config asked for (`sketchbert report` shows it) */
    char device[300];
    snprintf(device, sizeof device, "%s: %s", tr->rt->info.platform_name, tr->rt->info.device_name);
    fputs(",\"device\":", tr->log);
    jstr(tr->log, device);
    sb_gemm_path gemm = (sb_gemm_path)tr->rt->gemm_path; /* 0 before the first GEMM: the path it will take */
    if (!gemm && sb_gemm_path_for(&tr->rt->info, NULL, &gemm)) gemm = 0;
    sb_attention_impl att;
    if (gemm) fprintf(tr->log, ",\"gemm\":\"%s\"", sb_gemm_path_name(gemm));
    if (!sb_attention_choose(tr->rt, &att)) fprintf(tr->log, ",\"attention\":\"%s\"", sb_attention_impl_name(att));
    fputs("}\n", tr->log);
    fflush(tr->log);
    if (opt->out)
        fprintf(opt->out, "device memory on %s: %.1f MiB of parameters, %.1f MiB of activations (batch %d)\n",
                tr->rt->info.device_name, sb_model_param_bytes(tr->model) / 1048576.0,
                sb_model_activation_bytes(tr->model) / 1048576.0, cfg->batch_size);
    return 0;
}

int sb_train(sb_runtime *rt, const sb_config *cfg, const sb_train_options *opt) {
    trainer tr;
    sb_run_dir dir;
    span sp = {0};
    int replace = 0;
    /* the folder is locked first; everything that can fail is checked
     * before anything in it changes */
    int rc = sb_run_dir_open(&dir, cfg->log_dir);
    if (rc) return rc;
    rc = trainer_open(&tr, rt, cfg, 1);
    tr.dir = &dir;
    if (!rc) rc = check_run_dir(&tr, opt, &replace);
    /* temporaries of a run killed while writing (kill -9, power loss) */
    static const char *const ours[] = {"_ckpt.safetensors", "config.yml"};
    if (!rc && sb_atomic_remove_stale(cfg->log_dir, ours, 2, opt->out) < 0) rc = SB_ERR_IO;
    if (!rc) rc = restore_start(&tr, opt);
    if (!rc) rc = plan_span(&tr, opt, &sp);
    if (!rc && validates(&tr, &sp)) rc = open_eval_set(&tr, SB_SPLIT_VALID, cfg->each_val_samples);
    int64_t cut = rc ? 0 : count_cut(&tr);
    if (cut && opt->warn) {
        uint32_t n = sb_dataset_size(tr.train_set);
        fprintf(opt->warn, "warning: %lld of %u training sketches (%.1f%%) have more than %d points and are cut to %d "
                           "(max_length %d counts the leading zero point; `sketchbert data stats --config CONFIG` "
                           "shows the lengths)\n",
                (long long)cut, n, 100.0 * (double)cut / n, cfg->max_length - 1, cfg->max_length - 1, cfg->max_length);
    }
    if (!rc && replace) {
        rc = sb_run_dir_set_aside(&dir);
        if (!rc && opt->out)
            fprintf(opt->out, "overwrite: the old run waits in %s/replaced_run until this one writes a checkpoint\n",
                    cfg->log_dir);
    }
    if (!rc) rc = start_log(&tr, opt, cut);
    if (!rc) rc = run(&tr, opt, &sp);
    if (rc && tr.log) {
        log_begin(&tr, "failed", (long long)tr.counters.step);
        fprintf(tr.log, ",\"error\":");
        jstr(tr.log, sb_last_error());
        fprintf(tr.log, "}\n");
    }
    sb_loader_close(sp.loader);
    trainer_close(&tr);
    sb_run_dir_close(&dir, rc != 0);
    return rc;
}

int sb_evaluate(sb_runtime *rt, const sb_config *cfg, const char *checkpoint, int split, int max_per_class,
                sb_eval_result *out) {
    trainer tr;
    memset(out, 0, sizeof *out);
    int rc = trainer_open(&tr, rt, cfg, 0), has[SB_N_NETS];
    if (!rc) rc = open_eval_set(&tr, split, max_per_class);
    if (!rc) rc = restore(&tr, SB_RESTORE_ENC_NET | SB_RESTORE_TASK_NET, 0, checkpoint);
    /* a head evaluated with fresh weights would measure nothing */
    if (!rc) rc = sb_checkpoint_nets(checkpoint, has);
    for (int i = 0; i < tr.n_params && !rc; i++)
        if (!has[tr.params[i].net])
            rc = sb_fail(SB_ERR_INVALID, "%s has no weights for %s, which the config's task_types need", checkpoint,
                         sb_net_names[tr.params[i].net]);
    int nc = !rc && tr.has_cls ? sb_dataset_num_classes(tr.val_set) : 0;
    long *confusion = nc ? calloc((size_t)nc * (size_t)cfg->cls_dim, sizeof *confusion) : NULL;
    char **names = nc ? calloc((size_t)nc, sizeof *names) : NULL;
    for (int c = 0; c < nc && names; c++)
        if (!(names[c] = strdup(sb_dataset_class_name(tr.val_set, c)))) rc = SB_ERR_MEMORY;
    if (nc && (!confusion || !names || rc)) rc = sb_fail(SB_ERR_MEMORY, "out of host memory");
    if (!rc) rc = evaluate_set(&tr, out, confusion);
    out->n_classes = nc, out->cls_dim = cfg->cls_dim, out->confusion = confusion, out->class_names = names;
    if (rc) sb_eval_result_free(out);
    trainer_close(&tr);
    return rc;
}

void sb_eval_result_free(sb_eval_result *r) {
    for (int c = 0; c < r->n_classes && r->class_names; c++) free(r->class_names[c]);
    free(r->class_names), free(r->confusion);
    r->class_names = NULL, r->confusion = NULL, r->n_classes = 0;
}
