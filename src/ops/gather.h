/* Strided block gather: y (count, len) takes block i from x at
 * x_offset + i * x_stride, and the backward scatters dy back there. With
 * x the encoder output (B, Tin, H): the token row r of every sketch is
 * {count B, len H, offset r * H, stride Tin * H}; the T sequence rows after
 * K tokens are {B, T * H, K * H, Tin * H}; rows [r0, r0 + n) of a (N, D)
 * tensor are {1, n * D, r0 * D, 0}.
 * kernels: cl/gather.cl; test: tests/test_gather.c
 * defines: sb_gather_layout, sb_gather_forward, sb_gather_backward */
#ifndef SB_OPS_GATHER_H
#define SB_OPS_GATHER_H

#include "tensor/tensor.h"

typedef struct sb_gather_layout {
    size_t count, len;        /* blocks, floats per block */
    size_t x_offset, x_stride; /* in elements of x */
} sb_gather_layout;

/* y = the blocks of x, in order; y holds exactly count * len elements and
 * every block must lie inside x. */
int sb_gather_forward(sb_runtime *rt, const sb_tensor *x, const sb_gather_layout *at, const sb_tensor *y);
/* The blocks of dx = dy (added to their old values when accumulate is
 * set); the rest of dx is not touched, so a caller that gathers several
 * parts of one tensor zeroes dx first or covers it entirely. */
int sb_gather_backward(sb_runtime *rt, const sb_tensor *dy, const sb_gather_layout *at, const sb_tensor *dx,
                       int accumulate);

#endif
