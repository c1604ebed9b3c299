/* Device tensors and the memory planner. */
#include "tensor/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sb_tensor_describe(sb_tensor *t, const char *name, sb_dtype dtype, int ndim, const int *shape) {
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name ? name : "tensor");
    if (ndim < 1 || ndim > SB_MAX_DIMS)
        return sb_fail(SB_ERR_INVALID, "tensor %s: %d dimensions (1 to %d allowed)", t->name, ndim, SB_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return sb_fail(SB_ERR_INVALID, "tensor %s: dimension %d is %d (must be > 0)", t->name, i, shape[i]);
        if (n > ((size_t)1 << 40) / (size_t)shape[i])
            return sb_fail(SB_ERR_INVALID, "tensor %s: too many elements", t->name);
        n *= (size_t)shape[i];
        t->shape[i] = shape[i];
    }
    t->ndim = ndim;
    t->dtype = dtype;
    t->numel = n;
    return 0;
}

static int create_buffer(sb_runtime *rt, size_t bytes, const char *what, cl_mem *out) {
    if (bytes > rt->info.max_alloc)
        return sb_fail(SB_ERR_MEMORY,
                       "%s needs %zu bytes, over the device's max allocation of %llu bytes (%s); lower batch_size",
                       what, bytes, (unsigned long long)rt->info.max_alloc, rt->info.device_name);
    cl_int err;
    *out = clCreateBuffer(rt->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS)
        return sb_fail(SB_ERR_MEMORY, "clCreateBuffer for %s (%zu bytes; %zu already allocated) failed: %s", what,
                       bytes, rt->device_bytes, sb_cl_error_name(err));
    rt->device_bytes += bytes;
    return 0;
}

int sb_tensor_alloc(sb_runtime *rt, sb_tensor *t, const char *name, sb_dtype dtype, int ndim, const int *shape) {
    SB_TRY(sb_tensor_describe(t, name, dtype, ndim, shape));
    char what[96];
    snprintf(what, sizeof what, "tensor %s", t->name);
    return create_buffer(rt, sb_tensor_bytes(t), what, &t->buf);
}

void sb_tensor_release(sb_runtime *rt, sb_tensor *t) {
    if (t->buf) {
        clReleaseMemObject(t->buf);
        if (rt->device_bytes >= sb_tensor_bytes(t)) rt->device_bytes -= sb_tensor_bytes(t);
    }
    t->buf = NULL;
}

int sb_tensor_write(sb_runtime *rt, const sb_tensor *t, const void *host) {
    cl_int err = clEnqueueWriteBuffer(rt->queue, t->buf, CL_TRUE, 0, sb_tensor_bytes(t), host, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return sb_fail(SB_ERR_OPENCL, "clEnqueueWriteBuffer(%s) failed: %s", t->name, sb_cl_error_name(err));
    return 0;
}

int sb_tensor_read(sb_runtime *rt, const sb_tensor *t, void *host) {
    cl_int err = clEnqueueReadBuffer(rt->queue, t->buf, CL_TRUE, 0, sb_tensor_bytes(t), host, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return sb_fail(SB_ERR_OPENCL, "clEnqueueReadBuffer(%s) failed: %s", t->name, sb_cl_error_name(err));
    return 0;
}

static int fill32(sb_runtime *rt, const sb_tensor *t, const void *pattern) {
    cl_int err = clEnqueueFillBuffer(rt->queue, t->buf, pattern, 4, 0, sb_tensor_bytes(t), 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return sb_fail(SB_ERR_OPENCL, "clEnqueueFillBuffer(%s) failed: %s", t->name, sb_cl_error_name(err));
    return 0;
}

int sb_tensor_fill_f32(sb_runtime *rt, const sb_tensor *t, float value) { return fill32(rt, t, &value); }
int sb_tensor_fill_i32(sb_runtime *rt, const sb_tensor *t, int value) { return fill32(rt, t, &value); }

const char *sb_tensor_str(const sb_tensor *t, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "%s[", t->name);
    for (int i = 0; i < t->ndim && n > 0 && (size_t)n < cap; i++)
        n += snprintf(buf + n, cap - (size_t)n, i ? ",%d" : "%d", t->shape[i]);
    if (n > 0 && (size_t)n < cap) snprintf(buf + n, cap - (size_t)n, "]");
    return buf;
}

/* ---- planner */

void sb_plan_init(sb_plan *p) { memset(p, 0, sizeof *p); }

int sb_plan_add(sb_plan *p, sb_tensor *t, const char *name, sb_dtype dtype, int ndim, const int *shape) {
    SB_TRY(sb_tensor_describe(t, name, dtype, ndim, shape));
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        sb_tensor **tt = realloc(p->tensors, (size_t)cap * sizeof *tt);
        if (tt) p->tensors = tt;
        size_t *oo = realloc(p->offsets, (size_t)cap * sizeof *oo);
        if (oo) p->offsets = oo;
        int *aa = realloc(p->arena_of, (size_t)cap * sizeof *aa);
        if (aa) p->arena_of = aa;
        if (!tt || !oo || !aa) return sb_fail(SB_ERR_MEMORY, "planner: out of host memory");
        p->cap = cap;
    }
    p->tensors[p->n++] = t;
    return 0;
}

int sb_plan_allocate(sb_runtime *rt, sb_plan *p) {
    size_t align = rt->info.base_align_bytes, limit = (size_t)rt->info.max_alloc;
    /* First pass: pack tensors in order into arenas no larger than limit. */
    int n_arenas = 0;
    size_t *sizes = calloc((size_t)p->n + 1, sizeof *sizes);
    if (!sizes) return sb_fail(SB_ERR_MEMORY, "planner: out of host memory");
    for (int i = 0; i < p->n; i++) {
        size_t bytes = sb_round_up(sb_tensor_bytes(p->tensors[i]), align);
        if (bytes > limit) {
            free(sizes);
            char s[96];
            return sb_fail(SB_ERR_MEMORY, "tensor %s needs %zu bytes, over the device's max allocation of %zu; lower batch_size",
                           sb_tensor_str(p->tensors[i], s, sizeof s), bytes, limit);
        }
        if (n_arenas == 0 || sizes[n_arenas - 1] + bytes > limit) n_arenas++;
        p->arena_of[i] = n_arenas - 1;
        p->offsets[i] = sizes[n_arenas - 1];
        sizes[n_arenas - 1] += bytes;
    }
    p->arenas = calloc((size_t)n_arenas + 1, sizeof *p->arenas);
    if (!p->arenas) {
        free(sizes);
        return sb_fail(SB_ERR_MEMORY, "planner: out of host memory");
    }
    p->arena_bytes = sizes;
    p->total_bytes = 0;
    for (int a = 0; a < n_arenas; a++) p->total_bytes += sizes[a];
    for (int a = 0; a < n_arenas; a++) {
        char what[96];
        snprintf(what, sizeof what, "arena %d of %d (%zu bytes planned in all)", a + 1, n_arenas, p->total_bytes);
        int rc = create_buffer(rt, sizes[a], what, &p->arenas[a]);
        if (rc) {
            sb_plan_release(rt, p);
            return rc;
        }
        p->n_arenas = a + 1;
    }
    for (int i = 0; i < p->n; i++) {
        cl_buffer_region region = {p->offsets[i], sb_tensor_bytes(p->tensors[i])};
        cl_int err;
        p->tensors[i]->buf = clCreateSubBuffer(p->arenas[p->arena_of[i]], CL_MEM_READ_WRITE,
                                               CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
        if (err != CL_SUCCESS) {
            const char *name = p->tensors[i]->name;
            sb_plan_release(rt, p);
            return sb_fail(SB_ERR_OPENCL, "clCreateSubBuffer(%s) failed: %s", name, sb_cl_error_name(err));
        }
    }
    return 0;
}

void sb_plan_release(sb_runtime *rt, sb_plan *p) {
    for (int i = 0; i < p->n; i++) {
        if (p->tensors[i]->buf) clReleaseMemObject(p->tensors[i]->buf);
        p->tensors[i]->buf = NULL;
    }
    for (int a = 0; a < p->n_arenas; a++) {
        clReleaseMemObject(p->arenas[a]);
        if (rt->device_bytes >= p->arena_bytes[a]) rt->device_bytes -= p->arena_bytes[a];
    }
    free(p->tensors);
    free(p->offsets);
    free(p->arena_of);
    free(p->arenas);
    free(p->arena_bytes);
    sb_plan_init(p);
}
