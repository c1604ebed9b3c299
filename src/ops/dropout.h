/* Dropout, forward and backward, with the keep mask drawn from a
 * counter-based RNG (Philox4x32-10, see ops/philox.h): kept elements are
 * scaled by 1 / (1 - p) as in PyTorch, and the backward recomputes the mask
 * from the same key instead of storing it.
 * kernels: cl/dropout.cl; test: tests/test_dropout.c
 * defines: sb_dropout_forward, sb_dropout_backward */
#ifndef SB_OPS_DROPOUT_H
#define SB_OPS_DROPOUT_H

#include "ops/philox.h"
#include "tensor/tensor.h"

/* y = x * keep / (1 - p), keep[i] = sb_dropout_keep(key, threshold(p), i);
 * x and y have the same number of elements and may be the same tensor.
 * p must be in [0, 1); p = 0 gives an exact copy. */
int sb_dropout_forward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *y, float p, sb_rng_key key);
/* dx = dy * keep / (1 - p) with the mask of the forward under the same key
 * and p; dy and dx may be the same tensor. */
int sb_dropout_backward(sb_runtime *rt, const sb_tensor *dy, const sb_tensor *dx, float p, sb_rng_key key);

#endif
