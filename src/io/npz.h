/* sketch-rnn style .npz datasets: a zip of train.npy / valid.npy /
 * test.npy, each an object array of [n, 3] stroke-3 arrays (dx, dy,
 * pen_lifted), read into int16 sketches. Float arrays (kanji.rdp*.npz) are
 * rounded to int16 and the number of changed values is reported; elements
 * of another shape are skipped and counted, like the original's script.
 * defines: sb_sketch, sb_sketch_set, sb_npz_read_split, sb_npz_load_split,
 *          sb_sketch_set_free */
#ifndef SB_IO_NPZ_H
#define SB_IO_NPZ_H

#include <stddef.h>
#include <stdint.h>

#include "io/zip.h"

typedef struct sb_sketch {
    int n;            /* points */
    int16_t *points;  /* (n, 3): dx, dy, pen_lifted; inside the set's block */
} sb_sketch;

typedef struct sb_sketch_set {
    sb_sketch *sketches;
    size_t count;
    int max_len;        /* longest sketch */
    size_t n_rounded;   /* values changed by rounding floats to int16 */
    size_t n_skipped;   /* elements not of shape (n, 3), left out */
    int16_t *data;      /* one block holding every sketch's points */
} sb_sketch_set;

/* A larger member is refused before it is inflated: deflate can expand a
 * file 1032 times, and the QuickDraw npz members are tens of MB. */
#define SB_NPZ_MAX_MEMBER ((uint64_t)1 << 30)

/* Reads member "<split>.npy" (split: "train", "valid", "test") of an open
 * npz archive. On failure *out holds nothing to free. */
int sb_npz_read_split(const sb_zip *z, const char *split, sb_sketch_set *out);
/* Opens `path`, reads one split, closes it. */
int sb_npz_load_split(const char *path, const char *split, sb_sketch_set *out);
void sb_sketch_set_free(sb_sketch_set *s);

#endif
