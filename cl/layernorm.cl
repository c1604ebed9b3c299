// LayerNorm over the last dimension, as torch.nn.LayerNorm (affine, biased
// variance): y = (x - mean) * rstd * gamma + beta, rstd = 1 / sqrt(var + eps).
// x, y, dy, dx are (N, C) row-major (N = all leading dimensions); gamma,
// beta, dgamma, dbeta are (C); mean and rstd are (N), saved by the forward.

// Sum of v over `lanes` work-items (a power of two) of one work-group; the
// work-item of lane l keeps its value at p[l * stride]. Every work-item of
// the group must call it (it holds barriers); each gets the sum.
float lane_sum(__local float *p, uint lane, uint lanes, uint stride, float v) {
    p[lane * stride] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = lanes >> 1; h > 0; h >>= 1) {
        if (lane < h) p[lane * stride] += p[(lane + h) * stride];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float s = p[0];
    barrier(CLK_LOCAL_MEM_FENCE); // p is free for the next sum
    return s;
}

// One work-group per row; scratch holds get_local_size(0) floats. Two passes
// over the row (mean, then the variance about it) for accuracy.
__kernel void layernorm_forward(__global const float *x, __global const float *gamma, __global const float *beta,
                                __global float *y, __global float *mean, __global float *rstd, const uint C,
                                const float eps, __local float *scratch) {
    uint row = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    __global const float *xr = x + (size_t)row * C;
    __global float *yr = y + (size_t)row * C;
    float s = 0.0f;
    for (uint c = lid; c < C; c += L) s += xr[c];
    float mu = lane_sum(scratch, lid, L, 1, s) / (float)C;
    s = 0.0f;
    for (uint c = lid; c < C; c += L) {
        float d = xr[c] - mu;
        s += d * d;
    }
    float rs = 1.0f / sqrt(lane_sum(scratch, lid, L, 1, s) / (float)C + eps);
    for (uint c = lid; c < C; c += L) yr[c] = (xr[c] - mu) * rs * gamma[c] + beta[c];
    if (lid == 0) {
        mean[row] = mu;
        rstd[row] = rs;
    }
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma and
// xhat = (x - mean) * rstd, means over the row. One work-group per row as in
// the forward.
__kernel void layernorm_backward(__global const float *x, __global const float *gamma, __global const float *mean,
                                 __global const float *rstd, __global const float *dy, __global float *dx,
                                 const uint C, __local float *scratch) {
    uint row = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    __global const float *xr = x + (size_t)row * C, *dyr = dy + (size_t)row * C;
    __global float *dxr = dx + (size_t)row * C;
    float mu = mean[row], rs = rstd[row], sg = 0.0f, sgx = 0.0f;
    for (uint c = lid; c < C; c += L) {
        float g = dyr[c] * gamma[c];
        sg += g;
        sgx += g * (xr[c] - mu) * rs;
    }
    float mg = lane_sum(scratch, lid, L, 1, sg) / (float)C;
    float mgx = lane_sum(scratch, lid, L, 1, sgx) / (float)C;
    for (uint c = lid; c < C; c += L) dxr[c] = rs * (dyr[c] * gamma[c] - mg - (xr[c] - mu) * rs * mgx);
}

// dgamma[c] = sum_n dy[n, c] xhat[n, c] and dbeta[c] = sum_n dy[n, c] (added
// to the old values when accumulate is set). Work-groups are tiles of TC
// columns by TR row lanes (TR a power of two): lane r sums rows r, r + TR,
// ..., then a tree over the lanes; scratch holds TC * TR floats. Fixed
// order, no atomics: deterministic.
__kernel void layernorm_backward_params(__global const float *x, __global const float *mean,
                                        __global const float *rstd, __global const float *dy,
                                        __global float *dgamma, __global float *dbeta, const uint N, const uint C,
                                        const int accumulate, __local float *scratch) {
    uint c = get_global_id(0), lc = get_local_id(0), r = get_local_id(1);
    uint TC = get_local_size(0), TR = get_local_size(1);
    float sg = 0.0f, sb = 0.0f;
    if (c < C)
        for (uint n = r; n < N; n += TR) {
            size_t i = (size_t)n * C + c;
            sg += dy[i] * (x[i] - mean[n]) * rstd[n];
            sb += dy[i];
        }
    sg = lane_sum(scratch + lc, r, TR, TC, sg);
    sb = lane_sum(scratch + lc, r, TR, TC, sb);
    if (r == 0 && c < C) {
        dgamma[c] = accumulate ? dgamma[c] + sg : sg;
        dbeta[c] = accumulate ? dbeta[c] + sb : sb;
    }
}
