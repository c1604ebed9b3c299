/* The config's key table, shared by its reader (src/io/config.c) and its
 * defaults and writer (src/io/config_keys.c): every key sketchbert knows,
 * what kind of value it takes and where sb_config keeps it. The table's
 * order is the order in which sb_config_write_yaml writes.
 * defines: cfg_key_kind, cfg_key, cfg_keys, CFG_N_KEYS, cfg_find_key,
 *          cfg_find_name, cfg_join_names, cfg_task_names, cfg_load_names,
 *          cfg_restore_names, cfg_set_text */
#ifndef SB_IO_CONFIG_KEYS_H
#define SB_IO_CONFIG_KEYS_H

#include <stddef.h>

typedef enum cfg_key_kind {
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
} cfg_key_kind;

typedef struct cfg_key {
    const char *name;
    cfg_key_kind kind;
    size_t off, size; /* the field in sb_config */
    double lo, hi;
    int lo_open, hi_open;
    const char *const *choices; /* NULL-terminated */
    int min_n;
    const char *section; /* written as a comment before this key */
} cfg_key;

enum { CFG_N_KEYS = 87 }; /* entries of cfg_keys (checked where it is defined) */
extern const cfg_key cfg_keys[];

extern const char *const cfg_task_names[];    /* by sb_task_type */
extern const char *const cfg_load_names[];    /* by sb_load_pretrained */
extern const char *const cfg_restore_names[]; /* by bit of which_pretrained */

/* The index of key name in cfg_keys, or -1. */
int cfg_find_key(const char *name);
/* The index of s in NULL-terminated names, or -1. */
int cfg_find_name(const char *const *names, const char *s);
/* "a, b, c" into buf. */
const char *cfg_join_names(const char *const *names, char *buf, size_t cap);
/* Copies s into a text field of cap bytes, zero-filling the rest (so equal
 * configs are equal bytes). The caller has checked the length. */
void cfg_set_text(char *field, size_t cap, const char *s);

#endif
