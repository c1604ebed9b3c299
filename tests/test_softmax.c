/* Masked scaled softmax: kernel vs double reference, reference backward vs
 * finite differences, kernel backward vs reference, in-place use, bad
 * shapes. Odd T (37, and 251 as in the model) so rows never fill a
 * power-of-two work-group. Every case runs both launch shapes
 * (sb_row_variant), whatever the device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/softmax.h"
#include "test_util.h"

// ---- double-precision reference; s, p, dp, ds are (BH, T, T), mask (B, T)

typedef struct { int B, heads, T; double scale; const double *mask; } dims;

static void softmax_ref(const dims *d, const double *s, double *p) {
    int T = d->T;
    for (int r = 0; r < d->B * d->heads * T; r++) {
        const double *m = d->mask + r / T / d->heads * T;
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < T; j++) {
            p[r * T + j] = d->scale * s[r * T + j] + (1 - m[j]) * -10000.0;
            mx = fmax(mx, p[r * T + j]);
        }
        for (int j = 0; j < T; j++) sum += (p[r * T + j] = exp(p[r * T + j] - mx));
        for (int j = 0; j < T; j++) p[r * T + j] /= sum;
    }
}

static void softmax_backward_ref(const dims *d, const double *p, const double *dp, double *ds) {
    int T = d->T;
    for (int r = 0; r < d->B * d->heads * T; r++) {
        double dot = 0;
        for (int j = 0; j < T; j++) dot += dp[r * T + j] * p[r * T + j];
        for (int j = 0; j < T; j++) ds[r * T + j] = d->scale * p[r * T + j] * (dp[r * T + j] - dot);
    }
}

typedef struct { const dims *d; const double *dp; double *p; size_t n; } loss_ctx;

/* L = sum dp * softmax(s): its gradient is the backward of dp. */
static double loss(const double *s, void *vctx) {
    const loss_ctx *c = vctx;
    softmax_ref(c->d, s, c->p);
    double l = 0;
    for (size_t i = 0; i < c->n; i++) l += c->dp[i] * c->p[i];
    return l;
}

// ---- tests

static void run_case(sb_runtime *rt, int B, int heads, int T) {
    printf("# B=%d heads=%d T=%d, %s variant\n", B, heads, T, rt->row_variant == SB_ROW_ITEM ? "item" : "wg");
    size_t n = (size_t)B * heads * T * T;
    float *s = malloc(n * sizeof *s), *dp = malloc(n * sizeof *dp), *mask = malloc((size_t)B * T * sizeof *mask);
    t_uniform(s, n, -4.0f, 4.0f);
    t_uniform(dp, n, -1.0f, 1.0f);
    for (int b = 0; b < B; b++) /* a different length per batch item, at least 1 */
        for (int j = 0; j < T; j++) mask[b * T + j] = j < T - 1 - (b * 7) % T ? 1.0f : 0.0f;
    float scale = 1.0f / sqrtf(8.0f);
    double *sd = t_to_double(s, n), *dpd = t_to_double(dp, n), *maskd = t_to_double(mask, (size_t)B * T);
    double *p_ref = malloc(n * sizeof *p_ref), *ds_ref = malloc(n * sizeof *ds_ref), *work = malloc(n * sizeof *work);
    dims d = {B, heads, T, scale, maskd};
    softmax_ref(&d, sd, p_ref);
    softmax_backward_ref(&d, p_ref, dpd, ds_ref);
    loss_ctx lc = {&d, dpd, work, n};
    t_check("reference backward vs finite differences", t_fd_grad_err(loss, &lc, sd, n, ds_ref, 200), 1e-6);
    /* the kernel backward takes the float probabilities, as in use */
    float *p_f = malloc(n * sizeof *p_f);
    for (size_t i = 0; i < n; i++) p_f[i] = (float)p_ref[i];

    int shape[3] = {B * heads, T, T}, mshape[2] = {B, T};
    sb_tensor ts = t_upload(rt, "scores", SB_F32, 3, shape, s), tm = t_upload(rt, "mask", SB_F32, 2, mshape, mask);
    sb_tensor tpf = t_upload(rt, "probs_in", SB_F32, 3, shape, p_f), tdp = t_upload(rt, "dprobs", SB_F32, 3, shape, dp);
    sb_tensor tp = t_output(rt, "probs", SB_F32, 3, shape), tds = t_output(rt, "dscores", SB_F32, 3, shape);
    sb_tensor tinplace = t_upload(rt, "scores_inplace", SB_F32, 3, shape, s);
    sb_tensor tdinplace = t_upload(rt, "dprobs_inplace", SB_F32, 3, shape, dp);
    if (sb_softmax_forward(rt, &ts, &tm, &tp, scale) || sb_softmax_backward(rt, &tpf, &tdp, &tds, scale) ||
        sb_softmax_forward(rt, &tinplace, &tm, &tinplace, scale) ||
        sb_softmax_backward(rt, &tpf, &tdinplace, &tdinplace, scale)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    float *p = t_download(rt, &tp), *ds = t_download(rt, &tds);
    float *p_in = t_download(rt, &tinplace), *ds_in = t_download(rt, &tdinplace);
    t_check("softmax_forward vs reference", t_rel_err(p, p_ref, n), 1e-5);
    t_check("softmax_forward in place vs reference", t_rel_err(p_in, p_ref, n), 1e-5);
    t_check("softmax_backward vs reference", t_rel_err(ds, ds_ref, n), 1e-5);
    t_check("softmax_backward in place vs reference", t_rel_err(ds_in, ds_ref, n), 1e-5);
    double masked = 0; /* probability given to padding columns */
    for (size_t i = 0; i < n; i++) masked += (mask[(i / T / T / heads) * T + i % T] == 0.0f) * p[i];
    t_check("probability on padding columns", masked, 1e-30);

    int bad_mask_shape[2] = {B, T + 1}, bad_rows[3] = {B * heads, T, T + 1};
    sb_tensor tbm = t_output(rt, "mask_long", SB_F32, 2, bad_mask_shape);
    sb_tensor tbr = t_output(rt, "scores_wide", SB_F32, 3, bad_rows);
    t_check_error("mask of the wrong length rejected", sb_softmax_forward(rt, &ts, &tbm, &tp, scale), "must be (B, T)");
    t_check_error("non-square rows rejected", sb_softmax_forward(rt, &tbr, &tm, &tbr, scale), "must be (BH, T, T)");
    t_check_error("dprobs of another shape rejected", sb_softmax_backward(rt, &tp, &tbr, &tds, scale),
                  "expected shape");
    if (B * heads > 1) {
        int odd_mask_shape[2] = {B * heads + 1, T};
        sb_tensor tom = t_output(rt, "mask_many", SB_F32, 2, odd_mask_shape);
        t_check_error("B not dividing BH rejected", sb_softmax_forward(rt, &ts, &tom, &tp, scale), "B dividing BH");
    }
    free(s), free(dp), free(mask), free(sd), free(dpd), free(maskd), free(p_ref), free(ds_ref), free(work);
    free(p_f), free(p), free(ds), free(p_in), free(ds_in);
}

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_softmax");
    for (int v = SB_ROW_WG; v <= SB_ROW_ITEM; v++) {
        rt->row_variant = (sb_row_variant)v;
        if (t_small) {
            run_case(rt, 2, 2, 5);
            run_case(rt, 1, 1, 19);
        } else {
            run_case(rt, 2, 3, 37);
            run_case(rt, 2, 1, 251);
        }
    }
    return t_finish(rt);
}
