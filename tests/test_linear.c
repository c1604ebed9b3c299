/* Linear layer: forward (with and without bias) and backward (overwriting,
 * accumulating, optional dx and db) vs double reference, reference
 * gradients vs finite differences, bad shapes. */
#include <stdio.h>
#include <stdlib.h>

#include "ops/linear.h"
#include "test_util.h"

// ---- double-precision reference; x is (N, in), W is (out, in), y is (N, out)

typedef struct { const double *x, *W, *b, *dy; int N, in, out; } lin_ctx;

static void forward_ref(const lin_ctx *c, int with_bias, double *y) {
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->out; o++) {
            double s = with_bias ? c->b[o] : 0;
            for (int i = 0; i < c->in; i++) s += c->x[n * c->in + i] * c->W[o * c->in + i];
            y[n * c->out + o] = s;
        }
}

static void backward_ref(const lin_ctx *c, double *dx, double *dW, double *db) {
    for (int n = 0; n < c->N; n++)
        for (int i = 0; i < c->in; i++) {
            double s = 0;
            for (int o = 0; o < c->out; o++) s += c->dy[n * c->out + o] * c->W[o * c->in + i];
            dx[n * c->in + i] = s;
        }
    for (int o = 0; o < c->out; o++) {
        db[o] = 0;
        for (int i = 0; i < c->in; i++) dW[o * c->in + i] = 0;
        for (int n = 0; n < c->N; n++) {
            db[o] += c->dy[n * c->out + o];
            for (int i = 0; i < c->in; i++) dW[o * c->in + i] += c->dy[n * c->out + o] * c->x[n * c->in + i];
        }
    }
}

/* L = sum dy * linear(x); t_fd_grad_err perturbs c->x, c->W or c->b in place. */
static double loss(const double *z, void *vctx) {
    const lin_ctx *c = vctx;
    (void)z;
    double *y = malloc((size_t)c->N * c->out * sizeof *y), s = 0;
    forward_ref(c, 1, y);
    for (int i = 0; i < c->N * c->out; i++) s += c->dy[i] * y[i];
    free(y);
    return s;
}

// ---- tests

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_linear");
    /* x is (B, T, in): leading dimensions fold into N rows. Odd sizes. */
    int B = t_small ? 2 : 1, T = t_small ? 3 : 37, in = t_small ? 7 : 29, out = t_small ? 3 : 19, N = B * T;
    int nx = N * in, nw = out * in, ny = N * out;
    float *x = malloc(nx * sizeof *x), *W = malloc(nw * sizeof *W), *b = malloc(out * sizeof *b);
    float *dy = malloc(ny * sizeof *dy), *old = malloc((nx + nw + out) * sizeof *old); /* dx, dW, db before */
    t_uniform(x, nx, -1.0f, 1.0f);
    t_uniform(W, nw, -0.5f, 0.5f);
    t_uniform(b, out, -1.0f, 1.0f);
    t_uniform(dy, ny, -1.0f, 1.0f);
    t_uniform(old, nx + nw + out, -2.0f, 2.0f);
    double *xd = t_to_double(x, nx), *Wd = t_to_double(W, nw), *bd = t_to_double(b, out), *dyd = t_to_double(dy, ny);
    double *y_ref = malloc(ny * sizeof *y_ref), *y0_ref = malloc(ny * sizeof *y0_ref);
    double *dx_ref = malloc(nx * sizeof *dx_ref), *dW_ref = malloc(nw * sizeof *dW_ref);
    double *db_ref = malloc(out * sizeof *db_ref);
    lin_ctx lc = {xd, Wd, bd, dyd, N, in, out};
    forward_ref(&lc, 1, y_ref);
    forward_ref(&lc, 0, y0_ref);
    backward_ref(&lc, dx_ref, dW_ref, db_ref);
    t_check("reference dx vs finite differences", t_fd_grad_err(loss, &lc, xd, nx, dx_ref, 100), 1e-6);
    t_check("reference dW vs finite differences", t_fd_grad_err(loss, &lc, Wd, nw, dW_ref, 100), 1e-6);
    t_check("reference db vs finite differences", t_fd_grad_err(loss, &lc, bd, out, db_ref, 100), 1e-6);
    double *dx_acc = t_plus(old, dx_ref, nx), *dW_acc = t_plus(old + nx, dW_ref, nw);
    double *db_acc = t_plus(old + nx + nw, db_ref, out);

    int xs[3] = {B, T, in}, ys[3] = {B, T, out}, ws[2] = {out, in}, bs[1] = {out};
    sb_tensor tx = t_upload(rt, "x", SB_F32, 3, xs, x), tW = t_upload(rt, "W", SB_F32, 2, ws, W);
    sb_tensor tb = t_upload(rt, "b", SB_F32, 1, bs, b), tdy = t_upload(rt, "dy", SB_F32, 3, ys, dy);
    sb_tensor ty = t_output(rt, "y", SB_F32, 3, ys), ty0 = t_output(rt, "y_nobias", SB_F32, 3, ys);
    sb_tensor tdx = t_output(rt, "dx", SB_F32, 3, xs), tdW = t_output(rt, "dW", SB_F32, 2, ws);
    sb_tensor tdb = t_output(rt, "db", SB_F32, 1, bs), tdW_only = t_output(rt, "dW_only", SB_F32, 2, ws);
    sb_tensor tdx_acc = t_upload(rt, "dx_acc", SB_F32, 3, xs, old);
    sb_tensor tdW_acc = t_upload(rt, "dW_acc", SB_F32, 2, ws, old + nx);
    sb_tensor tdb_acc = t_upload(rt, "db_acc", SB_F32, 1, bs, old + nx + nw);
    if (sb_linear_forward(rt, &tx, &tW, &tb, &ty) || sb_linear_forward(rt, &tx, &tW, NULL, &ty0) ||
        sb_linear_backward(rt, &tx, &tW, &tdy, &tdx, &tdW, &tdb, 0, 0) ||
        sb_linear_backward(rt, &tx, &tW, &tdy, &tdx_acc, &tdW_acc, &tdb_acc, 1, 1) ||
        sb_linear_backward(rt, &tx, &tW, &tdy, NULL, &tdW_only, NULL, 0, 0)) {
        t_check_true(sb_last_error(), 0);
        return t_finish(rt);
    }
    float *y = t_download(rt, &ty), *y0 = t_download(rt, &ty0), *dx = t_download(rt, &tdx);
    float *dW = t_download(rt, &tdW), *db = t_download(rt, &tdb), *dxa = t_download(rt, &tdx_acc);
    float *dWa = t_download(rt, &tdW_acc), *dba = t_download(rt, &tdb_acc), *dWo = t_download(rt, &tdW_only);
    t_check("linear_forward vs reference", t_rel_err(y, y_ref, ny), 1e-5);
    t_check("linear_forward without bias vs reference", t_rel_err(y0, y0_ref, ny), 1e-5);
    t_check("linear_backward dx vs reference", t_rel_err(dx, dx_ref, nx), 1e-5);
    t_check("linear_backward dW vs reference", t_rel_err(dW, dW_ref, nw), 1e-5);
    t_check("linear_backward db vs reference", t_rel_err(db, db_ref, out), 1e-5);
    t_check("linear_backward accumulate dx vs old + reference", t_rel_err(dxa, dx_acc, nx), 1e-5);
    t_check("linear_backward accumulate dW vs old + reference", t_rel_err(dWa, dW_acc, nw), 1e-5);
    t_check("linear_backward accumulate db vs old + reference", t_rel_err(dba, db_acc, out), 1e-5);
    t_check("linear_backward dW alone (dx, db NULL) vs reference", t_rel_err(dWo, dW_ref, nw), 1e-5);

    int wide[2] = {out, in + 1}, bshort[1] = {out - 1}, yother[3] = {B, T + 1, out};
    sb_tensor tW_wide = t_output(rt, "W_wide", SB_F32, 2, wide), tb_short = t_output(rt, "b_short", SB_F32, 1, bshort);
    sb_tensor ty_other = t_output(rt, "y_other", SB_F32, 3, yother);
    char needle[160];
    snprintf(needle, sizeof needle, "x[%d,%d,%d] dimension 2 is %d but W_wide[%d,%d] dimension 1 is %d", B, T, in,
             in, out, in + 1, in + 1);
    t_check_error("W with another input size rejected, naming x and W",
                  sb_linear_forward(rt, &tx, &tW_wide, &tb, &ty), needle);
    t_check_error("backward: W with another input size rejected",
                  sb_linear_backward(rt, &tx, &tW_wide, &tdy, &tdx, &tdW, &tdb, 0, 0), "W_wide");
    t_check_error("bias of the wrong length rejected", sb_linear_forward(rt, &tx, &tW, &tb_short, &ty), "b_short");
    t_check_error("y of the wrong shape rejected", sb_linear_forward(rt, &tx, &tW, &tb, &ty_other), "y_other");
    t_check_error("dy of the wrong shape rejected",
                  sb_linear_backward(rt, &tx, &tW, &ty_other, &tdx, &tdW, &tdb, 0, 0), "y_other");
    t_check_error("dW of the wrong shape rejected",
                  sb_linear_backward(rt, &tx, &tW, &tdy, &tdx, &tW_wide, &tdb, 0, 0), "W_wide");
    t_check_error("dx of the wrong shape rejected",
                  sb_linear_backward(rt, &tx, &tW, &tdy, &ty, &tdW, &tdb, 0, 0), "tensor y[");
    t_check_error("db of the wrong length rejected",
                  sb_linear_backward(rt, &tx, &tW, &tdy, &tdx, &tdW, &tb_short, 0, 0), "b_short");
    free(x), free(W), free(b), free(dy), free(old), free(xd), free(Wd), free(bd), free(dyd), free(y_ref);
    free(y0_ref), free(dx_ref), free(dW_ref), free(db_ref), free(dx_acc), free(dW_acc), free(db_acc), free(y);
    free(y0), free(dx), free(dW), free(db), free(dxa), free(dWa), free(dba), free(dWo);
    return t_finish(rt);
}
