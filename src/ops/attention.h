/* Multi-head self-attention core (BERT), forward and backward, from the
 * outputs of the Q, K, V linears to the merged context (the linears are not
 * part of it). B batch, T tokens, H hidden = heads * d.
 *   q_h, k_h, v_h = split heads of q, k, v          (B, heads, T, d)
 *   probs = softmax(q_h k_h^T / sqrt(d) + (1 - mask) * -10000)
 *   probs_dropped = dropout(probs, p, key)          (B*heads, T, T)
 *   out = merge heads of probs_dropped v_h          (B, T, H)
 * Four forms (sb_attention_impl), the same results up to rounding and the
 * same dropout mask bit for bit:
 *   unfused: head permutes, GEMMs (sb_gemm_batched, over B*heads),
 *     softmax and dropout kernels over the (B*heads, T, T) probabilities;
 *   rows, tiles: one fused kernel for the forward and two for the backward
 *     (flash-attention style, cl/attention.cl), keeping only the log-sum-exp
 *     of each row (B*heads*T floats); rows reads keys straight from global
 *     memory (CPU devices), tiles stages them in local memory (GPUs);
 *   chunked (CPU devices): one head of a few sketches at a time, so
 *     that the chunk's T x T scores stay in cache; per chunk the GEMMs
 *     (sb_gemm_batched, one strided batch each, on the heads in place) and
 *     one kernel for the mask, softmax and dropout over the chunk's rows,
 *     which keeps the log-sum-exp of each row like the fused forms; the
 *     backward recomputes the chunk's scores;
 *   host (CPU devices with a host BLAS, src/ops/attention_host.c): host
 *     threads on the mapped buffers, one (sketch, head) at a time each, so
 *     that its T x T scores stay in the core's cache: single-threaded BLAS
 *     GEMMs and the mask, softmax and dropout in C; the backward recomputes
 *     the scores from the log-sum-exp of each row like the fused forms.
 * All intermediate tensors live in caller-planned buffers, nothing is
 * allocated per call.
 * kernels: cl/attention.cl (+ cl/softmax.cl, cl/dropout.cl, cl/philox.cl);
 * host form: src/ops/attention_host.c;
 * test: tests/test_attention.c
 * defines: sb_attention_impl, sb_attention_choose, sb_attention_impl_name,
 *          sb_attention_chunk, sb_attention_threads, sb_attention_buffers,
 *          sb_attention_plan,
 *          sb_attention_forward,
 *          sb_attention_backward */
#ifndef SB_OPS_ATTENTION_H
#define SB_OPS_ATTENTION_H

#include "ops/philox.h"
#include "tensor/tensor.h"

typedef enum {
    SB_ATTENTION_UNFUSED,
    SB_ATTENTION_ROWS,
    SB_ATTENTION_TILES,
    SB_ATTENTION_CHUNKED,
    SB_ATTENTION_HOST
} sb_attention_impl;

/* The form for rt's device: SKETCHBERT_ATTENTION=unfused|rows|tiles|chunked|host
 * when set, else tiles on GPU-class devices, and on CPU-class ones host
 * when the GEMMs go to the host BLAS, rows when they go to CLBlast
 * (docs/performance.md has the measurements). Any other value is an error,
 * and so is host in a build without a host BLAS. */
int sb_attention_choose(const sb_runtime *rt, sb_attention_impl *out);
const char *sb_attention_impl_name(sb_attention_impl impl);

/* The chunked form's sketches per chunk (a chunk is one head of that many
 * sketches) for T tokens: SKETCHBERT_ATTENTION_CHUNK when set (a positive
 * count), else as many as keep the chunk's two T x T scratch matrices
 * each within a quarter of the device's global memory cache, at least 1. */
int sb_attention_chunk(const sb_runtime *rt, int T, int *out);

/* The host form's threads: as many as the host BLAS gets (sb_gemm_use:
 * SKETCHBERT_BLAS_THREADS, else OPENBLAS_NUM_THREADS, else the CPU
 * device's compute units, which follow POCL_MAX_PTHREAD_COUNT). */
int sb_attention_threads(const sb_runtime *rt, int *out);

typedef struct sb_attention_buffers {
    int B, T, H, heads;        /* set by sb_attention_plan */
    sb_attention_impl impl;    /* set by sb_attention_plan */
    float p;                   /* the forward's dropout, reused by the backward */
    sb_rng_key key;
    sb_tensor q, k, v, mask, out; /* the forward's tensors, read by the backward */
    int chunk;                 /* chunked form: sketches per chunk (of one head) */
    /* fused, chunked and host forms: */
    sb_tensor lse;             /* (B*heads, T) log-sum-exp of each score row, for the backward */
    sb_tensor drow;            /* (B*heads, T) fused backward only: dout . out per row */
    /* chunked form, scratch kept by no pass for the next */
    sb_tensor scores;          /* (chunk, T, T): scores, then dropped probabilities */
    sb_tensor dscores;         /* (chunk, T, T) backward only: d probs_dropped, then d scores */
    /* unfused form; q_h, k_h, v_h, probs, probs_dropped are kept for the backward */
    sb_tensor q_h, k_h, v_h;   /* (B, heads, T, d) */
    sb_tensor probs;           /* (B*heads, T, T): raw scores, then softmax in place */
    sb_tensor probs_dropped;   /* (B*heads, T, T), training only, written when p > 0 */
    sb_tensor ctx_h;           /* (B, heads, T, d) */
    /* backward only (training) */
    sb_tensor dctx_h;          /* (B, heads, T, d) */
    sb_tensor dx_h;            /* (B, heads, T, d): dv_h, dq_h, dk_h in turn */
    sb_tensor dprobs;          /* (B*heads, T, T): d probs_dropped, d probs, d scores in place */
} sb_attention_buffers;

/* Zeroes *bufs, sets its sizes and form and registers the tensors that
 * form needs in plan, named "<name>.q_h" and so on; training adds what
 * dropout and the backward need. H must be divisible by heads. chunk is
 * read by the chunked form only: its sketches per chunk (sb_attention_chunk),
 * or 0 to plan no scratch: then the caller sets chunk and lends scores
 * (and dscores) of at least (chunk, T, T) before each pass, as the model
 * does to share one scratch between its layers. */
int sb_attention_plan(sb_plan *plan, sb_attention_buffers *bufs, const char *name, int B, int T, int H, int heads,
                      sb_attention_impl impl, int chunk, int training);

/* out = attention(q, k, v) as above; q, k, v, out are (B, T, H), mask is
 * (B, T) float (1 = real token, 0 = padding). p in [0, 1) is the attention
 * dropout (p > 0 needs training buffers); key as for sb_dropout_forward,
 * applied to probs as one flat tensor. For a batch trimmed to its first T
 * tokens (key.seq = T of key.full_seq), element (i, j) of the
 * probabilities of (b, h) draws the word of element
 * ((b * heads + h) * full_seq + i) * full_seq + j, the mask of the untrimmed
 * batch; the unfused form refuses that with p > 0. */
int sb_attention_forward(sb_runtime *rt, const sb_tensor *q, const sb_tensor *k, const sb_tensor *v,
                         const sb_tensor *mask, const sb_tensor *out, float p, sb_rng_key key,
                         sb_attention_buffers *bufs);

/* dq, dk, dv (B, T, H) from dout (B, T, H), after the forward with the same
 * bufs (its dropout p and key are reused, and its q, k, v, mask and out
 * read again: they must be unchanged). Overwrites the gradients. */
int sb_attention_backward(sb_runtime *rt, const sb_tensor *dout, const sb_tensor *dq, const sb_tensor *dk,
                          const sb_tensor *dv, sb_attention_buffers *bufs);

#endif
