// GELU, exact erf form as torch.nn.functional.gelu: y = x Phi(x), Phi the
// normal CDF, Phi(x) = (1 + erf(x / sqrt 2)) / 2.
// x, y, dy, dx are flat arrays of n floats. Work-item g handles elements
// W g .. W g + W - 1 (fewer in the last one when n % W != 0) in floatW
// math (cl/vecw.cl): W = 16 on CPU devices, where PoCL then fills whole
// AVX-512 vectors (2.4x faster than 4), else 4.
//
// Phi is computed here, not from the built-in erf: PoCL's erf costs ~4 ns
// an element (the kernel ran 15x slower than a copy), and 1 + erf(x) loses
// all relative accuracy for x below about -4. Instead, with z = |x|/sqrt 2,
// erfc(z) = exp(-z^2) t Q(t), t = 1 / (1 + z/2), Q a degree-9 polynomial
// fitted (relative, weighted least squares) to erfcx(z) / t on z in [0, 10]
// (fit error 2e-8; beyond z = 10, exp(-z^2) is below 4e-44 and Q's smooth
// extrapolation keeps the product tiny). Phi(x) = erfc(z)/2 for x < 0 and
// 1 - erfc(z)/2 otherwise: relative accuracy in both tails, a few float
// ulps (tests/test_gelu.c measures it). x^2 is split exactly (fma) so the
// exp argument carries no rounding error.

#include "vecw.cl"

#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f

// Phi(x), and *e = exp(-x^2 / 2) (the backward's density needs it).
floatW normal_cdf(floatW x, floatW *e) {
    floatW a = fmin(fabs(x), 20.0f); // exp(-a^2 / 2) is 0 from 20 on; keeps h + l finite
    floatW t = 1.0f / (1.0f + 0.5f * INV_SQRT2 * a);
    floatW q = 1.228387747e-02f;
    q = q * t - 1.232546940e-01f;
    q = q * t + 4.289284050e-01f;
    q = q * t - 6.700224876e-01f;
    q = q * t + 4.212742746e-01f;
    q = q * t - 9.831763059e-02f;
    q = q * t + 2.255418599e-01f;
    q = q * t + 2.386448383e-01f;
    q = q * t + 2.828570306e-01f;
    q = q * t + 2.820644975e-01f;
    floatW h = a * a, l = fma(a, a, -h); // a^2 = h + l exactly
    *e = exp(-0.5f * h) * (1.0f - 0.5f * l);
    floatW half_erfc = 0.5f * t * q * *e;
    return select(1.0f - half_erfc, half_erfc, x < 0.0f);
}

// With has_bias, x (rows of C) first gets the bias b (C) added in place:
// the Linear before the GELU leaves its bias to this kernel, and the
// backward reads the biased x.
__kernel void gelu_forward(__global float *x, __global const float *b, __global float *y, const uint n,
                           const uint C, const uint has_bias) {
    uint i = get_global_id(0) * W;
    if (i >= n) return;
    floatW v = loadW(x, i, n), e;
    if (has_bias) {
        v += bias_W(b, i, C);
        storeW(x, i, n, v);
    }
    storeW(y, i, n, v * normal_cdf(v, &e));
}

// dx = dy * (Phi(x) + x phi(x)), phi the normal density.
__kernel void gelu_backward(__global const float *x, __global const float *dy, __global float *dx,
                            const uint n) {
    uint i = get_global_id(0) * W;
    if (i >= n) return;
    floatW v = loadW(x, i, n), e;
    floatW cdf = normal_cdf(v, &e);
    storeW(dx, i, n, loadW(dy, i, n) * (cdf + v * INV_SQRT_2PI * e));
}
