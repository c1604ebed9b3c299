// Dropout with a counter-based RNG (cl/philox.cl): the keep mask is
// a pure function of (seed, stream, element index), the same on every
// device and recomputed in the backward instead of stored.
// x, y are flat arrays of n floats; work-item g handles elements 4g..4g+3,
// the four words of Philox block g.

#include "philox.cl"

// y[i] = x[i] * scale if the word of element offset + i >= threshold, else
// 0; scale = 1 / (1 - p). The backward is the same map applied to dy, so
// both directions launch this kernel. x may equal y. Whole blocks go
// through float4 loads, stores and select (on PoCL 1.5x less CPU time than
// an element loop); an offset that is not a multiple of 4 splits blocks, so
// it takes the element loop.
__kernel void dropout_apply(__global const float *x, __global float *y, const uint n, const uint seed_lo,
                            const uint seed_hi, const uint stream_lo, const uint stream_hi,
                            const uint threshold, const float scale, const uint off_lo, const uint off_hi) {
    uint g = get_global_id(0);
    uint base = g * 4u;
    if (g >= (n + 3u) / 4u) return;
    uint4 key = (uint4)(seed_lo, seed_hi, stream_lo, stream_hi);
    ulong off = ((ulong)off_hi << 32) | off_lo;
    if ((off & 3u) == 0u) {
        uint4 r = dropout_block(key, g + off / 4u);
        if (base + 4u <= n) {
            vstore4(select((float4)(0.0f), vload4(g, x) * scale, r >= (uint4)(threshold)), g, y);
            return;
        }
        uint words[4] = {r.x, r.y, r.z, r.w};
        for (uint j = 0; base + j < n; j++) y[base + j] = words[j] >= threshold ? x[base + j] * scale : 0.0f;
        return;
    }
    ulong block = ULONG_MAX;
    uint4 words = (uint4)(0u);
    for (uint j = 0; j < 4u && base + j < n; j++)
        y[base + j] = dropout_elem(key, threshold, scale, off + base + j, x[base + j], &block, &words);
}
