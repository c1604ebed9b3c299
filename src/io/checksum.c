/* CRC-32 through zlib, in chunks that fit its uInt length. */
#include "io/checksum.h"

#include <stdio.h>
#include <zlib.h>

uint32_t sb_crc32(uint32_t crc, const void *p, size_t n) {
    const Bytef *b = p;
    uLong c = crc;
    while (n) {
        uInt k = n > (1u << 30) ? 1u << 30 : (uInt)n;
        c = crc32(c, b, k);
        b += k, n -= k;
    }
    return (uint32_t)c;
}

void sb_crc32_hex(char *buf, uint32_t crc) { snprintf(buf, 9, "%08x", (unsigned)crc); }

int sb_crc32_parse(const char *s, uint32_t *crc) {
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint32_t)d;
    }
    *crc = v;
    return 0;
}
