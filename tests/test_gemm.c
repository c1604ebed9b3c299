/* GEMM on both paths (CLBlast, and the host BLAS where the build has one):
 * sb_gemm and sb_gemm_batched vs a double-precision reference for all four transpose combinations, at odd sizes, with non-zero
 * offsets, leading dimensions larger than the columns and batch strides
 * larger than a matrix. beta = 0 runs on a NaN-poisoned C (BLAS semantics:
 * C is not read, so no NaN may come through); beta = 1 accumulates into a
 * random C. Elements of C outside the product (padding columns, gaps
 * between batch items, the offset) must be left as they were. The
 * operands are also taken as sub-buffers of one arena, as the planner hands
 * them out (the host path maps them). Then bad leading dimensions and
 * too-small buffers are rejected.
 *
 * CLBlast has two code paths: a direct kernel for products smaller than
 * XGEMM_MIN_INDIRECT_SIZE^3 multiply-adds (CLBlast's switch: 192^3 in the
 * shipped tuning, 576^3 by default on CPUs; the test's sizes are below
 * both), and a tiled kernel with pad and transpose helpers above it, which
 * the model's larger GEMMs take. The cases run first as shipped (direct),
 * then sb_gemm's cases again with the switch
 * overridden to 1 (tiled), after sb_gemm_apply_tuning has applied the
 * shipped tuning, so the tuned parameters of both kernels are the ones
 * tested. The batched form is not repeated on the tiled path: the model's
 * batched products (attention, per head T x T x d) are all below the switch,
 * and each extra CLBlast program costs PoCL tens of seconds to compile.
 * The host path runs every case once (the BLAS has no such switch). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clblast_c.h>

#include "ops/gemm.h"
#include "test_util.h"

/* A stored matrix of `rows` x `cols` (as stored, i.e. after any transpose
 * flag is taken into account) at `offset` with row stride `ld`, repeated
 * `count` times `stride` elements apart. */
typedef struct layout {
    size_t rows, cols, ld, offset, stride, count;
} layout;

static layout make_layout(size_t rows, size_t cols, size_t count, size_t salt) {
    layout l = {rows, cols, cols + 3 + salt, 5 + salt, 0, count};
    l.stride = rows * l.ld + 7; /* a gap between batch items */
    return l;
}

static size_t layout_numel(const layout *l) { return l->offset + (l->count - 1) * l->stride + l->rows * l->ld; }

static int in_matrix(const layout *l, size_t i) {
    if (i < l->offset) return 0;
    size_t r = i - l->offset, b = r / l->stride, w = r % l->stride;
    return b < l->count && w < l->rows * l->ld && w % l->ld < l->cols;
}

// ---- double-precision reference

/* C[b] = alpha op(A[b]) op(B[b]) + beta C0[b], C written packed (M, N). */
static void gemm_ref(int ta, int tb, size_t M, size_t N, size_t K, double alpha, const float *a, const layout *la,
                     const float *b, const layout *lb, double beta, const float *c0, const layout *lc, double *out) {
    for (size_t n = 0; n < lc->count; n++) {
        const float *A = a + la->offset + n * la->stride, *B = b + lb->offset + n * lb->stride;
        const float *C = c0 + lc->offset + n * lc->stride;
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++) {
                double s = 0;
                for (size_t k = 0; k < K; k++)
                    s += (double)(ta ? A[k * la->ld + i] : A[i * la->ld + k]) *
                         (double)(tb ? B[j * lb->ld + k] : B[k * lb->ld + j]);
                out[(n * M + i) * N + j] = alpha * s + (beta != 0 ? beta * C[i * lc->ld + j] : 0);
            }
    }
}

// ---- one case

/* batch 0: sb_gemm; batch > 0: sb_gemm_batched with that many items. */
static void run_case(sb_runtime *rt, int ta, int tb, size_t M, size_t N, size_t K, size_t batch, float beta) {
    size_t count = batch ? batch : 1;
    layout la = make_layout(ta ? K : M, ta ? M : K, count, 0), lb = make_layout(tb ? N : K, tb ? K : N, count, 1),
           lc = make_layout(M, N, count, 2);
    size_t na = layout_numel(&la), nb = layout_numel(&lb), nc = layout_numel(&lc);
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c0 = malloc(nc * sizeof *c0);
    double *ref = malloc(count * M * N * sizeof *ref);
    float *got = malloc(count * M * N * sizeof *got);
    t_uniform(a, na, -1.0f, 1.0f);
    t_uniform(b, nb, -1.0f, 1.0f);
    t_uniform(c0, nc, -1.0f, 1.0f);
    const float alpha = 0.75f;

    char what[128], batch_str[16] = "";
    if (batch) snprintf(batch_str, sizeof batch_str, " x%zu", batch);
    snprintf(what, sizeof what, "%s %c%c %zux%zux%zu%s, beta %g%s", batch ? "gemm_batched" : "gemm", ta ? 'T' : 'N',
             tb ? 'T' : 'N', M, N, K, batch_str, beta, beta == 0 ? " on NaN C" : "");

    int sa[1] = {(int)na}, sb[1] = {(int)nb}, sc[1] = {(int)nc};
    sb_tensor ta_ = t_upload(rt, "A", SB_F32, 1, sa, a), tb_ = t_upload(rt, "B", SB_F32, 1, sb, b);
    sb_tensor tc = beta == 0 ? t_output(rt, "C", SB_F32, 1, sc) : t_upload(rt, "C", SB_F32, 1, sc, c0);
    if (beta == 0)
        for (size_t i = 0; i < nc; i++) c0[i] = NAN; /* what the device buffer holds */
    sb_mat A = {ta_.buf, la.offset, la.ld}, B = {tb_.buf, lb.offset, lb.ld}, C = {tc.buf, lc.offset, lc.ld};
    int rc = batch ? sb_gemm_batched(rt, ta, tb, M, N, K, alpha, A, la.stride, B, lb.stride, beta, C, lc.stride,
                                     batch)
                   : sb_gemm(rt, ta, tb, M, N, K, alpha, A, B, beta, C);
    if (rc) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: %s", what, sb_last_error());
        t_check_true(msg, 0);
    } else {
        float *c = t_download(rt, &tc);
        gemm_ref(ta, tb, M, N, K, alpha, a, &la, b, &lb, beta, c0, &lc, ref);
        for (size_t n = 0; n < count; n++)
            for (size_t i = 0; i < M; i++)
                memcpy(got + (n * M + i) * N, c + lc.offset + n * lc.stride + i * lc.ld, N * sizeof *got);
        char line[200];
        snprintf(line, sizeof line, "%s vs reference", what);
        t_check(line, t_rel_err(got, ref, count * M * N), 1e-5);
        int untouched = 1; /* compared bit for bit: NaN stays the same NaN */
        for (size_t i = 0; i < nc; i++)
            if (!in_matrix(&lc, i) && memcmp(&c[i], &c0[i], sizeof c[i]) != 0) untouched = 0;
        snprintf(line, sizeof line, "%s leaves C outside the product unchanged", what);
        t_check_true(line, untouched);
        free(c);
    }
    free(a), free(b), free(c0), free(ref), free(got);
}

/* A, B and C as sub-buffers of one arena at aligned origins, each with an
 * offset of its own inside: NT, beta 1, batched. */
static void run_subbuffers(sb_runtime *rt, size_t M, size_t N, size_t K, size_t batch) {
    layout la = make_layout(M, K, batch, 0), lb = make_layout(N, K, batch, 1), lc = make_layout(M, N, batch, 2);
    size_t n[3] = {layout_numel(&la), layout_numel(&lb), layout_numel(&lc)}, origin[3], total = 0;
    size_t align = rt->info.base_align_bytes / sizeof(float);
    for (int i = 0; i < 3; i++) origin[i] = total, total = sb_round_up(total + n[i] + 1, align);
    float *host = malloc(total * sizeof *host), *ab = malloc(total * sizeof *ab);
    double *ref = malloc(batch * M * N * sizeof *ref);
    t_uniform(host, total, -1.0f, 1.0f);
    int shape[1] = {(int)total};
    sb_tensor arena = t_upload(rt, "arena", SB_F32, 1, shape, host);
    cl_mem sub[3] = {NULL, NULL, NULL};
    int ok = 1;
    for (int i = 0; i < 3 && ok; i++) {
        cl_buffer_region r = {origin[i] * sizeof(float), n[i] * sizeof(float)};
        cl_int err;
        sub[i] = clCreateSubBuffer(arena.buf, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &r, &err);
        ok = t_check_true("clCreateSubBuffer", err == CL_SUCCESS);
    }
    sb_mat A = {sub[0], la.offset, la.ld}, B = {sub[1], lb.offset, lb.ld}, C = {sub[2], lc.offset, lc.ld};
    if (ok && t_check_true("batched NT on sub-buffers runs",
                           sb_gemm_batched(rt, 0, 1, M, N, K, 0.5f, A, la.stride, B, lb.stride, 1.0f, C, lc.stride,
                                           batch) == 0)) {
        float *got = t_download(rt, &arena);
        gemm_ref(0, 1, M, N, K, 0.5, host + origin[0], &la, host + origin[1], &lb, 1.0, host + origin[2], &lc, ref);
        for (size_t b = 0; b < batch; b++)
            for (size_t i = 0; i < M; i++)
                memcpy(ab + (b * M + i) * N, got + origin[2] + lc.offset + b * lc.stride + i * lc.ld, N * sizeof *ab);
        t_check("batched NT on sub-buffers vs reference", t_rel_err(ab, ref, batch * M * N), 1e-5);
        int untouched = 1; /* the rest of the arena: A, B, gaps, padding */
        for (size_t i = 0; i < total; i++)
            if ((i < origin[2] || i >= origin[2] + n[2] || !in_matrix(&lc, i - origin[2])) && got[i] != host[i])
                untouched = 0;
        t_check_true("sub-buffer GEMM leaves the rest of the arena unchanged", untouched);
        free(got);
    }
    for (int i = 0; i < 3; i++)
        if (sub[i]) clReleaseMemObject(sub[i]);
    free(host), free(ab), free(ref);
}

// ---- bad arguments

static void run_errors(sb_runtime *rt) {
    int shape[1] = {64};
    sb_tensor buf = t_output(rt, "buf", SB_F32, 1, shape);
    sb_mat m4 = {buf.buf, 0, 4}, m3 = {buf.buf, 0, 3};
    /* NN 4x4x4: A needs ld >= K, B ld >= N, C ld >= N */
    t_check_error("A with ld < K rejected", sb_gemm(rt, 0, 0, 4, 4, 4, 1.0f, m3, m4, 0.0f, m4),
                  "leading dimension of A is 3, less than its 4 columns");
    t_check_error("B with ld < N rejected", sb_gemm(rt, 0, 0, 4, 4, 4, 1.0f, m4, m3, 0.0f, m4),
                  "leading dimension of B is 3");
    t_check_error("C with ld < N rejected", sb_gemm(rt, 0, 0, 4, 4, 4, 1.0f, m4, m4, 0.0f, m3),
                  "leading dimension of C is 3");
    /* TN 4x4x5: A is stored (K, M) = (5, 4), so ld 4 is fine, ld 3 is not */
    t_check_error("transposed A with ld < M rejected", sb_gemm(rt, 1, 0, 4, 4, 5, 1.0f, m3, m4, 0.0f, m4),
                  "leading dimension of A is 3, less than its 4 columns");
    t_check_error("batched: C with ld < N rejected",
                  sb_gemm_batched(rt, 0, 0, 4, 4, 4, 1.0f, m4, 16, m4, 16, 0.0f, m3, 16, 2),
                  "leading dimension of C is 3");
    sb_mat far = {buf.buf, 60, 4};
    t_check_error("C past the end of its buffer rejected", sb_gemm(rt, 0, 0, 4, 4, 4, 1.0f, m4, m4, 0.0f, far),
                  "C needs 76 floats (offset 60, 4 x 4 with ld 4, batch 1), its buffer holds 64");
    t_check_error("batched B past the end of its buffer rejected",
                  sb_gemm_batched(rt, 0, 0, 4, 4, 4, 1.0f, m4, 16, m4, 30, 0.0f, m4, 16, 3),
                  "B needs 76 floats");
    t_check_error("K = 0 rejected", sb_gemm(rt, 0, 0, 4, 4, 0, 1.0f, m4, m4, 0.0f, m4), "K is 0");
}

/* Makes CLBlast take its tiled kernel for every size; 0 on success. */
static int force_tiled_gemm(sb_runtime *rt) {
    const char *name = "XGEMM_MIN_INDIRECT_SIZE";
    const size_t min_indirect_size = 1;
    return CLBlastOverrideParameters(rt->info.device, "GemmRoutine", CLBlastPrecisionSingle, 1, &name,
                                     &min_indirect_size) != CLBlastSuccess;
}

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_gemm");
    /* (M, N, K): odd sizes, then a model-like one (251 tokens, 130 and 67 as
     * stand-ins for hidden sizes that are not multiples of any tile). */
    const size_t shapes[2][3] = {{37, 29, 19}, {251, 130, 67}}, small_shapes[2][3] = {{7, 5, 3}, {13, 11, 9}};
    const size_t(*sh)[3] = t_small ? small_shapes : shapes;
    const char *paths[2] = {"clblast", sb_gemm_host_blas() ? "host" : NULL};
    for (int p = 0; p < 2 && paths[p]; p++) {
        if (!t_check_true(paths[p], sb_gemm_use(rt, paths[p]) == 0)) break;
        int host = rt->gemm_path == SB_GEMM_HOST;
        if (!host && !t_check_true("shipped GEMM tuning applied", sb_gemm_apply_tuning(rt) == 0)) break;
        for (int tiled = 0; tiled <= !host; tiled++) {
            printf("# %s\n", host ? sb_gemm_host_blas() : tiled ? "CLBlast tiled kernel" : "CLBlast direct kernel");
            if (tiled && !t_check_true("CLBlast switched to its tiled kernel", force_tiled_gemm(rt) == 0)) break;
            for (int s = 0; s < 2; s++)
                for (int t = 0; t < 4; t++)
                    for (int beta = 0; beta <= 1; beta++)
                        run_case(rt, t >> 1, t & 1, sh[s][0], sh[s][1], sh[s][2], 0, beta);
            for (int t = 0; !tiled && t < 4; t++)
                for (int beta = 0; beta <= 1; beta++)
                    run_case(rt, t >> 1, t & 1, sh[0][0], sh[0][1], sh[0][2], 3, beta);
            if (!tiled) run_subbuffers(rt, sh[0][0], sh[0][1], sh[0][2], 3);
        }
        run_errors(rt);
    }
    return t_finish(rt);
}
