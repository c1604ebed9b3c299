/* Residual launchers. kernels: cl/residual.cl */
#include "ops/residual.h"

#include "ops/check.h"

static int add(sb_runtime *rt, const char *op, const sb_tensor *a, const sb_tensor *b, const sb_tensor *out) {
    SB_TRY(sb_check_f32(op, a));
    SB_TRY(sb_check_f32(op, b));
    SB_TRY(sb_check_f32(op, out));
    SB_TRY(sb_check_same_numel(op, a, b));
    SB_TRY(sb_check_same_numel(op, a, out));
    SB_TRY(sb_check_uint(op, "elements", a->numel));
    cl_kernel k;
    SB_TRY(sb_kernel(rt, "residual", "residual_add", &k));
    cl_uint n = (cl_uint)a->numel;
    SB_TRY(SB_ARG(k, 0, a->buf));
    SB_TRY(SB_ARG(k, 1, b->buf));
    SB_TRY(SB_ARG(k, 2, out->buf));
    SB_TRY(SB_ARG(k, 3, n));
    size_t global = n;
    return sb_launch(rt, k, 1, &global, NULL);
}

int sb_add(sb_runtime *rt, const sb_tensor *a, const sb_tensor *b, const sb_tensor *out) {
    return add(rt, "residual_add", a, b, out);
}

int sb_accumulate(sb_runtime *rt, const sb_tensor *dst, const sb_tensor *src) {
    return add(rt, "accumulate", dst, src, dst);
}
