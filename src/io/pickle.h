/* A safe Python pickle reader: it decodes the opcode stream (protocols 2-5,
 * the binary opcodes Python and PyTorch emit) into an inert value tree and
 * never calls, imports or evaluates anything. Globals are checked against a
 * caller's allowlist; REDUCE / NEWOBJ / BUILD / APPEND / SETITEM on an
 * object are recorded as a REDUCE value (callable, args, state, items).
 * Persistent ids (BINPERSID, as in torch.save) become PERSID values.
 *
 * Hostile input: every read is bounds-checked against the input, and
 * nesting depth, mark depth, memo size, value count and string length are
 * limited (sb_pickle_options). The tree is acyclic: an object that is
 * already part of another may not be modified afterwards (self-referencing
 * pickles are rejected), so recursive walks terminate within max_depth.
 * defines: sb_pickle_value, sb_pickle_options, sb_pickle_load,
 *          sb_pickle_load_prefix, sb_pickle_free, sb_pickle_item, sb_pickle_dict_get,
 *          sb_pickle_is_global, sb_pickle_as_bytes, sb_pickle_kind_name */
#ifndef SB_IO_PICKLE_H
#define SB_IO_PICKLE_H

#include <stddef.h>
#include <stdint.h>

typedef enum sb_pickle_kind {
    SB_PICKLE_NONE,
    SB_PICKLE_BOOL,      /* u.i is 0 or 1 */
    SB_PICKLE_INT,       /* u.i; integers beyond int64 are rejected */
    SB_PICKLE_FLOAT,     /* u.f */
    SB_PICKLE_STR,       /* Python 3 str: u.str holds UTF-8 */
    SB_PICKLE_STR8,      /* Python 2 str (BINSTRING): u.str holds raw 8-bit bytes */
    SB_PICKLE_BYTES,     /* bytes / bytearray: u.str */
    SB_PICKLE_LIST,      /* u.seq */
    SB_PICKLE_TUPLE,     /* u.seq */
    SB_PICKLE_SET,       /* set or frozenset: u.seq */
    SB_PICKLE_DICT,      /* u.seq: keys and values alternate, n/2 pairs */
    SB_PICKLE_GLOBAL,    /* u.global: an allowed module.name, never imported */
    SB_PICKLE_REDUCE,    /* u.reduce: callable(*args), then state / items */
    SB_PICKLE_PERSID     /* u.persid: a persistent id, not resolved */
} sb_pickle_kind;

typedef struct sb_pickle_value sb_pickle_value;
struct sb_pickle_value {
    sb_pickle_kind kind;
    union {
        int64_t i;
        double f;
        struct { const char *data; size_t len; } str; /* NUL-terminated too */
        struct { sb_pickle_value **items; size_t n; } seq;
        struct { const char *module, *name; } global;
        struct {
            const sb_pickle_value *callable; /* usually a GLOBAL */
            const sb_pickle_value *args;     /* a TUPLE */
            const sb_pickle_value *state;    /* from BUILD, or NULL */
            const sb_pickle_value *items;    /* LIST from APPEND(S), or NULL */
            const sb_pickle_value *dict;     /* DICT from SETITEM(S), or NULL */
            int newobj;                      /* made by NEWOBJ (cls.__new__) */
        } reduce;
        struct { const sb_pickle_value *pid; } persid;
    } u;
    /* bookkeeping for the reader */
    size_t cap;        /* allocated items (containers) */
    uint32_t height;   /* longest path to a leaf below this value */
    uint8_t shared;    /* already inside another value: frozen */
};

typedef struct sb_pickle_global {
    const char *module, *name;
} sb_pickle_global;

typedef struct sb_pickle_options {
    const sb_pickle_global *allowed; /* globals the pickle may name */
    size_t n_allowed;
    uint32_t max_depth;   /* nesting of values and of MARKs; 0: 1000 */
    size_t max_memo;      /* memo index limit; 0: 1 << 20 */
    size_t max_values;    /* values created; 0: 1 << 24 */
    size_t max_string;    /* bytes in one string; 0: 1 << 30 */
    int any_global;       /* accept every global (the caller vets them) */
} sb_pickle_options;

typedef struct sb_pickle_doc sb_pickle_doc; /* owns every value */

/* Decodes `size` bytes at `data` (`label` names the source in messages).
 * On success *doc owns the tree and *root is the value before STOP; on
 * failure *doc is NULL and the message names the label, the byte offset
 * and what is wrong. */
int sb_pickle_load(sb_pickle_doc **doc, const sb_pickle_value **root, const char *label, const void *data,
                   size_t size, const sb_pickle_options *opt);
/* The same for a pickle followed by more data (as in torch.save's legacy
 * format): decoding stops at STOP and *used is the bytes consumed. */
int sb_pickle_load_prefix(sb_pickle_doc **doc, const sb_pickle_value **root, const char *label, const void *data,
                          size_t size, const sb_pickle_options *opt, size_t *used);
void sb_pickle_free(sb_pickle_doc *doc);

/* Item i of a LIST / TUPLE / SET, or NULL when v is not one or i is out of
 * range. */
const sb_pickle_value *sb_pickle_item(const sb_pickle_value *v, size_t i);
/* The value under a str key of a DICT (the last one when repeated), or NULL. */
const sb_pickle_value *sb_pickle_dict_get(const sb_pickle_value *dict, const char *key);
/* Whether v is the GLOBAL module.name. */
int sb_pickle_is_global(const sb_pickle_value *v, const char *module, const char *name);

/* The raw bytes a value stands for: BYTES, a Python 2 STR8, or
 * _codecs.encode(str, 'latin1') as Python 3 writes bytes at protocol 2 (the
 * latin-1 text is decoded into a buffer owned by doc). Anything else is an
 * SB_ERR_FORMAT naming `what`. */
int sb_pickle_as_bytes(sb_pickle_doc *doc, const sb_pickle_value *v, const char *what, const unsigned char **data,
                       size_t *len);

/* "list", "tuple", ... for messages. */
const char *sb_pickle_kind_name(sb_pickle_kind kind);

#endif
