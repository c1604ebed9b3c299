/* Training losses of Sketch-BERT, forward (a 1-element loss tensor written on
 * the device) and backward (gradients scaled by a host `upstream` weight, so
 * the caller applies the config loss weights; `accumulate` non-zero adds to
 * the gradient tensor instead of overwriting it).
 * kernels: cl/loss.cl; test: tests/test_loss.c
 * defines: SB_LOSS_GROUPS, SB_LOSS_WORK_FLOATS, sb_l1_loss_forward,
 *          sb_l1_loss_backward, sb_cross_entropy_forward,
 *          sb_cross_entropy_backward, sb_triplet_loss_forward,
 *          sb_triplet_loss_backward
 *
 * Reductions are deterministic on a given device: each work-group of a first
 * pass writes a partial (numerator, denominator) pair into `work`, and one
 * work-group sums them. `work` is a float32 tensor of at least
 * SB_LOSS_WORK_FLOATS elements; after any call here work[0] holds the loss
 * and work[1] its denominator. Each backward reruns its forward reduction
 * into `work` to get the denominator on the device, so it depends on no
 * earlier call.
 *
 * Where nothing is included (denominator 0) the loss and its gradient are 0;
 * PyTorch would give NaN for the mean of an empty selection.
 * Non-finite inputs in included entries propagate to the loss (NaN), so the
 * gradient-norm check of the training step sees them. */
#ifndef SB_OPS_LOSS_H
#define SB_OPS_LOSS_H

#include "tensor/tensor.h"

#define SB_LOSS_GROUPS 128
#define SB_LOSS_WORK_FLOATS (2 + 2 * SB_LOSS_GROUPS)

/* ---- masked L1: F.l1_loss(pred[sel], target[sel]) (mean), sel = mask != 0.
 * pred, target, mask: float32, all of one shape (e.g. (N, C) or (B, T, 5)).
 * loss = sum_i mask_i |pred_i - target_i| / sum_i mask_i, over all entries;
 * with a 0/1 mask that is the mean over the included entries (the count of
 * ones). Entries with mask 0 are never read, so they may hold anything.
 * mask_axis uses mask = 1 - input_mask on the dx, dy columns (0 elsewhere),
 * rec_axis mask = input_mask there.
 * dpred = upstream * mask * sign(pred - target) / sum mask (sign(0) = 0). */
int sb_l1_loss_forward(sb_runtime *rt, const sb_tensor *pred, const sb_tensor *target, const sb_tensor *mask,
                       const sb_tensor *work, const sb_tensor *loss);
int sb_l1_loss_backward(sb_runtime *rt, const sb_tensor *pred, const sb_tensor *target, const sb_tensor *mask,
                        const sb_tensor *work, float upstream, int accumulate, const sb_tensor *dpred);

/* ---- cross-entropy: nn.CrossEntropyLoss() (mean) over the rows with a
 * non-zero weight. logits: float32 (..., S), its leading dimensions are the
 * rows; the k classes of a row are columns [col, col + k) (col 0, k = S for a
 * plain (N, K) tensor; col 2, k = 3 for the pen-state logits inside the
 * (B, T, 5) reconstruction output). target: int32 with the leading shape,
 * class indices; weight: float32 with the leading shape.
 * loss = sum_r w_r (logsumexp(x_r) - x_r[t_r]) / sum_r w_r; with 0/1 weights
 * the mean over the included rows. The logits of rows with weight 0 are
 * never read and their target may be anything (e.g. -1); an included row
 * with a target outside [0, k) makes the loss and its gradient row NaN.
 * dlogits[r, col + j] = upstream * w_r (softmax(x_r)_j - [j == t_r]) / sum w;
 * columns outside the window are not touched. */
int sb_cross_entropy_forward(sb_runtime *rt, const sb_tensor *logits, int col, int k, const sb_tensor *target,
                             const sb_tensor *weight, const sb_tensor *work, const sb_tensor *loss);
int sb_cross_entropy_backward(sb_runtime *rt, const sb_tensor *logits, int col, int k, const sb_tensor *target,
                              const sb_tensor *weight, const sb_tensor *work, float upstream, int accumulate,
                              const sb_tensor *dlogits);

/* ---- triplet margin loss: nn.TripletMarginLoss(margin, p=2) (mean).
 * x: float32 (3 B, D), triplets interleaved: row 3b the anchor a_b, 3b + 1
 * its positive p_b, 3b + 2 its negative n_b.
 * loss = sum_b max(margin + |a_b - p_b + 1e-6| - |a_b - n_b + 1e-6|, 0) / B,
 * |.| the L2 norm over D (pairwise_distance with its eps added to the
 * difference). Gradients as torch: the hinge passes the gradient where its
 * argument is >= 0, and a zero distance contributes nothing; dx (3 B, D)
 * gets every row. */
int sb_triplet_loss_forward(sb_runtime *rt, const sb_tensor *x, float margin, const sb_tensor *work,
                            const sb_tensor *loss);
int sb_triplet_loss_backward(sb_runtime *rt, const sb_tensor *x, float margin, float upstream, int accumulate,
                             const sb_tensor *dx);

#endif
