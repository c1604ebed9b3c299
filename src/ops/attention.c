/* Multi-head attention core: the form choice, the unfused form (head
 * permutes from cl/attention.cl, batched GEMMs, the softmax and dropout
 * ops), the chunked form (GEMMs per chunk of heads and its row kernels)
 * and the launchers of the fused kernels; the host form is in
 * attention_host.c. */
#include "ops/attention.h"
#include "ops/attention_host.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/check.h"
#include "ops/dropout.h"
#include "ops/gemm.h"
#include "ops/softmax.h"

// ---- forms

static const char *const impl_names[] = {"unfused", "rows", "tiles", "chunked", "host"};

const char *sb_attention_impl_name(sb_attention_impl impl) { return impl_names[impl]; }

int sb_attention_choose(const sb_runtime *rt, sb_attention_impl *out) {
    const char *env = getenv("SKETCHBERT_ATTENTION");
    if (!env || !*env) {
        /* On a CPU with its GEMMs on the host BLAS the host form wins
         * (docs/performance.md), at the fused forms' memory; the fused rows
         * form wins against CLBlast's GEMMs. */
        sb_gemm_path gemm = (sb_gemm_path)rt->gemm_path;
        if (!gemm) SB_TRY(sb_gemm_path_for(&rt->info, NULL, &gemm));
        if (rt->info.device_class == SB_DEVICE_GPU) *out = SB_ATTENTION_TILES;
        else *out = gemm == SB_GEMM_HOST ? SB_ATTENTION_HOST : SB_ATTENTION_ROWS;
        return 0;
    }
    for (int i = 0; i <= SB_ATTENTION_HOST; i++)
        if (strcmp(env, impl_names[i]) == 0) {
            if (i == SB_ATTENTION_HOST && !sb_gemm_host_blas())
                return sb_fail(SB_ERR_INVALID, "SKETCHBERT_ATTENTION=host: this build has no host BLAS");
            return *out = (sb_attention_impl)i, 0;
        }
    return sb_fail(SB_ERR_INVALID, "SKETCHBERT_ATTENTION=%s: expected unfused, rows, tiles, chunked or host", env);
}

int sb_attention_chunk(const sb_runtime *rt, int T, int *out) {
    const char *env = getenv("SKETCHBERT_ATTENTION_CHUNK");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end || v < 1 || v > INT_MAX)
            return sb_fail(SB_ERR_INVALID, "SKETCHBERT_ATTENTION_CHUNK=%s: expected a positive count of sketches",
                           env);
        return *out = (int)v, 0;
    }
    cl_ulong cache = 0;
    cl_int err = clGetDeviceInfo(rt->info.device, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, sizeof cache, &cache, NULL);
    if (err != CL_SUCCESS) return sb_fail_cl(err, "clGetDeviceInfo(CL_DEVICE_GLOBAL_MEM_CACHE_SIZE)");
    if (cache == 0) cache = 1u << 20; /* not reported: assume 1 MiB */
    /* half the cache: the rest holds the GEMMs' other operands */
    cl_ulong per_sketch = 2 * (cl_ulong)T * (cl_ulong)T * sizeof(float), n = cache / 2 / per_sketch;
    *out = n < 1 ? 1 : n > INT_MAX ? INT_MAX : (int)n;
    return 0;
}

// ---- buffers

static int plan_one(sb_plan *plan, sb_tensor *t, const char *name, const char *field, int ndim, const int *shape) {
    char full[sizeof t->name];
    snprintf(full, sizeof full, "%s.%s", name, field);
    return sb_plan_add(plan, t, full, SB_F32, ndim, shape);
}

int sb_attention_plan(sb_plan *plan, sb_attention_buffers *bufs, const char *name, int B, int T, int H, int heads,
                      sb_attention_impl impl, int chunk, int training) {
    memset(bufs, 0, sizeof *bufs);
    if (B <= 0 || T <= 0 || H <= 0 || heads <= 0)
        return sb_fail(SB_ERR_INVALID, "attention %s: B = %d, T = %d, H = %d, heads = %d must be positive", name, B,
                       T, H, heads);
    if (H % heads != 0)
        return sb_fail(SB_ERR_INVALID, "attention %s: hidden %d is not divisible by %d heads", name, H, heads);
    bufs->B = B, bufs->T = T, bufs->H = H, bufs->heads = heads, bufs->impl = impl;
    if (impl == SB_ATTENTION_CHUNKED) {
        if (chunk < 0) return sb_fail(SB_ERR_INVALID, "attention %s: chunk of %d sketches is negative", name, chunk);
        bufs->chunk = chunk < B ? chunk : B;
        int row_shape[2] = {B * heads, T}, scratch_shape[3] = {bufs->chunk, T, T};
        SB_TRY(plan_one(plan, &bufs->lse, name, "lse", 2, row_shape));
        if (!chunk) return 0;
        SB_TRY(plan_one(plan, &bufs->scores, name, "scores", 3, scratch_shape));
        return training ? plan_one(plan, &bufs->dscores, name, "dscores", 3, scratch_shape) : 0;
    }
    if (impl != SB_ATTENTION_UNFUSED) { /* the host form keeps no drow: dO . O is a row of d */
        int row_shape[2] = {B * heads, T};
        SB_TRY(plan_one(plan, &bufs->lse, name, "lse", 2, row_shape));
        return training && impl != SB_ATTENTION_HOST ? plan_one(plan, &bufs->drow, name, "drow", 2, row_shape) : 0;
    }
    int head_shape[4] = {B, heads, T, H / heads}, prob_shape[3] = {B * heads, T, T};
    SB_TRY(plan_one(plan, &bufs->q_h, name, "q_h", 4, head_shape));
    SB_TRY(plan_one(plan, &bufs->k_h, name, "k_h", 4, head_shape));
    SB_TRY(plan_one(plan, &bufs->v_h, name, "v_h", 4, head_shape));
    SB_TRY(plan_one(plan, &bufs->probs, name, "probs", 3, prob_shape));
    SB_TRY(plan_one(plan, &bufs->ctx_h, name, "ctx_h", 4, head_shape));
    if (!training) return 0;
    SB_TRY(plan_one(plan, &bufs->probs_dropped, name, "probs_dropped", 3, prob_shape));
    SB_TRY(plan_one(plan, &bufs->dctx_h, name, "dctx_h", 4, head_shape));
    SB_TRY(plan_one(plan, &bufs->dx_h, name, "dx_h", 4, head_shape));
    return plan_one(plan, &bufs->dprobs, name, "dprobs", 3, prob_shape);
}

// ---- head permutes

/* x (B, T, H) <-> x_h (B, heads, T, d); kernel attention_split_heads or
 * attention_merge_heads, src and dst in that kernel's order. */
static int permute_heads(sb_runtime *rt, const char *kernel, const sb_attention_buffers *bufs, const sb_tensor *src,
                         const sb_tensor *dst) {
    cl_kernel k;
    SB_TRY(sb_kernel(rt, "attention", kernel, &k));
    cl_uint T = (cl_uint)bufs->T, nh = (cl_uint)bufs->heads, d = (cl_uint)(bufs->H / bufs->heads);
    cl_uint B = (cl_uint)bufs->B;
    SB_TRY(SB_ARG(k, 0, src->buf));
    SB_TRY(SB_ARG(k, 1, dst->buf));
    SB_TRY(SB_ARG(k, 2, T));
    SB_TRY(SB_ARG(k, 3, nh));
    SB_TRY(SB_ARG(k, 4, d));
    SB_TRY(SB_ARG(k, 5, B));
    size_t global[3] = {nh, T, B};
    return sb_launch(rt, k, 3, global, NULL);
}

// ---- checks

/* t is a float (B, T, H) tensor. */
static int check_io(const char *op, const sb_attention_buffers *bufs, const sb_tensor *t) {
    int shape[3] = {bufs->B, bufs->T, bufs->H};
    SB_TRY(sb_check_f32(op, t));
    SB_TRY(sb_check_shape(op, t, 3, shape));
    return sb_check_uint(op, "elements", t->numel);
}

/* The buffers a pass of bufs's form needs were planned and allocated: the
 * forward ones, and with `training` those for dropout and the backward. */
static int check_buffers(const char *op, const sb_attention_buffers *bufs, int training) {
    const sb_tensor *unfused[] = {&bufs->q_h, &bufs->k_h, &bufs->v_h, &bufs->probs, &bufs->ctx_h,
                                  &bufs->probs_dropped, &bufs->dctx_h, &bufs->dx_h, &bufs->dprobs};
    static const char *unfused_names[] = {"q_h", "k_h", "v_h", "probs", "ctx_h", "probs_dropped", "dctx_h", "dx_h",
                                          "dprobs"};
    const sb_tensor *fused[] = {&bufs->lse, &bufs->drow};
    static const char *fused_names[] = {"lse", "drow"};
    const sb_tensor *chunked[] = {&bufs->lse, &bufs->scores, &bufs->dscores};
    static const char *chunked_names[] = {"lse", "scores", "dscores"};
    const sb_tensor *const *t = fused;
    const char *const *names = fused_names;
    int n_forward = 1, n_all = 2;
    if (bufs->impl == SB_ATTENTION_UNFUSED) t = unfused, names = unfused_names, n_forward = 5, n_all = 9;
    if (bufs->impl == SB_ATTENTION_CHUNKED) t = chunked, names = chunked_names, n_forward = 2, n_all = 3;
    if (bufs->impl == SB_ATTENTION_HOST) n_all = 1;
    for (int i = 0; i < (training ? n_all : n_forward); i++)
        if (!t[i]->buf)
            return sb_fail(SB_ERR_INVALID, "%s: buffer %s is not allocated (%s)", op, names[i],
                           i < n_forward ? "plan and allocate with sb_attention_plan"
                                         : "dropout and backward need sb_attention_plan with training = 1");
    size_t T = (size_t)bufs->T;
    if (bufs->impl == SB_ATTENTION_CHUNKED) {
        size_t need = (size_t)bufs->chunk * T * T;
        if (bufs->chunk <= 0)
            return sb_fail(SB_ERR_INVALID, "%s: chunk of %d sketches is not positive", op, bufs->chunk);
        for (int i = 1; i < (training ? 3 : 2); i++)
            if (t[i]->numel < need)
                return sb_fail(SB_ERR_INVALID, "%s: scratch %s holds %zu floats, a chunk of %d sketches needs %zu", op,
                               names[i], t[i]->numel, bufs->chunk, need);
    }
    /* the fused kernels index the probabilities of one row of keys past T,
     * the chunked ones a Philox group of 64 */
    return sb_check_uint(op, "elements", (size_t)bufs->B * bufs->heads * T * T + 64);
}

// ---- forward and backward

/* A batch of row-major matrices with `cols` columns (heads (T, d), probabilities
 * (T, T)), stepped through by the GEMM's stride. */
static sb_mat mat_of(const sb_tensor *t, size_t cols) { return (sb_mat){t->buf, 0, cols}; }

static int unfused_forward(sb_runtime *rt, const sb_tensor *q, const sb_tensor *k, const sb_tensor *v,
                           const sb_tensor *mask, const sb_tensor *out, float p, sb_rng_key key,
                           sb_attention_buffers *bufs) {
    size_t T = (size_t)bufs->T, d = (size_t)(bufs->H / bufs->heads), BH = (size_t)bufs->B * bufs->heads;
    SB_TRY(permute_heads(rt, "attention_split_heads", bufs, q, &bufs->q_h));
    SB_TRY(permute_heads(rt, "attention_split_heads", bufs, k, &bufs->k_h));
    SB_TRY(permute_heads(rt, "attention_split_heads", bufs, v, &bufs->v_h));
    // scores = q_h k_h^T per head, (T, d) (d, T) -> (T, T)
    sb_mat probs = mat_of(&bufs->probs, T);
    SB_TRY(sb_gemm_batched(rt, 0, 1, T, T, d, 1.0f, mat_of(&bufs->q_h, d), T * d,
                           mat_of(&bufs->k_h, d), T * d, 0.0f, probs, T * T, BH));
    SB_TRY(sb_softmax_forward(rt, &bufs->probs, mask, &bufs->probs, 1.0f / sqrtf((float)d)));
    const sb_tensor *used = &bufs->probs;
    if (p > 0.0f) {
        SB_TRY(sb_dropout_forward(rt, &bufs->probs, &bufs->probs_dropped, p, key));
        used = &bufs->probs_dropped;
    }
    // ctx_h = probs_dropped v_h per head, (T, T) (T, d) -> (T, d)
    SB_TRY(sb_gemm_batched(rt, 0, 0, T, d, T, 1.0f, mat_of(used, T), T * T, mat_of(&bufs->v_h, d),
                           T * d, 0.0f, mat_of(&bufs->ctx_h, d), T * d, BH));
    return permute_heads(rt, "attention_merge_heads", bufs, &bufs->ctx_h, out);
}

static int unfused_backward(sb_runtime *rt, const sb_tensor *dout, const sb_tensor *dq, const sb_tensor *dk,
                            const sb_tensor *dv, sb_attention_buffers *bufs) {
    size_t T = (size_t)bufs->T, d = (size_t)(bufs->H / bufs->heads), BH = (size_t)bufs->B * bufs->heads;
    float p = bufs->p;
    const sb_tensor *used = p > 0.0f ? &bufs->probs_dropped : &bufs->probs;
    sb_mat dctx = mat_of(&bufs->dctx_h, d), dx = mat_of(&bufs->dx_h, d);
    sb_mat dprobs = mat_of(&bufs->dprobs, T);
    SB_TRY(permute_heads(rt, "attention_split_heads", bufs, dout, &bufs->dctx_h));
    // dv_h = probs_dropped^T dctx_h, (T, T)^T (T, d) -> (T, d)
    SB_TRY(sb_gemm_batched(rt, 1, 0, T, d, T, 1.0f, mat_of(used, T), T * T, dctx, T * d, 0.0f, dx, T * d,
                           BH));
    SB_TRY(permute_heads(rt, "attention_merge_heads", bufs, &bufs->dx_h, dv));
    // d probs_dropped = dctx_h v_h^T, (T, d) (d, T) -> (T, T); then through
    // dropout and softmax in place to d scores
    SB_TRY(sb_gemm_batched(rt, 0, 1, T, T, d, 1.0f, dctx, T * d, mat_of(&bufs->v_h, d), T * d, 0.0f, dprobs,
                           T * T, BH));
    if (p > 0.0f) SB_TRY(sb_dropout_backward(rt, &bufs->dprobs, &bufs->dprobs, p, bufs->key));
    SB_TRY(sb_softmax_backward(rt, &bufs->probs, &bufs->dprobs, &bufs->dprobs, 1.0f / sqrtf((float)d)));
    // dq_h = dscores k_h, (T, T) (T, d) -> (T, d)
    SB_TRY(sb_gemm_batched(rt, 0, 0, T, d, T, 1.0f, dprobs, T * T, mat_of(&bufs->k_h, d), T * d, 0.0f, dx,
                           T * d, BH));
    SB_TRY(permute_heads(rt, "attention_merge_heads", bufs, &bufs->dx_h, dq));
    // dk_h = dscores^T q_h, (T, T)^T (T, d) -> (T, d)
    SB_TRY(sb_gemm_batched(rt, 1, 0, T, d, T, 1.0f, dprobs, T * T, mat_of(&bufs->q_h, d), T * d, 0.0f, dx,
                           T * d, BH));
    return permute_heads(rt, "attention_merge_heads", bufs, &bufs->dx_h, dk);
}

// ---- fused forms

enum { ROWS_GROUP = 16, TILES_GROUP = 32 };

/* The tokens per sketch the dropout keys are laid out for: T, or the full
 * count of a trimmed batch (sb_rng_key's full_seq). */
static int key_tokens(const sb_attention_buffers *bufs) {
    return bufs->key.full_seq ? (int)bufs->key.full_seq : bufs->T;
}

/* Kernel `name` of the fused form of bufs, with the arguments they all end
 * in (T, heads, scale, dropout) set from index `first`. */
/* The dropout arguments the fused and chunk kernels end in, from index
 * `at`: key, threshold, keep_scale, the element offset, which with the
 * probabilities must stay below 2^32 (the kernels index in 32 bits), and
 * the token count the keys are laid out for (key_tokens). */
static int dropout_args(const sb_attention_buffers *bufs, const char *name, cl_kernel k, cl_uint at) {
    cl_uint4 key = {{(cl_uint)bufs->key.seed, (cl_uint)(bufs->key.seed >> 32), (cl_uint)bufs->key.stream,
                     (cl_uint)(bufs->key.stream >> 32)}};
    cl_uint threshold = bufs->p > 0.0f ? sb_dropout_threshold(bufs->p) : 0;
    float keep_scale = 1.0f / (1.0f - bufs->p);
    cl_uint KT = (cl_uint)key_tokens(bufs);
    uint64_t end = bufs->key.offset + (uint64_t)bufs->B * bufs->heads * KT * KT + 64;
    if (bufs->p > 0.0f && end > UINT32_MAX)
        return sb_fail(SB_ERR_INVALID, "%s: dropout offset %llu + the probabilities pass 2^32 elements", name,
                       (unsigned long long)bufs->key.offset);
    cl_uint off = (cl_uint)bufs->key.offset;
    SB_TRY(SB_ARG(k, at, key));
    SB_TRY(SB_ARG(k, at + 1, threshold));
    SB_TRY(SB_ARG(k, at + 2, keep_scale));
    SB_TRY(SB_ARG(k, at + 3, off));
    return SB_ARG(k, at + 4, KT);
}

static int fused_kernel(sb_runtime *rt, const sb_attention_buffers *bufs, const char *name, cl_uint first,
                        cl_kernel *k) {
    int tiles = bufs->impl == SB_ATTENTION_TILES, d = bufs->H / bufs->heads;
    char defines[64];
    snprintf(defines, sizeof defines, "-DHEAD_DIM=%d -DTILES=%d", d, tiles);
    SB_TRY(sb_kernel_defs(rt, "attention", defines, name, k));
    cl_uint T = (cl_uint)bufs->T, heads = (cl_uint)bufs->heads;
    float scale = 1.0f / sqrtf((float)d);
    SB_TRY(SB_ARG(*k, first, T));
    SB_TRY(SB_ARG(*k, first + 1, heads));
    SB_TRY(SB_ARG(*k, first + 2, scale));
    return dropout_args(bufs, name, *k, first + 3);
}

/* Buffers as kernel arguments 0 .. n - 1. */
static int set_buffers(cl_kernel k, const sb_tensor *const *t, cl_uint n) {
    for (cl_uint i = 0; i < n; i++) SB_TRY(SB_ARG(k, i, t[i]->buf));
    return 0;
}

/* One work-item per row of T (rounded up to the group), head and sketch. */
static int fused_launch(sb_runtime *rt, const sb_attention_buffers *bufs, cl_kernel k) {
    size_t group = bufs->impl == SB_ATTENTION_TILES ? TILES_GROUP : ROWS_GROUP, wg = sb_kernel_wg_size(rt, k);
    if (group > wg) group = wg;
    size_t global[3] = {sb_round_up((size_t)bufs->T, group), (size_t)bufs->heads, (size_t)bufs->B};
    size_t local[3] = {group, 1, 1};
    return sb_launch(rt, k, 3, global, local);
}

static int fused_forward(sb_runtime *rt, const sb_attention_buffers *bufs) {
    cl_kernel k;
    SB_TRY(fused_kernel(rt, bufs, "attention_fused_forward", 6, &k));
    const sb_tensor *args[] = {&bufs->q, &bufs->k, &bufs->v, &bufs->mask, &bufs->out, &bufs->lse};
    SB_TRY(set_buffers(k, args, 6));
    return fused_launch(rt, bufs, k);
}

/* dq with the rows' dout . out first, then dk and dv from them: each pass
 * owns the rows it writes, so no atomics. */
static int fused_backward(sb_runtime *rt, const sb_tensor *dout, const sb_tensor *dq, const sb_tensor *dk,
                          const sb_tensor *dv, const sb_attention_buffers *bufs) {
    cl_kernel k;
    SB_TRY(fused_kernel(rt, bufs, "attention_fused_backward_dq", 9, &k));
    const sb_tensor *dq_args[] = {&bufs->q, &bufs->k, &bufs->v, &bufs->mask, &bufs->out, dout,
                                  &bufs->lse, &bufs->drow, dq};
    SB_TRY(set_buffers(k, dq_args, 9));
    SB_TRY(fused_launch(rt, bufs, k));
    SB_TRY(fused_kernel(rt, bufs, "attention_fused_backward_dkv", 9, &k));
    const sb_tensor *dkv_args[] = {&bufs->q, &bufs->k, &bufs->v, &bufs->mask, dout,
                                   &bufs->lse, &bufs->drow, dk, dv};
    SB_TRY(set_buffers(k, dkv_args, 9));
    return fused_launch(rt, bufs, k);
}

// ---- chunked form

/* A chunk is sketches b0 .. b1 - 1 of one head h: every operand is then one
 * strided batch, the (B, T, H) tensors seen per head (rows of H floats,
 * sketches T * H apart) and the (chunk, T, T) scratch. */
typedef struct {
    int h, b0, b1;
} chunk_range;

/* Operand t over chunk r: a (B, T, H) tensor at head r.h, or (t NULL) the
 * scratch s. */
static sb_mat chunk_mat(const sb_attention_buffers *bufs, chunk_range r, const sb_tensor *t, const sb_tensor *s,
                        size_t *stride) {
    size_t T = (size_t)bufs->T, H = (size_t)bufs->H, d = H / (size_t)bufs->heads;
    if (t) return *stride = T * H, (sb_mat){t->buf, (size_t)r.b0 * T * H + (size_t)r.h * d, H};
    return *stride = T * T, (sb_mat){s->buf, 0, T};
}

/* C = alpha op(A) op(B) over chunk r, NULL operands being the scratch. */
static int chunk_gemm(sb_runtime *rt, const sb_attention_buffers *bufs, chunk_range r, int ta, int tb, size_t M,
                      size_t N, size_t K, float alpha, const sb_tensor *A, const sb_tensor *B, const sb_tensor *C,
                      const sb_tensor *scratch) {
    size_t sa, sb, sc;
    sb_mat a = chunk_mat(bufs, r, A, scratch, &sa), b = chunk_mat(bufs, r, B, scratch, &sb);
    sb_mat c = chunk_mat(bufs, r, C, scratch, &sc);
    return sb_gemm_batched(rt, ta, tb, M, N, K, alpha, a, sa, b, sb, 0.0f, c, sc, (size_t)(r.b1 - r.b0));
}

/* Kernel `name` with the arguments both chunk kernels end in (T, heads,
 * h, b0, [scale,] key, threshold, keep_scale, off) from index `first`; h
 * and b0 are set per chunk by chunk_launch. */
static int chunk_kernel(sb_runtime *rt, const sb_attention_buffers *bufs, const char *name, cl_uint first,
                        int with_scale, cl_kernel *k) {
    SB_TRY(sb_kernel(rt, "attention", name, k));
    cl_uint T = (cl_uint)bufs->T, heads = (cl_uint)bufs->heads;
    float scale = 1.0f / sqrtf((float)(bufs->H / bufs->heads));
    SB_TRY(SB_ARG(*k, first, T));
    SB_TRY(SB_ARG(*k, first + 1, heads));
    if (with_scale) SB_TRY(SB_ARG(*k, first + 4, scale));
    return dropout_args(bufs, name, *k, first + 4 + (cl_uint)with_scale);
}

/* The chunk kernel k (its first trailing argument at `first`) over r. */
static int chunk_launch(sb_runtime *rt, const sb_attention_buffers *bufs, cl_kernel k, cl_uint first,
                        chunk_range r) {
    cl_uint h = (cl_uint)r.h, b0 = (cl_uint)r.b0;
    SB_TRY(SB_ARG(k, first + 2, h));
    SB_TRY(SB_ARG(k, first + 3, b0));
    size_t group = ROWS_GROUP, wg = sb_kernel_wg_size(rt, k);
    if (group > wg) group = wg;
    size_t global[2] = {sb_round_up((size_t)bufs->T, group), (size_t)(r.b1 - r.b0)}, local[2] = {group, 1};
    return sb_launch(rt, k, 2, global, local);
}

/* The next chunk after r (r.b1 = 0 before the first); 0 after the last. */
static int next_chunk(const sb_attention_buffers *bufs, chunk_range *r) {
    if (r->b1 == bufs->B) r->h++, r->b1 = 0;
    if (r->h == bufs->heads) return 0;
    r->b0 = r->b1;
    r->b1 = r->b0 + bufs->chunk < bufs->B ? r->b0 + bufs->chunk : bufs->B;
    return 1;
}

static int chunked_forward(sb_runtime *rt, const sb_attention_buffers *bufs) {
    size_t T = (size_t)bufs->T, d = (size_t)(bufs->H / bufs->heads);
    float scale = 1.0f / sqrtf((float)d);
    const sb_tensor *s = &bufs->scores;
    cl_kernel k;
    SB_TRY(chunk_kernel(rt, bufs, "attention_chunk_forward", 3, 0, &k));
    const sb_tensor *args[] = {s, &bufs->mask, &bufs->lse};
    SB_TRY(set_buffers(k, args, 3));
    for (chunk_range r = {0, 0, 0}; next_chunk(bufs, &r);) {
        // scores = scale q_h k_h^T, (T, d) (d, T) -> (T, T); then the row
        // kernel; out_h = probs_dropped v_h, (T, T) (T, d) -> (T, d)
        SB_TRY(chunk_gemm(rt, bufs, r, 0, 1, T, T, d, scale, &bufs->q, &bufs->k, NULL, s));
        SB_TRY(chunk_launch(rt, bufs, k, 3, r));
        SB_TRY(chunk_gemm(rt, bufs, r, 0, 0, T, d, T, 1.0f, NULL, &bufs->v, &bufs->out, s));
    }
    return 0;
}

static int chunked_backward(sb_runtime *rt, const sb_tensor *dout, const sb_tensor *dq, const sb_tensor *dk,
                            const sb_tensor *dv, const sb_attention_buffers *bufs) {
    size_t T = (size_t)bufs->T, d = (size_t)(bufs->H / bufs->heads);
    float scale = 1.0f / sqrtf((float)d);
    const sb_tensor *s = &bufs->scores, *ds = &bufs->dscores;
    cl_kernel k;
    SB_TRY(chunk_kernel(rt, bufs, "attention_chunk_backward", 4, 1, &k));
    const sb_tensor *args[] = {s, ds, &bufs->mask, &bufs->lse};
    SB_TRY(set_buffers(k, args, 4));
    for (chunk_range r = {0, 0, 0}; next_chunk(bufs, &r);) {
        // scores again, and d probs_dropped = dout_h v_h^T; the row kernel
        // turns them into probs_dropped and d scores
        SB_TRY(chunk_gemm(rt, bufs, r, 0, 1, T, T, d, scale, &bufs->q, &bufs->k, NULL, s));
        SB_TRY(chunk_gemm(rt, bufs, r, 0, 1, T, T, d, 1.0f, dout, &bufs->v, NULL, ds));
        SB_TRY(chunk_launch(rt, bufs, k, 4, r));
        // dv_h = probs_dropped^T dout_h, dq_h = dscores k_h, dk_h = dscores^T q_h
        SB_TRY(chunk_gemm(rt, bufs, r, 1, 0, T, d, T, 1.0f, NULL, dout, dv, s));
        SB_TRY(chunk_gemm(rt, bufs, r, 0, 0, T, d, T, 1.0f, NULL, &bufs->k, dq, ds));
        SB_TRY(chunk_gemm(rt, bufs, r, 1, 0, T, d, T, 1.0f, NULL, &bufs->q, dk, ds));
    }
    return 0;
}

// ---- entry points

int sb_attention_forward(sb_runtime *rt, const sb_tensor *q, const sb_tensor *k, const sb_tensor *v,
                         const sb_tensor *mask, const sb_tensor *out, float p, sb_rng_key key,
                         sb_attention_buffers *bufs) {
    const char *op = "attention_forward";
    if (!(p >= 0.0f && p < 1.0f)) return sb_fail(SB_ERR_INVALID, "%s: dropout p = %g is outside [0, 1)", op, p);
    SB_TRY(check_buffers(op, bufs, p > 0.0f));
    SB_TRY(check_io(op, bufs, q));
    SB_TRY(check_io(op, bufs, k));
    SB_TRY(check_io(op, bufs, v));
    SB_TRY(check_io(op, bufs, out));
    int mshape[2] = {bufs->B, bufs->T};
    SB_TRY(sb_check_f32(op, mask));
    SB_TRY(sb_check_shape(op, mask, 2, mshape));
    if (key.full_seq && (key.seq != (uint32_t)bufs->T || key.full_seq < key.seq))
        return sb_fail(SB_ERR_INVALID, "%s: dropout keys for %u of %u tokens, the tensors have %d", op, key.seq,
                       key.full_seq, bufs->T);
    if (bufs->impl == SB_ATTENTION_UNFUSED && p > 0.0f && key.full_seq > key.seq)
        return sb_fail(SB_ERR_INVALID, "%s: the unfused form cannot drop probabilities trimmed to %u of %u tokens",
                       op, key.seq, key.full_seq);
    bufs->p = p, bufs->key = key;
    bufs->q = *q, bufs->k = *k, bufs->v = *v, bufs->mask = *mask, bufs->out = *out;
    if (bufs->impl == SB_ATTENTION_UNFUSED) return unfused_forward(rt, q, k, v, mask, out, p, key, bufs);
    if (bufs->impl == SB_ATTENTION_CHUNKED) return chunked_forward(rt, bufs);
    if (bufs->impl == SB_ATTENTION_HOST) return sb_attention_host_forward(rt, bufs);
    return fused_forward(rt, bufs);
}

int sb_attention_backward(sb_runtime *rt, const sb_tensor *dout, const sb_tensor *dq, const sb_tensor *dk,
                          const sb_tensor *dv, sb_attention_buffers *bufs) {
    const char *op = "attention_backward";
    SB_TRY(check_buffers(op, bufs, 1));
    if (!bufs->out.buf) return sb_fail(SB_ERR_INVALID, "%s: no forward ran with these buffers", op);
    SB_TRY(check_io(op, bufs, dout));
    SB_TRY(check_io(op, bufs, dq));
    SB_TRY(check_io(op, bufs, dk));
    SB_TRY(check_io(op, bufs, dv));
    if (bufs->impl == SB_ATTENTION_UNFUSED) return unfused_backward(rt, dout, dq, dk, dv, bufs);
    if (bufs->impl == SB_ATTENTION_CHUNKED) return chunked_backward(rt, dout, dq, dk, dv, bufs);
    if (bufs->impl == SB_ATTENTION_HOST) return sb_attention_host_backward(rt, dout, dq, dk, dv, bufs);
    return fused_backward(rt, dout, dq, dk, dv, bufs);
}
