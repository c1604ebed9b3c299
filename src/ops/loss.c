/* Loss launchers: shape checks, the two reduction passes, gradient kernels.
 * kernels: cl/loss.cl */
#include "ops/loss.h"

#include "ops/check.h"

#define LOSS_WG_MAX 256 /* WG_MAX of cl/loss.cl: size of its local arrays */

// ---- helpers

/* Largest power of two within the kernel's work-group limit and LOSS_WG_MAX. */
static size_t pow2_wg(sb_runtime *rt, cl_kernel k) {
    size_t limit = sb_kernel_wg_size(rt, k), wg = 1;
    while (wg * 2 <= limit && wg * 2 <= LOSS_WG_MAX) wg *= 2;
    return wg;
}

static int check_work(const char *op, const sb_tensor *work) {
    SB_TRY(sb_check_f32(op, work));
    if (work->numel < SB_LOSS_WORK_FLOATS)
        return sb_fail(SB_ERR_INVALID, "%s: tensor %s holds %zu floats, needs at least %d", op, work->name,
                       work->numel, SB_LOSS_WORK_FLOATS);
    return 0;
}

static int check_loss(const char *op, const sb_tensor *loss) {
    SB_TRY(sb_check_f32(op, loss));
    if (loss->numel != 1)
        return sb_fail(SB_ERR_INVALID, "%s: tensor %s must hold one element, not %zu", op, loss->name, loss->numel);
    return 0;
}

/* Launches `partial` (all arguments but the last, work, already set) over
 * `items` work-items, then loss_finish: work[0] = loss, work[1] = den. */
static int reduce(sb_runtime *rt, cl_kernel partial, cl_uint work_arg, size_t items, const sb_tensor *work) {
    SB_TRY(SB_ARG(partial, work_arg, work->buf));
    size_t wg = pow2_wg(rt, partial);
    size_t groups = (items + wg - 1) / wg;
    if (groups > SB_LOSS_GROUPS) groups = SB_LOSS_GROUPS;
    size_t global = groups * wg;
    SB_TRY(sb_launch(rt, partial, 1, &global, &wg));

    cl_kernel finish;
    SB_TRY(sb_kernel(rt, "loss", "loss_finish", &finish));
    cl_uint n_groups = (cl_uint)groups;
    SB_TRY(SB_ARG(finish, 0, work->buf));
    SB_TRY(SB_ARG(finish, 1, n_groups));
    size_t fwg = pow2_wg(rt, finish);
    return sb_launch(rt, finish, 1, &fwg, &fwg);
}

/* loss[0] = work[0]. */
static int copy_loss(sb_runtime *rt, const sb_tensor *work, const sb_tensor *loss) {
    SB_CL_TRY(clEnqueueCopyBuffer(rt->queue, work->buf, loss->buf, 0, 0, sizeof(float), 0, NULL, NULL));
    return 0;
}

// ---- masked L1

/* Checks the inputs and runs both passes into work. */
static int l1_reduce(sb_runtime *rt, const char *op, const sb_tensor *pred, const sb_tensor *target,
                     const sb_tensor *mask, const sb_tensor *work) {
    SB_TRY(sb_check_f32(op, pred));
    SB_TRY(sb_check_f32(op, target));
    SB_TRY(sb_check_f32(op, mask));
    SB_TRY(sb_check_shape(op, target, pred->ndim, pred->shape));
    SB_TRY(sb_check_shape(op, mask, pred->ndim, pred->shape));
    SB_TRY(sb_check_uint(op, "elements", pred->numel));
    SB_TRY(check_work(op, work));
    cl_kernel k;
    SB_TRY(sb_kernel(rt, "loss", "l1_loss_partial", &k));
    cl_uint n = (cl_uint)pred->numel;
    SB_TRY(SB_ARG(k, 0, pred->buf));
    SB_TRY(SB_ARG(k, 1, target->buf));
    SB_TRY(SB_ARG(k, 2, mask->buf));
    SB_TRY(SB_ARG(k, 3, n));
    return reduce(rt, k, 4, n, work);
}

int sb_l1_loss_forward(sb_runtime *rt, const sb_tensor *pred, const sb_tensor *target, const sb_tensor *mask,
                       const sb_tensor *work, const sb_tensor *loss) {
    SB_TRY(check_loss("l1_loss_forward", loss));
    SB_TRY(l1_reduce(rt, "l1_loss_forward", pred, target, mask, work));
    return copy_loss(rt, work, loss);
}

int sb_l1_loss_backward(sb_runtime *rt, const sb_tensor *pred, const sb_tensor *target, const sb_tensor *mask,
                        const sb_tensor *work, float upstream, int accumulate, const sb_tensor *dpred) {
    const char *op = "l1_loss_backward";
    SB_TRY(sb_check_f32(op, dpred));
    SB_TRY(sb_check_shape(op, dpred, pred->ndim, pred->shape));
    SB_TRY(l1_reduce(rt, op, pred, target, mask, work));
    cl_kernel k;
    SB_TRY(sb_kernel(rt, "loss", "l1_loss_backward", &k));
    cl_uint n = (cl_uint)pred->numel;
    cl_int acc = accumulate != 0;
    SB_TRY(SB_ARG(k, 0, pred->buf));
    SB_TRY(SB_ARG(k, 1, target->buf));
    SB_TRY(SB_ARG(k, 2, mask->buf));
    SB_TRY(SB_ARG(k, 3, n));
    SB_TRY(SB_ARG(k, 4, work->buf));
    SB_TRY(SB_ARG(k, 5, upstream));
    SB_TRY(SB_ARG(k, 6, acc));
    SB_TRY(SB_ARG(k, 7, dpred->buf));
    size_t global = n;
    return sb_launch(rt, k, 1, &global, NULL);
}

// ---- cross-entropy

/* Checks the inputs, sets the arguments shared by the partial and backward
 * kernels (logits, rows, stride, col, k, target, weight: 0..6); *rows out. */
static int cross_entropy_args(const char *op, cl_kernel kern, const sb_tensor *logits, int col, int k,
                              const sb_tensor *target, const sb_tensor *weight, cl_uint *rows_out) {
    SB_TRY(sb_check_f32(op, logits));
    if (logits->ndim < 2)
        return sb_fail(SB_ERR_INVALID, "%s: tensor %s must have a class dimension (at least 2 dimensions)", op,
                       logits->name);
    int stride = logits->shape[logits->ndim - 1];
    if (col < 0 || k < 1 || col + k > stride)
        return sb_fail(SB_ERR_INVALID, "%s: classes [%d, %d) do not fit in the %d columns of tensor %s", op, col,
                       col + k, stride, logits->name);
    if (!target || !target->buf || target->dtype != SB_I32)
        return sb_fail(SB_ERR_INVALID, "%s: tensor %s must be int32 with a device buffer", op,
                       target ? target->name : "(null)");
    SB_TRY(sb_check_shape(op, target, logits->ndim - 1, logits->shape));
    SB_TRY(sb_check_f32(op, weight));
    SB_TRY(sb_check_shape(op, weight, logits->ndim - 1, logits->shape));
    SB_TRY(sb_check_uint(op, "elements", logits->numel));
    cl_uint rows = (cl_uint)target->numel, s = (cl_uint)stride, c = (cl_uint)col, kk = (cl_uint)k;
    SB_TRY(SB_ARG(kern, 0, logits->buf));
    SB_TRY(SB_ARG(kern, 1, rows));
    SB_TRY(SB_ARG(kern, 2, s));
    SB_TRY(SB_ARG(kern, 3, c));
    SB_TRY(SB_ARG(kern, 4, kk));
    SB_TRY(SB_ARG(kern, 5, target->buf));
    SB_TRY(SB_ARG(kern, 6, weight->buf));
    *rows_out = rows;
    return 0;
}

static int cross_entropy_reduce(sb_runtime *rt, const char *op, const sb_tensor *logits, int col, int k,
                                const sb_tensor *target, const sb_tensor *weight, const sb_tensor *work) {
    SB_TRY(check_work(op, work));
    cl_kernel kern;
    SB_TRY(sb_kernel(rt, "loss", "cross_entropy_partial", &kern));
    cl_uint rows;
    SB_TRY(cross_entropy_args(op, kern, logits, col, k, target, weight, &rows));
    return reduce(rt, kern, 7, rows, work);
}

int sb_cross_entropy_forward(sb_runtime *rt, const sb_tensor *logits, int col, int k, const sb_tensor *target,
                             const sb_tensor *weight, const sb_tensor *work, const sb_tensor *loss) {
    SB_TRY(check_loss("cross_entropy_forward", loss));
    SB_TRY(cross_entropy_reduce(rt, "cross_entropy_forward", logits, col, k, target, weight, work));
    return copy_loss(rt, work, loss);
}

int sb_cross_entropy_backward(sb_runtime *rt, const sb_tensor *logits, int col, int k, const sb_tensor *target,
                              const sb_tensor *weight, const sb_tensor *work, float upstream, int accumulate,
                              const sb_tensor *dlogits) {
    const char *op = "cross_entropy_backward";
    SB_TRY(sb_check_f32(op, dlogits));
    SB_TRY(sb_check_shape(op, dlogits, logits->ndim, logits->shape));
    SB_TRY(cross_entropy_reduce(rt, op, logits, col, k, target, weight, work));
    cl_kernel kern;
    SB_TRY(sb_kernel(rt, "loss", "cross_entropy_backward", &kern));
    cl_uint rows;
    SB_TRY(cross_entropy_args(op, kern, logits, col, k, target, weight, &rows));
    cl_int acc = accumulate != 0;
    SB_TRY(SB_ARG(kern, 7, work->buf));
    SB_TRY(SB_ARG(kern, 8, upstream));
    SB_TRY(SB_ARG(kern, 9, acc));
    SB_TRY(SB_ARG(kern, 10, dlogits->buf));
    size_t global = rows;
    return sb_launch(rt, kern, 1, &global, NULL);
}

// ---- triplet margin loss

/* Checks that x is (3 B, D) with B >= 1; sets arguments 0..3 (x, rows, d,
 * margin) and returns B in *rows. */
static int triplet_args(const char *op, cl_kernel kern, const sb_tensor *x, float margin, cl_uint *rows) {
    SB_TRY(sb_check_f32(op, x));
    if (x->ndim != 2 || x->shape[0] <= 0 || x->shape[0] % 3 != 0)
        return sb_fail(SB_ERR_INVALID, "%s: tensor %s must be (3 B, D) interleaved triplets, B >= 1", op, x->name);
    SB_TRY(sb_check_uint(op, "elements", x->numel));
    cl_uint d = (cl_uint)x->shape[1];
    *rows = (cl_uint)(x->shape[0] / 3);
    SB_TRY(SB_ARG(kern, 0, x->buf));
    SB_TRY(SB_ARG(kern, 1, *rows));
    SB_TRY(SB_ARG(kern, 2, d));
    SB_TRY(SB_ARG(kern, 3, margin));
    return 0;
}

int sb_triplet_loss_forward(sb_runtime *rt, const sb_tensor *x, float margin, const sb_tensor *work,
                            const sb_tensor *loss) {
    const char *op = "triplet_loss_forward";
    SB_TRY(check_loss(op, loss));
    SB_TRY(check_work(op, work));
    cl_kernel kern;
    cl_uint rows;
    SB_TRY(sb_kernel(rt, "loss", "triplet_loss_partial", &kern));
    SB_TRY(triplet_args(op, kern, x, margin, &rows));
    SB_TRY(reduce(rt, kern, 4, rows, work));
    return copy_loss(rt, work, loss);
}

int sb_triplet_loss_backward(sb_runtime *rt, const sb_tensor *x, float margin, float upstream, int accumulate,
                             const sb_tensor *dx) {
    const char *op = "triplet_loss_backward";
    cl_kernel kern;
    cl_uint rows;
    SB_TRY(sb_kernel(rt, "loss", "triplet_loss_backward", &kern));
    SB_TRY(triplet_args(op, kern, x, margin, &rows));
    SB_TRY(sb_check_f32(op, dx));
    SB_TRY(sb_check_shape(op, dx, 2, x->shape));
    /* The mean's denominator is the number of triplets, known here. */
    float scale = (float)((double)upstream / rows);
    cl_int acc = accumulate != 0;
    SB_TRY(SB_ARG(kern, 4, scale));
    SB_TRY(SB_ARG(kern, 5, acc));
    SB_TRY(SB_ARG(kern, 6, dx->buf));
    size_t global = rows;
    return sb_launch(rt, kern, 1, &global, NULL);
}
