// Head split and merge for multi-head attention: B batch, T tokens,
// nh heads of d channels, H = nh * d.
// x is (B, T, H) = (B, T, nh, d); x_h is (B, nh, T, d). The NDRange is
// (nh, T, B): each work-item moves one head's d contiguous channels of one
// token (no index division, which Oclgrind's checker cannot follow once
// clang pairs a division with its remainder).

// x_h[b, h, t, :] = x[b, t, h, :]
__kernel void attention_split_heads(__global const float *x, __global float *x_h, const uint T, const uint nh,
                                    const uint d, const uint B) {
    uint h = get_global_id(0), t = get_global_id(1), b = get_global_id(2);
    if (h >= nh || t >= T || b >= B) return;
    __global const float *src = x + ((b * T + t) * nh + h) * d;
    __global float *dst = x_h + ((b * nh + h) * T + t) * d;
    for (uint e = 0; e < d; e++) dst[e] = src[e];
}

// x[b, t, h, :] = x_h[b, h, t, :]
__kernel void attention_merge_heads(__global const float *x_h, __global float *x, const uint T, const uint nh,
                                    const uint d, const uint B) {
    uint h = get_global_id(0), t = get_global_id(1), b = get_global_id(2);
    if (h >= nh || t >= T || b >= B) return;
    __global const float *src = x_h + ((b * nh + h) * T + t) * d;
    __global float *dst = x + ((b * T + t) * nh + h) * d;
    for (uint e = 0; e < d; e++) dst[e] = src[e];
}
