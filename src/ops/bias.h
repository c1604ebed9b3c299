/* Bias add (broadcast over rows) and its gradient (column sums).
 * kernels: cl/bias.cl; test: tests/test_bias.c
 * defines: sb_bias_add, sb_bias_grad */
#ifndef SB_OPS_BIAS_H
#define SB_OPS_BIAS_H

#include "tensor/tensor.h"

/* y = x + b: x and y have x's shape (..., C), b is (C). y may be x. The
 * gradient with respect to x is dy itself. */
int sb_bias_add(sb_runtime *rt, const sb_tensor *x, const sb_tensor *b, const sb_tensor *y);
/* db = sum of dy (..., C) over all leading dimensions, db is (C); with
 * accumulate set, db += that sum. Deterministic (no atomics). */
int sb_bias_grad(sb_runtime *rt, const sb_tensor *dy, const sb_tensor *db, int accumulate);

#endif
