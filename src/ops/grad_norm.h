/* Global gradient L2 norm over a list of tensors, and clipping by it as
 * torch.nn.utils.clip_grad_norm_(params, max_norm) (norm_type 2), computed
 * and applied on the device without a host round-trip.
 * kernels: cl/grad_norm.cl; test: tests/test_grad_norm.c
 * defines: SB_GRAD_NORM_GROUPS, sb_grad_norm, sb_grad_clip, sb_grad_norm_read */
#ifndef SB_OPS_GRAD_NORM_H
#define SB_OPS_GRAD_NORM_H

#include "tensor/tensor.h"

/* At most this many partial sums per tensor: `work` for `count` tensors
 * holds at least count * SB_GRAD_NORM_GROUPS floats. */
#define SB_GRAD_NORM_GROUPS 64

/* norm[0] = sqrt(sum over the tensors of sum g^2), as torch's total_norm
 * (the 2-norm of the per-tensor 2-norms). grads: `count` float32 tensors;
 * norm: a 1-element float32 tensor. Deterministic on a given device. A NaN
 * or Inf anywhere makes the norm NaN or Inf. */
int sb_grad_norm(sb_runtime *rt, const sb_tensor *const *grads, int count, const sb_tensor *work,
                 const sb_tensor *norm);

/* Scales every tensor by coef = max_norm / (norm[0] + 1e-6) where coef < 1,
 * reading the norm on the device (as torch, which multiplies by
 * min(coef, 1)). A NaN norm leaves the gradients unchanged, an Inf one sets
 * the finite entries to 0 (as torch); the caller reads the norm back with
 * sb_grad_norm_read and skips the step when it is not finite. */
int sb_grad_clip(sb_runtime *rt, const sb_tensor *const *grads, int count, const sb_tensor *norm, float max_norm);

/* Blocking read of norm[0], for logging and NaN/Inf detection. */
int sb_grad_norm_read(sb_runtime *rt, const sb_tensor *norm, float *value);

#endif
