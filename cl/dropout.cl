// Dropout with a counter-based RNG: the keep mask is a pure function of
// (seed, stream, element index), the same on every device and recomputed in
// the backward instead of stored (cl/philox.cl draws it).
// x, y are flat arrays of n floats; work-item g handles elements 4g..4g+3,
// the four words of dropout_words(g).

#include "philox.cl"

// y[i] = x[i] * scale if its word >= threshold, else 0; scale = 1 / (1 - p).
// The backward is the same map applied to dy, so both directions launch
// this kernel. x may equal y.
__kernel void dropout_apply(__global const float *x, __global float *y, const uint n, const uint seed_lo,
                            const uint seed_hi, const uint stream_lo, const uint stream_hi,
                            const uint threshold, const float scale) {
    uint g = get_global_id(0);
    uint base = g * 4u;
    if (g >= (n + 3u) / 4u) return;
    uint4 r = dropout_words(g, (uint4)(seed_lo, seed_hi, stream_lo, stream_hi));
    uint words[4] = {r.x, r.y, r.z, r.w};
    for (uint j = 0; j < 4u && base + j < n; j++) y[base + j] = words[j] >= threshold ? x[base + j] * scale : 0.0f;
}
