/* The YAML tree of a config: libyaml's document API, copied into cfg_node
 * trees with `!include` resolved (the original's util/config.py: a .yml or
 * .yaml file is read as YAML, anything else as text). */
#include "io/config_yaml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "runtime/error.h"

enum {
    MAX_INCLUDE_DEPTH = 16, /* includes within includes */
    MAX_NESTING = 64,       /* lists within lists */
    MAX_NODES = 100000      /* bounds alias expansion */
};

/* A file or string read into the tree. */
typedef struct cfg_source {
    struct cfg_source *next;
    size_t dir_len; /* the first dir_len bytes of name: the directory its includes are relative to */
    int lines;      /* 0: a command-line value, whose messages give no line */
    char name[];    /* as opened: the top-level path, or dir/name of an include */
} cfg_source;

void cfg_tree_free(cfg_tree *t) {
    for (cfg_node *n = t->nodes, *next; n; n = next) {
        next = n->next;
        free(n->text);
        free(n->kids);
        free(n);
    }
    for (cfg_source *s = t->sources, *next; s; s = next) {
        next = s->next;
        free(s);
    }
    memset(t, 0, sizeof *t);
}

/* Length of the directory part of path: 0 for none, 1 for "/x.yml". */
static size_t dir_len(const char *path) {
    const char *slash = strrchr(path, '/');
    return !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
}

/* Keeps "dir/name" (name alone when absolute or dir_len is 0); the first
 * dir_len bytes of dir are the directory. */
static const cfg_source *add_source(cfg_tree *t, const char *dir, size_t dir_len_, const char *name, int lines) {
    size_t nd = name[0] == '/' ? 0 : dir_len_, nn = strlen(name);
    int sep = nd && dir[nd - 1] != '/';
    cfg_source *s = malloc(sizeof *s + nd + sep + nn + 1);
    if (!s) return NULL;
    memcpy(s->name, dir, nd);
    if (sep) s->name[nd] = '/';
    memcpy(s->name + nd + sep, name, nn + 1);
    s->dir_len = lines ? dir_len(s->name) : 0;
    s->lines = lines;
    s->next = t->sources;
    t->sources = s;
    return s;
}

static cfg_node *new_node(cfg_tree *t, cfg_node_kind kind, const char *file, int line) {
    cfg_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->file = file;
    n->line = line;
    n->next = t->nodes;
    t->nodes = n;
    return n;
}

/* An empty plain scalar: what an empty document stands for as a value
 * (null, as in PyYAML). */
static int empty_value(cfg_tree *t, const char *file, int line, cfg_node **out) {
    *out = new_node(t, CFG_SCALAR, file, line);
    if (!*out || !((*out)->text = calloc(1, 1))) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    return 0;
}

/* Opens path for reading; *why says what is wrong (a directory opens but
 * reads as nothing, so it is refused here). */
static FILE *open_input(const char *path, const char **why) {
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f) *why = strerror(errno);
    else if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        f = NULL;
        *why = "it is a directory, not a file";
    }
    return f;
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
        return sb_fail(SB_ERR_IO, "%s: cannot read: %s", what, strerror(errno));
    }
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) len--;
    text[len] = '\0';
    *out = text;
    return 0;
}

/* A file as libyaml's input, keeping the errno of a failed read (libyaml
 * only says "input error"). */
typedef struct file_input {
    FILE *f;
    int err;
} file_input;

static int read_input(void *data, unsigned char *buf, size_t size, size_t *got) {
    file_input *in = data;
    *got = fread(buf, 1, size, in->f);
    if (ferror(in->f)) in->err = errno ? errno : EIO;
    return !in->err;
}

/* in: the file being read, NULL for a string. */
static int syntax_error(const yaml_parser_t *p, const cfg_source *src, const file_input *in) {
    const char *file = src->name;
    if (p->error == YAML_MEMORY_ERROR) return sb_fail(SB_ERR_MEMORY, "%s: out of memory while parsing YAML", file);
    if (p->error == YAML_READER_ERROR && in && in->err)
        return sb_fail(SB_ERR_IO, "%s: cannot read: %s", file, strerror(in->err));
    if (p->error == YAML_READER_ERROR) /* not UTF-8, or a control character */
        return sb_fail(SB_ERR_FORMAT, "%s: byte %zu: cannot read YAML: %s", file, p->problem_offset,
                       p->problem ? p->problem : "unknown error");
    const char *problem = p->problem ? p->problem : "unknown error", *sp = p->context ? " " : "",
               *context = p->context ? p->context : "";
    if (!src->lines) /* a one-line value: its position adds nothing */
        return sb_fail(SB_ERR_FORMAT, "%s: YAML syntax error: %s%s%s", file, problem, sp, context);
    return sb_fail(SB_ERR_FORMAT, "%s:%zu:%zu: YAML syntax error: %s%s%s", file, p->problem_mark.line + 1,
                   p->problem_mark.column + 1, problem, sp, context);
}

static int load_stream(cfg_tree *t, yaml_parser_t *p, const cfg_source *src, const file_input *in,
                       int include_depth, cfg_node **out);

/* `!include name` at src's line: the value read from name, relative to
 * the including file's directory. */
static int include(cfg_tree *t, const cfg_source *src, int line, const char *name, int include_depth,
                   cfg_node **out) {
    char at[32] = "";
    if (src->lines) snprintf(at, sizeof at, ":%d", line);
    if (include_depth >= MAX_INCLUDE_DEPTH)
        return sb_fail(SB_ERR_FORMAT, "%s%s: !include '%s': includes nested deeper than %d (a cycle?)", src->name,
                       at, name, MAX_INCLUDE_DEPTH);
    const cfg_source *inc = add_source(t, src->name, src->dir_len, name, 1);
    if (!inc) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    const char *why;
    FILE *f = open_input(inc->name, &why);
    if (!f)
        return sb_fail(SB_ERR_IO, "%s%s: !include '%s': cannot open %s: %s", src->name, at, name, inc->name, why);
    const char *path = inc->name, *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    int is_yaml = dot && (!slash || dot > slash) && (strcmp(dot, ".yml") == 0 || strcmp(dot, ".yaml") == 0);
    int rc = 0;
    if (is_yaml) {
        yaml_parser_t p;
        if (!yaml_parser_initialize(&p)) {
            fclose(f);
            return sb_fail(SB_ERR_MEMORY, "out of host memory");
        }
        file_input in = {f, 0};
        yaml_parser_set_input(&p, read_input, &in);
        rc = load_stream(t, &p, inc, &in, include_depth + 1, out);
        yaml_parser_delete(&p);
        if (!rc && !*out) rc = empty_value(t, src->name, line, out);
    } else { /* text: a string, never a number */
        cfg_node *n = new_node(t, CFG_SCALAR, src->name, line);
        rc = n ? read_text(f, path, &n->text) : sb_fail(SB_ERR_MEMORY, "out of host memory");
        if (!rc) {
            n->quoted = 1;
            *out = n;
        }
    }
    fclose(f);
    return rc;
}

/* Copies libyaml node y (of doc, read from src) into the tree. */
static int build(cfg_tree *t, yaml_document_t *doc, yaml_node_t *y, const cfg_source *src, int include_depth,
                 int nesting, cfg_node **out) {
    int line = src->lines ? (int)y->start_mark.line + 1 : 0;
    char at[32] = "";
    if (src->lines) snprintf(at, sizeof at, ":%d", line);
    if (nesting > MAX_NESTING)
        return sb_fail(SB_ERR_FORMAT, "%s%s: nested deeper than %d levels (an alias inside itself?)", src->name, at,
                       MAX_NESTING);
    if (++t->n_nodes > MAX_NODES)
        return sb_fail(SB_ERR_FORMAT, "%s%s: more than %d values (aliases expanding?)", src->name, at, MAX_NODES);
    int is_include = y->tag && strcmp((const char *)y->tag, "!include") == 0;
    if (is_include && y->type != YAML_SCALAR_NODE)
        return sb_fail(SB_ERR_FORMAT, "%s%s: !include takes one file name, not a list or mapping", src->name, at);
    if (y->type == YAML_SCALAR_NODE) {
        const char *value = (const char *)y->data.scalar.value;
        if (is_include) return include(t, src, line, value, include_depth, out);
        cfg_node *n = new_node(t, CFG_SCALAR, src->name, line);
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
    cfg_node *n = new_node(t, is_seq ? CFG_SEQ : CFG_MAP, src->name, line);
    if (!n || (count && !(n->kids = calloc((size_t)count, sizeof *n->kids))))
        return sb_fail(SB_ERR_MEMORY, "out of host memory");
    for (int i = 0; i < count; i++) {
        const yaml_node_pair_t *pair = is_seq ? NULL : &y->data.mapping.pairs.start[i / 2];
        int index = is_seq ? y->data.sequence.items.start[i] : i % 2 ? pair->value : pair->key;
        SB_TRY(build(t, doc, yaml_document_get_node(doc, index), src, include_depth, nesting + 1, &n->kids[i]));
        n->n++;
    }
    *out = n;
    return 0;
}

/* The one document of a stream as a tree; *out is NULL for an empty one. */
static int load_stream(cfg_tree *t, yaml_parser_t *p, const cfg_source *src, const file_input *in,
                       int include_depth, cfg_node **out) {
    *out = NULL;
    yaml_document_t doc;
    if (!yaml_parser_load(p, &doc)) return syntax_error(p, src, in);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = root ? build(t, &doc, root, src, include_depth, 0, out) : 0;
    yaml_document_delete(&doc);
    if (rc || !root) return rc;
    if (!yaml_parser_load(p, &doc)) return syntax_error(p, src, in);
    root = yaml_document_get_root_node(&doc);
    if (root)
        rc = sb_fail(SB_ERR_FORMAT, "%s:%zu: a second YAML document (only one is read; remove the '---')", src->name,
                     root->start_mark.line + 1);
    yaml_document_delete(&doc);
    return rc;
}

int cfg_read_file(cfg_tree *t, const char *path, cfg_node **root) {
    *root = NULL;
    const cfg_source *src = add_source(t, "", 0, path, 1);
    if (!src) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    const char *why;
    FILE *f = open_input(path, &why);
    if (!f) return sb_fail(SB_ERR_IO, "config %s: cannot open: %s", path, why);
    yaml_parser_t p;
    int rc = SB_ERR_MEMORY;
    if (yaml_parser_initialize(&p)) {
        file_input in = {f, 0};
        yaml_parser_set_input(&p, read_input, &in);
        rc = load_stream(t, &p, src, &in, 0, root);
        yaml_parser_delete(&p);
    } else {
        sb_fail(rc, "out of host memory");
    }
    fclose(f);
    return rc;
}

int cfg_read_string(cfg_tree *t, const char *text, const char *label, int as_value, cfg_node **root) {
    *root = NULL;
    const cfg_source *src = add_source(t, "", 0, label, !as_value);
    if (!src) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
    int rc = load_stream(t, &p, src, NULL, 0, root);
    yaml_parser_delete(&p);
    if (!rc && !*root && as_value) rc = empty_value(t, src->name, 0, root);
    return rc;
}
