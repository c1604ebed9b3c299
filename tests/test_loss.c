/* Losses (masked L1, cross-entropy, triplet margin): kernels vs double
 * references, reference gradients vs finite differences, kernel gradients
 * (overwrite and accumulate) vs reference, the empty-selection rule, never
 * reading excluded entries, and bad shapes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/loss.h"
#include "test_util.h"

#define UPSTREAM 0.7 /* loss weight handed to every backward */
/* Finite differences check a reference on sizes up to this; beyond it the
 * gradient entries (~1 / count) drown in the rounding of the loss sum. The
 * reference is the same code at every size. */
#define FD_MAX 20000

static float *uniform(size_t n, float lo, float hi) {
    float *x = malloc(n * sizeof *x);
    t_uniform(x, n, lo, hi);
    return x;
}

/* Reads a 1-element tensor. */
static float scalar(sb_runtime *rt, const sb_tensor *t) {
    float *h = t_download(rt, t), v = h[0];
    free(h);
    return v;
}

/* Kernel gradient vs reference, then again accumulated onto random values. */
static void check_grad(sb_runtime *rt, const char *what, const sb_tensor *grad, const float *prior,
                       const double *ref, size_t n, int accumulated) {
    char label[256];
    float *got = t_download(rt, grad);
    double *want = malloc(n * sizeof *want);
    for (size_t i = 0; i < n; i++) want[i] = ref[i] + (accumulated ? prior[i] : 0.0);
    snprintf(label, sizeof label, "%s%s vs reference", what, accumulated ? " (accumulate)" : "");
    t_check(label, t_rel_err(got, want, n), 1e-5);
    free(got), free(want);
}

static void check_scalar(const char *what, double got, double ref) {
    t_check(what, fabs(got - ref) / (fabs(ref) > 1e-30 ? fabs(ref) : 1e-30), 1e-5);
}

static sb_tensor new_work(sb_runtime *rt) {
    int shape[1] = {SB_LOSS_WORK_FLOATS};
    return t_output(rt, "work", SB_F32, 1, shape);
}

static int failed_call(int rc) {
    if (rc) t_check_true(sb_last_error(), 0);
    return rc;
}

// ---- masked L1

typedef struct { const double *target, *mask; size_t n; } l1_ctx;

/* sum mask |pred - target| / sum mask over mask != 0 (0 when empty); grad of
 * upstream * loss into grad when not NULL. */
static double l1_ref(const double *pred, const l1_ctx *c, double *grad) {
    double num = 0, den = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->mask[i] != 0) num += c->mask[i] * fabs(pred[i] - c->target[i]), den += c->mask[i];
    for (size_t i = 0; grad && i < c->n; i++) {
        double d = pred[i] - c->target[i];
        grad[i] = c->mask[i] != 0 && den > 0 ? UPSTREAM * c->mask[i] * ((d > 0) - (d < 0)) / den : 0;
    }
    return den > 0 ? num / den : 0;
}

static double l1_fn(const double *x, void *ctx) { return UPSTREAM * l1_ref(x, ctx, NULL); }

/* mask: 0/1 or, when weighted, 0 or a weight in [0.25, 2); `empty` masks all.
 * Excluded pred entries are NaN: a kernel that reads them fails. */
static void l1_case(sb_runtime *rt, int rows, int cols, int weighted, int empty) {
    size_t n = (size_t)rows * cols;
    char what[128];
    snprintf(what, sizeof what, "l1 (%d, %d)%s%s", rows, cols, weighted ? " weighted" : "",
             empty ? " empty mask" : "");
    float *pred = uniform(n, -2, 2), *target = uniform(n, -2, 2), *mask = uniform(n, 0.25f, 2.0f);
    float *prior = uniform(n, -1, 1);
    for (size_t i = 0; i < n; i++) {
        if (empty || t_rand_u32() % 10 < 6) mask[i] = 0, pred[i] = NAN;
        else if (!weighted) mask[i] = 1;
    }
    double *pd = t_to_double(pred, n), *td = t_to_double(target, n), *md = t_to_double(mask, n);
    double *grad = malloc(n * sizeof *grad);
    l1_ctx c = {td, md, n};
    double loss_ref = l1_ref(pd, &c, grad);
    char label[256];
    snprintf(label, sizeof label, "%s: reference backward vs finite differences", what);
    if (!empty && n <= FD_MAX) t_check(label, t_fd_grad_err(l1_fn, &c, pd, n, grad, 200), 1e-6);

    int shape[2] = {rows, cols}, one[1] = {1};
    sb_tensor tp = t_upload(rt, "pred", SB_F32, 2, shape, pred), tt = t_upload(rt, "target", SB_F32, 2, shape, target);
    sb_tensor tm = t_upload(rt, "mask", SB_F32, 2, shape, mask), tg = t_output(rt, "dpred", SB_F32, 2, shape);
    sb_tensor work = new_work(rt), loss = t_output(rt, "loss", SB_F32, 1, one);
    if (!failed_call(sb_l1_loss_forward(rt, &tp, &tt, &tm, &work, &loss))) {
        snprintf(label, sizeof label, "%s: forward vs reference (%.6g)", what, loss_ref);
        if (empty) t_check_true(label, scalar(rt, &loss) == 0.0f);
        else check_scalar(label, scalar(rt, &loss), loss_ref);
    }
    t_poison(rt, &work);
    if (!failed_call(sb_l1_loss_backward(rt, &tp, &tt, &tm, &work, (float)UPSTREAM, 0, &tg)))
        check_grad(rt, what, &tg, prior, grad, n, 0);
    sb_tensor_write(rt, &tg, prior);
    if (!failed_call(sb_l1_loss_backward(rt, &tp, &tt, &tm, &work, (float)UPSTREAM, 1, &tg)))
        check_grad(rt, what, &tg, prior, grad, n, 1);
    free(pred), free(target), free(mask), free(prior), free(pd), free(td), free(md), free(grad);
}

static void l1_bad_shapes(sb_runtime *rt) {
    int s[2] = {5, 2}, s2[2] = {5, 3}, one[1] = {1}, two[1] = {2}, small[1] = {SB_LOSS_WORK_FLOATS - 1};
    int w[1] = {SB_LOSS_WORK_FLOATS};
    sb_tensor p = t_output(rt, "pred", SB_F32, 2, s), t = t_output(rt, "target", SB_F32, 2, s2);
    sb_tensor m = t_output(rt, "mask", SB_F32, 2, s), good_t = t_output(rt, "target", SB_F32, 2, s);
    sb_tensor work = t_output(rt, "work", SB_F32, 1, w), short_work = t_output(rt, "work_short", SB_F32, 1, small);
    sb_tensor loss = t_output(rt, "loss", SB_F32, 1, one), loss2 = t_output(rt, "loss2", SB_F32, 1, two);
    sb_tensor dp = t_output(rt, "dpred", SB_F32, 2, s2);
    t_check_error("l1: target shape rejected", sb_l1_loss_forward(rt, &p, &t, &m, &work, &loss), "target[5,3]");
    t_check_error("l1: small work rejected", sb_l1_loss_forward(rt, &p, &good_t, &m, &short_work, &loss),
                  "work_short");
    t_check_error("l1: 2-element loss rejected", sb_l1_loss_forward(rt, &p, &good_t, &m, &work, &loss2), "loss2");
    t_check_error("l1: dpred shape rejected",
                  sb_l1_loss_backward(rt, &p, &good_t, &m, &work, 1.0f, 0, &dp), "dpred[5,3]");
}

// ---- cross-entropy

typedef struct {
    const int *target;
    const double *weight;
    size_t rows, stride, col, k;
} ce_ctx;

/* sum_r w_r (lse - x[t]) / sum w over w != 0; grad of upstream * loss over
 * the whole (rows, stride) array (0 outside the class window). */
static double ce_ref(const double *x, const ce_ctx *c, double *grad) {
    double num = 0, den = 0;
    for (size_t i = 0; grad && i < c->rows * c->stride; i++) grad[i] = 0;
    for (size_t r = 0; r < c->rows; r++) {
        if (c->weight[r] == 0) continue;
        const double *xr = x + r * c->stride + c->col;
        double mx = xr[0], s = 0;
        for (size_t j = 1; j < c->k; j++) mx = fmax(mx, xr[j]);
        for (size_t j = 0; j < c->k; j++) s += exp(xr[j] - mx);
        double lse = mx + log(s);
        num += c->weight[r] * (lse - xr[c->target[r]]), den += c->weight[r];
    }
    for (size_t r = 0; grad && den > 0 && r < c->rows; r++) {
        if (c->weight[r] == 0) continue;
        const double *xr = x + r * c->stride + c->col;
        double mx = xr[0], s = 0;
        for (size_t j = 1; j < c->k; j++) mx = fmax(mx, xr[j]);
        for (size_t j = 0; j < c->k; j++) s += exp(xr[j] - mx);
        for (size_t j = 0; j < c->k; j++)
            grad[r * c->stride + c->col + j] =
                UPSTREAM * c->weight[r] * (exp(xr[j] - mx) / s - (j == (size_t)c->target[r])) / den;
    }
    return den > 0 ? num / den : 0;
}

static double ce_fn(const double *x, void *ctx) { return UPSTREAM * ce_ref(x, ctx, NULL); }

/* logits (rows, stride) or, with t > 0, (rows / t, t, stride); classes in
 * columns [col, col + k). Excluded rows hold NaN logits and target -1; one
 * included row is shifted by +200 (overflows exp in float unless stable). */
static void ce_case(sb_runtime *rt, int rows, int t, int stride, int col, int k, int weighted) {
    size_t n = (size_t)rows * stride;
    char what[128];
    snprintf(what, sizeof what, "cross_entropy rows %d, classes [%d, %d) of %d%s", rows, col, col + k, stride,
             weighted ? ", weighted" : "");
    float *x = uniform(n, -4, 4), *weight = uniform((size_t)rows, 0.25f, 2.0f), *prior = uniform(n, -1, 1);
    int *target = malloc((size_t)rows * sizeof *target);
    for (int r = 0; r < rows; r++) {
        target[r] = (int)(t_rand_u32() % (uint32_t)k);
        if (r > 0 && t_rand_u32() % 10 < 4) {
            weight[r] = 0, target[r] = -1;
            for (int j = 0; j < k; j++) x[(size_t)r * stride + col + j] = NAN;
        } else if (!weighted) weight[r] = 1;
    }
    for (int j = 0; j < k; j++) x[col + j] += 200.0f; /* row 0 is always included */
    double *xd = t_to_double(x, n), *wd = t_to_double(weight, (size_t)rows), *grad = malloc(n * sizeof *grad);
    ce_ctx c = {target, wd, (size_t)rows, (size_t)stride, (size_t)col, (size_t)k};
    double loss_ref = ce_ref(xd, &c, grad);
    char label[256];
    snprintf(label, sizeof label, "%s: reference backward vs finite differences", what);
    if (n <= FD_MAX) t_check(label, t_fd_grad_err(ce_fn, &c, xd, n, grad, 200), 1e-6);

    int lshape[3], lead[2], nd = t > 0 ? 3 : 2;
    if (t > 0) lshape[0] = lead[0] = rows / t, lshape[1] = lead[1] = t, lshape[2] = stride;
    else lshape[0] = lead[0] = rows, lshape[1] = stride;
    int one[1] = {1};
    sb_tensor tx = t_upload(rt, "logits", SB_F32, nd, lshape, x), tg = t_output(rt, "dlogits", SB_F32, nd, lshape);
    sb_tensor tt = t_upload(rt, "target", SB_I32, nd - 1, lead, target);
    sb_tensor tw = t_upload(rt, "weight", SB_F32, nd - 1, lead, weight);
    sb_tensor work = new_work(rt), loss = t_output(rt, "loss", SB_F32, 1, one);
    if (!failed_call(sb_cross_entropy_forward(rt, &tx, col, k, &tt, &tw, &work, &loss))) {
        snprintf(label, sizeof label, "%s: forward vs reference (%.6g)", what, loss_ref);
        check_scalar(label, scalar(rt, &loss), loss_ref);
    }
    /* Columns outside the window keep their prior values when overwriting. */
    double *outside = malloc(n * sizeof *outside);
    for (size_t i = 0; i < n; i++) {
        size_t j = i % (size_t)stride;
        outside[i] = j >= (size_t)col && j < (size_t)(col + k) ? 0.0 : prior[i];
    }
    for (size_t i = 0; i < n; i++) grad[i] += outside[i];
    sb_tensor_write(rt, &tg, prior);
    t_poison(rt, &work);
    if (!failed_call(sb_cross_entropy_backward(rt, &tx, col, k, &tt, &tw, &work, (float)UPSTREAM, 0, &tg)))
        check_grad(rt, what, &tg, prior, grad, n, 0);
    for (size_t i = 0; i < n; i++) grad[i] -= outside[i];
    sb_tensor_write(rt, &tg, prior);
    if (!failed_call(sb_cross_entropy_backward(rt, &tx, col, k, &tt, &tw, &work, (float)UPSTREAM, 1, &tg)))
        check_grad(rt, what, &tg, prior, grad, n, 1);
    free(x), free(weight), free(prior), free(target), free(xd), free(wd), free(grad), free(outside);
}

/* All rows excluded gives 0 and zero gradients; an included row with a
 * target out of range gives NaN. */
static void ce_edge_cases(sb_runtime *rt) {
    enum { R = 5, K = 3 };
    int shape[2] = {R, K}, lead[1] = {R}, one[1] = {1};
    float x[R * K], zero_w[R] = {0}, w[R] = {1, 1, 1, 1, 1};
    int target[R] = {0, 1, 2, 3, 1};
    t_uniform(x, R * K, -1, 1);
    sb_tensor tx = t_upload(rt, "logits", SB_F32, 2, shape, x), tg = t_output(rt, "dlogits", SB_F32, 2, shape);
    sb_tensor tt = t_upload(rt, "target", SB_I32, 1, lead, target);
    sb_tensor tz = t_upload(rt, "weight", SB_F32, 1, lead, zero_w), tw = t_upload(rt, "weight", SB_F32, 1, lead, w);
    sb_tensor work = new_work(rt), loss = t_output(rt, "loss", SB_F32, 1, one);
    if (!failed_call(sb_cross_entropy_forward(rt, &tx, 0, K, &tt, &tz, &work, &loss)))
        t_check_true("cross_entropy: no included row gives loss 0", scalar(rt, &loss) == 0.0f);
    if (!failed_call(sb_cross_entropy_backward(rt, &tx, 0, K, &tt, &tz, &work, 1.0f, 0, &tg))) {
        float *g = t_download(rt, &tg);
        int zeros = 1;
        for (int i = 0; i < R * K; i++) zeros &= g[i] == 0.0f;
        t_check_true("cross_entropy: no included row gives zero gradients", zeros);
        free(g);
    }
    if (!failed_call(sb_cross_entropy_forward(rt, &tx, 0, K, &tt, &tw, &work, &loss)))
        t_check_true("cross_entropy: target 3 of 3 classes gives NaN", isnan(scalar(rt, &loss)));
}

static void ce_bad_shapes(sb_runtime *rt) {
    int s[2] = {6, 5}, s3[2] = {6, 4}, lead[1] = {6}, lead_bad[1] = {7}, one[1] = {1};
    int w[1] = {SB_LOSS_WORK_FLOATS};
    sb_tensor x = t_output(rt, "logits", SB_F32, 2, s), x1 = t_output(rt, "logits_flat", SB_F32, 1, lead);
    sb_tensor t = t_output(rt, "target", SB_I32, 1, lead), tf = t_output(rt, "target_f", SB_F32, 1, lead);
    sb_tensor tb = t_output(rt, "target_long", SB_I32, 1, lead_bad), wt = t_output(rt, "weight", SB_F32, 1, lead);
    sb_tensor wb = t_output(rt, "weight_long", SB_F32, 1, lead_bad), dx = t_output(rt, "dlogits", SB_F32, 2, s3);
    sb_tensor work = t_output(rt, "work", SB_F32, 1, w), loss = t_output(rt, "loss", SB_F32, 1, one);
    t_check_error("cross_entropy: target shape rejected",
                  sb_cross_entropy_forward(rt, &x, 0, 5, &tb, &wt, &work, &loss), "target_long[7]");
    t_check_error("cross_entropy: float target rejected",
                  sb_cross_entropy_forward(rt, &x, 0, 5, &tf, &wt, &work, &loss), "target_f must be int32");
    t_check_error("cross_entropy: weight shape rejected",
                  sb_cross_entropy_forward(rt, &x, 0, 5, &t, &wb, &work, &loss), "weight_long[7]");
    t_check_error("cross_entropy: class window rejected",
                  sb_cross_entropy_forward(rt, &x, 2, 4, &t, &wt, &work, &loss), "classes [2, 6)");
    t_check_error("cross_entropy: 1-D logits rejected",
                  sb_cross_entropy_forward(rt, &x1, 0, 1, &t, &wt, &work, &loss), "logits_flat");
    t_check_error("cross_entropy: dlogits shape rejected",
                  sb_cross_entropy_backward(rt, &x, 0, 5, &t, &wt, &work, 1.0f, 0, &dx), "dlogits[6,4]");
}

// ---- triplet margin loss

typedef struct { size_t b, d; double margin; } tri_ctx;

/* x (3b, d) interleaved: rows 3r, 3r + 1, 3r + 2 are anchor, positive,
 * negative of triplet r; grad likewise. */
static double tri_ref(const double *x, const tri_ctx *c, double *grad, int *active_rows) {
    const size_t d = c->d;
    const double eps = 1e-6;
    double sum = 0;
    for (size_t r = 0; r < c->b; r++) {
        const double *a = x + 3 * r * d, *p = a + d, *ng = a + 2 * d;
        double sp = 0, sn = 0;
        for (size_t j = 0; j < d; j++) {
            double ep = a[j] - p[j] + eps, en = a[j] - ng[j] + eps;
            sp += ep * ep, sn += en * en;
        }
        double dp = sqrt(sp), dn = sqrt(sn), h = c->margin + dp - dn;
        sum += h > 0 ? h : 0;
        if (active_rows) *active_rows += h >= 0;
        for (size_t j = 0; grad && j < d; j++) {
            double ep = a[j] - p[j] + eps, en = a[j] - ng[j] + eps, s = UPSTREAM / (double)c->b;
            double gp = h >= 0 ? s * ep / dp : 0, gn = h >= 0 ? s * en / dn : 0;
            double *g = grad + 3 * r * d + j;
            g[0] = gp - gn, g[d] = -gp, g[2 * d] = gn;
        }
    }
    return sum / (double)c->b;
}

static double tri_fn(const double *x, void *ctx) { return UPSTREAM * tri_ref(x, ctx, NULL, NULL); }

static void triplet_case(sb_runtime *rt, int b, int d, float margin) {
    size_t n = 3 * (size_t)b * d;
    char what[128], label[256];
    snprintf(what, sizeof what, "triplet (%d x 3, %d) margin %g", b, d, margin);
    float *x = uniform(n, -1, 1), *prior = uniform(n, -1, 1);
    double *xd = t_to_double(x, n), *grad = malloc(n * sizeof *grad);
    tri_ctx c = {(size_t)b, (size_t)d, margin};
    int active = 0;
    double loss_ref = tri_ref(xd, &c, grad, &active);
    snprintf(label, sizeof label, "%s: both sides of the hinge (%d of %d triplets active)", what, active, b);
    t_check_true(label, active > 0 && active < b);
    snprintf(label, sizeof label, "%s: reference backward vs finite differences", what);
    t_check(label, t_fd_grad_err(tri_fn, &c, xd, n, grad, 300), 1e-6);

    int shape[2] = {3 * b, d}, one[1] = {1};
    sb_tensor tx = t_upload(rt, "features", SB_F32, 2, shape, x), gx = t_output(rt, "dfeatures", SB_F32, 2, shape);
    sb_tensor work = new_work(rt), loss = t_output(rt, "loss", SB_F32, 1, one);
    if (!failed_call(sb_triplet_loss_forward(rt, &tx, margin, &work, &loss))) {
        snprintf(label, sizeof label, "%s: forward vs reference (%.6g)", what, loss_ref);
        check_scalar(label, scalar(rt, &loss), loss_ref);
    }
    for (int acc = 0; acc < 2; acc++) {
        if (acc) sb_tensor_write(rt, &gx, prior);
        if (failed_call(sb_triplet_loss_backward(rt, &tx, margin, (float)UPSTREAM, acc, &gx))) continue;
        snprintf(label, sizeof label, "%s: dfeatures (anchors, positives, negatives)", what);
        check_grad(rt, label, &gx, prior, grad, n, acc);
    }
    free(x), free(prior), free(xd), free(grad);
}

static void triplet_bad_shapes(sb_runtime *rt) {
    int s[2] = {6, 3}, s2[2] = {6, 2}, not3[2] = {4, 3}, flat[1] = {18}, one[1] = {1}, w[1] = {SB_LOSS_WORK_FLOATS};
    sb_tensor x = t_output(rt, "features", SB_F32, 2, s), x4 = t_output(rt, "features4", SB_F32, 2, not3);
    sb_tensor xf = t_output(rt, "features_flat", SB_F32, 1, flat), gb = t_output(rt, "dfeatures", SB_F32, 2, s2);
    sb_tensor work = t_output(rt, "work", SB_F32, 1, w), loss = t_output(rt, "loss", SB_F32, 1, one);
    t_check_error("triplet: rows not a multiple of 3 rejected",
                  sb_triplet_loss_forward(rt, &x4, 1.0f, &work, &loss), "features4 must be (3 B, D)");
    t_check_error("triplet: 1-D features rejected", sb_triplet_loss_forward(rt, &xf, 1.0f, &work, &loss),
                  "features_flat must be (3 B, D)");
    t_check_error("triplet: gradient shape rejected", sb_triplet_loss_backward(rt, &x, 1.0f, 1.0f, 0, &gb),
                  "dfeatures[6,2]");
}

// ---- tests

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_loss");
    /* Sizes are not multiples of any work-group size; the large ones need
     * several work-groups, and more than SB_LOSS_GROUPS for the strided loop. */
    if (t_small) {
        l1_case(rt, 7, 5, 0, 0);
        l1_case(rt, 13, 2, 1, 0);
        ce_case(rt, 7, 0, 3, 0, 3, 0);
        ce_case(rt, 5, 0, 5, 0, 5, 1);
        ce_case(rt, 3, 0, 345, 0, 345, 0);
        ce_case(rt, 9, 3, 5, 2, 3, 0);
        triplet_case(rt, 7, 5, 0.5f);
        triplet_case(rt, 5, 16, 0.3f);
    } else {
        l1_case(rt, 37, 5, 0, 0);
        l1_case(rt, 251, 2, 1, 0);
        l1_case(rt, 32771, 5, 0, 0);
        ce_case(rt, 37, 0, 3, 0, 3, 0);
        ce_case(rt, 251, 0, 5, 0, 5, 1);
        ce_case(rt, 37, 0, 345, 0, 345, 0);
        ce_case(rt, 251, 0, 345, 0, 345, 1);
        ce_case(rt, 3 * 251, 251, 5, 2, 3, 0);
        ce_case(rt, 40009, 0, 3, 0, 3, 0);
        triplet_case(rt, 37, 128, 0.3f);
        triplet_case(rt, 251, 5, 0.5f);
    }
    l1_case(rt, 3, 5, 0, 1);
    ce_edge_cases(rt);
    l1_bad_shapes(rt);
    ce_bad_shapes(rt);
    triplet_bad_shapes(rt);
    return t_finish(rt);
}
