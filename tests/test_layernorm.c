/* LayerNorm: kernels vs double reference (forward, saved statistics,
 * backward, accumulated parameter gradients), reference backward vs finite
 * differences, bad shapes; the fused bias + dropout + residual in front
 * (sb_ln_pre, in place as the encoder uses it; rows of a trimmed batch
 * keyed as the full one's) and dropout behind the backward (sb_ln_dz),
 * masks from the host Philox. Both launch shapes
 * (sb_row_variant) on every size, whatever the device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/layernorm.h"
#include "ops/philox.h"
#include "test_util.h"

#define EPS 1e-5f

// ---- double-precision reference; x, y, dy, dx are (N, C)

typedef struct { const double *x, *gamma, *beta, *dy; int N, C; } ln_ctx;

static void forward_ref(const ln_ctx *c, double *y, double *mean, double *rstd) {
    for (int n = 0; n < c->N; n++) {
        const double *xr = c->x + (size_t)n * c->C;
        double mu = 0, var = 0;
        for (int j = 0; j < c->C; j++) mu += xr[j];
        mu /= c->C;
        for (int j = 0; j < c->C; j++) var += (xr[j] - mu) * (xr[j] - mu);
        double rs = 1.0 / sqrt(var / c->C + EPS);
        for (int j = 0; j < c->C; j++) y[(size_t)n * c->C + j] = (xr[j] - mu) * rs * c->gamma[j] + c->beta[j];
        mean[n] = mu, rstd[n] = rs;
    }
}

static void backward_ref(const ln_ctx *c, const double *mean, const double *rstd, double *dx, double *dgamma,
                         double *dbeta) {
    for (int j = 0; j < c->C; j++) dgamma[j] = dbeta[j] = 0;
    for (int n = 0; n < c->N; n++) {
        const double *xr = c->x + (size_t)n * c->C, *dyr = c->dy + (size_t)n * c->C;
        double mg = 0, mgx = 0;
        for (int j = 0; j < c->C; j++) {
            double xh = (xr[j] - mean[n]) * rstd[n], g = dyr[j] * c->gamma[j];
            mg += g, mgx += g * xh;
            dgamma[j] += dyr[j] * xh, dbeta[j] += dyr[j];
        }
        mg /= c->C, mgx /= c->C;
        for (int j = 0; j < c->C; j++) {
            double xh = (xr[j] - mean[n]) * rstd[n];
            dx[(size_t)n * c->C + j] = rstd[n] * (dyr[j] * c->gamma[j] - mg - xh * mgx);
        }
    }
}

/* L = sum dy * layernorm(x). t_fd_grad_err perturbs one of c's arrays in
 * place (x, gamma or beta), so z itself is not needed. */
static double loss(const double *z, void *vctx) {
    const ln_ctx *c = vctx;
    (void)z;
    size_t n = (size_t)c->N * c->C;
    double *y = malloc(n * sizeof *y), *mean = malloc(c->N * sizeof *mean), *rstd = malloc(c->N * sizeof *rstd);
    forward_ref(c, y, mean, rstd);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += c->dy[i] * y[i];
    free(y), free(mean), free(rstd);
    return s;
}

// ---- tests

/* One shape: x is (B, T, C), N = B * T rows; bad shapes tried if asked. */
static void run(sb_runtime *rt, int B, int T, int C, int bad_shapes) {
    int N = B * T;
    size_t n = (size_t)N * C;
    printf("# x is (%d, %d, %d)\n", B, T, C);
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy), *gamma = malloc(C * sizeof *gamma);
    float *beta = malloc(C * sizeof *beta), *old = malloc(2 * C * sizeof *old); /* dgamma, dbeta before */
    t_uniform(x, n, -2.0f, 2.0f);
    for (int r = 0; r < N; r++) /* rows of different means and scales */
        for (int j = 0; j < C; j++) x[(size_t)r * C + j] = x[(size_t)r * C + j] * (1.0f + r % 3) + (float)(r % 5);
    t_uniform(dy, n, -1.0f, 1.0f);
    t_uniform(gamma, C, 0.5f, 1.5f);
    t_uniform(beta, C, -1.0f, 1.0f);
    t_uniform(old, 2 * C, -3.0f, 3.0f);

    double *xd = t_to_double(x, n), *dyd = t_to_double(dy, n), *gd = t_to_double(gamma, C), *bd = t_to_double(beta, C);
    double *y_ref = malloc(n * sizeof *y_ref), *mean_ref = malloc(N * sizeof *mean_ref);
    double *rstd_ref = malloc(N * sizeof *rstd_ref), *dx_ref = malloc(n * sizeof *dx_ref);
    double *dg_ref = malloc(C * sizeof *dg_ref), *db_ref = malloc(C * sizeof *db_ref);
    ln_ctx lc = {xd, gd, bd, dyd, N, C};
    forward_ref(&lc, y_ref, mean_ref, rstd_ref);
    backward_ref(&lc, mean_ref, rstd_ref, dx_ref, dg_ref, db_ref);
    t_check("reference dx vs finite differences", t_fd_grad_err(loss, &lc, xd, n, dx_ref, 60), 1e-6);
    t_check("reference dgamma vs finite differences", t_fd_grad_err(loss, &lc, gd, C, dg_ref, 30), 1e-6);
    t_check("reference dbeta vs finite differences", t_fd_grad_err(loss, &lc, bd, C, db_ref, 30), 1e-6);
    double *dg_acc = t_plus(old, dg_ref, C), *db_acc = t_plus(old + C, db_ref, C);

    int shape[3] = {B, T, C}, cshape[1] = {C}, nshape[1] = {N};
    sb_tensor tx = t_upload(rt, "x", SB_F32, 3, shape, x), tdy = t_upload(rt, "dy", SB_F32, 3, shape, dy);
    sb_tensor tg = t_upload(rt, "gamma", SB_F32, 1, cshape, gamma);
    sb_tensor tb = t_upload(rt, "beta", SB_F32, 1, cshape, beta);
    sb_tensor ty = t_output(rt, "y", SB_F32, 3, shape), tdx = t_output(rt, "dx", SB_F32, 3, shape);
    sb_tensor tmean = t_output(rt, "mean", SB_F32, 1, nshape), trstd = t_output(rt, "rstd", SB_F32, 1, nshape);
    sb_tensor tdg = t_output(rt, "dgamma", SB_F32, 1, cshape), tdb = t_output(rt, "dbeta", SB_F32, 1, cshape);
    sb_tensor tdg_acc = t_upload(rt, "dgamma_acc", SB_F32, 1, cshape, old);
    sb_tensor tdb_acc = t_upload(rt, "dbeta_acc", SB_F32, 1, cshape, old + C);
    if (sb_layernorm_forward(rt, &tx, NULL, &tg, &tb, EPS, &ty, &tmean, &trstd) ||
        sb_layernorm_backward(rt, &tx, &tg, &tmean, &trstd, &tdy, &tdx, NULL, &tdg, &tdb, 0) ||
        sb_layernorm_backward(rt, &tx, &tg, &tmean, &trstd, &tdy, &tdx, NULL, &tdg_acc, &tdb_acc, 1)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    float *y = t_download(rt, &ty), *mean = t_download(rt, &tmean), *rstd = t_download(rt, &trstd);
    float *dx = t_download(rt, &tdx), *dg = t_download(rt, &tdg), *db = t_download(rt, &tdb);
    float *dga = t_download(rt, &tdg_acc), *dba = t_download(rt, &tdb_acc);
    t_check("layernorm_forward y vs reference", t_rel_err(y, y_ref, n), 1e-5);
    t_check("layernorm_forward mean vs reference", t_rel_err(mean, mean_ref, N), 1e-5);
    t_check("layernorm_forward rstd vs reference", t_rel_err(rstd, rstd_ref, N), 1e-5);
    t_check("layernorm_backward dx vs reference", t_rel_err(dx, dx_ref, n), 1e-5);
    t_check("layernorm_backward dgamma vs reference", t_rel_err(dg, dg_ref, C), 1e-5);
    t_check("layernorm_backward dbeta vs reference", t_rel_err(db, db_ref, C), 1e-5);
    t_check("layernorm_backward dgamma accumulate vs old + reference", t_rel_err(dga, dg_acc, C), 1e-5);
    t_check("layernorm_backward dbeta accumulate vs old + reference", t_rel_err(dba, db_acc, C), 1e-5);
    free(x), free(dy), free(gamma), free(beta), free(old), free(xd), free(dyd), free(gd), free(bd);
    free(y_ref), free(mean_ref), free(rstd_ref), free(dx_ref), free(dg_ref), free(db_ref), free(dg_acc);
    free(db_acc), free(y), free(mean), free(rstd), free(dx), free(dg), free(db), free(dga), free(dba);
    if (!bad_shapes) return;

    int cshort[1] = {C - 1}, nshort[1] = {N - 1}, other[3] = {B, T, C + 1};
    sb_tensor tg_short = t_output(rt, "gamma_short", SB_F32, 1, cshort);
    sb_tensor tmean_short = t_output(rt, "mean_short", SB_F32, 1, nshort);
    sb_tensor ty_other = t_output(rt, "y_other", SB_F32, 3, other);
    t_check_error("gamma of the wrong length rejected",
                  sb_layernorm_forward(rt, &tx, NULL, &tg_short, &tb, EPS, &ty, &tmean, &trstd), "gamma_short");
    t_check_error("beta of the wrong length rejected",
                  sb_layernorm_forward(rt, &tx, NULL, &tg, &tg_short, EPS, &ty, &tmean, &trstd), "gamma_short");
    t_check_error("mean of the wrong length rejected",
                  sb_layernorm_forward(rt, &tx, NULL, &tg, &tb, EPS, &ty, &tmean_short, &trstd), "mean_short");
    t_check_error("y of the wrong shape rejected",
                  sb_layernorm_forward(rt, &tx, NULL, &tg, &tb, EPS, &ty_other, &tmean, &trstd), "y_other");
    t_check_error("negative eps rejected", sb_layernorm_forward(rt, &tx, NULL, &tg, &tb, -1.0f, &ty, &tmean, &trstd),
                  "eps");
    t_check_error("rstd of the wrong length rejected",
                  sb_layernorm_backward(rt, &tx, &tg, &tmean, &tmean_short, &tdy, &tdx, NULL, &tdg, &tdb, 0),
                  "mean_short");
    t_check_error("dx of the wrong shape rejected",
                  sb_layernorm_backward(rt, &tx, &tg, &tmean, &trstd, &tdy, &ty_other, NULL, &tdg, &tdb, 0), "y_other");
    t_check_error("dbeta of the wrong length rejected",
                  sb_layernorm_backward(rt, &tx, &tg, &tmean, &trstd, &tdy, &tdx, NULL, &tdg, &tg_short, 0),
                  "gamma_short");
}

/* The fused forms: sum = dropout(z + bias) + residual computed in place
 * over z, LayerNorm of sum; the backward's dz = dropout(dx). off is the
 * dropout key's element offset: rows whose first element is not a
 * multiple of 4 (C or off not) take the item kernels' mask per element,
 * the others 64 elements per 16-lane Philox. With seq > 0 the rows are
 * sketches of seq tokens trimmed from full: element (g, t, c) draws the
 * mask of element off + (g * full + t) * C + c. */
static void run_fused(sb_runtime *rt, int N, int C, float p, uint64_t off, int seq, int full) {
    size_t n = (size_t)N * C;
    printf("# fused: (%d, %d), p = %g, offset %llu, trimmed to %d of %d tokens\n", N, C, p, (unsigned long long)off,
           seq, full);
    float *z = malloc(n * sizeof *z), *res = malloc(n * sizeof *res), *dy = malloc(n * sizeof *dy);
    float *bias = malloc(C * sizeof *bias), *gamma = malloc(C * sizeof *gamma), *beta = malloc(C * sizeof *beta);
    t_uniform(z, n, -2.0f, 2.0f);
    t_uniform(res, n, -3.0f, 3.0f);
    t_uniform(dy, n, -1.0f, 1.0f);
    t_uniform(bias, C, -1.0f, 1.0f);
    t_uniform(gamma, C, 0.5f, 1.5f);
    t_uniform(beta, C, -1.0f, 1.0f);
    sb_rng_key key = {.seed = 0x123456789abcdefull, .stream = 77 + (uint64_t)N, .offset = off};
    key.seq = (uint32_t)seq, key.full_seq = (uint32_t)full;
    uint32_t threshold = sb_dropout_threshold(p);
    size_t *at = malloc(n * sizeof *at); /* the untrimmed index of each element */
    for (size_t i = 0; i < n; i++) at[i] = seq ? ((i / C / seq) * full + (i / C) % seq) * C + i % C : i;
    double scale = 1.0 / (1.0 - (double)p);
    double *sum_ref = malloc(n * sizeof *sum_ref), *y_ref = malloc(n * sizeof *y_ref);
    double *mean_ref = malloc(N * sizeof *mean_ref), *rstd_ref = malloc(N * sizeof *rstd_ref);
    double *dx_ref = malloc(n * sizeof *dx_ref), *dz_ref = malloc(n * sizeof *dz_ref);
    double *dg_ref = malloc(C * sizeof *dg_ref), *db_ref = malloc(C * sizeof *db_ref);
    double *gd = t_to_double(gamma, C), *bd = t_to_double(beta, C), *dyd = t_to_double(dy, n);
    for (size_t i = 0; i < n; i++) {
        double v = (double)z[i] + bias[i % C];
        sum_ref[i] = (threshold == 0 || sb_dropout_keep(key, threshold, at[i]) ? v * scale : 0.0) + res[i];
    }
    ln_ctx lc = {sum_ref, gd, bd, dyd, N, C};
    forward_ref(&lc, y_ref, mean_ref, rstd_ref);
    backward_ref(&lc, mean_ref, rstd_ref, dx_ref, dg_ref, db_ref);
    for (size_t i = 0; i < n; i++)
        dz_ref[i] = threshold == 0 || sb_dropout_keep(key, threshold, at[i]) ? dx_ref[i] * scale : 0.0;

    int shape[2] = {N, C}, cshape[1] = {C}, nshape[1] = {N};
    sb_tensor tz = t_upload(rt, "z", SB_F32, 2, shape, z), tres = t_upload(rt, "residual", SB_F32, 2, shape, res);
    sb_tensor tdy = t_upload(rt, "dy", SB_F32, 2, shape, dy), tbias = t_upload(rt, "bias", SB_F32, 1, cshape, bias);
    sb_tensor tg = t_upload(rt, "gamma", SB_F32, 1, cshape, gamma);
    sb_tensor tb = t_upload(rt, "beta", SB_F32, 1, cshape, beta);
    sb_tensor ty = t_output(rt, "y", SB_F32, 2, shape), tdx = t_output(rt, "dx", SB_F32, 2, shape);
    sb_tensor tdz = t_output(rt, "dz", SB_F32, 2, shape);
    sb_tensor tmean = t_output(rt, "mean", SB_F32, 1, nshape), trstd = t_output(rt, "rstd", SB_F32, 1, nshape);
    sb_tensor tdg = t_output(rt, "dgamma", SB_F32, 1, cshape), tdb = t_output(rt, "dbeta", SB_F32, 1, cshape);
    sb_ln_pre pre = {&tbias, &tres, &tz, p, key};
    sb_ln_dz dz = {&tdz, p, key};
    if (sb_layernorm_forward(rt, &tz, &pre, &tg, &tb, EPS, &ty, &tmean, &trstd) ||
        sb_layernorm_backward(rt, &tz, &tg, &tmean, &trstd, &tdy, &tdx, &dz, &tdg, &tdb, 0)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    float *sum = t_download(rt, &tz), *y = t_download(rt, &ty), *mean = t_download(rt, &tmean);
    float *rstd = t_download(rt, &trstd), *dx = t_download(rt, &tdx), *dzo = t_download(rt, &tdz);
    float *dg = t_download(rt, &tdg), *db = t_download(rt, &tdb);
    t_check("fused forward sum (in place) vs reference", t_rel_err(sum, sum_ref, n), 1e-6);
    t_check("fused forward y vs reference", t_rel_err(y, y_ref, n), 1e-5);
    t_check("fused forward mean vs reference", t_rel_err(mean, mean_ref, N), 1e-5);
    t_check("fused forward rstd vs reference", t_rel_err(rstd, rstd_ref, N), 1e-5);
    t_check("fused backward dx vs reference", t_rel_err(dx, dx_ref, n), 1e-5);
    t_check("fused backward dz vs reference (host Philox mask)", t_rel_err(dzo, dz_ref, n), 1e-5);
    t_check("fused backward dgamma vs reference", t_rel_err(dg, dg_ref, C), 1e-5);
    t_check("fused backward dbeta vs reference", t_rel_err(db, db_ref, C), 1e-5);
    size_t same_mask = 0; /* every keep decision, bit for bit (dx is never exactly 0 here) */
    for (size_t i = 0; i < n; i++) same_mask += (dzo[i] == 0.0f) == (dz_ref[i] == 0.0);
    t_check_true("fused backward dz dropped exactly where sb_dropout_keep drops", same_mask == n);
    if (p > 0.0f) {
        size_t dropped = 0;
        for (size_t i = 0; i < n; i++) dropped += dzo[i] == 0.0f;
        t_check_true("fused backward drops some elements", dropped > 0 && dropped < n);
    }
    t_check_error("residual in the sum's buffer rejected",
                  sb_layernorm_forward(rt, &tz, &(sb_ln_pre){&tbias, &tz, &tz, p, key}, &tg, &tb, EPS, &ty, &tmean,
                                       &trstd),
                  "must not be the sum's buffer");
    t_check_error("dropout p = 1 rejected",
                  sb_layernorm_backward(rt, &tz, &tg, &tmean, &trstd, &tdy, &tdx, &(sb_ln_dz){&tdz, 1.0f, key}, &tdg,
                                        &tdb, 0),
                  "outside [0, 1)");
    if (seq) {
        sb_rng_key odd = key;
        odd.seq = (uint32_t)N + 1;
        t_check_error("trimmed rows not a whole number of sketches rejected",
                      sb_layernorm_forward(rt, &tz, &(sb_ln_pre){&tbias, &tres, &tz, p, odd}, &tg, &tb, EPS, &ty,
                                           &tmean, &trstd),
                      "trimmed to");
    }
    free(at), free(z), free(res), free(dy), free(bias), free(gamma), free(beta), free(sum_ref), free(y_ref);
    free(mean_ref), free(rstd_ref), free(dx_ref), free(dz_ref), free(dg_ref), free(db_ref), free(gd), free(bd);
    free(dyd), free(sum), free(y), free(mean), free(rstd), free(dx), free(dzo), free(dg), free(db);
}

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_layernorm");
    /* No size is a multiple of a work-group size; C below and above 256
     * (one work-group of at most 256 per row), N above the row lanes; C
     * below 16, a multiple of 16, and 16s with a tail (the item kernels'
     * float16 steps). */
    for (int v = SB_ROW_WG; v <= SB_ROW_ITEM; v++) {
        rt->row_variant = (sb_row_variant)v;
        printf("# %s variant\n", v == SB_ROW_ITEM ? "item" : "wg");
        if (t_small) {
            run(rt, 1, 5, 7, 1);
            run(rt, 2, 3, 301, 0);
            run_fused(rt, 5, 7, 0.4f, 15, 0, 0);
            run_fused(rt, 3, 301, 0.0f, 9, 0, 0);
            run_fused(rt, 3, 40, 0.3f, 9, 0, 0); /* item: dropout 16 columns at a time, then a tail of 8 */
            run_fused(rt, 3, 88, 0.3f, 4, 0, 0); /* item: 64 columns per Philox draw, then 16 + 8 */
            run_fused(rt, 4, 40, 0.3f, 12, 2, 5); /* 2 sketches of 2 of 5 tokens */
        } else {
            run(rt, 1, 37, 129, 1);
            run(rt, 3, 13, 200, 0);
            run(rt, 2, 7, 64, 1); /* whole blocks of 16 columns only */
            run(rt, 2, 9, 601, 0);
            run_fused(rt, 37, 129, 0.5f, 111, 0, 0);
            run_fused(rt, 9, 601, 0.1f, 27, 0, 0);
            run_fused(rt, 13, 33, 0.0f, 39, 0, 0);
            run_fused(rt, 11, 64, 0.2f, 33, 0, 0); /* whole blocks of 16 columns only */
            run_fused(rt, 7, 100, 0.3f, 8, 0, 0);  /* item: 64 columns per draw, 32 more, a tail of 4 */
            run_fused(rt, 9, 128, 0.5f, 12, 0, 0); /* the model's rows: two draws of 64 */
            /* block counters crossing 2^32 inside the first rows */
            run_fused(rt, 5, 192, 0.5f, (1ull << 34) - 200, 0, 0);
            run_fused(rt, 21, 129, 0.5f, 63, 7, 19);   /* 3 sketches of 7 of 19 tokens */
            run_fused(rt, 15, 128, 0.3f, 45, 5, 11);   /* trimmed, whole 64-column draws */
            run_fused(rt, 15, 48, 0.3f, 45, 15, 15); /* untrimmed, said so */
        }
    }
    return t_finish(rt);
}
