/* The host form of the attention core (CPU devices with a host BLAS). A
 * CPU device's buffers are host memory (PoCL maps them without a copy), so
 * host threads work on them mapped, one task per (sketch b, head h):
 *   S = scale Q_h K_h^T         single-threaded BLAS GEMM into the thread's
 *                               own T x T scratch, which stays in its
 *                               core's cache for the rest of the task
 *   P = dropout(softmax(S + length mask)), row log-sum-exp kept   (C)
 *   out_h = P V_h               written in place in out (B, T, H)
 * and the backward per task from the log-sum-exp: S again, dP = dO V_h^T,
 * dS = scale P (dP - dO . O) per row, dV_h = P^T dO, dQ_h = dS K_h,
 * dK_h = dS^T Q_h. A task writes only its sketch's rows of its head's
 * columns, so no atomics, and its arithmetic is the same whichever thread
 * runs it: results do not depend on the thread count. The dropout keep
 * mask is the device kernels' (cl/philox.cl, element index = the flat
 * (B*heads, T, T) index), drawn 64 elements at a time by a 16-lane Philox;
 * the row work is compiled for AVX-512, AVX2 and the baseline and the
 * widest the CPU runs is used (the same masks; the same floats too with
 * GCC, which contracts no FMA in ISO C, the sums being in a fixed order).
 * Not for GPUs: mapping there copies. Without a host BLAS it reports an
 * error. */
#include "ops/attention_host.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/dropout.h"
#include "ops/gemm.h"
#include "runtime/profile.h"

#if SB_HAVE_HOST_BLAS
#include <cblas.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define SB_X86 1
#include <immintrin.h>
#else
#define SB_X86 0
#endif

#define MASK_PENALTY -10000.0f
#define MAX_THREADS 64
#define INLINE static inline __attribute__((always_inline))

int sb_attention_threads(const sb_runtime *rt, int *out) { return sb_gemm_host_threads(rt, out); }

// ---- row work, written once, compiled per instruction set below

/* Sixteen floats, and their bits: the float row work is written on these
 * (GCC and Clang vector extensions) so that it vectorises for certain,
 * whatever the width: 4 SSE, 2 AVX or 1 AVX-512 register. */
/* These helpers are always inlined, so no vector crosses a call: the
 * warning that a 64-byte vector argument's ABI differs without AVX-512
 * does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float f32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));
typedef uint8_t u8x16 __attribute__((vector_size(16)));

INLINE f32x16 splat(float v) { return (f32x16){v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v}; }

/* where m (-1 or 0 per lane) then a else b */
INLINE f32x16 select16(i32x16 m, f32x16 a, f32x16 b) { return (f32x16)(((i32x16)a & m) | ((i32x16)b & ~m)); }

INLINE f32x16 max16(f32x16 a, f32x16 b) { return select16(a > b, a, b); }

/* Sixteen keep bytes (unaligned) as lane masks. */
INLINE i32x16 kept16(const unsigned char *k) {
    u8x16 v;
    memcpy(&v, k, sizeof v);
    return __builtin_convertvector(v, i32x16) != 0;
}

/* exp(x) for the softmax (Cephes' expf: 2^n times a degree-6 polynomial
 * on the rest, within 2 ulp); 0 below -87 (where the float result would be
 * denormal) and for the rows' padding (-inf). */
INLINE f32x16 exp16(f32x16 x) {
    f32x16 xc = select16(x > 88.0f, splat(88.0f), x);
    xc = select16(xc < -87.0f, splat(-87.0f), xc);
    /* n = round(x / ln 2): adding 1.5 * 2^23 leaves n in the low mantissa bits */
    f32x16 t = xc * 1.44269504088896341f + 12582912.0f, n = t - 12582912.0f;
    f32x16 f = xc - n * 0.693359375f;
    f = f - n * -2.12194440e-4f;
    f32x16 y = splat(1.9875691500e-4f);
    y = y * f + 1.3981999507e-3f;
    y = y * f + 8.3334519073e-3f;
    y = y * f + 4.1665795894e-2f;
    y = y * f + 1.6666665459e-1f;
    y = y * f + 5.0000001201e-1f;
    y = y * (f * f) + f + 1.0f;
    i32x16 scaled = (i32x16)y + (((i32x16)t - 0x4B400000) << 23); /* times 2^n */
    return select16(x < -87.0f, splat(0.0f), (f32x16)scaled);
}

/* The lanes' maximum and sum, in a fixed order. */
INLINE float hmax16(f32x16 v) {
    float m = v[0];
    for (int l = 1; l < 16; l++) m = v[l] > m ? v[l] : m;
    return m;
}

INLINE float hsum16(f32x16 v) {
    float s = 0.0f;
    for (int l = 0; l < 16; l++) s += v[l];
    return s;
}

/* Sixteen Philox4x32-10 blocks at once, counter (c0, c1, c2, c3)[l] per
 * lane, as cl/philox.cl's philox4x32_10_x16; two ways: */
typedef uint32_t u32x16 __attribute__((vector_size(64)));
typedef uint64_t u64x8 __attribute__((vector_size(64)));

/* - in lane loops that the compiler vectorises (4 or 8 lanes wide: its
 *   spills of 64-byte vectors cost more there), */
INLINE void philox_lanes(u32x16 *v0, u32x16 *v1, u32x16 *v2, u32x16 *v3, uint32_t k0, uint32_t k1) {
    uint32_t c0[16], c1[16], c2[16], c3[16];
    memcpy(c0, v0, 64), memcpy(c1, v1, 64), memcpy(c2, v2, 64), memcpy(c3, v3, 64);
    for (int r = 0; r < 10; r++) {
        if (r > 0) k0 += SB_PHILOX_W0, k1 += SB_PHILOX_W1;
        for (int l = 0; l < 16; l++) {
            uint64_t p0 = (uint64_t)SB_PHILOX_M0 * c0[l], p1 = (uint64_t)SB_PHILOX_M1 * c2[l];
            c0[l] = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0;
            c1[l] = (uint32_t)p1;
            c2[l] = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
            c3[l] = (uint32_t)p0;
        }
    }
    memcpy(v0, c0, 64), memcpy(v1, c1, 64), memcpy(v2, c2, 64), memcpy(v3, c3, 64);
}

#if SB_X86
/* - on 16-lane vectors with AVX-512, the products of the even and the odd
 *   lanes one pmuludq each (the compilers' 64-bit vector product takes
 *   three). */
__attribute__((target("avx512f"))) INLINE void mul_wide16(u32x16 a, uint32_t m, u32x16 *hi, u32x16 *lo) {
    __m512i mv = _mm512_set1_epi32((int)m);
    u64x8 even = (u64x8)_mm512_mul_epu32((__m512i)a, mv);
    u64x8 odd = (u64x8)_mm512_mul_epu32(_mm512_srli_epi64((__m512i)a, 32), mv);
    *lo = (u32x16)((even & 0xFFFFFFFFu) | (odd << 32));
    *hi = (u32x16)((even >> 32) | (odd & 0xFFFFFFFF00000000u));
}

__attribute__((target("avx512f"))) INLINE void philox_avx512(u32x16 *c0, u32x16 *c1, u32x16 *c2, u32x16 *c3,
                                                           uint32_t k0, uint32_t k1) {
    for (int r = 0; r < 10; r++) {
        if (r > 0) k0 += SB_PHILOX_W0, k1 += SB_PHILOX_W1;
        u32x16 hi0, lo0, hi1, lo1;
        mul_wide16(*c0, SB_PHILOX_M0, &hi0, &lo0);
        mul_wide16(*c2, SB_PHILOX_M1, &hi1, &lo1);
        *c0 = hi1 ^ *c1 ^ k0;
        *c1 = lo1;
        *c2 = hi0 ^ *c3 ^ k1;
        *c3 = lo0;
    }
}
#endif

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define BYTE_SHIFT(q) (24 - 8 * (q))
#else
#define BYTE_SHIFT(q) (8 * (q))
#endif

typedef void (*philox_fn)(u32x16 *, u32x16 *, u32x16 *, u32x16 *, uint32_t, uint32_t);

/* sb_attention_host_keep: groups of 64 elements aligned to 64 (sixteen
 * blocks), element a + 4 l + w taking word w of block l. */
INLINE void keep_body(philox_fn philox, unsigned char *keep, sb_rng_key key, uint32_t threshold, uint64_t first,
                      size_t n) {
    uint64_t e0 = key.offset + first, end = e0 + n;
    uint32_t k0 = (uint32_t)key.seed, k1 = (uint32_t)(key.seed >> 32);
    for (uint64_t a = e0 & ~(uint64_t)63; a < end; a += 64) {
        u32x16 c0, c1, c2, c3;
        for (int l = 0; l < 16; l++) {
            uint64_t block = (a >> 2) + (uint64_t)l;
            c0[l] = (uint32_t)block, c1[l] = (uint32_t)(block >> 32);
            c2[l] = (uint32_t)key.stream, c3[l] = (uint32_t)(key.stream >> 32);
        }
        philox(&c0, &c1, &c2, &c3, k0, k1);
        /* element 4 l + q is byte q of lane l */
        u32x16 kept = ((u32x16)(c0 >= threshold) & 1u) << BYTE_SHIFT(0) |
                      ((u32x16)(c1 >= threshold) & 1u) << BYTE_SHIFT(1) |
                      ((u32x16)(c2 >= threshold) & 1u) << BYTE_SHIFT(2) |
                      ((u32x16)(c3 >= threshold) & 1u) << BYTE_SHIFT(3);
        unsigned char w[64];
        memcpy(w, &kept, sizeof w);
        if (a >= e0 && a + 64 <= end) {
            memcpy(keep + (a - e0), w, 64);
        } else {
            for (uint64_t e = a > e0 ? a : e0; e < a + 64 && e < end; e++) keep[e - e0] = w[e - a];
        }
    }
}

/* Rows i < T of S (row stride ld, a multiple of 16, rows aligned to 64
 * bytes; columns T .. ld - 1 are padding, which pen holds at -inf):
 * S[i] = dropout(softmax(S[i] + pen)), lse[i] its log-sum-exp. keep (NULL:
 * no dropout) is the task's keep mask, element i * T + j, readable to
 * i * T + ld. */
INLINE void forward_rows_body(float *S, int ld, const float *pen, const unsigned char *keep, int T,
                              float keep_scale, float *lse) {
    const f32x16 *pv = (const f32x16 *)pen;
    for (int i = 0; i < T; i++) {
        f32x16 *x = (f32x16 *)(S + (size_t)i * ld), mv = splat(-INFINITY), sv = splat(0.0f);
        for (int j = 0; j < ld / 16; j++) mv = max16(mv, x[j] + pv[j]);
        float m = hmax16(mv);
        for (int j = 0; j < ld / 16; j++) sv += x[j] = exp16(x[j] + pv[j] - m);
        float sum = hsum16(sv), inv = keep_scale / sum;
        lse[i] = m + logf(sum);
        const unsigned char *kr = keep ? keep + (size_t)i * T : NULL;
        for (int j = 0; j < ld / 16; j++)
            x[j] = kr ? select16(kept16(kr + 16 * j), x[j] * inv, splat(0.0f)) : x[j] * inv;
    }
}

/* The backward's rows: S holds the scores again, dS = dO V^T (the
 * gradient of the dropped probabilities), drow[i] = dO_i . O_i. Leaves S =
 * the dropped probabilities and dS = scale P (dP - drow), P = exp(S + pen
 * - lse), dP = keep keep_scale dS. */
INLINE void backward_rows_body(float *S, float *dS, int ld, const float *pen, const unsigned char *keep, int T,
                               const float *lse, const float *drow, float scale, float keep_scale) {
    const f32x16 *pv = (const f32x16 *)pen;
    for (int i = 0; i < T; i++) {
        f32x16 *x = (f32x16 *)(S + (size_t)i * ld), *dx = (f32x16 *)(dS + (size_t)i * ld);
        const unsigned char *kr = keep ? keep + (size_t)i * T : NULL;
        float li = lse[i], D = drow[i];
        for (int j = 0; j < ld / 16; j++) {
            f32x16 p = exp16(x[j] + pv[j] - li), dp = dx[j], pd = p;
            if (kr) {
                i32x16 k = kept16(kr + 16 * j);
                dp = select16(k, dp * keep_scale, splat(0.0f));
                pd = select16(k, p * keep_scale, splat(0.0f));
            }
            x[j] = pd;
            dx[j] = scale * p * (dp - D);
        }
    }
}

typedef struct {
    void (*keep)(unsigned char *, sb_rng_key, uint32_t, uint64_t, size_t);
    void (*forward_rows)(float *, int, const float *, const unsigned char *, int, float, float *);
    void (*backward_rows)(float *, float *, int, const float *, const unsigned char *, int, const float *,
                          const float *, float, float);
} row_fns;

#define ROW_WORK(isa, target, philox)                                                                         \
    target static void keep_##isa(unsigned char *keep, sb_rng_key key, uint32_t threshold, uint64_t first,       \
                                  size_t n) {                                                                    \
        keep_body(philox, keep, key, threshold, first, n);                                                       \
    }                                                                                                            \
    target static void forward_rows_##isa(float *S, int ld, const float *pen, const unsigned char *keep, int T,   \
                                          float keep_scale, float *lse) {                                        \
        forward_rows_body(S, ld, pen, keep, T, keep_scale, lse);                                                 \
    }                                                                                                            \
    target static void backward_rows_##isa(float *S, float *dS, int ld, const float *pen,                        \
                                           const unsigned char *keep, int T, const float *lse,                   \
                                           const float *drow, float scale, float keep_scale) {                   \
        backward_rows_body(S, dS, ld, pen, keep, T, lse, drow, scale, keep_scale);                               \
    }

#if SB_X86
ROW_WORK(plain, , philox_lanes)
ROW_WORK(avx2, __attribute__((target("avx2"))), philox_lanes)
ROW_WORK(avx512, __attribute__((target("avx512f"))), philox_avx512)
static const row_fns isa_fns[SB_HOST_ISA_COUNT] = {
    {keep_plain, forward_rows_plain, backward_rows_plain},
    {keep_avx2, forward_rows_avx2, backward_rows_avx2},
    {keep_avx512, forward_rows_avx512, backward_rows_avx512},
};
#else
ROW_WORK(plain, , philox_lanes)
static const row_fns isa_fns[SB_HOST_ISA_COUNT] = {
    {keep_plain, forward_rows_plain, backward_rows_plain},
    {keep_plain, forward_rows_plain, backward_rows_plain},
    {keep_plain, forward_rows_plain, backward_rows_plain},
};
#endif

const char *sb_host_isa_name(sb_host_isa isa) {
    static const char *const names[SB_HOST_ISA_COUNT] = {"plain", "avx2", "avx512f"};
    return names[isa];
}

int sb_host_isa_supported(sb_host_isa isa) {
#if SB_X86
    if (isa == SB_HOST_ISA_AVX2) return __builtin_cpu_supports("avx2");
    if (isa == SB_HOST_ISA_AVX512) return __builtin_cpu_supports("avx512f");
#endif
    return isa == SB_HOST_ISA_PLAIN;
}

void sb_attention_host_keep(sb_host_isa isa, unsigned char *keep, sb_rng_key key, uint32_t threshold,
                            uint64_t first, size_t n) {
    isa_fns[isa].keep(keep, key, threshold, first, n);
}

#if SB_HAVE_HOST_BLAS

static sb_host_isa widest_isa(void) {
    sb_host_isa isa = SB_HOST_ISA_AVX512;
    while (isa > SB_HOST_ISA_PLAIN && !sb_host_isa_supported(isa)) isa--;
    return isa;
}

// ---- tasks

/* One pass over the (sketch, head) tasks; read-only for the workers but
 * `next`, the next task to take. The (B, T, H) tensors are mapped, head h
 * of sketch b at b T H + h d with row stride H. */
typedef struct {
    float *q, *k, *v, *mask, *out, *dout; /* out: read by the backward */
    float *o, *lse, *dq, *dk, *dv;        /* o: written by the forward */
    int B, T, H, heads, d, ld, backward;
    int KT; /* tokens the dropout keys are laid out for: T, or the full length of a trimmed batch */
    float scale, keep_scale;
    uint32_t threshold; /* 0: no dropout */
    sb_rng_key key;
    row_fns fns;
    atomic_int next;
} pass;

/* A worker's own scratch: the scores and their gradient (T x ld), the
 * length mask as penalties with the padding at -inf (ld), dO . O per row
 * (T) and the keep mask (T T + ld bytes). */
typedef struct {
    pass *ps;
    float *s, *ds, *pen, *drow;
    unsigned char *keep;
    void *block;
} worker;

static void run_task(const pass *ps, const worker *w, int task) {
    int T = ps->T, H = ps->H, d = ps->d, ld = ps->ld, b = task / ps->heads, h = task % ps->heads;
    size_t at = (size_t)b * T * H + (size_t)h * d;
    const float *q = ps->q + at, *k = ps->k + at, *v = ps->v + at, *mk = ps->mask + (size_t)b * T;
    float *lse = ps->lse + (size_t)task * T;
    for (int j = 0; j < ld; j++) w->pen[j] = j < T ? (1.0f - mk[j]) * MASK_PENALTY : -INFINITY;
    const unsigned char *keep = NULL;
    if (ps->threshold) { /* row i of the task's probabilities: elements (task KT + i) KT .. of the flat (B*heads, KT, KT) */
        uint64_t KT = (uint64_t)ps->KT;
        if (ps->KT == T)
            ps->fns.keep(w->keep, ps->key, ps->threshold, (uint64_t)task * KT * KT, (size_t)T * T);
        else
            for (int i = 0; i < T; i++)
                ps->fns.keep(w->keep + (size_t)i * T, ps->key, ps->threshold, ((uint64_t)task * KT + i) * KT, (size_t)T);
        keep = w->keep;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, d, ps->scale, q, H, k, H, 0.0f, w->s, ld);
    if (!ps->backward) {
        ps->fns.forward_rows(w->s, ld, w->pen, keep, T, ps->keep_scale, lse);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d, T, 1.0f, w->s, ld, v, H, 0.0f, ps->o + at, H);
        return;
    }
    const float *dout = ps->dout + at, *out = ps->out + at;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, d, 1.0f, dout, H, v, H, 0.0f, w->ds, ld);
    for (int i = 0; i < T; i++) {
        float dot = 0.0f;
        for (int e = 0; e < d; e++) dot += dout[(size_t)i * H + e] * out[(size_t)i * H + e];
        w->drow[i] = dot;
    }
    ps->fns.backward_rows(w->s, w->ds, ld, w->pen, keep, T, lse, w->drow, ps->scale, ps->keep_scale);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, d, T, 1.0f, w->s, ld, dout, H, 0.0f, ps->dv + at, H);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d, T, 1.0f, w->ds, ld, k, H, 0.0f, ps->dq + at, H);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, d, T, 1.0f, w->ds, ld, q, H, 0.0f, ps->dk + at, H);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    pass *ps = w->ps;
    for (int t; (t = atomic_fetch_add(&ps->next, 1)) < ps->B * ps->heads;) run_task(ps, w, t);
    return NULL;
}

/* Scratch for each worker, zeroed so that the padding columns, which no
 * GEMM writes, hold finite values. */
static int workers_alloc(pass *ps, worker *w, int n) {
    size_t T = (size_t)ps->T, ld = (size_t)ps->ld, mat = T * ld * sizeof(float);
    size_t bytes = 2 * mat + (ld + T) * sizeof(float) + T * T + ld;
    bytes = (bytes + 63) & ~(size_t)63;
    for (int i = 0; i < n; i++) {
        char *p = aligned_alloc(64, bytes);
        if (!p) {
            for (int j = 0; j < i; j++) free(w[j].block);
            return sb_fail(SB_ERR_MEMORY, "attention (host form): no host memory for %zu bytes of scratch", bytes);
        }
        memset(p, 0, bytes);
        w[i] = (worker){ps, (float *)p, (float *)(p + mat), (float *)(p + 2 * mat),
                        (float *)(p + 2 * mat) + ld, (unsigned char *)(p + 2 * mat + (ld + T) * sizeof(float)), p};
    }
    return 0;
}

/* Runs the pass's tasks on `threads` threads (this one included; the
 * context's BLAS thread count), each calling the BLAS single-threaded:
 * OpenBLAS's count is process-wide (0.3.21 has no per-thread setting) and
 * a GEMM of these sizes would take all of its threads, so it is 1 during
 * the pass and then set back to `threads`, not to the count read at the
 * start, which a pass of another context in another thread may have set to
 * 1 meanwhile (that would leave OpenBLAS on one thread for good). */
static int run_pass(pass *ps, int threads) {
    int tasks = ps->B * ps->heads;
#if SB_HAVE_OPENBLAS
    int blas = threads;
#endif
    /* OpenBLAS hands each concurrent call one of 2 x MAX_THREADS buffers
     * (128 in Debian's build) and aborts when they run out */
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads > tasks) threads = tasks;
    if (threads < 1) threads = 1;
    worker *w = malloc((size_t)threads * sizeof *w);
    pthread_t *tid = malloc((size_t)threads * sizeof *tid);
    if (!w || !tid) {
        free(w), free(tid);
        return sb_fail(SB_ERR_MEMORY, "attention (host form): no host memory for %d workers", threads);
    }
    int rc = workers_alloc(ps, w, threads);
    if (!rc) {
#if SB_HAVE_OPENBLAS
        openblas_set_num_threads(1);
#endif
        atomic_init(&ps->next, 0);
        int started = 1; /* a thread that fails to start leaves its tasks to the others */
        while (started < threads && pthread_create(&tid[started], NULL, worker_main, &w[started]) == 0) started++;
        worker_main(&w[0]);
        for (int i = 1; i < started; i++) pthread_join(tid[i], NULL);
#if SB_HAVE_OPENBLAS
        openblas_set_num_threads(blas);
#endif
        for (int i = 0; i < threads; i++) free(w[i].block);
    }
    free(w), free(tid);
    return rc;
}

// ---- mapping and the passes

typedef struct {
    const sb_tensor *t;
    cl_map_flags flags;
    float *p;
} mapping;

/* Maps m[0 .. n - 1], the last blocking (the queue is in order: every
 * earlier command has finished when it returns). */
static int map_all(sb_runtime *rt, mapping *m, int n) {
    for (int i = 0; i < n; i++) {
        cl_int err;
        m[i].p = clEnqueueMapBuffer(rt->queue, m[i].t->buf, i == n - 1 ? CL_TRUE : CL_FALSE, m[i].flags, 0,
                                    sb_tensor_bytes(m[i].t), 0, NULL, NULL, &err);
        if (err != CL_SUCCESS) {
            m[i].p = NULL;
            return sb_fail(SB_ERR_OPENCL, "clEnqueueMapBuffer(attention %s) failed: %s", m[i].t->name,
                           sb_cl_error_name(err));
        }
    }
    return 0;
}

static int unmap_all(sb_runtime *rt, mapping *m, int n, int rc) {
    for (int i = 0; i < n; i++) {
        if (!m[i].p) continue;
        cl_int err = clEnqueueUnmapMemObject(rt->queue, m[i].t->buf, m[i].p, 0, NULL, NULL);
        if (err != CL_SUCCESS && !rc)
            rc = sb_fail(SB_ERR_OPENCL, "clEnqueueUnmapMemObject(attention %s) failed: %s", m[i].t->name,
                         sb_cl_error_name(err));
    }
    return rc;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e9 * (double)ts.tv_sec + (double)ts.tv_nsec;
}

/* Maps the n tensors, runs the pass on them (m[i].p in ptrs' order) and
 * records its time as `name`. */
static int mapped_pass(sb_runtime *rt, const char *name, pass *ps, mapping *m, int n, float **ptrs[]) {
    int threads;
    SB_TRY(sb_attention_threads(rt, &threads));
    int rc = map_all(rt, m, n);
    if (!rc) {
        for (int i = 0; i < n; i++) *ptrs[i] = m[i].p;
        double t0 = now_ns();
        rc = run_pass(ps, threads);
        if (!rc && rt->profile) rc = sb_profile_record_ns(rt->profile, name, now_ns() - t0);
    }
    return unmap_all(rt, m, n, rc);
}

static pass pass_of(const sb_attention_buffers *bufs, int backward) {
    pass ps = {0};
    ps.B = bufs->B, ps.T = bufs->T, ps.H = bufs->H, ps.heads = bufs->heads, ps.d = bufs->H / bufs->heads;
    ps.ld = (bufs->T + 15) / 16 * 16, ps.backward = backward;
    ps.scale = 1.0f / sqrtf((float)ps.d), ps.keep_scale = 1.0f / (1.0f - bufs->p);
    ps.threshold = bufs->p > 0.0f ? sb_dropout_threshold(bufs->p) : 0;
    ps.key = bufs->key;
    ps.KT = bufs->key.full_seq ? (int)bufs->key.full_seq : bufs->T;
    ps.fns = isa_fns[widest_isa()];
    return ps;
}

int sb_attention_host_forward(sb_runtime *rt, const sb_attention_buffers *bufs) {
    pass ps = pass_of(bufs, 0);
    const cl_map_flags R = CL_MAP_READ, W = CL_MAP_WRITE_INVALIDATE_REGION;
    mapping m[] = {{&bufs->q, R, NULL},   {&bufs->k, R, NULL},   {&bufs->v, R, NULL},
                   {&bufs->mask, R, NULL}, {&bufs->out, W, NULL}, {&bufs->lse, W, NULL}};
    float **ptrs[] = {&ps.q, &ps.k, &ps.v, &ps.mask, &ps.o, &ps.lse};
    return mapped_pass(rt, "attention_host_forward", &ps, m, 6, ptrs);
}

int sb_attention_host_backward(sb_runtime *rt, const sb_tensor *dout, const sb_tensor *dq, const sb_tensor *dk,
                               const sb_tensor *dv, const sb_attention_buffers *bufs) {
    pass ps = pass_of(bufs, 1);
    const cl_map_flags R = CL_MAP_READ, W = CL_MAP_WRITE_INVALIDATE_REGION;
    mapping m[] = {{&bufs->q, R, NULL}, {&bufs->k, R, NULL},   {&bufs->v, R, NULL}, {&bufs->mask, R, NULL},
                   {&bufs->out, R, NULL}, {&bufs->lse, R, NULL}, {dout, R, NULL},     {dq, W, NULL},
                   {dk, W, NULL},       {dv, W, NULL}};
    float **ptrs[] = {&ps.q, &ps.k, &ps.v, &ps.mask, &ps.out, &ps.lse, &ps.dout, &ps.dq, &ps.dk, &ps.dv};
    return mapped_pass(rt, "attention_host_backward", &ps, m, 10, ptrs);
}

#else

int sb_attention_host_forward(sb_runtime *rt, const sb_attention_buffers *bufs) {
    (void)rt, (void)bufs;
    return sb_fail(SB_ERR_INVALID, "attention: the host form needs a host BLAS, which this build has not");
}

int sb_attention_host_backward(sb_runtime *rt, const sb_tensor *dout, const sb_tensor *dq, const sb_tensor *dk,
                               const sb_tensor *dv, const sb_attention_buffers *bufs) {
    (void)dout, (void)dq, (void)dk, (void)dv;
    return sb_attention_host_forward(rt, bufs);
}

#endif
