/* Philox4x32-10 counter-based RNG (Salmon et al., SC 2011; Random123) on
 * the host, bit for bit the same as the OpenCL copy in cl/philox.cl, and
 * the dropout keep decision built on it, so tests and CPU code can recompute
 * any device dropout mask.
 * defines: sb_rng_key, SB_PHILOX_M0 .. W1, sb_philox4x32_10, sb_dropout_threshold,
 *          sb_dropout_keep */
#ifndef SB_OPS_PHILOX_H
#define SB_OPS_PHILOX_H

#include <stddef.h>
#include <stdint.h>

/* What a random stream depends on: seed (the run) and stream (the caller
 * combines e.g. training step and tensor id into it). */
typedef struct sb_rng_key {
    uint64_t seed, stream;
    /* element i of a tensor draws the word of element offset + i: a
     * data-parallel rank passes where its slice starts in the global
     * batch, so its masks are those of one process with that batch */
    uint64_t offset;
    /* a sequence tensor trimmed to its first seq tokens per sketch
     * (src/model/model.c) draws the words of those tokens in the tensor of
     * full_seq tokens, so trimming changes no mask; 0, 0: not trimmed.
     * The ops that take it say how (LayerNorm rows, attention
     * probabilities); sb_dropout_keep ignores it. */
    uint32_t seq, full_seq;
} sb_rng_key;

/* Philox4x32-10's multipliers and key increments (Random123). */
#define SB_PHILOX_M0 0xD2511F53u
#define SB_PHILOX_M1 0xCD9E8D57u
#define SB_PHILOX_W0 0x9E3779B9u
#define SB_PHILOX_W1 0xBB67AE85u

/* out = Philox4x32-10(counter ctr, key k). */
void sb_philox4x32_10(const uint32_t ctr[4], const uint32_t k[2], uint32_t out[4]);

/* Element i is dropped when its 32-bit random word is below this threshold
 * round(p * 2^32), so the keep probability is 1 - threshold / 2^32 and the
 * decision is integer-exact on every device. p must be in [0, 1). */
uint32_t sb_dropout_threshold(float p);

/* 1 if element i of a tensor is kept under (key, threshold): word j % 4 of
 * Philox(counter = {j / 4 (64 bits), stream (64 bits)}, key = seed), j =
 * key.offset + i. */
int sb_dropout_keep(sb_rng_key key, uint32_t threshold, uint64_t i);

#endif
