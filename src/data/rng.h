/* Seeded host random numbers: xoshiro256** seeded through splitmix64.
 * Used for SGM masks, data shuffles, triplet sampling and synthetic
 * sketches; never for anything cryptographic. The same seed (or key) gives
 * the same stream on every platform.
 * defines: sb_rng, sb_rng_seed, sb_rng_seed_key, sb_rng_u64, sb_rng_below,
 *          sb_rng_uniform, sb_rng_normal, sb_rng_shuffle, sb_rng_choose */
#ifndef SB_DATA_RNG_H
#define SB_DATA_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct sb_rng {
    uint64_t s[4]; /* xoshiro256** state, never all zero */
} sb_rng;

/* One stream per seed. */
void sb_rng_seed(sb_rng *r, uint64_t seed);

/* An independent stream for a key, e.g. (seed, step, sketch index): the
 * three words are hashed together, so nearby keys give unrelated streams
 * and the result does not depend on what was drawn before. */
void sb_rng_seed_key(sb_rng *r, uint64_t seed, uint64_t a, uint64_t b);

/* 64 uniform random bits. */
uint64_t sb_rng_u64(sb_rng *r);

/* Uniform integer in [0, n) without modulo bias (Lemire's multiply and
 * reject); n must be > 0 (n == 0 returns 0). */
uint32_t sb_rng_below(sb_rng *r, uint32_t n);

/* Uniform double in [0, 1) with 53 random bits. */
double sb_rng_uniform(sb_rng *r);

/* Standard normal (Box-Muller, one value per call). */
double sb_rng_normal(sb_rng *r);

/* Uniform random permutation of a[0..n) (Fisher-Yates). */
void sb_rng_shuffle(sb_rng *r, int32_t *a, size_t n);

/* Choose k of n: permutes pool[0..n) in place so that pool[0..k) is a
 * uniformly random k-subset of the items, in random order (partial
 * Fisher-Yates, k draws, no allocation). k > n is treated as k = n;
 * n must be below 2^32. */
void sb_rng_choose(sb_rng *r, int32_t *pool, size_t n, size_t k);

#endif
