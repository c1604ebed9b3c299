/* LayerNorm over the last dimension (torch.nn.LayerNorm: affine, biased
 * variance), forward and backward.
 * x, y, dy, dx are (..., C); all leading dimensions fold into N rows.
 * kernels: cl/layernorm.cl; test: tests/test_layernorm.c
 * defines: sb_layernorm_forward, sb_layernorm_backward */
#ifndef SB_OPS_LAYERNORM_H
#define SB_OPS_LAYERNORM_H

#include "tensor/tensor.h"

/* y = (x - mean) / sqrt(var + eps) * gamma + beta per row; gamma and beta
 * are (C), eps >= 0. Saves mean and rstd = 1 / sqrt(var + eps), both (N),
 * for the backward. y has x's shape. */
int sb_layernorm_forward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *gamma, const sb_tensor *beta,
                         float eps, const sb_tensor *y, const sb_tensor *mean, const sb_tensor *rstd);
/* dx (x's shape) from dy and the forward's x, mean and rstd; dgamma and
 * dbeta (C) summed over the rows, added to their old contents when
 * accumulate_params is set (shared parameters), else overwritten. dx is
 * always overwritten. Deterministic (no atomics). */
int sb_layernorm_backward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *gamma, const sb_tensor *mean,
                          const sb_tensor *rstd, const sb_tensor *dy, const sb_tensor *dx, const sb_tensor *dgamma,
                          const sb_tensor *dbeta, int accumulate_params);

#endif
