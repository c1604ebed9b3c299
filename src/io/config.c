/* Reading a config: the YAML tree (src/io/config_yaml.c) checked key by
 * key against the key table (src/io/config_keys.c) and stored into
 * sb_config, then the --set overrides the same way, then the rules across
 * keys. Every refusal names where the value was read and what is allowed. */
#include "io/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "io/config_keys.h"
#include "io/config_yaml.h"
#include "runtime/error.h"

enum { WHERE_MAX = SB_CONFIG_PATH_MAX + 64 };

/* One load: the tree read, and where each key was set (file NULL: not set). */
typedef struct loader {
    cfg_tree tree;
    int strict; /* an unknown key in the file is an error, else a warning */
    const char *key_file[CFG_N_KEYS];
    int key_line[CFG_N_KEYS];
    const char *row_file[SB_CONFIG_MAX_LAYERS]; /* where each layers_setting row is */
    int row_line[SB_CONFIG_MAX_LAYERS];
} loader;

/* ---- values */

/* "file:line", or "file" alone for a value without lines (a --set). */
static const char *where(char *buf, size_t cap, const char *file, int line) {
    if (line > 0) snprintf(buf, cap, "%s:%d", file, line);
    else snprintf(buf, cap, "%s", file);
    return buf;
}

/* "file:line: key: what (allowed: allowed)" */
static int vbad_at(const char *file, int line, const char *key, const char *allowed, const char *fmt, va_list ap) {
    char what[512], at[WHERE_MAX];
    vsnprintf(what, sizeof what, fmt, ap);
    return sb_fail(SB_ERR_INVALID, "%s: %s: %s (allowed: %s)", where(at, sizeof at, file, line), key, what, allowed);
}

__attribute__((format(printf, 4, 5))) static int bad(const cfg_node *v, const char *key, const char *allowed,
                                                     const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vbad_at(v->file, v->line, key, allowed, fmt, ap);
    va_end(ap);
    return rc;
}

/* How a value reads in a message: 'text' (cut short) or "a list". */
static const char *shown(const cfg_node *v, char *buf, size_t cap) {
    if (v->kind == CFG_SEQ) return "a list";
    if (v->kind == CFG_MAP) return "a mapping";
    if (strlen(v->text) > 40) snprintf(buf, cap, "'%.37s...'", v->text);
    else snprintf(buf, cap, "'%s'", v->text);
    return buf;
}

static int is_null(const cfg_node *v) {
    return v->kind == CFG_SCALAR && !v->quoted &&
           (!v->text[0] || strcmp(v->text, "~") == 0 || strcmp(v->text, "null") == 0 ||
            strcmp(v->text, "Null") == 0 || strcmp(v->text, "NULL") == 0);
}

/* An unquoted scalar that is a whole number: 1 with *out, else 0. */
static int as_integer(const cfg_node *v, long long *out) {
    if (v->kind != CFG_SCALAR || v->quoted) return 0;
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
static int as_real(const cfg_node *v, double *out) {
    if (v->kind != CFG_SCALAR || v->quoted || !v->text[0]) return 0;
    if (strspn(v->text, "0123456789+-.eE") != strlen(v->text)) return 0;
    char *end;
    *out = strtod(v->text, &end);
    return *end == '\0' && end != v->text && isfinite(*out);
}

/* YAML 1.1 booleans as PyYAML reads them, and 0/1. */
static int as_bool(const cfg_node *v, int *out) {
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "1", NULL};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "0", NULL};
    if (v->kind != CFG_SCALAR || v->quoted) return 0;
    if (cfg_find_name(yes, v->text) >= 0) return *out = 1, 1;
    if (cfg_find_name(no, v->text) >= 0) return *out = 0, 1;
    return 0;
}

static const char *int_range(const cfg_key *k, char *buf, size_t cap) {
    if (k->lo == k->hi) snprintf(buf, cap, "%.0f", k->lo);
    else snprintf(buf, cap, "an integer in [%.0f, %.0f]", k->lo, k->hi);
    return buf;
}

static const char *real_range(const cfg_key *k, char *buf, size_t cap) {
    if (isinf(k->hi)) snprintf(buf, cap, "a number %s %g", k->lo_open ? ">" : ">=", k->lo);
    else snprintf(buf, cap, "a number in %c%g, %g%c", k->lo_open ? '(' : '[', k->lo, k->hi, k->hi_open ? ')' : ']');
    return buf;
}

/* Why a scalar is not a number: for "'10' is quoted ..." messages. */
static const char *not_number_why(const cfg_node *v) {
    if (v->kind != CFG_SCALAR) return "";
    return v->quoted ? " (quoted, so a string)" : "";
}

/* A list of integers >= 1 into d. */
static int set_dims_value(const cfg_key *k, const cfg_node *v, sb_dims *d) {
    char allowed[96];
    snprintf(allowed, sizeof allowed, "a list of %d to %d integers in [1, %d], e.g. [128, 256]", k->min_n,
             SB_CONFIG_MAX_DIMS, INT_MAX);
    char buf[64];
    if (v->kind != CFG_SEQ) return bad(v, k->name, allowed, "%s is not a list", shown(v, buf, sizeof buf));
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

static int set_layers(loader *L, const cfg_key *k, const cfg_node *v, sb_config *cfg) {
    char allowed[128], buf[64];
    snprintf(allowed, sizeof allowed, "a list of rows [heads, hidden, intermediate] of integers in [1, %d], hidden "
             "divisible by heads", INT_MAX);
    if (v->kind != CFG_SEQ) return bad(v, k->name, allowed, "%s is not a list of rows", shown(v, buf, sizeof buf));
    if (v->n < 1 || v->n > SB_CONFIG_MAX_LAYERS)
        return bad(v, k->name, allowed, "%d rows (1 to %d layers)", v->n, SB_CONFIG_MAX_LAYERS);
    memset(cfg->layers_setting, 0, sizeof cfg->layers_setting);
    for (int r = 0; r < v->n; r++) {
        const cfg_node *row = v->kids[r];
        long long x[3];
        int ok = row->kind == CFG_SEQ && row->n == 3;
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

static int set_tasks(const cfg_key *k, const cfg_node *v, sb_config *cfg) {
    char allowed[96], buf[64];
    cfg_join_names(cfg_task_names, allowed, sizeof allowed);
    if (v->kind != CFG_SEQ)
        return bad(v, k->name, allowed, "%s is not a list such as [maskrec]", shown(v, buf, sizeof buf));
    if (v->n == 0) return bad(v, k->name, allowed, "no task");
    if (v->n > SB_CONFIG_MAX_TASKS) return bad(v, k->name, allowed, "%d tasks, more than there are", v->n);
    int seen = 0;
    for (int i = 0; i < v->n; i++) {
        const cfg_node *t = v->kids[i];
        int id = t->kind == CFG_SCALAR ? cfg_find_name(cfg_task_names, t->text) : -1;
        if (id < 0) return bad(t, k->name, allowed, "unknown task type %s", shown(t, buf, sizeof buf));
        if (seen & 1 << id) return bad(t, k->name, allowed, "%s is listed twice", t->text);
        seen |= 1 << id;
        cfg->task_types[i] = (sb_task_type)id;
    }
    cfg->n_tasks = v->n;
    return 0;
}

static int set_restore(const cfg_key *k, const cfg_node *v, sb_config *cfg) {
    char allowed[96], buf[64];
    cfg_join_names(cfg_restore_names, allowed, sizeof allowed);
    if (v->kind != CFG_SEQ)
        return bad(v, k->name, allowed, "%s is not a list such as [enc_net]", shown(v, buf, sizeof buf));
    unsigned flags = 0;
    for (int i = 0; i < v->n; i++) {
        int id = v->kids[i]->kind == CFG_SCALAR ? cfg_find_name(cfg_restore_names, v->kids[i]->text) : -1;
        if (id < 0) return bad(v->kids[i], k->name, allowed, "unknown part %s", shown(v->kids[i], buf, sizeof buf));
        flags |= 1u << id;
    }
    cfg->which_pretrained = flags;
    return 0;
}

/* Checks value v of key k and stores it into cfg. */
static int set_value(loader *L, const cfg_key *k, const cfg_node *v, sb_config *cfg) {
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
        if (!as_integer(v, &i64) && !(v->kind == CFG_SCALAR && !v->quoted && v->text[0] &&
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
        if (v->kind != CFG_SCALAR) return bad(v, k->name, what, "%s is not a string", shown(v, buf, sizeof buf));
        const char *s = is_null(v) || (!v->quoted && strcmp(v->text, "None") == 0) ? "" : v->text;
        if (strlen(s) >= k->size) return bad(v, k->name, what, "longer than %zu bytes", k->size - 1);
        for (const char *c = s; *c; c++)
            if ((unsigned char)*c < 0x20) return bad(v, k->name, what, "it holds a control character");
        cfg_set_text(field, k->size, s);
        return 0;
    }
    case K_CHOICE:
    case K_NAME:
    case K_FIXED: {
        cfg_join_names(k->choices, allowed, sizeof allowed);
        int id = v->kind == CFG_SCALAR ? cfg_find_name(k->choices, v->text) : -1;
        if (id < 0)
            return bad(v, k->name, allowed, "%s is not supported", shown(v, buf, sizeof buf));
        if (k->kind == K_CHOICE) memcpy(field, &id, sizeof id);
        else if (k->kind == K_NAME) cfg_set_text(field, k->size, k->choices[id]);
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

/* A rule between keys failed: named where the first of the two keys that
 * the file or a --set sets is set (a rule never fails on defaults alone). */
__attribute__((format(printf, 5, 6))) static int fail_rule(const loader *L, int key, int other,
                                                           const char *allowed, const char *fmt, ...) {
    int at = L->key_file[key] ? key : other;
    va_list ap;
    va_start(ap, fmt);
    int rc = vbad_at(L->key_file[at], L->key_line[at], cfg_keys[key].name, allowed, fmt, ap);
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
        int layers = cfg_find_key("layers_setting");
        /* at the row when layers_setting is set, else at model_type */
        char at[WHERE_MAX];
        if (L->row_file[r]) where(at, sizeof at, L->row_file[r], L->row_line[r]);
        else where(at, sizeof at, L->key_file[cfg_find_key("model_type")], L->key_line[cfg_find_key("model_type")]);
        if (albert)
            return sb_fail(SB_ERR_INVALID,
                           "%s: %s: row %d [%d, %d, %d] differs from row 1 [%d, %d, %d] (allowed: identical "
                           "rows with model_type albert, which shares one layer)",
                           at, cfg_keys[layers].name, r + 1, l->heads, l->hidden, l->intermediate, l0->heads,
                           l0->hidden, l0->intermediate);
        return sb_fail(SB_ERR_INVALID, "%s: %s: row %d has hidden %d but row 1 has %d (allowed: one hidden size "
                       "for all layers)", at, cfg_keys[layers].name, r + 1, l->hidden, l0->hidden);
    }
    return 0;
}

static int check_rules(const loader *L, const sb_config *cfg) {
    SB_TRY(check_layers(L, cfg));
    if (sb_config_has_task(cfg, SB_TASK_SKETCHRETRIEVAL) && cfg->get_type != SB_GET_TRIPLET)
        return fail_rule(L, cfg_find_key("get_type"), cfg_find_key("task_types"), "triplet",
                         "task sketchretrieval trains on (anchor, positive, negative) triplets, not single sketches");
    if (cfg->load_pretrained != SB_LOAD_SCRATCH && !cfg->restore_checkpoint_path[0])
        return fail_rule(L, cfg_find_key("load_pretrained"), cfg_find_key("restore_checkpoint_path"),
                         "scratch, or a restore_checkpoint_path",
                         "%s needs a checkpoint but restore_checkpoint_path is empty",
                         cfg_load_names[cfg->load_pretrained]);
    return 0;
}

/* ---- keys */

/* Edits (insert, delete, change, swap of neighbours) that turn a into b. */
static int distance(const char *a, const char *b) {
    enum { MAX = 64 };
    size_t na = strlen(a), nb = strlen(b);
    if (na >= MAX || nb >= MAX) return INT_MAX;
    int d[MAX][MAX];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[na][nb];
}

/* The known key nearest to name, or NULL when none is near (more than a
 * third of its letters would change). */
static const char *closest_key(const char *name) {
    int best = -1, best_d = INT_MAX;
    for (int i = 0; i < CFG_N_KEYS; i++) {
        int d = distance(name, cfg_keys[i].name);
        if (d < best_d) best = i, best_d = d;
    }
    if (best < 0) return NULL;
    size_t n = strlen(name), m = strlen(cfg_keys[best].name);
    return 3 * (size_t)best_d <= (n > m ? n : m) ? cfg_keys[best].name : NULL;
}

/* "file:line: unknown key 'name' (did you mean ...?)": an error, or a
 * warning on stderr when not strict (checkpoint metadata). */
static int unknown_key(int strict, const char *file, int line, const char *name) {
    char at[WHERE_MAX], hint[96];
    where(at, sizeof at, file, line);
    if (!strict) { /* not a typo of the user's: no guess */
        fprintf(stderr, "%s: warning: unknown key '%s' ignored\n", at, name);
        return 0;
    }
    const char *near = closest_key(name);
    if (near) snprintf(hint, sizeof hint, "did you mean %s?", near);
    else snprintf(hint, sizeof hint, "docs/config.md lists the keys");
    return sb_fail(SB_ERR_INVALID, "%s: unknown key '%s' (%s)", at, name, hint);
}

/* Stores key name = v, read at file:line. */
static int set_key(loader *L, const char *name, const char *file, int line, const cfg_node *v, sb_config *cfg) {
    int k = cfg_find_key(name);
    if (k < 0) return unknown_key(L->strict, file, line, name);
    L->key_file[k] = file;
    L->key_line[k] = line;
    return set_value(L, &cfg_keys[k], v, cfg);
}

/* The top-level mapping of a file. */
static int apply_file(loader *L, const cfg_node *root, const char *file, sb_config *cfg) {
    if (!root) return sb_fail(SB_ERR_FORMAT, "%s: empty config (expected keys such as batch_size: 10)", file);
    if (root->kind != CFG_MAP)
        return sb_fail(SB_ERR_FORMAT, "%s:%d: expected a mapping of keys (key: value lines) at the top", root->file,
                       root->line);
    for (int i = 0; i < root->n; i += 2) {
        const cfg_node *key = root->kids[i], *value = root->kids[i + 1];
        if (key->kind != CFG_SCALAR)
            return sb_fail(SB_ERR_FORMAT, "%s:%d: a key must be a plain name, not a list or mapping", key->file,
                           key->line);
        if (strcmp(key->text, "<<") == 0 && !key->quoted)
            return sb_fail(SB_ERR_FORMAT, "%s:%d: <<: merge keys are not supported (allowed: plain keys, and "
                           "!include for a value)", key->file, key->line);
        int k = cfg_find_key(key->text);
        if (k >= 0 && L->key_file[k])
            fprintf(stderr, "%s:%d: warning: %s given again (first at %s:%d); this value wins\n", key->file,
                    key->line, key->text, L->key_file[k], L->key_line[k]);
        SB_TRY(set_key(L, key->text, key->file, key->line, value, cfg));
    }
    return 0;
}

/* One --set KEY=VALUE, VALUE read as YAML as in a file; always strict. */
static int apply_set(loader *L, const char *set, sb_config *cfg) {
    const char *eq = strchr(set, '=');
    size_t n = eq ? (size_t)(eq - set) : 0;
    if (!n) return sb_fail(SB_ERR_INVALID, "--set %s: expected KEY=VALUE, e.g. --set batch_size=16", set);
    char name[96], *label = malloc(strlen(set) + 8);
    if (!label) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    if (n >= sizeof name) n = sizeof name - 1; /* no key is that long: still unknown */
    memcpy(name, set, n);
    name[n] = '\0';
    snprintf(label, strlen(set) + 8, "--set %s", set);
    int rc = cfg_find_key(name) < 0 ? unknown_key(1, label, 0, name) : 0;
    cfg_node *value = NULL;
    if (!rc) rc = cfg_read_string(&L->tree, eq + 1, label, 1, &value);
    free(label);
    /* value->file: the label, kept by the tree for later messages */
    return rc ? rc : set_key(L, name, value->file, 0, value, cfg);
}

/* root (read from file) then the sets into *cfg, which is only changed on
 * success. */
static int load(loader *L, const cfg_node *root, const char *file, const char *const *sets, int n_sets,
                sb_config *cfg) {
    sb_config next;
    sb_config_default(&next);
    int rc = apply_file(L, root, file, &next);
    for (int i = 0; !rc && i < n_sets; i++) rc = apply_set(L, sets[i], &next);
    if (!rc) rc = check_rules(L, &next);
    if (!rc) memcpy(cfg, &next, sizeof next);
    return rc;
}

int sb_config_load_sets(sb_config *cfg, const char *path, const char *const *sets, int n_sets) {
    if (!cfg || !path || (n_sets && !sets)) return sb_fail(SB_ERR_INVALID, "sb_config_load_sets: NULL argument");
    loader L = {.strict = 1};
    cfg_node *root;
    int rc = cfg_read_file(&L.tree, path, &root);
    if (!rc) rc = load(&L, root, path, sets, n_sets, cfg);
    cfg_tree_free(&L.tree);
    return rc;
}

int sb_config_load(sb_config *cfg, const char *path) { return sb_config_load_sets(cfg, path, NULL, 0); }

int sb_config_load_string(sb_config *cfg, const char *text, const char *label) {
    if (!cfg || !text) return sb_fail(SB_ERR_INVALID, "sb_config_load_string: NULL argument");
    loader L = {.strict = 0}; /* checkpoint metadata: see config.h */
    cfg_node *root;
    label = label ? label : "<string>";
    int rc = cfg_read_string(&L.tree, text, label, 0, &root);
    if (!rc) rc = load(&L, root, label, NULL, 0, cfg);
    cfg_tree_free(&L.tree);
    return rc;
}
