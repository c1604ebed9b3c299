// Global L2 norm of a list of gradient tensors and clipping by it, as
// torch.nn.utils.clip_grad_norm_(max_norm, norm_type=2), all on the device.
// Deterministic, no atomics:
//   grad_norm_partial, once per tensor: each work-group writes the sum of
//     squares of its strided share to work[offset + group];
//   grad_norm_finish, one work-group: norm[0] = sqrt(sum of work[0, total)).
//   grad_norm_clip, once per tensor: coef = max_norm / (norm[0] + 1e-6);
//     g *= coef where coef < 1 (a NaN norm leaves g as it is).
// Local sizes are powers of two <= WG_MAX.

#define WG_MAX 256

// Tree sum over the work-group; the total ends in s[0].
static void reduce_sum(__local float *s, float x) {
    uint lid = get_local_id(0);
    s[lid] = x;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = get_local_size(0) / 2; h > 0; h >>= 1) {
        if (lid < h) s[lid] += s[lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

// g is n floats.
__kernel void grad_norm_partial(__global const float *g, const uint n, __global float *work, const uint offset) {
    __local float s[WG_MAX];
    float acc = 0.0f;
    for (uint i = get_global_id(0); i < n; i += get_global_size(0)) acc += g[i] * g[i];
    reduce_sum(s, acc);
    if (get_local_id(0) == 0) work[offset + get_group_id(0)] = s[0];
}

__kernel void grad_norm_finish(__global const float *work, const uint total, __global float *norm) {
    __local float s[WG_MAX];
    float acc = 0.0f;
    for (uint i = get_local_id(0); i < total; i += get_local_size(0)) acc += work[i];
    reduce_sum(s, acc);
    if (get_local_id(0) == 0) norm[0] = sqrt(s[0]);
}

__kernel void grad_norm_clip(__global float *g, const uint n, __global const float *norm, const float max_norm) {
    uint i = get_global_id(0);
    if (i >= n) return;
    float coef = max_norm / (norm[0] + 1e-6f);
    if (coef < 1.0f) g[i] *= coef;
}
