/* OpenCL runtime: device choice, context and in-order queue, kernel
 * programs built from cl/ sources (embedded, or SKETCHBERT_KERNEL_DIR) with
 * an on-disk binary cache, launches with optional per-kernel profiling.
 * defines: sb_device_class, sb_device_info, sb_runtime, sb_devices_list, sb_device_pick,
 *          sb_runtime_create, sb_runtime_destroy, sb_kernel, sb_kernel_defs, sb_launch,
 *          sb_kernel_wg_size, sb_row_kernel, sb_vec_kernel, sb_launch_items,
 *          sb_launch_rows, sb_launch_columns,
 *          sb_finish, sb_row_variant */
#ifndef SB_RUNTIME_H
#define SB_RUNTIME_H

#include <stddef.h>
#include <CL/cl.h>

#include "runtime/error.h"

/* What kernels with several forms are chosen by: CPU (CL_DEVICE_TYPE_CPU,
 * or a device whose local memory is global memory: many work-items per
 * core, wide vectors, barriers and work-groups costly) or GPU (everything
 * else: local memory and barriers cheap). Set once in sb_devices_list. */
typedef enum { SB_DEVICE_CPU, SB_DEVICE_GPU } sb_device_class;

typedef struct sb_device_info {
    cl_platform_id platform;
    cl_device_id device;
    int platform_index, device_index;
    char platform_name[128], platform_version[128];
    char device_name[128], driver_version[128], opencl_c_version[64];
    cl_device_type type;
    sb_device_class device_class;
    cl_ulong global_mem, max_alloc, local_mem;
    cl_device_local_mem_type local_mem_type;
    cl_uint compute_units;
    size_t max_wg_size;
    cl_uint base_align_bytes; /* sub-buffer origin alignment */
    int has_fp16, has_fp64;
    int host_unified;         /* CL_DEVICE_HOST_UNIFIED_MEMORY: device memory is host memory */
} sb_device_info;

/* How row-wise kernels (softmax, layernorm, losses, bias gradients, grad
 * norm) are launched. SB_ROW_WG: one work-group per row (or column), tree
 * reductions in local memory with barriers: suits GPUs. SB_ROW_ITEM: one
 * work-item per row, rows batched into work-groups, no barriers: on CPU
 * devices (PoCL) a work-group is a scheduled task whose cost outweighs a
 * row's arithmetic, and barriers split the kernel into work-item loops. */
typedef enum sb_row_variant { SB_ROW_WG = 0, SB_ROW_ITEM = 1 } sb_row_variant;

struct sb_profile;
struct sb_program_slot;

typedef struct sb_runtime {
    sb_device_info info;
    cl_context context;
    cl_command_queue queue;
    struct sb_program_slot *programs; /* built lazily, one per cl/ file */
    int n_programs;
    struct sb_profile *profile;       /* NULL unless profiling */
    int use_binary_cache;
    size_t device_bytes;              /* live device allocations */
    int gemm_ready;                   /* tuned GEMM parameters applied */
    int gemm_path;                    /* sb_gemm_path (ops/gemm.h); 0 until the first GEMM */
    sb_row_variant row_variant;       /* set at creation; tests switch it */
} sb_runtime;

enum { SB_RUNTIME_PROFILE = 1 };

/* All devices of all platforms, in platform then device order. Caller frees
 * *out with free(). No platform at all is an SB_ERR_NO_DEVICE error. */
int sb_devices_list(sb_device_info **out, int *count);

/* Picks a device: selector is an index into the list, or a case-insensitive
 * substring of "platform device" names; NULL or "" means SKETCHBERT_DEVICE,
 * and if that is unset the first GPU, else the first CPU, else device 0. */
int sb_device_pick(const sb_device_info *list, int count, const char *selector,
                   int *index);

int sb_runtime_create(sb_runtime **out, const char *selector, int flags);
void sb_runtime_destroy(sb_runtime *rt);

/* Kernel `name` from program cl/<program>.cl, built on first use. The kernel
 * is owned by the runtime. */
int sb_kernel(sb_runtime *rt, const char *program, const char *name,
              cl_kernel *out);
/* The same from cl/<program>.cl built with extra compiler options
 * `defines` ("-DNAME=VALUE ..."; each distinct string is its own build). */
int sb_kernel_defs(sb_runtime *rt, const char *program, const char *defines, const char *name,
                   cl_kernel *out);

/* Kernel `name`_wg or `name`_item of cl/<program>.cl, as rt->row_variant
 * says. */
int sb_row_kernel(sb_runtime *rt, const char *program, const char *name, cl_kernel *out);

/* Kernel `name` of cl/<program>.cl built on cl/vecw.cl, a block of *width
 * elements per work-item: 16 with the item row variant (CPU devices,
 * whole AVX-512 vectors on PoCL), 4 with wg (GPUs). */
int sb_vec_kernel(sb_runtime *rt, const char *program, const char *name, cl_kernel *out, size_t *width);

/* Largest work-group size usable for this kernel on this device. */
size_t sb_kernel_wg_size(sb_runtime *rt, cl_kernel k);

/* Enqueues an NDRange; local may be NULL. Records time when profiling. */
int sb_launch(sb_runtime *rt, cl_kernel k, cl_uint dims, const size_t *global,
              const size_t *local);

/* Launches n work-items of a barrier-free kernel (SB_ROW_ITEM kernels: one
 * item per row) in work-groups of up to 64; the kernel ignores ids >= n. */
int sb_launch_items(sb_runtime *rt, cl_kernel k, size_t n);

/* A row kernel from sb_row_kernel over `rows` rows. Its last argument, at
 * index `last`, is the work-group's scratch of wg_local floats (wg: one
 * work-group of wg_local items per row) or the row count (item). */
int sb_launch_rows(sb_runtime *rt, cl_kernel k, cl_uint last, size_t rows, size_t wg_local);

/* A column-sum kernel from sb_row_kernel over `cols` columns. wg: tiles of
 * up to 32 columns by row lanes, a power of two in all, with that many
 * floats of scratch at argument `scratch_arg`; item: a work-item per
 * block of 16 columns (no scratch argument), which it reads a row (16
 * contiguous floats) at a time. */
int sb_launch_columns(sb_runtime *rt, cl_kernel k, cl_uint scratch_arg, size_t cols);

/* Sets kernel argument i from an lvalue; returns an error naming the
 * kernel's argument index on failure. */
#define SB_ARG(k, i, v) sb_set_arg((k), (i), sizeof(v), &(v))
int sb_set_arg(cl_kernel k, cl_uint index, size_t size, const void *value);
/* A __local scratch argument of `bytes`. */
int sb_set_local_arg(cl_kernel k, cl_uint index, size_t bytes);

int sb_finish(sb_runtime *rt);

static inline size_t sb_round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }
/* Local size for a tree reduction in kernel k: the largest power of two
 * <= min(sb_kernel_wg_size, 256). */
static inline size_t sb_reduce_wg_size(sb_runtime *rt, cl_kernel k) {
    size_t wg = sb_kernel_wg_size(rt, k), p = 1;
    while (p * 2 <= wg && p * 2 <= 256) p *= 2;
    return p;
}

#endif
