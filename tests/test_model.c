/* The whole model's backward vs central finite differences of its forward
 * (float; dropout off, and on with fixed keys), for BERT and ALBERT with all three tasks and both
 * tokens, on a batch smaller than the planned one (views); parameter names
 * and count; config and batch errors; the inference plan against the
 * training plan; the activations saved for the backward per attention
 * form; length trimming against full length (outputs, and losses and
 * parameters over training steps with dropout). The comparison with
 * PyTorch is
 * tests/test_golden.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model_fixture.h"
#include "ops/adam.h"
#include "test_util.h"

/* A tiny config: 2 layers [2, 8, 12], embed [4, 6], rec [5], cls [] with 3
 * classes, rel [] with 4 features, T 9; every loss weighted, none 1. */
static sb_model_config tiny_config(int albert) {
    sb_model_config c;
    memset(&c, 0, sizeof c);
    c.albert = albert, c.n_layers = 2, c.input_dim = 5, c.max_length = t_small ? 5 : 9;
    for (int l = 0; l < 2; l++) c.heads[l] = 2, c.hidden[l] = t_small ? 4 : 8, c.inter[l] = t_small ? 6 : 12;
    c.embed_dims[0] = 4, c.embed_dims[1] = 6, c.n_embed = 2;
    c.maskrec = c.cls = c.rel = 1;
    c.rec_dims[0] = 5, c.n_rec = 1;
    c.n_cls = 0, c.cls_dim = 3;
    c.n_rel = 0, c.rel_feat_dim = 4;
    c.attention_dropout = c.hidden_dropout = c.output_dropout = 0.1f;
    c.mask_axis_weight = 1.0f, c.rec_axis_weight = 0.5f, c.mask_type_weight = 1.5f;
    c.rec_type_weight = 0.25f, c.prediction_weight = 0.7f, c.triplet_weight = 1.3f;
    c.triplet_margin = 2.0f;
    return c;
}

/* The loss at (seed 1, step 5): with train set, the same dropout masks on
 * every call. */
static float total_loss(sb_model *m, const sb_batch *b, int train) {
    sb_loss_terms lt;
    if (sb_model_forward(m, b, train, 1, 5, 1) || sb_model_read_losses(m, &lt)) return NAN;
    return lt.total;
}

/* Every parameter gets `probes` probes (its first element and random
 * ones); the error is max |fd - analytic| over them, relative to the
 * largest analytic gradient probed. */
static void gradient_check(sb_runtime *rt, int albert, int train) {
    const char *kind = albert ? (train ? "albert with dropout" : "albert") : "bert";
    sb_model_config c = tiny_config(albert);
    sb_batch b;
    /* planned for 6 sketches, run with 3 (one triplet) */
    if (mf_make_batch(&b, 3, c.max_length, 1, 1, c.cls_dim, 7)) {
        t_check_true("make batch", 0);
        return;
    }
    sb_model *m;
    if (sb_model_create(rt, &c, 6, &m) || sb_model_init_params(m, 11)) {
        t_check_true(sb_last_error(), 0);
        mf_free_batch(&b);
        return;
    }
    sb_param *params;
    int n_params;
    sb_model_params(m, &params, &n_params);
    float base = total_loss(m, &b, train);
    if (sb_model_backward(m)) t_check_true(sb_last_error(), 0);
    float **grads = malloc(sizeof *grads * (size_t)n_params);
    for (int i = 0; i < n_params; i++) grads[i] = t_download(rt, &params[i].grad);
    char what[256];
    snprintf(what, sizeof what, "%s: loss is finite (%g)", kind, base);
    t_check_true(what, isfinite(base));

    /* Float forward, h = 3e-3 on parameters of size ~0.3: float rounding
     * of a loss ~ 8 gives ~ 1e-6 / 6e-3 ~ 2e-4 absolute against gradients
     * up to ~1 (measured: 1e-4 to 5e-4); a larger h crosses L1 and hinge
     * kinks (h = 3e-2 gives 2.5e-2 with dropout). Hence 1e-2. */
    const float h = 3e-3f;
    /* under Oclgrind (t_small) every forward is slow: one probe on every
     * fourth parameter */
    int probes = t_small ? 1 : 3, every = t_small ? 4 : 1;
    double max_diff = 0, max_grad = 0;
    int worst = -1;
    for (int i = 0; i < n_params; i += every) {
        float *value = t_download(rt, &params[i].value);
        size_t n = params[i].value.numel;
        for (int k = 0; k < probes; k++) {
            size_t j = k == 0 ? 0 : t_rand_u32() % n;
            float keep = value[j];
            value[j] = keep + h;
            sb_tensor_write(rt, &params[i].value, value);
            float up = total_loss(m, &b, train);
            value[j] = keep - h;
            sb_tensor_write(rt, &params[i].value, value);
            float down = total_loss(m, &b, train);
            value[j] = keep;
            sb_tensor_write(rt, &params[i].value, value);
            double fd = ((double)up - down) / (2.0 * h), d = fabs(fd - grads[i][j]);
            if (!(d <= max_diff)) max_diff = d, worst = i;
            if (fabs(grads[i][j]) > max_grad) max_grad = fabs(grads[i][j]);
        }
        free(value);
    }
    snprintf(what, sizeof what, "%s: backward vs finite differences on %d of %d parameters (worst %s)", kind,
             (n_params + every - 1) / every, n_params,
             worst >= 0 ? params[worst].name : "-");
    t_check(what, max_diff / (max_grad > 0 ? max_grad : 1), 1e-2);

    /* backward overwrites: a second one gives the same gradients */
    int same = 1;
    if (total_loss(m, &b, train) != base || sb_model_backward(m)) same = 0;
    for (int i = 0; i < n_params && same; i++) {
        float *g = t_download(rt, &params[i].grad);
        same = memcmp(g, grads[i], params[i].grad.numel * sizeof(float)) == 0;
        free(g);
    }
    snprintf(what, sizeof what, "%s: a second forward/backward gives the same gradients", kind);
    t_check_true(what, same);

    /* the other of train / eval: the loss changes (dropout) and stays finite */
    sb_loss_terms lt;
    int rc = sb_model_forward(m, &b, !train, 1, 5, 1) || sb_model_read_losses(m, &lt);
    snprintf(what, sizeof what, "%s: the forward with dropout %s differs (loss %g vs %g)", kind, train ? "off" : "on",
             lt.total, base);
    t_check_true(what, !rc && isfinite(lt.total) && lt.total != base);

    for (int i = 0; i < n_params; i++) free(grads[i]);
    free(grads);
    sb_model_destroy(m);
    mf_free_batch(&b);
}

/* What the gradient-ready hook saw: the group numbers in the order they
 * came and each group's gradients read at its point. */
typedef struct {
    sb_runtime *rt;
    sb_param *params;
    const sb_grad_group *groups;
    int seen, in_order;
    float **at_point; /* per parameter */
} ready_log;

static int on_ready(void *ctx, int group) {
    ready_log *r = ctx;
    r->in_order &= group == r->seen++;
    const sb_grad_group *g = &r->groups[group];
    for (int i = g->first; i < g->first + g->count; i++) r->at_point[i] = t_download(r->rt, &r->params[i].grad);
    return 0;
}

/* The gradient-ready points: they split the parameters into groups (each
 * once), come in the documented order (heads, layers last to first, ALBERT's
 * one layer once, embeddings), and a group's gradients read at its point
 * are the backward's final ones. A hook's error ends the backward. */
static void check_grad_ready(sb_runtime *rt, int albert) {
    const char *kind = albert ? "albert" : "bert";
    sb_model_config c = tiny_config(albert);
    sb_batch b;
    sb_model *m;
    if (mf_make_batch(&b, 3, c.max_length, 1, 1, c.cls_dim, 7)) {
        t_check_true("make batch", 0);
        return;
    }
    if (sb_model_create(rt, &c, 3, &m) || sb_model_init_params(m, 11)) {
        t_check_true(sb_last_error(), 0);
        mf_free_batch(&b);
        return;
    }
    ready_log r = {rt, NULL, NULL, 0, 1, NULL};
    int n_params, n_groups;
    sb_model_params(m, &r.params, &n_params);
    sb_model_grad_groups(m, &r.groups, &n_groups);
    char what[160];
    snprintf(what, sizeof what, "%s: %d gradient-ready points (3 heads, %d layer groups, the embeddings)", kind,
             n_groups, albert ? 1 : 2);
    t_check_true(what, n_groups == 3 + (albert ? 1 : 2) + 1);
    int *owner = calloc((size_t)n_params, sizeof *owner), once = 1;
    for (int k = 0; k < n_groups; k++)
        for (int i = r.groups[k].first; i < r.groups[k].first + r.groups[k].count; i++) owner[i]++;
    for (int i = 0; i < n_params; i++) once &= owner[i] == 1;
    snprintf(what, sizeof what, "%s: every parameter in exactly one group", kind);
    t_check_true(what, once);
    const char *want[] = {"net_maskrec.", "net_sketchclsinput.", "net_sketchretrieval.",
                          albert ? "netE.encoder.sketch_layer." : "netE.encoder.layers.1.", "netE.encoder.layers.0.",
                          "netE.embedding."};
    int named = 1;
    for (int k = 0; k < n_groups; k++) {
        const char *w = want[albert && k == 3 ? 3 : albert && k == 4 ? 5 : k];
        named &= strncmp(r.params[r.groups[k].first].name, w, strlen(w)) == 0;
    }
    snprintf(what, sizeof what, "%s: in the backward's order (heads, layers last to first, embeddings)", kind);
    t_check_true(what, named);

    r.at_point = calloc((size_t)n_params, sizeof *r.at_point);
    sb_model_on_grad_ready(m, on_ready, &r);
    int rc = sb_model_forward(m, &b, 1, 1, 5, 1) || sb_model_backward(m);
    snprintf(what, sizeof what, "%s: the hook is called at each point, in order", kind);
    t_check_true(what, !rc && r.seen == n_groups && r.in_order);
    int final = !rc;
    for (int i = 0; i < n_params && final; i++) {
        float *g = t_download(rt, &r.params[i].grad);
        final = r.at_point[i] && !memcmp(g, r.at_point[i], r.params[i].grad.numel * sizeof *g);
        free(g);
    }
    snprintf(what, sizeof what, "%s: each group's gradients at its point are the final ones", kind);
    t_check_true(what, final);
    for (int i = 0; i < n_params; i++) free(r.at_point[i]);
    free(r.at_point), free(owner);
    sb_model_on_grad_ready(m, NULL, NULL);
    mf_free_batch(&b);
    sb_model_destroy(m);
}

/* Names as the original's state_dict keys, shapes (out, in); batch checks
 * and inference; config errors. */
static void check_api(sb_runtime *rt) {
    sb_model_config c = tiny_config(1);
    sb_model *m;
    if (sb_model_create(rt, &c, 3, &m)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    sb_param *p;
    int n;
    sb_model_params(m, &p, &n);
    /* embedding 2, position 1, refine 2 x 2, one shared layer 16, heads 2 x 2 + 2 + 2 */
    t_check_true("albert: parameter count 31", n == 31);
    int found = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(p[i].name, "netE.encoder.sketch_layer.attention.attention.query.weight")) found++;
        if (!strcmp(p[i].name, "netE.pos_embedding.pos_embedding.weight") && p[i].value.shape[0] == c.max_length + 2)
            found++;
        if (!strcmp(p[i].name, "net_maskrec.re_fcs.1.weight") && p[i].value.shape[0] == 5 && p[i].value.shape[1] == 5)
            found++;
        if (!strcmp(p[i].name, "net_sketchclsinput.cls_fcs.0.bias") && p[i].net == SB_NET_CLS) found++;
        if (!strcmp(p[i].name, "netE.embed_refine_net.layers.1.weight") && p[i].value.shape[1] == 6) found++;
    }
    t_check_true("albert: names and shapes as the original state_dict", found == 5);
    sb_model_destroy(m);
    c.albert = 0;
    if (sb_model_create(rt, &c, 6, &m)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    sb_model_params(m, &p, &n);
    found = 0;
    for (int i = 0; i < n; i++) found += !strcmp(p[i].name, "netE.encoder.layers.1.output.norm.bias");
    t_check_true("bert: 47 parameters, netE.encoder.layers.1.output.norm.bias", n == 47 && found == 1);
    sb_batch b;
    if (!mf_make_batch(&b, 9, c.max_length, 1, 1, c.cls_dim, 3)) {
        t_check_error("batch larger than planned rejected", sb_model_forward(m, &b, 0, 0, 0, 1), "planned for");
        b.size = 4;
        t_check_error("triplet batch not a multiple of 3 rejected", sb_model_forward(m, &b, 0, 0, 0, 1),
                      "triplet batch");
        /* inference (no loss): any batch size, the same outputs as with the
         * loss, and no backward */
        sb_param *params;
        int count;
        sb_model_params(m, &params, &count);
        float *with_loss = NULL, *without = NULL;
        b.size = 3;
        if (!sb_model_init_params(m, 5) && !sb_model_forward(m, &b, 0, 0, 0, 1))
            with_loss = t_download(rt, sb_model_rec_output(m));
        b.size = 2;
        int rc = sb_model_forward(m, &b, 0, 0, 0, 0);
        if (!rc) without = t_download(rt, sb_model_rec_output(m));
        /* the GEMMs may block rows differently for 2 and 3 sketches */
        size_t n_out = (size_t)2 * c.max_length * 5;
        double *ref = malloc(n_out * sizeof *ref);
        for (size_t i = 0; with_loss && i < n_out; i++) ref[i] = with_loss[i];
        int ok = with_loss && without && sb_model_batch_size(m) == 2 && sb_model_rec_output(m)->shape[0] == 2;
        t_check("inference forward of 2 sketches vs the first 2 rows of a training forward of 3",
                ok ? t_rel_err(without, ref, n_out) : 1.0, 1e-6);
        free(ref);
        t_check_error("backward after an inference forward rejected", sb_model_backward(m), "no loss");
        free(with_loss), free(without);
        mf_free_batch(&b);
    }
    sb_model_destroy(m);
    sb_model *none = NULL;
    c.heads[1] = 3;
    t_check_error("hidden not divisible by heads rejected", sb_model_create(rt, &c, 3, &none), "not divisible");
    c.heads[1] = 2, c.albert = 1, c.inter[1] = 7;
    t_check_error("albert with differing layers rejected", sb_model_create(rt, &c, 3, &none), "albert");
}

/* What a training forward saves for the backward, per attention form:
 * the chunked form keeps, per layer, the (B * heads, Tin) log-sum-exp where
 * the unfused form keeps the head splits of q, k, v and of the context and
 * the two (B * heads, Tin, Tin) probability tensors. */
static void check_saved_memory(sb_runtime *rt) {
    const char *env = getenv("SKETCHBERT_ATTENTION");
    char *was = env ? strdup(env) : NULL;
    sb_model_config c = tiny_config(0);
    const char *forms[2] = {"unfused", "chunked"};
    size_t saved[2] = {0, 0}, planned[2] = {0, 0};
    int ok = 1, B = 3;
    for (int f = 0; f < 2; f++) {
        sb_model *m = NULL;
        setenv("SKETCHBERT_ATTENTION", forms[f], 1);
        ok &= sb_model_create(rt, &c, B, &m) == 0;
        if (m) saved[f] = sb_model_saved_activation_bytes(m), planned[f] = sb_model_activation_bytes(m);
        sb_model_destroy(m);
    }
    if (was) setenv("SKETCHBERT_ATTENTION", was, 1);
    else unsetenv("SKETCHBERT_ATTENTION");
    free(was);
    size_t Tin = (size_t)c.max_length + 2, H = (size_t)c.hidden[0], heads = (size_t)c.heads[0];
    size_t per_layer = 4 * B * Tin * H + 2 * B * heads * Tin * Tin - B * heads * Tin;
    t_check_true("saved activations: chunked = unfused less the head splits and probabilities, plus lse",
                 ok && saved[0] - saved[1] == (size_t)c.n_layers * per_layer * sizeof(float));
    t_check_true("saved activations below the planned ones", ok && saved[0] < planned[0] && saved[1] < planned[1]);
}

/* A model planned for inference gives the training plan's outputs, bit for
 * bit, in less memory, and refuses dropout, the loss and the backward.
 * BERT with 5 layers, layer 3 of other heads and I: layers 2 and 4 reuse
 * the activations of layer 0, layer 3 needs its own. */
static void check_inference_plan(sb_runtime *rt) {
    sb_model_config c = tiny_config(0);
    c.n_layers = 5;
    for (int l = 2; l < 5; l++) c.heads[l] = c.heads[0], c.hidden[l] = c.hidden[0], c.inter[l] = c.inter[0];
    c.heads[3] = 4, c.inter[3] = c.inter[0] + 3;
    sb_model *train = NULL, *infer = NULL;
    sb_batch b;
    if (mf_make_batch(&b, 3, c.max_length, 1, 1, c.cls_dim, 9)) {
        t_check_true("make batch", 0);
        return;
    }
    if (sb_model_create(rt, &c, 3, &train) || sb_model_create_inference(rt, &c, 3, &infer) ||
        sb_model_init_params(train, 4) || sb_model_init_params(infer, 4)) {
        t_check_true(sb_last_error(), 0);
        goto done;
    }
    printf("# 5 BERT layers, activations: training plan %zu bytes, inference plan %zu\n",
           sb_model_activation_bytes(train), sb_model_activation_bytes(infer));
    t_check_true("inference plan: fewer activation bytes",
                 sb_model_activation_bytes(infer) < sb_model_activation_bytes(train));
    t_check_true("inference plan: parameters without gradients",
                 2 * sb_model_param_bytes(infer) == sb_model_param_bytes(train));
    const sb_tensor *(*outputs[4])(const sb_model *) = {sb_model_encoder_output, sb_model_rec_output,
                                                        sb_model_cls_output, sb_model_rel_output};
    static const char *names[4] = {"encoder", "maskrec", "class", "retrieval"};
    if (sb_model_forward(train, &b, 0, 0, 0, 0) || sb_model_forward(infer, &b, 0, 0, 0, 0)) {
        t_check_true(sb_last_error(), 0);
        goto done;
    }
    for (int i = 0; i < 4; i++) {
        float *want = t_download(rt, outputs[i](train)), *got = t_download(rt, outputs[i](infer));
        size_t n = outputs[i](train)->numel;
        char what[96];
        snprintf(what, sizeof what, "inference plan: %s output bitwise as the training plan's", names[i]);
        t_check_true(what, want && got && outputs[i](infer)->numel == n && memcmp(want, got, n * sizeof *got) == 0);
        free(want), free(got);
    }
    t_check_error("inference plan: dropout rejected", sb_model_forward(infer, &b, 1, 0, 0, 0), "inference");
    t_check_error("inference plan: loss rejected", sb_model_forward(infer, &b, 0, 0, 0, 1), "inference");
    t_check_error("inference plan: backward rejected", sb_model_backward(infer), "no loss");
done:
    sb_model_destroy(train);
    sb_model_destroy(infer);
    mf_free_batch(&b);
}

/* ---- length trimming: the same model trimmed (the default) and not */

/* Cuts sketch s of b to `length` points: later rows padding (mask 0, input 0). */
static void cut_sketch(sb_batch *b, int s, int length) {
    int K = b->tokens, Tin = K + b->max_length;
    float *lm = b->length_mask + (size_t)s * Tin, *in = b->input + (size_t)s * Tin * 5;
    for (int t = K + length; t < Tin; t++) lm[t] = 0.0f, memset(in + 5 * t, 0, 5 * sizeof(float));
}

/* Largest |a - b| over the rows < K + length of each sketch of two encoder
 * outputs (B, Ta, H) and (B, Tb, H). */
static double real_rows_diff(const float *a, int Ta, const float *b, int Tb, const sb_batch *batch, int H) {
    int K = batch->tokens, Tin = K + batch->max_length;
    double d = 0.0;
    for (int s = 0; s < batch->size; s++)
        for (int t = 0; t < Tin && t < Ta && t < Tb; t++) {
            if (t >= K && batch->length_mask[(size_t)s * Tin + t] == 0.0f) continue;
            for (int h = 0; h < H; h++) {
                double e = fabs((double)a[((size_t)s * Ta + t) * H + h] - b[((size_t)s * Tb + t) * H + h]);
                d = e > d ? e : d;
            }
        }
    return d;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double d = 0.0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* Both models' output `out` of the last forward: largest difference, or
 * INFINITY when they differ in size. */
static double output_diff(sb_runtime *rt, const sb_tensor *a, const sb_tensor *b) {
    if (!a || !b || a->numel != b->numel) return INFINITY;
    float *x = t_download(rt, a), *y = t_download(rt, b);
    double d = x && y ? max_abs_diff(x, y, a->numel) : INFINITY;
    free(x), free(y);
    return d;
}

/* Adam moments for every parameter of m, zeroed, in plan. */
static int adam_moments(sb_runtime *rt, sb_model *m, sb_plan *plan, sb_tensor *mom, int cap) {
    sb_param *p;
    int n;
    sb_model_params(m, &p, &n);
    if (2 * n > cap) return -1;
    for (int i = 0; i < 2 * n; i++)
        if (sb_plan_add(plan, &mom[i], "adam", SB_F32, p[i / 2].value.ndim, p[i / 2].value.shape)) return -1;
    if (sb_plan_allocate(rt, plan)) return -1;
    for (int i = 0; i < 2 * n; i++)
        if (sb_tensor_fill_f32(rt, &mom[i], 0.0f)) return -1;
    return 0;
}

/* Largest |a - b| over each parameter's values (grads 0) or gradients
 * (grads 1) of two models into d[i], and the largest |b| into big[i]. */
static int param_diffs(sb_runtime *rt, sb_model *a, sb_model *b, int grads, double *d, double *big) {
    sb_param *pa, *pb;
    int na, nb;
    sb_model_params(a, &pa, &na), sb_model_params(b, &pb, &nb);
    for (int i = 0; i < na && na == nb; i++) {
        const sb_tensor *ta = grads ? &pa[i].grad : &pa[i].value, *tb = grads ? &pb[i].grad : &pb[i].value;
        float *x = t_download(rt, ta), *y = t_download(rt, tb);
        if (!x || !y) na = -1;
        d[i] = x && y ? max_abs_diff(x, y, ta->numel) : INFINITY, big[i] = 0.0;
        for (size_t j = 0; x && y && j < tb->numel; j++) big[i] = fmax(big[i], fabs((double)y[j]));
        free(x), free(y);
    }
    return na == nb ? na : -1;
}

/* The position embedding's gradient is exactly 0 in rows t >= from. */
static int pos_rows_zero(sb_runtime *rt, sb_model *m, int from) {
    sb_param *p;
    int n, ok = 0;
    sb_model_params(m, &p, &n);
    for (int i = 0; i < n; i++) {
        if (strcmp(p[i].name, "netE.pos_embedding.pos_embedding.weight")) continue;
        float *g = t_download(rt, &p[i].grad);
        size_t cols = (size_t)p[i].grad.shape[1];
        ok = g != NULL;
        for (size_t j = (size_t)from * cols; g && j < p[i].grad.numel; j++) ok &= g[j] == 0.0f;
        free(g);
    }
    return ok;
}

enum { TRIM_T = 37, TRIM_B = 6, TRIM_STEPS = 3 };

/* Sketch lengths of the test batches: a mixed one with a full-length
 * sketch and one of length 1 (nothing to trim), and two short ones. */
static const int trim_lengths[3][TRIM_B] = {{TRIM_T, 1, 9, 20, 3, 30}, {1, 7, 12, 5, 11, 2}, {4, 16, 1, 8, 3, 10}};

/* A trimmed and an untrimmed model of config c, the same parameters, over
 * the three batches: inference outputs, then (unless c has maskrec)
 * training steps with dropout and Adam, compared after each. */
static void trim_case(sb_runtime *rt, const char *name, sb_model_config c) {
    int K = c.cls + c.rel, Tin = K + TRIM_T, H = c.hidden[0];
    sb_batch b[3];
    sb_model *m[2] = {NULL, NULL};
    sb_plan plans[2];
    sb_tensor mom[2][128];
    sb_plan_init(&plans[0]), sb_plan_init(&plans[1]);
    int made = 0;
    for (; made < 3; made++) {
        if (mf_make_batch(&b[made], TRIM_B, TRIM_T, c.cls, c.rel, c.cls_dim > 0 ? c.cls_dim : 1, 21 + made)) break;
        for (int s = 0; s < TRIM_B; s++) cut_sketch(&b[made], s, trim_lengths[made][s]);
    }
    for (int t = 0; made == 3 && t < Tin; t++) b[0].length_mask[t] = 1.0f; /* sketch 0 of batch 0: full length */
    int ok = made == 3;
    for (int i = 0; ok && i < 2; i++)
        ok = !sb_model_create(rt, &c, TRIM_B, &m[i]) && !sb_model_init_params(m[i], 17);
    if (!ok) {
        t_check_true(sb_last_error(), 0);
        goto done;
    }
    sb_model_set_trim(m[0], 1), sb_model_set_trim(m[1], 0);
    char what[160];
    // inference: the outputs of the real rows, and the tokens computed
    double out_d = 0.0, enc_d = 0.0;
    int tokens_ok = 1;
    for (int k = 0; k < 3 && ok; k++) {
        int longest = 0; /* the sketches may be shorter than the cut */
        for (int s = 0; s < TRIM_B; s++)
            for (int t = K; t < Tin; t++)
                if (b[k].length_mask[(size_t)s * Tin + t] != 0.0f && t + 1 - K > longest) longest = t + 1 - K;
        ok = !sb_model_forward(m[0], &b[k], 0, 0, 0, 0) && !sb_model_forward(m[1], &b[k], 0, 0, 0, 0);
        if (!ok) break;
        tokens_ok &= sb_model_tokens(m[0]) == K + longest && sb_model_tokens(m[1]) == Tin;
        if (c.cls) out_d = fmax(out_d, output_diff(rt, sb_model_cls_output(m[0]), sb_model_cls_output(m[1])));
        if (c.rel) out_d = fmax(out_d, output_diff(rt, sb_model_rel_output(m[0]), sb_model_rel_output(m[1])));
        float *e0 = t_download(rt, sb_model_encoder_output(m[0])), *e1 = t_download(rt, sb_model_encoder_output(m[1]));
        enc_d = e0 && e1 ? fmax(enc_d, real_rows_diff(e0, sb_model_tokens(m[0]), e1, Tin, &b[k], H)) : INFINITY;
        free(e0), free(e1);
        if (c.maskrec) { /* rec rows of the trimmed forward: the untrimmed one's first rows */
            float *r0 = t_download(rt, sb_model_rec_output(m[0])), *r1 = t_download(rt, sb_model_rec_output(m[1]));
            int T0 = sb_model_tokens(m[0]) - K;
            for (int s = 0; r0 && r1 && s < TRIM_B; s++)
                out_d = fmax(out_d, max_abs_diff(r0 + (size_t)s * T0 * 5, r1 + (size_t)s * TRIM_T * 5,
                                                 (size_t)T0 * 5));
            if (!r0 || !r1) out_d = INFINITY;
            free(r0), free(r1);
        }
    }
    printf("# trim %s: inference max |trimmed - full|: heads %.3g, encoder real rows %.3g\n", name, out_d, enc_d);
    snprintf(what, sizeof what, "trim %s: inference computes K + the longest sketch's tokens", name);
    t_check_true(what, ok && tokens_ok);
    snprintf(what, sizeof what, "trim %s: inference head outputs as at full length", name);
    t_check(what, ok ? out_d : INFINITY, 1e-6);
    snprintf(what, sizeof what, "trim %s: encoder output of the real rows as at full length", name);
    t_check(what, ok ? enc_d : INFINITY, 1e-6);
    if (c.maskrec) { /* the maskrec loss reads padding rows: never trimmed */
        ok = !sb_model_forward(m[0], &b[1], 1, 3, 0, 1);
        snprintf(what, sizeof what, "trim %s: forward with the maskrec loss at full length", name);
        t_check_true(what, ok && sb_model_tokens(m[0]) == Tin);
        goto done;
    }
    // training with dropout: losses and gradients at every step, parameters
    // at the end. Some gradients are 0 in exact arithmetic (the key bias:
    // softmax ignores a shift of a row's scores; for triplets the
    // retrieval bias and what shifts every feature alike), float noise
    // either way, which Adam scales up to steps of about lr: those
    // parameters are compared through their gradients only.
    sb_adam_config adam = {1e-3, 0.9, 0.999, 1e-8, 0.0, 0};
    ok = !adam_moments(rt, m[0], &plans[0], mom[0], 128) && !adam_moments(rt, m[1], &plans[1], mom[1], 128);
    double loss_d = 0.0, grad_d = 0.0, gmax = 0.0, d[64], big[64], gbig[64] = {0};
    int n = 0, pos_zero = 1;
    for (int step = 0; ok && step < TRIM_STEPS; step++) {
        float loss[2];
        for (int i = 0; i < 2 && ok; i++) {
            sb_loss_terms lt;
            ok = !sb_model_forward(m[i], &b[step], 1, 5, (uint64_t)step, 1) && !sb_model_read_losses(m[i], &lt) &&
                 !sb_model_backward(m[i]);
            loss[i] = lt.total;
        }
        ok = ok && (n = param_diffs(rt, m[0], m[1], 1, d, big)) > 0 && n <= 64;
        /* the untrimmed model's padding rows past Te: zero gradient as well */
        int Te = sb_model_tokens(m[0]);
        if (ok) pos_zero &= pos_rows_zero(rt, m[0], Te) && pos_rows_zero(rt, m[1], Te);
        for (int j = 0; ok && j < n; j++) grad_d = fmax(grad_d, d[j]), gbig[j] = fmax(gbig[j], big[j]);
        for (int j = 0; ok && j < n; j++) gmax = fmax(gmax, gbig[j]);
        if (ok) loss_d = fmax(loss_d, fabs((double)loss[0] - loss[1]) / fabs((double)loss[1]));
        for (int i = 0; i < 2 && ok; i++) {
            sb_param *p;
            sb_model_params(m[i], &p, &n);
            for (int j = 0; ok && j < n; j++)
                ok = !sb_adam_step(rt, &adam, step + 1, &p[j].value, &p[j].grad, &mom[i][2 * j], &mom[i][2 * j + 1]);
        }
    }
    double par_d = 0.0, pbig = 0.0;
    int zero = 0;
    ok = ok && param_diffs(rt, m[0], m[1], 0, d, big) == n;
    for (int j = 0; ok && j < n; j++) {
        pbig = fmax(pbig, big[j]);
        if (gbig[j] > 1e-5 * gmax) par_d = fmax(par_d, d[j]);
        else zero++;
    }
    printf("# trim %s: %d training steps with dropout: losses differ by %.3g (relative), gradients by %.3g, "
           "parameters by %.3g (relative to the largest; %d of %d with zero gradients in exact arithmetic left "
           "out)\n", name, TRIM_STEPS, loss_d, grad_d / gmax, par_d / pbig, zero, n);
    if (!ok) t_check_true(sb_last_error(), 0);
    snprintf(what, sizeof what, "trim %s: position rows past Te get exactly zero gradient, trimmed or not", name);
    t_check_true(what, ok && pos_zero);
    snprintf(what, sizeof what, "trim %s: training losses as at full length", name);
    t_check(what, ok ? loss_d : INFINITY, 1e-6);
    /* looser: the later steps' gradients see the parameters left out */
    snprintf(what, sizeof what, "trim %s: gradients as at full length (relative to the largest)", name);
    t_check(what, ok ? grad_d / gmax : INFINITY, 1e-5);
    snprintf(what, sizeof what, "trim %s: parameters after Adam steps as at full length", name);
    t_check(what, ok ? par_d / pbig : INFINITY, 1e-6);
done:
    sb_model_destroy(m[0]), sb_model_destroy(m[1]);
    sb_plan_release(rt, &plans[0]), sb_plan_release(rt, &plans[1]);
    for (int k = 0; k < made && k < 3; k++) mf_free_batch(&b[k]);
}

/* Classification alone, retrieval alone (triplets: 2 per batch), and with
 * maskrec (trimmed for inference only). */
static void check_trim(sb_runtime *rt) {
    sb_model_config c = tiny_config(0);
    c.max_length = TRIM_T;
    c.maskrec = 0, c.rel = 0;
    trim_case(rt, "classification", c);
    c.cls = 0, c.rel = 1;
    trim_case(rt, "retrieval", c);
    c.maskrec = 1, c.cls = 1;
    trim_case(rt, "maskrec", c);
}

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_model");
    check_api(rt);
    check_inference_plan(rt);
    check_saved_memory(rt);
    if (!t_small) check_trim(rt);
    check_grad_ready(rt, 0);
    check_grad_ready(rt, 1);
    /* under Oclgrind ALBERT alone: BERT is ALBERT without the sharing */
    if (!t_small) gradient_check(rt, 0, 0);
    gradient_check(rt, 1, 0);
    /* dropout masks are keyed by (seed, step), so the training forward is
     * a fixed function of the parameters and its backward checkable too */
    if (!t_small) gradient_check(rt, 1, 1);
    return t_finish(rt);
}
