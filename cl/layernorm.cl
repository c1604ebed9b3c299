// LayerNorm over the last dimension, as torch.nn.LayerNorm (affine, biased
// variance): y = (x - mean) * rstd * gamma + beta, rstd = 1 / sqrt(var + eps).
// x, y, dy, dx are (N, C) row-major (N = all leading dimensions); gamma,
// beta, dgamma, dbeta are (C); mean and rstd are (N), saved by the forward.
// Fused into the encoder's output blocks (cl/philox.cl): with
// has_pre the forward's input row is sum = dropout(x + bias) + residual,
// written out for the backward; with has_dz the backward also writes
// dz = dropout(dx), the gradient of x + bias. Dropout keys element i = row *
// C + c of the (N, C) tensor as dropout_apply does. (Absent buffers are
// passed as x or dx and never touched.) A tensor trimmed to the first rows
// of each sketch (src/model/model.c) keeps the keys of the full one: rows
// come in groups of key_seq, and each group moves the keys on by key_gap
// elements (the rows cut per sketch times C; 0 untrimmed).
// Two launch shapes (sb_row_variant): *_wg kernels take one work-group per
// row (scratch holds get_local_size(0) floats), *_item kernels one
// work-item per row and no barriers; both run the row loops below over
// columns c0, c0 + step, ... with (c0, step) = (lid, L) or (0, 1).

#include "philox.cl"

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

// ---- row loops. With step 1 (the item kernels, CPU devices) they run 16
// columns at a time in float16 (whole AVX-512 vectors on PoCL), the
// elements at the row's ends one by one; the dropping ones walk the row
// with FOR_KEPT (cl/philox.cl: 64 dropout words per 16-lane Philox).

// Through private memory: Oclgrind 21.10's uninitialised-value check
// crashes on lanes taken out of a loop-carried vector.
float sum16(float16 v) {
    float t[16], s = 0.0f;
    vstore16(v, 0, t);
    for (int j = 0; j < 16; j++) s += t[j];
    return s;
}

// Sum of the input row; with has_pre it first builds that row in sum (sum
// may be x: each element is read before it is written by the same item).
float row_input_sum(__global const float *x, __global const float *bias, __global const float *res,
                    __global float *sum, uint has_pre, uint4 key, ulong off, uint threshold, float scale, uint row, uint C,
                    uint c0, uint step) {
    size_t base = (size_t)row * C;
    __global const float *xr = x + base, *rr = res + base;
    __global float *sr = sum + base;
    float s = 0.0f;
    if (step == 1) {
        float16 s16 = (float16)(0.0f);
        uint draws = has_pre ? threshold : 0u;
        float sc = draws ? scale : 1.0f;
        FOR_KEPT(off + base, C, draws, key, {
            float16 v = vload16(0, xr + j);
            if (has_pre) {
                v = select((float16)(0.0f), (v + vload16(0, bias + j)) * sc, kept) + vload16(0, rr + j);
                vstore16(v, 0, sr + j);
            }
            s16 += v;
        }, {
            float v = xr[j];
            if (has_pre) {
                v = (kept ? (v + bias[j]) * sc : 0.0f) + rr[j];
                sr[j] = v;
            }
            s += v;
        })
        return s + sum16(s16);
    }
    ulong block = ULONG_MAX;
    uint4 words = (uint4)(0u);
    for (uint c = c0; c < C; c += step) {
        float v = xr[c];
        if (has_pre) {
            v += bias[c];
            if (threshold) v = dropout_elem(key, threshold, scale, off + base + c, v, &block, &words);
            v += rr[c];
            sr[c] = v;
        }
        s += v;
    }
    return s;
}

float row_sq_dev(__global const float *xr, uint C, float mu, uint c0, uint step) {
    float s = 0.0f;
    uint c = c0;
    if (step == 1) {
        float16 s16 = (float16)(0.0f);
        for (; c + 16u <= C; c += 16u) {
            float16 d = vload16(0, xr + c) - mu;
            s16 += d * d;
        }
        s = sum16(s16);
    }
    for (; c < C; c += step) {
        float d = xr[c] - mu;
        s += d * d;
    }
    return s;
}

void row_normalize(__global const float *xr, __global const float *gamma, __global const float *beta,
                   __global float *yr, uint C, float mu, float rs, uint c0, uint step) {
    uint c = c0;
    if (step == 1)
        for (; c + 16u <= C; c += 16u)
            vstore16((vload16(0, xr + c) - mu) * rs * vload16(0, gamma + c) + vload16(0, beta + c), 0, yr + c);
    for (; c < C; c += step) yr[c] = (xr[c] - mu) * rs * gamma[c] + beta[c];
}

// (sum_c g, sum_c g * xhat) with g = dy * gamma, xhat = (x - mean) * rstd.
float2 row_grad_sums(__global const float *xr, __global const float *dyr, __global const float *gamma, uint C,
                     float mu, float rs, uint c0, uint step) {
    float2 s = (float2)(0.0f);
    uint c = c0;
    if (step == 1) {
        float16 sg = (float16)(0.0f), sgx = (float16)(0.0f);
        for (; c + 16u <= C; c += 16u) {
            float16 g = vload16(0, dyr + c) * vload16(0, gamma + c);
            sg += g;
            sgx += g * (vload16(0, xr + c) - mu) * rs;
        }
        s = (float2)(sum16(sg), sum16(sgx));
    }
    for (; c < C; c += step) {
        float g = dyr[c] * gamma[c];
        s += (float2)(g, g * (xr[c] - mu) * rs);
    }
    return s;
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), and dz = dropout(dx).
void row_dx(__global const float *x, __global const float *dy, __global const float *gamma, __global float *dx,
            __global float *dz, uint has_dz, uint4 key, ulong off, uint threshold, float scale, uint row, uint C, float mu,
            float rs, float mg, float mgx, uint c0, uint step) {
    size_t base = (size_t)row * C;
    __global const float *xr = x + base, *dyr = dy + base;
    __global float *dxr = dx + base, *dzr = dz + base;
    if (step == 1) {
        uint draws = has_dz ? threshold : 0u;
        float sc = draws ? scale : 1.0f;
        FOR_KEPT(off + base, C, draws, key, {
            float16 d = rs * (vload16(0, dyr + j) * vload16(0, gamma + j) - mg - (vload16(0, xr + j) - mu) * rs * mgx);
            vstore16(d, 0, dxr + j);
            if (has_dz) vstore16(select((float16)(0.0f), d * sc, kept), 0, dzr + j);
        }, {
            float d = rs * (dyr[j] * gamma[j] - mg - (xr[j] - mu) * rs * mgx);
            dxr[j] = d;
            if (has_dz) dzr[j] = kept ? d * sc : 0.0f;
        })
        return;
    }
    ulong block = ULONG_MAX;
    uint4 words = (uint4)(0u);
    for (uint c = c0; c < C; c += step) {
        float d = rs * (dyr[c] * gamma[c] - mg - (xr[c] - mu) * rs * mgx);
        dxr[c] = d;
        if (has_dz) dzr[c] = threshold ? dropout_elem(key, threshold, scale, off + base + c, d, &block, &words) : d;
    }
}

// (dgamma, dbeta) partial sums of column c over rows n0, n0 + step, ...
float2 col_param_sums(__global const float *x, __global const float *mean, __global const float *rstd,
                      __global const float *dy, uint N, uint C, uint c, uint n0, uint step) {
    float2 s = (float2)(0.0f);
    for (uint n = n0; n < N; n += step) {
        size_t i = (size_t)n * C + c;
        s += (float2)(dy[i] * (x[i] - mean[n]) * rstd[n], dy[i]);
    }
    return s;
}

// ---- kernels: forward (two passes over the row, mean then the variance
// about it, for accuracy), backward dx, backward parameters

// a dropout stream (see cl/philox.cl) as scalar arguments
#define DROPOUT_ARGS                                                                                          \
    const uint seed_lo, const uint seed_hi, const uint stream_lo, const uint stream_hi, const uint threshold, \
        const float scale, const uint off_lo, const uint off_hi, const uint key_seq, const uint key_gap
#define KEY                                             \
    ((uint4)(seed_lo, seed_hi, stream_lo, stream_hi)), \
        (((ulong)off_hi << 32) | off_lo) + (ulong)(row / key_seq) * key_gap

#define FORWARD_ARGS                                                                                          \
    __global const float *x, __global const float *bias, __global const float *res, __global float *sum,      \
        const uint has_pre, DROPOUT_ARGS, __global const float *gamma, __global const float *beta,             \
        __global float *y, __global float *mean, __global float *rstd, const uint C, const float eps

#define BACKWARD_ARGS                                                                                         \
    __global const float *x, __global const float *gamma, __global const float *mean,                        \
        __global const float *rstd, __global const float *dy, __global float *dx, __global float *dz,         \
        const uint has_dz, DROPOUT_ARGS, const uint C

__kernel void layernorm_forward_wg(FORWARD_ARGS, __local float *scratch) {
    uint row = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    float s = row_input_sum(x, bias, res, sum, has_pre, KEY, threshold, scale, row, C, lid, L);
    __global const float *xr = (has_pre ? (__global const float *)sum : x) + (size_t)row * C;
    float mu = lane_sum(scratch, lid, L, 1, s) / (float)C;
    float rs = 1.0f / sqrt(lane_sum(scratch, lid, L, 1, row_sq_dev(xr, C, mu, lid, L)) / (float)C + eps);
    row_normalize(xr, gamma, beta, y + (size_t)row * C, C, mu, rs, lid, L);
    if (lid == 0) {
        mean[row] = mu;
        rstd[row] = rs;
    }
}

__kernel void layernorm_forward_item(FORWARD_ARGS, const uint rows) {
    uint row = get_global_id(0);
    if (row >= rows) return;
    float mu = row_input_sum(x, bias, res, sum, has_pre, KEY, threshold, scale, row, C, 0, 1) / (float)C;
    __global const float *xr = (has_pre ? (__global const float *)sum : x) + (size_t)row * C;
    float rs = 1.0f / sqrt(row_sq_dev(xr, C, mu, 0, 1) / (float)C + eps);
    row_normalize(xr, gamma, beta, y + (size_t)row * C, C, mu, rs, 0, 1);
    mean[row] = mu;
    rstd[row] = rs;
}

__kernel void layernorm_backward_wg(BACKWARD_ARGS, __local float *scratch) {
    uint row = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    float mu = mean[row], rs = rstd[row];
    size_t base = (size_t)row * C;
    float2 s = row_grad_sums(x + base, dy + base, gamma, C, mu, rs, lid, L);
    float mg = lane_sum(scratch, lid, L, 1, s.x) / (float)C;
    float mgx = lane_sum(scratch, lid, L, 1, s.y) / (float)C;
    row_dx(x, dy, gamma, dx, dz, has_dz, KEY, threshold, scale, row, C, mu, rs, mg, mgx, lid, L);
}

__kernel void layernorm_backward_item(BACKWARD_ARGS, const uint rows) {
    uint row = get_global_id(0);
    if (row >= rows) return;
    float mu = mean[row], rs = rstd[row];
    size_t base = (size_t)row * C;
    float2 s = row_grad_sums(x + base, dy + base, gamma, C, mu, rs, 0, 1) / (float)C;
    row_dx(x, dy, gamma, dx, dz, has_dz, KEY, threshold, scale, row, C, mu, rs, s.x, s.y, 0, 1);
}

// dgamma[c] = sum_n dy[n, c] xhat[n, c] and dbeta[c] = sum_n dy[n, c] (added
// to the old values when accumulate is set). Fixed order, no atomics:
// deterministic. _wg: work-groups are tiles of TC columns by TR row lanes
// (TR a power of two): lane r sums rows r, r + TR, ..., then a tree over
// the lanes; scratch holds TC * TR floats. _item: work-item g takes
// columns 16 g .. 16 g + 15 down all rows, reading rows contiguously
// (float16), as bias_backward_item (cl/bias.cl).
void store_params(__global float *dgamma, __global float *dbeta, uint c, float2 s, int accumulate) {
    dgamma[c] = accumulate ? dgamma[c] + s.x : s.x;
    dbeta[c] = accumulate ? dbeta[c] + s.y : s.y;
}

__kernel void layernorm_backward_params_wg(__global const float *x, __global const float *mean,
                                           __global const float *rstd, __global const float *dy,
                                           __global float *dgamma, __global float *dbeta, const uint N,
                                           const uint C, const int accumulate, __local float *scratch) {
    uint c = get_global_id(0), lc = get_local_id(0), r = get_local_id(1);
    uint TC = get_local_size(0), TR = get_local_size(1);
    float2 s = c < C ? col_param_sums(x, mean, rstd, dy, N, C, c, r, TR) : (float2)(0.0f);
    s.x = lane_sum(scratch + lc, r, TR, TC, s.x);
    s.y = lane_sum(scratch + lc, r, TR, TC, s.y);
    if (r == 0 && c < C) store_params(dgamma, dbeta, c, s, accumulate);
}

__kernel void layernorm_backward_params_item(__global const float *x, __global const float *mean,
                                             __global const float *rstd, __global const float *dy,
                                             __global float *dgamma, __global float *dbeta, const uint N,
                                             const uint C, const int accumulate) {
    uint c = get_global_id(0) * 16u;
    if (c + 16u <= C) {
        float16 g = 0.0f, b = 0.0f;
        for (uint n = 0; n < N; n++) {
            size_t i = (size_t)n * C + c;
            float16 d = vload16(0, dy + i);
            g += d * (vload16(0, x + i) - mean[n]) * rstd[n];
            b += d;
        }
        vstore16(accumulate ? vload16(0, dgamma + c) + g : g, 0, dgamma + c);
        vstore16(accumulate ? vload16(0, dbeta + c) + b : b, 0, dbeta + c);
        return;
    }
    for (; c < C; c++) // the last columns when C % 16 != 0
        store_params(dgamma, dbeta, c, col_param_sums(x, mean, rstd, dy, N, C, c, 0, 1), accumulate);
}
