/* Bias add and gradient: kernels vs double reference (out of place, in
 * place, accumulate), reference gradient vs finite differences, bad shapes.
 * Both launch shapes (sb_row_variant: blocks of 4 or 16 elements forward,
 * column kernels backward), whatever the device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/bias.h"
#include "test_util.h"

// ---- double-precision reference; x, dy are (N, C), b is (C)

typedef struct { const double *x, *b, *dy; int N, C; } loss_ctx;

/* L = sum dy * (x + b); t_fd_grad_err perturbs c->b in place, so z is it. */
static double loss(const double *z, void *vctx) {
    const loss_ctx *c = vctx;
    (void)z;
    double s = 0;
    for (int n = 0; n < c->N; n++)
        for (int j = 0; j < c->C; j++) s += c->dy[n * c->C + j] * (c->x[n * c->C + j] + c->b[j]);
    return s;
}

static void col_sum_ref(const double *dy, int N, int C, double *db) {
    for (int j = 0; j < C; j++) db[j] = 0;
    for (int n = 0; n < N; n++)
        for (int j = 0; j < C; j++) db[j] += dy[n * C + j];
}

// ---- tests

/* y = x + b on (N, C), to another buffer and in place (blocks of 4 or 16
 * elements per work-item by variant; N * C odd-sized). */
static void forward(sb_runtime *rt, int N, int C) {
    size_t n = (size_t)N * C;
    float *x = malloc(n * sizeof *x), *b = malloc(C * sizeof *b);
    double *y_ref = malloc(n * sizeof *y_ref);
    t_uniform(x, n, -2.0f, 2.0f);
    t_uniform(b, C, -1.0f, 1.0f);
    for (size_t i = 0; i < n; i++) y_ref[i] = (double)x[i] + b[i % C];
    int shape[2] = {N, C}, bshape[1] = {C};
    sb_tensor tx = t_upload(rt, "x", SB_F32, 2, shape, x), tb = t_upload(rt, "b", SB_F32, 1, bshape, b);
    sb_tensor ty = t_output(rt, "y", SB_F32, 2, shape), tinplace = t_upload(rt, "x_inplace", SB_F32, 2, shape, x);
    if (sb_bias_add(rt, &tx, &tb, &ty) || sb_bias_add(rt, &tinplace, &tb, &tinplace)) {
        t_check_true(sb_last_error(), 0);
    } else {
        float *y = t_download(rt, &ty), *yi = t_download(rt, &tinplace);
        printf("# bias_forward (%d, %d)\n", N, C);
        t_check("bias_forward vs reference", t_rel_err(y, y_ref, n), 1e-6);
        t_check("bias_forward in place vs reference", t_rel_err(yi, y_ref, n), 1e-6);
        free(y), free(yi);
    }
    free(x), free(b), free(y_ref);
}

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_bias");
    /* x is (B, T, C): leading dimensions fold into N rows; no size is a
     * multiple of a work-group size, and N spans several row lanes. */
    int B = t_small ? 2 : 7, T = t_small ? 5 : 53, C = t_small ? 19 : 129, N = B * T, n = N * C;
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy), *b = malloc(C * sizeof *b);
    float *db_old = malloc(C * sizeof *db_old);
    double *xd = malloc(n * sizeof *xd), *dyd = malloc(n * sizeof *dyd), *bd = malloc(C * sizeof *bd);
    double *db_ref = malloc(C * sizeof *db_ref);
    double *db_acc = malloc(C * sizeof *db_acc);
    t_uniform(x, n, -2.0f, 2.0f);
    t_uniform(dy, n, -1.0f, 1.0f);
    t_uniform(b, C, -1.0f, 1.0f);
    t_uniform(db_old, C, -3.0f, 3.0f);
    for (int i = 0; i < n; i++) xd[i] = x[i], dyd[i] = dy[i];
    for (int j = 0; j < C; j++) bd[j] = b[j];
    col_sum_ref(dyd, N, C, db_ref);
    for (int j = 0; j < C; j++) db_acc[j] = db_old[j] + db_ref[j];
    loss_ctx lc = {xd, bd, dyd, N, C};
    t_check("reference db vs finite differences", t_fd_grad_err(loss, &lc, bd, C, db_ref, 200), 1e-6);

    int shape[3] = {B, T, C}, bshape[1] = {C};
    sb_tensor tx = t_upload(rt, "x", SB_F32, 3, shape, x), tb = t_upload(rt, "b", SB_F32, 1, bshape, b);
    sb_tensor tdy = t_upload(rt, "dy", SB_F32, 3, shape, dy), ty = t_output(rt, "y", SB_F32, 3, shape);
    sb_tensor tdb = t_output(rt, "db", SB_F32, 1, bshape);
    for (int v = SB_ROW_WG; v <= SB_ROW_ITEM; v++) {
        rt->row_variant = (sb_row_variant)v;
        printf("# %s variant\n", v == SB_ROW_ITEM ? "item" : "wg");
        forward(rt, N, C);
        forward(rt, 7, 5); /* C below the block width: blocks span rows */
        t_poison(rt, &tdb);
        sb_tensor tdb_acc = t_upload(rt, "db_acc", SB_F32, 1, bshape, db_old);
        if (sb_bias_grad(rt, &tdy, &tdb, 0) || sb_bias_grad(rt, &tdy, &tdb_acc, 1)) {
            t_check_true(sb_last_error(), 0);
            return t_finish(rt);
        }
        float *db = t_download(rt, &tdb), *dba = t_download(rt, &tdb_acc);
        t_check("bias_backward vs reference", t_rel_err(db, db_ref, C), 1e-5);
        t_check("bias_backward accumulate vs old + reference", t_rel_err(dba, db_acc, C), 1e-5);
        t_poison(rt, &tdb);
        float *db2 = NULL;
        if (sb_bias_grad(rt, &tdy, &tdb, 0) == 0) db2 = t_download(rt, &tdb);
        t_check_true("bias_backward bitwise repeatable", db2 && memcmp(db, db2, C * sizeof *db) == 0);
        free(db), free(dba), free(db2);
    }

    int short_b[1] = {C - 1}, other[3] = {B, T + 1, C};
    sb_tensor tb_short = t_output(rt, "b_short", SB_F32, 1, short_b);
    sb_tensor ty_other = t_output(rt, "y_other", SB_F32, 3, other);
    t_check_error("bias of the wrong length rejected", sb_bias_add(rt, &tx, &tb_short, &ty), "b_short");
    t_check_error("y of the wrong shape rejected", sb_bias_add(rt, &tx, &tb, &ty_other), "y_other");
    t_check_error("db of the wrong length rejected", sb_bias_grad(rt, &tdy, &tb_short, 0), "b_short");
    free(x), free(dy), free(b), free(db_old), free(xd), free(dyd), free(bd), free(db_ref);
    free(db_acc);
    return t_finish(rt);
}
