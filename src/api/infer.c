/* Inference over a set of sketches in chunks of the model's max batch:
 * encoder features (pooled), class logits and top-k, retrieval features.
 * The chunks take the sketches shortest first, so that each is trimmed to
 * about its sketches' length (src/model/model.c), and the results go back
 * to the set's order.
 * Shapes: B sketches in a chunk, Tin = K task tokens + T rows, H hidden. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

static int check_args(const sb_model_handle *m, const sb_sketches *s, const void *out, const char *call) {
    if (!m || !s || !out) return sb_fail(SB_ERR_INVALID, "%s: NULL argument", call);
    if (s->count == 0) return sb_fail(SB_ERR_INVALID, "%s: no sketches", call);
    return 0;
}

typedef struct {
    int length, index;
} by_length;

static int cmp_length(const void *a, const void *b) {
    const by_length *x = a, *y = b;
    if (x->length != y->length) return x->length < y->length ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* The sketches' indices, shortest first (as the model sees them: cut to
 * T - 1 points), ties in the set's order; NULL when out of memory. */
static int *length_order(const sb_model_handle *m, const sb_sketches *s) {
    by_length *l = malloc(sizeof *l * (size_t)s->count);
    int *order = malloc(sizeof *order * (size_t)s->count);
    if (!l || !order) {
        free(l), free(order);
        sb_fail(SB_ERR_MEMORY, "inference: out of host memory for the order of %d sketches", s->count);
        return NULL;
    }
    for (int i = 0; i < s->count; i++)
        l[i] = (by_length){s->n[i] < m->mc.max_length ? s->n[i] : m->mc.max_length, i};
    qsort(l, (size_t)s->count, sizeof *l, cmp_length);
    for (int i = 0; i < s->count; i++) order[i] = l[i].index;
    free(l);
    return order;
}

/* Runs every chunk and copies `which` output's rows (cols floats each) to
 * out, in the set's order. */
static int run_heads(sb_model_handle *m, const sb_sketches *s, const sb_tensor *(*which)(const sb_model *), size_t cols,
                     float *out) {
    int *order = length_order(m, s);
    float *rows = malloc(sizeof *rows * (size_t)m->max_batch * cols);
    int rc = order && rows ? 0 : sb_fail(SB_ERR_MEMORY, "inference: out of host memory");
    for (int first = 0; first < s->count && !rc; first += m->max_batch) {
        int B = s->count - first < m->max_batch ? s->count - first : m->max_batch;
        rc = api_forward(m, s, order, first, B);
        if (!rc) rc = sb_tensor_read(m->ctx->rt, which(m->model), rows);
        for (int r = 0; r < B && !rc; r++)
            memcpy(out + (size_t)order[first + r] * cols, rows + (size_t)r * cols, sizeof *rows * cols);
    }
    free(order), free(rows);
    return rc;
}

sb_status sb_encode(sb_model_handle *m, const sb_sketches *s, sb_pool pool, float *out) {
    SB_TRY(check_args(m, s, out, "sb_encode"));
    if (pool != SB_POOL_MEAN && pool != SB_POOL_FIRST)
        return (sb_status)sb_fail(SB_ERR_INVALID, "sb_encode: unknown pooling %d", (int)pool);
    const int T = m->mc.max_length, Tin = T + m->K, H = sb_model_hidden_size(m);
    float *hidden = malloc(sizeof(float) * (size_t)m->max_batch * (size_t)Tin * (size_t)H);
    double *acc = malloc(sizeof(double) * (size_t)H);
    int *order = length_order(m, s);
    if (!hidden || !acc || !order) {
        free(hidden), free(acc), free(order);
        return (sb_status)sb_fail(SB_ERR_MEMORY, "sb_encode: out of host memory");
    }
    int rc = 0;
    for (int first = 0; first < s->count && !rc; first += m->max_batch) {
        int B = s->count - first < m->max_batch ? s->count - first : m->max_batch;
        rc = api_forward(m, s, order, first, B);
        if (!rc) rc = sb_tensor_read(m->ctx->rt, sb_model_encoder_output(m->model), hidden); // (B, Te, H)
        const int Te = sb_model_tokens(m->model); /* rows past Te are padding */
        for (int b = 0; b < B && !rc; b++) {
            const float *hb = hidden + (size_t)b * Te * H, *lm = m->batch.length_mask + (size_t)b * Tin;
            float *o = out + (size_t)order[first + b] * H;
            if (pool == SB_POOL_FIRST) {
                memcpy(o, hb, sizeof(float) * (size_t)H);
                continue;
            }
            int rows = 0;
            memset(acc, 0, sizeof(double) * (size_t)H);
            for (int t = m->K; t < Te; t++) {
                if (lm[t] == 0.0f) continue;
                rows++;
                for (int h = 0; h < H; h++) acc[h] += hb[(size_t)t * H + h];
            }
            for (int h = 0; h < H; h++) o[h] = (float)(acc[h] / rows);
        }
    }
    free(hidden), free(acc), free(order);
    return (sb_status)rc;
}

static const sb_tensor *cls_out(const sb_model *x) { return sb_model_cls_output(x); }
static const sb_tensor *rel_out(const sb_model *x) { return sb_model_rel_output(x); }

sb_status sb_class_logits(sb_model_handle *m, const sb_sketches *s, float *out) {
    SB_TRY(check_args(m, s, out, "sb_class_logits"));
    SB_TRY(sb_model_require(m, SB_HEAD_CLASSIFY));
    return (sb_status)run_heads(m, s, cls_out, (size_t)m->mc.cls_dim, out);
}

sb_status sb_retrieval_features(sb_model_handle *m, const sb_sketches *s, float *out) {
    SB_TRY(check_args(m, s, out, "sb_retrieval_features"));
    SB_TRY(sb_model_require(m, SB_HEAD_RETRIEVAL));
    return (sb_status)run_heads(m, s, rel_out, (size_t)m->mc.rel_feat_dim, out);
}

sb_status sb_classify(sb_model_handle *m, const sb_sketches *s, int k, int *classes, float *probs) {
    SB_TRY(check_args(m, s, classes, "sb_classify"));
    SB_TRY(sb_model_require(m, SB_HEAD_CLASSIFY));
    const int C = m->mc.cls_dim;
    if (k < 1 || k > C) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_classify: k %d is outside 1..%d classes", k, C);
    float *logits = malloc(sizeof(float) * (size_t)s->count * (size_t)C);
    if (!logits) return (sb_status)sb_fail(SB_ERR_MEMORY, "sb_classify: out of host memory");
    int rc = run_heads(m, s, cls_out, (size_t)C, logits);
    for (int i = 0; i < s->count && !rc; i++) {
        const float *l = logits + (size_t)i * C;
        double mx = l[0], sum = 0;
        for (int c = 1; c < C; c++) mx = l[c] > mx ? l[c] : mx;
        for (int c = 0; c < C; c++) sum += exp((double)l[c] - mx);
        /* selection of the k best: higher logit first, lower index on ties */
        int *cl = classes + (size_t)i * k;
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int c = 0; c < C; c++) {
                int taken = 0;
                for (int q = 0; q < j && !taken; q++) taken = cl[q] == c;
                if (!taken && (best < 0 || l[c] > l[best])) best = c;
            }
            cl[j] = best;
            if (probs) probs[(size_t)i * k + j] = (float)(exp((double)l[best] - mx) / sum);
        }
    }
    free(logits);
    return (sb_status)rc;
}
