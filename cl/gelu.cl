// GELU, exact erf form as torch.nn.functional.gelu: y = x/2 (1 + erf(x/sqrt 2)).
// x, y, dy, dx are flat arrays of n floats.

#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f

__kernel void gelu_forward(__global const float *x, __global float *y, const uint n) {
    uint i = get_global_id(0);
    if (i >= n) return;
    float v = x[i];
    y[i] = 0.5f * v * (1.0f + erf(v * INV_SQRT2));
}

// dx = dy * (Phi(x) + x phi(x)), Phi the normal CDF and phi its density.
__kernel void gelu_backward(__global const float *x, __global const float *dy, __global float *dx,
                            const uint n) {
    uint i = get_global_id(0);
    if (i >= n) return;
    float v = x[i];
    float cdf = 0.5f * (1.0f + erf(v * INV_SQRT2));
    float pdf = INV_SQRT_2PI * exp(-0.5f * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
}
