/* sb_model_handle: a training checkpoint loaded for inference. The config
 * YAML in the checkpoint's metadata builds the encoder and the heads whose
 * weights the file holds; class names and the model fingerprint are worked
 * out once at load. Also the batch filling shared by every inference call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"
#include "train/train.h"

static const char *const head_names[3] = {"maskrec", "sketchclsinput", "sketchretrieval"};

/* "maskrec, sketchretrieval" or "no task head". */
static void heads_text(unsigned heads, char *buf, size_t cap) {
    buf[0] = '\0';
    for (int h = 0; h < 3; h++)
        if (heads & (1u << h))
            snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", buf[0] ? ", " : "", head_names[h]);
    if (!buf[0]) snprintf(buf, cap, "no task head");
}

// ---- batches

static int batch_alloc(sb_model_handle *m) {
    sb_batch *b = &m->batch;
    size_t B = (size_t)m->max_batch, T = (size_t)m->mc.max_length, Tin = T + (size_t)m->K;
    b->input = malloc(B * Tin * 5 * sizeof(float));
    b->stroke = malloc(B * T * 5 * sizeof(float));
    b->mask = malloc(B * T * 5 * sizeof(float));
    b->length_mask = malloc(B * Tin * sizeof(float));
    b->segment = malloc(B * Tin * sizeof(int32_t));
    b->label = calloc(B, sizeof(int32_t));
    b->index = calloc(B, sizeof(uint32_t));
    b->scratch = malloc(T * sizeof(int32_t));
    if (!b->input || !b->stroke || !b->mask || !b->length_mask || !b->segment || !b->label || !b->index || !b->scratch)
        return sb_fail(SB_ERR_MEMORY, "model: out of host memory for a batch of %zu sketches", B);
    b->tokens = m->K;
    b->max_length = (int)T;
    return 0;
}

int api_fill_batch(sb_model_handle *m, const sb_sketches *s, int i, int r, const float *mask_in) {
    sb_batch *b = &m->batch;
    const int T = m->mc.max_length, K = m->K, Tin = T + K;
    float *stroke = b->stroke + (size_t)r * T * 5, *mask = b->mask + (size_t)r * T * 5;
    float *input = b->input + (size_t)r * Tin * 5, *lm = b->length_mask + (size_t)r * Tin;
    int32_t *seg = b->segment + (size_t)r * Tin;
    int length;
    int rc = sb_transform_sketch(&m->transform, s->data + s->start[i], s->n[i], stroke, seg + K, lm + K, &length);
    if (!rc && mask_in) memcpy(mask, mask_in, sizeof(float) * (size_t)T * 5);
    else if (!rc && s->mask)
        rc = sb_sgm_mask(m->mask_type, m->cfg.mask_prob, stroke, T, length, s->mask_seed, 0, (uint64_t)i, mask,
                         b->scratch);
    else
        for (int k = 0; k < T * 5; k++) mask[k] = 1.0f;
    if (rc) return sb_fail_context(rc, "sketch %d", i);
    /* leading tokens as training: retrieval (-2s) first, then classification (-1s) */
    int t = 0;
    if (m->mc.rel) {
        for (int c = 0; c < 5; c++) input[5 * t + c] = -2.0f;
        seg[t] = 0, lm[t++] = 1.0f;
    }
    if (m->mc.cls) {
        for (int c = 0; c < 5; c++) input[5 * t + c] = -1.0f;
        seg[t] = 0, lm[t++] = 1.0f;
    }
    for (int k = 0; k < T * 5; k++) input[5 * K + k] = stroke[k] * mask[k];
    b->index[r] = (uint32_t)i;
    return 0;
}

int api_forward(sb_model_handle *m, const sb_sketches *s, const int *order, int first, int count) {
    for (int r = 0; r < count; r++) SB_TRY(api_fill_batch(m, s, order ? order[first + r] : first + r, r, NULL));
    m->batch.size = count;
    return sb_model_forward(m->model, &m->batch, 0, 0, 0, 0);
}

// ---- class names and fingerprint

static int set_name(sb_model_handle *m, int c, const char *name, size_t len) {
    char *n = malloc(len + 1);
    if (!n) return sb_fail(SB_ERR_MEMORY, "model: out of host memory");
    memcpy(n, name, len);
    n[len] = '\0';
    free(m->class_names[c]);
    m->class_names[c] = n;
    return 0;
}

/* Lines of a file, trailing blanks cut, empty lines dropped; NULL-ended. */
static int read_lines(const char *path, char ***out) {
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return sb_fail(SB_ERR_IO, "cannot open %s", path);
    char buf[4096], **lines = calloc(1, sizeof *lines);
    int n = 0, rc = lines ? 0 : sb_fail(SB_ERR_MEMORY, "reading %s: out of host memory", path);
    while (!rc && fgets(buf, sizeof buf, f)) {
        size_t len = strlen(buf);
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ')) buf[--len] = '\0';
        if (!len) continue;
        char **g = realloc(lines, (size_t)(n + 2) * sizeof *g);
        if (!g) {
            rc = sb_fail(SB_ERR_MEMORY, "reading %s: out of host memory", path);
            break;
        }
        lines = g;
        if (!(lines[n] = strdup(buf))) rc = sb_fail(SB_ERR_MEMORY, "reading %s: out of host memory", path);
        else lines[++n] = NULL;
    }
    fclose(f);
    if (rc) {
        for (int i = 0; i < n; i++) free(lines[i]);
        free(lines);
        return rc;
    }
    *out = lines;
    return 0;
}

static void free_lines(char **lines) {
    for (int i = 0; lines && lines[i]; i++) free(lines[i]);
    free(lines);
}

/* "dir/cat.dat<TAB>7000" -> "cat"; a line without ".dat<TAB>" is the name. */
static void class_of_line(const char *line, const char **name, size_t *len) {
    const char *tab = strchr(line, '\t');
    if (!tab || tab - line < 4 || strncmp(tab - 4, ".dat", 4) != 0) {
        *name = line, *len = strlen(line);
        return;
    }
    const char *base = line;
    for (const char *p = line; p < tab; p++)
        if (*p == '/') base = p + 1;
    *name = base, *len = (size_t)(tab - 4 - base);
}

static int in_list(char **list, const char *name, size_t len) {
    for (int i = 0; list && list[i]; i++)
        if (strlen(list[i]) == len && strncmp(list[i], name, len) == 0) return 1;
    return 0;
}

/* Names from a sum file or list; with training limits (max_cls_cache,
 * cls_limit_path) when `limits`. */
static int names_from_file(sb_model_handle *m, const char *path, int limits) {
    char **lines, **keep = NULL;
    SB_TRY(read_lines(path, &lines));
    int rc = 0, c = 0;
    if (limits && m->cfg.cls_limit_path[0]) rc = read_lines(m->cfg.cls_limit_path, &keep);
    for (int i = 0; !rc && lines[i] && c < m->mc.cls_dim; i++) {
        if (limits && m->cfg.max_cls_cache > 0 && c >= m->cfg.max_cls_cache) break;
        const char *name;
        size_t len;
        class_of_line(lines[i], &name, &len);
        if (!len || (keep && !in_list(keep, name, len))) continue;
        rc = set_name(m, c++, name, len);
    }
    free_lines(lines);
    free_lines(keep);
    return rc;
}

static int init_class_names(sb_model_handle *m, const char *meta_names) {
    int C = m->mc.cls ? m->mc.cls_dim : 0;
    if (!C) return 0;
    m->class_names = calloc((size_t)C, sizeof *m->class_names);
    if (!m->class_names) return sb_fail(SB_ERR_MEMORY, "model: out of host memory");
    for (int c = 0; c < C; c++) {
        char buf[32];
        snprintf(buf, sizeof buf, "class_%d", c);
        SB_TRY(set_name(m, c, buf, strlen(buf)));
    }
    if (meta_names) {
        const char *p = meta_names;
        for (int c = 0; c < C && *p; c++) {
            size_t len = strcspn(p, "\n");
            SB_TRY(set_name(m, c, p, len));
            p += len + (p[len] == '\n');
        }
        m->class_source = SB_CLASSES_CHECKPOINT;
        return 0;
    }
    /* an older checkpoint: the training data's classes, when the sum file
     * is still where its config says */
    m->class_source = SB_CLASSES_GENERIC;
    FILE *f = m->cfg.sum_path[0] ? fopen(m->cfg.sum_path, "r") : NULL;
    if (!f) return 0;
    fclose(f);
    m->class_source = SB_CLASSES_TRAINING_DATA;
    return names_from_file(m, m->cfg.sum_path, 1);
}

uint64_t api_fnv(uint64_t h, const void *data, size_t size) {
    const unsigned char *p = data;
    for (size_t i = 0; i < size; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Two FNV-1a streams (different bases) over the encoder and retrieval
 * weights and the transform: identity, not cryptographic strength. */
static int fingerprint(sb_model_handle *m, const sb_param *params, int n) {
    uint64_t h[2] = {14695981039346656037ull, 0x9e3779b97f4a7c15ull};
    float *buf = NULL;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        const sb_param *p = &params[i];
        if (p->net != SB_NET_ENCODER && p->net != SB_NET_REL) continue;
        float *g = realloc(buf, p->value.numel * sizeof *g);
        if (!g) rc = sb_fail(SB_ERR_MEMORY, "model: out of host memory");
        else buf = g, rc = sb_tensor_read(m->ctx->rt, &p->value, buf);
        for (int k = 0; k < 2 && !rc; k++) {
            h[k] = api_fnv(h[k], p->name, strlen(p->name) + 1);
            h[k] = api_fnv(h[k], p->value.shape, sizeof(int) * (size_t)p->value.ndim);
            h[k] = api_fnv(h[k], buf, p->value.numel * sizeof *buf);
        }
    }
    free(buf);
    const double t[4] = {(double)m->mc.max_length, m->transform.limit, (double)m->transform.normalization,
                         m->transform.max_scale_factor};
    for (int k = 0; k < 2; k++) h[k] = api_fnv(api_fnv(h[k], t, sizeof t), &m->K, sizeof m->K);
    snprintf(m->fingerprint, sizeof m->fingerprint, "%016llx%016llx", (unsigned long long)h[0],
             (unsigned long long)h[1]);
    return rc;
}

// ---- open / close

static int open_model(sb_model_handle *m, const char *path, int max_batch) {
    sb_st_file *f;
    SB_TRY(sb_checkpoint_open(&f, path));
    const char *yaml = sb_st_meta(f, "config"), *names = sb_st_meta(f, "class_names");
    char *names_copy = names ? strdup(names) : NULL;
    char label[SB_CONFIG_PATH_MAX + 16];
    snprintf(label, sizeof label, "%s[config]", path);
    sb_config_default(&m->cfg);
    int rc = yaml ? sb_config_load_string(&m->cfg, yaml, label)
                  : sb_fail(SB_ERR_FORMAT, "%s has no config in its metadata (not a checkpoint of `sketchbert train` "
                                           "or `sketchbert import-torch`)", path);
    sb_st_close(f);
    int has[SB_N_NETS];
    if (!rc) rc = sb_checkpoint_nets(path, has);
    if (!rc && !has[SB_NET_ENCODER]) rc = sb_fail(SB_ERR_FORMAT, "%s has no encoder weights (netE_state.*)", path);
    if (!rc) rc = sb_model_config_from(&m->cfg, &m->mc);
    if (!rc) {
        m->mc.maskrec = has[SB_NET_MASKREC], m->mc.cls = has[SB_NET_CLS], m->mc.rel = has[SB_NET_REL];
        m->heads = (m->mc.maskrec ? SB_HEAD_MASKREC : 0) | (m->mc.cls ? SB_HEAD_CLASSIFY : 0) |
                   (m->mc.rel ? SB_HEAD_RETRIEVAL : 0);
        m->K = m->mc.cls + m->mc.rel;
        m->max_batch = max_batch;
        m->transform = sb_transform_config_default();
        m->transform.max_length = m->cfg.max_length;
        m->transform.limit = m->cfg.limit;
        m->transform.max_scale_factor = m->cfg.max_scale_factor;
        rc = sb_norm_type_parse(m->cfg.normalization_type, &m->transform.normalization);
    }
    if (!rc) rc = sb_mask_type_parse(m->cfg.mask_task_type, &m->mask_type);
    /* the model plans triplets for a retrieval head: at least 3 rows */
    if (!rc)
        rc = sb_model_create_inference(m->ctx->rt, &m->mc, m->mc.rel && max_batch < 3 ? 3 : max_batch, &m->model);
    sb_param *params = NULL;
    int n = 0;
    if (!rc) rc = sb_model_params(m->model, &params, &n);
    if (!rc) {
        sb_ckpt_model cm = {params, n, NULL, NULL};
        sb_ckpt_counters counters = {0};
        rc = sb_checkpoint_load(m->ctx->rt, path, &cm, SB_RESTORE_ENC_NET | SB_RESTORE_TASK_NET, 0, &counters);
    }
    if (!rc) rc = batch_alloc(m);
    if (!rc) rc = fingerprint(m, params, n);
    if (!rc) rc = init_class_names(m, names_copy);
    free(names_copy);
    return rc;
}

sb_status sb_model_open(sb_context *ctx, const char *checkpoint, int max_batch, sb_model_handle **out) {
    if (!ctx || !checkpoint || !out) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_model_open: NULL argument");
    *out = NULL;
    if (max_batch < 1) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_model_open: max_batch %d must be at least 1", max_batch);
    sb_model_handle *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(checkpoint))) {
        free(m);
        return (sb_status)sb_fail(SB_ERR_MEMORY, "sb_model_open: out of host memory");
    }
    m->ctx = ctx;
    int rc = open_model(m, checkpoint, max_batch);
    if (rc) {
        sb_model_close(m);
        return (sb_status)rc;
    }
    *out = m;
    return SB_OK;
}

void sb_model_close(sb_model_handle *m) {
    if (!m) return;
    sb_model_destroy(m->model);
    sb_batch_free(&m->batch);
    for (int c = 0; m->class_names && c < m->mc.cls_dim; c++) free(m->class_names[c]);
    free(m->class_names);
    free(m->path);
    free(m);
}

// ---- queries

unsigned sb_model_heads(const sb_model_handle *m) { return m ? m->heads : 0; }

sb_status sb_model_require(const sb_model_handle *m, sb_head head) {
    if (!m) return (sb_status)sb_fail(SB_ERR_INVALID, "model is NULL");
    if (m->heads & (unsigned)head) return SB_OK;
    int h = head == SB_HEAD_MASKREC ? 0 : head == SB_HEAD_CLASSIFY ? 1 : 2;
    char has[96];
    heads_text(m->heads, has, sizeof has);
    return (sb_status)sb_fail(SB_ERR_INVALID, "%s has no %s head (it has: %s)", m->path, head_names[h], has);
}

int sb_model_max_length(const sb_model_handle *m) { return m ? m->mc.max_length : 0; }
int sb_model_max_batch(const sb_model_handle *m) { return m ? m->max_batch : 0; }
int sb_model_hidden_size(const sb_model_handle *m) { return m ? m->mc.hidden[m->mc.n_layers - 1] : 0; }
int sb_model_retrieval_dim(const sb_model_handle *m) { return m && m->mc.rel ? m->mc.rel_feat_dim : 0; }
int sb_model_num_classes(const sb_model_handle *m) { return m && m->mc.cls ? m->mc.cls_dim : 0; }
const char *sb_model_fingerprint(const sb_model_handle *m) { return m ? m->fingerprint : ""; }

const char *sb_model_class_name(const sb_model_handle *m, int cls) {
    return m && cls >= 0 && cls < sb_model_num_classes(m) ? m->class_names[cls] : NULL;
}

sb_class_source sb_model_class_source(const sb_model_handle *m) {
    return sb_model_num_classes(m) ? m->class_source : SB_CLASSES_NONE;
}

int sb_class_names_match(const char *a, const char *b) {
    if (!a || !b) return 0;
    for (; *a && *b; a++, b++)
        if (*a != *b && !((*a == ' ' || *a == '_') && (*b == ' ' || *b == '_'))) return 0;
    return *a == *b;
}

int sb_model_class_index(const sb_model_handle *m, const char *name) {
    int C = sb_model_num_classes(m);
    for (int c = 0; name && c < C; c++)
        if (sb_class_names_match(m->class_names[c], name)) return c;
    if (!C) {
        sb_model_require(m, SB_HEAD_CLASSIFY);
        return -1;
    }
    char list[512] = "";
    for (int c = 0; c < C && strlen(list) < sizeof list - 64; c++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", c ? ", " : "", m->class_names[c]);
    sb_fail(SB_ERR_INVALID, "unknown class '%s' (the model's %d classes: %s%s)", name ? name : "(null)", C, list,
            strlen(list) >= sizeof list - 64 ? ", ..." : "");
    return -1;
}

sb_status sb_model_set_class_names(sb_model_handle *m, const char *path) {
    if (!m || !path) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_model_set_class_names: NULL argument");
    SB_TRY(sb_model_require(m, SB_HEAD_CLASSIFY));
    SB_TRY(names_from_file(m, path, 0));
    m->class_source = SB_CLASSES_FILE;
    return SB_OK;
}
