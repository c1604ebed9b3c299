/* Softmax launchers: one work-group per row (SB_ROW_WG) or one work-item
 * per row (SB_ROW_ITEM), as rt->row_variant says. kernels: cl/softmax.cl */

#include "ops/softmax.h"

#include "ops/check.h"

/* A (BH, T, T) float tensor. */
static int check_rows(const char *op, const sb_tensor *t) {
    SB_TRY(sb_check_f32(op, t));
    if (t->ndim != 3 || t->shape[1] != t->shape[2]) {
        char s[96];
        return sb_fail(SB_ERR_INVALID, "%s: tensor %s must be (BH, T, T)", op, sb_tensor_str(t, s, sizeof s));
    }
    return sb_check_uint(op, "elements", t->numel);
}

/* Work-group size for rows of T: the largest power of two <= T, at most 256
 * and at most what the kernel allows here. */
static size_t row_local_size(sb_runtime *rt, cl_kernel k, int T) {
    size_t wg = sb_kernel_wg_size(rt, k), L = 1;
    while (L * 2 <= (size_t)T && L * 2 <= 256 && L * 2 <= wg) L *= 2;
    return L;
}

/* Over the BH * T rows of `rows`; the last argument is at index `last`. */
static int launch_rows(sb_runtime *rt, cl_kernel k, cl_uint last, const sb_tensor *rows) {
    int T = rows->shape[1];
    return sb_launch_rows(rt, k, last, (size_t)rows->shape[0] * (size_t)T, row_local_size(rt, k, T));
}

int sb_softmax_forward(sb_runtime *rt, const sb_tensor *scores, const sb_tensor *mask, const sb_tensor *probs,
                       float scale) {
    const char *op = "softmax_forward";
    SB_TRY(check_rows(op, scores));
    SB_TRY(sb_check_shape(op, probs, 3, scores->shape));
    SB_TRY(sb_check_f32(op, mask));
    int BH = scores->shape[0], T = scores->shape[1];
    if (mask->ndim != 2 || mask->shape[1] != T || BH % mask->shape[0] != 0) {
        char s[96], m[96];
        return sb_fail(SB_ERR_INVALID, "%s: mask %s must be (B, T) for scores %s with B dividing BH", op,
                       sb_tensor_str(mask, m, sizeof m), sb_tensor_str(scores, s, sizeof s));
    }
    cl_kernel k;
    SB_TRY(sb_row_kernel(rt, "softmax", op, &k));
    cl_uint t = (cl_uint)T, heads = (cl_uint)(BH / mask->shape[0]);
    SB_TRY(SB_ARG(k, 0, scores->buf));
    SB_TRY(SB_ARG(k, 1, mask->buf));
    SB_TRY(SB_ARG(k, 2, probs->buf));
    SB_TRY(SB_ARG(k, 3, t));
    SB_TRY(SB_ARG(k, 4, heads));
    SB_TRY(SB_ARG(k, 5, scale));
    return launch_rows(rt, k, 6, scores);
}

int sb_softmax_backward(sb_runtime *rt, const sb_tensor *probs, const sb_tensor *dprobs, const sb_tensor *dscores,
                        float scale) {
    const char *op = "softmax_backward";
    SB_TRY(check_rows(op, probs));
    SB_TRY(sb_check_f32(op, dprobs));
    SB_TRY(sb_check_f32(op, dscores));
    SB_TRY(sb_check_shape(op, dprobs, 3, probs->shape));
    SB_TRY(sb_check_shape(op, dscores, 3, probs->shape));
    cl_kernel k;
    SB_TRY(sb_row_kernel(rt, "softmax", op, &k));
    cl_uint t = (cl_uint)probs->shape[1];
    SB_TRY(SB_ARG(k, 0, probs->buf));
    SB_TRY(SB_ARG(k, 1, dprobs->buf));
    SB_TRY(SB_ARG(k, 2, dscores->buf));
    SB_TRY(SB_ARG(k, 3, t));
    SB_TRY(SB_ARG(k, 4, scale));
    return launch_rows(rt, k, 5, probs);
}
