/* GELU activation (exact erf form), forward and backward.
 * kernels: cl/gelu.cl; test: tests/test_gelu.c
 * defines: sb_gelu_forward, sb_gelu_backward */
#ifndef SB_OPS_GELU_H
#define SB_OPS_GELU_H

#include "tensor/tensor.h"

/* y = gelu(x); x and y have the same number of elements. */
int sb_gelu_forward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *y);
/* dx = dy * gelu'(x). */
int sb_gelu_backward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *dy, const sb_tensor *dx);

#endif
