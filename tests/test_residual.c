/* Residual add and gradient accumulation: kernels vs double reference (out
 * = a + b, and dst += src in place), the identity backward vs finite
 * differences, size mismatches. */
#include <stdlib.h>

#include "ops/residual.h"
#include "test_util.h"

// ---- double-precision reference

typedef struct { const double *a, *b, *dy; int n; } loss_ctx;

/* L = sum dy * (a + b); t_fd_grad_err perturbs c->a or c->b in place. */
static double loss(const double *z, void *vctx) {
    const loss_ctx *c = vctx;
    (void)z;
    double s = 0;
    for (int i = 0; i < c->n; i++) s += c->dy[i] * (c->a[i] + c->b[i]);
    return s;
}

// ---- tests

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_residual");
    /* a is (rows, 7), the others flat: only the element count must agree.
     * n is not a multiple of any work-group size. */
    int rows = t_small ? 11 : 14287, n = rows * 7;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *dy = malloc(n * sizeof *dy);
    double *ad = malloc(n * sizeof *ad), *bd = malloc(n * sizeof *bd), *dyd = malloc(n * sizeof *dyd);
    double *sum_ref = malloc(n * sizeof *sum_ref);
    t_uniform(a, n, -3.0f, 3.0f);
    t_uniform(b, n, -3.0f, 3.0f);
    t_uniform(dy, n, -1.0f, 1.0f);
    for (int i = 0; i < n; i++) ad[i] = a[i], bd[i] = b[i], dyd[i] = dy[i], sum_ref[i] = ad[i] + bd[i];
    /* The backward is the identity: dL/da = dL/db = dy. */
    loss_ctx lc = {ad, bd, dyd, n};
    t_check("identity backward (a) vs finite differences", t_fd_grad_err(loss, &lc, ad, n, dyd, 200), 1e-6);
    t_check("identity backward (b) vs finite differences", t_fd_grad_err(loss, &lc, bd, n, dyd, 200), 1e-6);

    int shape[2] = {rows, 7}, flat[1] = {n};
    sb_tensor ta = t_upload(rt, "a", SB_F32, 2, shape, a), tb = t_upload(rt, "b", SB_F32, 1, flat, b);
    sb_tensor tout = t_output(rt, "out", SB_F32, 1, flat), tdst = t_upload(rt, "dst", SB_F32, 1, flat, a);
    if (sb_add(rt, &ta, &tb, &tout) || sb_accumulate(rt, &tdst, &tb)) {
        t_check_true(sb_last_error(), 0);
        return t_finish(rt);
    }
    float *out = t_download(rt, &tout), *dst = t_download(rt, &tdst);
    t_check("residual_add vs reference", t_rel_err(out, sum_ref, n), 1e-5);
    t_check("accumulate (dst += src) vs reference", t_rel_err(dst, sum_ref, n), 1e-5);

    int short_shape[1] = {n - 1};
    sb_tensor tshort = t_output(rt, "b_short", SB_F32, 1, short_shape);
    t_check_error("size mismatch rejected", sb_add(rt, &ta, &tshort, &tout), "b_short");
    t_check_error("accumulate size mismatch rejected", sb_accumulate(rt, &tdst, &tshort), "b_short");
    free(a), free(b), free(dy), free(ad), free(bd), free(dyd), free(sum_ref), free(out), free(dst);
    return t_finish(rt);
}
