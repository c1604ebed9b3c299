/* float16 / bfloat16 to float by bit manipulation (no F16C dependency).
 * defines: sb_f16_to_f32, sb_bf16_to_f32 */
#include "io/float16.h"

#include <string.h>

static float from_bits(uint32_t bits) {
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float sb_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = h >> 10 & 31, m = h & 1023;
    if (e == 31) return from_bits(sign | 0x7F800000u | m << 13); /* inf, nan (payload kept) */
    if (e) return from_bits(sign | (e + 112) << 23 | m << 13);    /* rebias 15 -> 127 */
    if (!m) return from_bits(sign);
    /* subnormal m * 2^-24: normalise so the leading bit becomes implicit */
    e = 113;
    while (!(m & 1024)) m <<= 1, e--;
    return from_bits(sign | e << 23 | (m & 1023) << 13);
}

float sb_bf16_to_f32(uint16_t h) { return from_bits((uint32_t)h << 16); }
