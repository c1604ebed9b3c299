/* GEMMs with shape and bounds checks, error names and profiling, on one of
 * two paths: CLBlast on the device (with the shipped tuning, table in
 * gemm_tuning.c), or the host's CBLAS on the mapped buffers (CPU devices:
 * PoCL maps its buffers without a copy, so the BLAS works in place). */
#include "ops/gemm.h"

#include <clblast_c.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if SB_HAVE_HOST_BLAS
#include <cblas.h>
#endif

#include "ops/gemm_tuning.h"
#include "runtime/profile.h"
static const char *clblast_status_name(CLBlastStatusCode s) {
    switch (s) {
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInvalidBatchCount: return "CLBlastInvalidBatchCount";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    case CLBlastNoHalfPrecision: return "CLBlastNoHalfPrecision";
    case CLBlastInvalidOverrideKernel: return "CLBlastInvalidOverrideKernel";
    case CLBlastMissingOverrideParameter: return "CLBlastMissingOverrideParameter";
    case CLBlastDatabaseError: return "CLBlastDatabaseError";
    case CLBlastUnknownError: return "CLBlastUnknownError";
    case CLBlastUnexpectedError: return "CLBlastUnexpectedError";
    default: return sb_cl_error_name((cl_int)s); /* shared with OpenCL */
    }
}

/* One product, plain or strided-batched (batch 1 and strides 0 for plain). */
typedef struct gemm_call {
    int ta, tb;
    size_t M, N, K, batch;
    float alpha, beta;
    sb_mat A, B, C;
    size_t stride_a, stride_b, stride_c;
} gemm_call;

/* "NT 251x251x64 x30" */
static void call_name(const gemm_call *c, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "%c%c %zux%zux%zu", c->ta ? 'T' : 'N', c->tb ? 'T' : 'N', c->M, c->N, c->K);
    if (c->batch > 1 && n > 0 && (size_t)n < cap) snprintf(buf + n, cap - (size_t)n, " x%zu", c->batch);
}

/* Stored shape of each operand: A is (M, K), or (K, M) when transposed. */
static size_t rows_of(const gemm_call *c, char which) {
    return which == 'A' ? (c->ta ? c->K : c->M) : which == 'B' ? (c->tb ? c->N : c->K) : c->M;
}
static size_t cols_of(const gemm_call *c, char which) {
    return which == 'A' ? (c->ta ? c->M : c->K) : which == 'B' ? (c->tb ? c->K : c->N) : c->N;
}
static const sb_mat *mat_of(const gemm_call *c, char which) {
    return which == 'A' ? &c->A : which == 'B' ? &c->B : &c->C;
}
static size_t stride_of(const gemm_call *c, char which) {
    return which == 'A' ? c->stride_a : which == 'B' ? c->stride_b : c->stride_c;
}
/* Elements from the operand's offset to its last element, all batch items. */
static size_t extent_of(const gemm_call *c, char which) {
    return (c->batch - 1) * stride_of(c, which) + (rows_of(c, which) - 1) * mat_of(c, which)->ld +
           cols_of(c, which);
}

static int check_operand(const gemm_call *c, char which) {
    const sb_mat *m = mat_of(c, which);
    size_t cols = cols_of(c, which);
    if (!m->buf) return sb_fail(SB_ERR_INVALID, "gemm: matrix %c has no buffer", which);
    if (m->ld < cols)
        return sb_fail(SB_ERR_INVALID, "gemm: leading dimension of %c is %zu, less than its %zu columns", which,
                       m->ld, cols);
    size_t bytes = 0;
    cl_int err = clGetMemObjectInfo(m->buf, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    if (err != CL_SUCCESS) return sb_fail_cl(err, "clGetMemObjectInfo(gemm operand, CL_MEM_SIZE)");
    size_t need = m->offset + extent_of(c, which);
    if (need > bytes / sizeof(float))
        return sb_fail(SB_ERR_INVALID,
                       "gemm: %c needs %zu floats (offset %zu, %zu x %zu with ld %zu, batch %zu), its buffer holds "
                       "%zu",
                       which, need, m->offset, rows_of(c, which), cols, m->ld, c->batch, bytes / sizeof(float));
    return 0;
}

static int check_call(const gemm_call *c) {
    if (c->K == 0) return sb_fail(SB_ERR_INVALID, "gemm: K is 0 (an empty inner dimension)");
    SB_TRY(check_operand(c, 'A'));
    SB_TRY(check_operand(c, 'B'));
    return check_operand(c, 'C');
}

// ---- CLBlast

static int clblast_gemm(sb_runtime *rt, const gemm_call *c) {
    SB_TRY(sb_gemm_apply_tuning(rt));
    cl_event ev = NULL;
    CLBlastTranspose ta = c->ta ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = c->tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    const char *what = c->batch > 1 ? "CLBlastSgemmStridedBatched" : "CLBlastSgemm";
    CLBlastStatusCode s =
        c->batch > 1
            ? CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, c->M, c->N, c->K, c->alpha, c->A.buf,
                                         c->A.offset, c->A.ld, c->stride_a, c->B.buf, c->B.offset, c->B.ld,
                                         c->stride_b, c->beta, c->C.buf, c->C.offset, c->C.ld, c->stride_c,
                                         c->batch, &rt->queue, rt->profile ? &ev : NULL)
            : CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, c->M, c->N, c->K, c->alpha, c->A.buf, c->A.offset,
                           c->A.ld, c->B.buf, c->B.offset, c->B.ld, c->beta, c->C.buf, c->C.offset, c->C.ld,
                           &rt->queue, rt->profile ? &ev : NULL);
    char shape[64], name[96];
    call_name(c, shape, sizeof shape);
    if (s != CLBlastSuccess)
        return sb_fail(SB_ERR_BLAS, "%s(%s) failed: %s", what, shape, clblast_status_name(s));
    if (rt->profile && ev) {
        snprintf(name, sizeof name, "gemm %s", shape);
        return sb_profile_record_event(rt->profile, name, ev);
    }
    return 0;
}

// ---- host BLAS

#if SB_HAVE_HOST_BLAS
static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e9 * (double)ts.tv_sec + (double)ts.tv_nsec;
}

/* Maps operand `which` from its offset to its last element. Only the last
 * map blocks: on the in-order queue the earlier kernels and maps have
 * finished when it returns (about 25 us a map on PoCL, which hands out its
 * own memory: no copy). */
static int map_operand(sb_runtime *rt, const gemm_call *c, char which, cl_map_flags flags, float **out) {
    const sb_mat *m = mat_of(c, which);
    cl_int err;
    *out = clEnqueueMapBuffer(rt->queue, m->buf, which == 'C' ? CL_TRUE : CL_FALSE, flags, m->offset * sizeof(float),
                              extent_of(c, which) * sizeof(float), 0, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        *out = NULL;
        return sb_fail(SB_ERR_OPENCL, "clEnqueueMapBuffer(gemm %c, %zu floats at offset %zu) failed: %s", which,
                       extent_of(c, which), m->offset, sb_cl_error_name(err));
    }
    return 0;
}

static int unmap_operand(sb_runtime *rt, const gemm_call *c, char which, float *p, int rc) {
    if (!p) return rc;
    cl_int err = clEnqueueUnmapMemObject(rt->queue, mat_of(c, which)->buf, p, 0, NULL, NULL);
    if (err != CL_SUCCESS && !rc)
        return sb_fail(SB_ERR_OPENCL, "clEnqueueUnmapMemObject(gemm %c) failed: %s", which, sb_cl_error_name(err));
    return rc;
}

static int host_gemm(sb_runtime *rt, const gemm_call *c) {
    char shape[64];
    call_name(c, shape, sizeof shape);
    if (c->M > INT_MAX || c->N > INT_MAX || c->K > INT_MAX || c->A.ld > INT_MAX || c->B.ld > INT_MAX ||
        c->C.ld > INT_MAX)
        return sb_fail(SB_ERR_INVALID, "gemm %s: a size or leading dimension exceeds the host BLAS's int", shape);
    float *a = NULL, *b = NULL, *out = NULL;
    int rc = map_operand(rt, c, 'A', CL_MAP_READ, &a);
    if (!rc) rc = map_operand(rt, c, 'B', CL_MAP_READ, &b);
    if (!rc) rc = map_operand(rt, c, 'C', CL_MAP_READ | CL_MAP_WRITE, &out);
    if (!rc) {
        double t0 = now_ns();
        for (size_t i = 0; i < c->batch; i++)
            cblas_sgemm(CblasRowMajor, c->ta ? CblasTrans : CblasNoTrans, c->tb ? CblasTrans : CblasNoTrans,
                        (int)c->M, (int)c->N, (int)c->K, c->alpha, a + i * c->stride_a, (int)c->A.ld,
                        b + i * c->stride_b, (int)c->B.ld, c->beta, out + i * c->stride_c, (int)c->C.ld);
        if (rt->profile) {
            char name[96];
            snprintf(name, sizeof name, "host gemm %s", shape);
            rc = sb_profile_record_ns(rt->profile, name, now_ns() - t0);
        }
    }
    rc = unmap_operand(rt, c, 'C', out, rc);
    rc = unmap_operand(rt, c, 'B', b, rc);
    return unmap_operand(rt, c, 'A', a, rc);
}
#endif

// ---- path choice

const char *sb_gemm_host_blas(void) {
#if SB_HAVE_OPENBLAS
    return openblas_get_config();
#elif SB_HAVE_HOST_BLAS
    return "CBLAS";
#else
    return NULL;
#endif
}

const char *sb_gemm_path_name(sb_gemm_path path) { return path == SB_GEMM_HOST ? "host BLAS" : "CLBlast"; }

int sb_gemm_path_for(const sb_device_info *d, const char *choice, sb_gemm_path *out) {
    const char *from = "--gemm";
    if (!choice || !*choice) choice = getenv("SKETCHBERT_GEMM"), from = "SKETCHBERT_GEMM";
    if (!choice || !*choice || strcmp(choice, "auto") == 0) {
        /* Oclgrind calls itself CPU and GPU at once: a GPU stays on CLBlast. */
        int host_memory = !(d->type & CL_DEVICE_TYPE_GPU) && ((d->type & CL_DEVICE_TYPE_CPU) || d->host_unified);
        *out = sb_gemm_host_blas() && host_memory ? SB_GEMM_HOST : SB_GEMM_CLBLAST;
    } else if (strcmp(choice, "clblast") == 0) {
        *out = SB_GEMM_CLBLAST;
    } else if (strcmp(choice, "host") == 0) {
        if (!sb_gemm_host_blas())
            return sb_fail(SB_ERR_INVALID,
                           "%s host: this build has no host BLAS (install libopenblas-dev and reconfigure; "
                           "meson option host_blas)",
                           from);
        *out = SB_GEMM_HOST;
    } else {
        return sb_fail(SB_ERR_INVALID, "%s '%s': expected clblast, host or auto", from, choice);
    }
    return 0;
}

/* Threads for the host BLAS; 0 leaves the library's own choice. */
static int blas_threads(const sb_runtime *rt, int *out) {
    const char *env = getenv("SKETCHBERT_BLAS_THREADS");
    *out = 0;
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end || v < 1 || v > 1024)
            return sb_fail(SB_ERR_INVALID, "SKETCHBERT_BLAS_THREADS '%s': expected a number from 1 to 1024", env);
        *out = (int)v;
    } else if (!getenv("OPENBLAS_NUM_THREADS") && (rt->info.type & CL_DEVICE_TYPE_CPU)) {
        *out = (int)rt->info.compute_units; /* the cores PoCL's own workers use */
    }
    return 0;
}

int sb_gemm_host_threads(const sb_runtime *rt, int *out) {
    SB_TRY(blas_threads(rt, out));
#if SB_HAVE_OPENBLAS
    if (!*out) *out = openblas_get_num_threads(); /* OPENBLAS_NUM_THREADS, as OpenBLAS read it */
#endif
    if (!*out) *out = rt->info.compute_units > 0 ? (int)rt->info.compute_units : 1;
    return 0;
}

int sb_gemm_use(sb_runtime *rt, const char *choice) {
    sb_gemm_path path;
    SB_TRY(sb_gemm_path_for(&rt->info, choice, &path));
    if (path == SB_GEMM_HOST) {
        int threads;
        SB_TRY(blas_threads(rt, &threads));
#if SB_HAVE_OPENBLAS
        if (threads > 0) openblas_set_num_threads(threads);
#endif
    }
    rt->gemm_path = (int)path;
    return 0;
}

static int run_call(sb_runtime *rt, const gemm_call *c) {
    if (c->M == 0 || c->N == 0 || c->batch == 0) return 0;
    SB_TRY(check_call(c));
    if (!rt->gemm_path) SB_TRY(sb_gemm_use(rt, NULL));
#if SB_HAVE_HOST_BLAS
    if (rt->gemm_path == SB_GEMM_HOST) return host_gemm(rt, c);
#endif
    return clblast_gemm(rt, c);
}

int sb_gemm(sb_runtime *rt, int ta, int tb, size_t M, size_t N, size_t K, float alpha, sb_mat A, sb_mat B,
            float beta, sb_mat C) {
    gemm_call c = {ta, tb, M, N, K, 1, alpha, beta, A, B, C, 0, 0, 0};
    return run_call(rt, &c);
}

int sb_gemm_batched(sb_runtime *rt, int ta, int tb, size_t M, size_t N, size_t K, float alpha, sb_mat A,
                    size_t stride_a, sb_mat B, size_t stride_b, float beta, sb_mat C, size_t stride_c,
                    size_t batch) {
    gemm_call c = {ta, tb, M, N, K, batch, alpha, beta, A, B, C, stride_a, stride_b, stride_c};
    return run_call(rt, &c);
}

int sb_gemm_apply_tuning(sb_runtime *rt) {
    if (rt->gemm_ready) return 0;
    const char *off = getenv("SKETCHBERT_NO_GEMM_TUNING");
    for (int i = 0; i < sb_gemm_n_tunings && !(off && *off && strcmp(off, "0") != 0); i++) {
        const sb_gemm_tuning *t = &sb_gemm_tunings[i];
        if (!strstr(rt->info.device_name, t->device)) continue;
        const char *names[SB_GEMM_TUNING_MAX_PARAMS];
        size_t values[SB_GEMM_TUNING_MAX_PARAMS];
        memcpy(names, t->names, sizeof names);
        memcpy(values, t->values, sizeof values);
        CLBlastStatusCode s = CLBlastOverrideParameters(rt->info.device, t->kernel, CLBlastPrecisionSingle,
                                                        (size_t)t->n_params, names, values);
        if (s != CLBlastSuccess)
            return sb_fail(SB_ERR_BLAS,
                           "gemm: applying the shipped CLBlast %s parameters for '%s' failed: %s "
                           "(SKETCHBERT_NO_GEMM_TUNING=1 skips them)",
                           t->kernel, rt->info.device_name, clblast_status_name(s));
    }
    rt->gemm_ready = 1;
    return 0;
}
