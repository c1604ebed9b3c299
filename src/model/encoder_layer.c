/* One encoder layer of Sketch-BERT (the original SketchLayer), post-LN:
 *   q, k, v   = Linear(x) each                       (B, Tin, H)
 *   ctx       = attention(q, k, v, mask), attention dropout inside
 *   attn_out  = LayerNorm(dropout_hidden(Linear(ctx)) + x)
 *   inter     = GELU(Linear(attn_out))               (B, Tin, I)
 *   out       = LayerNorm(dropout_output(Linear(inter)) + attn_out)
 * LayerNorm eps 1e-5 (nn.LayerNorm). Forward and backward side by side;
 * dropout masks are recomputed from their keys in the backward. */
#include <stdio.h>

#include "model/model_internal.h"
#include "ops/gelu.h"
#include "ops/layernorm.h"
#include "ops/linear.h"
#include "ops/residual.h"

#define LN_EPS 1e-5f

// ---- planning

int sb_layer_plan(sb_plan *plan, sb_layer_acts *a, const char *name, int B, int Tin, const sb_layer_weights *w,
                  sb_attention_impl impl, int training) {
    int H = w->hidden, I = w->inter;
    int bth[3] = {B, Tin, H}, bti[3] = {B, Tin, I}, rows[1] = {B * Tin};
    char full[48];
#define PLAN(field, nd, shape)                                          \
    do {                                                                \
        snprintf(full, sizeof full, "%s.%s", name, #field);             \
        SB_TRY(sb_plan_add(plan, &a->field, full, SB_F32, nd, shape)); \
    } while (0)
    PLAN(q, 3, bth);
    PLAN(k, 3, bth);
    PLAN(v, 3, bth);
    PLAN(ctx, 3, bth);
    PLAN(attn_sum, 3, bth);
    PLAN(attn_out, 3, bth);
    PLAN(attn_mean, 1, rows);
    PLAN(attn_rstd, 1, rows);
    PLAN(inter_pre, 3, bti);
    PLAN(inter, 3, bti);
    PLAN(out_sum, 3, bth);
    PLAN(out, 3, bth);
    PLAN(out_mean, 1, rows);
    PLAN(out_rstd, 1, rows);
#undef PLAN
    // the forward buffers of the attention, and when training for the
    // unfused form the dropped probabilities (its backward checks for them
    // even at p = 0); the backward-only ones, and the chunked form's
    // scratch, are shared by all uses
    snprintf(full, sizeof full, "%s.att", name);
    SB_TRY(sb_attention_plan(plan, &a->att_plan, full, B, Tin, H, w->heads, impl, 0, 0));
    if (!training || impl != SB_ATTENTION_UNFUSED) return 0;
    int probs[3] = {B * w->heads, Tin, Tin};
    snprintf(full, sizeof full, "%s.att.probs_dropped", name);
    return sb_plan_add(plan, &a->att_plan.probs_dropped, full, SB_F32, 3, probs);
}

/* The attention buffers of the largest batch seen as a batch of B
 * sketches of T tokens (packed), with the shared backward buffers. */
static sb_attention_buffers attention_view(const sb_attention_buffers *full, int B, int T, const sb_layer_grads *g) {
    sb_attention_buffers v = *full;
    int heads = full->heads, d = full->H / heads;
    int head_shape[4] = {B, heads, T, d}, prob_shape[3] = {B * heads, T, T}, row_shape[2] = {B * heads, T};
    v.B = B, v.T = T;
    if (full->impl == SB_ATTENTION_CHUNKED) {
        v.lse = sb_view(&v.lse, 2, row_shape);
        v.chunk = g->att_chunk < B ? g->att_chunk : B;
        v.scores = g->att_scores, v.dscores = g->att_dscores;
        return v;
    }
    if (full->impl != SB_ATTENTION_UNFUSED) {
        v.lse = sb_view(&v.lse, 2, row_shape);
        if (full->impl != SB_ATTENTION_HOST) v.drow = sb_view(&g->att_drow, 2, row_shape);
        return v;
    }
    sb_tensor *per_head[] = {&v.q_h, &v.k_h, &v.v_h, &v.ctx_h};
    for (int i = 0; i < 4; i++) *per_head[i] = sb_view(per_head[i], 4, head_shape);
    v.probs = sb_view(&v.probs, 3, prob_shape);
    if (v.probs_dropped.buf) v.probs_dropped = sb_view(&v.probs_dropped, 3, prob_shape); /* training only */
    v.dctx_h = sb_view(&g->att_dctx_h, 4, head_shape);
    v.dx_h = sb_view(&g->att_dx_h, 4, head_shape);
    v.dprobs = sb_view(&g->att_dprobs, 3, prob_shape);
    return v;
}

// ---- forward

/* y = LayerNorm(dropout(fc(x)) + residual); sum keeps the LayerNorm input.
 * The GEMM leaves x W^T in sum; one kernel adds the bias, drops, adds the
 * residual and normalises (sb_ln_pre). */
static int output_forward(sb_runtime *rt, const sb_lin *fc, const sb_param *norm_w, const sb_param *norm_b,
                          const sb_tensor *x, const sb_tensor *residual, float p, sb_rng_key key,
                          const sb_tensor *sum, const sb_tensor *y, const sb_tensor *mean, const sb_tensor *rstd) {
    SB_TRY(sb_linear_forward(rt, x, &fc->w->value, NULL, sum));
    sb_ln_pre pre = {&fc->b->value, residual, sum, p, key};
    return sb_layernorm_forward(rt, sum, &pre, &norm_w->value, &norm_b->value, LN_EPS, y, mean, rstd);
}

int sb_layer_forward(sb_runtime *rt, const sb_layer_weights *w, sb_layer_acts *a, const sb_layer_grads *g,
                     const sb_tensor *x, const sb_tensor *mask, const sb_layer_dropout *drop) {
    int B = x->shape[0], T = x->shape[1], N = B * T;
    sb_tensor q = sb_seq(&a->q, B, T), k = sb_seq(&a->k, B, T), v = sb_seq(&a->v, B, T), ctx = sb_seq(&a->ctx, B, T);
    sb_tensor attn_sum = sb_seq(&a->attn_sum, B, T), attn_out = sb_seq(&a->attn_out, B, T);
    sb_tensor attn_mean = sb_rows(&a->attn_mean, N), attn_rstd = sb_rows(&a->attn_rstd, N);
    sb_tensor inter_pre = sb_seq(&a->inter_pre, B, T), inter = sb_seq(&a->inter, B, T);
    sb_tensor out_sum = sb_seq(&a->out_sum, B, T), out = sb_seq(&a->out, B, T);
    sb_tensor out_mean = sb_rows(&a->out_mean, N), out_rstd = sb_rows(&a->out_rstd, N);
    // self-attention: q, k, v (B, T, H) -> ctx (B, T, H)
    SB_TRY(sb_linear_forward(rt, x, &w->query.w->value, &w->query.b->value, &q));
    SB_TRY(sb_linear_forward(rt, x, &w->key.w->value, &w->key.b->value, &k));
    SB_TRY(sb_linear_forward(rt, x, &w->value.w->value, &w->value.b->value, &v));
    a->att = attention_view(&a->att_plan, B, T, g);
    SB_TRY(sb_attention_forward(rt, &q, &k, &v, mask, &ctx, drop->attention, drop->attention_key, &a->att));
    // attention output: attn_out = LN(dropout(fc(ctx)) + x)
    SB_TRY(output_forward(rt, &w->attn_fc, w->attn_norm_w, w->attn_norm_b, &ctx, x, drop->hidden, drop->hidden_key,
                          &attn_sum, &attn_out, &attn_mean, &attn_rstd));
    // feed-forward: inter (B, T, I) = gelu(fc(attn_out)); out = LN(dropout(fc(inter)) + attn_out)
    SB_TRY(sb_linear_forward(rt, &attn_out, &w->inter_fc.w->value, NULL, &inter_pre)); // bias in the GELU
    SB_TRY(sb_gelu_forward(rt, &inter_pre, &w->inter_fc.b->value, &inter));
    return output_forward(rt, &w->out_fc, w->out_norm_w, w->out_norm_b, &inter, &attn_out, drop->output,
                          drop->output_key, &out_sum, &out, &out_mean, &out_rstd);
}

// ---- backward

/* Backward of output_forward: from dy to dsum (the gradient of the
 * residual input, written into dsum) and dx (overwritten). The LayerNorm
 * backward also writes ddropped, the gradient through dropout (sb_ln_dz). */
static int output_backward(sb_runtime *rt, const sb_lin *fc, const sb_param *norm_w, const sb_param *norm_b,
                           const sb_tensor *x, const sb_tensor *sum, const sb_tensor *mean, const sb_tensor *rstd,
                           float p, sb_rng_key key, const sb_tensor *dy, const sb_tensor *dsum,
                           const sb_tensor *ddropped, const sb_tensor *dx, int acc) {
    sb_ln_dz dz = {ddropped, p, key};
    SB_TRY(sb_layernorm_backward(rt, sum, &norm_w->value, mean, rstd, dy, dsum, &dz, &norm_w->grad, &norm_b->grad,
                                 acc));
    return sb_linear_backward(rt, x, &fc->w->value, ddropped, dx, &fc->w->grad, &fc->b->grad, 0, acc);
}

int sb_layer_backward(sb_runtime *rt, const sb_layer_weights *w, sb_layer_acts *a, const sb_tensor *x,
                      const sb_tensor *dy, const sb_tensor *dx, sb_layer_grads *g, const sb_layer_dropout *drop,
                      int acc) {
    int B = x->shape[0], T = x->shape[1], N = B * T;
    sb_tensor ctx = sb_seq(&a->ctx, B, T), attn_sum = sb_seq(&a->attn_sum, B, T);
    sb_tensor attn_out = sb_seq(&a->attn_out, B, T);
    sb_tensor attn_mean = sb_rows(&a->attn_mean, N), attn_rstd = sb_rows(&a->attn_rstd, N);
    sb_tensor inter_pre = sb_seq(&a->inter_pre, B, T), inter = sb_seq(&a->inter, B, T);
    sb_tensor out_sum = sb_seq(&a->out_sum, B, T), out_mean = sb_rows(&a->out_mean, N);
    sb_tensor out_rstd = sb_rows(&a->out_rstd, N);
    sb_tensor dsum = sb_seq(&g->sum, B, T), ddropped = sb_seq(&g->dropped, B, T), dattn = sb_seq(&g->attn, B, T);
    sb_tensor dctx = sb_seq(&g->ctx, B, T), dq = sb_seq(&g->q, B, T), dk = sb_seq(&g->k, B, T);
    sb_tensor dv = sb_seq(&g->v, B, T);
    int bti[3] = {B, T, w->inter};
    sb_tensor dinter = sb_view(&g->inter, 3, bti);
    // output: dy -> dsum (to attn_out through the residual), dinter
    SB_TRY(output_backward(rt, &w->out_fc, w->out_norm_w, w->out_norm_b, &inter, &out_sum, &out_mean, &out_rstd,
                           drop->output, drop->output_key, dy, &dsum, &ddropped, &dinter, acc));
    // feed-forward: dinter -> d inter_pre (in place) -> dattn, plus the residual's dsum
    SB_TRY(sb_gelu_backward(rt, &inter_pre, &dinter, &dinter));
    SB_TRY(sb_linear_backward(rt, &attn_out, &w->inter_fc.w->value, &dinter, &dattn, &w->inter_fc.w->grad,
                              &w->inter_fc.b->grad, 0, acc));
    SB_TRY(sb_accumulate(rt, &dattn, &dsum));
    // attention output: dattn -> dsum (to x through the residual), dctx
    SB_TRY(output_backward(rt, &w->attn_fc, w->attn_norm_w, w->attn_norm_b, &ctx, &attn_sum, &attn_mean,
                           &attn_rstd, drop->hidden, drop->hidden_key, &dattn, &dsum, &ddropped, &dctx, acc));
    // self-attention: dctx -> dq, dk, dv -> dx (the three linears add up), plus the residual
    SB_TRY(sb_attention_backward(rt, &dctx, &dq, &dk, &dv, &a->att));
    SB_TRY(sb_linear_backward(rt, x, &w->query.w->value, &dq, dx, &w->query.w->grad, &w->query.b->grad, 0, acc));
    SB_TRY(sb_linear_backward(rt, x, &w->key.w->value, &dk, dx, &w->key.w->grad, &w->key.b->grad, 1, acc));
    SB_TRY(sb_linear_backward(rt, x, &w->value.w->value, &dv, dx, &w->value.w->grad, &w->value.b->grad, 1, acc));
    return sb_accumulate(rt, dx, &dsum);
}
