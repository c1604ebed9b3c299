// Head split and merge for multi-head attention: B batch, T tokens,
// nh heads of d channels, H = nh * d.
// x is (B, T, H) = (B, T, nh, d); x_h is (B, nh, T, d). The NDRange is
// (nh, T, B): each work-item moves one head's d contiguous channels of one
// token (no index division, which Oclgrind's checker cannot follow once
// clang pairs a division with its remainder).

#include "philox.cl"

#define MASK_PENALTY -10000.0f

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

// ---- chunked attention (CPU form): the host's GEMMs leave the scores,
// scale q_i . k_j, of head h of sketches b0, b0 + 1, ... (a chunk) in a
// (sketches, T, T) scratch small enough to stay in cache; these kernels do
// the row work there in place. The NDRange is (T rounded up, sketches in
// the chunk), one work-item per row: row i of chunk matrix c is row
// (b * heads + h) * T + i, b = b0 + c, of lse and of the flat
// probabilities, whose element index (plus off) keys the dropout mask as
// everywhere (cl/philox.cl); for probabilities trimmed to T of KT tokens
// (src/model/model.c) the index is that of the full (KT, KT) matrices.
// threshold 0 means no dropout. The rows are walked as float16 vectors
// (PoCL does not vectorise these loops across work-items), scalar at the
// ends.
#ifndef HEAD_DIM

#ifdef SB_OCLGRIND
/* The lane max and sum through private memory, for tests/oclgrind.sh:
 * Oclgrind 21.10 takes lane 11 of any shuffle (v.hi.lo) for uninitialised. */
float hmax16(float16 v) {
    float t[16];
    vstore16(v, 0, t);
    float4 m = fmax(fmax(vload4(0, t), vload4(1, t)), fmax(vload4(2, t), vload4(3, t)));
    return fmax(fmax(m.x, m.y), fmax(m.z, m.w));
}

float hsum16(float16 v) {
    float t[16];
    vstore16(v, 0, t);
    float4 a = vload4(0, t) + vload4(1, t) + vload4(2, t) + vload4(3, t);
    return (a.x + a.y) + (a.z + a.w);
}
#else
float hmax16(float16 v) {
    float8 a = fmax(v.lo, v.hi);
    float4 b = fmax(a.lo, a.hi);
    return fmax(fmax(b.x, b.y), fmax(b.z, b.w));
}

float hsum16(float16 v) {
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    return (b.x + b.y) + (b.z + b.w);
}
#endif

// s[c, i, :] = dropout(softmax_j(s[c, i, j] + (1 - mask[b, j]) * -10000)),
// b = b0 + c; lse[b, h, i] = the row's log-sum-exp.
__kernel void attention_chunk_forward(__global float *s, __global const float *mask, __global float *lse,
                                      const uint T, const uint heads, const uint h, const uint b0,
                                      const uint4 key, const uint threshold, const float keep_scale,
                                      const uint off, const uint KT) {
    uint i = get_global_id(0), c = get_global_id(1);
    if (i >= T) return;
    uint b = b0 + c, row = (b * heads + h) * T + i, e0 = off + ((b * heads + h) * KT + i) * KT, j = 0;
    __global float *x = s + ((size_t)c * T + i) * T;
    __global const float *mk = mask + (size_t)b * T;
    float16 mv = -INFINITY, lv = 0.0f;
    for (; j + 16u <= T; j += 16u)
        mv = fmax(mv, vload16(0, x + j) + (1.0f - vload16(0, mk + j)) * MASK_PENALTY);
    float m = hmax16(mv);
    for (; j < T; j++) m = fmax(m, x[j] + (1.0f - mk[j]) * MASK_PENALTY);
    for (j = 0; j + 16u <= T; j += 16u) {
        float16 e = exp(vload16(0, x + j) + (1.0f - vload16(0, mk + j)) * MASK_PENALTY - m);
        vstore16(e, 0, x + j);
        lv += e;
    }
    float l = hsum16(lv);
    for (; j < T; j++) {
        float e = exp(x[j] + (1.0f - mk[j]) * MASK_PENALTY - m);
        x[j] = e;
        l += e;
    }
    lse[row] = m + log(l);
    float inv = keep_scale / l;
    if (!threshold) {
        for (j = 0; j + 16u <= T; j += 16u) vstore16(vload16(0, x + j) * inv, 0, x + j);
        for (; j < T; j++) x[j] *= inv;
        return;
    }
    FOR_KEPT(e0, T, threshold, key,
             vstore16(select((float16)0.0f, vload16(0, x + j) * inv, kept), 0, x + j);,
             x[j] = kept ? x[j] * inv : 0.0f;)
}

// Backward of one chunk: s holds the scores again, ds = dout_i . v_j (the
// gradient of the dropped probabilities). With P = exp(s + mask - lse)
// and dP = keep * keep_scale * ds, leaves s = the dropped probabilities
// (for dV) and ds = scale * P * (dP - sum_j P dP), the scores' gradient
// (for dQ, dK). The first pass keeps P in s with the sign of its keep bit,
// so the mask is drawn once.
__kernel void attention_chunk_backward(__global float *s, __global float *ds, __global const float *mask,
                                       __global const float *lse, const uint T, const uint heads, const uint h,
                                       const uint b0, const float scale, const uint4 key, const uint threshold,
                                       const float keep_scale, const uint off, const uint KT) {
    uint i = get_global_id(0), c = get_global_id(1);
    if (i >= T) return;
    uint b = b0 + c, row = (b * heads + h) * T + i, e0 = off + ((b * heads + h) * KT + i) * KT, j = 0;
    size_t at = ((size_t)c * T + i) * T;
    __global float *x = s + at, *dx = ds + at;
    __global const float *mk = mask + (size_t)b * T;
    float li = lse[row], dot = 0.0f;
    float16 dotv = 0.0f;
    for (; j + 16u <= T; j += 16u)
        vstore16(exp(vload16(0, x + j) + (1.0f - vload16(0, mk + j)) * MASK_PENALTY - li), 0, x + j);
    for (; j < T; j++) x[j] = exp(x[j] + (1.0f - mk[j]) * MASK_PENALTY - li);
    FOR_KEPT(e0, T, threshold, key, {
        float16 p = vload16(0, x + j);
        float16 dp = select((float16)0.0f, keep_scale * vload16(0, dx + j), kept);
        dotv = mad(p, dp, dotv);
        vstore16(select(-p, p, kept), 0, x + j);
        vstore16(dp, 0, dx + j);
    }, {
        float p = x[j];
        float dp = kept ? keep_scale * dx[j] : 0.0f;
        dot += p * dp;
        x[j] = kept ? p : -p;
        dx[j] = dp;
    })
    dot += hsum16(dotv);
    for (j = 0; j + 16u <= T; j += 16u) {
        float16 p = vload16(0, x + j);
        vstore16(scale * fabs(p) * (vload16(0, dx + j) - dot), 0, dx + j);
        vstore16(select((float16)0.0f, p * keep_scale, p > 0.0f), 0, x + j);
    }
    for (; j < T; j++) {
        float p = fabs(x[j]);
        dx[j] = scale * p * (dx[j] - dot);
        x[j] = x[j] > 0.0f ? x[j] * keep_scale : 0.0f;
    }
}
#endif

// ---- fused attention (flash-attention style), built with -DHEAD_DIM=d
// -DTILES=0|1. Scores, scale, the -10000 length mask, an online
// softmax, dropout on the probabilities and the context in one pass over
// the keys, so no (B, heads, T, T) tensor exists; the backward recomputes
// the probabilities from the saved log-sum-exp of each row.
// q, k, v, out and their gradients are (B, T, H), H = heads * d, read and
// written in place of the head split; lse and drow are (B, heads, T).
// The NDRange is (rows rounded up to the work-group size, heads, B); a
// work-item owns one query row (forward, dQ) or one key row (dK, dV) and
// walks the other side in chunks of BLOCK = 16 rows, whose dropout mask
// it draws sixteen wide. Work-items past T compute row T - 1 and write
// nothing, so every one reaches the barriers. Its rows of d floats are
// explicit vectors (SIMD on CPUs, where PoCL does not vectorise these
// loops across work-items).
// TILES = 0 (CPU form): chunk rows are read from global memory (cache),
// no local memory and no barrier.
// TILES = 1 (GPU form): the work-group stages each chunk in local memory.
// Dropout: element (i, j) of the probabilities of (b, h) is element
// ((b * heads + h) * KT + i) * KT + j of one flat tensor, as the unfused path
// drops it, so the mask is the same bit for bit (cl/philox.cl); KT = T, or
// the full token count of a trimmed batch (src/model/model.c).
#ifdef HEAD_DIM
#define D HEAD_DIM
#define BLOCK 16

#if TILES
#define CHUNK_SPACE __local
/* rows r0 .. r0 + BLOCK - 1 (clamped to n - 1) of x, `width` floats each,
 * `stride` apart, into tile */
void stage(__local float *tile, __global const float *x, uint stride, uint width, uint r0, uint n) {
    for (uint c = get_local_id(0); c < BLOCK; c += get_local_size(0)) {
        __global const float *src = x + (size_t)min(r0 + c, n - 1u) * stride;
        for (uint e = 0; e < width; e++) tile[c * width + e] = src[e];
    }
}
#define STAGE(tile, x, stride, width, r0, n) stage(tile, x, stride, width, r0, n)
#define SYNC() barrier(CLK_LOCAL_MEM_FENCE)
/* row c of the chunk starting at r0, staged in tile from x */
#define CHUNK_ROW(tile, x, stride, width, r0, c, n) ((tile) + (c) * (width))
#else
#define CHUNK_SPACE __global
#define STAGE(tile, x, stride, width, r0, n)
#define SYNC()
#define CHUNK_ROW(tile, x, stride, width, r0, c, n) ((x) + (size_t)min((r0) + (c), (n) - 1u) * (stride))
#endif

/* A row of d floats is kept in private memory as NV vectors of VW floats:
 * explicit vector math where d allows, which PoCL turns into SIMD. */
float hsum4(float4 v) { return (v.x + v.y) + (v.z + v.w); }
#if D % 16 == 0
#define VW 16
typedef float16 vec;
#define VLOAD(i, p) vload16(i, p)
#define VSTORE(x, i, p) vstore16(x, i, p)
#ifdef SB_OCLGRIND
/* The same sum through private memory, for tests/oclgrind.sh: Oclgrind
 * 21.10 takes lane 11 of any shuffle (v.hi.lo) for uninitialised. */
float hsum16(float16 v) {
    float t[16];
    vstore16(v, 0, t);
    return hsum4(vload4(0, t) + vload4(1, t) + vload4(2, t) + vload4(3, t));
}
#define HSUM(v) hsum16(v)
#else
#define HSUM(v) hsum4((v).lo.lo + (v).lo.hi + (v).hi.lo + (v).hi.hi)
#endif
#elif D % 4 == 0
#define VW 4
typedef float4 vec;
#define VLOAD(i, p) vload4(i, p)
#define VSTORE(x, i, p) vstore4(x, i, p)
#define HSUM(v) hsum4(v)
#else
#define VW 1
typedef float vec;
#define VLOAD(i, p) (p)[i]
#define VSTORE(x, i, p) ((p)[i] = (x))
#define HSUM(v) (v)
#endif
#define NV (D / VW)

float dot_chunk(const vec *a, CHUNK_SPACE const float *b) {
    vec s = 0.0f;
    for (uint e = 0; e < NV; e++) s = mad(a[e], VLOAD(e, b), s);
    return HSUM(s);
}

void axpy_chunk(vec *y, float a, CHUNK_SPACE const float *x) {
    for (uint e = 0; e < NV; e++) y[e] = mad((vec)a, VLOAD(e, x), y[e]);
}

float dot_global(const vec *a, __global const float *b) {
    vec s = 0.0f;
    for (uint e = 0; e < NV; e++) s = mad(a[e], VLOAD(e, b), s);
    return HSUM(s);
}

/* dst = s * src, a row of d floats */
void load_row(vec *dst, __global const float *src, float s) {
    for (uint e = 0; e < NV; e++) dst[e] = s * VLOAD(e, src);
}

void zero_row(vec *dst) {
    for (uint e = 0; e < NV; e++) dst[e] = 0.0f;
}

void store_row(__global float *dst, const vec *src, float s) {
    for (uint e = 0; e < NV; e++) VSTORE(s * src[e], e, dst);
}

/* keep[c] = whether element at[c] of the probabilities survives dropout
 * (all do when threshold is 0, no dropout); the CPU form's Philox through
 * 64-bit products (mul_hi16) */
void draw_keep(int *keep, uint16 at, uint4 key, uint threshold) {
    vstore16(threshold ? dropout_keep_x16(at, key, threshold, !TILES) : (int16)(-1), 0, keep);
}

/* q . k (q holds scale * q_i) plus the length mask of key j */
float masked_score(const vec *q, CHUNK_SPACE const float *k, __global const float *mask, uint j) {
    return dot_chunk(q, k) + (1.0f - mask[j]) * MASK_PENALTY;
}

// out[b, i, h] = sum_j dropout(softmax_j(scale q_i . k_j + (1 - mask_j) * -10000)) v_j
// lse[b, h, i] = log sum_j exp(scale q_i . k_j + ...), the backward's statistic.
// threshold 0 means no dropout; keep_scale = 1 / (1 - p).
__kernel void attention_fused_forward(__global const float *q, __global const float *k, __global const float *v,
                                      __global const float *mask, __global float *out, __global float *lse,
                                      const uint T, const uint heads, const float scale, const uint4 key,
                                      const uint threshold, const float keep_scale, const uint off,
                                      const uint KT) {
    uint i = get_global_id(0), h = get_global_id(1), b = get_global_id(2), H = heads * D;
    uint ic = min(i, T - 1u), row = (b * heads + h) * T + ic, krow = (b * heads + h) * KT + ic;
    size_t head = (size_t)b * T * H + h * D;
    __global const float *kb = k + head, *vb = v + head, *mk = mask + (size_t)b * T;
#if TILES
    __local float ktile[BLOCK * D], vtile[BLOCK * D];
#endif
    vec qi[NV], acc[NV];
    load_row(qi, q + head + (size_t)ic * H, scale);
    zero_row(acc);
    float m = -INFINITY, l = 0.0f;
    for (uint j0 = 0; j0 < T; j0 += BLOCK) {
        STAGE(ktile, kb, H, D, j0, T);
        STAGE(vtile, vb, H, D, j0, T);
        SYNC();
        int keep[BLOCK];
        draw_keep(keep, off + krow * KT + j0 + LANES16, key, threshold);
        float s[BLOCK], cmax = -INFINITY;
        for (uint c = 0; c < BLOCK; c++) {
            float x = masked_score(qi, CHUNK_ROW(ktile, kb, H, D, j0, c, T), mk, min(j0 + c, T - 1u));
            s[c] = j0 + c < T ? x : -INFINITY;
            cmax = fmax(cmax, s[c]);
        }
        float mnew = fmax(m, cmax), corr = exp(m - mnew);
        l *= corr;
        for (uint e = 0; e < NV; e++) acc[e] *= corr;
        for (uint c = 0; c < BLOCK; c++) {
            float p = exp(s[c] - mnew);
            l += p;
            axpy_chunk(acc, keep[c] ? p : 0.0f, CHUNK_ROW(vtile, vb, H, D, j0, c, T));
        }
        m = mnew;
        SYNC();
    }
    if (i >= T) return;
    store_row(out + head + (size_t)i * H, acc, keep_scale / l);
    lse[row] = m + log(l);
}

// Backward, first pass, over query rows: drow[b, h, i] = dout_i . out_i
// (= sum_j P_ij dP_ij, dropout included) and
// dq_i = scale sum_j P_ij (dP_ij - drow_i) k_j, with P recomputed from lse
// and dP_ij = keep_ij keep_scale dout_i . v_j.
__kernel void attention_fused_backward_dq(__global const float *q, __global const float *k,
                                          __global const float *v, __global const float *mask,
                                          __global const float *out, __global const float *dout,
                                          __global const float *lse, __global float *drow, __global float *dq,
                                          const uint T, const uint heads, const float scale, const uint4 key,
                                          const uint threshold, const float keep_scale, const uint off,
                                          const uint KT) {
    uint i = get_global_id(0), h = get_global_id(1), b = get_global_id(2), H = heads * D;
    uint ic = min(i, T - 1u), row = (b * heads + h) * T + ic, krow = (b * heads + h) * KT + ic;
    size_t head = (size_t)b * T * H + h * D, at = head + (size_t)ic * H;
    __global const float *kb = k + head, *vb = v + head, *mk = mask + (size_t)b * T;
#if TILES
    __local float ktile[BLOCK * D], vtile[BLOCK * D];
#endif
    vec qi[NV], doi[NV], dqi[NV];
    load_row(qi, q + at, scale);
    load_row(doi, dout + at, 1.0f);
    zero_row(dqi);
    float di = dot_global(doi, out + at), li = lse[row];
    for (uint j0 = 0; j0 < T; j0 += BLOCK) {
        STAGE(ktile, kb, H, D, j0, T);
        STAGE(vtile, vb, H, D, j0, T);
        SYNC();
        int keep[BLOCK];
        draw_keep(keep, off + krow * KT + j0 + LANES16, key, threshold);
        for (uint c = 0; c < BLOCK; c++) {
            CHUNK_SPACE const float *kr = CHUNK_ROW(ktile, kb, H, D, j0, c, T);
            float p = j0 + c < T ? exp(masked_score(qi, kr, mk, min(j0 + c, T - 1u)) - li) : 0.0f;
            float dp = keep[c] ? keep_scale * dot_chunk(doi, CHUNK_ROW(vtile, vb, H, D, j0, c, T)) : 0.0f;
            axpy_chunk(dqi, p * (dp - di), kr);
        }
        SYNC();
    }
    if (i >= T) return;
    drow[row] = di;
    store_row(dq + at, dqi, scale);
}

// Backward, second pass, over key rows (after the first wrote drow):
// dv_j = sum_i keep_ij keep_scale P_ij dout_i,
// dk_j = scale sum_i P_ij (dP_ij - drow_i) q_i.
__kernel void attention_fused_backward_dkv(__global const float *q, __global const float *k,
                                           __global const float *v, __global const float *mask,
                                           __global const float *dout, __global const float *lse,
                                           __global const float *drow, __global float *dk, __global float *dv,
                                           const uint T, const uint heads, const float scale, const uint4 key,
                                           const uint threshold, const float keep_scale, const uint off,
                                           const uint KT) {
    uint j = get_global_id(0), h = get_global_id(1), b = get_global_id(2), H = heads * D;
    uint jc = min(j, T - 1u), rows = (b * heads + h) * T, krows = (b * heads + h) * KT;
    size_t head = (size_t)b * T * H + h * D, at = head + (size_t)jc * H;
    __global const float *qb = q + head, *db = dout + head, *lb = lse + rows, *rb = drow + rows;
#if TILES
    __local float qtile[BLOCK * D], dtile[BLOCK * D], ltile[BLOCK], rtile[BLOCK];
#endif
    vec kj[NV], vj[NV], dkj[NV], dvj[NV];
    load_row(kj, k + at, scale);
    load_row(vj, v + at, 1.0f);
    zero_row(dkj);
    zero_row(dvj);
    float pen = (1.0f - mask[(size_t)b * T + jc]) * MASK_PENALTY;
    for (uint i0 = 0; i0 < T; i0 += BLOCK) {
        STAGE(qtile, qb, H, D, i0, T);
        STAGE(dtile, db, H, D, i0, T);
        STAGE(ltile, lb, 1u, 1u, i0, T);
        STAGE(rtile, rb, 1u, 1u, i0, T);
        SYNC();
        int keep[BLOCK];
        // (uint16) spelled out: Oclgrind gets min(uint16, uint) wrong
        draw_keep(keep, off + (krows + min(i0 + LANES16, (uint16)(T - 1u))) * KT + jc, key, threshold);
        for (uint c = 0; c < BLOCK; c++) {
            CHUNK_SPACE const float *qr = CHUNK_ROW(qtile, qb, H, D, i0, c, T);
            CHUNK_SPACE const float *dr = CHUNK_ROW(dtile, db, H, D, i0, c, T);
            float li = *CHUNK_ROW(ltile, lb, 1u, 1u, i0, c, T), di = *CHUNK_ROW(rtile, rb, 1u, 1u, i0, c, T);
            float p = i0 + c < T ? exp(dot_chunk(kj, qr) + pen - li) : 0.0f;
            float kept = keep[c] ? keep_scale : 0.0f;
            axpy_chunk(dvj, kept * p, dr);
            axpy_chunk(dkj, p * (kept * dot_chunk(vj, dr) - di), qr);
        }
        SYNC();
    }
    if (j >= T) return;
    store_row(dk + at, dkj, scale);
    store_row(dv + at, dvj, 1.0f);
}
#endif
