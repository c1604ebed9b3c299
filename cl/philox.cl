// Philox4x32-10 (Salmon et al., SC 2011; Random123) in 32-bit integer ops,
// and the one mapping from the elements of a flat tensor to random words,
// shared by every kernel that draws a dropout mask (`#include "philox.cl"`,
// expanded by the runtime). The host copy is src/ops/philox.c and must stay
// bit-identical: element i's word is word i % 4 of
// Philox(counter = {i / 4 (64 bits), stream_lo, stream_hi}, key = {seed_lo, seed_hi}),
// and the element is kept when its word >= threshold = round(p * 2^32).
// A tensor's element i is element offset + i of this space (sb_rng_key's
// offset, a kernel argument beside the key).
// key is (seed_lo, seed_hi, stream_lo, stream_hi), sb_rng_key's four halves
// (one uint4: Oclgrind 21.10 crashes on uint2 arguments of helpers, and on
// a struct holding them).

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// The 32 x 32 -> 64-bit products as ulong multiplies rather than mul_hi and
// a low multiply: PoCL vectorises these (2x less CPU time for dropout), and
// GPU compilers map them to their widening multiply.
uint4 philox4x32_10(uint4 c, uint2 k) {
    for (int r = 0; r < 10; r++) {
        if (r > 0) k += (uint2)(PHILOX_W0, PHILOX_W1);
        ulong p0 = (ulong)PHILOX_M0 * c.x, p1 = (ulong)PHILOX_M1 * c.z;
        c = (uint4)((uint)(p1 >> 32) ^ c.y ^ k.x, (uint)p1, (uint)(p0 >> 32) ^ c.w ^ k.y, (uint)p0);
    }
    return c;
}

// The same for sixteen counters at once, one per lane (SIMD on CPUs).
void philox4x32_10_x16(uint16 *c0, uint16 *c1, uint16 *c2, uint16 *c3, uint k0, uint k1) {
    for (int r = 0; r < 10; r++) {
        if (r > 0) k0 += PHILOX_W0, k1 += PHILOX_W1;
        uint16 hi0 = mul_hi((uint16)PHILOX_M0, *c0), lo0 = (uint16)PHILOX_M0 * *c0;
        uint16 hi1 = mul_hi((uint16)PHILOX_M1, *c2), lo1 = (uint16)PHILOX_M1 * *c2;
        *c0 = hi1 ^ *c1 ^ k0;
        *c1 = lo1;
        *c2 = hi0 ^ *c3 ^ k1;
        *c3 = lo0;
    }
}

// The four words of Philox block `block` of the stream (elements
// 4 * block .. 4 * block + 3).
uint4 dropout_block(uint4 key, ulong block) {
    return philox4x32_10((uint4)((uint)block, (uint)(block >> 32), key.z, key.w), key.xy);
}

// v * scale if element i is kept, else 0. Callers walking elements in
// order pass the same *block / *words pair along, so each Philox block is
// computed once for its four elements; *block starts at ULONG_MAX.
float dropout_elem(uint4 key, uint threshold, float scale, ulong i, float v, ulong *block, uint4 *words) {
    if (i / 4 != *block) {
        *block = i / 4;
        *words = dropout_block(key, *block);
    }
    uint4 r = *words;
    uint ws[4] = {r.x, r.y, r.z, r.w}; // a ?: chain over r's lanes miscomputes in Oclgrind 21.10
    uint w = ws[i % 4];
    return w >= threshold ? v * scale : 0.0f;
}

// Whether each of sixteen elements i (< 2^32) is kept (-1) or dropped (0):
// a Philox block per element, which costs less than picking shared blocks
// apart once it runs sixteen wide.
int16 dropout_keep_x16(uint16 i, uint4 key, uint threshold) {
    uint16 c0 = i >> 2, c1 = 0u, c2 = key.z, c3 = key.w;
    philox4x32_10_x16(&c0, &c1, &c2, &c3, key.x, key.y);
    int16 odd = (i & 1u) != 0u;
    uint16 w = select(select(c0, c1, odd), select(c2, c3, odd), (i & 2u) != 0u);
    return w >= threshold;
}
