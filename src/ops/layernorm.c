/* LayerNorm launchers. kernels: cl/layernorm.cl */
#include "ops/layernorm.h"

#include <math.h>

#include "ops/check.h"

/* Checks shared by both directions: x (N, C) against gamma (C) and the
 * saved statistics (N); t1 and t2 (y, or dy and dx) must have x's shape.
 * Sets *rows = N and *cols = C. */
static int check_common(const char *op, const sb_tensor *x, const sb_tensor *gamma, const sb_tensor *mean,
                        const sb_tensor *rstd, const sb_tensor *t1, const sb_tensor *t2, cl_uint *rows,
                        cl_uint *cols) {
    const sb_tensor *all[] = {x, gamma, mean, rstd, t1, t2};
    for (int i = 0; i < 6; i++) SB_TRY(sb_check_f32(op, all[i]));
    int C = x->shape[x->ndim - 1], N = (int)(x->numel / (size_t)C);
    SB_TRY(sb_check_uint(op, "elements", x->numel));
    SB_TRY(sb_check_shape(op, gamma, 1, &C));
    SB_TRY(sb_check_shape(op, mean, 1, &N));
    SB_TRY(sb_check_shape(op, rstd, 1, &N));
    SB_TRY(sb_check_shape(op, t1, x->ndim, x->shape));
    SB_TRY(sb_check_shape(op, t2, x->ndim, x->shape));
    *rows = (cl_uint)N, *cols = (cl_uint)C;
    return 0;
}

/* One work-group per row: the largest power of two the kernel allows, at
 * most 256, with that many floats of scratch (the last argument). */
static int launch_rows(sb_runtime *rt, cl_kernel k, cl_uint scratch_arg, cl_uint rows) {
    size_t local = sb_reduce_wg_size(rt, k);
    SB_TRY(sb_set_local_arg(k, scratch_arg, local * sizeof(float)));
    size_t global = (size_t)rows * local;
    return sb_launch(rt, k, 1, &global, &local);
}

int sb_layernorm_forward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *gamma, const sb_tensor *beta,
                         float eps, const sb_tensor *y, const sb_tensor *mean, const sb_tensor *rstd) {
    static const char op[] = "layernorm_forward";
    cl_uint N, C;
    SB_TRY(check_common(op, x, gamma, mean, rstd, y, y, &N, &C));
    SB_TRY(sb_check_f32(op, beta));
    SB_TRY(sb_check_shape(op, beta, 1, gamma->shape));
    if (!(eps >= 0.0f) || isinf(eps)) return sb_fail(SB_ERR_INVALID, "%s: eps = %g must be finite and >= 0", op, eps);
    cl_kernel k;
    SB_TRY(sb_kernel(rt, "layernorm", "layernorm_forward", &k));
    SB_TRY(SB_ARG(k, 0, x->buf));
    SB_TRY(SB_ARG(k, 1, gamma->buf));
    SB_TRY(SB_ARG(k, 2, beta->buf));
    SB_TRY(SB_ARG(k, 3, y->buf));
    SB_TRY(SB_ARG(k, 4, mean->buf));
    SB_TRY(SB_ARG(k, 5, rstd->buf));
    SB_TRY(SB_ARG(k, 6, C));
    SB_TRY(SB_ARG(k, 7, eps));
    return launch_rows(rt, k, 8, N);
}

int sb_layernorm_backward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *gamma, const sb_tensor *mean,
                          const sb_tensor *rstd, const sb_tensor *dy, const sb_tensor *dx, const sb_tensor *dgamma,
                          const sb_tensor *dbeta, int accumulate_params) {
    static const char op[] = "layernorm_backward";
    cl_uint N, C;
    SB_TRY(check_common(op, x, gamma, mean, rstd, dy, dx, &N, &C));
    SB_TRY(sb_check_f32(op, dgamma));
    SB_TRY(sb_check_f32(op, dbeta));
    SB_TRY(sb_check_shape(op, dgamma, 1, gamma->shape));
    SB_TRY(sb_check_shape(op, dbeta, 1, gamma->shape));

    cl_kernel k;
    SB_TRY(sb_kernel(rt, "layernorm", "layernorm_backward", &k));
    SB_TRY(SB_ARG(k, 0, x->buf));
    SB_TRY(SB_ARG(k, 1, gamma->buf));
    SB_TRY(SB_ARG(k, 2, mean->buf));
    SB_TRY(SB_ARG(k, 3, rstd->buf));
    SB_TRY(SB_ARG(k, 4, dy->buf));
    SB_TRY(SB_ARG(k, 5, dx->buf));
    SB_TRY(SB_ARG(k, 6, C));
    SB_TRY(launch_rows(rt, k, 7, N));

    cl_kernel kp;
    SB_TRY(sb_kernel(rt, "layernorm", "layernorm_backward_params", &kp));
    size_t lanes = sb_reduce_wg_size(rt, kp);
    size_t local[2] = {lanes < 32 ? lanes : 32, 0}; /* columns by row lanes */
    local[1] = lanes / local[0];
    cl_int acc = accumulate_params != 0;
    SB_TRY(SB_ARG(kp, 0, x->buf));
    SB_TRY(SB_ARG(kp, 1, mean->buf));
    SB_TRY(SB_ARG(kp, 2, rstd->buf));
    SB_TRY(SB_ARG(kp, 3, dy->buf));
    SB_TRY(SB_ARG(kp, 4, dgamma->buf));
    SB_TRY(SB_ARG(kp, 5, dbeta->buf));
    SB_TRY(SB_ARG(kp, 6, N));
    SB_TRY(SB_ARG(kp, 7, C));
    SB_TRY(SB_ARG(kp, 8, acc));
    SB_TRY(sb_set_local_arg(kp, 9, lanes * sizeof(float)));
    size_t global[2] = {sb_round_up(C, local[0]), local[1]};
    return sb_launch(rt, kp, 2, global, local);
}
