// Masked scaled softmax over the last dim, as in BERT attention.
// scores, probs, dprobs, dscores are (BH, T, T): BH = B * heads rows blocks of
// T rows of length T; mask is (B, T), 1 = real token, 0 = padding.
// probs[r, j] = softmax_j(scale * scores[r, j] + (1 - mask[b, j]) * -10000).
// One work-group per row; its size L is a power of two chosen by the host,
// each work-item handles columns j = lid, lid + L, ...; row reductions are
// tree reductions in local memory (scratch holds L floats).

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

// probs may be the same buffer as scores: each work-item reads and writes
// only its own columns.
__kernel void softmax_forward(__global const float *scores, __global const float *mask, __global float *probs,
                              const uint T, const uint heads, const float scale, __local float *scratch) {
    size_t row = get_group_id(0);
    uint lid = get_local_id(0), L = get_local_size(0);
    __global const float *s = scores + row * T;
    __global const float *m = mask + row / T / heads * T;
    __global float *p = probs + row * T;
    float mx = -INFINITY;
    for (uint j = lid; j < T; j += L) mx = fmax(mx, scale * s[j] + (1.0f - m[j]) * MASK_PENALTY);
    mx = group_max(scratch, mx);
    float sum = 0.0f;
    for (uint j = lid; j < T; j += L) sum += exp(scale * s[j] + (1.0f - m[j]) * MASK_PENALTY - mx);
    float inv = 1.0f / group_sum(scratch, sum);
    for (uint j = lid; j < T; j += L) p[j] = exp(scale * s[j] + (1.0f - m[j]) * MASK_PENALTY - mx) * inv;
}

// dscores[r, j] = scale * p[j] * (dp[j] - sum_k dp[k] p[k]); dscores may be
// the same buffer as dprobs.
__kernel void softmax_backward(__global const float *probs, __global const float *dprobs, __global float *dscores,
                               const uint T, const float scale, __local float *scratch) {
    size_t row = get_group_id(0);
    uint lid = get_local_id(0), L = get_local_size(0);
    __global const float *p = probs + row * T;
    __global const float *dp = dprobs + row * T;
    __global float *ds = dscores + row * T;
    float dot = 0.0f;
    for (uint j = lid; j < T; j += L) dot += dp[j] * p[j];
    dot = group_sum(scratch, dot);
    for (uint j = lid; j < T; j += L) ds[j] = scale * p[j] * (dp[j] - dot);
}
