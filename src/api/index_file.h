/* The retrieval index file (.sbindex) without a model: sb_index_save and
 * the reader behind sb_index_load, which checks the model afterwards.
 * defines: api_index_read, API_INDEX_HEADER_BYTES */
#ifndef SB_API_INDEX_FILE_H
#define SB_API_INDEX_FILE_H

#include <stdio.h>

#include "api/api_internal.h"

/* The header, the same in every version: magic, version, dim, n, the
 * fingerprint (32 hex digits at byte 24), label_bytes. */
enum { API_INDEX_HEADER_BYTES = 8 + 4 + 4 + 8 + 32 + 8, API_INDEX_FINGERPRINT_AT = 24 };

/* Reads an index from f (named path in messages) into x, which holds no
 * items and has its x->sk: dim, fingerprint, features, labels and
 * sketches as in the file. Every size in the file is checked against the
 * file's size before anything is allocated ("truncated or corrupt:
 * <field> ..."). On failure x holds what was read so far: destroy it. */
int api_index_read(sb_index *x, FILE *f, const char *path);

#endif
