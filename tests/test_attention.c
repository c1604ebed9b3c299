/* Multi-head attention core, each form (unfused, the fused rows and tiles
 * forms, the chunked form at several chunk sizes, whatever the device, and
 * the host form where the build has a host BLAS): forward vs a double
 * reference of the whole attention, the
 * reference backward vs finite differences, the kernel backward vs the
 * reference; with dropout, against the reference under the host Philox
 * mask (also keyed as a batch trimmed from more tokens), and the chunked
 * form's dropped probabilities against the unfused form's (the same
 * zeros); the host form's results the same bit for bit on 1 and 3
 * threads, and its vector Philox keep mask (each instruction set the CPU
 * runs) the same as sb_dropout_keep; bad shapes and unplanned buffers; the
 * fused and host forms plan nothing of T x T, the chunked form only its
 * chunk's scratch;
 * the form chosen per device and by SKETCHBERT_ATTENTION, the chunk by
 * SKETCHBERT_ATTENTION_CHUNK. Lengths differ per batch item (full, 1, and
 * one between), and T is odd and no multiple of the fused kernels' blocks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/attention.h"
#include "ops/attention_host.h"
#include "ops/gemm.h"
#include "test_util.h"

#if SB_HAVE_OPENBLAS
#include <cblas.h> /* openblas_get_num_threads */
#endif

// ---- double-precision reference; q, k, v, out are (B, T, H), mask (B, T),
// keep (B*heads, T, T) or NULL (no dropout)

typedef struct {
    int B, T, H, heads;
    const double *mask;
    const unsigned char *keep;
    double keep_scale; /* 1 / (1 - p) */
} dims;

#define AT(x, b, t, c) (x)[((size_t)(b) * d->T + (t)) * d->H + (c)]

/* out = attention(q, k, v); with dout, also the gradients dq, dk, dv. */
static void attention_ref(const dims *d, const double *q, const double *k, const double *v, double *out,
                          const double *dout, double *dq, double *dk, double *dv) {
    int T = d->T, dh = d->H / d->heads;
    double scale = 1.0 / sqrt(dh);
    double *P = malloc((size_t)T * T * sizeof *P), *Pd = malloc((size_t)T * T * sizeof *Pd);
    double *dP = malloc((size_t)T * T * sizeof *dP);
    if (dout)
        for (size_t i = 0; i < (size_t)d->B * T * d->H; i++) dq[i] = dk[i] = dv[i] = 0;
    for (int b = 0; b < d->B; b++)
        for (int h = 0; h < d->heads; h++) {
            const unsigned char *keep = d->keep ? d->keep + ((size_t)b * d->heads + h) * T * T : NULL;
            int c0 = h * dh;
            for (int i = 0; i < T; i++) {
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    double s = 0;
                    for (int e = 0; e < dh; e++) s += AT(q, b, i, c0 + e) * AT(k, b, j, c0 + e);
                    P[i * T + j] = scale * s + (1 - d->mask[b * T + j]) * -10000.0;
                    mx = fmax(mx, P[i * T + j]);
                }
                for (int j = 0; j < T; j++) sum += (P[i * T + j] = exp(P[i * T + j] - mx));
                for (int j = 0; j < T; j++) {
                    P[i * T + j] /= sum;
                    Pd[i * T + j] = keep ? (keep[i * T + j] ? P[i * T + j] * d->keep_scale : 0) : P[i * T + j];
                }
                for (int e = 0; e < dh; e++) {
                    double s = 0;
                    for (int j = 0; j < T; j++) s += Pd[i * T + j] * AT(v, b, j, c0 + e);
                    AT(out, b, i, c0 + e) = s;
                }
            }
            if (!dout) continue;
            for (int i = 0; i < T; i++) {
                double dot = 0;
                for (int j = 0; j < T; j++) {
                    double s = 0; /* d Pd[i, j] */
                    for (int e = 0; e < dh; e++) {
                        s += AT(dout, b, i, c0 + e) * AT(v, b, j, c0 + e);
                        AT(dv, b, j, c0 + e) += Pd[i * T + j] * AT(dout, b, i, c0 + e);
                    }
                    dP[i * T + j] = keep ? (keep[i * T + j] ? s * d->keep_scale : 0) : s;
                    dot += dP[i * T + j] * P[i * T + j];
                }
                for (int j = 0; j < T; j++) { /* d scores, then into dq, dk */
                    double ds = scale * P[i * T + j] * (dP[i * T + j] - dot);
                    for (int e = 0; e < dh; e++) {
                        AT(dq, b, i, c0 + e) += ds * AT(k, b, j, c0 + e);
                        AT(dk, b, j, c0 + e) += ds * AT(q, b, i, c0 + e);
                    }
                }
            }
        }
    free(P), free(Pd), free(dP);
}

typedef struct { const dims *d; const double *dout; double *out; size_t n; } loss_ctx;

/* L = sum dout * attention(q, k, v), x = [q, k, v]: its gradient is the
 * backward of dout. */
static double loss(const double *x, void *vctx) {
    const loss_ctx *c = vctx;
    attention_ref(c->d, x, x + c->n, x + 2 * c->n, c->out, NULL, NULL, NULL, NULL);
    double l = 0;
    for (size_t i = 0; i < c->n; i++) l += c->dout[i] * c->out[i];
    return l;
}

// ---- tests

/* Oclgrind 21.10's uninitialised-value check misreads two kinds of memory:
 * buffers filled by clEnqueueFillBuffer (as t_output and t_poison do), and
 * sub-buffers of an arena written by the host. Values that kernels store
 * there later still read back as uninitialised, so every GEMM, softmax and
 * permute after the first kernel would be reported. Hence the planned
 * tensors get buffers of their own here, and are poisoned by host writes. */
static int allocate_each(sb_runtime *rt, sb_plan *plan) {
    for (int i = 0; i < plan->n; i++) {
        sb_tensor *t = plan->tensors[i], described = *t;
        SB_TRY(sb_tensor_alloc(rt, t, described.name, described.dtype, described.ndim, described.shape));
    }
    return 0;
}

static void release_each(sb_runtime *rt, sb_plan *plan) {
    for (int i = 0; i < plan->n; i++) sb_tensor_release(rt, plan->tensors[i]);
    sb_plan_release(rt, plan);
}

/* NaN in every element, written from the host. */
static void poison(sb_runtime *rt, const sb_tensor *t) {
    float *h = malloc(sb_tensor_bytes(t));
    for (size_t i = 0; i < t->numel; i++) h[i] = NAN;
    if (sb_tensor_write(rt, t, h)) t_check_true(sb_last_error(), 0);
    free(h);
}

typedef struct {
    sb_tensor q, k, v, mask, dout, out, dq, dk, dv;
} device_io;

/* Runs forward and backward on the device with dropout p, key and checks
 * them against the reference (which uses keep, NULL when p = 0). */
static void check_against_reference(sb_runtime *rt, const char *what, const dims *d, const device_io *io,
                                    sb_plan *plan, sb_attention_buffers *bufs, float p, sb_rng_key key,
                                    const double *x, const double *dout) {
    size_t n = (size_t)d->B * d->T * d->H;
    double *out_ref = malloc(n * sizeof *out_ref), *g_ref = malloc(3 * n * sizeof *g_ref);
    double *work = malloc(n * sizeof *work), *xc = malloc(3 * n * sizeof *xc);
    for (size_t i = 0; i < 3 * n; i++) xc[i] = x[i];
    attention_ref(d, x, x + n, x + 2 * n, out_ref, dout, g_ref, g_ref + n, g_ref + 2 * n);
    char msg[160];
    loss_ctx lc = {d, dout, work, n};
    snprintf(msg, sizeof msg, "%s: reference backward vs finite differences", what);
    t_check(msg, t_fd_grad_err(loss, &lc, xc, 3 * n, g_ref, 300), 1e-6);

    for (int i = 0; i < plan->n; i++) poison(rt, plan->tensors[i]);
    const sb_tensor *outs[4] = {&io->out, &io->dq, &io->dk, &io->dv};
    for (int i = 0; i < 4; i++) poison(rt, outs[i]);
    if (sb_attention_forward(rt, &io->q, &io->k, &io->v, &io->mask, &io->out, p, key, bufs) ||
        sb_attention_backward(rt, &io->dout, &io->dq, &io->dk, &io->dv, bufs)) {
        t_check_true(sb_last_error(), 0);
        free(out_ref), free(g_ref), free(work), free(xc);
        return;
    }
    static const char *names[4] = {"forward out", "backward dq", "backward dk", "backward dv"};
    for (int i = 0; i < 4; i++) {
        float *got = t_download(rt, outs[i]);
        snprintf(msg, sizeof msg, "%s: %s vs reference", what, names[i]);
        t_check(msg, t_rel_err(got, i ? g_ref + (size_t)(i - 1) * n : out_ref, n), 1e-5);
        free(got);
    }
    free(out_ref), free(g_ref), free(work), free(xc);
}

/* Every test of one form on the given inputs. */
static void check_form(sb_runtime *rt, sb_attention_impl impl, int chunk, const dims *d, const device_io *io,
                       const double *xd, const double *doutd) {
    char name[48];
    if (impl == SB_ATTENTION_CHUNKED) snprintf(name, sizeof name, "chunked by %d", chunk);
    else snprintf(name, sizeof name, "%s", sb_attention_impl_name(impl));
    int B = d->B, T = d->T, H = d->H, heads = d->heads;
    size_t n = (size_t)B * T * H, n_probs = (size_t)B * heads * T * T;
    char what[160];
    sb_plan plan;
    sb_plan_init(&plan);
    sb_attention_buffers bufs;
    if (sb_attention_plan(&plan, &bufs, "attn", B, T, H, heads, impl, chunk, 1) || allocate_each(rt, &plan)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    if (impl == SB_ATTENTION_ROWS || impl == SB_ATTENTION_TILES || impl == SB_ATTENTION_HOST) {
        /* only per-row statistics, nothing T x T (the host form: only lse) */
        int rows_only = plan.n == (impl == SB_ATTENTION_HOST ? 1 : 2);
        for (int i = 0; i < plan.n; i++) rows_only &= plan.tensors[i]->numel == (size_t)B * heads * T;
        snprintf(what, sizeof what, "%s: plans only (B*heads, T) row statistics", name);
        t_check_true(what, rows_only);
    }
    if (impl == SB_ATTENTION_CHUNKED) { /* row statistics and two (chunk, T, T) scratch matrices */
        size_t pairs = (size_t)(chunk < B ? chunk : B);
        int ok = plan.n == 3 && plan.tensors[0]->numel == (size_t)B * heads * T;
        for (int i = 1; i < plan.n; i++) ok &= plan.tensors[i]->numel == pairs * T * T;
        snprintf(what, sizeof what, "%s: plans row statistics and the chunk's scratch only", name);
        t_check_true(what, ok);
    }
    /* an element offset (a data-parallel rank's) that splits Philox blocks */
    sb_rng_key key = {.seed = 42, .stream = 7, .offset = 4102};
    snprintf(what, sizeof what, "%s, p = 0", name);
    check_against_reference(rt, what, d, io, &plan, &bufs, 0.0f, key, xd, doutd);

    /* dropout: the reference uses the host Philox mask over the flat probs */
    const float p = 0.3f;
    unsigned char *keep = malloc(n_probs);
    uint32_t threshold = sb_dropout_threshold(p);
    for (size_t i = 0; i < n_probs; i++) keep[i] = (unsigned char)sb_dropout_keep(key, threshold, i);
    dims dd = *d;
    dd.keep = keep, dd.keep_scale = 1.0 / (1.0 - p);
    snprintf(what, sizeof what, "%s, p = 0.3", name);
    check_against_reference(rt, what, &dd, io, &plan, &bufs, p, key, xd, doutd);
    /* a batch trimmed to T of KT tokens: element (i, j) of (b, h) draws the
     * mask of element ((b * heads + h) * KT + i) * KT + j (KT moves only
     * Philox counters, no address: not rerun under Oclgrind) */
    sb_rng_key trimmed = key;
    size_t KT = (size_t)T + 5;
    trimmed.seq = (uint32_t)T, trimmed.full_seq = (uint32_t)KT;
    for (size_t i = 0; i < n_probs; i++)
        keep[i] = (unsigned char)sb_dropout_keep(key, threshold, (i / T / T * KT + i / T % T) * KT + i % T);
    snprintf(what, sizeof what, "%s, p = 0.3, trimmed from %zu tokens", name, KT);
    if (impl == SB_ATTENTION_UNFUSED)
        t_check_error(what, sb_attention_forward(rt, &io->q, &io->k, &io->v, &io->mask, &io->out, p, trimmed, &bufs),
                      "cannot drop");
    else if (!t_small)
        check_against_reference(rt, what, &dd, io, &plan, &bufs, p, trimmed, xd, doutd);
    free(keep);

    /* inference buffers: p > 0 and the backward refused (but by the host
     * form, whose training needs no more), p = 0 gives the training
     * buffers' forward */
    sb_plan infer_plan;
    sb_plan_init(&infer_plan);
    sb_attention_buffers infer;
    if (sb_attention_plan(&infer_plan, &infer, "infer", B, T, H, heads, impl, chunk, 0) ||
        allocate_each(rt, &infer_plan))
        t_check_true(sb_last_error(), 0);
    if (impl != SB_ATTENTION_HOST) {
        snprintf(what, sizeof what, "%s: dropout without training buffers rejected", name);
        t_check_error(what, sb_attention_forward(rt, &io->q, &io->k, &io->v, &io->mask, &io->out, p, key, &infer),
                      "training = 1");
        snprintf(what, sizeof what, "%s: backward without training buffers rejected", name);
        t_check_error(what, sb_attention_backward(rt, &io->dout, &io->dq, &io->dk, &io->dv, &infer),
                      "training = 1");
    }
    int shape[3] = {B, T, H};
    sb_tensor out_infer = t_output(rt, "out_infer", SB_F32, 3, shape);
    /* host-written, so Oclgrind knows them initialised (the GEMMs read C) */
    for (int i = 0; i < infer_plan.n; i++) poison(rt, infer_plan.tensors[i]);
    poison(rt, &out_infer);
    if (sb_attention_forward(rt, &io->q, &io->k, &io->v, &io->mask, &io->out, 0.0f, key, &bufs) ||
        sb_attention_forward(rt, &io->q, &io->k, &io->v, &io->mask, &out_infer, 0.0f, key, &infer))
        t_check_true(sb_last_error(), 0);
    float *o_train = t_download(rt, &io->out), *o_infer = t_download(rt, &out_infer);
    snprintf(what, sizeof what, "%s: inference buffers give the training buffers' output", name);
    t_check_true(what, memcmp(o_train, o_infer, n * sizeof *o_train) == 0);
    free(o_train), free(o_infer);
    release_each(rt, &infer_plan);
    release_each(rt, &plan);
}

/* The chunked form drops the same probabilities as the unfused form: with
 * all sketches in one chunk its scratch holds the dropped probabilities of
 * the last head after the forward, zero exactly where the unfused form's
 * are. */
static void check_same_mask(sb_runtime *rt, const dims *d, const device_io *io) {
    int B = d->B, T = d->T, H = d->H, heads = d->heads;
    size_t TT = (size_t)T * T, n = (size_t)B * TT;
    sb_plan plan;
    sb_plan_init(&plan);
    sb_attention_buffers unfused, chunked;
    sb_rng_key key = {.seed = 1234, .stream = 99, .offset = 77}; /* an offset inside a Philox block */
    int shape[3] = {B, T, H};
    sb_tensor out2 = t_output(rt, "out2", SB_F32, 3, shape);
    if (sb_attention_plan(&plan, &unfused, "unfused", B, T, H, heads, SB_ATTENTION_UNFUSED, 0, 1) ||
        sb_attention_plan(&plan, &chunked, "chunked", B, T, H, heads, SB_ATTENTION_CHUNKED, B, 1) ||
        allocate_each(rt, &plan)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    for (int i = 0; i < plan.n; i++) poison(rt, plan.tensors[i]);
    poison(rt, &out2);
    if (sb_attention_forward(rt, &io->q, &io->k, &io->v, &io->mask, &io->out, 0.3f, key, &unfused) ||
        sb_attention_forward(rt, &io->q, &io->k, &io->v, &io->mask, &out2, 0.3f, key, &chunked)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    float *all = t_download(rt, &unfused.probs_dropped), *got = t_download(rt, &chunked.scores);
    double *want = malloc(n * sizeof *want);
    size_t same_zeros = 0, zeros = 0;
    for (int b = 0; b < B; b++)
        for (size_t e = 0; e < TT; e++) {
            float a = all[((size_t)b * heads + heads - 1) * TT + e], c = got[b * TT + e];
            same_zeros += (a == 0.0f) == (c == 0.0f), zeros += a == 0.0f;
            want[b * TT + e] = a;
        }
    t_check_true("chunked vs unfused: dropped probabilities zero at the same elements", same_zeros == n);
    t_check_true("chunked vs unfused: dropout dropped some probabilities", zeros > n / 10);
    t_check("chunked vs unfused: dropped probabilities", t_rel_err(got, want, n), 1e-5);
    free(all), free(got), free(want);
    release_each(rt, &plan);
}

/* The host form on SKETCHBERT_BLAS_THREADS = 1 and 3 threads, with
 * dropout: the same outputs bit for bit (each task runs the same
 * arithmetic on whichever thread). */
static void check_host_threads(sb_runtime *rt, const dims *d, const device_io *io) {
    sb_plan plan;
    sb_plan_init(&plan);
    sb_attention_buffers bufs;
    if (sb_attention_plan(&plan, &bufs, "host", d->B, d->T, d->H, d->heads, SB_ATTENTION_HOST, 0, 1) ||
        allocate_each(rt, &plan)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    const char *old = getenv("SKETCHBERT_BLAS_THREADS");
    char *saved = old ? strdup(old) : NULL;
    const sb_tensor *outs[4] = {&io->out, &io->dq, &io->dk, &io->dv};
    float *got[2][4] = {{NULL}};
    sb_rng_key key = {.seed = 5, .stream = 6, .offset = 3};
    for (int run = 0; run < 2; run++) {
        setenv("SKETCHBERT_BLAS_THREADS", run ? "3" : "1", 1);
        for (int i = 0; i < 4; i++) poison(rt, outs[i]);
        if (sb_attention_forward(rt, &io->q, &io->k, &io->v, &io->mask, &io->out, 0.3f, key, &bufs) ||
            sb_attention_backward(rt, &io->dout, &io->dq, &io->dk, &io->dv, &bufs))
            t_check_true(sb_last_error(), 0);
        for (int i = 0; i < 4; i++) got[run][i] = t_download(rt, outs[i]);
#if SB_HAVE_OPENBLAS
        /* the pass sets OpenBLAS to 1 thread and back to the context's count */
        t_check_true(run ? "host: OpenBLAS back on 3 threads after the passes"
                         : "host: OpenBLAS back on 1 thread after the passes",
                     openblas_get_num_threads() == (run ? 3 : 1));
#endif
    }
    if (saved) setenv("SKETCHBERT_BLAS_THREADS", saved, 1);
    else unsetenv("SKETCHBERT_BLAS_THREADS");
    int same = 1;
    for (int i = 0; i < 4; i++) {
        same &= memcmp(got[0][i], got[1][i], outs[i]->numel * sizeof(float)) == 0;
        free(got[0][i]), free(got[1][i]);
    }
    t_check_true("host: out, dq, dk, dv the same bit for bit on 1 and 3 threads", same);
    free(saved);
    release_each(rt, &plan);
}

/* The host form's keep mask, from each instruction set's Philox, vs
 * sb_dropout_keep: starts inside a group of 64 and inside a Philox block,
 * lengths shorter than a group, odd and spanning many, at an element
 * offset, and over 2^32 (the counter's high word). */
static void check_host_keep(void) {
    const uint64_t firsts[] = {0, 3, 61, 64, 1000, 4294967290u, 12345678901ull};
    const size_t lengths[] = {1, 5, 64, 67, 1009};
    sb_rng_key key = {.seed = 0x0123456789abcdefull, .stream = 0xfedcba9876543210ull, .offset = 37};
    uint32_t threshold = sb_dropout_threshold(0.4f);
    unsigned char got[1009 + 1];
    for (int isa = 0; isa < SB_HOST_ISA_COUNT; isa++) {
        if (!sb_host_isa_supported((sb_host_isa)isa)) {
            printf("# host keep mask: %s not supported by this CPU, not checked\n", sb_host_isa_name((sb_host_isa)isa));
            continue;
        }
        size_t bad = 0, total = 0, kept = 0;
        for (size_t f = 0; f < sizeof firsts / sizeof *firsts; f++)
            for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++) {
                got[lengths[l]] = 0xA5; /* the byte after must stay */
                sb_attention_host_keep((sb_host_isa)isa, got, key, threshold, firsts[f], lengths[l]);
                bad += got[lengths[l]] != 0xA5;
                for (size_t i = 0; i < lengths[l]; i++, total++) {
                    int want = sb_dropout_keep(key, threshold, firsts[f] + i);
                    bad += got[i] != want, kept += want;
                }
            }
        char what[96];
        snprintf(what, sizeof what, "host keep mask (%s) = sb_dropout_keep at %zu elements",
                 sb_host_isa_name((sb_host_isa)isa), total);
        t_check_true(what, bad == 0 && kept > total / 2 && kept < total);
    }
}

/* The form follows the device class unless SKETCHBERT_ATTENTION names one. */
static void check_choice(sb_runtime *rt) {
    sb_attention_impl impl;
    unsetenv("SKETCHBERT_ATTENTION");
    int rc = sb_attention_choose(rt, &impl);
    sb_gemm_path gemm;
    rc = rc ? rc : sb_gemm_path_for(&rt->info, NULL, &gemm);
    sb_attention_impl cpu = !rc && gemm == SB_GEMM_HOST ? SB_ATTENTION_HOST : SB_ATTENTION_ROWS;
    t_check_true("default form: tiles on GPUs; on CPUs host with host BLAS GEMMs, else rows",
                 !rc && impl == (rt->info.device_class == SB_DEVICE_GPU ? SB_ATTENTION_TILES : cpu));
    const sb_attention_impl all[5] = {SB_ATTENTION_UNFUSED, SB_ATTENTION_ROWS, SB_ATTENTION_TILES,
                                      SB_ATTENTION_CHUNKED, SB_ATTENTION_HOST};
    int ok = 1;
    for (int i = 0; i < (sb_gemm_host_blas() ? 5 : 4); i++) {
        setenv("SKETCHBERT_ATTENTION", sb_attention_impl_name(all[i]), 1);
        ok &= sb_attention_choose(rt, &impl) == 0 && impl == all[i];
    }
    t_check_true("SKETCHBERT_ATTENTION picks each form", ok);
    if (!sb_gemm_host_blas()) {
        setenv("SKETCHBERT_ATTENTION", "host", 1);
        t_check_error("SKETCHBERT_ATTENTION=host without a host BLAS rejected", sb_attention_choose(rt, &impl),
                      "no host BLAS");
    }
    setenv("SKETCHBERT_ATTENTION", "flash", 1);
    t_check_error("SKETCHBERT_ATTENTION=flash rejected", sb_attention_choose(rt, &impl), "expected unfused, rows,");
    unsetenv("SKETCHBERT_ATTENTION");

    /* the chunk: sketches within the cache budget, or the count
     * SKETCHBERT_ATTENTION_CHUNK gives */
    int chunk = 0, small = 0;
    unsetenv("SKETCHBERT_ATTENTION_CHUNK");
    t_check_true("default chunk at T = 250: positive", sb_attention_chunk(rt, 250, &chunk) == 0 && chunk > 0);
    t_check_true("default chunk at T = 4000: at least 1, at most that at T = 250",
                 sb_attention_chunk(rt, 4000, &small) == 0 && small >= 1 && small <= chunk);
    setenv("SKETCHBERT_ATTENTION_CHUNK", "7", 1);
    t_check_true("SKETCHBERT_ATTENTION_CHUNK=7 gives 7", sb_attention_chunk(rt, 250, &chunk) == 0 && chunk == 7);
    setenv("SKETCHBERT_ATTENTION_CHUNK", "0", 1);
    t_check_error("SKETCHBERT_ATTENTION_CHUNK=0 rejected", sb_attention_chunk(rt, 250, &chunk),
                  "expected a positive count");
    unsetenv("SKETCHBERT_ATTENTION_CHUNK");
}

/* Bad shapes and buffers. */
static void check_rejected(sb_runtime *rt, const dims *d, const device_io *io_in) {
    device_io io = *io_in;
    int B = d->B, T = d->T, H = d->H, heads = d->heads;
    /* bad shapes and buffers */
    sb_plan plan, bad_plan;
    sb_plan_init(&plan), sb_plan_init(&bad_plan);
    sb_attention_buffers bufs, bad_bufs;
    if (sb_attention_plan(&plan, &bufs, "attn", B, T, H, heads, SB_ATTENTION_ROWS, 0, 1) || allocate_each(rt, &plan))
        t_check_true(sb_last_error(), 0);
    sb_rng_key key = {.seed = 42, .stream = 7, .offset = 0};
    t_check_error("H not divisible by heads rejected",
                  sb_attention_plan(&bad_plan, &bad_bufs, "attn", B, T, H + 1, heads, SB_ATTENTION_ROWS, 0, 1),
                  "not divisible by");
    t_check_error("backward before any forward rejected",
                  sb_attention_backward(rt, &io.dout, &io.dq, &io.dk, &io.dv, &bufs), "no forward ran");
    int long_shape[3] = {B, T + 1, H}, long_mask[2] = {B, T + 1};
    sb_tensor tlong = t_output(rt, "q_long", SB_F32, 3, long_shape);
    sb_tensor tmlong = t_output(rt, "mask_long", SB_F32, 2, long_mask);
    t_check_error("q of the wrong shape rejected",
                  sb_attention_forward(rt, &tlong, &io.k, &io.v, &io.mask, &io.out, 0.0f, key, &bufs),
                  "expected shape");
    t_check_error("mask of the wrong shape rejected",
                  sb_attention_forward(rt, &io.q, &io.k, &io.v, &tmlong, &io.out, 0.0f, key, &bufs),
                  "expected shape");
    if (sb_attention_forward(rt, &io.q, &io.k, &io.v, &io.mask, &io.out, 0.0f, key, &bufs))
        t_check_true(sb_last_error(), 0);
    t_check_error("dq of the wrong shape rejected",
                  sb_attention_backward(rt, &io.dout, &tlong, &io.dk, &io.dv, &bufs), "expected shape");
    t_check_error("p = 1 rejected",
                  sb_attention_forward(rt, &io.q, &io.k, &io.v, &io.mask, &io.out, 1.0f, key, &bufs),
                  "outside [0, 1)");
    sb_plan_release(rt, &bad_plan);
    release_each(rt, &plan);
}

/* Inputs of B = 3 sketches of lengths T, 1 and one between; every form on
 * them. With `bad`, also the rejected shapes and calls. */
static void check_shape(sb_runtime *rt, int T, int H, int heads, int bad) {
    int B = 3;
    size_t n = (size_t)B * T * H;
    printf("# B=%d T=%d H=%d heads=%d\n", B, T, H, heads);
    float *x = malloc(3 * n * sizeof *x), *dout = malloc(n * sizeof *dout);
    float *mask = malloc((size_t)B * T * sizeof *mask);
    t_uniform(x, 3 * n, -1.0f, 1.0f);
    t_uniform(dout, n, -1.0f, 1.0f);
    const int lengths[3] = {T, 1, T - T / 3};
    for (int b = 0; b < B; b++)
        for (int j = 0; j < T; j++) mask[b * T + j] = j < lengths[b] ? 1.0f : 0.0f;
    double *xd = malloc(3 * n * sizeof *xd), *doutd = malloc(n * sizeof *doutd);
    double *maskd = malloc((size_t)B * T * sizeof *maskd);
    for (size_t i = 0; i < 3 * n; i++) xd[i] = x[i];
    for (size_t i = 0; i < n; i++) doutd[i] = dout[i];
    for (int i = 0; i < B * T; i++) maskd[i] = mask[i];

    int shape[3] = {B, T, H}, mshape[2] = {B, T};
    device_io io = {
        .q = t_upload(rt, "q", SB_F32, 3, shape, x),
        .k = t_upload(rt, "k", SB_F32, 3, shape, x + n),
        .v = t_upload(rt, "v", SB_F32, 3, shape, x + 2 * n),
        .mask = t_upload(rt, "mask", SB_F32, 2, mshape, mask),
        .dout = t_upload(rt, "dout", SB_F32, 3, shape, dout),
        .out = t_output(rt, "out", SB_F32, 3, shape),
        .dq = t_output(rt, "dq", SB_F32, 3, shape),
        .dk = t_output(rt, "dk", SB_F32, 3, shape),
        .dv = t_output(rt, "dv", SB_F32, 3, shape),
    };
    dims d = {B, T, H, heads, maskd, NULL, 1.0};
    check_form(rt, SB_ATTENTION_UNFUSED, 0, &d, &io, xd, doutd);
    check_form(rt, SB_ATTENTION_ROWS, 0, &d, &io, xd, doutd);
    check_form(rt, SB_ATTENTION_TILES, 0, &d, &io, xd, doutd);
    /* one sketch at a time, a chunk that does not divide B, and all
     * sketches (asked for more) in one chunk per head */
    const int chunks[3] = {1, 2, B + 1};
    for (int i = 0; i < 3; i++) check_form(rt, SB_ATTENTION_CHUNKED, chunks[i], &d, &io, xd, doutd);
    check_same_mask(rt, &d, &io);
    if (sb_gemm_host_blas()) {
        check_form(rt, SB_ATTENTION_HOST, 0, &d, &io, xd, doutd);
        check_host_threads(rt, &d, &io);
    } else {
        printf("# no host BLAS in this build: the host form is not tested\n");
    }
    if (bad) check_rejected(rt, &d, &io);
    free(x), free(dout), free(mask), free(xd), free(doutd), free(maskd);
}

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_attention");
    /* head sizes 8 and 64: the fused kernels' float4 and float16 rows, and
     * 5: scalar rows, with an odd T and odd heads (the host form's tasks); at
     * small sizes (under Oclgrind) 3, 4 and 16: scalar, float4 and float16
     * rows, and T = 17 over two blocks of keys (and a float16 run of the
     * chunked row kernels) */
    check_shape(rt, t_small ? 5 : 37, t_small ? 6 : 24, t_small ? 2 : 3, 1);
    check_shape(rt, t_small ? 17 : 21, t_small ? 8 : 128, 2, 0);
    if (t_small) check_shape(rt, 5, 32, 2, 0);
    else check_shape(rt, 19, 15, 3, 0);
    check_host_keep();
    check_choice(rt);
    return t_finish(rt);
}
