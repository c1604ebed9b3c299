/* Matrix products (row-major, offsets in elements) through one of two
 * paths: CLBlast on the device, or the host's CBLAS (OpenBLAS) on the
 * mapped buffers, for CPU devices where mapping is zero-copy.
 * C[M,N] = alpha * op(A)[M,K] op(B)[K,N] + beta * C, op = transpose when
 * the flag is set. The batched form steps A, B and C by their strides.
 * defines: sb_mat, sb_gemm_path, sb_gemm, sb_gemm_batched, sb_gemm_path_for,
 *          sb_gemm_use, sb_gemm_host_threads, sb_gemm_path_name, sb_gemm_host_blas,
 *          sb_gemm_apply_tuning */
#ifndef SB_GEMM_H
#define SB_GEMM_H

#include "runtime/runtime.h"

typedef struct sb_mat {
    cl_mem buf;
    size_t offset; /* elements */
    size_t ld;     /* leading dimension (row stride) in elements */
} sb_mat;

typedef enum { SB_GEMM_CLBLAST = 1, SB_GEMM_HOST = 2 } sb_gemm_path;

/* The first call on a runtime picks its path as sb_gemm_use(rt, NULL) does. */
int sb_gemm(sb_runtime *rt, int trans_a, int trans_b, size_t M, size_t N, size_t K, float alpha, sb_mat A,
            sb_mat B, float beta, sb_mat C);

int sb_gemm_batched(sb_runtime *rt, int trans_a, int trans_b, size_t M, size_t N, size_t K, float alpha,
                    sb_mat A, size_t stride_a, sb_mat B, size_t stride_b, float beta, sb_mat C, size_t stride_c,
                    size_t batch);

/* The path for device d: choice "clblast", "host" or "auto"; NULL or ""
 * means $SKETCHBERT_GEMM, and unset means auto. Auto is the host BLAS when
 * the build has one and the device is a CPU or reports host-unified
 * memory, and is not (also) a GPU; else CLBlast. "host" in a build without a host
 * BLAS, or an unknown choice, is an error. */
int sb_gemm_path_for(const sb_device_info *d, const char *choice, sb_gemm_path *out);

/* Sets the runtime's path (choice as above); the host path also sets the
 * BLAS's thread count: $SKETCHBERT_BLAS_THREADS, else OPENBLAS_NUM_THREADS
 * as OpenBLAS reads it, else the device's compute units. */
int sb_gemm_use(sb_runtime *rt, const char *choice);

/* The threads the host path gives the BLAS as sb_gemm_use sets them; where
 * it leaves them to OpenBLAS (OPENBLAS_NUM_THREADS), OpenBLAS's count; else
 * the device's compute units. */
int sb_gemm_host_threads(const sb_runtime *rt, int *out);

/* "CLBlast" or "host BLAS". */
const char *sb_gemm_path_name(sb_gemm_path path);

/* The host BLAS this build calls ("OpenBLAS 0.3.21 ...", "CBLAS"), or NULL
 * when built without one. */
const char *sb_gemm_host_blas(void);

/* Applies the shipped CLBlast parameters for this device, if any (once per
 * runtime; the CLBlast path calls it). SKETCHBERT_NO_GEMM_TUNING=1 skips it. */
int sb_gemm_apply_tuning(sb_runtime *rt);

#endif
