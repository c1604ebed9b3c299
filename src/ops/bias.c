/* Bias launchers. kernels: cl/bias.cl */
#include "ops/bias.h"

#include "ops/check.h"

int sb_bias_add(sb_runtime *rt, const sb_tensor *x, const sb_tensor *b, const sb_tensor *y) {
    static const char op[] = "bias_add";
    SB_TRY(sb_check_f32(op, x));
    SB_TRY(sb_check_f32(op, b));
    SB_TRY(sb_check_f32(op, y));
    int C = x->shape[x->ndim - 1];
    SB_TRY(sb_check_shape(op, b, 1, &C));
    SB_TRY(sb_check_shape(op, y, x->ndim, x->shape));
    SB_TRY(sb_check_uint(op, "elements", x->numel + 15)); /* blocks of up to 16 per work-item */
    cl_kernel k;
    size_t w;
    SB_TRY(sb_vec_kernel(rt, "bias", "bias_forward", &k, &w));
    cl_uint cols = (cl_uint)C, n = (cl_uint)x->numel;
    SB_TRY(SB_ARG(k, 0, x->buf));
    SB_TRY(SB_ARG(k, 1, b->buf));
    SB_TRY(SB_ARG(k, 2, y->buf));
    SB_TRY(SB_ARG(k, 3, cols));
    SB_TRY(SB_ARG(k, 4, n));
    size_t global = (n + w - 1) / w;
    return sb_launch(rt, k, 1, &global, NULL);
}

int sb_bias_grad(sb_runtime *rt, const sb_tensor *dy, const sb_tensor *db, int accumulate) {
    static const char op[] = "bias_grad";
    SB_TRY(sb_check_f32(op, dy));
    SB_TRY(sb_check_f32(op, db));
    int C = dy->shape[dy->ndim - 1];
    SB_TRY(sb_check_shape(op, db, 1, &C));
    SB_TRY(sb_check_uint(op, "elements", dy->numel));
    cl_kernel k;
    SB_TRY(sb_row_kernel(rt, "bias", "bias_backward", &k));
    cl_uint rows = (cl_uint)(dy->numel / (size_t)C), cols = (cl_uint)C;
    cl_int acc = accumulate != 0;
    SB_TRY(SB_ARG(k, 0, dy->buf));
    SB_TRY(SB_ARG(k, 1, db->buf));
    SB_TRY(SB_ARG(k, 2, rows));
    SB_TRY(SB_ARG(k, 3, cols));
    SB_TRY(SB_ARG(k, 4, acc));
    return sb_launch_columns(rt, k, 5, cols);
}
