/* Shape checks shared by the op launchers: each failure is an
 * SB_ERR_INVALID naming the op, the tensor and both shapes.
 * defines: sb_check_same_numel, sb_check_shape, sb_check_dim_match, sb_check_f32,
 *          sb_check_uint */
#ifndef SB_OPS_CHECK_H
#define SB_OPS_CHECK_H

#include "tensor/tensor.h"

/* a and b hold the same number of elements. */
int sb_check_same_numel(const char *op, const sb_tensor *a, const sb_tensor *b);
/* t has exactly this shape. */
int sb_check_shape(const char *op, const sb_tensor *t, int ndim, const int *shape);
/* Dimension da of a equals dimension db of b; a negative index counts from
 * the end (-1 is the last). The message names both tensors. */
int sb_check_dim_match(const char *op, const sb_tensor *a, int da, const sb_tensor *b, int db);
/* t is float32 and allocated. */
int sb_check_f32(const char *op, const sb_tensor *t);
/* Element counts handed to kernels as uint must fit. */
int sb_check_uint(const char *op, const char *what, size_t n);

#endif
