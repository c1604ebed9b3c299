/* GELU: kernel vs double reference (norm-wise on random inputs, and
 * element-wise in float ulps on a sweep through both tails and on huge
 * |x|), reference backward vs finite differences, kernel backward vs
 * reference, bad shapes; both vector widths (the item and wg row
 * variants), whatever the device. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/gelu.h"
#include "test_util.h"

// ---- double-precision reference

/* Phi(x) = (1 + erf(x / sqrt 2)) / 2 as erfc: 1 + erf cancels, even in
 * double, in the left tail. */
static double gelu_ref(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }

static double gelu_grad_ref(double x) {
    return 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
}

typedef struct { const double *dy; size_t n; } loss_ctx;

/* L = sum dy * gelu(x): its gradient is the backward of dy. */
static double loss(const double *x, void *vctx) {
    const loss_ctx *c = vctx;
    double s = 0;
    for (size_t i = 0; i < c->n; i++) s += c->dy[i] * gelu_ref(x[i]);
    return s;
}

// ---- tests

/* The bias fused in front: x (R, C) += b in place, y = gelu(x); the
 * backward then takes the biased x. R * C is odd, and C too, so blocks of
 * four cross rows. */
static void biased(sb_runtime *rt, int R, int C) {
    size_t n = (size_t)R * C;
    printf("# with a bias: (%d, %d)\n", R, C);
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy), *b = malloc(C * sizeof *b);
    double *xb = malloc(n * sizeof *xb), *y_ref = malloc(n * sizeof *y_ref), *dx_ref = malloc(n * sizeof *dx_ref);
    t_uniform(x, n, -5.0f, 5.0f);
    t_uniform(dy, n, -1.0f, 1.0f);
    t_uniform(b, C, -1.0f, 1.0f);
    for (size_t i = 0; i < n; i++) {
        xb[i] = (double)x[i] + b[i % C];
        y_ref[i] = gelu_ref(xb[i]);
        dx_ref[i] = dy[i] * gelu_grad_ref(xb[i]);
    }
    int shape[2] = {R, C}, bshape[1] = {C}, wrong[1] = {C + 1};
    sb_tensor tx = t_upload(rt, "x", SB_F32, 2, shape, x), tdy = t_upload(rt, "dy", SB_F32, 2, shape, dy);
    sb_tensor tb = t_upload(rt, "b", SB_F32, 1, bshape, b), tbw = t_output(rt, "b_long", SB_F32, 1, wrong);
    sb_tensor ty = t_output(rt, "y", SB_F32, 2, shape), tdx = t_output(rt, "dx", SB_F32, 2, shape);
    if (sb_gelu_forward(rt, &tx, &tb, &ty) || sb_gelu_backward(rt, &tx, &tdy, &tdx)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    float *xo = t_download(rt, &tx), *y = t_download(rt, &ty), *dx = t_download(rt, &tdx);
    t_check("gelu_forward with bias: x + b in place vs reference", t_rel_err(xo, xb, n), 1e-6);
    t_check("gelu_forward with bias vs reference", t_rel_err(y, y_ref, n), 1e-5);
    t_check("gelu_backward on the biased x vs reference", t_rel_err(dx, dx_ref, n), 1e-5);
    t_check_error("bias of the wrong length rejected", sb_gelu_forward(rt, &tx, &tbw, &ty), "b_long");
    t_check_error("y in x's buffer rejected with a bias", sb_gelu_forward(rt, &tx, &tb, &tx), "must not be");
    free(x), free(dy), free(b), free(xb), free(y_ref), free(dx_ref), free(xo), free(y), free(dx);
}

/* |got - ref| in units of the float spacing at `scale` (at least 2^-100:
 * near underflow the kernel's intermediates go subnormal). */
static double ulps(float got, double ref, double scale) {
    double step = ldexp(1.0, ilogb(fmax(fabs(scale), 0x1p-100)) - 23);
    return fabs((double)got - ref) / step;
}

/* y = gelu(x) and dx = dy gelu'(x) on the device (n elements, no bias),
 * downloaded; nonzero after reporting a failure. */
static int run(sb_runtime *rt, const float *x, const float *dy, int n, float **y, float **dx) {
    int shape[1] = {n};
    sb_tensor tx = t_upload(rt, "x", SB_F32, 1, shape, x), tdy = t_upload(rt, "dy", SB_F32, 1, shape, dy);
    sb_tensor ty = t_output(rt, "y", SB_F32, 1, shape), tdx = t_output(rt, "dx", SB_F32, 1, shape);
    if (sb_gelu_forward(rt, &tx, NULL, &ty) || sb_gelu_backward(rt, &tx, &tdy, &tdx)) {
        t_check_true(sb_last_error(), 0);
        return 1;
    }
    *y = t_download(rt, &ty), *dx = t_download(rt, &tdx);
    return 0;
}

/* Element-wise: x sweeps [-14, 14] (gelu(x) underflows below -14) in odd
 * steps, then huge and tiny |x|. The largest error in ulps must stay
 * within a few: the kernel's Phi keeps relative accuracy in the left
 * tail, where 1 + erf(x) cancels. */
static void sweep(sb_runtime *rt) {
    static const float extremes[] = {-1e30f, -1e4f, -40.0f, -14.5f, -13.9f, -1e-30f, -1e-6f, 0.0f,
                                     1e-6f, 1e-30f, 3.0e-38f, 13.9f, 40.0f, 1e4f, 1e30f};
    int ne = (int)(sizeof extremes / sizeof extremes[0]), n = (t_small ? 1001 : 280001) + ne;
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy);
    for (int i = 0; i < n - ne; i++) x[i] = -14.0f + 28.0f * (float)i / (float)(n - ne - 1);
    for (int i = 0; i < ne; i++) x[n - ne + i] = extremes[i];
    for (int i = 0; i < n; i++) dy[i] = 1.0f;
    float *y, *dx;
    if (run(rt, x, dy, n, &y, &dx)) return;
    double worst_y = 0, worst_dx = 0;
    float at_y = 0, at_dx = 0;
    for (int i = 0; i < n; i++) {
        /* gelu' = Phi(x) + x phi(x) has a zero near -0.75 where its two
         * terms cancel: its ulps are those of the larger term. */
        double xd = x[i], cdf = 0.5 * erfc(-xd / sqrt(2.0)), xpdf = xd * exp(-0.5 * xd * xd) / sqrt(2.0 * M_PI);
        double uy = ulps(y[i], gelu_ref(xd), gelu_ref(xd));
        double udx = ulps(dx[i], gelu_grad_ref(xd), fmax(cdf, fabs(xpdf)));
        if (!(uy <= worst_y)) worst_y = uy, at_y = x[i];
        if (!(udx <= worst_dx)) worst_dx = udx, at_dx = x[i];
    }
    printf("# sweep of %d values: forward worst %.2f ulp at x = %g, backward worst %.2f ulp at x = %g\n", n,
           worst_y, at_y, worst_dx, at_dx);
    t_check("gelu_forward element-wise, in ulps", worst_y, 8.0);
    t_check("gelu_backward element-wise, in ulps", worst_dx, 8.0);
    free(x), free(dy), free(y), free(dx);
}

/* Random x in [-6, 6] of an odd length against the reference, norm-wise;
 * the reference backward against finite differences. */
static void random_inputs(sb_runtime *rt) {
    int n = t_small ? 77 : 100003; /* not a multiple of any work-group size */
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy);
    double *xd = malloc(n * sizeof *xd), *dyd = malloc(n * sizeof *dyd);
    double *y_ref = malloc(n * sizeof *y_ref), *dx_ref = malloc(n * sizeof *dx_ref);
    t_uniform(x, n, -6.0f, 6.0f);
    t_uniform(dy, n, -1.0f, 1.0f);
    for (int i = 0; i < n; i++) {
        xd[i] = x[i], dyd[i] = dy[i];
        y_ref[i] = gelu_ref(xd[i]);
        dx_ref[i] = dyd[i] * gelu_grad_ref(xd[i]);
    }
    loss_ctx lc = {dyd, (size_t)n};
    t_check("reference backward vs finite differences", t_fd_grad_err(loss, &lc, xd, n, dx_ref, 200), 1e-6);

    float *y, *dx;
    if (run(rt, x, dy, n, &y, &dx)) return;
    t_check("gelu_forward vs reference", t_rel_err(y, y_ref, n), 1e-5);
    t_check("gelu_backward vs reference", t_rel_err(dx, dx_ref, n), 1e-5);

    int shape[1] = {n}, short_shape[1] = {n - 1};
    sb_tensor tx = t_upload(rt, "x", SB_F32, 1, shape, x), tshort = t_output(rt, "y_short", SB_F32, 1, short_shape);
    t_check_error("size mismatch rejected", sb_gelu_forward(rt, &tx, NULL, &tshort), "differ in size");
    free(x), free(dy), free(xd), free(dyd), free(y_ref), free(dx_ref), free(y), free(dx);
}

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_gelu");
    for (int v = SB_ROW_WG; v <= SB_ROW_ITEM; v++) {
        rt->row_variant = (sb_row_variant)v;
        printf("# %s variant (%d elements per work-item)\n", v == SB_ROW_ITEM ? "item" : "wg",
               v == SB_ROW_ITEM ? 16 : 4);
        random_inputs(rt);
        sweep(rt);
        biased(rt, t_small ? 11 : 301, t_small ? 7 : 37);
        biased(rt, 3, 5); /* C < the vector width: a block spans rows */
    }
    return t_finish(rt);
}
