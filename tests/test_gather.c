/* Strided gather: forward vs double reference for the token-row and the
 * sequence-row layouts of an encoder output (B, Tin, H), the reference
 * scatter backward vs finite differences, the kernel backward (overwrite
 * and accumulate, the rest of dx untouched) vs reference, bad layouts. */
#include <stdio.h>
#include <stdlib.h>

#include "ops/gather.h"
#include "test_util.h"

// ---- double-precision reference

static size_t src_index(const sb_gather_layout *at, size_t e) {
    return at->x_offset + (e / at->len) * at->x_stride + e % at->len;
}

typedef struct { const sb_gather_layout *at; const double *dy; } loss_ctx;

/* L = sum dy * gather(x): its gradient is the scatter of dy. */
static double loss(const double *x, void *vctx) {
    const loss_ctx *c = vctx;
    double s = 0;
    for (size_t e = 0; e < c->at->count * c->at->len; e++) s += c->dy[e] * x[src_index(c->at, e)];
    return s;
}

// ---- tests

/* One layout over x (B, Tin, H): forward, reference backward, kernel
 * backward with accumulate off and on. */
static void check_layout(sb_runtime *rt, const char *what, const sb_tensor *tx, const float *x,
                         const sb_gather_layout *at) {
    size_t n = tx->numel, m = at->count * at->len;
    float *dy = malloc(m * sizeof *dy), *old = malloc(n * sizeof *old);
    double *xd = malloc(n * sizeof *xd), *dyd = malloc(m * sizeof *dyd), *y_ref = malloc(m * sizeof *y_ref);
    double *grad = calloc(n, sizeof *grad), *dx_set = malloc(n * sizeof *dx_set), *dx_acc = malloc(n * sizeof *dx_acc);
    t_uniform(dy, m, -1.0f, 1.0f);
    t_uniform(old, n, -2.0f, 2.0f);
    for (size_t i = 0; i < n; i++) xd[i] = x[i], dx_set[i] = dx_acc[i] = old[i];
    for (size_t e = 0; e < m; e++) {
        size_t s = src_index(at, e);
        dyd[e] = dy[e], y_ref[e] = xd[s], grad[s] = dyd[e];
        dx_set[s] = dyd[e], dx_acc[s] = (double)old[s] + dyd[e];
    }
    char name[128];
    loss_ctx lc = {at, dyd};
    snprintf(name, sizeof name, "%s: reference backward vs finite differences", what);
    t_check(name, t_fd_grad_err(loss, &lc, xd, n, grad, 200), 1e-6);

    int yshape[2] = {(int)at->count, (int)at->len};
    sb_tensor ty = t_output(rt, "y", SB_F32, 2, yshape), tdy = t_upload(rt, "dy", SB_F32, 2, yshape, dy);
    sb_tensor tset = t_upload(rt, "dx_set", SB_F32, tx->ndim, tx->shape, old);
    sb_tensor tacc = t_upload(rt, "dx_acc", SB_F32, tx->ndim, tx->shape, old);
    if (sb_gather_forward(rt, tx, at, &ty) || sb_gather_backward(rt, &tdy, at, &tset, 0) ||
        sb_gather_backward(rt, &tdy, at, &tacc, 1)) {
        t_check_true(sb_last_error(), 0);
    } else {
        float *y = t_download(rt, &ty), *set = t_download(rt, &tset), *acc = t_download(rt, &tacc);
        snprintf(name, sizeof name, "%s: gather_forward vs reference", what);
        t_check(name, t_rel_err(y, y_ref, m), 1e-5);
        snprintf(name, sizeof name, "%s: gather_backward (overwrite, rest untouched) vs reference", what);
        t_check(name, t_rel_err(set, dx_set, n), 1e-5);
        snprintf(name, sizeof name, "%s: gather_backward (accumulate) vs reference", what);
        t_check(name, t_rel_err(acc, dx_acc, n), 1e-5);
        free(y), free(set), free(acc);
    }
    free(dy), free(old), free(xd), free(dyd), free(y_ref), free(grad), free(dx_set), free(dx_acc);
}

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_gather");
    /* x is (B, Tin, H) with K = 2 leading tokens; no size is a multiple of
     * any work-group size. */
    int B = t_small ? 3 : 13, Tin = t_small ? 6 : 41, H = t_small ? 5 : 37, K = 2;
    size_t n = (size_t)B * Tin * H;
    float *x = malloc(n * sizeof *x);
    t_uniform(x, n, -3.0f, 3.0f);
    int shape[3] = {B, Tin, H};
    sb_tensor tx = t_upload(rt, "x", SB_F32, 3, shape, x);

    sb_gather_layout token = {(size_t)B, (size_t)H, 1 * (size_t)H, (size_t)Tin * H};
    check_layout(rt, "token row 1", &tx, x, &token);
    sb_gather_layout seq = {(size_t)B, (size_t)(Tin - K) * H, (size_t)K * H, (size_t)Tin * H};
    check_layout(rt, "sequence rows", &tx, x, &seq);
    sb_gather_layout third = {1, n / 3, n / 3, 0};
    check_layout(rt, "middle third", &tx, x, &third);

    int yshape[2] = {B, H};
    sb_tensor ty = t_output(rt, "y_rows", SB_F32, 2, yshape);
    sb_gather_layout past = {(size_t)B, (size_t)H, (size_t)Tin * H, (size_t)Tin * H};
    t_check_error("block past the end rejected", sb_gather_forward(rt, &tx, &past, &ty), "reach element");
    sb_gather_layout wide = {(size_t)B, (size_t)H + 1, 0, (size_t)Tin * H};
    t_check_error("output size mismatch rejected", sb_gather_forward(rt, &tx, &wide, &ty), "y_rows");
    t_check_error("backward block past the end rejected", sb_gather_backward(rt, &ty, &past, &tx, 0),
                  "reach element");
    free(x);
    return t_finish(rt);
}
