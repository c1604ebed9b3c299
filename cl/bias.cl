// Bias add and its gradient, as the bias of torch.nn.Linear.
// x, y, dy are (N, C) row-major (N = all leading dimensions); b, db are (C).

#include "vecw.cl"

// y = x + b, broadcast over rows; n = N * C. y may be x (in place).
// Work-item g takes elements W g .. W g + W - 1 (cl/vecw.cl: one modulo
// per block, not per element).
__kernel void bias_forward(__global const float *x, __global const float *b, __global float *y, const uint C,
                           const uint n) {
    uint i = get_global_id(0) * W;
    if (i >= n) return;
    storeW(y, i, n, loadW(x, i, n) + bias_W(b, i, C));
}

// db[c] = sum_n dy[n, c], or db[c] += that sum when accumulate is set.
// Fixed order, no atomics: deterministic. Two launch shapes
// (sb_row_variant): _wg work-groups are tiles of TC columns by TR row lanes
// (TR a power of two): lane r sums rows r, r + TR, ..., then a tree over
// the lanes in local memory (scratch holds TC * TR floats); _item (CPU
// devices) takes no barriers: work-item g sums columns 16 g .. 16 g + 15
// down all rows, a float16 per row, so it reads rows contiguously (one
// work-item per column strode C floats per add: 10x slower on PoCL).

// Sum of column c over rows n0, n0 + step, ...
float col_sum(__global const float *dy, uint N, uint C, uint c, uint n0, uint step) {
    float s = 0.0f;
    for (uint n = n0; n < N; n += step) s += dy[(size_t)n * C + c];
    return s;
}

__kernel void bias_backward_wg(__global const float *dy, __global float *db, const uint N, const uint C,
                               const int accumulate, __local float *scratch) {
    uint c = get_global_id(0), lc = get_local_id(0), r = get_local_id(1);
    uint TC = get_local_size(0), TR = get_local_size(1);
    float s = c < C ? col_sum(dy, N, C, c, r, TR) : 0.0f;
    __local float *p = scratch + lc; // this column's lanes, TC apart
    p[r * TC] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = TR >> 1; h > 0; h >>= 1) {
        if (r < h) p[r * TC] += p[(r + h) * TC];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (r == 0 && c < C) db[c] = accumulate ? db[c] + p[0] : p[0];
}

__kernel void bias_backward_item(__global const float *dy, __global float *db, const uint N, const uint C,
                                 const int accumulate) {
    uint c = get_global_id(0) * 16u;
    if (c + 16u <= C) {
        float16 s = 0.0f;
        for (uint n = 0; n < N; n++) s += vload16(0, dy + (size_t)n * C + c);
        vstore16(accumulate ? vload16(0, db + c) + s : s, 0, db + c);
        return;
    }
    for (; c < C; c++) { // the last columns when C % 16 != 0
        float s = col_sum(dy, N, C, c, 0, 1);
        db[c] = accumulate ? db[c] + s : s;
    }
}
