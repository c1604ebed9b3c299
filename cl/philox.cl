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

// Philox4x32-10 of the counter {c0, c1, c2, c3} in place, one counter per
// lane of T: uint for one block, uint16 for sixteen at once in SIMD.
#define DEFINE_PHILOX(T, suffix)                                          \
    void philox4x32_10##suffix(T *c0, T *c1, T *c2, T *c3, uint k0, uint k1) { \
        for (int r = 0; r < 10; r++) {                                    \
            if (r > 0) k0 += PHILOX_W0, k1 += PHILOX_W1;                  \
            T hi0 = mul_hi((T)PHILOX_M0, *c0), lo0 = (T)PHILOX_M0 * *c0;  \
            T hi1 = mul_hi((T)PHILOX_M1, *c2), lo1 = (T)PHILOX_M1 * *c2;  \
            *c0 = hi1 ^ *c1 ^ k0;                                         \
            *c1 = lo1;                                                    \
            *c2 = hi0 ^ *c3 ^ k1;                                         \
            *c3 = lo0;                                                    \
        }                                                                 \
    }
DEFINE_PHILOX(uint, )
DEFINE_PHILOX(uint16, _x16)

// The words of elements 4 * block .. 4 * block + 3.
uint4 dropout_words(uint block, uint4 key) {
    uint c0 = block, c1 = 0u, c2 = key.z, c3 = key.w;
    philox4x32_10(&c0, &c1, &c2, &c3, key.x, key.y);
    return (uint4)(c0, c1, c2, c3);
}

// Whether each of sixteen elements i is kept (-1) or dropped (0): a Philox
// block per element, which costs less than picking shared blocks apart
// once it runs sixteen wide.
int16 dropout_keep_x16(uint16 i, uint4 key, uint threshold) {
    uint16 c0 = i >> 2, c1 = 0u, c2 = key.z, c3 = key.w;
    philox4x32_10_x16(&c0, &c1, &c2, &c3, key.x, key.y);
    int16 odd = (i & 1u) != 0u;
    uint16 w = select(select(c0, c1, odd), select(c2, c3, odd), (i & 2u) != 0u);
    return w >= threshold;
}
