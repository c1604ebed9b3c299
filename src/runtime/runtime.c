/* OpenCL platform and device choice, context, queue, kernels, launches. */
#include "runtime/runtime.h"

#include <clblast_c.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/profile.h"
#include "runtime/program.h"

struct sb_program_slot {
    char name[64], defines[64];
    cl_program program;
    struct kernel_slot {
        char name[64];
        cl_kernel kernel;
    } *kernels;
    int n_kernels;
};

/* ---- device enumeration */

static void read_device_info(sb_device_info *d) {
    cl_device_id id = d->device;
    clGetPlatformInfo(d->platform, CL_PLATFORM_NAME, sizeof d->platform_name, d->platform_name, NULL);
    clGetPlatformInfo(d->platform, CL_PLATFORM_VERSION, sizeof d->platform_version, d->platform_version, NULL);
    clGetDeviceInfo(id, CL_DEVICE_NAME, sizeof d->device_name, d->device_name, NULL);
    clGetDeviceInfo(id, CL_DRIVER_VERSION, sizeof d->driver_version, d->driver_version, NULL);
    clGetDeviceInfo(id, CL_DEVICE_OPENCL_C_VERSION, sizeof d->opencl_c_version, d->opencl_c_version, NULL);
    clGetDeviceInfo(id, CL_DEVICE_TYPE, sizeof d->type, &d->type, NULL);
    clGetDeviceInfo(id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof d->global_mem, &d->global_mem, NULL);
    clGetDeviceInfo(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof d->max_alloc, &d->max_alloc, NULL);
    clGetDeviceInfo(id, CL_DEVICE_LOCAL_MEM_SIZE, sizeof d->local_mem, &d->local_mem, NULL);
    clGetDeviceInfo(id, CL_DEVICE_LOCAL_MEM_TYPE, sizeof d->local_mem_type, &d->local_mem_type, NULL);
    /* the one CPU/GPU decision every op with per-device forms follows */
    d->device_class = (d->type & CL_DEVICE_TYPE_CPU) || d->local_mem_type == CL_GLOBAL ? SB_DEVICE_CPU : SB_DEVICE_GPU;
    clGetDeviceInfo(id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof d->compute_units, &d->compute_units, NULL);
    clGetDeviceInfo(id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof d->max_wg_size, &d->max_wg_size, NULL);
    cl_uint align_bits = 0;
    clGetDeviceInfo(id, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL);
    d->base_align_bytes = align_bits >= 8 ? align_bits / 8 : 128;
    cl_bool unified = CL_FALSE;
    clGetDeviceInfo(id, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL);
    d->host_unified = unified == CL_TRUE;
    size_t ext_len = 0;
    clGetDeviceInfo(id, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_len);
    char *ext = calloc(ext_len + 1, 1);
    if (ext && clGetDeviceInfo(id, CL_DEVICE_EXTENSIONS, ext_len, ext, NULL) == CL_SUCCESS) {
        d->has_fp16 = strstr(ext, "cl_khr_fp16") != NULL;
        d->has_fp64 = strstr(ext, "cl_khr_fp64") != NULL;
    }
    free(ext);
}

int sb_devices_list(sb_device_info **out, int *count) {
    *out = NULL;
    *count = 0;
    cl_uint n_platforms = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &n_platforms);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && n_platforms == 0))
        return sb_fail(SB_ERR_NO_DEVICE,
                       "no OpenCL platform found (install an ICD, e.g. pocl-opencl-icd)");
    if (err != CL_SUCCESS) return sb_fail_cl(err, "clGetPlatformIDs");
    cl_platform_id *platforms = calloc(n_platforms, sizeof *platforms);
    if (!platforms) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    clGetPlatformIDs(n_platforms, platforms, NULL);
    sb_device_info *list = NULL;
    int n = 0;
    for (cl_uint p = 0; p < n_platforms; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0)
            continue;
        cl_device_id *ids = calloc(nd, sizeof *ids);
        sb_device_info *grown = realloc(list, (size_t)(n + (int)nd) * sizeof *list);
        if (!ids || !grown) {
            free(ids);
            free(grown ? grown : list);
            free(platforms);
            return sb_fail(SB_ERR_MEMORY, "out of host memory");
        }
        list = grown;
        clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL);
        for (cl_uint d = 0; d < nd; d++) {
            sb_device_info *info = &list[n++];
            memset(info, 0, sizeof *info);
            info->platform = platforms[p];
            info->device = ids[d];
            info->platform_index = (int)p;
            info->device_index = (int)d;
            read_device_info(info);
        }
        free(ids);
    }
    free(platforms);
    if (n == 0) {
        free(list);
        return sb_fail(SB_ERR_NO_DEVICE, "OpenCL platforms found, but no device on any of them");
    }
    *out = list;
    *count = n;
    return 0;
}

static int contains_nocase(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return 1;
    }
    return n == 0;
}

int sb_device_pick(const sb_device_info *list, int count, const char *selector, int *index) {
    if (!selector || !*selector) selector = getenv("SKETCHBERT_DEVICE");
    if (selector && *selector) {
        char *end = NULL;
        long i = strtol(selector, &end, 10);
        if (*end == '\0') {
            if (i < 0 || i >= count)
                return sb_fail(SB_ERR_NO_DEVICE, "--device %ld: no such device (there are %d; see `sketchbert devices`)",
                               i, count);
            *index = (int)i;
            return 0;
        }
        for (int k = 0; k < count; k++) {
            char both[260];
            snprintf(both, sizeof both, "%s %s", list[k].platform_name, list[k].device_name);
            if (contains_nocase(both, selector)) {
                *index = k;
                return 0;
            }
        }
        return sb_fail(SB_ERR_NO_DEVICE, "--device '%s': no device name matches (see `sketchbert devices`)",
                       selector);
    }
    for (int k = 0; k < count; k++)
        if (list[k].type & CL_DEVICE_TYPE_GPU) return *index = k, 0;
    for (int k = 0; k < count; k++)
        if (list[k].type & CL_DEVICE_TYPE_CPU) return *index = k, 0;
    *index = 0;
    return 0;
}

/* ---- runtime */

/* SKETCHBERT_ROW_VARIANT=wg|item, else by device class: CPU-class devices
 * get the barrier-free one-item-per-row kernels; GPUs and accelerators one
 * work-group per row. */
static int pick_row_variant(const sb_device_info *d, sb_row_variant *out) {
    const char *env = getenv("SKETCHBERT_ROW_VARIANT");
    if (env && *env) {
        if (strcmp(env, "wg") == 0) return *out = SB_ROW_WG, 0;
        if (strcmp(env, "item") == 0) return *out = SB_ROW_ITEM, 0;
        return sb_fail(SB_ERR_INVALID, "SKETCHBERT_ROW_VARIANT='%s': expected 'wg' or 'item'", env);
    }
    *out = d->device_class == SB_DEVICE_CPU ? SB_ROW_ITEM : SB_ROW_WG;
    return 0;
}

int sb_runtime_create(sb_runtime **out, const char *selector, int flags) {
    *out = NULL;
    sb_device_info *list;
    int count, index;
    SB_TRY(sb_devices_list(&list, &count));
    int rc = sb_device_pick(list, count, selector, &index);
    if (rc) {
        free(list);
        return rc;
    }
    sb_row_variant row_variant = SB_ROW_WG;
    rc = pick_row_variant(&list[index], &row_variant);
    sb_runtime *rt = rc ? NULL : calloc(1, sizeof *rt);
    if (!rt) {
        free(list);
        return rc ? rc : sb_fail(SB_ERR_MEMORY, "out of host memory");
    }
    rt->info = list[index];
    rt->row_variant = row_variant;
    free(list);
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)rt->info.platform, 0};
    rt->context = clCreateContext(props, 1, &rt->info.device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        free(rt);
        return sb_fail_cl(err, "clCreateContext");
    }
    cl_command_queue_properties qp = (flags & SB_RUNTIME_PROFILE) ? CL_QUEUE_PROFILING_ENABLE : 0;
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
    /* clCreateCommandQueue is the 1.2 call; 2.0's replacement is optional. */
    rt->queue = clCreateCommandQueue(rt->context, rt->info.device, qp, &err);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    if (err != CL_SUCCESS) {
        clReleaseContext(rt->context);
        free(rt);
        return sb_fail_cl(err, "clCreateCommandQueue");
    }
    if (flags & SB_RUNTIME_PROFILE) rt->profile = sb_profile_create();
    const char *no_cache = getenv("SKETCHBERT_NO_BINARY_CACHE");
    rt->use_binary_cache = !(no_cache && *no_cache && strcmp(no_cache, "0") != 0);
    *out = rt;
    return 0;
}

void sb_runtime_destroy(sb_runtime *rt) {
    if (!rt) return;
    if (rt->queue) clFinish(rt->queue);
    /* CLBlast caches programs holding our context; left for its exit-time
     * destructors they are released after the OpenCL runtime (Oclgrind
     * aborts then with a corrupted heap). */
    if (rt->gemm_ready) CLBlastClearCache();
    for (int i = 0; i < rt->n_programs; i++) {
        struct sb_program_slot *s = &rt->programs[i];
        for (int k = 0; k < s->n_kernels; k++) clReleaseKernel(s->kernels[k].kernel);
        free(s->kernels);
        clReleaseProgram(s->program);
    }
    free(rt->programs);
    sb_profile_destroy(rt->profile);
    if (rt->queue) clReleaseCommandQueue(rt->queue);
    if (rt->context) clReleaseContext(rt->context);
    free(rt);
}

/* The program built from cl/<name>.cl with `defines`: one per pair. */
static int get_program(sb_runtime *rt, const char *name, const char *defines, struct sb_program_slot **out) {
    if (strlen(name) >= sizeof rt->programs[0].name || strlen(defines) >= sizeof rt->programs[0].defines)
        return sb_fail(SB_ERR_INVALID, "program cl/%s.cl (%s): name or defines too long", name, defines);
    for (int i = 0; i < rt->n_programs; i++)
        if (strcmp(rt->programs[i].name, name) == 0 && strcmp(rt->programs[i].defines, defines) == 0)
            return *out = &rt->programs[i], 0;
    char *text;
    SB_TRY(sb_program_source(name, &text));
    cl_program prog;
    int rc = sb_program_build(rt, name, defines, text, &prog);
    free(text);
    if (rc) return rc;
    struct sb_program_slot *grown = realloc(rt->programs, (size_t)(rt->n_programs + 1) * sizeof *grown);
    if (!grown) {
        clReleaseProgram(prog);
        return sb_fail(SB_ERR_MEMORY, "out of host memory");
    }
    rt->programs = grown;
    struct sb_program_slot *s = &rt->programs[rt->n_programs++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->defines, sizeof s->defines, "%s", defines);
    s->program = prog;
    *out = s;
    return 0;
}

int sb_kernel(sb_runtime *rt, const char *program, const char *name, cl_kernel *out) {
    return sb_kernel_defs(rt, program, "", name, out);
}

int sb_kernel_defs(sb_runtime *rt, const char *program, const char *defines, const char *name, cl_kernel *out) {
    struct sb_program_slot *s = NULL;
    SB_TRY(get_program(rt, program, defines ? defines : "", &s));
    for (int k = 0; k < s->n_kernels; k++)
        if (strcmp(s->kernels[k].name, name) == 0) return *out = s->kernels[k].kernel, 0;
    cl_int err;
    cl_kernel k = clCreateKernel(s->program, name, &err);
    if (err != CL_SUCCESS)
        return sb_fail(SB_ERR_OPENCL, "clCreateKernel(%s) in cl/%s.cl%s%s failed: %s", name, program,
                       s->defines[0] ? " " : "", s->defines, sb_cl_error_name(err));
    struct kernel_slot *grown = realloc(s->kernels, (size_t)(s->n_kernels + 1) * sizeof *grown);
    if (!grown) {
        clReleaseKernel(k);
        return sb_fail(SB_ERR_MEMORY, "out of host memory");
    }
    s->kernels = grown;
    snprintf(s->kernels[s->n_kernels].name, sizeof s->kernels[0].name, "%s", name);
    s->kernels[s->n_kernels++].kernel = k;
    *out = k;
    return 0;
}

int sb_row_kernel(sb_runtime *rt, const char *program, const char *name, cl_kernel *out) {
    char full[96];
    snprintf(full, sizeof full, "%s_%s", name, rt->row_variant == SB_ROW_ITEM ? "item" : "wg");
    return sb_kernel(rt, program, full, out);
}

int sb_vec_kernel(sb_runtime *rt, const char *program, const char *name, cl_kernel *out, size_t *width) {
    *width = rt->row_variant == SB_ROW_ITEM ? 16 : 4;
    char defines[32];
    snprintf(defines, sizeof defines, "-DVEC_W=%zu", *width);
    return sb_kernel_defs(rt, program, defines, name, out);
}

size_t sb_kernel_wg_size(sb_runtime *rt, cl_kernel k) {
    size_t wg = 0;
    if (clGetKernelWorkGroupInfo(k, rt->info.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL) !=
            CL_SUCCESS ||
        wg == 0)
        wg = 1;
    return wg < rt->info.max_wg_size ? wg : rt->info.max_wg_size;
}

int sb_launch_items(sb_runtime *rt, cl_kernel k, size_t n) {
    size_t wg = sb_kernel_wg_size(rt, k), local = wg < 64 ? wg : 64;
    size_t global = sb_round_up(n, local);
    return sb_launch(rt, k, 1, &global, &local);
}

int sb_launch_rows(sb_runtime *rt, cl_kernel k, cl_uint last, size_t rows, size_t wg_local) {
    if (rt->row_variant == SB_ROW_ITEM) {
        cl_uint n = (cl_uint)rows;
        SB_TRY(SB_ARG(k, last, n));
        return sb_launch_items(rt, k, rows);
    }
    SB_TRY(sb_set_local_arg(k, last, wg_local * sizeof(float)));
    size_t global = rows * wg_local;
    return sb_launch(rt, k, 1, &global, &wg_local);
}

int sb_launch_columns(sb_runtime *rt, cl_kernel k, cl_uint scratch_arg, size_t cols) {
    if (rt->row_variant == SB_ROW_ITEM) return sb_launch_items(rt, k, (cols + 15) / 16);
    size_t lanes = sb_reduce_wg_size(rt, k);
    size_t local[2] = {lanes < 32 ? lanes : 32, 0}; /* columns by row lanes */
    local[1] = lanes / local[0];
    SB_TRY(sb_set_local_arg(k, scratch_arg, lanes * sizeof(float)));
    size_t global[2] = {sb_round_up(cols, local[0]), local[1]};
    return sb_launch(rt, k, 2, global, local);
}

int sb_set_arg(cl_kernel k, cl_uint index, size_t size, const void *value) {
    cl_int err = clSetKernelArg(k, index, size, value);
    if (err != CL_SUCCESS) {
        char name[64] = "?";
        clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
        return sb_fail(SB_ERR_OPENCL, "clSetKernelArg(%s, arg %u) failed: %s", name, index,
                       sb_cl_error_name(err));
    }
    return 0;
}

int sb_set_local_arg(cl_kernel k, cl_uint index, size_t bytes) {
    return sb_set_arg(k, index, bytes, NULL);
}

int sb_launch(sb_runtime *rt, cl_kernel k, cl_uint dims, const size_t *global, const size_t *local) {
    for (cl_uint d = 0; d < dims; d++)
        if (global[d] == 0) return 0; /* empty range: nothing to do */
    cl_event ev = NULL;
    cl_int err = clEnqueueNDRangeKernel(rt->queue, k, dims, NULL, global, local, 0, NULL,
                                        rt->profile ? &ev : NULL);
    if (err != CL_SUCCESS) {
        char name[64] = "?";
        clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
        return sb_fail(SB_ERR_OPENCL, "clEnqueueNDRangeKernel(%s) failed: %s", name, sb_cl_error_name(err));
    }
    if (rt->profile) {
        char name[64] = "?";
        clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
        SB_TRY(sb_profile_record_event(rt->profile, name, ev));
    }
    return 0;
}

int sb_finish(sb_runtime *rt) {
    SB_CL_TRY(clFinish(rt->queue));
    return 0;
}
