/* LayerNorm over the last dimension (torch.nn.LayerNorm: affine, biased
 * variance), forward and backward, with the encoder's bias + dropout +
 * residual in front fused into the same kernels.
 * x, y, dy, dx are (..., C); all leading dimensions fold into N rows.
 * kernels: cl/layernorm.cl (includes cl/philox.cl); test:
 * tests/test_layernorm.c
 * defines: sb_ln_pre, sb_ln_dz, sb_layernorm_forward, sb_layernorm_backward */
#ifndef SB_OPS_LAYERNORM_H
#define SB_OPS_LAYERNORM_H

#include "ops/philox.h"
#include "tensor/tensor.h"

/* What comes before the LayerNorm in an encoder output block: its input is
 * sum = dropout(x + bias) + residual (dropout as sb_dropout_forward keys
 * it: the same mask for the same p and key), written to `sum` for the
 * backward. */
/* A key with seq, full_seq set (a batch trimmed to seq of full_seq tokens)
 * sees the rows as (N / seq, seq, C) and keys element (g, t, c) as element
 * (g * full_seq + t) * C + c of the untrimmed tensor. */
typedef struct sb_ln_pre {
    const sb_tensor *bias;     /* (C) */
    const sb_tensor *residual; /* x's shape; not the same buffer as sum */
    const sb_tensor *sum;      /* x's shape; may be x (in place) */
    float p;                   /* in [0, 1); 0 = no dropout */
    sb_rng_key key;
} sb_ln_pre;

/* The backward's matching output: dz = dropout(dx) under the same p and
 * key, the gradient of x + bias (the bias gradient and the GEMMs take it). */
typedef struct sb_ln_dz {
    const sb_tensor *dz; /* dx's shape, not dx's buffer */
    float p;
    sb_rng_key key;
} sb_ln_dz;

/* y = (u - mean) / sqrt(var + eps) * gamma + beta per row, u = x, or with
 * pre the sum above; gamma and beta are (C), eps >= 0. Saves mean and rstd
 * = 1 / sqrt(var + eps), both (N), for the backward. y has x's shape. */
int sb_layernorm_forward(sb_runtime *rt, const sb_tensor *x, const sb_ln_pre *pre, const sb_tensor *gamma,
                         const sb_tensor *beta, float eps, const sb_tensor *y, const sb_tensor *mean,
                         const sb_tensor *rstd);
/* dx (x's shape) from dy and the forward's input x (pre's sum when fused),
 * mean and rstd, and with dz also dz; dgamma and dbeta (C) summed over the
 * rows, added to their old contents when accumulate_params is set (shared
 * parameters), else overwritten. dx is always overwritten. Deterministic
 * (no atomics). */
int sb_layernorm_backward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *gamma, const sb_tensor *mean,
                          const sb_tensor *rstd, const sb_tensor *dy, const sb_tensor *dx, const sb_ln_dz *dz,
                          const sb_tensor *dgamma, const sb_tensor *dbeta, int accumulate_params);

#endif
