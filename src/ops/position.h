/* Learned position embedding: y (B, T, C) = x + pos[t], pos (Tmax, C) with
 * T <= Tmax (the first T rows are used).
 * The gradient with respect to x is dy itself (identity): a caller passes
 * dy on unchanged, or adds it with sb_accumulate.
 * kernels: cl/position.cl (backward; the forward is bias_forward of
 * cl/bias.cl over the flattened T * C positions); test: tests/test_position.c
 * defines: sb_position_forward, sb_position_backward */
#ifndef SB_OPS_POSITION_H
#define SB_OPS_POSITION_H

#include "tensor/tensor.h"

/* y = x + pos[t] for each batch row; y may be x (in place). */
int sb_position_forward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *pos, const sb_tensor *y);
/* dpos[t] = sum over the batch of dy[b, t] for t < T, zero for the unused
 * rows t >= T; with accumulate set, added to dpos's old contents instead.
 * Deterministic (no atomics). */
int sb_position_backward(sb_runtime *rt, const sb_tensor *dy, const sb_tensor *dpos, int accumulate);

#endif
