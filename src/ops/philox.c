/* Host Philox4x32-10 and dropout keep decision (see philox.h). */
#include "ops/philox.h"

#include <math.h>

void sb_philox4x32_10(const uint32_t ctr[4], const uint32_t k[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = k[0], k1 = k[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) k0 += SB_PHILOX_W0, k1 += SB_PHILOX_W1;
        uint64_t p0 = (uint64_t)SB_PHILOX_M0 * c0, p1 = (uint64_t)SB_PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

uint32_t sb_dropout_threshold(float p) {
    double t = nearbyint((double)p * 4294967296.0);
    return t >= 4294967295.0 ? 4294967295u : (uint32_t)t;
}

int sb_dropout_keep(sb_rng_key key, uint32_t threshold, uint64_t i) {
    i += key.offset;
    uint64_t block = i / 4;
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)key.stream,
                       (uint32_t)(key.stream >> 32)};
    uint32_t k[2] = {(uint32_t)key.seed, (uint32_t)(key.seed >> 32)};
    uint32_t out[4];
    sb_philox4x32_10(ctr, k, out);
    return out[i % 4] >= threshold;
}
