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

// mul_hi(m, c) lane by lane. PoCL builds mul_hi on uint16 from 16-bit
// pieces (six 32-bit multiplies); with `pairs` the 64-bit products of the
// even and the odd lanes take two (vpmuludq on AVX-512): 1.4x less time
// for the whole Philox on PoCL, the same bits. CPU forms pass pairs = 1;
// GPU forms keep mul_hi, one instruction there.
uint16 mul_hi16(uint m, uint16 c, int pairs) {
#ifdef __ENDIAN_LITTLE__
    if (pairs) {
        ulong8 v = as_ulong8(c); // lane 2k is the low half of v[k]
        return as_uint16((((v & 0xFFFFFFFFul) * m) >> 32) | (((v >> 32) * m) & 0xFFFFFFFF00000000ul));
    }
#endif
    return mul_hi((uint16)(m), c);
}

// The same for sixteen counters at once, one per lane (SIMD on CPUs).
void philox4x32_10_x16(uint16 *c0, uint16 *c1, uint16 *c2, uint16 *c3, uint k0, uint k1, int pairs) {
    for (int r = 0; r < 10; r++) {
        if (r > 0) k0 += PHILOX_W0, k1 += PHILOX_W1;
        uint16 hi0 = mul_hi16(PHILOX_M0, *c0, pairs), lo0 = PHILOX_M0 * *c0;
        uint16 hi1 = mul_hi16(PHILOX_M1, *c2, pairs), lo1 = PHILOX_M1 * *c2;
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

#define LANES16 ((uint16)(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u, 10u, 11u, 12u, 13u, 14u, 15u))

// words[k] = the word of element 4 * block + k, k < 64: sixteen whole
// Philox blocks, one per lane, every word used (4x less Philox work per
// element than dropout_keep_x16). Put back in element order through
// private memory: as fast as shuffle2 on PoCL, and Oclgrind 21.10 follows
// it. For the CPU row kernels (mul_hi16's pairs).
void dropout_words64(uint *words, ulong block, uint4 key) {
    uint lo = (uint)block;
    uint16 c0 = lo + LANES16, c2 = key.z, c3 = key.w;
    uint16 c1 = (uint)(block >> 32) - as_uint16(c0 < lo); // carry into the high half
    philox4x32_10_x16(&c0, &c1, &c2, &c3, key.x, key.y, 1);
    uint w[64];
    vstore16(c0, 0, w);
    vstore16(c1, 1, w);
    vstore16(c2, 2, w);
    vstore16(c3, 3, w);
    for (uint l = 0; l < 16u; l++) vstore4((uint4)(w[l], w[16u + l], w[32u + l], w[48u + l]), l, words);
}

// Walks the elements e0 .. e0 + n - 1 of the space above (a row of a
// tensor, j = e - e0 its column) in groups of 64 from e0 rounded down to a
// Philox block, drawing each group's words once (dropout_words64): VEC for
// every whole run of 16 inside the range (j its first column, kept an
// int16 mask), ONE for the single elements at the ends (kept an int). The
// four runs of a group index words by constants, so the words stay in
// registers. With threshold 0 every element is kept, nothing is drawn and
// the runs start at column 0.
#define FOR_KEPT(e0, n, threshold, key, VEC, ONE)                                                          \
    {                                                                                                      \
        uint words_[64];                                                                                   \
        ulong e0_ = (threshold) ? (e0) : 0u, end_ = e0_ + (n);                                             \
        for (ulong a_ = e0_ & ~(ulong)3; a_ < end_; a_ += 64u) {                                           \
            if (threshold) dropout_words64(words_, a_ / 4u, key);                                          \
            for (uint q_ = 0; q_ < 4u; q_++) {                                                             \
                ulong r0_ = a_ + 16u * q_;                                                                 \
                int16 kept16_ = (threshold) ? vload16(q_, words_) >= (uint16)(threshold) : (int16)(-1);    \
                if (r0_ >= e0_ && r0_ + 16u <= end_) {                                                     \
                    uint j = (uint)(r0_ - e0_);                                                            \
                    int16 kept = kept16_;                                                                  \
                    VEC                                                                                    \
                } else if (r0_ < end_ && r0_ + 16u > e0_) {                                                \
                    int k_[16];                                                                            \
                    vstore16(kept16_, 0, k_);                                                              \
                    for (ulong e_ = max(r0_, e0_); e_ < min(r0_ + 16u, end_); e_++) {                      \
                        uint j = (uint)(e_ - e0_);                                                         \
                        int kept = k_[e_ - r0_];                                                           \
                        ONE                                                                                \
                    }                                                                                      \
                }                                                                                          \
            }                                                                                              \
        }                                                                                                  \
    }

// Whether each of sixteen elements i (< 2^32) is kept (-1) or dropped (0):
// a Philox block per element, which costs less than picking shared blocks
// apart once it runs sixteen wide (pairs: see mul_hi16).
int16 dropout_keep_x16(uint16 i, uint4 key, uint threshold, int pairs) {
    uint16 c0 = i >> 2, c1 = 0u, c2 = key.z, c3 = key.w;
    philox4x32_10_x16(&c0, &c1, &c2, &c3, key.x, key.y, pairs);
    int16 odd = (i & 1u) != 0u;
    uint16 w = select(select(c0, c1, odd), select(c2, c3, odd), (i & 2u) != 0u);
    return w >= threshold;
}
