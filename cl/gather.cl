// Strided block gather and its gradient scatter. y is `count` contiguous
// blocks of `len` floats; block i of y is x[x_offset + i * x_stride + j],
// j < len. Used to take the task-token rows out of the encoder output
// (B, Tin, H) and the sequence rows after them.

__kernel void gather_forward(__global const float *x, __global float *y, const uint count, const uint len,
                             const uint x_offset, const uint x_stride) {
    uint j = get_global_id(0), i = get_global_id(1);
    if (j >= len || i >= count) return;
    y[i * len + j] = x[x_offset + i * x_stride + j];
}

// dx[x_offset + i * x_stride + j] = dy[i * len + j] (+ its old value when
// accumulate != 0); elements of dx outside the blocks are not touched.
__kernel void gather_backward(__global const float *dy, __global float *dx, const uint count, const uint len,
                              const uint x_offset, const uint x_stride, const uint accumulate) {
    uint j = get_global_id(0), i = get_global_id(1);
    if (j >= len || i >= count) return;
    uint at = x_offset + i * x_stride + j;
    float g = dy[i * len + j];
    dx[at] = accumulate ? dx[at] + g : g;
}
