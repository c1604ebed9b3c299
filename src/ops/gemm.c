/* CLBlast GEMM calls with shape checks, error names and profiling, and the
 * shipped tuning (table in gemm_tuning.c). */
#include "ops/gemm.h"

#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int finish_call(sb_runtime *rt, CLBlastStatusCode s, cl_event ev, const char *what, int ta, int tb,
                       size_t M, size_t N, size_t K, size_t batch) {
    if (s != CLBlastSuccess)
        return sb_fail(SB_ERR_BLAS, "%s(%c%c, M=%zu N=%zu K=%zu, batch %zu) failed: %s", what, ta ? 'T' : 'N',
                       tb ? 'T' : 'N', M, N, K, batch, clblast_status_name(s));
    if (rt->profile && ev) {
        char name[96];
        snprintf(name, sizeof name, "gemm %c%c %zux%zux%zu%s%.0zu", ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K,
                 batch > 1 ? " x" : "", batch > 1 ? batch : (size_t)0);
        return sb_profile_record_event(rt->profile, name, ev);
    }
    return 0;
}

static int check_ld(const char *which, size_t ld, size_t cols) {
    if (ld < cols)
        return sb_fail(SB_ERR_INVALID, "gemm: leading dimension of %s is %zu, less than its %zu columns", which, ld,
                       cols);
    return 0;
}

static int check_shapes(int ta, int tb, size_t M, size_t N, size_t K, sb_mat A, sb_mat B, sb_mat C) {
    if (!A.buf || !B.buf || !C.buf) return sb_fail(SB_ERR_INVALID, "gemm: a matrix has no buffer");
    SB_TRY(check_ld("A", A.ld, ta ? M : K));
    SB_TRY(check_ld("B", B.ld, tb ? K : N));
    SB_TRY(check_ld("C", C.ld, N));
    return 0;
}

int sb_gemm(sb_runtime *rt, int ta, int tb, size_t M, size_t N, size_t K, float alpha, sb_mat A, sb_mat B,
            float beta, sb_mat C) {
    if (M == 0 || N == 0) return 0;
    SB_TRY(check_shapes(ta, tb, M, N, K, A, B, C));
    SB_TRY(sb_gemm_apply_tuning(rt));
    cl_event ev = NULL;
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                                       tb ? CLBlastTransposeYes : CLBlastTransposeNo, M, N, K, alpha, A.buf,
                                       A.offset, A.ld, B.buf, B.offset, B.ld, beta, C.buf, C.offset, C.ld,
                                       &rt->queue, rt->profile ? &ev : NULL);
    return finish_call(rt, s, ev, "CLBlastSgemm", ta, tb, M, N, K, 1);
}

int sb_gemm_batched(sb_runtime *rt, int ta, int tb, size_t M, size_t N, size_t K, float alpha, sb_mat A,
                    size_t stride_a, sb_mat B, size_t stride_b, float beta, sb_mat C, size_t stride_c,
                    size_t batch) {
    if (M == 0 || N == 0 || batch == 0) return 0;
    SB_TRY(check_shapes(ta, tb, M, N, K, A, B, C));
    SB_TRY(sb_gemm_apply_tuning(rt));
    cl_event ev = NULL;
    CLBlastStatusCode s = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo,
        tb ? CLBlastTransposeYes : CLBlastTransposeNo, M, N, K, alpha, A.buf, A.offset, A.ld, stride_a, B.buf,
        B.offset, B.ld, stride_b, beta, C.buf, C.offset, C.ld, stride_c, batch, &rt->queue,
        rt->profile ? &ev : NULL);
    return finish_call(rt, s, ev, "CLBlastSgemmStridedBatched", ta, tb, M, N, K, batch);
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
