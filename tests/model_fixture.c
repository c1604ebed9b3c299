/* Synthetic batches through the data path, and the fixture record format
 * (see model_fixture.h). */
#include "model_fixture.h"

#include <stdlib.h>
#include <string.h>

#include "data/rng.h"
#include "data/sgm_mask.h"
#include "data/transform.h"

// ---- batches

int mf_make_batch(sb_batch *b, int size, int T, int cls_token, int rel_token, int classes, uint64_t seed) {
    int K = cls_token + rel_token, Tin = K + T;
    memset(b, 0, sizeof *b);
    b->size = size, b->tokens = K, b->max_length = T;
    b->input = malloc(sizeof(float) * size * Tin * 5);
    b->stroke = malloc(sizeof(float) * size * T * 5);
    b->mask = malloc(sizeof(float) * size * T * 5);
    b->length_mask = malloc(sizeof(float) * size * Tin);
    b->segment = malloc(sizeof(int32_t) * size * Tin);
    b->label = malloc(sizeof(int32_t) * size);
    b->scratch = malloc(sizeof(int32_t) * T);
    int16_t *points = malloc(sizeof(int16_t) * 3 * (T + 8));
    float *lm = malloc(sizeof(float) * T);
    if (!b->input || !b->stroke || !b->mask || !b->length_mask || !b->segment || !b->label || !b->scratch || !points ||
        !lm) {
        free(points), free(lm);
        return -1;
    }
    sb_transform_config tc = sb_transform_config_default();
    tc.max_length = T;
    sb_rng rng;
    sb_rng_seed(&rng, seed);
    for (int s = 0; s < size; s++) {
        /* a random walk of strokes; n from T / 2 to T + 7 (some truncated) */
        int n = T / 2 + (int)sb_rng_below(&rng, (uint32_t)(T / 2 + 8)), length;
        for (int i = 0; i < n; i++) {
            points[3 * i] = (int16_t)((int)sb_rng_below(&rng, 61) - 30);
            points[3 * i + 1] = (int16_t)((int)sb_rng_below(&rng, 61) - 30);
            points[3 * i + 2] = (int16_t)(i == n - 1 || sb_rng_below(&rng, 5) == 0);
        }
        float *stroke = b->stroke + (size_t)s * T * 5, *mask = b->mask + (size_t)s * T * 5;
        if (sb_transform_sketch(&tc, points, n, stroke, b->segment + (size_t)s * Tin + K, lm, &length) ||
            sb_sgm_mask(SB_MASK_TASK, 0.85, stroke, T, length, seed, 0, (uint64_t)s, mask, b->scratch)) {
            free(points), free(lm);
            return -1;
        }
        float *in = b->input + (size_t)s * Tin * 5, *lmi = b->length_mask + (size_t)s * Tin;
        for (int k = 0; k < K; k++) {
            float token = rel_token && k == 0 ? -2.0f : -1.0f; /* retrieval first */
            for (int c = 0; c < 5; c++) in[k * 5 + c] = token;
            lmi[k] = 1.0f;
            b->segment[(size_t)s * Tin + k] = 0;
        }
        for (int i = 0; i < T * 5; i++) in[K * 5 + i] = stroke[i] * mask[i];
        memcpy(lmi + K, lm, sizeof(float) * T);
        b->label[s] = (int32_t)sb_rng_below(&rng, (uint32_t)classes);
    }
    free(points), free(lm);
    return 0;
}

void mf_free_batch(sb_batch *b) {
    free(b->input), free(b->stroke), free(b->mask), free(b->length_mask), free(b->segment), free(b->label);
    free(b->scratch);
    memset(b, 0, sizeof *b);
}

// ---- records

static int read_u32(FILE *f, uint32_t *v) { return fread(v, 4, 1, f) == 1 ? 0 : -1; }

int mf_load(const char *path, mf_file *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return -1;
    }
    char magic[4];
    int rc = fread(magic, 1, 4, f) == 4 && memcmp(magic, "SBG1", 4) == 0 ? 0 : -1;
    int cap = 0;
    uint32_t len;
    while (!rc && read_u32(f, &len) == 0) {
        if (out->n == cap) {
            cap = cap ? 2 * cap : 64;
            mf_record *grown = realloc(out->recs, sizeof *grown * (size_t)cap);
            if (!grown) { rc = -1; break; }
            out->recs = grown;
        }
        mf_record *r = &out->recs[out->n];
        memset(r, 0, sizeof *r);
        uint32_t dtype, ndim, dim;
        if (len >= sizeof r->name || fread(r->name, 1, len, f) != len || read_u32(f, &dtype) || read_u32(f, &ndim) ||
            ndim > 4) {
            rc = -1;
            break;
        }
        r->dtype = (int)dtype, r->ndim = (int)ndim, r->n = 1;
        for (uint32_t i = 0; i < ndim && !rc; i++) {
            rc = read_u32(f, &dim);
            r->shape[i] = (int)dim, r->n *= dim;
        }
        r->data = malloc(4 * (r->n ? r->n : 1));
        if (rc || !r->data || fread(r->data, 4, r->n, f) != r->n) {
            free(r->data);
            rc = -1;
            break;
        }
        out->n++;
    }
    fclose(f);
    if (rc) fprintf(stderr, "%s: malformed record file (after %d records)\n", path, out->n);
    return rc;
}

const mf_record *mf_find(const mf_file *f, const char *name, size_t n) {
    for (int i = 0; i < f->n; i++) {
        if (strcmp(f->recs[i].name, name) != 0) continue;
        if (f->recs[i].n == n) return &f->recs[i];
        fprintf(stderr, "fixture record %s has %zu elements, expected %zu\n", name, f->recs[i].n, n);
        return NULL;
    }
    fprintf(stderr, "fixture has no record %s\n", name);
    return NULL;
}

void mf_free(mf_file *f) {
    for (int i = 0; i < f->n; i++) free(f->recs[i].data);
    free(f->recs);
    memset(f, 0, sizeof *f);
}

int mf_write(FILE *out, const char *name, int dtype, int ndim, const int *shape, const void *data) {
    uint32_t len = (uint32_t)strlen(name), dt = (uint32_t)dtype, nd = (uint32_t)ndim;
    size_t n = 1;
    int ok = fwrite(&len, 4, 1, out) == 1 && fwrite(name, 1, len, out) == len && fwrite(&dt, 4, 1, out) == 1 &&
             fwrite(&nd, 4, 1, out) == 1;
    for (int i = 0; i < ndim && ok; i++) {
        uint32_t d = (uint32_t)shape[i];
        ok = fwrite(&d, 4, 1, out) == 1;
        n *= (size_t)shape[i];
    }
    return ok && fwrite(data, 4, n, out) == n ? 0 : -1;
}

int mf_write_batch(FILE *out, const sb_batch *b) {
    int B = b->size, T = b->max_length, Tin = b->tokens + T;
    int in_shape[3] = {B, Tin, 5}, s_shape[3] = {B, T, 5}, lm_shape[2] = {B, Tin}, l_shape[1] = {B};
    if (fwrite("SBG1", 1, 4, out) != 4) return -1;
    int rc = mf_write(out, "batch.input", 0, 3, in_shape, b->input);
    if (!rc) rc = mf_write(out, "batch.stroke", 0, 3, s_shape, b->stroke);
    if (!rc) rc = mf_write(out, "batch.mask", 0, 3, s_shape, b->mask);
    if (!rc) rc = mf_write(out, "batch.length_mask", 0, 2, lm_shape, b->length_mask);
    if (!rc) rc = mf_write(out, "batch.label", 1, 1, l_shape, b->label);
    return rc;
}
