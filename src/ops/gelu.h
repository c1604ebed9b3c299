/* GELU activation (exact erf form), forward and backward.
 * kernels: cl/gelu.cl; test: tests/test_gelu.c
 * defines: sb_gelu_forward, sb_gelu_backward */
#ifndef SB_OPS_GELU_H
#define SB_OPS_GELU_H

#include "tensor/tensor.h"

/* y = gelu(x); x and y have the same number of elements. With a bias b
 * (C, x's last dimension), x += b first, in place (the bias of the Linear
 * before, fused; the backward takes that x). y is not x's buffer then. */
int sb_gelu_forward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *b, const sb_tensor *y);
/* dx = dy * gelu'(x). */
int sb_gelu_backward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *dy, const sb_tensor *dx);

#endif
