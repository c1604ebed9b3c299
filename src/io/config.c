/* The training config: YAML (libyaml's document API) to sb_config and back.
 * A file is first read into a small tree with every `!include` resolved
 * (each node remembers its file and line), then each top-level key is
 * checked and stored as the key table below says; cross-key rules come last.
 * The key table is also the order in which sb_config_write_yaml writes. */
#include "io/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "runtime/error.h"

enum {
    MAX_INCLUDE_DEPTH = 16, /* includes within includes */
    MAX_NESTING = 64,       /* lists within lists */
    MAX_NODES = 100000      /* bounds alias expansion */
};

/* ---- the key table */

typedef enum key_kind {
    K_INT,     /* int, in [lo, hi] */
    K_INT64,   /* int64_t, in [lo, hi] */
    K_SEED,    /* uint64_t */
    K_REAL,    /* double, finite, between lo and hi (each bound open or closed) */
    K_BOOL,    /* int 0/1 */
    K_TEXT,    /* char[size]: a path or name; null or None mean "" */
    K_CHOICE,  /* an enum (stored as int): index of the name in choices */
    K_NAME,    /* char[size]: one of choices, stored as its name */
    K_DIMS,    /* sb_dims: at least min_n integers >= 1 */
    K_LAYERS,  /* layers_setting */
    K_TASKS,   /* task_types */
    K_RESTORE, /* which_pretrained */
    K_FIXED,   /* the original's key with the one value we implement; written, not stored */
    K_IGNORED  /* the original's key that has no effect here; not stored */
} key_kind;

typedef struct key_spec {
    const char *name;
    key_kind kind;
    size_t off, size;
    double lo, hi;
    int lo_open, hi_open;
    const char *const *choices; /* NULL-terminated */
    int min_n;
    const char *section; /* written as a comment before this key */
} key_spec;

static const char *const task_names[] = {"maskrec", "sketchclsinput", "sketchretrieval", NULL};
static const char *const load_names[] = {"scratch", "continue", "pretrained", NULL};
static const char *const restore_names[] = {"enc_net", "enc_opt", "task_net", "task_opt", NULL};
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

static const key_spec keys[] = {
    {.name = "task_types", .kind = K_TASKS, AT(task_types), .section = "tasks and restoring"},
    CHOICE(load_pretrained, load_names),
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
    INT(num_display_samples, 0, INT_MAX),

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
    IGNORED(mask_gmm_weight), IGNORED(rec_gmm_weight),
};
enum { N_KEYS = sizeof keys / sizeof keys[0] };

_Static_assert(sizeof(sb_task_type) == sizeof(int) && sizeof(sb_load_pretrained) == sizeof(int) &&
                   sizeof(sb_model_type) == sizeof(int) && sizeof(sb_get_type) == sizeof(int) &&
                   sizeof(sb_lr_schedule) == sizeof(int) && sizeof(sb_optimizer) == sizeof(int),
               "K_CHOICE stores enums as int");

static int find_key(const char *name) {
    for (int i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0) return i;
    return -1;
}

static int find_name(const char *const *names, const char *s) {
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

/* "a, b, c" into buf. */
static const char *join_names(const char *const *names, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && n < cap; i++) n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", names[i]);
    return buf;
}

/* ---- defaults */

/* Copies s into a field of `cap` bytes, zero-filling the rest (so equal
 * configs are equal bytes). The caller has checked the length. */
static void set_text(char *field, size_t cap, const char *s) {
    memset(field, 0, cap);
    memcpy(field, s, strlen(s));
}
#define SET_TEXT(field, s) set_text((field), sizeof(field), (s))

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
    cfg->num_display_samples = 10;

    cfg->lr_schedule = SB_LR_CONSTANT;
    cfg->optimizer = SB_OPTIMIZER_ADAM;
}

int sb_config_has_task(const sb_config *cfg, sb_task_type task) {
    for (int i = 0; i < cfg->n_tasks; i++)
        if (cfg->task_types[i] == task) return 1;
    return 0;
}

/* ---- YAML tree with includes resolved */

typedef enum node_kind { N_SCALAR, N_SEQ, N_MAP } node_kind;

typedef struct node {
    node_kind kind;
    const char *file; /* the file it was read from (owned by the loader) */
    int line;         /* 1-based */
    char *text;       /* N_SCALAR */
    int quoted;       /* N_SCALAR: quoted or included text, so never a number */
    struct node **kids; /* N_SEQ: items; N_MAP: key, value, key, value, ... */
    int n;              /* kids */
    struct node *next;  /* every node of a load, for freeing */
} node;

typedef struct file_label {
    struct file_label *next;
    char name[]; /* as opened: the top-level path, or dir/name of an include */
} file_label;

typedef struct loader {
    node *nodes;
    file_label *files;
    long n_nodes;
    /* where each key of the table was set (file NULL: not set) */
    const char *key_file[N_KEYS];
    int key_line[N_KEYS];
    const char *row_file[SB_CONFIG_MAX_LAYERS]; /* where each layers_setting row is */
    int row_line[SB_CONFIG_MAX_LAYERS];
} loader;

static void loader_free(loader *L) {
    for (node *n = L->nodes, *next; n; n = next) {
        next = n->next;
        free(n->text);
        free(n->kids);
        free(n);
    }
    for (file_label *f = L->files, *next; f; f = next) {
        next = f->next;
        free(f);
    }
}

/* Keeps "dir/name" (name alone when absolute or dir_len is 0); the first
 * dir_len bytes of dir are the directory. */
static const char *add_label(loader *L, const char *dir, size_t dir_len, const char *name) {
    size_t nd = name[0] == '/' ? 0 : dir_len, nn = strlen(name);
    int sep = nd && dir[nd - 1] != '/';
    file_label *f = malloc(sizeof *f + nd + sep + nn + 1);
    if (!f) return NULL;
    memcpy(f->name, dir, nd);
    if (sep) f->name[nd] = '/';
    memcpy(f->name + nd + sep, name, nn + 1);
    f->next = L->files;
    L->files = f;
    return f->name;
}

static node *new_node(loader *L, node_kind kind, const char *file, int line) {
    node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->file = file;
    n->line = line;
    n->next = L->nodes;
    L->nodes = n;
    return n;
}

/* Length of the directory part of path: 0 for none, 1 for "/x.yml". */
static size_t dir_len(const char *path) {
    const char *slash = strrchr(path, '/');
    return !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
}

/* The whole of f as a string, trailing line ends removed. */
static int read_text(FILE *f, const char *what, char **out) {
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    for (size_t got; text && (got = fread(text + len, 1, cap - len - 1, f)) > 0;) {
        len += got;
        if (len + 1 == cap) {
            char *bigger = realloc(text, cap *= 2);
            if (!bigger) free(text);
            text = bigger;
        }
    }
    if (!text) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    if (ferror(f)) {
        free(text);
        return sb_fail(SB_ERR_IO, "%s: cannot read", what);
    }
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) len--;
    text[len] = '\0';
    *out = text;
    return 0;
}

static int syntax_error(const yaml_parser_t *p, const char *file) {
    if (p->error == YAML_MEMORY_ERROR) return sb_fail(SB_ERR_MEMORY, "%s: out of memory while parsing YAML", file);
    if (p->error == YAML_READER_ERROR)
        return sb_fail(SB_ERR_FORMAT, "%s: byte %zu: cannot read YAML: %s", file, p->problem_offset,
                       p->problem ? p->problem : "unknown error");
    return sb_fail(SB_ERR_FORMAT, "%s:%zu:%zu: YAML syntax error: %s%s%s", file, p->problem_mark.line + 1,
                   p->problem_mark.column + 1, p->problem ? p->problem : "unknown error",
                   p->context ? " " : "", p->context ? p->context : "");
}

static int load_stream(loader *L, yaml_parser_t *p, const char *file, int include_depth, node **out);

/* `!include name` at file:line: the value read from name, relative to the
 * including file's directory. */
static int include(loader *L, const char *from_file, int line, const char *name, int include_depth, node **out) {
    if (include_depth >= MAX_INCLUDE_DEPTH)
        return sb_fail(SB_ERR_FORMAT, "%s:%d: !include '%s': includes nested deeper than %d (a cycle?)", from_file,
                       line, name, MAX_INCLUDE_DEPTH);
    const char *path = add_label(L, from_file, dir_len(from_file), name);
    if (!path) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    FILE *f = fopen(path, "rb");
    if (!f) return sb_fail(SB_ERR_IO, "%s:%d: !include '%s': cannot open %s: %s", from_file, line, name, path,
                           strerror(errno));
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    int is_yaml = dot && (!slash || dot > slash) && (strcmp(dot, ".yml") == 0 || strcmp(dot, ".yaml") == 0);
    int rc = 0;
    if (is_yaml) {
        yaml_parser_t p;
        if (!yaml_parser_initialize(&p)) {
            fclose(f);
            return sb_fail(SB_ERR_MEMORY, "out of host memory");
        }
        yaml_parser_set_input_file(&p, f);
        rc = load_stream(L, &p, path, include_depth + 1, out);
        yaml_parser_delete(&p);
        if (!rc && !*out) { /* an empty file is null, as in PyYAML */
            *out = new_node(L, N_SCALAR, from_file, line);
            if (!*out || !((*out)->text = calloc(1, 1))) rc = sb_fail(SB_ERR_MEMORY, "out of host memory");
        }
    } else { /* text: a string, never a number */
        node *n = new_node(L, N_SCALAR, from_file, line);
        rc = n ? read_text(f, path, &n->text) : sb_fail(SB_ERR_MEMORY, "out of host memory");
        if (!rc) {
            n->quoted = 1;
            *out = n;
        }
    }
    fclose(f);
    return rc;
}

/* Copies libyaml node y (of doc, read from file) into our tree. */
static int build(loader *L, yaml_document_t *doc, yaml_node_t *y, const char *file, int include_depth, int nesting,
                 node **out) {
    int line = (int)y->start_mark.line + 1;
    if (nesting > MAX_NESTING)
        return sb_fail(SB_ERR_FORMAT, "%s:%d: nested deeper than %d levels (an alias inside itself?)", file, line,
                       MAX_NESTING);
    if (++L->n_nodes > MAX_NODES)
        return sb_fail(SB_ERR_FORMAT, "%s:%d: more than %d values (aliases expanding?)", file, line, MAX_NODES);
    int is_include = y->tag && strcmp((const char *)y->tag, "!include") == 0;
    if (is_include && y->type != YAML_SCALAR_NODE)
        return sb_fail(SB_ERR_FORMAT, "%s:%d: !include takes one file name, not a list or mapping", file, line);
    if (y->type == YAML_SCALAR_NODE) {
        const char *value = (const char *)y->data.scalar.value;
        if (is_include) return include(L, file, line, value, include_depth, out);
        node *n = new_node(L, N_SCALAR, file, line);
        if (!n || !(n->text = malloc(y->data.scalar.length + 1))) return sb_fail(SB_ERR_MEMORY, "out of host memory");
        memcpy(n->text, value, y->data.scalar.length);
        n->text[y->data.scalar.length] = '\0';
        n->quoted = y->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        *out = n;
        return 0;
    }
    int is_seq = y->type == YAML_SEQUENCE_NODE;
    int count = is_seq ? (int)(y->data.sequence.items.top - y->data.sequence.items.start)
                       : 2 * (int)(y->data.mapping.pairs.top - y->data.mapping.pairs.start);
    node *n = new_node(L, is_seq ? N_SEQ : N_MAP, file, line);
    if (!n || (count && !(n->kids = calloc((size_t)count, sizeof *n->kids))))
        return sb_fail(SB_ERR_MEMORY, "out of host memory");
    for (int i = 0; i < count; i++) {
        const yaml_node_pair_t *pair = is_seq ? NULL : &y->data.mapping.pairs.start[i / 2];
        int index = is_seq ? y->data.sequence.items.start[i] : i % 2 ? pair->value : pair->key;
        SB_TRY(build(L, doc, yaml_document_get_node(doc, index), file, include_depth, nesting + 1, &n->kids[i]));
        n->n++;
    }
    *out = n;
    return 0;
}

/* The one document of a stream as a tree; *out is NULL for an empty one. */
static int load_stream(loader *L, yaml_parser_t *p, const char *file, int include_depth, node **out) {
    *out = NULL;
    yaml_document_t doc;
    if (!yaml_parser_load(p, &doc)) return syntax_error(p, file);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = root ? build(L, &doc, root, file, include_depth, 0, out) : 0;
    yaml_document_delete(&doc);
    if (rc || !root) return rc;
    if (!yaml_parser_load(p, &doc)) return syntax_error(p, file);
    root = yaml_document_get_root_node(&doc);
    if (root)
        rc = sb_fail(SB_ERR_FORMAT, "%s:%zu: a second YAML document (only one is read; remove the '---')", file,
                     root->start_mark.line + 1);
    yaml_document_delete(&doc);
    return rc;
}

/* ---- values */

/* "file:line: key: what (allowed: allowed)" */
static int vbad_at(const char *file, int line, const char *key, const char *allowed, const char *fmt, va_list ap) {
    char what[512];
    vsnprintf(what, sizeof what, fmt, ap);
    return sb_fail(SB_ERR_INVALID, "%s:%d: %s: %s (allowed: %s)", file, line, key, what, allowed);
}

__attribute__((format(printf, 4, 5))) static int bad(const node *v, const char *key, const char *allowed,
                                                     const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vbad_at(v->file, v->line, key, allowed, fmt, ap);
    va_end(ap);
    return rc;
}

/* How a value reads in a message: 'text' (cut short) or "a list". */
static const char *shown(const node *v, char *buf, size_t cap) {
    if (v->kind == N_SEQ) return "a list";
    if (v->kind == N_MAP) return "a mapping";
    if (strlen(v->text) > 40) snprintf(buf, cap, "'%.37s...'", v->text);
    else snprintf(buf, cap, "'%s'", v->text);
    return buf;
}

static int is_null(const node *v) {
    return v->kind == N_SCALAR && !v->quoted &&
           (!v->text[0] || strcmp(v->text, "~") == 0 || strcmp(v->text, "null") == 0 ||
            strcmp(v->text, "Null") == 0 || strcmp(v->text, "NULL") == 0);
}

/* An unquoted scalar that is a whole number: 1 with *out, else 0. */
static int as_integer(const node *v, long long *out) {
    if (v->kind != N_SCALAR || v->quoted) return 0;
    const char *s = v->text;
    size_t i = s[0] == '+' || s[0] == '-';
    if (!s[i]) return 0;
    for (; s[i]; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    errno = 0;
    *out = strtoll(s, NULL, 10);
    return errno == 0;
}

/* An unquoted scalar that is a finite decimal number. */
static int as_real(const node *v, double *out) {
    if (v->kind != N_SCALAR || v->quoted || !v->text[0]) return 0;
    if (strspn(v->text, "0123456789+-.eE") != strlen(v->text)) return 0;
    char *end;
    *out = strtod(v->text, &end);
    return *end == '\0' && end != v->text && isfinite(*out);
}

/* YAML 1.1 booleans as PyYAML reads them, and 0/1. */
static int as_bool(const node *v, int *out) {
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "1", NULL};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "0", NULL};
    if (v->kind != N_SCALAR || v->quoted) return 0;
    if (find_name(yes, v->text) >= 0) return *out = 1, 1;
    if (find_name(no, v->text) >= 0) return *out = 0, 1;
    return 0;
}

static const char *int_range(const key_spec *k, char *buf, size_t cap) {
    if (k->lo == k->hi) snprintf(buf, cap, "%.0f", k->lo);
    else if (k->hi >= INT_MAX) snprintf(buf, cap, "an integer >= %.0f", k->lo);
    else snprintf(buf, cap, "an integer in [%.0f, %.0f]", k->lo, k->hi);
    return buf;
}

static const char *real_range(const key_spec *k, char *buf, size_t cap) {
    if (isinf(k->hi)) snprintf(buf, cap, "a number %s %g", k->lo_open ? ">" : ">=", k->lo);
    else snprintf(buf, cap, "a number in %c%g, %g%c", k->lo_open ? '(' : '[', k->lo, k->hi, k->hi_open ? ')' : ']');
    return buf;
}

/* Why a scalar is not a number: for "'10' is quoted ..." messages. */
static const char *not_number_why(const node *v) {
    if (v->kind != N_SCALAR) return "";
    return v->quoted ? " (quoted, so a string)" : "";
}

/* A list of integers >= 1 into d. */
static int set_dims_value(const key_spec *k, const node *v, sb_dims *d) {
    char allowed[96];
    snprintf(allowed, sizeof allowed, "a list of %d to %d integers >= 1, e.g. [128, 256]", k->min_n,
             SB_CONFIG_MAX_DIMS);
    char buf[64];
    if (v->kind != N_SEQ) return bad(v, k->name, allowed, "%s is not a list", shown(v, buf, sizeof buf));
    if (v->n < k->min_n || v->n > SB_CONFIG_MAX_DIMS)
        return bad(v, k->name, allowed, "%d entries", v->n);
    memset(d, 0, sizeof *d);
    for (int i = 0; i < v->n; i++) {
        long long x;
        if (!as_integer(v->kids[i], &x) || x < 1 || x > INT_MAX)
            return bad(v->kids[i], k->name, allowed, "entry %d is %s%s", i + 1, shown(v->kids[i], buf, sizeof buf),
                       not_number_why(v->kids[i]));
        d->d[i] = (int)x;
    }
    d->n = v->n;
    return 0;
}

static int set_layers(loader *L, const key_spec *k, const node *v, sb_config *cfg) {
    const char *allowed = "a list of rows [heads, hidden, intermediate] of integers >= 1, hidden divisible by heads";
    char buf[64];
    if (v->kind != N_SEQ) return bad(v, k->name, allowed, "%s is not a list of rows", shown(v, buf, sizeof buf));
    if (v->n < 1 || v->n > SB_CONFIG_MAX_LAYERS)
        return bad(v, k->name, allowed, "%d rows (1 to %d layers)", v->n, SB_CONFIG_MAX_LAYERS);
    memset(cfg->layers_setting, 0, sizeof cfg->layers_setting);
    for (int r = 0; r < v->n; r++) {
        const node *row = v->kids[r];
        long long x[3];
        int ok = row->kind == N_SEQ && row->n == 3;
        for (int j = 0; ok && j < 3; j++) ok = as_integer(row->kids[j], &x[j]) && x[j] >= 1 && x[j] <= INT_MAX;
        if (!ok) return bad(row, k->name, allowed, "row %d is not 3 integers >= 1", r + 1);
        if (x[1] % x[0])
            return bad(row, k->name, allowed, "row %d: hidden %lld is not divisible by %lld heads", r + 1, x[1], x[0]);
        cfg->layers_setting[r] = (sb_layer_setting){(int)x[0], (int)x[1], (int)x[2]};
        L->row_file[r] = row->file;
        L->row_line[r] = row->line;
    }
    cfg->n_layers = v->n;
    return 0;
}

static int set_tasks(const key_spec *k, const node *v, sb_config *cfg) {
    char allowed[96], buf[64];
    join_names(task_names, allowed, sizeof allowed);
    if (v->kind != N_SEQ)
        return bad(v, k->name, allowed, "%s is not a list such as [maskrec]", shown(v, buf, sizeof buf));
    if (v->n == 0) return bad(v, k->name, allowed, "no task");
    if (v->n > SB_CONFIG_MAX_TASKS) return bad(v, k->name, allowed, "%d tasks, more than there are", v->n);
    int seen = 0;
    for (int i = 0; i < v->n; i++) {
        const node *t = v->kids[i];
        int id = t->kind == N_SCALAR ? find_name(task_names, t->text) : -1;
        if (id < 0) return bad(t, k->name, allowed, "unknown task type %s", shown(t, buf, sizeof buf));
        if (seen & 1 << id) return bad(t, k->name, allowed, "%s is listed twice", t->text);
        seen |= 1 << id;
        cfg->task_types[i] = (sb_task_type)id;
    }
    cfg->n_tasks = v->n;
    return 0;
}

static int set_restore(const key_spec *k, const node *v, sb_config *cfg) {
    char allowed[96], buf[64];
    join_names(restore_names, allowed, sizeof allowed);
    if (v->kind != N_SEQ)
        return bad(v, k->name, allowed, "%s is not a list such as [enc_net]", shown(v, buf, sizeof buf));
    unsigned flags = 0;
    for (int i = 0; i < v->n; i++) {
        int id = v->kids[i]->kind == N_SCALAR ? find_name(restore_names, v->kids[i]->text) : -1;
        if (id < 0) return bad(v->kids[i], k->name, allowed, "unknown part %s", shown(v->kids[i], buf, sizeof buf));
        flags |= 1u << id;
    }
    cfg->which_pretrained = flags;
    return 0;
}

/* Checks value v of key k and stores it into cfg. */
static int set_value(loader *L, const key_spec *k, const node *v, sb_config *cfg) {
    char *field = (char *)cfg + k->off;
    char allowed[160], buf[64];
    long long i64;
    double real;
    switch (k->kind) {
    case K_INT:
    case K_INT64:
        int_range(k, allowed, sizeof allowed);
        if (!as_integer(v, &i64))
            return bad(v, k->name, allowed, "%s is not an integer%s", shown(v, buf, sizeof buf), not_number_why(v));
        if (i64 < k->lo || i64 > k->hi) return bad(v, k->name, allowed, "%lld is out of range", i64);
        if (k->kind == K_INT) *(int *)field = (int)i64;
        else *(int64_t *)field = i64;
        return 0;
    case K_SEED: {
        const char *what = "an integer in [0, 2^64)";
        if (!as_integer(v, &i64) && !(v->kind == N_SCALAR && !v->quoted && v->text[0] &&
                                      strspn(v->text, "0123456789") == strlen(v->text)))
            return bad(v, k->name, what, "%s is not an integer%s", shown(v, buf, sizeof buf), not_number_why(v));
        errno = 0;
        uint64_t seed = strtoull(v->text, NULL, 10);
        if (errno || v->text[0] == '-') return bad(v, k->name, what, "%s is out of range", v->text);
        *(uint64_t *)field = seed;
        return 0;
    }
    case K_REAL:
        real_range(k, allowed, sizeof allowed);
        if (!as_real(v, &real))
            return bad(v, k->name, allowed, "%s is not a number%s", shown(v, buf, sizeof buf), not_number_why(v));
        if (real < k->lo || (k->lo_open && real == k->lo) || real > k->hi || (k->hi_open && real == k->hi))
            return bad(v, k->name, allowed, "%s is out of range", v->text);
        *(double *)field = real;
        return 0;
    case K_BOOL:
        if (!as_bool(v, (int *)field))
            return bad(v, k->name, "true, false", "%s is not a boolean%s", shown(v, buf, sizeof buf),
                       not_number_why(v));
        return 0;
    case K_TEXT: {
        const char *what = "a string without control characters";
        if (v->kind != N_SCALAR) return bad(v, k->name, what, "%s is not a string", shown(v, buf, sizeof buf));
        const char *s = is_null(v) || (!v->quoted && strcmp(v->text, "None") == 0) ? "" : v->text;
        if (strlen(s) >= k->size) return bad(v, k->name, what, "longer than %zu bytes", k->size - 1);
        for (const char *c = s; *c; c++)
            if ((unsigned char)*c < 0x20) return bad(v, k->name, what, "it holds a control character");
        set_text(field, k->size, s);
        return 0;
    }
    case K_CHOICE:
    case K_NAME:
    case K_FIXED: {
        join_names(k->choices, allowed, sizeof allowed);
        int id = v->kind == N_SCALAR ? find_name(k->choices, v->text) : -1;
        if (id < 0)
            return bad(v, k->name, allowed, "%s is not supported", shown(v, buf, sizeof buf));
        if (k->kind == K_CHOICE) memcpy(field, &id, sizeof id);
        else if (k->kind == K_NAME) set_text(field, k->size, k->choices[id]);
        return 0;
    }
    case K_DIMS:
        return set_dims_value(k, v, (sb_dims *)field);
    case K_LAYERS:
        return set_layers(L, k, v, cfg);
    case K_TASKS:
        return set_tasks(k, v, cfg);
    case K_RESTORE:
        return set_restore(k, v, cfg);
    case K_IGNORED:
        return 0;
    }
    return sb_fail(SB_ERR_INVALID, "config: key %s has no handler", k->name);
}

/* ---- rules across keys */

/* A rule between keys failed: named at the line of the first of the two
 * keys that the file sets (a rule never fails on defaults alone). */
__attribute__((format(printf, 5, 6))) static int fail_rule(const loader *L, int key, int other,
                                                           const char *allowed, const char *fmt, ...) {
    int at = L->key_file[key] ? key : other;
    va_list ap;
    va_start(ap, fmt);
    int rc = vbad_at(L->key_file[at], L->key_line[at], keys[key].name, allowed, fmt, ap);
    va_end(ap);
    return rc;
}

static int check_layers(const loader *L, const sb_config *cfg) {
    int albert = cfg->model_type == SB_MODEL_ALBERT;
    const sb_layer_setting *l0 = &cfg->layers_setting[0];
    for (int r = 1; r < cfg->n_layers; r++) {
        const sb_layer_setting *l = &cfg->layers_setting[r];
        int same_hidden = l->hidden == l0->hidden;
        if (same_hidden && (!albert || (l->heads == l0->heads && l->intermediate == l0->intermediate))) continue;
        int layers = find_key("layers_setting");
        /* at the row when layers_setting is in the file, else at model_type */
        const char *file = L->row_file[r] ? L->row_file[r] : L->key_file[find_key("model_type")];
        int line = L->row_file[r] ? L->row_line[r] : L->key_line[find_key("model_type")];
        if (albert)
            return sb_fail(SB_ERR_INVALID,
                           "%s:%d: %s: row %d [%d, %d, %d] differs from row 1 [%d, %d, %d] (allowed: identical "
                           "rows with model_type albert, which shares one layer)",
                           file, line, keys[layers].name, r + 1, l->heads, l->hidden, l->intermediate, l0->heads,
                           l0->hidden, l0->intermediate);
        return sb_fail(SB_ERR_INVALID, "%s:%d: %s: row %d has hidden %d but row 1 has %d (allowed: one hidden size "
                       "for all layers)", file, line, keys[layers].name, r + 1, l->hidden, l0->hidden);
    }
    return 0;
}

static int check_rules(const loader *L, const sb_config *cfg) {
    SB_TRY(check_layers(L, cfg));
    if (sb_config_has_task(cfg, SB_TASK_SKETCHRETRIEVAL) && cfg->get_type != SB_GET_TRIPLET)
        return fail_rule(L, find_key("get_type"), find_key("task_types"), "triplet",
                         "task sketchretrieval trains on (anchor, positive, negative) triplets, not single sketches");
    if (cfg->load_pretrained != SB_LOAD_SCRATCH && !cfg->restore_checkpoint_path[0])
        return fail_rule(L, find_key("load_pretrained"), find_key("restore_checkpoint_path"),
                         "scratch, or a restore_checkpoint_path",
                         "%s needs a checkpoint but restore_checkpoint_path is empty",
                         load_names[cfg->load_pretrained]);
    return 0;
}

/* ---- loading */

static int apply(loader *L, const node *root, const char *file, sb_config *cfg) {
    if (!root) return sb_fail(SB_ERR_FORMAT, "%s: empty config (expected keys such as batch_size: 10)", file);
    if (root->kind != N_MAP)
        return sb_fail(SB_ERR_FORMAT, "%s:%d: expected a mapping of keys (key: value lines) at the top", root->file,
                       root->line);
    for (int i = 0; i < root->n; i += 2) {
        const node *key = root->kids[i], *value = root->kids[i + 1];
        if (key->kind != N_SCALAR)
            return sb_fail(SB_ERR_FORMAT, "%s:%d: a key must be a plain name, not a list or mapping", key->file,
                           key->line);
        if (strcmp(key->text, "<<") == 0 && !key->quoted)
            return sb_fail(SB_ERR_FORMAT, "%s:%d: <<: merge keys are not supported (allowed: plain keys, and "
                           "!include for a value)", key->file, key->line);
        int k = find_key(key->text);
        if (k < 0) {
            fprintf(stderr, "%s:%d: warning: unknown key '%s' (ignored)\n", key->file, key->line, key->text);
            continue;
        }
        if (L->key_file[k])
            fprintf(stderr, "%s:%d: warning: %s given again (first at %s:%d); this value wins\n", key->file,
                    key->line, key->text, L->key_file[k], L->key_line[k]);
        L->key_file[k] = key->file;
        L->key_line[k] = key->line;
        SB_TRY(set_value(L, &keys[k], value, cfg));
    }
    return check_rules(L, cfg);
}

/* Parses with p (input already set) into *cfg, which is only changed on
 * success. */
static int load_parser(sb_config *cfg, yaml_parser_t *p, const char *file) {
    loader L;
    memset(&L, 0, sizeof L);
    sb_config next;
    sb_config_default(&next);
    node *root;
    const char *label = add_label(&L, "", 0, file);
    int rc = label ? load_stream(&L, p, label, 0, &root) : sb_fail(SB_ERR_MEMORY, "out of host memory");
    if (!rc) rc = apply(&L, root, label, &next);
    if (!rc) memcpy(cfg, &next, sizeof next);
    loader_free(&L);
    return rc;
}

int sb_config_load(sb_config *cfg, const char *path) {
    if (!cfg || !path) return sb_fail(SB_ERR_INVALID, "sb_config_load: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return sb_fail(SB_ERR_IO, "config %s: cannot open: %s", path, strerror(errno));
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        fclose(f);
        return sb_fail(SB_ERR_MEMORY, "out of host memory");
    }
    yaml_parser_set_input_file(&p, f);
    int rc = load_parser(cfg, &p, path);
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

int sb_config_load_string(sb_config *cfg, const char *text, const char *label) {
    if (!cfg || !text) return sb_fail(SB_ERR_INVALID, "sb_config_load_string: NULL argument");
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
    int rc = load_parser(cfg, &p, label ? label : "<string>");
    yaml_parser_delete(&p);
    return rc;
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
    for (int i = 0; i < N_KEYS; i++) {
        const key_spec *k = &keys[i];
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
            for (int t = 0; t < cfg->n_tasks; t++) fprintf(f, "%s%s", t ? ", " : "", task_names[cfg->task_types[t]]);
            fputc(']', f);
            break;
        case K_RESTORE:
            fputc('[', f);
            for (int b = 0, first = 1; restore_names[b]; b++)
                if (cfg->which_pretrained & 1u << b) fprintf(f, "%s%s", first ? "" : ", ", restore_names[b]), first = 0;
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
