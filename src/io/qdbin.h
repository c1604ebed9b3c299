/* QuickDraw .bin files (the dataset's binary "simplified" format): records
 * of key_id u64, countrycode char[2], recognized u8, timestamp u32,
 * n_strokes u16, then per stroke n_points u16, x u8[n], y u8[n]; all
 * little-endian.
 * defines: sb_qdbin_record, sb_qdbin_next */
#ifndef SB_IO_QDBIN_H
#define SB_IO_QDBIN_H

#include <stddef.h>
#include <stdint.h>

#include "data/quickdraw.h"

typedef struct sb_qdbin_record {
    uint64_t key_id;
    char countrycode[3];
    int recognized;
    uint32_t timestamp;
    sb_drawing drawing; /* caller frees with sb_drawing_free */
} sb_qdbin_record;

/* Decodes the record at data[*pos], advancing *pos. Returns 1 with a record,
 * 0 at the end of the data, or an error (truncated record: `label` and the
 * byte offset named). */
int sb_qdbin_next(const unsigned char *data, size_t size, size_t *pos, const char *label, sb_qdbin_record *rec);

#endif
