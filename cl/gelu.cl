// GELU, exact erf form as torch.nn.functional.gelu: y = x/2 (1 + erf(x/sqrt 2)).
// x, y, dy, dx are flat arrays of n floats. Work-item g handles elements
// 4g..4g+3 (fewer in the last one when n % 4 != 0) in float4 math: on
// PoCL's CPU device that runs erf/exp vectorised, about 3x faster than one
// element per work-item.

#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f

// p[i..i+3], zeros past n.
float4 load4(__global const float *p, uint i, uint n) {
    if (i + 4u <= n) return vload4(0, p + i);
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (uint j = 0; i + j < n; j++) t[j] = p[i + j];
    return vload4(0, t);
}

// p[i..i+3] = v, only the elements below n.
void store4(__global float *p, uint i, uint n, float4 v) {
    if (i + 4u <= n) {
        vstore4(v, 0, p + i);
        return;
    }
    float t[4];
    vstore4(v, 0, t);
    for (uint j = 0; i + j < n; j++) p[i + j] = t[j];
}

// With has_bias, x (rows of C) first gets the bias b (C) added in place:
// the Linear before the GELU leaves its bias to this kernel, and the
// backward reads the biased x.
__kernel void gelu_forward(__global float *x, __global const float *b, __global float *y, const uint n,
                           const uint C, const uint has_bias) {
    uint i = get_global_id(0) * 4u;
    if (i >= n) return;
    float4 v = load4(x, i, n);
    if (has_bias) {
        uint c = i % C;
        if (c + 4u <= C) { // the four columns in one row
            v += vload4(0, b + c);
        } else {
            float t[4];
            for (uint j = 0; j < 4u; j++, c = c + 1u == C ? 0u : c + 1u) t[j] = b[c];
            v += vload4(0, t);
        }
        store4(x, i, n, v);
    }
    store4(y, i, n, 0.5f * v * (1.0f + erf(v * INV_SQRT2)));
}

// dx = dy * (Phi(x) + x phi(x)), Phi the normal CDF and phi its density.
__kernel void gelu_backward(__global const float *x, __global const float *dy, __global float *dx,
                            const uint n) {
    uint i = get_global_id(0) * 4u;
    if (i >= n) return;
    float4 v = load4(x, i, n);
    float4 cdf = 0.5f * (1.0f + erf(v * INV_SQRT2));
    float4 pdf = INV_SQRT_2PI * exp(-0.5f * v * v);
    store4(dx, i, n, load4(dy, i, n) * (cdf + v * pdf));
}
