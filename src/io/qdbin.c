/* QuickDraw .bin records to drawings. */
#include "io/qdbin.h"

#include <limits.h>
#include <string.h>

#include "runtime/error.h"

static unsigned u16(const unsigned char *p) { return p[0] | p[1] << 8; }

int sb_qdbin_next(const unsigned char *data, size_t size, size_t *pos, const char *label, sb_qdbin_record *rec) {
    memset(rec, 0, sizeof *rec);
    size_t p = *pos, start = p;
    if (p == size) return 0;
    if (size - p < 17) return sb_fail(SB_ERR_FORMAT, "%s: record at byte %zu is truncated", label, start);
    for (int i = 0; i < 8; i++) rec->key_id |= (uint64_t)data[p + i] << (8 * i);
    rec->countrycode[0] = (char)data[p + 8], rec->countrycode[1] = (char)data[p + 9];
    rec->recognized = data[p + 10];
    rec->timestamp = data[p + 11] | data[p + 12] << 8 | data[p + 13] << 16 | (uint32_t)data[p + 14] << 24;
    unsigned n_strokes = u16(data + p + 15);
    p += 17;
    /* First walk: check the lengths against the data and count points. */
    size_t q = p, n_points = 0;
    for (unsigned s = 0; s < n_strokes; s++) {
        if (size - q < 2) return sb_fail(SB_ERR_FORMAT, "%s: record at byte %zu is truncated", label, start);
        unsigned n = u16(data + q);
        q += 2;
        if (size - q < 2 * (size_t)n) return sb_fail(SB_ERR_FORMAT, "%s: record at byte %zu is truncated", label, start);
        q += 2 * (size_t)n, n_points += n;
    }
    if (n_points > INT_MAX) /* the drawing counts points in an int */
        return sb_fail(SB_ERR_FORMAT, "%s: record at byte %zu has %zu points, more than %d", label, start, n_points,
                       INT_MAX);
    int *len;
    float *x, *y;
    SB_TRY(sb_drawing_alloc(&rec->drawing, (int)n_strokes, (int)n_points, &len, &x, &y));
    for (unsigned s = 0, k = 0; s < n_strokes; s++) {
        unsigned n = u16(data + p);
        p += 2;
        len[s] = (int)n;
        for (unsigned i = 0; i < n; i++, k++) x[k] = data[p + i], y[k] = data[p + n + i];
        p += 2 * (size_t)n;
    }
    *pos = p;
    return 1;
}
