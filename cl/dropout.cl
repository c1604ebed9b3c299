// Dropout with a counter-based RNG: the keep mask is a pure function of
// (seed, stream, element index), the same on every device and recomputed in
// the backward instead of stored. Philox4x32-10 (Random123) in 32-bit integer
// ops; the host copy is src/ops/philox.c and must stay bit-identical.
// x, y are flat arrays of n floats; work-item g handles elements 4g..4g+3,
// using the four words of Philox(counter = {g, 0, stream_lo, stream_hi},
// key = {seed_lo, seed_hi}).

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

uint4 philox4x32_10(uint4 c, uint2 k) {
    for (int r = 0; r < 10; r++) {
        if (r > 0) k += (uint2)(PHILOX_W0, PHILOX_W1);
        uint hi0 = mul_hi(PHILOX_M0, c.x), lo0 = PHILOX_M0 * c.x;
        uint hi1 = mul_hi(PHILOX_M1, c.z), lo1 = PHILOX_M1 * c.z;
        c = (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

// y[i] = x[i] * scale if its word >= threshold, else 0; scale = 1 / (1 - p).
// The backward is the same map applied to dy, so both directions launch
// this kernel. x may equal y.
__kernel void dropout_apply(__global const float *x, __global float *y, const uint n, const uint seed_lo,
                            const uint seed_hi, const uint stream_lo, const uint stream_hi,
                            const uint threshold, const float scale) {
    uint g = get_global_id(0);
    uint base = g * 4u;
    if (g >= (n + 3u) / 4u) return;
    uint4 r = philox4x32_10((uint4)(g, 0u, stream_lo, stream_hi), (uint2)(seed_lo, seed_hi));
    uint words[4] = {r.x, r.y, r.z, r.w};
    for (uint j = 0; j < 4u && base + j < n; j++) y[base + j] = words[j] >= threshold ? x[base + j] * scale : 0.0f;
}
