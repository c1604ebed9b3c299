/* Overflow-checked size arithmetic for sizes read from files: each stores
 * the result and returns 0, or returns 1 (storing nothing) when the result
 * would wrap. Readers use these, or compare by division, for every product
 * or sum of header fields before comparing it with a file's size.
 * defines: sb_mul_u64, sb_add_u64, sb_mul_size, sb_add_size */
#ifndef SB_CHECKED_H
#define SB_CHECKED_H

#include <stddef.h>
#include <stdint.h>

static inline int sb_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (b && a > UINT64_MAX / b) return 1;
    *out = a * b;
    return 0;
}

static inline int sb_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (a > UINT64_MAX - b) return 1;
    *out = a + b;
    return 0;
}

static inline int sb_mul_size(size_t a, size_t b, size_t *out) {
    if (b && a > SIZE_MAX / b) return 1;
    *out = a * b;
    return 0;
}

static inline int sb_add_size(size_t a, size_t b, size_t *out) {
    if (a > SIZE_MAX - b) return 1;
    *out = a + b;
    return 0;
}

#endif
