/* GELU launchers. kernels: cl/gelu.cl */
#include "ops/gelu.h"

#include "ops/check.h"

int sb_gelu_forward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *b, const sb_tensor *y) {
    static const char op[] = "gelu_forward";
    SB_TRY(sb_check_f32(op, x));
    SB_TRY(sb_check_f32(op, y));
    SB_TRY(sb_check_same_numel(op, x, y));
    SB_TRY(sb_check_uint(op, "elements", x->numel + 15)); /* blocks of up to 16 per work-item */
    cl_uint C = (cl_uint)x->shape[x->ndim - 1], has_bias = b != NULL;
    if (b) {
        int c = (int)C;
        SB_TRY(sb_check_f32(op, b));
        SB_TRY(sb_check_shape(op, b, 1, &c));
        if (x->buf == y->buf)
            return sb_fail(SB_ERR_INVALID, "%s: with a bias, y %s must not be x's buffer", op, y->name);
    }
    cl_kernel k;
    size_t w;
    SB_TRY(sb_vec_kernel(rt, "gelu", op, &k, &w));
    cl_uint n = (cl_uint)x->numel;
    SB_TRY(SB_ARG(k, 0, x->buf));
    SB_TRY(SB_ARG(k, 1, (b ? b : x)->buf));
    SB_TRY(SB_ARG(k, 2, y->buf));
    SB_TRY(SB_ARG(k, 3, n));
    SB_TRY(SB_ARG(k, 4, C));
    SB_TRY(SB_ARG(k, 5, has_bias));
    size_t global = (n + w - 1) / w;
    return sb_launch(rt, k, 1, &global, NULL);
}

int sb_gelu_backward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *dy, const sb_tensor *dx) {
    SB_TRY(sb_check_f32("gelu_backward", x));
    SB_TRY(sb_check_f32("gelu_backward", dy));
    SB_TRY(sb_check_f32("gelu_backward", dx));
    SB_TRY(sb_check_same_numel("gelu_backward", x, dy));
    SB_TRY(sb_check_same_numel("gelu_backward", x, dx));
    SB_TRY(sb_check_uint("gelu_backward", "elements", x->numel + 15));
    cl_kernel k;
    size_t w;
    SB_TRY(sb_vec_kernel(rt, "gelu", "gelu_backward", &k, &w));
    cl_uint n = (cl_uint)x->numel;
    SB_TRY(SB_ARG(k, 0, x->buf));
    SB_TRY(SB_ARG(k, 1, dy->buf));
    SB_TRY(SB_ARG(k, 2, dx->buf));
    SB_TRY(SB_ARG(k, 3, n));
    size_t global = (n + w - 1) / w;
    return sb_launch(rt, k, 1, &global, NULL);
}
