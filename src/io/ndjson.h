/* Quick, Draw! ndjson files, one drawing per line: word, countrycode,
 * timestamp, recognized, key_id and drawing, where a stroke is [[x...],
 * [y...]] (simplified files, integers) or [[x...],[y...],[t...]] (raw
 * files, float coordinates and milliseconds). Unknown keys are skipped.
 * defines: sb_qd_drawing, sb_ndjson, sb_ndjson_open, sb_ndjson_open_memory,
 *          sb_ndjson_next, sb_ndjson_close */
#ifndef SB_IO_NDJSON_H
#define SB_IO_NDJSON_H

#include <stddef.h>

/* One drawing; every pointer stays valid until the next sb_ndjson_next or
 * sb_ndjson_close. */
typedef struct sb_qd_drawing {
    const char *word, *countrycode, *key_id, *timestamp; /* "" when absent */
    int recognized;       /* 1, 0, or -1 when absent */
    long line;            /* 1-based line number in the file */
    int n_strokes;
    const int *stroke_len; /* points of each stroke */
    int n_points;
    const float *x, *y;   /* n_points, stroke after stroke */
    const float *t;       /* n_points milliseconds (raw files), or NULL */
} sb_qd_drawing;

/* x and y beyond +-2^24 are refused (QuickDraw's are canvas pixels), as
 * are times that are not finite floats. */
#define SB_NDJSON_MAX_COORD 16777216.0

/* Longer lines are refused (memory stays bounded on a hostile file); the
 * longest drawing of the QuickDraw raw files is far below a megabyte. */
#define SB_NDJSON_MAX_LINE ((size_t)64 << 20)

typedef struct sb_ndjson sb_ndjson;

int sb_ndjson_open(sb_ndjson **r, const char *path);
/* Reads a copy of `len` bytes of text; `label` names it in messages. */
int sb_ndjson_open_memory(sb_ndjson **r, const char *label, const char *text, size_t len);
/* Reads the next drawing (blank lines are skipped): returns 1 when *d was
 * filled, 0 at the end, or an error status whose message gives the file,
 * line and column ("cat.ndjson:7: ndjson: expected ':' at column 12"). */
int sb_ndjson_next(sb_ndjson *r, sb_qd_drawing *d);
void sb_ndjson_close(sb_ndjson *r);

#endif
