// Philox4x32-10 (Salmon et al., SC 2011; Random123) in 32-bit integer ops,
// and the one mapping from the elements of a flat tensor to random words,
// shared by every kernel that draws a dropout mask (`#include "philox.cl"`,
// expanded by the runtime). The host copy is src/ops/philox.c and must stay
// bit-identical: element i's word is word i % 4 of
// Philox(counter = {i / 4, 0, stream_lo, stream_hi}, key = {seed_lo, seed_hi}),
// and the element is kept when its word >= threshold. key is
// (seed_lo, seed_hi, stream_lo, stream_hi), sb_rng_key's four halves (one
// uint4: Oclgrind 21.10 crashes on uint2 arguments of helpers).

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

uint4 philox4x32_10(uint4 c, uint2 k) {
    for (int r = 0; r < 10; r++) {
        if (r > 0) k += (uint2)(PHILOX_W0, PHILOX_W1);
        uint hi0 = mul_hi(PHILOX_M0, c.x), lo0 = PHILOX_M0 * c.x;
        uint hi1 = mul_hi(PHILOX_M1, c.z), lo1 = PHILOX_M1 * c.z;
        c = (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

// The words of elements 4 * block .. 4 * block + 3.
uint4 dropout_words(uint block, uint4 key) {
    return philox4x32_10((uint4)(block, 0u, key.z, key.w), key.xy);
}

// 1 if element i is kept, else 0.
uint dropout_keep(uint i, uint4 key, uint threshold) {
    uint4 w = dropout_words(i >> 2, key);
    uint words[4] = {w.x, w.y, w.z, w.w}; // a chain of ?: here gave wrong words on Oclgrind
    return words[i & 3u] >= threshold ? 1u : 0u;
}

// Bit c set when element first + c is kept, for c < n <= 60: one Philox
// call per four elements instead of one per element.
ulong dropout_keep_bits(uint first, uint n, uint4 key, uint threshold) {
    ulong bits = 0;
    uint b0 = first >> 2, b1 = (first + n - 1u) >> 2;
    for (uint blk = b0; blk <= b1; blk++) {
        uint4 w = dropout_words(blk, key);
        uint sh = (blk - b0) * 4u;
        bits |= (ulong)(w.x >= threshold) << sh | (ulong)(w.y >= threshold) << (sh + 1u) |
                (ulong)(w.z >= threshold) << (sh + 2u) | (ulong)(w.w >= threshold) << (sh + 3u);
    }
    return bits >> (first & 3u);
}
