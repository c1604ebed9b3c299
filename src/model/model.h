/* Sketch-BERT on the device: the encoder (SketchTransformerModel), the task
 * heads (maskrec, sketchclsinput, sketchretrieval) and the weighted
 * objective, each layer's forward and backward written out. Every
 * parameter, gradient and activation is planned once for the largest batch
 * (sb_plan), so forward/backward never allocate.
 *
 * Parameter names follow the original PyTorch state_dict keys, prefixed by
 * the network: "netE." for the encoder (e.g.
 * netE.encoder.sketch_layer.attention.attention.query.weight for ALBERT,
 * netE.encoder.layers.3.output.norm.bias for BERT,
 * netE.pos_embedding.pos_embedding.weight), "net_maskrec." (re_fcs.i),
 * "net_sketchclsinput." (cls_fcs.i), "net_sketchretrieval." (rel_fcs.i).
 * Linear weights are (out, in) as in PyTorch.
 *
 * Shapes: B sketches in the batch (3B for triplets, interleaved: anchor,
 * positive, negative per triplet; src/data/dataset.h), T max_length, K
 * leading task tokens (retrieval first, then classification), Tin = K + T,
 * H hidden size.
 * defines: sb_model_config, sb_model, sb_param, sb_loss_terms,
 *          sb_model_create, sb_model_create_inference, sb_model_destroy,
 *          sb_model_init_params,
 *          sb_model_forward, sb_model_backward, sb_model_read_losses,
 *          sb_model_zero_grads, sb_model_params, sb_model_loss_counts,
 *          sb_model_set_loss_share, sb_model_tokens, sb_model_set_trim,
 *          sb_grad_group, sb_model_grad_groups, sb_model_on_grad_ready */
#ifndef SB_MODEL_MODEL_H
#define SB_MODEL_MODEL_H

#include <stdint.h>

#include "data/dataset.h"
#include "ops/attention.h"
#include "tensor/tensor.h"

#define SB_MAX_LAYERS 32
#define SB_MAX_HEAD_LAYERS 8

typedef struct sb_model_config {
    int albert;                    /* model_type albert (shared layer) or bert */
    int n_layers;
    int heads[SB_MAX_LAYERS], hidden[SB_MAX_LAYERS], inter[SB_MAX_LAYERS];
    int input_dim;                 /* 5 */
    int embed_dims[SB_MAX_HEAD_LAYERS], n_embed;  /* embed_layers_setting */
    int max_length;                /* T, without the task tokens */
    int maskrec, cls, rel;         /* which task heads exist */
    int rec_dims[SB_MAX_HEAD_LAYERS], n_rec;      /* rec_layers_setting */
    int cls_dims[SB_MAX_HEAD_LAYERS], n_cls;      /* cls_layers_setting */
    int cls_dim;                   /* number of classes */
    int rel_dims[SB_MAX_HEAD_LAYERS], n_rel;      /* rel_layers_setting */
    int rel_feat_dim;              /* 128 */
    float attention_dropout, hidden_dropout, output_dropout;
    /* loss weights */
    float mask_axis_weight, rec_axis_weight, mask_type_weight, rec_type_weight, prediction_weight, triplet_weight;
    float triplet_margin;
} sb_model_config;

/* Which network a parameter belongs to; each has its own optimizer. */
enum { SB_NET_ENCODER = 0, SB_NET_MASKREC = 1, SB_NET_CLS = 2, SB_NET_REL = 3, SB_N_NETS = 4 };
extern const char *const sb_net_names[SB_N_NETS]; /* "netE", "net_maskrec", ... */

typedef struct sb_param {
    char name[128];  /* full name, e.g. "netE.embedding.embedding.weight" */
    int net;         /* SB_NET_* */
    sb_tensor value, grad;
} sb_param;

/* Loss terms of the last forward, already multiplied by their weights, and
 * their sum; a term whose task is absent is 0. */
typedef struct sb_loss_terms {
    float mask_axis, rec_axis, mask_type, rec_type, prediction, triplet, total;
} sb_loss_terms;

typedef struct sb_model sb_model;

/* Checks the config (e.g. hidden divisible by heads; ALBERT layers equal)
 * and plans all device memory for up to max_batch sketches per batch (the
 * caller passes 3 * batch_size for triplet training). */
int sb_model_create(sb_runtime *rt, const sb_model_config *cfg, int max_batch, sb_model **out);
/* The same planned for inference only: forwards with train = 0 and
 * compute_loss = 0, no backward. Plans no gradients and no backward
 * buffers, and one set of layer activations (two outputs used in turn)
 * for all layers of layer 0's shape instead of one set per layer use. */
int sb_model_create_inference(sb_runtime *rt, const sb_model_config *cfg, int max_batch, sb_model **out);
void sb_model_destroy(sb_model *m);

/* The parameters, in a fixed order (encoder first, then heads). */
int sb_model_params(const sb_model *m, sb_param **params, int *count);

/* PyTorch's default initialisation, from a seeded host RNG: Linear weight
 * and bias U(-1/sqrt(in), 1/sqrt(in)); position embedding N(0, 1);
 * LayerNorm weight 1, bias 0. */
int sb_model_init_params(sb_model *m, uint64_t seed);

/* Uploads the batch and runs the encoder, every head and the weighted
 * objective. train != 0 turns dropout on, keyed by (seed, step). With
 * compute_loss == 0 only the outputs are computed (inference).
 * Unless trimming is off (sb_model_set_trim), a forward without the
 * maskrec loss computes only the first Te = K + (the batch's longest
 * sketch) tokens of every sketch, with the results and dropout masks of
 * the full Tin (see model.c); sb_model_tokens tells Te. */
int sb_model_forward(sb_model *m, const sb_batch *batch, int train, uint64_t seed, uint64_t step, int compute_loss);

/* Gradients of the total loss of the last forward into every param's
 * grad (overwritten, not accumulated across calls). */
int sb_model_backward(sb_model *m);

/* The backward's gradient-ready points, in the order it reaches them: at
 * point i the parameters [first, first + count) of sb_model_params have
 * their final gradient (enqueued: the queue holds the work that computes
 * it, and no later work of the backward writes it). First the heads'
 * (maskrec, classification, retrieval), then each encoder layer's from the
 * last to the first (ALBERT: the one shared layer, after its first use's
 * backward, the last of its uses), then embedding, position and refine.
 * Models of one config have the same points. Training models only. */
typedef struct sb_grad_group { int first, count; } sb_grad_group;
void sb_model_grad_groups(const sb_model *m, const sb_grad_group **groups, int *count);
/* fn(ctx, i) at ready point i of every later backward (fn NULL: none). An
 * error it returns ends the backward with that error. The data-parallel
 * trainer starts each group's sum over the ranks there. */
typedef int (*sb_grad_ready_fn)(void *ctx, int group);
void sb_model_on_grad_ready(sb_model *m, sb_grad_ready_fn fn, void *ctx);

/* Reads the loss terms of the last forward back to the host. */
int sb_model_read_losses(sb_model *m, sb_loss_terms *out);

/* Data parallelism. Each loss term of a forward is a mean over its
 * selection of the batch (masked entries, pen-state rows, anchors); counts
 * gets the size of each (sb_loss_terms order, 0 for an inactive term). A
 * rank whose term is part of a mean over the global batch scales its
 * gradient in the following backwards by share[k] = its count / the
 * global count (NULL: 1, the default). */
#define SB_LOSS_TERMS 6
int sb_model_loss_counts(const sb_model *m, double counts[SB_LOSS_TERMS]);
void sb_model_set_loss_share(sb_model *m, const float share[SB_LOSS_TERMS]);

/* Head outputs of the last forward, on the device: maskrec (B, Te - K, 5),
 * class logits (B, cls_dim), retrieval features (B, rel_feat_dim), encoder
 * output (B, Te, H), Te = sb_model_tokens (Tin when not trimmed; the rows
 * past Te are padding). NULL when the head is absent. */
const sb_tensor *sb_model_rec_output(const sb_model *m);
const sb_tensor *sb_model_cls_output(const sb_model *m);
const sb_tensor *sb_model_rel_output(const sb_model *m);
const sb_tensor *sb_model_encoder_output(const sb_model *m);
/* Sketches in the last forward's batch. */
int sb_model_batch_size(const sb_model *m);
/* Tokens per sketch the last forward computed (Te <= Tin). */
int sb_model_tokens(const sb_model *m);
/* Whether forwards may trim (on by default, off with SKETCHBERT_TRIM=0
 * at sb_model_create). */
void sb_model_set_trim(sb_model *m, int on);

/* Device memory planned for activations and for parameters (bytes). */
size_t sb_model_activation_bytes(const sb_model *m);
/* The part of the activations a training forward leaves for the backward
 * (what PyTorch's autograd saves): the plan less the backward's gradient
 * buffers (named d_*, loss.d_*) and the attention scratch shared by the
 * layers (att.*). */
size_t sb_model_saved_activation_bytes(const sb_model *m);
/* The attention form the model planned for, and its pairs per chunk (0 but
 * for the chunked form). */
void sb_model_attention(const sb_model *m, sb_attention_impl *impl, int *chunk);
size_t sb_model_param_bytes(const sb_model *m);

#endif
