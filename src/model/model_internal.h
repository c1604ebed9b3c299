/* Inside the model: the parameter groups, the activations each layer keeps
 * for its backward, and the layer functions that model.c strings together.
 * Not a public header; src/model/ only.
 *
 * Every activation is planned for the largest batch; a forward for a
 * smaller batch works on views (sb_rows) that keep the buffer and shrink
 * the leading dimension, so nothing is allocated per call.
 * Letters: B sketches, Tin = K + T tokens, H hidden, I intermediate.
 * defines: sb_lin, sb_mlp, sb_layer_weights, sb_layer_acts, sb_layer_grads,
 *          sb_objective, sb_rows, sb_view, sb_mlp_forward, sb_mlp_backward,
 *          sb_layer_plan, sb_layer_forward, sb_layer_backward,
 *          sb_objective_plan, sb_objective_upload, sb_objective_forward,
 *          sb_objective_backward */
#ifndef SB_MODEL_INTERNAL_H
#define SB_MODEL_INTERNAL_H

#include "model/model.h"
#include "ops/attention.h"

/* ---- views */

/* t with its leading dimension set to `rows` (same buffer, fewer rows). */
static inline sb_tensor sb_rows(const sb_tensor *t, int rows) {
    sb_tensor v = *t;
    v.numel = v.numel / (size_t)v.shape[0] * (size_t)rows;
    v.shape[0] = rows;
    return v;
}

/* t's buffer seen with another shape of no more elements (scratch planned
 * for the largest layer, used by a smaller one). */
static inline sb_tensor sb_view(const sb_tensor *t, int ndim, const int *shape) {
    sb_tensor v = *t;
    v.ndim = ndim, v.numel = 1;
    for (int i = 0; i < SB_MAX_DIMS; i++) v.shape[i] = i < ndim ? shape[i] : 0;
    for (int i = 0; i < ndim; i++) v.numel *= (size_t)shape[i];
    return v;
}

/* t, planned as (B_max, Tin, ...), seen as (B, T, ...) packed: a batch
 * trimmed to its first T tokens per sketch (T <= Tin). */
static inline sb_tensor sb_seq(const sb_tensor *t, int B, int T) {
    int shape[SB_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
    shape[0] = B, shape[1] = T;
    return sb_view(t, t->ndim, shape);
}

/* t's buffer seen with x's shape but t's last dimension (an output of a
 * Linear stack for input x). */
static inline sb_tensor sb_like(const sb_tensor *t, const sb_tensor *x) {
    int shape[SB_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = t->shape[t->ndim - 1];
    return sb_view(t, x->ndim, shape);
}

/* ---- a stack of Linear layers without activations (embed_refine_net,
 * re_fcs, cls_fcs, rel_fcs): y_0 = x, y_{i+1} = y_i W_i^T + b_i. */

typedef struct sb_lin {
    sb_param *w, *b; /* weight (out, in), bias (out) */
} sb_lin;

typedef struct sb_mlp {
    int n;                        /* layers */
    int dims[SB_MAX_HEAD_LAYERS + 2]; /* dims[0] in, dims[n] out */
    sb_lin lin[SB_MAX_HEAD_LAYERS + 1];
    sb_tensor y[SB_MAX_HEAD_LAYERS + 1];  /* (rows..., dims[i + 1]): outputs; y[n - 1] is the result */
    sb_tensor dy[SB_MAX_HEAD_LAYERS + 1]; /* gradients of y[0..n-2] (y[n-1]'s comes from the caller) */
} sb_mlp;

/* x (B, ..., dims[0]) -> y[n - 1] (B, ..., dims[n]) for the shape of x. */
int sb_mlp_forward(sb_runtime *rt, sb_mlp *s, const sb_tensor *x);
/* From dout (the result's gradient, B rows) to the parameter gradients
 * and dx (both overwritten). x is the forward's. */
int sb_mlp_backward(sb_runtime *rt, sb_mlp *s, const sb_tensor *x, const sb_tensor *dout, const sb_tensor *dx);

/* ---- one encoder layer (SketchLayer, post-LN) */

typedef struct sb_layer_weights {
    int heads, hidden, inter;
    sb_lin query, key, value;       /* attention.attention.{query,key,value} */
    sb_lin attn_fc;                 /* attention.output.fc */
    sb_param *attn_norm_w, *attn_norm_b; /* attention.output.norm */
    sb_lin inter_fc;                /* inter_layer.fc */
    sb_lin out_fc;                  /* output.fc */
    sb_param *out_norm_w, *out_norm_b;   /* output.norm */
} sb_layer_weights;

/* What one use of a layer keeps for its backward (each ALBERT use has its
 * own). Planned for the largest batch. The attention's backward-only
 * buffers are shared by all uses (sb_layer_grads). */
typedef struct sb_layer_acts {
    sb_tensor q, k, v;             /* (B, Tin, H) */
    sb_attention_buffers att_plan; /* planned for the largest batch */
    sb_attention_buffers att;      /* view for the last forward's batch */
    sb_tensor ctx;                 /* (B, Tin, H) merged attention context */
    sb_tensor attn_sum;            /* (B, Tin, H) dropout(fc(ctx)) + input */
    sb_tensor attn_out;            /* (B, Tin, H) LayerNorm(attn_sum) */
    sb_tensor attn_mean, attn_rstd; /* (B * Tin) */
    sb_tensor inter_pre, inter;    /* (B, Tin, I) before and after GELU */
    sb_tensor out_sum;             /* (B, Tin, H) dropout(fc(inter)) + attn_out */
    sb_tensor out;                 /* (B, Tin, H) LayerNorm(out_sum): the layer output */
    sb_tensor out_mean, out_rstd;  /* (B * Tin) */
} sb_layer_acts;

/* Backward scratch shared by every layer use (largest batch and I). */
typedef struct sb_layer_grads {
    sb_tensor sum;       /* (B, Tin, H) gradient of a LayerNorm input */
    sb_tensor dropped;   /* (B, Tin, H) the same through dropout's backward */
    sb_tensor attn;      /* (B, Tin, H) gradient of attn_out */
    sb_tensor ctx;       /* (B, Tin, H) */
    sb_tensor q, k, v;   /* (B, Tin, H) */
    sb_tensor inter;     /* (B, Tin, I_max) */
    /* the attention's backward buffers (and the chunked form's scratch),
     * lent to each use's view */
    sb_tensor att_dctx_h, att_dx_h; /* unfused: (B, Tin, H), seen as (B, heads, Tin, d) */
    sb_tensor att_dprobs;           /* unfused: (B * heads_max, Tin, Tin) */
    sb_tensor att_drow;             /* fused: (B * heads_max, Tin) */
    /* chunked: the scratch of the forward and the backward, (att_chunk, Tin, Tin) each */
    sb_tensor att_scores, att_dscores;
    int att_chunk;                  /* chunked: sketches per chunk at the last forward's T */
} sb_layer_grads;

/* Dropout probabilities and keys of one layer use. */
typedef struct sb_layer_dropout {
    float attention, hidden, output;
    sb_rng_key attention_key, hidden_key, output_key;
} sb_layer_dropout;

/* Registers one use's activations (name e.g. "layer3") in plan; training
 * adds what dropout and the backward need. The passes below take x as
 * (B, T, H) with T <= the planned Tin (a trimmed batch) and work on packed
 * views (sb_seq) of the planned buffers; g->att_chunk is the chunked
 * attention's sketches per chunk at that T. */
int sb_layer_plan(sb_plan *plan, sb_layer_acts *a, const char *name, int B, int Tin, const sb_layer_weights *w,
                  sb_attention_impl impl, int training);
/* y = a->out (B, T, H) from x (B, T, H); mask (B, T). */
int sb_layer_forward(sb_runtime *rt, const sb_layer_weights *w, sb_layer_acts *a, const sb_layer_grads *g,
                     const sb_tensor *x, const sb_tensor *mask, const sb_layer_dropout *drop);
/* dx (B, T, H) from dy (B, T, H): dy is only read, dx overwritten;
 * parameter gradients overwritten, or added to when
 * accumulate_params is set (later ALBERT uses). */
int sb_layer_backward(sb_runtime *rt, const sb_layer_weights *w, sb_layer_acts *a, const sb_tensor *x,
                      const sb_tensor *dy, const sb_tensor *dx, sb_layer_grads *g, const sb_layer_dropout *drop,
                      int accumulate_params);

/* ---- the weighted objective (trainer.calculate_losses) */

enum { SB_TERM_MASK_AXIS, SB_TERM_REC_AXIS, SB_TERM_MASK_TYPE, SB_TERM_REC_TYPE, SB_TERM_PREDICTION,
       SB_TERM_TRIPLET, SB_N_TERMS };

typedef struct sb_objective {
    /* on the device, planned for the largest batch; built on the host from
     * the batch (its mask and stroke are host arrays already) */
    sb_tensor stroke;                 /* (B, T, 5) unmasked targets */
    sb_tensor axis_masked, axis_kept; /* (B, T, 5) 1 on dx, dy entries with mask 0 / 1, anchors only
                                         (with triplets, rows 3j: they are interleaved) */
    sb_tensor type_target;            /* (B, T) int32 argmax of the pen state */
    sb_tensor type_masked, type_kept; /* (B, T) 1 on rows whose pen state mask is 0 / 1, anchors only */
    sb_tensor label;                  /* (B) int32 */
    sb_tensor label_weight;           /* (B) 1 for anchors */
    sb_tensor loss[SB_N_TERMS];       /* (1) each, unweighted */
    sb_tensor work;                   /* SB_LOSS_WORK_FLOATS */
    /* host staging for the uploads */
    float *h_axis_masked, *h_axis_kept, *h_type_masked, *h_type_kept, *h_label_weight;
    int32_t *h_type_target;
    float weight[SB_N_TERMS]; /* from the config; 0 for an absent task */
    float upstream[SB_N_TERMS]; /* the backward's: weight x the rank's share (sb_model_set_loss_share) */
    double count[SB_N_TERMS]; /* what each term of the last upload averages over */
    float margin;             /* triplet_margin */
    int active[SB_N_TERMS];   /* computed in the last forward */
    int anchors;              /* sketches the non-triplet terms average over */
} sb_objective;

int sb_objective_plan(sb_plan *plan, sb_objective *o, const sb_model_config *cfg, int max_batch);
void sb_objective_free(sb_objective *o);
/* Builds the selections and targets of a batch and uploads them. */
int sb_objective_upload(sb_runtime *rt, sb_objective *o, const sb_model_config *cfg, const sb_batch *batch);
/* Loss terms from the head outputs (NULL where a head is absent). */
int sb_objective_forward(sb_runtime *rt, sb_objective *o, int B, const sb_tensor *rec, const sb_tensor *cls,
                         const sb_tensor *rel);
/* Gradients of the weighted sum into drec, dcls, drel (overwritten). */
int sb_objective_backward(sb_runtime *rt, sb_objective *o, int B, const sb_tensor *rec, const sb_tensor *cls,
                          const sb_tensor *rel, const sb_tensor *drec, const sb_tensor *dcls, const sb_tensor *drel);

#endif
