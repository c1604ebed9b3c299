/* QuickDraw .bin records to drawings. */
#include "io/qdbin.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

static unsigned u16(const unsigned char *p) { return p[0] | p[1] << 8; }

int sb_qdbin_next(const unsigned char *data, size_t size, size_t *pos, const char *label, sb_qdbin_record *rec) {
    memset(rec, 0, sizeof *rec);
    size_t p = *pos, start = p;
    if (p == size) return 0;
#define NEED(n)                                                                                              \
    do {                                                                                                     \
        if (size - p < (size_t)(n)) {                                                                        \
            sb_drawing_free(&rec->drawing);                                                                  \
            return sb_fail(SB_ERR_FORMAT, "%s: record at byte %zu is truncated", label, start);              \
        }                                                                                                    \
    } while (0)
    NEED(17);
    for (int i = 0; i < 8; i++) rec->key_id |= (uint64_t)data[p + i] << (8 * i);
    rec->countrycode[0] = (char)data[p + 8], rec->countrycode[1] = (char)data[p + 9];
    rec->recognized = data[p + 10];
    rec->timestamp = data[p + 11] | data[p + 12] << 8 | data[p + 13] << 16 | (uint32_t)data[p + 14] << 24;
    unsigned n_strokes = u16(data + p + 15);
    p += 17;
    rec->drawing.strokes = calloc(n_strokes ? n_strokes : 1, sizeof(sb_stroke));
    if (!rec->drawing.strokes) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    for (unsigned s = 0; s < n_strokes; s++) {
        NEED(2);
        unsigned n = u16(data + p);
        p += 2;
        NEED(2 * (size_t)n);
        sb_stroke *st = &rec->drawing.strokes[rec->drawing.n_strokes++];
        st->x = malloc((n ? n : 1) * sizeof(float));
        st->y = malloc((n ? n : 1) * sizeof(float));
        if (!st->x || !st->y) {
            sb_drawing_free(&rec->drawing);
            return sb_fail(SB_ERR_MEMORY, "out of host memory");
        }
        for (unsigned i = 0; i < n; i++) st->x[i] = data[p + i], st->y[i] = data[p + n + i];
        st->n = n;
        p += 2 * (size_t)n;
    }
#undef NEED
    *pos = p;
    return 1;
}
