/* Gather launchers. kernels: cl/gather.cl */
#include "ops/gather.h"

#include "ops/check.h"

/* x (or dx) holds every block and y (or dy) exactly count * len floats. */
static int check_layout(const char *op, const sb_tensor *x, const sb_gather_layout *at, const sb_tensor *y) {
    SB_TRY(sb_check_f32(op, x));
    SB_TRY(sb_check_f32(op, y));
    if (at->count == 0 || at->len == 0)
        return sb_fail(SB_ERR_INVALID, "%s: empty layout (%zu blocks of %zu)", op, at->count, at->len);
    if (y->numel != at->count * at->len)
        return sb_fail(SB_ERR_INVALID, "%s: %s holds %zu elements, the layout gives %zu blocks of %zu", op,
                       y->name, y->numel, at->count, at->len);
    size_t end = at->x_offset + (at->count - 1) * at->x_stride + at->len;
    if (end > x->numel)
        return sb_fail(SB_ERR_INVALID, "%s: blocks reach element %zu of %s, which holds %zu", op, end, x->name,
                       x->numel);
    return sb_check_uint(op, "elements", x->numel);
}

/* Sets the layout arguments from index `first` on. */
static int set_layout(cl_kernel k, cl_uint first, const sb_gather_layout *at) {
    cl_uint count = (cl_uint)at->count, len = (cl_uint)at->len;
    cl_uint off = (cl_uint)at->x_offset, stride = (cl_uint)at->x_stride;
    SB_TRY(SB_ARG(k, first, count));
    SB_TRY(SB_ARG(k, first + 1, len));
    SB_TRY(SB_ARG(k, first + 2, off));
    return SB_ARG(k, first + 3, stride);
}

int sb_gather_forward(sb_runtime *rt, const sb_tensor *x, const sb_gather_layout *at, const sb_tensor *y) {
    SB_TRY(check_layout("gather_forward", x, at, y));
    cl_kernel k;
    SB_TRY(sb_kernel(rt, "gather", "gather_forward", &k));
    SB_TRY(SB_ARG(k, 0, x->buf));
    SB_TRY(SB_ARG(k, 1, y->buf));
    SB_TRY(set_layout(k, 2, at));
    size_t global[2] = {at->len, at->count};
    return sb_launch(rt, k, 2, global, NULL);
}

int sb_gather_backward(sb_runtime *rt, const sb_tensor *dy, const sb_gather_layout *at, const sb_tensor *dx,
                       int accumulate) {
    SB_TRY(check_layout("gather_backward", dx, at, dy));
    cl_kernel k;
    SB_TRY(sb_kernel(rt, "gather", "gather_backward", &k));
    cl_uint acc = accumulate ? 1u : 0u;
    SB_TRY(SB_ARG(k, 0, dy->buf));
    SB_TRY(SB_ARG(k, 1, dx->buf));
    SB_TRY(set_layout(k, 2, at));
    SB_TRY(SB_ARG(k, 6, acc));
    size_t global[2] = {at->len, at->count};
    return sb_launch(rt, k, 2, global, NULL);
}
