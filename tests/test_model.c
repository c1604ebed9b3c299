/* The whole model's backward vs central finite differences of its forward
 * (float; dropout off, and on with fixed keys), for BERT and ALBERT with all three tasks and both
 * tokens, on a batch smaller than the planned one (views); parameter names
 * and count; config and batch errors; the inference plan against the
 * training plan; the activations saved for the backward per attention
 * form. The comparison with PyTorch is
 * tests/test_golden.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model_fixture.h"
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

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_model");
    check_api(rt);
    check_inference_plan(rt);
    check_saved_memory(rt);
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
