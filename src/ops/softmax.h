/* Masked scaled softmax over the last dim (BERT attention probabilities),
 * forward and backward. B batch, heads attention heads, BH = B * heads,
 * T tokens.
 * kernels: cl/softmax.cl; test: tests/test_softmax.c
 * defines: sb_softmax_forward, sb_softmax_backward */
#ifndef SB_OPS_SOFTMAX_H
#define SB_OPS_SOFTMAX_H

#include "tensor/tensor.h"

/* scores and probs are (BH, T, T), mask is (B, T) float (1 = real token,
 * 0 = padding), BH a multiple of B (batch item b owns rows b*heads .. ):
 * probs[r, i, j] = softmax_j(scale * scores[r, i, j] + (1 - mask[b, j]) * -10000).
 * probs may be the same tensor as scores. */
int sb_softmax_forward(sb_runtime *rt, const sb_tensor *scores, const sb_tensor *mask, const sb_tensor *probs,
                       float scale);
/* dscores = scale * probs * (dprobs - sum_j dprobs * probs), all (BH, T, T);
 * the gradient with respect to the unscaled scores. dscores may be the same
 * tensor as dprobs. */
int sb_softmax_backward(sb_runtime *rt, const sb_tensor *probs, const sb_tensor *dprobs, const sb_tensor *dscores,
                        float scale);

#endif
