/* The YAML reader behind configs (src/io/config.c): one YAML document (a
 * file, a string, or the value of a --set) read with libyaml's document
 * API into a small tree of scalars, lists and mappings, with every
 * `!include` resolved and each node remembering where it was read. It only
 * reads; what a scalar means is config.c's business.
 * defines: cfg_node, cfg_tree, cfg_tree_free, cfg_read_file, cfg_read_string */
#ifndef SB_IO_CONFIG_YAML_H
#define SB_IO_CONFIG_YAML_H

typedef enum cfg_node_kind { CFG_SCALAR, CFG_SEQ, CFG_MAP } cfg_node_kind;

typedef struct cfg_node {
    cfg_node_kind kind;
    const char *file; /* where it was read: a path, a label or "--set key=value" (owned by the tree) */
    int line;         /* 1-based; 0 for a value without lines (a --set) */
    char *text;       /* CFG_SCALAR */
    int quoted;       /* CFG_SCALAR: quoted or included text, so never a number */
    struct cfg_node **kids; /* CFG_SEQ: items; CFG_MAP: key, value, key, value, ... */
    int n;                  /* kids */
    struct cfg_node *next;  /* every node of a tree, for freeing */
} cfg_node;

/* Owns the nodes and the names of every file read. Zero-initialise it;
 * several documents may be read into one tree. */
typedef struct cfg_tree {
    cfg_node *nodes;
    struct cfg_source *sources;
    long n_nodes; /* bounds alias expansion across the tree */
} cfg_tree;

void cfg_tree_free(cfg_tree *t);

/* The one document of the YAML file at path; *root is NULL for an empty
 * file. Errors name the path (a directory, a file that cannot be opened or
 * read, "path:line:column: YAML syntax error: ..."). */
int cfg_read_file(cfg_tree *t, const char *path, cfg_node **root);

/* The same from text. label stands for the file name in messages and
 * `!include` paths are relative to its directory. With as_value set, text
 * is a single value as given on a command line: no line numbers in
 * messages, includes relative to the current directory, and an empty text
 * is an empty (null) scalar rather than no document. */
int cfg_read_string(cfg_tree *t, const char *text, const char *label, int as_value, cfg_node **root);

#endif
