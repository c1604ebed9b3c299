/* Dropout launchers. kernels: cl/dropout.cl */
#include "ops/dropout.h"

#include "ops/check.h"

static int dropout_launch(sb_runtime *rt, const char *op, const sb_tensor *x, const sb_tensor *y, float p,
                          sb_rng_key key) {
    SB_TRY(sb_check_f32(op, x));
    SB_TRY(sb_check_f32(op, y));
    SB_TRY(sb_check_same_numel(op, x, y));
    SB_TRY(sb_check_uint(op, "elements", x->numel + 3)); /* the kernel rounds n up to blocks of 4 */
    if (!(p >= 0.0f && p < 1.0f)) return sb_fail(SB_ERR_INVALID, "%s: probability p = %g is outside [0, 1)", op, p);
    cl_kernel k;
    SB_TRY(sb_kernel(rt, "dropout", "dropout_apply", &k));
    cl_uint n = (cl_uint)x->numel;
    cl_uint seed_lo = (cl_uint)key.seed, seed_hi = (cl_uint)(key.seed >> 32);
    cl_uint stream_lo = (cl_uint)key.stream, stream_hi = (cl_uint)(key.stream >> 32);
    cl_uint threshold = sb_dropout_threshold(p);
    float scale = 1.0f / (1.0f - p);
    SB_TRY(SB_ARG(k, 0, x->buf));
    SB_TRY(SB_ARG(k, 1, y->buf));
    SB_TRY(SB_ARG(k, 2, n));
    SB_TRY(SB_ARG(k, 3, seed_lo));
    SB_TRY(SB_ARG(k, 4, seed_hi));
    SB_TRY(SB_ARG(k, 5, stream_lo));
    SB_TRY(SB_ARG(k, 6, stream_hi));
    SB_TRY(SB_ARG(k, 7, threshold));
    SB_TRY(SB_ARG(k, 8, scale));
    cl_uint off_lo = (cl_uint)key.offset, off_hi = (cl_uint)(key.offset >> 32);
    SB_TRY(SB_ARG(k, 9, off_lo));
    SB_TRY(SB_ARG(k, 10, off_hi));
    size_t global = (n + 3) / 4;
    return sb_launch(rt, k, 1, &global, NULL);
}

int sb_dropout_forward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *y, float p, sb_rng_key key) {
    return dropout_launch(rt, "dropout_forward", x, y, p, key);
}

int sb_dropout_backward(sb_runtime *rt, const sb_tensor *dy, const sb_tensor *dx, float p, sb_rng_key key) {
    return dropout_launch(rt, "dropout_backward", dy, dx, p, key);
}
