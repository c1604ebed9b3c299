/* sb_index: retrieval features of a collection with their labels, saved
 * and loaded with the model's fingerprint, queried by Euclidean distance
 * (exhaustive, on the host). For models without a retrieval head an index
 * may hold pooled encoder features instead; its fingerprint is then a hash
 * of the model's and the pooling, which is how a loaded file tells which
 * features it holds.
 *
 * The items' sketches are kept too, so that query results can be drawn.
 * The file format: index_file.c. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/index_file.h"

/* x->features: the retrieval head's, or the encoder's pooled by 1 + sb_pool */
enum { FEAT_RETRIEVAL, FEAT_ENCODER_MEAN, FEAT_ENCODER_FIRST, N_FEAT };
static const char *const feature_names[N_FEAT] = {"retrieval", "encoder mean", "encoder first"};

/* The fingerprint of an index of these features made with m. */
static void features_fingerprint(const sb_model_handle *m, int features, char out[33]) {
    if (features == FEAT_RETRIEVAL) {
        memcpy(out, m->fingerprint, 33);
        return;
    }
    uint64_t h[2] = {14695981039346656037ull, 0x9e3779b97f4a7c15ull};
    for (int k = 0; k < 2; k++)
        h[k] = api_fnv(api_fnv(h[k], m->fingerprint, 32), feature_names[features], strlen(feature_names[features]));
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h[0], (unsigned long long)h[1]);
}

static sb_status new_index(const sb_model_handle *m, int features, sb_index **out) {
    sb_index *x = calloc(1, sizeof *x);
    if (!x) return (sb_status)sb_fail(SB_ERR_MEMORY, "index: out of host memory");
    x->features = features;
    if (sb_sketches_create(&x->sk)) {
        free(x);
        return (sb_status)sb_fail(SB_ERR_MEMORY, "index: out of host memory");
    }
    x->dim = features == FEAT_RETRIEVAL ? m->mc.rel_feat_dim : sb_model_hidden_size(m);
    features_fingerprint(m, features, x->fingerprint);
    *out = x;
    return SB_OK;
}

sb_status sb_index_create(const sb_model_handle *m, sb_index **out) {
    if (!m || !out) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_create: NULL argument");
    *out = NULL;
    SB_TRY(sb_model_require(m, SB_HEAD_RETRIEVAL));
    return new_index(m, FEAT_RETRIEVAL, out);
}

sb_status sb_index_create_encoder(const sb_model_handle *m, sb_pool pool, sb_index **out) {
    if (!m || !out) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_create_encoder: NULL argument");
    *out = NULL;
    if (pool != SB_POOL_MEAN && pool != SB_POOL_FIRST)
        return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_create_encoder: unknown pooling %d", (int)pool);
    return new_index(m, FEAT_ENCODER_MEAN + (int)pool, out);
}

const char *sb_index_features(const sb_index *x) { return x ? feature_names[x->features] : NULL; }

void sb_index_destroy(sb_index *x) {
    if (!x) return;
    for (int i = 0; i < x->n; i++) free(x->label[i]);
    free(x->label), free(x->feat);
    sb_sketches_destroy(x->sk);
    free(x);
}

const int16_t *sb_index_points(const sb_index *x, int i, int *n) {
    if (n) *n = 0;
    return x && i >= 0 && i < x->n ? sb_sketches_points(x->sk, i, n) : NULL;
}

/* Appends item x->n: its label and points (features are the caller's). */
static int add_item(sb_index *x, const char *label, const int16_t *points, int n) {
    char *l = strdup(label);
    if (!l) return sb_fail(SB_ERR_MEMORY, "index: out of host memory");
    int rc = sb_sketches_add_i16(x->sk, points, n, NULL);
    if (rc) return free(l), rc;
    x->label[x->n++] = l;
    return 0;
}

int sb_index_size(const sb_index *x) { return x ? x->n : 0; }
const char *sb_index_label(const sb_index *x, int i) { return x && i >= 0 && i < x->n ? x->label[i] : NULL; }

static int same_model(const sb_index *x, const sb_model_handle *m, const char *what) {
    char want[33];
    features_fingerprint(m, x->features, want);
    if (strcmp(x->fingerprint, want) == 0) return 0;
    return sb_fail(SB_ERR_INVALID, "%s was built by another model (index fingerprint %s, model %s gives %s)", what,
                   x->fingerprint, m->path, want);
}

/* The features of s that x holds: out is (count, x->dim). */
static int features_of(const sb_index *x, sb_model_handle *m, const sb_sketches *s, float *out) {
    if (x->features == FEAT_RETRIEVAL) return sb_retrieval_features(m, s, out);
    return sb_encode(m, s, x->features == FEAT_ENCODER_MEAN ? SB_POOL_MEAN : SB_POOL_FIRST, out);
}

static int reserve(sb_index *x, int more) {
    if (x->n + more <= x->cap) return 0;
    if (more > INT_MAX / 2 - x->n) return sb_fail(SB_ERR_INVALID, "index: more than %d items", INT_MAX / 2);
    int cap = x->cap ? x->cap : 64;
    while (cap < x->n + more) cap *= 2;
    float *f = realloc(x->feat, sizeof(float) * (size_t)cap * (size_t)x->dim);
    if (f) x->feat = f;
    char **l = realloc(x->label, sizeof *l * (size_t)cap);
    if (l) x->label = l;
    if (!f || !l) return sb_fail(SB_ERR_MEMORY, "index: out of host memory for %d items", cap);
    x->cap = cap;
    return 0;
}

sb_status sb_index_add(sb_index *x, sb_model_handle *m, const sb_sketches *s) {
    if (!x || !m || !s) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_add: NULL argument");
    SB_TRY(same_model(x, m, "the index"));
    if (s->count == 0) return SB_OK;
    SB_TRY(reserve(x, s->count));
    SB_TRY(features_of(x, m, s, x->feat + (size_t)x->n * x->dim));
    for (int i = 0; i < s->count; i++)
        SB_TRY(add_item(x, s->label[i], s->data + s->start[i], s->n[i]));
    return SB_OK;
}

// ---- file (the format: index_file.c)

/* Which features the index file f holds: those whose fingerprint with m
 * its header has; else retrieval features where m has the head (loading
 * then says the index is another model's). Leaves f at its start. */
static int file_features(const sb_model_handle *m, FILE *f) {
    unsigned char h[API_INDEX_HEADER_BYTES];
    int whole = fread(h, 1, sizeof h, f) == sizeof h;
    rewind(f);
    int has_head = (m->heads & SB_HEAD_RETRIEVAL) != 0;
    for (int k = has_head ? FEAT_RETRIEVAL : FEAT_ENCODER_MEAN; whole && k < N_FEAT; k++) {
        char fp[33];
        features_fingerprint(m, k, fp);
        if (!memcmp(h + API_INDEX_FINGERPRINT_AT, fp, 32)) return k;
    }
    return has_head ? FEAT_RETRIEVAL : FEAT_ENCODER_MEAN;
}

sb_status sb_index_load(const sb_model_handle *m, const char *path, sb_index **out) {
    if (!m || !path || !out) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_load: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return (sb_status)sb_fail(SB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    sb_index *x = NULL;
    int rc = new_index(m, file_features(m, f), &x), want_dim = x ? x->dim : 0;
    if (!rc) rc = api_index_read(x, f, path);
    fclose(f);
    if (!rc) rc = same_model(x, m, path);
    if (!rc && x->dim != want_dim)
        rc = sb_fail(SB_ERR_FORMAT, "%s: features of size %d, the model's are %d", path, x->dim, want_dim);
    if (rc) {
        sb_index_destroy(x);
        return (sb_status)rc;
    }
    *out = x;
    return SB_OK;
}

// ---- query

sb_status sb_index_query(const sb_index *x, sb_model_handle *m, const sb_sketches *s, int k, int *items,
                         float *dists) {
    if (!x || !m || !s || !items) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_query: NULL argument");
    if (k < 1) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_index_query: k %d must be at least 1", k);
    SB_TRY(same_model(x, m, "the index"));
    const int D = x->dim;
    float *q = malloc(sizeof(float) * (size_t)(s->count ? s->count : 1) * (size_t)D);
    double *best = malloc(sizeof(double) * (size_t)k);
    if (!q || !best) {
        free(q), free(best);
        return (sb_status)sb_fail(SB_ERR_MEMORY, "sb_index_query: out of host memory");
    }
    int rc = features_of(x, m, s, q);
    for (int i = 0; i < s->count && !rc; i++) {
        int *it = items + (size_t)i * k;
        for (int j = 0; j < k; j++) it[j] = -1, best[j] = INFINITY;
        /* insertion into the k best so far; strict < keeps the lower item on ties */
        for (int t = 0; t < x->n; t++) {
            double d = 0;
            for (int c = 0; c < D; c++) {
                double e = (double)q[(size_t)i * D + c] - x->feat[(size_t)t * D + c];
                d += e * e;
            }
            if (!(d < best[k - 1])) continue;
            int j = k - 1;
            for (; j > 0 && d < best[j - 1]; j--) best[j] = best[j - 1], it[j] = it[j - 1];
            best[j] = d, it[j] = t;
        }
        for (int j = 0; dists && j < k; j++) dists[(size_t)i * k + j] = (float)sqrt(best[j]);
    }
    free(q), free(best);
    return (sb_status)rc;
}
