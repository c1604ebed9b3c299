/* Gradient norm and clipping launchers. kernels: cl/grad_norm.cl */
#include "ops/grad_norm.h"

#include "ops/check.h"

#define NORM_WG_MAX 256 /* WG_MAX of cl/grad_norm.cl: size of its local arrays */

/* Largest power of two within the kernel's work-group limit and NORM_WG_MAX. */
static size_t pow2_wg(sb_runtime *rt, cl_kernel k) {
    size_t limit = sb_kernel_wg_size(rt, k), wg = 1;
    while (wg * 2 <= limit && wg * 2 <= NORM_WG_MAX) wg *= 2;
    return wg;
}

static int check_norm(const char *op, const sb_tensor *norm) {
    SB_TRY(sb_check_f32(op, norm));
    if (norm->numel != 1)
        return sb_fail(SB_ERR_INVALID, "%s: tensor %s must hold one element, not %zu", op, norm->name, norm->numel);
    return 0;
}

static int check_grads(const char *op, const sb_tensor *const *grads, int count) {
    if (count < 1 || !grads) return sb_fail(SB_ERR_INVALID, "%s: no gradient tensors (count %d)", op, count);
    for (int i = 0; i < count; i++) {
        SB_TRY(sb_check_f32(op, grads[i]));
        SB_TRY(sb_check_uint(op, grads[i]->name, grads[i]->numel));
    }
    return 0;
}

int sb_grad_norm(sb_runtime *rt, const sb_tensor *const *grads, int count, const sb_tensor *work,
                 const sb_tensor *norm) {
    const char *op = "grad_norm";
    SB_TRY(check_grads(op, grads, count));
    SB_TRY(check_norm(op, norm));
    SB_TRY(sb_check_f32(op, work));
    if (work->numel < (size_t)count * SB_GRAD_NORM_GROUPS)
        return sb_fail(SB_ERR_INVALID, "%s: tensor %s holds %zu floats, needs %d tensors x %d", op, work->name,
                       work->numel, count, SB_GRAD_NORM_GROUPS);
    cl_kernel partial, finish;
    SB_TRY(sb_kernel(rt, "grad_norm", "grad_norm_partial", &partial));
    SB_TRY(sb_kernel(rt, "grad_norm", "grad_norm_finish", &finish));
    size_t wg = pow2_wg(rt, partial);
    cl_uint offset = 0; /* partial sums written so far */
    for (int i = 0; i < count; i++) {
        size_t groups = (grads[i]->numel + wg - 1) / wg;
        if (groups > SB_GRAD_NORM_GROUPS) groups = SB_GRAD_NORM_GROUPS;
        cl_uint n = (cl_uint)grads[i]->numel;
        size_t global = groups * wg;
        SB_TRY(SB_ARG(partial, 0, grads[i]->buf));
        SB_TRY(SB_ARG(partial, 1, n));
        SB_TRY(SB_ARG(partial, 2, work->buf));
        SB_TRY(SB_ARG(partial, 3, offset));
        SB_TRY(sb_launch(rt, partial, 1, &global, &wg));
        offset += (cl_uint)groups;
    }
    SB_TRY(SB_ARG(finish, 0, work->buf));
    SB_TRY(SB_ARG(finish, 1, offset));
    SB_TRY(SB_ARG(finish, 2, norm->buf));
    size_t fwg = pow2_wg(rt, finish);
    return sb_launch(rt, finish, 1, &fwg, &fwg);
}

int sb_grad_clip(sb_runtime *rt, const sb_tensor *const *grads, int count, const sb_tensor *norm, float max_norm) {
    const char *op = "grad_clip";
    SB_TRY(check_grads(op, grads, count));
    SB_TRY(check_norm(op, norm));
    if (!(max_norm > 0)) return sb_fail(SB_ERR_INVALID, "%s: max_norm %g must be > 0", op, max_norm);
    cl_kernel k;
    SB_TRY(sb_kernel(rt, "grad_norm", "grad_norm_clip", &k));
    for (int i = 0; i < count; i++) {
        cl_uint n = (cl_uint)grads[i]->numel;
        SB_TRY(SB_ARG(k, 0, grads[i]->buf));
        SB_TRY(SB_ARG(k, 1, n));
        SB_TRY(SB_ARG(k, 2, norm->buf));
        SB_TRY(SB_ARG(k, 3, max_norm));
        size_t global = n;
        SB_TRY(sb_launch(rt, k, 1, &global, NULL));
    }
    return 0;
}

int sb_grad_norm_read(sb_runtime *rt, const sb_tensor *norm, float *value) {
    SB_TRY(check_norm("grad_norm_read", norm));
    return sb_tensor_read(rt, norm, value);
}
