/* Sketch-BERT on the device: the parameters (named as the original
 * state_dicts), the memory plan, and the whole forward and backward:
 *   embed  = Linear(input) + pos[0..Tin)            (B, Tin, E0)
 *   hidden = refine(embed)                          (B, Tin, H)
 *   hidden = layer_l(hidden) for l < n_layers       (ALBERT: one layer reused)
 *   rec    = re_fcs(hidden[:, K:])                  (B, T, 5)
 *   cls    = cls_fcs(hidden[:, rel ? 1 : 0])        (B, cls_dim)
 *   rel    = rel_fcs(hidden[:, 0])                  (B, rel_feat_dim)
 * then the weighted objective (objective.c). The layers are in
 * encoder_layer.c, the Linear stacks in heads.c.
 *
 * Length trimming: padded tokens (length mask 0) get -10000 on their
 * attention scores, so their probabilities are exactly 0 in float (exp
 * underflows) and no real token reads them. A forward whose outputs read
 * real rows only (no maskrec loss: its pen-state terms read padding rows)
 * therefore runs on the first Te = K + the batch's longest sketch tokens,
 * packed (B, Te, ...) in the planned buffers, with the same results; the
 * dropout keys keep the full (B, Tin) layout (sb_rng_key's seq, full_seq)
 * so every real element draws the mask it draws untrimmed. Position rows
 * past Te get exactly zero gradient, as untrimmed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/rng.h"
#include "model/model_internal.h"
#include "ops/gather.h"
#include "ops/linear.h"
#include "ops/position.h"

const char *const sb_net_names[SB_N_NETS] = {"netE", "net_maskrec", "net_sketchclsinput", "net_sketchretrieval"};

struct sb_model {
    sb_runtime *rt;
    sb_model_config cfg;
    int max_batch, K, T, Tin, H, E0;
    int B;          /* sketches in the last forward */
    int Te;         /* tokens per sketch of the last forward (Tin, or fewer when trimmed) */
    int trim;       /* trimming allowed (sb_model_set_trim; SKETCHBERT_TRIM) */
    int training;   /* planned for training; else forward only (sb_model_create_inference) */
    sb_attention_impl att_impl; /* the attention's form on this device */
    int has_loss;   /* the last forward computed the objective */
    sb_layer_dropout drop[SB_MAX_LAYERS];
    sb_param *params;
    int n_params, cap_params;
    /* gradient-ready points (sb_model_grad_groups) and their hook */
    sb_grad_group groups[SB_MAX_LAYERS + 4];
    int n_groups;
    sb_grad_ready_fn on_ready;
    void *ready_ctx;
    sb_plan param_plan, act_plan;
    // parameters
    sb_lin embedding;                         /* netE.embedding.embedding */
    sb_param *pos;                            /* (Tin, E0) */
    sb_layer_weights layer[SB_MAX_LAYERS];    /* per use; ALBERT: copies of one */
    sb_mlp refine, rec, cls, rel;             /* refine: activations (B, Tin, .) */
    // inputs
    sb_tensor input;        /* (B, Tin, 5) */
    sb_tensor length_mask;  /* (B, Tin) */
    float *h_input, *h_mask; /* host staging of a trimmed batch's packed input and mask */
    // activations
    sb_tensor embed;        /* (B, Tin, E0) */
    sb_layer_acts acts[SB_MAX_LAYERS];
    sb_tensor out_alt;      /* inference: (B, Tin, H) the odd layers' output (reuses_acts) */
    sb_tensor rec_in;       /* (B, T, H) */
    sb_tensor cls_in, rel_in; /* (B, H) */
    // gradients
    sb_tensor d_embed;      /* (B, Tin, E0) */
    sb_tensor d_hidden[2];  /* (B, Tin, H) ping-pong through the layers */
    sb_tensor d_rec, d_rec_in, d_cls, d_cls_in, d_rel, d_rel_in;
    sb_layer_grads lg;
    sb_objective obj;
    // views of the outputs for the last forward's batch
    sb_tensor out_encoder, out_rec, out_cls, out_rel;
};

// ---- config

static int check_config(const sb_model_config *c, int max_batch) {
#define BAD(...) sb_fail(SB_ERR_INVALID, "model config: " __VA_ARGS__)
    if (c->n_layers < 1 || c->n_layers > SB_MAX_LAYERS)
        return BAD("layers_setting has %d layers (1 to %d allowed)", c->n_layers, SB_MAX_LAYERS);
    for (int l = 0; l < c->n_layers; l++) {
        if (c->heads[l] <= 0 || c->hidden[l] <= 0 || c->inter[l] <= 0)
            return BAD("layers_setting[%d] = [%d, %d, %d] must be positive", l, c->heads[l], c->hidden[l], c->inter[l]);
        if (c->hidden[l] % c->heads[l] != 0)
            return BAD("layers_setting[%d]: hidden %d is not divisible by %d heads", l, c->hidden[l], c->heads[l]);
        if (c->hidden[l] != c->hidden[0])
            return BAD("layers_setting[%d]: hidden %d differs from layer 0's %d (residuals need one size)", l,
                       c->hidden[l], c->hidden[0]);
        if (c->albert && (c->heads[l] != c->heads[0] || c->inter[l] != c->inter[0]))
            return BAD("model_type albert shares one layer, but layers_setting[%d] differs from layers_setting[0]", l);
    }
    if (c->input_dim != 5) return BAD("input_dim %d: only stroke-5 input (5) is supported", c->input_dim);
    if (c->max_length <= 0) return BAD("max_length %d must be positive", c->max_length);
    const struct { const char *key; const int *dims; int n, min; } lists[] = {
        {"embed_layers_setting", c->embed_dims, c->n_embed, 1}, {"rec_layers_setting", c->rec_dims, c->n_rec, 0},
        {"cls_layers_setting", c->cls_dims, c->n_cls, 0}, {"rel_layers_setting", c->rel_dims, c->n_rel, 0}};
    for (int i = 0; i < 4; i++) {
        if (lists[i].n < lists[i].min || lists[i].n > SB_MAX_HEAD_LAYERS)
            return BAD("%s has %d entries (%d to %d allowed)", lists[i].key, lists[i].n, lists[i].min,
                       SB_MAX_HEAD_LAYERS);
        for (int j = 0; j < lists[i].n; j++)
            if (lists[i].dims[j] <= 0) return BAD("%s[%d] = %d must be positive", lists[i].key, j, lists[i].dims[j]);
    }
    if (c->cls && c->cls_dim <= 0) return BAD("cls_dim %d must be positive", c->cls_dim);
    if (c->rel && c->rel_feat_dim <= 0) return BAD("rel_feat_dim %d must be positive", c->rel_feat_dim);
    const float p[3] = {c->attention_dropout, c->hidden_dropout, c->output_dropout};
    for (int i = 0; i < 3; i++)
        if (!(p[i] >= 0.0f && p[i] < 1.0f)) return BAD("dropout probability %g is outside [0, 1)", p[i]);
    if (max_batch <= 0) return BAD("max_batch %d must be positive", max_batch);
    if (c->rel && max_batch < 3) return BAD("max_batch %d cannot hold a triplet (3 sketches)", max_batch);
    return 0;
#undef BAD
}

// ---- parameters

/* A new parameter named "<net>.<name>": its value, and its gradient when
 * training. */
static int add_param(sb_model *m, int net, const char *name, int ndim, const int *shape, sb_param **out) {
    if (m->n_params == m->cap_params)
        return sb_fail(SB_ERR_INVALID, "model: more than %d parameters", m->cap_params);
    sb_param *p = &m->params[m->n_params++];
    int n = snprintf(p->name, sizeof p->name, "%s.%s", sb_net_names[net], name);
    if (n < 0 || (size_t)n >= sizeof p->name) return sb_fail(SB_ERR_INVALID, "model: parameter name %s too long", name);
    p->net = net;
    /* tensor names hold 47 characters: keep the distinctive end */
    const char *tail = p->name + (n > 40 ? n - 40 : 0);
    char gname[48];
    snprintf(gname, sizeof gname, "d%.40s", tail);
    SB_TRY(sb_plan_add(&m->param_plan, &p->value, tail, SB_F32, ndim, shape));
    if (m->training) SB_TRY(sb_plan_add(&m->param_plan, &p->grad, gname, SB_F32, ndim, shape));
    *out = p;
    return 0;
}

/* "<prefix>.weight" (out, in) and "<prefix>.bias" (out). */
static int add_linear(sb_model *m, int net, const char *prefix, int in, int out, sb_lin *lin) {
    char name[128];
    int wshape[2] = {out, in}, bshape[1] = {out};
    snprintf(name, sizeof name, "%s.weight", prefix);
    SB_TRY(add_param(m, net, name, 2, wshape, &lin->w));
    snprintf(name, sizeof name, "%s.bias", prefix);
    return add_param(m, net, name, 1, bshape, &lin->b);
}

/* "<prefix>.weight" and "<prefix>.bias", both (C). */
static int add_norm(sb_model *m, const char *prefix, int C, sb_param **w, sb_param **b) {
    char name[128];
    int shape[1] = {C};
    snprintf(name, sizeof name, "%s.weight", prefix);
    SB_TRY(add_param(m, SB_NET_ENCODER, name, 1, shape, w));
    snprintf(name, sizeof name, "%s.bias", prefix);
    return add_param(m, SB_NET_ENCODER, name, 1, shape, b);
}

/* The parameters of one SketchLayer under `prefix`. */
static int add_layer(sb_model *m, const char *prefix, int heads, int H, int I, sb_layer_weights *w) {
    char name[128];
    w->heads = heads, w->hidden = H, w->inter = I;
    const struct { const char *field; int in, out; sb_lin *lin; } lins[] = {
        {"attention.attention.query", H, H, &w->query}, {"attention.attention.key", H, H, &w->key},
        {"attention.attention.value", H, H, &w->value}, {"attention.output.fc", H, H, &w->attn_fc},
        {"inter_layer.fc", H, I, &w->inter_fc},         {"output.fc", I, H, &w->out_fc}};
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, lins[i].field);
        SB_TRY(add_linear(m, SB_NET_ENCODER, name, lins[i].in, lins[i].out, lins[i].lin));
        if (i == 3) {
            snprintf(name, sizeof name, "%s.attention.output.norm", prefix);
            SB_TRY(add_norm(m, name, H, &w->attn_norm_w, &w->attn_norm_b));
        }
    }
    snprintf(name, sizeof name, "%s.output.norm", prefix);
    return add_norm(m, name, H, &w->out_norm_w, &w->out_norm_b);
}

/* A Linear stack in -> hidden[0] -> ... -> out named "<prefix>.<i>", with
 * its activations (lead..., dims) planned as "<act>.<i>" (and their
 * gradients when training). */
static int add_mlp(sb_model *m, sb_mlp *s, int net, const char *prefix, const char *act, int in, const int *hidden,
                   int n_hidden, int out, int n_lead, const int *lead) {
    char name[128];
    s->n = n_hidden + 1;
    s->dims[0] = in;
    for (int i = 0; i < n_hidden; i++) s->dims[i + 1] = hidden[i];
    s->dims[s->n] = out;
    int shape[SB_MAX_DIMS];
    for (int i = 0; i < n_lead; i++) shape[i] = lead[i];
    for (int i = 0; i < s->n; i++) {
        snprintf(name, sizeof name, "%s.%d", prefix, i);
        SB_TRY(add_linear(m, net, name, s->dims[i], s->dims[i + 1], &s->lin[i]));
        shape[n_lead] = s->dims[i + 1];
        snprintf(name, sizeof name, "%s.%d", act, i);
        SB_TRY(sb_plan_add(&m->act_plan, &s->y[i], name, SB_F32, n_lead + 1, shape));
        if (m->training && i < s->n - 1) {
            snprintf(name, sizeof name, "d_%s.%d", act, i);
            SB_TRY(sb_plan_add(&m->act_plan, &s->dy[i], name, SB_F32, n_lead + 1, shape));
        }
    }
    return 0;
}

/* Inference: layer l works in layer 0's activations (set once they are
 * allocated) when it has layer 0's shape (BERT layers may differ in heads
 * and I), writing its output to out_alt when l is odd: a layer reads only
 * its input, the previous layer's output, which is then the other one. */
static int reuses_acts(const sb_model *m, int l) {
    const sb_model_config *c = &m->cfg;
    return !m->training && l >= 1 && c->heads[l] == c->heads[0] && c->inter[l] == c->inter[0];
}

/* The heads' inputs gathered from the encoder output. */
static int plan_head_inputs(sb_model *m) {
    const sb_model_config *c = &m->cfg;
    int bTh[3] = {m->max_batch, m->T, m->H}, bh[2] = {m->max_batch, m->H};
    if (c->maskrec) SB_TRY(sb_plan_add(&m->act_plan, &m->rec_in, "rec_in", SB_F32, 3, bTh));
    if (c->cls) SB_TRY(sb_plan_add(&m->act_plan, &m->cls_in, "cls_in", SB_F32, 2, bh));
    if (c->rel) SB_TRY(sb_plan_add(&m->act_plan, &m->rel_in, "rel_in", SB_F32, 2, bh));
    return 0;
}

/* The parameters [first .. last] as a group of the backward's
 * gradient-ready points. */
static void add_group(sb_model *m, const sb_param *first, const sb_param *last) {
    m->groups[m->n_groups++] = (sb_grad_group){(int)(first - m->params), (int)(last - first) + 1};
}

/* The gradient-ready points in sb_model_backward's order. */
static void plan_groups(sb_model *m) {
    const sb_model_config *c = &m->cfg;
    const sb_mlp *heads[3] = {c->maskrec ? &m->rec : NULL, c->cls ? &m->cls : NULL, c->rel ? &m->rel : NULL};
    for (int i = 0; i < 3; i++)
        if (heads[i]) add_group(m, heads[i]->lin[0].w, heads[i]->lin[heads[i]->n - 1].b);
    for (int l = c->n_layers - 1; l >= 0; l--)
        if (!c->albert || l == 0) add_group(m, m->layer[l].query.w, m->layer[l].out_norm_b);
    add_group(m, m->embedding.w, m->refine.lin[m->refine.n - 1].b);
}

/* Every parameter and activation, in the original state_dict order. For
 * inference only what a forward without loss needs: no gradients, no
 * backward scratch, no objective, and one set of layer activations for
 * all layers of one shape, with two outputs used in turn (reuses_acts). */
static int plan_model(sb_model *m) {
    const sb_model_config *c = &m->cfg;
    int B = m->max_batch, Tin = m->Tin, T = m->T, H = m->H, E0 = m->E0;
    int bt[2] = {B, Tin}, bth[3] = {B, Tin, H}, bte[3] = {B, Tin, E0}, bt5[3] = {B, Tin, 5};
    int pos_shape[2] = {Tin, E0}, lead_b[1] = {B}, lead_bt[2] = {B, T};
    // encoder parameters
    SB_TRY(add_linear(m, SB_NET_ENCODER, "embedding.embedding", c->input_dim, E0, &m->embedding));
    SB_TRY(add_param(m, SB_NET_ENCODER, "pos_embedding.pos_embedding.weight", 2, pos_shape, &m->pos));
    SB_TRY(add_mlp(m, &m->refine, SB_NET_ENCODER, "embed_refine_net.layers", "refine", E0, c->embed_dims + 1,
                   c->n_embed - 1, H, 2, bt));
    int I_max = 0, heads_max = 0;
    for (int l = 0; l < c->n_layers; l++) {
        char prefix[64];
        if (c->albert && l > 0) {
            m->layer[l] = m->layer[0];
        } else {
            if (c->albert) snprintf(prefix, sizeof prefix, "encoder.sketch_layer");
            else snprintf(prefix, sizeof prefix, "encoder.layers.%d", l);
            SB_TRY(add_layer(m, prefix, c->heads[l], H, c->inter[l], &m->layer[l]));
        }
        if (c->inter[l] > I_max) I_max = c->inter[l];
    }
    // heads
    if (c->maskrec)
        SB_TRY(add_mlp(m, &m->rec, SB_NET_MASKREC, "re_fcs", "rec", H, c->rec_dims, c->n_rec, c->input_dim, 2,
                       lead_bt));
    if (c->cls)
        SB_TRY(add_mlp(m, &m->cls, SB_NET_CLS, "cls_fcs", "cls", H, c->cls_dims, c->n_cls, c->cls_dim, 1, lead_b));
    if (c->rel)
        SB_TRY(add_mlp(m, &m->rel, SB_NET_REL, "rel_fcs", "rel", H, c->rel_dims, c->n_rel, c->rel_feat_dim, 1,
                       lead_b));
    // inputs and encoder activations
    sb_plan *p = &m->act_plan;
    SB_TRY(sb_plan_add(p, &m->input, "input", SB_F32, 3, bt5));
    SB_TRY(sb_plan_add(p, &m->length_mask, "length_mask", SB_F32, 2, bt));
    SB_TRY(sb_plan_add(p, &m->embed, "embed", SB_F32, 3, bte));
    if (m->training) SB_TRY(sb_plan_add(p, &m->d_embed, "d_embed", SB_F32, 3, bte));
    for (int l = 0; l < c->n_layers; l++) {
        char name[32];
        snprintf(name, sizeof name, "layer%d", l);
        if (!reuses_acts(m, l))
            SB_TRY(sb_layer_plan(p, &m->acts[l], name, B, Tin, &m->layer[l], m->att_impl, m->training));
        else if (l % 2 && m->out_alt.numel == 0)
            SB_TRY(sb_plan_add(p, &m->out_alt, "layer_out_alt", SB_F32, 3, bth));
        if (c->heads[l] > heads_max) heads_max = c->heads[l];
    }
    if (m->att_impl == SB_ATTENTION_CHUNKED) { /* its scratch, shared by the layers */
        SB_TRY(sb_attention_chunk(m->rt, Tin, &m->lg.att_chunk));
        if (m->lg.att_chunk > B) m->lg.att_chunk = B;
        int scratch[3] = {m->lg.att_chunk, Tin, Tin};
        SB_TRY(sb_plan_add(p, &m->lg.att_scores, "att.scores", SB_F32, 3, scratch));
        if (m->training) SB_TRY(sb_plan_add(p, &m->lg.att_dscores, "att.dscores", SB_F32, 3, scratch));
    }
    if (!m->training) return plan_head_inputs(m);
    plan_groups(m);
    int bti[3] = {B, Tin, I_max}, probs[3] = {B * heads_max, Tin, Tin}, rows[2] = {B * heads_max, Tin};
    sb_tensor *lg[] = {&m->lg.sum, &m->lg.dropped, &m->lg.attn, &m->lg.ctx, &m->lg.q, &m->lg.k, &m->lg.v};
    static const char *lg_names[] = {"d_sum", "d_dropped", "d_attn", "d_ctx", "d_q", "d_k", "d_v"};
    for (int i = 0; i < 7; i++) SB_TRY(sb_plan_add(p, lg[i], lg_names[i], SB_F32, 3, bth));
    SB_TRY(sb_plan_add(p, &m->lg.inter, "d_inter", SB_F32, 3, bti));
    if (m->att_impl == SB_ATTENTION_UNFUSED) {
        SB_TRY(sb_plan_add(p, &m->lg.att_dctx_h, "att.dctx_h", SB_F32, 3, bth));
        SB_TRY(sb_plan_add(p, &m->lg.att_dx_h, "att.dx_h", SB_F32, 3, bth));
        SB_TRY(sb_plan_add(p, &m->lg.att_dprobs, "att.dprobs", SB_F32, 3, probs));
    } else if (m->att_impl != SB_ATTENTION_CHUNKED && m->att_impl != SB_ATTENTION_HOST) {
        SB_TRY(sb_plan_add(p, &m->lg.att_drow, "att.drow", SB_F32, 2, rows));
    }
    SB_TRY(sb_plan_add(p, &m->d_hidden[0], "d_hidden0", SB_F32, 3, bth));
    SB_TRY(sb_plan_add(p, &m->d_hidden[1], "d_hidden1", SB_F32, 3, bth));
    // head inputs and gradients
    SB_TRY(plan_head_inputs(m));
    int bTh[3] = {B, T, H}, bT5[3] = {B, T, 5}, bh[2] = {B, H};
    if (c->maskrec) {
        SB_TRY(sb_plan_add(p, &m->d_rec_in, "d_rec_in", SB_F32, 3, bTh));
        SB_TRY(sb_plan_add(p, &m->d_rec, "d_rec", SB_F32, 3, bT5));
    }
    if (c->cls) {
        int bc[2] = {B, c->cls_dim};
        SB_TRY(sb_plan_add(p, &m->d_cls_in, "d_cls_in", SB_F32, 2, bh));
        SB_TRY(sb_plan_add(p, &m->d_cls, "d_cls", SB_F32, 2, bc));
    }
    if (c->rel) {
        int bd[2] = {B, c->rel_feat_dim};
        SB_TRY(sb_plan_add(p, &m->d_rel_in, "d_rel_in", SB_F32, 2, bh));
        SB_TRY(sb_plan_add(p, &m->d_rel, "d_rel", SB_F32, 2, bd));
    }
    return sb_objective_plan(p, &m->obj, c, B);
}

/* SKETCHBERT_TRIM: unset, 1 or on trims (the default), 0 or off does not. */
static int trim_setting(int *out) {
    const char *env = getenv("SKETCHBERT_TRIM");
    if (!env || !*env || !strcmp(env, "1") || !strcmp(env, "on")) return *out = 1, 0;
    if (!strcmp(env, "0") || !strcmp(env, "off")) return *out = 0, 0;
    return sb_fail(SB_ERR_INVALID, "SKETCHBERT_TRIM=%s: expected 1, on, 0 or off", env);
}

static int create(sb_runtime *rt, const sb_model_config *cfg, int max_batch, int training, sb_model **out) {
    *out = NULL;
    SB_TRY(check_config(cfg, max_batch));
    sb_model *m = calloc(1, sizeof *m);
    if (!m) return sb_fail(SB_ERR_MEMORY, "model: no host memory");
    m->rt = rt, m->cfg = *cfg, m->max_batch = max_batch, m->training = training;
    m->K = (cfg->rel ? 1 : 0) + (cfg->cls ? 1 : 0);
    m->T = cfg->max_length, m->Tin = m->K + m->T, m->H = cfg->hidden[0], m->E0 = cfg->embed_dims[0];
    /* embedding 2, position 1, refine, 16 per layer, heads */
    m->cap_params = 3 + 2 * SB_MAX_HEAD_LAYERS + 16 * cfg->n_layers + 3 * 2 * (SB_MAX_HEAD_LAYERS + 1);
    m->params = calloc((size_t)m->cap_params, sizeof *m->params);
    sb_plan_init(&m->param_plan), sb_plan_init(&m->act_plan);
    m->h_input = malloc(sizeof(float) * (size_t)max_batch * (size_t)m->Tin * 5);
    m->h_mask = malloc(sizeof(float) * (size_t)max_batch * (size_t)m->Tin);
    int rc = m->params && m->h_input && m->h_mask ? trim_setting(&m->trim)
                                                 : sb_fail(SB_ERR_MEMORY, "model: no host memory for parameters");
    if (!rc) rc = sb_attention_choose(rt, &m->att_impl);
    if (!rc) rc = plan_model(m);
    if (!rc) rc = sb_plan_allocate(rt, &m->param_plan);
    if (!rc) rc = sb_plan_allocate(rt, &m->act_plan);
    for (int l = 0; !rc && l < cfg->n_layers; l++)
        if (reuses_acts(m, l)) {
            m->acts[l] = m->acts[0];
            if (l % 2) m->acts[l].out = m->out_alt;
        }
    if (rc) {
        sb_model_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

int sb_model_create(sb_runtime *rt, const sb_model_config *cfg, int max_batch, sb_model **out) {
    return create(rt, cfg, max_batch, 1, out);
}

int sb_model_create_inference(sb_runtime *rt, const sb_model_config *cfg, int max_batch, sb_model **out) {
    return create(rt, cfg, max_batch, 0, out);
}

void sb_model_destroy(sb_model *m) {
    if (!m) return;
    sb_plan_release(m->rt, &m->act_plan);
    sb_plan_release(m->rt, &m->param_plan);
    sb_objective_free(&m->obj);
    free(m->h_input), free(m->h_mask);
    free(m->params);
    free(m);
}

int sb_model_params(const sb_model *m, sb_param **params, int *count) {
    *params = m->params, *count = m->n_params;
    return 0;
}

int sb_model_init_params(sb_model *m, uint64_t seed) {
    sb_rng rng;
    sb_rng_seed(&rng, seed);
    size_t cap = 0;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].value.numel > cap) cap = m->params[i].value.numel;
    float *host = malloc(cap * sizeof *host);
    if (!host) return sb_fail(SB_ERR_MEMORY, "model init: no host memory for %zu floats", cap);
    int rc = 0;
    for (int i = 0; i < m->n_params && !rc; i++) {
        const sb_param *p = &m->params[i];
        size_t n = p->value.numel;
        const char *leaf = strrchr(p->name, '.');
        int is_norm = strstr(p->name, ".norm.") != NULL, is_weight = strcmp(leaf, ".weight") == 0;
        if (p == m->pos) {
            for (size_t j = 0; j < n; j++) host[j] = (float)sb_rng_normal(&rng); // nn.Embedding: N(0, 1)
        } else if (is_norm) {
            for (size_t j = 0; j < n; j++) host[j] = is_weight ? 1.0f : 0.0f;  // nn.LayerNorm
        } else {
            /* nn.Linear: weight and bias U(-1/sqrt(in), 1/sqrt(in)); the bias
             * follows its weight, whose (out, in) gives `in` */
            int in = is_weight ? p->value.shape[1] : m->params[i - 1].value.shape[1];
            double bound = 1.0 / sqrt((double)in);
            for (size_t j = 0; j < n; j++) host[j] = (float)((2.0 * sb_rng_uniform(&rng) - 1.0) * bound);
        }
        rc = sb_tensor_write(m->rt, &p->value, host);
    }
    free(host);
    return rc;
}

// ---- forward

/* Gather layouts over the encoder output (B, Te, H). */
static sb_gather_layout token_row(const sb_model *m, int B, int row) {
    return (sb_gather_layout){(size_t)B, (size_t)m->H, (size_t)row * m->H, (size_t)m->Te * m->H};
}
static sb_gather_layout sequence_rows(const sb_model *m, int B) {
    return (sb_gather_layout){(size_t)B, (size_t)(m->Te - m->K) * m->H, (size_t)m->K * m->H, (size_t)m->Te * m->H};
}
static int cls_row(const sb_model *m) { return m->cfg.rel ? 1 : 0; }

/* The encoder's input to layer l (the refine output for l = 0). */
static sb_tensor layer_input(const sb_model *m, int l, int B) {
    return sb_seq(l == 0 ? &m->refine.y[m->refine.n - 1] : &m->acts[l - 1].out, B, m->Te);
}

/* The tokens per sketch a forward computes: Tin, or trimmed to K + the
 * longest sketch (at least one sequence row) when allowed and exact: not
 * for the maskrec loss, and not for the unfused attention's dropout, which
 * drops the probabilities as one flat tensor. */
static int forward_tokens(const sb_model *m, const sb_batch *batch, int train, int compute_loss) {
    const sb_model_config *c = &m->cfg;
    if (!m->trim || (c->maskrec && compute_loss) ||
        (train && m->att_impl == SB_ATTENTION_UNFUSED && c->attention_dropout > 0.0f))
        return m->Tin;
    int Te = m->K + 1;
    for (int b = 0; b < batch->size; b++) {
        const float *lm = batch->length_mask + (size_t)b * m->Tin;
        int t = m->Tin;
        while (t > Te && lm[t - 1] == 0.0f) t--;
        Te = t;
    }
    return Te;
}

/* Uploads the batch's input and length mask, packed to Te tokens. */
static int upload_inputs(sb_model *m, const sb_batch *batch, int B) {
    sb_tensor input = sb_seq(&m->input, B, m->Te), mask = sb_seq(&m->length_mask, B, m->Te);
    const float *in = batch->input, *lm = batch->length_mask;
    if (m->Te < m->Tin) {
        for (int b = 0; b < B; b++) {
            memcpy(m->h_input + (size_t)b * m->Te * 5, in + (size_t)b * m->Tin * 5, sizeof(float) * 5 * m->Te);
            memcpy(m->h_mask + (size_t)b * m->Te, lm + (size_t)b * m->Tin, sizeof(float) * m->Te);
        }
        in = m->h_input, lm = m->h_mask;
    }
    SB_TRY(sb_tensor_write(m->rt, &input, in));
    return sb_tensor_write(m->rt, &mask, lm);
}

int sb_model_forward(sb_model *m, const sb_batch *batch, int train, uint64_t seed, uint64_t step, int compute_loss) {
    const sb_model_config *c = &m->cfg;
    sb_runtime *rt = m->rt;
    int B = batch->size;
    m->has_loss = 0;
    if (B <= 0 || B > m->max_batch)
        return sb_fail(SB_ERR_INVALID, "model forward: batch of %d sketches (planned for 1 to %d)", B, m->max_batch);
    if (batch->tokens != m->K || batch->max_length != m->T)
        return sb_fail(SB_ERR_INVALID, "model forward: batch has %d tokens and max_length %d, the model %d and %d",
                       batch->tokens, batch->max_length, m->K, m->T);
    if (!m->training && (train || compute_loss))
        return sb_fail(SB_ERR_INVALID, "model forward: the model is planned for inference (no dropout, no loss)");
    m->B = B, m->Te = forward_tokens(m, batch, train, compute_loss);
    int Te = m->Te;
    sb_tensor input = sb_seq(&m->input, B, Te), mask = sb_seq(&m->length_mask, B, Te);
    sb_tensor embed = sb_seq(&m->embed, B, Te);
    SB_TRY(upload_inputs(m, batch, B));
    if (compute_loss) SB_TRY(sb_objective_upload(rt, &m->obj, c, batch));
    if (m->att_impl == SB_ATTENTION_CHUNKED) { /* as many sketches per chunk as fit at Te */
        int n, fit = (int)(m->lg.att_scores.numel / ((size_t)Te * Te));
        SB_TRY(sb_attention_chunk(rt, Te, &n));
        m->lg.att_chunk = n < fit ? n : fit;
    }
    // embedding (B, Te, 5) -> (B, Te, E0), plus the position rows, then refine to H
    SB_TRY(sb_linear_forward(rt, &input, &m->embedding.w->value, &m->embedding.b->value, &embed));
    SB_TRY(sb_position_forward(rt, &embed, &m->pos->value, &embed));
    SB_TRY(sb_mlp_forward(rt, &m->refine, &embed));
    // encoder layers; dropout streams keyed by (step, use, which), elements
    // by their sketch's position in the step's global batch (batch->offset
    // on a data-parallel rank, so the masks do not depend on the split)
    uint64_t first = batch->offset > 0 ? (uint64_t)batch->offset : 0;
    for (int l = 0; l < c->n_layers; l++) {
        sb_layer_dropout *d = &m->drop[l];
        d->attention = train ? c->attention_dropout : 0.0f;
        d->hidden = train ? c->hidden_dropout : 0.0f;
        d->output = train ? c->output_dropout : 0.0f;
        uint64_t stream = (step << 8) | (uint64_t)(3 * l);
        uint64_t probs = (uint64_t)c->heads[l] * (uint64_t)m->Tin * (uint64_t)m->Tin;
        uint64_t rows = (uint64_t)m->Tin * (uint64_t)c->hidden[l];
        uint32_t seq = (uint32_t)Te, full = (uint32_t)m->Tin;
        d->attention_key = (sb_rng_key){seed, stream, first * probs, seq, full};
        d->hidden_key = (sb_rng_key){seed, stream + 1, first * rows, seq, full};
        d->output_key = (sb_rng_key){seed, stream + 2, first * rows, seq, full};
        sb_tensor x = layer_input(m, l, B);
        SB_TRY(sb_layer_forward(rt, &m->layer[l], &m->acts[l], &m->lg, &x, &mask, d));
    }
    sb_tensor hidden = sb_seq(&m->acts[c->n_layers - 1].out, B, Te);
    m->out_encoder = hidden;
    // heads
    if (c->maskrec) {
        sb_tensor rec_in = sb_seq(&m->rec_in, B, Te - m->K);
        sb_gather_layout at = sequence_rows(m, B);
        SB_TRY(sb_gather_forward(rt, &hidden, &at, &rec_in));
        SB_TRY(sb_mlp_forward(rt, &m->rec, &rec_in));
        m->out_rec = sb_like(&m->rec.y[m->rec.n - 1], &rec_in);
    }
    if (c->cls) {
        sb_tensor cls_in = sb_rows(&m->cls_in, B);
        sb_gather_layout at = token_row(m, B, cls_row(m));
        SB_TRY(sb_gather_forward(rt, &hidden, &at, &cls_in));
        SB_TRY(sb_mlp_forward(rt, &m->cls, &cls_in));
        m->out_cls = sb_rows(&m->cls.y[m->cls.n - 1], B);
    }
    if (c->rel) {
        sb_tensor rel_in = sb_rows(&m->rel_in, B);
        sb_gather_layout at = token_row(m, B, 0);
        SB_TRY(sb_gather_forward(rt, &hidden, &at, &rel_in));
        SB_TRY(sb_mlp_forward(rt, &m->rel, &rel_in));
        m->out_rel = sb_rows(&m->rel.y[m->rel.n - 1], B);
    }
    if (!compute_loss) return 0;
    SB_TRY(sb_objective_forward(rt, &m->obj, B, c->maskrec ? &m->out_rec : NULL, c->cls ? &m->out_cls : NULL,
                                c->rel ? &m->out_rel : NULL));
    m->has_loss = 1;
    return 0;
}

// ---- backward

void sb_model_grad_groups(const sb_model *m, const sb_grad_group **groups, int *count) {
    *groups = m->groups, *count = m->n_groups;
}

void sb_model_on_grad_ready(sb_model *m, sb_grad_ready_fn fn, void *ctx) { m->on_ready = fn, m->ready_ctx = ctx; }

/* The next gradient-ready point reached. */
static int grads_ready(sb_model *m, int *point) {
    int i = (*point)++;
    return m->on_ready ? m->on_ready(m->ready_ctx, i) : 0;
}

/* A head's backward: d out -> d input -> added into dhidden's rows. x is
 * the head's input as the forward saw it. */
static int head_backward(sb_model *m, sb_mlp *s, const sb_tensor *x, const sb_tensor *dout, const sb_tensor *din,
                         const sb_gather_layout *at, const sb_tensor *dhidden) {
    sb_tensor dx = sb_like(din, x), dy = sb_like(dout, x);
    SB_TRY(sb_mlp_backward(m->rt, s, x, &dy, &dx));
    return sb_gather_backward(m->rt, &dx, at, dhidden, 1);
}

int sb_model_backward(sb_model *m) {
    const sb_model_config *c = &m->cfg;
    sb_runtime *rt = m->rt;
    int B = m->B, point = 0;
    if (!m->has_loss) return sb_fail(SB_ERR_INVALID, "model backward: the last forward computed no loss");
    // objective -> head output gradients
    sb_tensor d_rec = c->maskrec ? sb_seq(&m->d_rec, B, m->Te - m->K) : m->d_rec;
    sb_tensor d_cls = c->cls ? sb_rows(&m->d_cls, B) : m->d_cls, d_rel = c->rel ? sb_rows(&m->d_rel, B) : m->d_rel;
    SB_TRY(sb_objective_backward(rt, &m->obj, B, c->maskrec ? &m->out_rec : NULL, c->cls ? &m->out_cls : NULL,
                                 c->rel ? &m->out_rel : NULL, &d_rec, &d_cls, &d_rel));
    // heads -> d hidden (B, Te, H); rows no head reads stay 0
    int cur = 0, Te = m->Te;
    sb_tensor dh = sb_seq(&m->d_hidden[cur], B, Te);
    SB_TRY(sb_tensor_fill_f32(rt, &dh, 0.0f));
    if (c->maskrec) {
        sb_gather_layout at = sequence_rows(m, B);
        sb_tensor x = sb_seq(&m->rec_in, B, Te - m->K);
        SB_TRY(head_backward(m, &m->rec, &x, &d_rec, &m->d_rec_in, &at, &dh));
        SB_TRY(grads_ready(m, &point));
    }
    if (c->cls) {
        sb_gather_layout at = token_row(m, B, cls_row(m));
        sb_tensor x = sb_rows(&m->cls_in, B);
        SB_TRY(head_backward(m, &m->cls, &x, &d_cls, &m->d_cls_in, &at, &dh));
        SB_TRY(grads_ready(m, &point));
    }
    if (c->rel) {
        sb_gather_layout at = token_row(m, B, 0);
        sb_tensor x = sb_rows(&m->rel_in, B);
        SB_TRY(head_backward(m, &m->rel, &x, &d_rel, &m->d_rel_in, &at, &dh));
        SB_TRY(grads_ready(m, &point));
    }
    // layers in reverse; an ALBERT layer's gradients add up over its uses
    for (int l = c->n_layers - 1; l >= 0; l--) {
        sb_tensor x = layer_input(m, l, B), dy = sb_seq(&m->d_hidden[cur], B, Te);
        sb_tensor dx = sb_seq(&m->d_hidden[1 - cur], B, Te);
        int acc = c->albert && l < c->n_layers - 1;
        SB_TRY(sb_layer_backward(rt, &m->layer[l], &m->acts[l], &x, &dy, &dx, &m->lg, &m->drop[l], acc));
        if (!c->albert || l == 0) SB_TRY(grads_ready(m, &point));
        cur = 1 - cur;
    }
    // refine, position, embedding
    sb_tensor input = sb_seq(&m->input, B, Te), embed = sb_seq(&m->embed, B, Te);
    sb_tensor d_embed = sb_seq(&m->d_embed, B, Te), dh0 = sb_seq(&m->d_hidden[cur], B, Te);
    SB_TRY(sb_mlp_backward(rt, &m->refine, &embed, &dh0, &d_embed));
    SB_TRY(sb_position_backward(rt, &d_embed, &m->pos->grad, 0));
    SB_TRY(sb_linear_backward(rt, &input, &m->embedding.w->value, &d_embed, NULL, &m->embedding.w->grad,
                              &m->embedding.b->grad, 0, 0));
    return grads_ready(m, &point);
}

// ---- results

_Static_assert(SB_LOSS_TERMS == SB_N_TERMS, "sb_loss_terms order");

int sb_model_loss_counts(const sb_model *m, double counts[SB_LOSS_TERMS]) {
    if (!m->has_loss) return sb_fail(SB_ERR_INVALID, "model loss_counts: the last forward computed no loss");
    for (int i = 0; i < SB_N_TERMS; i++) counts[i] = m->obj.active[i] ? m->obj.count[i] : 0.0;
    return 0;
}

void sb_model_set_loss_share(sb_model *m, const float share[SB_LOSS_TERMS]) {
    for (int i = 0; i < SB_N_TERMS; i++) m->obj.upstream[i] = share ? m->obj.weight[i] * share[i] : m->obj.weight[i];
}

int sb_model_read_losses(sb_model *m, sb_loss_terms *out) {
    memset(out, 0, sizeof *out);
    if (!m->has_loss) return sb_fail(SB_ERR_INVALID, "model read_losses: the last forward computed no loss");
    float *terms[SB_N_TERMS] = {&out->mask_axis, &out->rec_axis, &out->mask_type,
                                &out->rec_type,  &out->prediction, &out->triplet};
    for (int i = 0; i < SB_N_TERMS; i++) {
        if (!m->obj.active[i]) continue;
        float v;
        SB_TRY(sb_tensor_read(m->rt, &m->obj.loss[i], &v));
        *terms[i] = m->obj.weight[i] * v; // as the original: weight * loss, in float
    }
    /* summed in the original's order */
    out->total = 0.0f + out->mask_axis + out->rec_axis + out->mask_type + out->rec_type;
    out->total = out->total + out->prediction;
    out->total = out->total + out->triplet;
    return 0;
}

const sb_tensor *sb_model_rec_output(const sb_model *m) { return m->cfg.maskrec && m->B ? &m->out_rec : NULL; }
const sb_tensor *sb_model_cls_output(const sb_model *m) { return m->cfg.cls && m->B ? &m->out_cls : NULL; }
const sb_tensor *sb_model_rel_output(const sb_model *m) { return m->cfg.rel && m->B ? &m->out_rel : NULL; }
const sb_tensor *sb_model_encoder_output(const sb_model *m) { return m->B ? &m->out_encoder : NULL; }
int sb_model_batch_size(const sb_model *m) { return m->B; }
int sb_model_tokens(const sb_model *m) { return m->Te; }
void sb_model_set_trim(sb_model *m, int on) { m->trim = on != 0; }
size_t sb_model_activation_bytes(const sb_model *m) { return m->act_plan.total_bytes; }

size_t sb_model_saved_activation_bytes(const sb_model *m) {
    size_t bytes = 0;
    for (int i = 0; i < m->act_plan.n; i++) {
        const sb_tensor *t = m->act_plan.tensors[i];
        if (strncmp(t->name, "d_", 2) && strncmp(t->name, "loss.d_", 7) && strncmp(t->name, "att.", 4))
            bytes += sb_tensor_bytes(t);
    }
    return bytes;
}

void sb_model_attention(const sb_model *m, sb_attention_impl *impl, int *chunk) {
    *impl = m->att_impl;
    *chunk = m->att_impl == SB_ATTENTION_CHUNKED ? m->lg.att_chunk : 0;
}
size_t sb_model_param_bytes(const sb_model *m) { return m->param_plan.total_bytes; }
