// Blocks of VEC_W consecutive elements of flat float arrays, for the
// elementwise kernels that take a block per work-item (`#include
// "vecw.cl"`, built with -DVEC_W=4 or 16: sb_vec_kernel, src/runtime/).
// A block may end past n (the last one) and may span rows of C.

#ifndef VEC_W
#define VEC_W 4 // programs built without it (row kernels sharing the file)
#endif
#define W VEC_W
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define floatW CAT(float, W)
#define vloadW CAT(vload, W)
#define vstoreW CAT(vstore, W)

// p[i..i+W-1], zeros past n.
floatW loadW(__global const float *p, uint i, uint n) {
    if (i + W <= n) return vloadW(0, p + i);
    float t[W];
    for (uint j = 0; j < W; j++) t[j] = i + j < n ? p[i + j] : 0.0f;
    return vloadW(0, t);
}

// p[i..i+W-1] = v, only the elements below n.
void storeW(__global float *p, uint i, uint n, floatW v) {
    if (i + W <= n) {
        vstoreW(v, 0, p + i);
        return;
    }
    float t[W];
    vstoreW(v, 0, t);
    for (uint j = 0; i + j < n; j++) p[i + j] = t[j];
}

// The bias b (C) of elements i..i+W-1 of rows of C: b[(i + j) % C].
floatW bias_W(__global const float *b, uint i, uint C) {
    uint c = i % C;
    if (c + W <= C) return vloadW(0, b + c); // the W columns in one row
    float t[W];
    for (uint j = 0; j < W; j++, c = c + 1u == C ? 0u : c + 1u) t[j] = b[c];
    return vloadW(0, t);
}
