/* Linear layer: CLBlast GEMMs plus the bias ops. */
#include "ops/linear.h"

#include "ops/bias.h"
#include "ops/check.h"
#include "ops/gemm.h"

/* W is (out, in) with in = x's last dimension; t (y or dy) is x's shape
 * with out last. Sets *rows = N, *in, *out. */
static int check_shapes(const char *op, const sb_tensor *x, const sb_tensor *W, const sb_tensor *t, size_t *rows,
                        size_t *in, size_t *out) {
    SB_TRY(sb_check_f32(op, x));
    SB_TRY(sb_check_f32(op, W));
    SB_TRY(sb_check_f32(op, t));
    SB_TRY(sb_check_dim_match(op, x, -1, W, 1));
    int w_shape[2] = {W->shape[0], x->shape[x->ndim - 1]}, t_shape[SB_MAX_DIMS];
    SB_TRY(sb_check_shape(op, W, 2, w_shape));
    for (int i = 0; i < x->ndim; i++) t_shape[i] = x->shape[i];
    t_shape[x->ndim - 1] = W->shape[0];
    SB_TRY(sb_check_shape(op, t, x->ndim, t_shape));
    *in = (size_t)w_shape[1], *out = (size_t)w_shape[0], *rows = x->numel / *in;
    return 0;
}

/* A row-major matrix of `cols` columns over the whole of t's buffer. */
static sb_mat mat(const sb_tensor *t, size_t cols) { return (sb_mat){t->buf, 0, cols}; }

int sb_linear_forward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *W, const sb_tensor *b,
                      const sb_tensor *y) {
    static const char op[] = "linear_forward";
    size_t N, in, out;
    SB_TRY(check_shapes(op, x, W, y, &N, &in, &out));
    if (b) {
        SB_TRY(sb_check_f32(op, b));
        SB_TRY(sb_check_shape(op, b, 1, W->shape));
    }
    /* y (N, out) = x (N, in) W^T */
    SB_TRY(sb_gemm(rt, 0, 1, N, out, in, 1.0f, mat(x, in), mat(W, in), 0.0f, mat(y, out)));
    return b ? sb_bias_add(rt, y, b, y) : 0;
}

int sb_linear_backward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *W, const sb_tensor *dy,
                       const sb_tensor *dx, const sb_tensor *dW, const sb_tensor *db, int accumulate_dx,
                       int accumulate_params) {
    static const char op[] = "linear_backward";
    size_t N, in, out;
    SB_TRY(check_shapes(op, x, W, dy, &N, &in, &out));
    SB_TRY(sb_check_f32(op, dW));
    SB_TRY(sb_check_shape(op, dW, 2, W->shape));
    if (dx) {
        SB_TRY(sb_check_f32(op, dx));
        SB_TRY(sb_check_shape(op, dx, x->ndim, x->shape));
    }
    if (db) {
        SB_TRY(sb_check_f32(op, db));
        SB_TRY(sb_check_shape(op, db, 1, W->shape));
    }
    float beta_dx = accumulate_dx ? 1.0f : 0.0f, beta_params = accumulate_params ? 1.0f : 0.0f;
    /* dx (N, in) = dy (N, out) W (out, in) */
    if (dx) SB_TRY(sb_gemm(rt, 0, 0, N, in, out, 1.0f, mat(dy, out), mat(W, in), beta_dx, mat(dx, in)));
    /* dW (out, in) = dy^T (out, N) x (N, in) */
    SB_TRY(sb_gemm(rt, 1, 0, out, in, N, 1.0f, mat(dy, out), mat(x, in), beta_params, mat(dW, in)));
    return db ? sb_bias_grad(rt, dy, db, accumulate_params) : 0;
}
