// Elementwise sum for residual connections and gradient accumulation.
// a, b, out are flat arrays of n floats; out may be a or b.

__kernel void residual_add(__global const float *a, __global const float *b, __global float *out, const uint n) {
    uint i = get_global_id(0);
    if (i >= n) return;
    out[i] = a[i] + b[i];
}
