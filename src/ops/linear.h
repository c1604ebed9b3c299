/* Fully connected layer as torch.nn.Linear: y = x W^T + b.
 * x is (..., in) with all leading dimensions folded into N rows, W is
 * (out, in) like PyTorch, b is (out) or NULL, y is x's shape with out as
 * the last dimension. GEMMs through CLBlast (ops/gemm.h), bias by ops/bias.h.
 * test: tests/test_linear.c
 * defines: sb_linear_forward, sb_linear_backward */
#ifndef SB_OPS_LINEAR_H
#define SB_OPS_LINEAR_H

#include "tensor/tensor.h"

/* y = x W^T (+ b when b is not NULL). */
int sb_linear_forward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *W, const sb_tensor *b,
                      const sb_tensor *y);
/* dx = dy W (skipped when dx is NULL), dW = dy^T x, db = sum of dy over the
 * rows (skipped when db is NULL). With accumulate_dx set, dx is added to
 * (several layers reading the same input, as Q, K and V do); with
 * accumulate_params set, dW and db are added to (layers sharing weights,
 * ALBERT-style); otherwise they are overwritten. */
int sb_linear_backward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *W, const sb_tensor *dy,
                       const sb_tensor *dx, const sb_tensor *dW, const sb_tensor *db, int accumulate_dx,
                       int accumulate_params);

#endif
