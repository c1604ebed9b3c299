// Adam and AdamW update of one flat parameter tensor, as torch.optim.Adam /
// AdamW (amsgrad off). param, grad, m (exp_avg), v (exp_avg_sq) are n floats.
// Per element, with g = grad (+ l2 * param for Adam's weight_decay):
//   param *= decay                      (AdamW: 1 - lr * weight_decay, else 1)
//   m = m + (1 - beta1) (g - m)         (torch's lerp form)
//   v = beta2 v + (1 - beta2) g^2
//   param -= step_size m / (sqrt(v) * inv_bc2_sqrt + eps)
// with step_size = lr / (1 - beta1^t) and inv_bc2_sqrt = 1 / sqrt(1 - beta2^t)
// computed on the host in double.

__kernel void adam_step(__global float *param, __global const float *grad, __global float *m,
                        __global float *v, const uint n, const float beta2, const float one_minus_beta1,
                        const float one_minus_beta2, const float eps, const float l2, const float decay,
                        const float step_size, const float inv_bc2_sqrt) {
    uint i = get_global_id(0);
    if (i >= n) return;
    float p = param[i], g = grad[i];
    if (l2 != 0.0f) g += l2 * p;
    p *= decay;
    float mi = m[i] + one_minus_beta1 * (g - m[i]);
    float vi = beta2 * v[i] + one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - step_size * mi / (sqrt(vi) * inv_bc2_sqrt + eps);
}
