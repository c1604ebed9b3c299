/* Position embedding launchers. kernels: cl/bias.cl (forward, through
 * sb_bias_add), cl/position.cl (backward) */
#include "ops/position.h"

#include <limits.h>

#include "ops/bias.h"
#include "ops/check.h"

/* x is (B, T, C) and pos is (Tmax, C) with T <= Tmax. */
static int check_shapes(const char *op, const sb_tensor *x, const sb_tensor *pos) {
    SB_TRY(sb_check_f32(op, x));
    SB_TRY(sb_check_f32(op, pos));
    char sx[96], sp[96];
    if (x->ndim != 3)
        return sb_fail(SB_ERR_INVALID, "%s: tensor %s must be (B, T, C)", op, sb_tensor_str(x, sx, sizeof sx));
    if (pos->ndim != 2)
        return sb_fail(SB_ERR_INVALID, "%s: tensor %s must be (Tmax, C)", op, sb_tensor_str(pos, sp, sizeof sp));
    SB_TRY(sb_check_dim_match(op, x, 2, pos, 1));
    if (x->shape[1] > pos->shape[0])
        return sb_fail(SB_ERR_INVALID, "%s: %s has %d positions but %s only %d", op,
                       sb_tensor_str(x, sx, sizeof sx), x->shape[1], sb_tensor_str(pos, sp, sizeof sp),
                       pos->shape[0]);
    if (x->numel > INT_MAX) /* the flattened views below have int shapes */
        return sb_fail(SB_ERR_INVALID, "%s: tensor %s is too large", op, sb_tensor_str(x, sx, sizeof sx));
    return 0;
}

/* *v is t's buffer seen with another shape of at most t's elements. */
static int view(const sb_tensor *t, int ndim, const int *shape, sb_tensor *v) {
    SB_TRY(sb_tensor_describe(v, t->name, t->dtype, ndim, shape));
    v->buf = t->buf;
    return 0;
}

int sb_position_forward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *pos, const sb_tensor *y) {
    static const char op[] = "position_forward";
    SB_TRY(check_shapes(op, x, pos));
    SB_TRY(sb_check_f32(op, y));
    SB_TRY(sb_check_shape(op, y, 3, x->shape));
    /* x + pos[t] is a bias add over rows of T * C: pos's first T rows are
     * the bias. */
    int rows_cols[2] = {x->shape[0], x->shape[1] * x->shape[2]};
    sb_tensor xv, yv, pv;
    SB_TRY(view(x, 2, rows_cols, &xv));
    SB_TRY(view(y, 2, rows_cols, &yv));
    SB_TRY(view(pos, 1, rows_cols + 1, &pv));
    return sb_bias_add(rt, &xv, &pv, &yv);
}

int sb_position_backward(sb_runtime *rt, const sb_tensor *dy, const sb_tensor *dpos, int accumulate) {
    static const char op[] = "position_backward";
    SB_TRY(check_shapes(op, dy, dpos));
    SB_TRY(sb_check_uint(op, "elements", dpos->numel));
    cl_kernel k;
    SB_TRY(sb_kernel(rt, "position", "position_backward", &k));
    cl_uint B = (cl_uint)dy->shape[0], TC = (cl_uint)(dy->shape[1] * dy->shape[2]), n = (cl_uint)dpos->numel;
    cl_int acc = accumulate != 0;
    SB_TRY(SB_ARG(k, 0, dy->buf));
    SB_TRY(SB_ARG(k, 1, dpos->buf));
    SB_TRY(SB_ARG(k, 2, B));
    SB_TRY(SB_ARG(k, 3, TC));
    SB_TRY(SB_ARG(k, 4, n));
    SB_TRY(SB_ARG(k, 5, acc));
    size_t global = n;
    return sb_launch(rt, k, 1, &global, NULL);
}
