// Training losses reduced to a scalar on the device, and their gradients:
// masked L1, cross-entropy with row weights, triplet margin loss.
//
// Every forward is two deterministic passes, no atomics: a *_partial kernel
// where each work-group writes one (num, den) pair to work[2 + 2g],
// work[3 + 2g], then loss_finish (one work-group) sums the pairs and writes
// work[0] = num / den (0 when den is 0) and work[1] = den.
// Backward kernels read den from work[1] (the host reruns the forward passes
// first) or get their scale from the host (triplet: den is the batch size).
// Local sizes are powers of two <= WG_MAX; `accumulate` adds to the output
// instead of overwriting it. Indices are uint: the host checks sizes fit.

#define WG_MAX 256
#define PAIRWISE_EPS 1e-6f // torch.nn.functional.pairwise_distance eps

// ---- helpers

// Tree sum of sn[] and sd[] over the work-group; the totals end in sn[0], sd[0].
static void reduce_pair(__local float *sn, __local float *sd, float num, float den) {
    uint lid = get_local_id(0);
    sn[lid] = num;
    sd[lid] = den;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s) {
            sn[lid] += sn[lid + s];
            sd[lid] += sd[lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

// Writes this work-group's partial pair.
static void store_partial(__local float *sn, __local float *sd, float num, float den, __global float *work) {
    reduce_pair(sn, sd, num, den);
    if (get_local_id(0) == 0) {
        work[2 + 2 * get_group_id(0)] = sn[0];
        work[3 + 2 * get_group_id(0)] = sd[0];
    }
}

static void store_grad(__global float *out, uint i, float g, int accumulate) {
    out[i] = accumulate ? out[i] + g : g;
}

// sum_j exp(x[j] - max) over k values; the maximum goes to *mx. Keeping the
// shift separate (rather than one log-sum-exp) keeps x[j] - max exact for
// large logits.
static float sum_exp_shifted(__global const float *x, uint k, float *mx) {
    float m = x[0];
    for (uint j = 1; j < k; j++) m = fmax(m, x[j]);
    float s = 0.0f;
    for (uint j = 0; j < k; j++) s += exp(x[j] - m);
    *mx = m;
    return s;
}

// || x - y + eps ||_2 over d values, as pairwise_distance(p=2).
static float pairwise_distance(__global const float *x, __global const float *y, uint d) {
    float s = 0.0f;
    for (uint j = 0; j < d; j++) {
        float e = x[j] - y[j] + PAIRWISE_EPS;
        s += e * e;
    }
    return sqrt(s);
}

// ---- shared final pass

// work holds `groups` partial pairs from a *_partial kernel. One work-group.
__kernel void loss_finish(__global float *work, const uint groups) {
    __local float sn[WG_MAX], sd[WG_MAX];
    float num = 0.0f, den = 0.0f;
    for (uint g = get_local_id(0); g < groups; g += get_local_size(0)) {
        num += work[2 + 2 * g];
        den += work[3 + 2 * g];
    }
    reduce_pair(sn, sd, num, den);
    if (get_local_id(0) == 0) {
        work[0] = sd[0] > 0.0f ? sn[0] / sd[0] : 0.0f;
        work[1] = sd[0];
    }
}

// ---- masked L1: pred, target, mask are n floats; entries with mask 0 are
// skipped (never read), others weigh mask[i].

// num = sum mask |pred - target|, den = sum mask.
__kernel void l1_loss_partial(__global const float *pred, __global const float *target,
                              __global const float *mask, const uint n, __global float *work) {
    __local float sn[WG_MAX], sd[WG_MAX];
    float num = 0.0f, den = 0.0f;
    for (uint i = get_global_id(0); i < n; i += get_global_size(0)) {
        float m = mask[i];
        if (m == 0.0f) continue;
        num += m * fabs(pred[i] - target[i]);
        den += m;
    }
    store_partial(sn, sd, num, den, work);
}

// dpred = upstream * mask * sign(pred - target) / den (sign(0) = 0, as torch).
__kernel void l1_loss_backward(__global const float *pred, __global const float *target,
                               __global const float *mask, const uint n, __global const float *work,
                               const float upstream, const int accumulate, __global float *dpred) {
    uint i = get_global_id(0);
    if (i >= n) return;
    float m = mask[i], den = work[1];
    float g = 0.0f;
    if (m != 0.0f && den > 0.0f) g = upstream * m / den * sign(pred[i] - target[i]);
    store_grad(dpred, i, g, accumulate);
}

// ---- cross-entropy: row r's k logits start at logits[r * stride + col];
// target is int32 (rows), weight is float (rows). Rows of weight 0 are
// skipped; an included row whose target is outside [0, k) gives NaN.

// num = sum weight * (log sum exp(x - max) - (x[target] - max)), den = sum weight.
__kernel void cross_entropy_partial(__global const float *logits, const uint rows, const uint stride,
                                    const uint col, const uint k, __global const int *target,
                                    __global const float *weight, __global float *work) {
    __local float sn[WG_MAX], sd[WG_MAX];
    float num = 0.0f, den = 0.0f;
    for (uint r = get_global_id(0); r < rows; r += get_global_size(0)) {
        float w = weight[r];
        if (w == 0.0f) continue;
        __global const float *x = logits + r * stride + col;
        int t = target[r];
        float mx, s = sum_exp_shifted(x, k, &mx);
        num += (t >= 0 && (uint)t < k) ? w * (log(s) - (x[t] - mx)) : NAN;
        den += w;
    }
    store_partial(sn, sd, num, den, work);
}

// One work-item per row: dlogit[j] = upstream * weight * (softmax[j] - [j == target]) / den.
__kernel void cross_entropy_backward(__global const float *logits, const uint rows, const uint stride,
                                     const uint col, const uint k, __global const int *target,
                                     __global const float *weight, __global const float *work,
                                     const float upstream, const int accumulate, __global float *dlogits) {
    uint r = get_global_id(0);
    if (r >= rows) return;
    float w = weight[r], den = work[1];
    float scale = (w != 0.0f && den > 0.0f) ? upstream * w / den : 0.0f;
    __global const float *x = logits + r * stride + col;
    int t = target[r];
    int valid = t >= 0 && (uint)t < k;
    float mx = 0.0f, s = scale != 0.0f ? sum_exp_shifted(x, k, &mx) : 1.0f;
    for (uint j = 0; j < k; j++) {
        float g = 0.0f;
        if (scale != 0.0f) g = valid ? scale * (exp(x[j] - mx) / s - (j == (uint)t ? 1.0f : 0.0f)) : NAN;
        store_grad(dlogits, r * stride + col + j, g, accumulate);
    }
}

// ---- triplet margin loss: x is (3 rows, d), triplets interleaved: row 3r
// the anchor, 3r + 1 its positive, 3r + 2 its negative (so a data-parallel
// rank's triplets are one contiguous run of the global batch's rows).

// num = sum max(margin + |a - p + eps| - |a - n + eps|, 0), den = rows.
__kernel void triplet_loss_partial(__global const float *x, const uint rows, const uint d, const float margin,
                                   __global float *work) {
    __local float sn[WG_MAX], sd[WG_MAX];
    float num = 0.0f, den = 0.0f;
    for (uint r = get_global_id(0); r < rows; r += get_global_size(0)) {
        __global const float *a = x + 3 * r * d;
        float h = margin + pairwise_distance(a, a + d, d) - pairwise_distance(a, a + 2 * d, d);
        num += fmax(h, 0.0f);
        den += 1.0f;
    }
    store_partial(sn, sd, num, den, work);
}

// One work-item per triplet; scale = upstream / rows. Where the hinge is
// active (h >= 0, as torch's clamp_min passes the gradient at the kink):
// da = scale (ep / dist_p - en / dist_n), dp = -scale ep / dist_p,
// dn = scale en / dist_n, with ep = a - p + eps, en = a - n + eps, and a zero
// distance contributing nothing (as torch's norm backward).
__kernel void triplet_loss_backward(__global const float *x, const uint rows, const uint d, const float margin,
                                    const float scale, const int accumulate, __global float *dx) {
    uint r = get_global_id(0);
    if (r >= rows) return;
    uint o = 3 * r * d;
    __global const float *a = x + o, *p = a + d, *n = a + 2 * d;
    float dist_p = pairwise_distance(a, p, d);
    float dist_n = pairwise_distance(a, n, d);
    int active = margin + dist_p - dist_n >= 0.0f;
    float cp = active && dist_p > 0.0f ? scale / dist_p : 0.0f;
    float cn = active && dist_n > 0.0f ? scale / dist_n : 0.0f;
    for (uint j = 0; j < d; j++) {
        float ep = a[j] - p[j] + PAIRWISE_EPS, en = a[j] - n[j] + PAIRWISE_EPS;
        store_grad(dx, o + j, cp * ep - cn * en, accumulate);
        store_grad(dx, o + d + j, -cp * ep, accumulate);
        store_grad(dx, o + 2 * d + j, cn * en, accumulate);
    }
}
