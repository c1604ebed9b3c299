// Masked scaled softmax over the last dim, as in BERT attention.
// scores, probs, dprobs, dscores are (BH, T, T): BH = B * heads rows blocks of
// T rows of length T; mask is (B, T), 1 = real token, 0 = padding.
// probs[r, j] = softmax_j(scale * scores[r, j] + (1 - mask[b, j]) * -10000).
// Two launch shapes (sb_row_variant): *_wg kernels take one work-group per
// row, its size L a power of two chosen by the host, work-item lid handling
// columns j = lid, lid + L, ... with tree reductions in local memory
// (scratch holds L floats); *_item kernels take one work-item per row and no
// barriers (CPU devices). Both run the same row loops below, with
// (first column, step) = (lid, L) or (0, 1).
// probs may be the same buffer as scores, dscores the same as dprobs: each
// work-item reads and writes only its own columns.

#define MASK_PENALTY -10000.0f

// Sum (or max) of v over the work-group; every work-item gets the result.
float group_sum(__local float *scratch, float v) {
    uint lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE); // scratch is reused by the next reduction
    return r;
}

float group_max(__local float *scratch, float v) {
    uint lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] = fmax(scratch[lid], scratch[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// ---- row loops over columns j0, j0 + step, ... < T

float row_max(__global const float *s, __global const float *m, uint T, float scale, uint j0, uint step) {
    float mx = -INFINITY;
    for (uint j = j0; j < T; j += step) mx = fmax(mx, scale * s[j] + (1.0f - m[j]) * MASK_PENALTY);
    return mx;
}

// p[j] = exp(...) unnormalised (one exp per element); returns their sum.
float row_exp(__global const float *s, __global const float *m, __global float *p, uint T, float scale, float mx,
              uint j0, uint step) {
    float sum = 0.0f;
    for (uint j = j0; j < T; j += step) {
        float e = exp(scale * s[j] + (1.0f - m[j]) * MASK_PENALTY - mx);
        p[j] = e;
        sum += e;
    }
    return sum;
}

void row_scale(__global float *p, uint T, float inv, uint j0, uint step) {
    for (uint j = j0; j < T; j += step) p[j] *= inv;
}

float row_dot(__global const float *p, __global const float *dp, uint T, uint j0, uint step) {
    float dot = 0.0f;
    for (uint j = j0; j < T; j += step) dot += dp[j] * p[j];
    return dot;
}

// dscores[r, j] = scale * p[j] * (dp[j] - sum_k dp[k] p[k])
void row_dscores(__global const float *p, __global const float *dp, __global float *ds, uint T, float scale,
                 float dot, uint j0, uint step) {
    for (uint j = j0; j < T; j += step) ds[j] = scale * p[j] * (dp[j] - dot);
}

// ---- one work-group per row

__kernel void softmax_forward_wg(__global const float *scores, __global const float *mask, __global float *probs,
                                 const uint T, const uint heads, const float scale, __local float *scratch) {
    size_t row = get_group_id(0);
    uint lid = get_local_id(0), L = get_local_size(0);
    __global const float *s = scores + row * T, *m = mask + row / T / heads * T;
    __global float *p = probs + row * T;
    float mx = group_max(scratch, row_max(s, m, T, scale, lid, L));
    row_scale(p, T, 1.0f / group_sum(scratch, row_exp(s, m, p, T, scale, mx, lid, L)), lid, L);
}

__kernel void softmax_backward_wg(__global const float *probs, __global const float *dprobs,
                                  __global float *dscores, const uint T, const float scale,
                                  __local float *scratch) {
    size_t row = get_group_id(0);
    uint lid = get_local_id(0), L = get_local_size(0);
    __global const float *p = probs + row * T, *dp = dprobs + row * T;
    float dot = group_sum(scratch, row_dot(p, dp, T, lid, L));
    row_dscores(p, dp, dscores + row * T, T, scale, dot, lid, L);
}

// ---- the same loops over columns [0, T8) in float8, T8 = T rounded down
// to a multiple of 8, for the item kernels (which finish [T8, T) with the
// loops above): PoCL then runs each row in vector registers instead of
// gathering one column of 8-16 rows at a time (7x less CPU time).

float hmax8(float8 v) {
    float4 a = fmax(v.lo, v.hi);
    return fmax(fmax(a.x, a.y), fmax(a.z, a.w));
}

// Through dot(): a plain sum of the lanes crashes Oclgrind 21.10's
// uninitialised-value check.
float hsum8(float8 v) { return dot(v.lo, (float4)(1.0f)) + dot(v.hi, (float4)(1.0f)); }

float8 masked8(__global const float *s, __global const float *m, uint j, float scale) {
    return scale * vload8(0, s + j) + (1.0f - vload8(0, m + j)) * MASK_PENALTY;
}

float row_max8(__global const float *s, __global const float *m, uint T8, float scale) {
    float8 mx = (float8)(-INFINITY);
    for (uint j = 0; j < T8; j += 8) mx = fmax(mx, masked8(s, m, j, scale));
    return hmax8(mx);
}

float row_exp8(__global const float *s, __global const float *m, __global float *p, uint T8, float scale,
               float mx) {
    float8 sum = (float8)(0.0f);
    for (uint j = 0; j < T8; j += 8) {
        float8 e = exp(masked8(s, m, j, scale) - mx);
        vstore8(e, 0, p + j);
        sum += e;
    }
    return hsum8(sum);
}

void row_scale8(__global float *p, uint T8, float inv) {
    for (uint j = 0; j < T8; j += 8) vstore8(vload8(0, p + j) * inv, 0, p + j);
}

float row_dot8(__global const float *p, __global const float *dp, uint T8) {
    float8 acc = (float8)(0.0f);
    for (uint j = 0; j < T8; j += 8) acc += vload8(0, dp + j) * vload8(0, p + j);
    return hsum8(acc);
}

void row_dscores8(__global const float *p, __global const float *dp, __global float *ds, uint T8, float scale,
                  float dot) {
    for (uint j = 0; j < T8; j += 8) vstore8(scale * vload8(0, p + j) * (vload8(0, dp + j) - dot), 0, ds + j);
}

// ---- one work-item per row; rows = BH * T

__kernel void softmax_forward_item(__global const float *scores, __global const float *mask,
                                   __global float *probs, const uint T, const uint heads, const float scale,
                                   const uint rows) {
    size_t row = get_global_id(0);
    if (row >= rows) return;
    __global const float *s = scores + row * T, *m = mask + row / T / heads * T;
    __global float *p = probs + row * T;
    uint T8 = T & ~7u;
    float mx = fmax(row_max8(s, m, T8, scale), row_max(s, m, T, scale, T8, 1));
    float inv = 1.0f / (row_exp8(s, m, p, T8, scale, mx) + row_exp(s, m, p, T, scale, mx, T8, 1));
    row_scale8(p, T8, inv);
    row_scale(p, T, inv, T8, 1);
}

__kernel void softmax_backward_item(__global const float *probs, __global const float *dprobs,
                                    __global float *dscores, const uint T, const float scale, const uint rows) {
    size_t row = get_global_id(0);
    if (row >= rows) return;
    __global const float *p = probs + row * T, *dp = dprobs + row * T;
    __global float *ds = dscores + row * T;
    uint T8 = T & ~7u;
    float dot = row_dot8(p, dp, T8) + row_dot(p, dp, T, T8, 1);
    row_dscores8(p, dp, ds, T8, scale, dot);
    row_dscores(p, dp, ds, T, scale, dot, T8, 1);
}
