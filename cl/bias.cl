// Bias add and its gradient, as the bias of torch.nn.Linear.
// x, y, dy are (N, C) row-major (N = all leading dimensions); b, db are (C).

// y = x + b, broadcast over rows; n = N * C. y may be x (in place).
__kernel void bias_forward(__global const float *x, __global const float *b, __global float *y, const uint C,
                           const uint n) {
    uint i = get_global_id(0);
    if (i >= n) return;
    y[i] = x[i] + b[i % C];
}

// db[c] = sum_n dy[n, c], or db[c] += that sum when accumulate is set.
// Work-groups are tiles of TC columns by TR row lanes (TR a power of two):
// lane r sums rows r, r + TR, ..., then a tree over the lanes in local
// memory (scratch holds TC * TR floats). Fixed order: deterministic.
__kernel void bias_backward(__global const float *dy, __global float *db, const uint N, const uint C,
                            const int accumulate, __local float *scratch) {
    uint c = get_global_id(0), lc = get_local_id(0), r = get_local_id(1);
    uint TC = get_local_size(0), TR = get_local_size(1);
    float s = 0.0f;
    if (c < C)
        for (uint n = r; n < N; n += TR) s += dy[(size_t)n * C + c];
    __local float *p = scratch + lc; // this column's lanes, TC apart
    p[r * TC] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = TR >> 1; h > 0; h >>= 1) {
        if (r < h) p[r * TC] += p[(r + h) * TC];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (r == 0 && c < C) db[c] = accumulate ? db[c] + p[0] : p[0];
}
