/* Seeded host random numbers (see rng.h). xoshiro256** and splitmix64 are
 * the public-domain generators of Blackman and Vigna, written out here. */
#include "data/rng.h"

#include <math.h>

static uint64_t splitmix64_next(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void sb_rng_seed(sb_rng *r, uint64_t seed) {
    uint64_t x = seed;
    /* Four consecutive splitmix64 outputs are never all zero. */
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64_next(&x);
}

void sb_rng_seed_key(sb_rng *r, uint64_t seed, uint64_t a, uint64_t b) {
    /* Chain the words through splitmix64 so (seed, a, b) and (seed, b, a)
     * differ. */
    uint64_t x = seed;
    uint64_t h = splitmix64_next(&x);
    x = h ^ a;
    h = splitmix64_next(&x);
    x = h ^ b;
    h = splitmix64_next(&x);
    sb_rng_seed(r, h);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sb_rng_u64(sb_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint32_t sb_rng_below(sb_rng *r, uint32_t n) {
    if (n == 0) return 0;
    uint64_t m = (sb_rng_u64(r) >> 32) * (uint64_t)n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n; /* 2^32 mod n */
        while (low < threshold) {
            m = (sb_rng_u64(r) >> 32) * (uint64_t)n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double sb_rng_uniform(sb_rng *r) { return (double)(sb_rng_u64(r) >> 11) * 0x1.0p-53; }

double sb_rng_normal(sb_rng *r) {
    double u1 = 1.0 - sb_rng_uniform(r); /* in (0, 1]: log is finite */
    double u2 = sb_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void sb_rng_choose(sb_rng *r, int32_t *pool, size_t n, size_t k) {
    if (k > n) k = n;
    for (size_t i = 0; i < k && i + 1 < n; i++) {
        size_t j = i + sb_rng_below(r, (uint32_t)(n - i));
        int32_t t = pool[i];
        pool[i] = pool[j];
        pool[j] = t;
    }
}

void sb_rng_shuffle(sb_rng *r, int32_t *a, size_t n) { sb_rng_choose(r, a, n, n); }
