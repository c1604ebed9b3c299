/* GELU launchers. kernels: cl/gelu.cl */
#include "ops/gelu.h"

#include "ops/check.h"

int sb_gelu_forward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *y) {
    SB_TRY(sb_check_f32("gelu_forward", x));
    SB_TRY(sb_check_f32("gelu_forward", y));
    SB_TRY(sb_check_same_numel("gelu_forward", x, y));
    SB_TRY(sb_check_uint("gelu_forward", "elements", x->numel + 3)); /* blocks of 4 per work-item */
    cl_kernel k;
    SB_TRY(sb_kernel(rt, "gelu", "gelu_forward", &k));
    cl_uint n = (cl_uint)x->numel;
    SB_TRY(SB_ARG(k, 0, x->buf));
    SB_TRY(SB_ARG(k, 1, y->buf));
    SB_TRY(SB_ARG(k, 2, n));
    size_t global = (n + 3) / 4;
    return sb_launch(rt, k, 1, &global, NULL);
}

int sb_gelu_backward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *dy, const sb_tensor *dx) {
    SB_TRY(sb_check_f32("gelu_backward", x));
    SB_TRY(sb_check_f32("gelu_backward", dy));
    SB_TRY(sb_check_f32("gelu_backward", dx));
    SB_TRY(sb_check_same_numel("gelu_backward", x, dy));
    SB_TRY(sb_check_same_numel("gelu_backward", x, dx));
    SB_TRY(sb_check_uint("gelu_backward", "elements", x->numel + 3));
    cl_kernel k;
    SB_TRY(sb_kernel(rt, "gelu", "gelu_backward", &k));
    cl_uint n = (cl_uint)x->numel;
    SB_TRY(SB_ARG(k, 0, x->buf));
    SB_TRY(SB_ARG(k, 1, dy->buf));
    SB_TRY(SB_ARG(k, 2, dx->buf));
    SB_TRY(SB_ARG(k, 3, n));
    size_t global = (n + 3) / 4;
    return sb_launch(rt, k, 1, &global, NULL);
}
