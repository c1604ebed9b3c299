/* Golden test: our model against PyTorch. tools/torch_reference.py builds
 * the same model (ALBERT and BERT variants) in PyTorch and writes, for a
 * fixed batch from our data path, the initial parameters, the encoder and
 * head outputs, the weighted loss terms, every parameter gradient and the
 * loss over 10 Adam steps (tests/data/golden_ref.bin). We load the
 * parameters, run forward and backward and compare:
 *   outputs and losses: max normwise relative error <= 1e-5
 *   gradients:          <= 1e-4 per parameter
 *   Adam trajectory:    <= 1e-4 (sb_adam_step, lr 1e-3, per parameter)
 * Usage: test_golden FIXTURE, or test_golden --write-batch PATH to write
 * the batch the fixture is made from. The fixture holds the original's
 * triplet layout (anchors, positives, negatives); our batches interleave
 * the triplets (src/data/dataset.h), so the batch is reordered on the way
 * in and every per-sketch output on the way out. The sizes are the fixture's, so
 * --small changes nothing; it is not run under Oclgrind (minutes there),
 * where test_model covers the same code at small sizes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model_fixture.h"
#include "ops/adam.h"
#include "test_util.h"

#define GOLDEN_B 4 /* triplets: 12 sketches */
#define GOLDEN_STEPS 10

/* The config of tools/torch_reference.py (keep the two in step). */
static sb_model_config golden_config(int albert) {
    sb_model_config c;
    memset(&c, 0, sizeof c);
    c.albert = albert, c.n_layers = 2, c.input_dim = 5, c.max_length = 20;
    for (int l = 0; l < 2; l++) c.heads[l] = 4, c.hidden[l] = 32, c.inter[l] = 64;
    c.embed_dims[0] = 16, c.embed_dims[1] = 24, c.n_embed = 2;
    c.maskrec = c.cls = c.rel = 1;
    c.rec_dims[0] = 16, c.n_rec = 1;
    c.n_cls = 0, c.cls_dim = 7;
    c.n_rel = 0, c.rel_feat_dim = 8;
    c.mask_axis_weight = 1.0f, c.rec_axis_weight = 0.5f, c.mask_type_weight = 1.5f;
    c.rec_type_weight = 0.25f, c.prediction_weight = 0.7f, c.triplet_weight = 1.3f;
    c.triplet_margin = 2.0f;
    return c;
}

static double rel_err_f(const float *got, const float *ref, size_t n) {
    double *r = malloc(n * sizeof *r);
    for (size_t i = 0; i < n; i++) r[i] = ref[i];
    double e = t_rel_err(got, r, n);
    free(r);
    return e;
}

/* Reorders the 3 GOLDEN_B rows of `row` bytes each from the original's
 * sections (anchors, positives, negatives) to interleaved triplets
 * (row 3j + i = section i's row j), or back with `to_sections`. */
static void reorder(void *dst, const void *src, size_t row, int to_sections) {
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < GOLDEN_B; j++) {
            size_t sec = (size_t)(i * GOLDEN_B + j) * row, mix = (size_t)(3 * j + i) * row;
            memcpy((char *)dst + (to_sections ? sec : mix), (const char *)src + (to_sections ? mix : sec), row);
        }
}

/* A device tensor of per-sketch rows (interleaved) vs a fixture record of
 * the same size (sections). */
static void compare(sb_runtime *rt, const mf_file *f, const char *name, const sb_tensor *t, double tol) {
    const mf_record *r = t ? mf_find(f, name, t->numel) : NULL;
    if (!r) {
        t_check_true(name, 0);
        return;
    }
    float *got = t_download(rt, t), *sec = malloc(t->numel * sizeof *sec);
    reorder(sec, got, t->numel / (3 * GOLDEN_B) * sizeof *sec, 1);
    t_check(name, rel_err_f(sec, r->data, r->n), tol);
    free(got), free(sec);
}

/* b's rows reordered from sections to interleaved triplets, into mix (made
 * by mf_make_batch with b's sizes). */
static void interleave_batch(const sb_batch *b, sb_batch *mix) {
    size_t Tin = (size_t)(b->tokens + b->max_length), T = (size_t)b->max_length;
    reorder(mix->input, b->input, Tin * 5 * sizeof(float), 0);
    reorder(mix->stroke, b->stroke, T * 5 * sizeof(float), 0);
    reorder(mix->mask, b->mask, T * 5 * sizeof(float), 0);
    reorder(mix->length_mask, b->length_mask, Tin * sizeof(float), 0);
    reorder(mix->segment, b->segment, Tin * sizeof(int32_t), 0);
    reorder(mix->label, b->label, sizeof(int32_t), 0);
}

static float *loss_vector(const sb_loss_terms *lt, float *v) {
    v[0] = lt->mask_axis, v[1] = lt->rec_axis, v[2] = lt->mask_type, v[3] = lt->rec_type;
    v[4] = lt->prediction, v[5] = lt->triplet, v[6] = lt->total;
    return v;
}

static void run_variant(sb_runtime *rt, const mf_file *f, const sb_batch *batch, const char *variant) {
    sb_model_config c = golden_config(strcmp(variant, "albert") == 0);
    sb_model *m;
    char name[256];
    if (sb_model_create(rt, &c, 3 * GOLDEN_B, &m)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    sb_param *params;
    int n_params, loaded = 0;
    sb_model_params(m, &params, &n_params);
    for (int i = 0; i < n_params; i++) {
        snprintf(name, sizeof name, "%s.param.%s", variant, params[i].name);
        const mf_record *r = mf_find(f, name, params[i].value.numel);
        if (r && !sb_tensor_write(rt, &params[i].value, r->data)) loaded++;
    }
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%s.param.", variant);
    int in_fixture = 0;
    for (int i = 0; i < f->n; i++) in_fixture += !strncmp(f->recs[i].name, prefix, strlen(prefix));
    snprintf(name, sizeof name, "%s: all %d parameters loaded by name (fixture has %d)", variant, n_params, in_fixture);
    t_check_true(name, loaded == n_params && in_fixture == n_params);

    // forward: outputs and losses
    sb_loss_terms lt;
    if (sb_model_forward(m, batch, 0, 0, 0, 1) || sb_model_read_losses(m, &lt) || sb_model_backward(m)) {
        t_check_true(sb_last_error(), 0);
        sb_model_destroy(m);
        return;
    }
    const char *outs[4] = {"encoder", "rec", "cls", "rel"};
    const sb_tensor *ts[4] = {sb_model_encoder_output(m), sb_model_rec_output(m), sb_model_cls_output(m),
                              sb_model_rel_output(m)};
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.out.%s", variant, outs[i]);
        compare(rt, f, name, ts[i], 1e-5);
    }
    float v[7];
    snprintf(name, sizeof name, "%s.loss", variant);
    const mf_record *lr = mf_find(f, name, 7);
    if (lr) {
        const float *ref = lr->data;
        snprintf(name, sizeof name,
                 "%s.loss (weighted terms and total; ours %.6f %.6f %.6f %.6f %.6f %.6f = %.6f)", variant, lt.mask_axis,
                 lt.rec_axis, lt.mask_type, lt.rec_type, lt.prediction, lt.triplet, lt.total);
        t_check(name, rel_err_f(loss_vector(&lt, v), ref, 7), 1e-5);
    } else {
        t_check_true(name, 0);
    }

    // backward: every parameter's gradient, normwise. Two kinds have
    // gradient exactly 0 in exact arithmetic, the key biases (softmax
    // ignores a shift shared by all keys) and the last retrieval bias (the
    // triplet loss ignores a shift shared by all features): both sides hold
    // rounding noise (PyTorch up to 3e-8), so those are checked to be 0 to
    // within 1e-6 of the model's largest gradient instead.
    double scale = 0, worst = 0;
    for (int i = 0; i < n_params; i++) {
        snprintf(name, sizeof name, "%s.grad.%s", variant, params[i].name);
        const mf_record *r = mf_find(f, name, params[i].grad.numel);
        for (size_t j = 0; r && j < r->n; j++) scale = fmax(scale, fabs(((const float *)r->data)[j]));
    }
    for (int i = 0; i < n_params; i++) {
        snprintf(name, sizeof name, "%s.grad.%s", variant, params[i].name);
        const mf_record *r = mf_find(f, name, params[i].grad.numel);
        if (!r) {
            t_check_true(name, 0);
            continue;
        }
        float *g = t_download(rt, &params[i].grad);
        const float *ref = r->data;
        if (strstr(name, ".attention.attention.key.bias") || strstr(name, "net_sketchretrieval.rel_fcs.0.bias")) {
            double most = 0;
            for (size_t j = 0; j < r->n; j++) most = fmax(most, fmax(fabs(g[j]), fabs(ref[j])));
            snprintf(name + strlen(name), sizeof name - strlen(name), " (0 in exact arithmetic: ours and torch's "
                     "largest entry vs the largest gradient)");
            t_check(name, most / scale, 1e-6);
        } else {
            double e = rel_err_f(g, ref, r->n);
            t_check(name, e, 1e-4);
            if (!(e <= worst)) worst = e;
        }
        free(g);
    }
    printf("# %s: largest gradient error %.3g (largest gradient %.3g)\n", variant, worst, scale);

    // 10 Adam steps, lr 1e-3, every parameter; losses before each and after
    // the last
    sb_adam_config adam = {1e-3, 0.9, 0.999, 1e-8, 0.0, 0};
    sb_tensor *state = calloc(2 * (size_t)n_params, sizeof *state);
    float traj[GOLDEN_STEPS + 1];
    int rc = 0;
    for (int i = 0; i < n_params && !rc; i++) {
        state[2 * i] = t_output(rt, "adam_m", SB_F32, params[i].value.ndim, params[i].value.shape);
        state[2 * i + 1] = t_output(rt, "adam_v", SB_F32, params[i].value.ndim, params[i].value.shape);
        rc = sb_tensor_fill_f32(rt, &state[2 * i], 0.0f) || sb_tensor_fill_f32(rt, &state[2 * i + 1], 0.0f);
    }
    for (int s = 0; s <= GOLDEN_STEPS && !rc; s++) {
        rc = sb_model_forward(m, batch, 0, 0, (uint64_t)s, 1) || sb_model_read_losses(m, &lt);
        traj[s] = lt.total;
        if (s == GOLDEN_STEPS || rc) break;
        rc = sb_model_backward(m);
        for (int i = 0; i < n_params && !rc; i++)
            rc = sb_adam_step(rt, &adam, s + 1, &params[i].value, &params[i].grad, &state[2 * i], &state[2 * i + 1]);
    }
    snprintf(name, sizeof name, "%s.trajectory", variant);
    const mf_record *tr = mf_find(f, name, GOLDEN_STEPS + 1);
    if (rc || !tr) {
        t_check_true(rc ? sb_last_error() : name, 0);
    } else {
        const float *ref = tr->data;
        snprintf(name, sizeof name, "%s.trajectory (%d Adam steps: %.6f -> %.6f, torch %.6f -> %.6f)", variant,
                 GOLDEN_STEPS, traj[0], traj[GOLDEN_STEPS], ref[0], ref[GOLDEN_STEPS]);
        t_check(name, rel_err_f(traj, ref, GOLDEN_STEPS + 1), 1e-4);
    }
    free(state);
    sb_model_destroy(m);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write-batch") == 0) {
        sb_batch b;
        FILE *out = fopen(argv[2], "wb");
        int rc = !out || mf_make_batch(&b, 3 * GOLDEN_B, 20, 1, 1, 7, 2020) || mf_write_batch(out, &b);
        if (out && fclose(out)) rc = 1;
        if (!rc) mf_free_batch(&b);
        fprintf(rc ? stderr : stdout, "%s %s\n", rc ? "failed to write" : "wrote", argv[2]);
        return rc;
    }
    sb_runtime *rt = t_init(argc, argv, "test_golden");
    const char *path = NULL;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--small") != 0) path = argv[i];
    mf_file f;
    if (!path || mf_load(path, &f)) {
        t_check_true("load the fixture (usage: test_golden tests/data/golden_ref.bin)", 0);
        return t_finish(rt);
    }
    // the batch: the fixture's copy, which our data path must still produce
    sb_batch b, mix;
    int Tin = 22, N = 3 * GOLDEN_B;
    if (mf_make_batch(&b, N, 20, 1, 1, 7, 2020) || mf_make_batch(&mix, N, 20, 1, 1, 7, 2020)) {
        t_check_true("make batch", 0);
        return t_finish(rt);
    }
    const mf_record *in = mf_find(&f, "batch.input", (size_t)N * Tin * 5);
    const mf_record *lm = mf_find(&f, "batch.length_mask", (size_t)N * Tin);
    const mf_record *st = mf_find(&f, "batch.stroke", (size_t)N * 20 * 5);
    const mf_record *mk = mf_find(&f, "batch.mask", (size_t)N * 20 * 5);
    const mf_record *lb = mf_find(&f, "batch.label", (size_t)N);
    int same = in && lm && st && mk && lb && !memcmp(in->data, b.input, in->n * 4) &&
               !memcmp(lm->data, b.length_mask, lm->n * 4) && !memcmp(st->data, b.stroke, st->n * 4) &&
               !memcmp(mk->data, b.mask, mk->n * 4) && !memcmp(lb->data, b.label, lb->n * 4);
    t_check_true("the fixture's batch is what our data path makes", same);
    if (same) {
        interleave_batch(&b, &mix);
        run_variant(rt, &f, &mix, "albert");
        run_variant(rt, &f, &mix, "bert");
    }
    mf_free_batch(&b);
    mf_free_batch(&mix);
    mf_free(&f);
    return t_finish(rt);
}
