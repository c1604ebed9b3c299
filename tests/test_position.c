/* Position embedding: kernels vs double reference (forward out of place and
 * in place, backward overwriting and accumulating, unused rows), reference
 * gradients vs finite differences, bad shapes. */
#include <stdio.h>
#include <stdlib.h>

#include "ops/position.h"
#include "test_util.h"

// ---- double-precision reference; x, dy are (B, T, C), pos is (Tmax, C)

typedef struct { const double *x, *pos, *dy; int B, T, C; } loss_ctx;

/* L = sum dy * (x + pos[t]); t_fd_grad_err perturbs c->x or c->pos in place. */
static double loss(const double *z, void *vctx) {
    const loss_ctx *c = vctx;
    (void)z;
    int TC = c->T * c->C;
    double s = 0;
    for (int b = 0; b < c->B; b++)
        for (int i = 0; i < TC; i++) s += c->dy[b * TC + i] * (c->x[b * TC + i] + c->pos[i]);
    return s;
}

// ---- tests

static void run(sb_runtime *rt, int B, int T, int Tmax, int C, int bad_shapes) {
    int TC = T * C, n = B * TC, np = Tmax * C;
    printf("# x is (%d, %d, %d), pos is (%d, %d)\n", B, T, C, Tmax, C);
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy), *pos = malloc(np * sizeof *pos);
    float *old = malloc(np * sizeof *old);
    double *xd = malloc(n * sizeof *xd), *dyd = malloc(n * sizeof *dyd), *pd = malloc(np * sizeof *pd);
    double *y_ref = malloc(n * sizeof *y_ref), *dp_ref = malloc(np * sizeof *dp_ref);
    double *dp_acc = malloc(np * sizeof *dp_acc);
    t_uniform(x, n, -2.0f, 2.0f);
    t_uniform(dy, n, -1.0f, 1.0f);
    t_uniform(pos, np, -1.0f, 1.0f);
    t_uniform(old, np, -3.0f, 3.0f);
    for (int i = 0; i < n; i++) xd[i] = x[i], dyd[i] = dy[i];
    for (int i = 0; i < np; i++) pd[i] = pos[i], dp_ref[i] = 0;
    for (int i = 0; i < n; i++) y_ref[i] = xd[i] + pd[i % TC], dp_ref[i % TC] += dyd[i];
    for (int i = 0; i < np; i++) dp_acc[i] = old[i] + dp_ref[i];
    loss_ctx lc = {xd, pd, dyd, B, T, C};
    t_check("reference dpos (zero past T) vs finite differences", t_fd_grad_err(loss, &lc, pd, np, dp_ref, 200),
            1e-6);
    t_check("identity dx = dy vs finite differences", t_fd_grad_err(loss, &lc, xd, n, dyd, 200), 1e-6);

    int shape[3] = {B, T, C}, pshape[2] = {Tmax, C};
    sb_tensor tx = t_upload(rt, "x", SB_F32, 3, shape, x), tdy = t_upload(rt, "dy", SB_F32, 3, shape, dy);
    sb_tensor tpos = t_upload(rt, "pos", SB_F32, 2, pshape, pos), ty = t_output(rt, "y", SB_F32, 3, shape);
    sb_tensor tinplace = t_upload(rt, "x_inplace", SB_F32, 3, shape, x);
    sb_tensor tdp = t_output(rt, "dpos", SB_F32, 2, pshape), tdp_acc = t_upload(rt, "dpos_acc", SB_F32, 2, pshape, old);
    if (sb_position_forward(rt, &tx, &tpos, &ty) || sb_position_forward(rt, &tinplace, &tpos, &tinplace) ||
        sb_position_backward(rt, &tdy, &tdp, 0) || sb_position_backward(rt, &tdy, &tdp_acc, 1)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    float *y = t_download(rt, &ty), *yi = t_download(rt, &tinplace);
    float *dp = t_download(rt, &tdp), *dpa = t_download(rt, &tdp_acc);
    t_check("position_forward vs reference", t_rel_err(y, y_ref, n), 1e-5);
    t_check("position_forward in place vs reference", t_rel_err(yi, y_ref, n), 1e-5);
    t_check("position_backward vs reference", t_rel_err(dp, dp_ref, np), 1e-5);
    t_check("position_backward accumulate vs old + reference", t_rel_err(dpa, dp_acc, np), 1e-5);
    free(x), free(dy), free(pos), free(old), free(xd), free(dyd), free(pd), free(y_ref), free(dp_ref);
    free(dp_acc), free(y), free(yi), free(dp), free(dpa);
    if (!bad_shapes) return;

    int short_pos[2] = {T - 1, C}, narrow_pos[2] = {Tmax, C + 1}, flat[2] = {B, TC}, other[3] = {B, T, C + 1};
    sb_tensor tpos_short = t_output(rt, "pos_short", SB_F32, 2, short_pos);
    sb_tensor tpos_narrow = t_output(rt, "pos_narrow", SB_F32, 2, narrow_pos);
    sb_tensor tflat = t_output(rt, "x_flat", SB_F32, 2, flat), ty_other = t_output(rt, "y_other", SB_F32, 3, other);
    t_check_error("more positions than pos has rejected", sb_position_forward(rt, &tx, &tpos_short, &ty),
                  "positions but pos_short");
    t_check_error("pos of another width rejected", sb_position_forward(rt, &tx, &tpos_narrow, &ty), "pos_narrow");
    t_check_error("x not (B, T, C) rejected", sb_position_forward(rt, &tflat, &tpos, &tflat), "x_flat");
    t_check_error("y of the wrong shape rejected", sb_position_forward(rt, &tx, &tpos, &ty_other), "y_other");
    t_check_error("backward: dpos too short rejected", sb_position_backward(rt, &tdy, &tpos_short, 0),
                  "pos_short");
}

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_position");
    /* T < Tmax (unused rows must come out zero) and T == Tmax. */
    if (t_small) {
        run(rt, 2, 3, 5, 7, 1);
        run(rt, 3, 4, 4, 5, 0);
    } else {
        run(rt, 4, 50, 57, 129, 1);
        run(rt, 3, 11, 11, 13, 0);
    }
    return t_finish(rt);
}
