/* Overflow-checked size arithmetic for sizes read from files: stores the
 * product and returns 0, or returns 1 (storing nothing) when it would wrap.
 * Readers use it, or compare by division, for every product of header
 * fields before comparing it with a file's size.
 * defines: sb_mul_u64 */
#ifndef SB_CHECKED_H
#define SB_CHECKED_H

#include <stdint.h>

static inline int sb_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (b && a > UINT64_MAX / b) return 1;
    *out = a * b;
    return 0;
}

#endif
