/* Adam / AdamW optimizer step on one flat parameter tensor and its state.
 * kernels: cl/adam.cl; test: tests/test_adam.c
 * defines: sb_adam_config, sb_adam_step */
#ifndef SB_OPS_ADAM_H
#define SB_OPS_ADAM_H

#include "tensor/tensor.h"

typedef struct sb_adam_config {
    double lr;           /* learning rate (the original: 1e-4) */
    double beta1, beta2; /* torch defaults 0.9, 0.999 */
    double eps;          /* torch default 1e-8 */
    double weight_decay; /* 0 = none */
    int decoupled;       /* 0: Adam (weight_decay * param added to the gradient);
                            1: AdamW (param *= 1 - lr * weight_decay first) */
} sb_adam_config;

/* One step of torch.optim.Adam / AdamW (amsgrad off) on param, given its
 * gradient; m and v are the first and second moment state, zero before step
 * 1. step is the 1-based step number (torch's state["step"] after its
 * increment). All four tensors are float32 with the same element count;
 * grad is only read. Bias corrections are computed here in double. */
int sb_adam_step(sb_runtime *rt, const sb_adam_config *cfg, long step, const sb_tensor *param, const sb_tensor *grad,
                 const sb_tensor *m, const sb_tensor *v);

#endif
