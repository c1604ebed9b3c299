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

/* The dropout arguments (seed and stream in 32-bit halves, threshold,
 * scale, offset in halves, the trimmed layout's rows per sketch and key
 * gap per sketch) from index i on: 10 of them. N rows of C. */
static int set_dropout_args(const char *op, cl_kernel k, cl_uint i, float p, sb_rng_key key, cl_uint N, cl_uint C) {
    cl_uint words[4] = {(cl_uint)key.seed, (cl_uint)(key.seed >> 32), (cl_uint)key.stream,
                        (cl_uint)(key.stream >> 32)};
    cl_uint threshold = sb_dropout_threshold(p);
    float scale = 1.0f / (1.0f - p);
    cl_uint off[2] = {(cl_uint)key.offset, (cl_uint)(key.offset >> 32)};
    cl_uint seq = 1, gap = 0;
    if (key.full_seq) {
        if (key.seq == 0 || key.seq > key.full_seq || N % key.seq)
            return sb_fail(SB_ERR_INVALID, "%s: %u rows trimmed to %u of %u tokens per sketch", op, N, key.seq,
                           key.full_seq);
        SB_TRY(sb_check_uint(op, "key gap", (size_t)(key.full_seq - key.seq) * C));
        seq = key.seq, gap = (key.full_seq - key.seq) * C;
    }
    for (cl_uint j = 0; j < 4; j++) SB_TRY(SB_ARG(k, i + j, words[j]));
    SB_TRY(SB_ARG(k, i + 4, threshold));
    SB_TRY(SB_ARG(k, i + 5, scale));
    SB_TRY(SB_ARG(k, i + 6, off[0]));
    SB_TRY(SB_ARG(k, i + 7, off[1]));
    SB_TRY(SB_ARG(k, i + 8, seq));
    return SB_ARG(k, i + 9, gap);
}

static int check_p(const char *op, float p) {
    if (!(p >= 0.0f && p < 1.0f)) return sb_fail(SB_ERR_INVALID, "%s: dropout p = %g is outside [0, 1)", op, p);
    return 0;
}

int sb_layernorm_forward(sb_runtime *rt, const sb_tensor *x, const sb_ln_pre *pre, const sb_tensor *gamma,
                         const sb_tensor *beta, float eps, const sb_tensor *y, const sb_tensor *mean,
                         const sb_tensor *rstd) {
    static const char op[] = "layernorm_forward";
    cl_uint N, C;
    SB_TRY(check_common(op, x, gamma, mean, rstd, y, y, &N, &C));
    SB_TRY(sb_check_f32(op, beta));
    SB_TRY(sb_check_shape(op, beta, 1, gamma->shape));
    if (!(eps >= 0.0f) || isinf(eps)) return sb_fail(SB_ERR_INVALID, "%s: eps = %g must be finite and >= 0", op, eps);
    cl_uint has_pre = pre != NULL;
    if (pre) {
        const sb_tensor *t[] = {pre->bias, pre->residual, pre->sum};
        for (int i = 0; i < 3; i++) SB_TRY(sb_check_f32(op, t[i]));
        SB_TRY(sb_check_shape(op, pre->bias, 1, gamma->shape));
        SB_TRY(sb_check_shape(op, pre->residual, x->ndim, x->shape));
        SB_TRY(sb_check_shape(op, pre->sum, x->ndim, x->shape));
        SB_TRY(check_p(op, pre->p));
        if (pre->residual->buf == pre->sum->buf)
            return sb_fail(SB_ERR_INVALID, "%s: residual %s must not be the sum's buffer", op, pre->residual->name);
    }
    cl_kernel k;
    SB_TRY(sb_row_kernel(rt, "layernorm", op, &k));
    SB_TRY(SB_ARG(k, 0, x->buf));
    SB_TRY(SB_ARG(k, 1, (pre ? pre->bias : x)->buf));
    SB_TRY(SB_ARG(k, 2, (pre ? pre->residual : x)->buf));
    SB_TRY(SB_ARG(k, 3, (pre ? pre->sum : x)->buf));
    SB_TRY(SB_ARG(k, 4, has_pre));
    SB_TRY(set_dropout_args(op, k, 5, pre ? pre->p : 0.0f, pre ? pre->key : (sb_rng_key){0}, N, C));
    SB_TRY(SB_ARG(k, 15, gamma->buf));
    SB_TRY(SB_ARG(k, 16, beta->buf));
    SB_TRY(SB_ARG(k, 17, y->buf));
    SB_TRY(SB_ARG(k, 18, mean->buf));
    SB_TRY(SB_ARG(k, 19, rstd->buf));
    SB_TRY(SB_ARG(k, 20, C));
    SB_TRY(SB_ARG(k, 21, eps));
    return sb_launch_rows(rt, k, 22, N, sb_reduce_wg_size(rt, k));
}

/* dgamma, dbeta: column sums, tiles of columns by row lanes (wg) or a
 * work-item per 16 columns (item). */
static int launch_params(sb_runtime *rt, const sb_tensor *x, const sb_tensor *mean, const sb_tensor *rstd,
                         const sb_tensor *dy, const sb_tensor *dgamma, const sb_tensor *dbeta, cl_uint N, cl_uint C,
                         int accumulate) {
    cl_kernel k;
    SB_TRY(sb_row_kernel(rt, "layernorm", "layernorm_backward_params", &k));
    cl_int acc = accumulate != 0;
    SB_TRY(SB_ARG(k, 0, x->buf));
    SB_TRY(SB_ARG(k, 1, mean->buf));
    SB_TRY(SB_ARG(k, 2, rstd->buf));
    SB_TRY(SB_ARG(k, 3, dy->buf));
    SB_TRY(SB_ARG(k, 4, dgamma->buf));
    SB_TRY(SB_ARG(k, 5, dbeta->buf));
    SB_TRY(SB_ARG(k, 6, N));
    SB_TRY(SB_ARG(k, 7, C));
    SB_TRY(SB_ARG(k, 8, acc));
    return sb_launch_columns(rt, k, 9, C);
}

int sb_layernorm_backward(sb_runtime *rt, const sb_tensor *x, const sb_tensor *gamma, const sb_tensor *mean,
                          const sb_tensor *rstd, const sb_tensor *dy, const sb_tensor *dx, const sb_ln_dz *dz,
                          const sb_tensor *dgamma, const sb_tensor *dbeta, int accumulate_params) {
    static const char op[] = "layernorm_backward";
    cl_uint N, C;
    SB_TRY(check_common(op, x, gamma, mean, rstd, dy, dx, &N, &C));
    SB_TRY(sb_check_f32(op, dgamma));
    SB_TRY(sb_check_f32(op, dbeta));
    SB_TRY(sb_check_shape(op, dgamma, 1, gamma->shape));
    SB_TRY(sb_check_shape(op, dbeta, 1, gamma->shape));
    cl_uint has_dz = dz != NULL;
    if (dz) {
        SB_TRY(sb_check_f32(op, dz->dz));
        SB_TRY(sb_check_shape(op, dz->dz, x->ndim, x->shape));
        SB_TRY(check_p(op, dz->p));
        if (dz->dz->buf == dx->buf)
            return sb_fail(SB_ERR_INVALID, "%s: dz %s must not be dx's buffer", op, dz->dz->name);
    }
    cl_kernel k;
    SB_TRY(sb_row_kernel(rt, "layernorm", op, &k));
    SB_TRY(SB_ARG(k, 0, x->buf));
    SB_TRY(SB_ARG(k, 1, gamma->buf));
    SB_TRY(SB_ARG(k, 2, mean->buf));
    SB_TRY(SB_ARG(k, 3, rstd->buf));
    SB_TRY(SB_ARG(k, 4, dy->buf));
    SB_TRY(SB_ARG(k, 5, dx->buf));
    SB_TRY(SB_ARG(k, 6, (dz ? dz->dz : dx)->buf));
    SB_TRY(SB_ARG(k, 7, has_dz));
    SB_TRY(set_dropout_args(op, k, 8, dz ? dz->p : 0.0f, dz ? dz->key : (sb_rng_key){0}, N, C));
    SB_TRY(SB_ARG(k, 18, C));
    SB_TRY(sb_launch_rows(rt, k, 19, N, sb_reduce_wg_size(rt, k)));
    return launch_params(rt, x, mean, rstd, dy, dgamma, dbeta, N, C, accumulate_params);
}
