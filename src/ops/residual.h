/* Residual connection (out = a + b) and gradient accumulation (dst += src).
 * The backward of a residual is the identity: d out flows unchanged to both
 * a and b, so there is no backward kernel; a layer adds that gradient to
 * the one from its other branch with sb_accumulate.
 * kernels: cl/residual.cl; test: tests/test_residual.c
 * defines: sb_add, sb_accumulate */
#ifndef SB_OPS_RESIDUAL_H
#define SB_OPS_RESIDUAL_H

#include "tensor/tensor.h"

/* out = a + b elementwise; all hold the same number of elements. out may be
 * a or b (in place). */
int sb_add(sb_runtime *rt, const sb_tensor *a, const sb_tensor *b, const sb_tensor *out);
/* dst += src; same number of elements. */
int sb_accumulate(sb_runtime *rt, const sb_tensor *dst, const sb_tensor *src);

#endif
