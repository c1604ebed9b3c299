/* Matrix products through CLBlast (row-major, offsets in elements).
 * C[M,N] = alpha * op(A)[M,K] op(B)[K,N] + beta * C, op = transpose when
 * the flag is set. The batched form steps A, B and C by their strides.
 * defines: sb_gemm, sb_gemm_batched, sb_gemm_apply_tuning */
#ifndef SB_GEMM_H
#define SB_GEMM_H

#include "runtime/runtime.h"

typedef struct sb_mat {
    cl_mem buf;
    size_t offset; /* elements */
    size_t ld;     /* leading dimension (row stride) in elements */
} sb_mat;

int sb_gemm(sb_runtime *rt, int trans_a, int trans_b, size_t M, size_t N, size_t K, float alpha, sb_mat A,
            sb_mat B, float beta, sb_mat C);

int sb_gemm_batched(sb_runtime *rt, int trans_a, int trans_b, size_t M, size_t N, size_t K, float alpha,
                    sb_mat A, size_t stride_a, sb_mat B, size_t stride_b, float beta, sb_mat C, size_t stride_c,
                    size_t batch);

/* Applies the shipped CLBlast parameters for this device, if any (once per
 * runtime; sb_gemm calls it). SKETCHBERT_NO_GEMM_TUNING=1 skips it. */
int sb_gemm_apply_tuning(sb_runtime *rt);

#endif
