/* The public inference API (sketchbert/api.h) on checkpoints made here
 * with the checkpoint API (random weights, a tiny model) and a small
 * memmap dataset: every call's results against the training data path
 * (sb_dataset batches through the internal model: transform, tokens and
 * SGM masks as training), batch-size invariance, top-k and softmax,
 * pooling, the index (save/load/query against brute force, another
 * model refused, a flipped bit refused by its checksum; of pooled encoder
 * features without a retrieval head), completion (the normalisation undone, given and random
 * points), and bad input: missing heads named, empty, malformed and
 * over-long sketches, unknown classes, files that are not checkpoints. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "data/memmap.h"
#include "data/quickdraw.h"
#include "io/safetensors.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/train.h"

enum { T = 20, NCLS = 3, PER_CLASS = 5, N = NCLS * PER_CLASS, H = 16, D = 8 };
static const char *class_names[NCLS] = {"apple", "bee", "cow"};
static sb_runtime *rt;
static char dir[] = "/tmp/sketchbert_test_api_XXXXXX";
static char path[4][512];

static void yaml_of(char *buf, size_t cap, const char *tasks) {
    snprintf(buf, cap,
             "task_types: [%s]\nsum_path: %s/memmap_sum.txt\noffset_path: %s/offsets.sbidx\nmax_length: %d\n"
             "layers_setting: [[2, %d, 24]]\nembed_layers_setting: [16]\nrec_layers_setting: [12]\n"
             "cls_dim: %d\nrel_feat_dim: %d\nnormalization_type: %s\nseed: 7\nget_type: %s\n",
             tasks, dir, dir, T, H, NCLS, D, strstr(tasks, "var") ? "var_scale" : "max_scale",
             strstr(tasks, "retrieval") ? "triplet" : "single");
}

/* A checkpoint of a fresh model (init seed) for the tasks; returns the model. */
static sb_model *make_checkpoint(const char *file, const char *tasks, uint64_t seed, const char *names,
                                 sb_config *cfg_out) {
    char yaml[2048];
    yaml_of(yaml, sizeof yaml, tasks);
    char *clean = strdup(yaml), *v = strstr(clean, "var,");
    if (v) memmove(v, v + 4, strlen(v + 4) + 1); /* "var," only picks the normalisation */
    sb_config cfg;
    sb_config_default(&cfg);
    sb_model_config mc;
    sb_model *m = NULL;
    sb_param *params;
    int n;
    if (sb_config_load_string(&cfg, clean, "test") || sb_model_config_from(&cfg, &mc) ||
        sb_model_create(rt, &mc, N, &m) || sb_model_init_params(m, seed) || sb_model_params(m, &params, &n)) {
        fprintf(stderr, "test_api: %s\n", sb_last_error());
        exit(1);
    }
    char *text;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    sb_config_write_yaml(&cfg, f);
    fclose(f);
    sb_ckpt_model cm = {params, n, NULL, NULL};
    sb_ckpt_counters c = {0};
    if (sb_checkpoint_save(rt, file, &cm, &c, text, names)) {
        fprintf(stderr, "test_api: %s\n", sb_last_error());
        exit(1);
    }
    free(text), free(clean);
    if (cfg_out) *cfg_out = cfg;
    return m;
}

static void make_data(void) {
    sb_mm_writer *w;
    int16_t pts[3 * 40];
    sb_mm_writer_open(&w, dir);
    for (int c = 0; c < NCLS; c++) {
        sb_mm_writer_begin_class(w, class_names[c]);
        for (int k = 0; k < PER_CLASS; k++) {
            int n = c == 1 && k == 2 ? 30 : 3 + (int)(t_rand_u32() % 13); /* one sketch longer than T - 1 */
            for (int j = 0; j < n; j++) {
                pts[3 * j] = (int16_t)((int)(t_rand_u32() % 61) - 30 + 10 * c);
                pts[3 * j + 1] = (int16_t)((int)(t_rand_u32() % 61) - 30);
                pts[3 * j + 2] = (int16_t)(j % 4 == 3 || j == n - 1);
            }
            sb_mm_writer_add(w, SB_SPLIT_TEST, pts, (uint32_t)n);
        }
    }
    if (sb_mm_writer_finish(w)) {
        fprintf(stderr, "test_api: %s\n", sb_last_error());
        exit(1);
    }
}

/* The training data path: every test sketch through sb_dataset into the
 * internal model; outputs copied to the host. */
typedef struct {
    sb_dataset *d;
    sb_batch b;
    float cls[N * NCLS], rel[N * D], rec[N * T * 5], *hidden;
} reference;

static void run_reference(reference *r, sb_model *m, const sb_config *cfg, int mask, uint64_t seed) {
    sb_model_set_trim(m, 0); /* full length: what the API's trimmed, length-sorted chunks must give */
    sb_dataset_config dc = {0};
    dc.sum_path = cfg->sum_path, dc.offset_path = cfg->offset_path, dc.split = SB_SPLIT_TEST;
    dc.transform = sb_transform_config_default();
    dc.transform.max_length = T;
    sb_norm_type_parse(cfg->normalization_type, &dc.transform.normalization);
    dc.mask_type = SB_MASK_TASK, dc.mask_prob = cfg->mask_prob, dc.apply_mask = mask;
    dc.cls_token = sb_config_has_task(cfg, SB_TASK_SKETCHCLSINPUT);
    dc.rel_token = sb_config_has_task(cfg, SB_TASK_SKETCHRETRIEVAL);
    dc.seed = seed;
    uint32_t idx[N];
    for (int i = 0; i < N; i++) idx[i] = (uint32_t)i;
    int K = dc.cls_token + dc.rel_token;
    r->hidden = malloc(sizeof(float) * N * (T + K) * H);
    if (sb_dataset_open(&r->d, &dc) || sb_batch_alloc(&r->b, r->d, N) || sb_dataset_fill(r->d, idx, N, 0, &r->b) ||
        sb_model_forward(m, &r->b, 0, 0, 0, 0) || sb_tensor_read(rt, sb_model_encoder_output(m), r->hidden) ||
        (dc.cls_token && sb_tensor_read(rt, sb_model_cls_output(m), r->cls)) ||
        (dc.rel_token && sb_tensor_read(rt, sb_model_rel_output(m), r->rel)) ||
        sb_tensor_read(rt, sb_model_rec_output(m), r->rec)) {
        fprintf(stderr, "test_api: reference: %s\n", sb_last_error());
        exit(1);
    }
}

static void free_reference(reference *r) {
    sb_batch_free(&r->b);
    sb_dataset_close(r->d);
    free(r->hidden);
}

static double max_rel(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        num = e > num || isnan(e) ? e : num;
        den = fabs((double)b[i]) > den ? fabs((double)b[i]) : den;
    }
    return num / (den > 0 ? den : 1);
}

// ---- the checks

/* The index file's sketch block, damaged: a sketch of 0 points, a byte too
 * many. path is a saved index of the sketches s. The damaged copies lack
 * the checksum trailer (as files written before checksums), so that the
 * structure checks, not the checksum, meet the damage. */
static void check_index_sketch_block(sb_model_handle *m, const char *path, const sb_sketches *s) {
    FILE *f = fopen(path, "rb");
    unsigned char buf[1 << 16];
    size_t size = f ? fread(buf, 1, sizeof buf, f) : 0, points = 0;
    if (f) fclose(f);
    t_check_true("the index ends with its checksum trailer", size > 12 && !memcmp(buf + size - 12, "SBCRC32", 8));
    size -= 12;
    for (int i = 0; i < sb_sketches_count(s); i++) points += (size_t)s->n[i];
    char bad[700];
    snprintf(bad, sizeof bad, "%s.bad", path);
    sb_index *y = NULL;
    size_t last = size - 6 * points - 4; /* the last sketch's point count */
    unsigned char keep = buf[last];
    buf[last] = 0;
    f = fopen(bad, "wb");
    if (f) fwrite(buf, 1, size, f), fclose(f);
    t_check_error("an index sketch of 0 points", sb_index_load(m, bad, &y), "has 0 points");
    buf[last] = keep;
    f = fopen(bad, "wb");
    if (f) fwrite(buf, 1, size + 1, f), fclose(f);
    t_check_error("a byte after the sketches", sb_index_load(m, bad, &y), "do not fill the");
    remove(bad);
}

static void check_model_and_features(sb_context *ctx, sb_model *ref_model, const sb_config *cfg) {
    sb_model_handle *m, *m1;
    t_check_true("open the checkpoint, batches of 4", sb_model_open(ctx, path[0], 4, &m) == SB_OK);
    t_check_true("open it with batches of 1", sb_model_open(ctx, path[0], 1, &m1) == SB_OK);
    t_check_true("all three heads", sb_model_heads(m) == (SB_HEAD_MASKREC | SB_HEAD_CLASSIFY | SB_HEAD_RETRIEVAL));
    t_check_true("sizes", sb_model_max_length(m) == T && sb_model_hidden_size(m) == H &&
                              sb_model_retrieval_dim(m) == D && sb_model_num_classes(m) == NCLS &&
                              sb_model_max_batch(m) == 4);
    t_check_true("class names from the training sum file",
                 !strcmp(sb_model_class_name(m, 0), "apple") && !strcmp(sb_model_class_name(m, 2), "cow") &&
                     sb_model_class_name(m, 3) == NULL && sb_model_class_index(m, "bee") == 1);
    t_check_error("unknown class", sb_model_class_index(m, "dog") < 0 ? SB_ERR_INVALID : 0,
                  "unknown class 'dog' (the model's 3 classes: apple, bee, cow)");
    t_check_true("fingerprint is 32 hex digits, the same when opened again",
                 strlen(sb_model_fingerprint(m)) == 32 && !strcmp(sb_model_fingerprint(m), sb_model_fingerprint(m1)));

    sb_sketches *s;
    sb_sketches_create(&s);
    t_check_true("load the memmap test split", sb_sketches_load(s, dir, NULL, 0) == SB_OK && sb_sketches_count(s) == N);
    t_check_true("labels are the classes", !strcmp(sb_sketches_label(s, 0), "apple") &&
                                                !strcmp(sb_sketches_label(s, N - 1), "cow"));
    t_check_true("one sketch is longer than the model takes", sb_sketches_truncated(s, m) == 1);

    reference r;
    run_reference(&r, ref_model, cfg, 0, 0);
    float logits[N * NCLS], logits1[N * NCLS], rel[N * D], enc[N * H], first[N * H];
    t_check_true("class logits", sb_class_logits(m, s, logits) == SB_OK);
    t_check("logits equal the training data path's (chunks of 4)", max_rel(logits, r.cls, N * NCLS), 1e-5);
    t_check_true("class logits, batches of 1", sb_class_logits(m1, s, logits1) == SB_OK);
    t_check("batches of 1 give the same logits", max_rel(logits1, r.cls, N * NCLS), 1e-5);
    t_check_true("retrieval features", sb_retrieval_features(m, s, rel) == SB_OK);
    t_check("retrieval features equal the training data path's", max_rel(rel, r.rel, N * D), 1e-5);

    /* pooling: the reference hidden states (N, 2 + T, H) with the batch's length mask */
    double mean[N * H];
    float meanf[N * H], firstref[N * H];
    const int Tin = T + 2;
    for (int i = 0; i < N; i++) {
        int rows = 0;
        for (int h = 0; h < H; h++) mean[i * H + h] = 0, firstref[i * H + h] = r.hidden[(size_t)i * Tin * H + h];
        for (int t = 2; t < Tin; t++) {
            if (r.b.length_mask[i * Tin + t] == 0) continue;
            rows++;
            for (int h = 0; h < H; h++) mean[i * H + h] += r.hidden[((size_t)i * Tin + t) * H + h];
        }
        for (int h = 0; h < H; h++) meanf[i * H + h] = (float)(mean[i * H + h] / rows);
    }
    t_check_true("encode, mean", sb_encode(m, s, SB_POOL_MEAN, enc) == SB_OK);
    t_check("mean over the real rows", max_rel(enc, meanf, N * H), 1e-5);
    t_check_true("encode, first", sb_encode(m, s, SB_POOL_FIRST, first) == SB_OK);
    t_check("first row (the retrieval token)", max_rel(first, firstref, N * H), 1e-5);
    t_check_error("bad pooling", sb_encode(m, s, (sb_pool)7, enc), "unknown pooling");

    /* top-k against softmax of the logits */
    int top[N * NCLS];
    float prob[N * NCLS];
    t_check_true("classify, k = all", sb_classify(m, s, NCLS, top, prob) == SB_OK);
    double err = 0;
    int sorted = 1;
    for (int i = 0; i < N; i++) {
        double mx = -INFINITY, sum = 0;
        for (int c = 0; c < NCLS; c++) mx = fmax(mx, logits[i * NCLS + c]);
        for (int c = 0; c < NCLS; c++) sum += exp(logits[i * NCLS + c] - mx);
        for (int j = 0; j < NCLS; j++) {
            double p = exp(logits[i * NCLS + top[i * NCLS + j]] - mx) / sum;
            err = fmax(err, fabs(p - prob[i * NCLS + j]));
            if (j && prob[i * NCLS + j] > prob[i * NCLS + j - 1]) sorted = 0;
        }
    }
    t_check("probabilities are the softmax of the logits", err, 1e-6);
    t_check_true("best first", sorted);
    t_check_error("k above the classes", sb_classify(m, s, NCLS + 1, top, prob), "k 4 is outside 1..3");
    t_check_error("k of 0", sb_classify(m, s, 0, top, prob), "k 0 is outside");

    /* float input is rounded like prepared data: same logits */
    sb_sketches *f;
    sb_sketches_create(&f);
    int n0;
    const int16_t *p0 = sb_sketches_points(s, 0, &n0);
    float pf[3 * 40];
    for (int k = 0; k < 3 * n0; k++) pf[k] = p0[k] + (k % 3 == 2 ? 0.0f : 0.3f);
    float lf[NCLS];
    t_check_true("add float points", sb_sketches_add_f32(f, pf, n0, NULL) == SB_OK && !strcmp(sb_sketches_label(f, 0), ""));
    t_check_true("logits of float input", sb_class_logits(m, f, lf) == SB_OK);
    /* within rounding: alone it is trimmed to its own length, in the set
     * to the longest sketch's, and the chunked attention groups its sums
     * by the length (src/model/model.c) */
    t_check("equal those of the int16 sketch", max_rel(lf, logits, NCLS), 1e-6);

    /* truncation: the long sketch gives what its first T - 1 points give */
    int nl;
    const int16_t *pl = sb_sketches_points(s, PER_CLASS + 2, &nl);
    sb_sketches *cut;
    sb_sketches_create(&cut);
    sb_sketches_add_i16(cut, pl, T - 1, NULL);
    float lc[NCLS];
    t_check_true("the long sketch has 30 points", nl == 30 && sb_sketches_truncated(cut, m) == 0);
    t_check_true("logits of its first T - 1 points", sb_class_logits(m, cut, lc) == SB_OK);
    t_check("equal those of the whole sketch (cut as in training)", max_rel(lc, logits + (PER_CLASS + 2) * NCLS, NCLS),
            1e-6);

    /* SGM masks keyed as training's */
    reference rm;
    run_reference(&rm, ref_model, cfg, 1, 99);
    sb_sketches_set_mask(s, 1, 99);
    float lm[N * NCLS];
    t_check_true("masked logits", sb_class_logits(m, s, lm) == SB_OK);
    t_check("equal the training path's with the same mask seed", max_rel(lm, rm.cls, N * NCLS), 1e-5);
    t_check_true("and differ from unmasked", max_rel(lm, logits, N * NCLS) > 1e-3);
    sb_sketches_set_mask(s, 0, 0);
    free_reference(&rm);

    /* completion: given points against the model's prediction, denormalised */
    int pts[2] = {1, 3}, pen[40];
    unsigned char masked[40];
    float done[3 * 40];
    int n;
    const int16_t *p = sb_sketches_points(s, 0, &n);
    t_check_true("complete two given points", sb_complete(m, s, 0, pts, 2, 0, 0, masked, done, pen) == SB_OK);
    memset(r.b.input + 5 * (2 + 2), 0, 5 * sizeof(float)); /* rows 1 + 1 and 3 + 1 of sketch 0, past 2 tokens */
    memset(r.b.input + 5 * (2 + 4), 0, 5 * sizeof(float));
    r.b.size = 1;
    float rec[T * 5];
    if (sb_model_forward(ref_model, &r.b, 0, 0, 0, 0) || sb_tensor_read(rt, sb_model_rec_output(ref_model), rec))
        printf("NOT OK reference completion: %s\n", sb_last_error());
    double scale[2], shift[2];
    api_denorm(m, p, n + 1 < T ? n + 1 : T, scale, shift);
    float want[6] = {(float)(scale[0] * rec[5 * 2] + shift[0]), (float)(scale[1] * rec[5 * 2 + 1] + shift[1]), 0,
                     (float)(scale[0] * rec[5 * 4] + shift[0]), (float)(scale[1] * rec[5 * 4 + 1] + shift[1]), 0};
    float got[6] = {done[3], done[4], 0, done[9], done[10], 0};
    t_check("predicted dx, dy of the masked points, in the sketch's units", max_rel(got, want, 6), 1e-5);
    int same = 1, flags = 0;
    for (int j = 0; j < n; j++) {
        flags += masked[j];
        if (j != 1 && j != 3)
            same = same && pen[j] == -1 && done[3 * j] == p[3 * j] && done[3 * j + 1] == p[3 * j + 1] &&
                   done[3 * j + 2] == p[3 * j + 2];
    }
    t_check_true("only those two masked; the other points unchanged", same && flags == 2 && masked[1] && masked[3]);
    t_check_true("pen states 0..2 on the masked points", pen[1] >= 0 && pen[1] <= 2 && pen[3] >= 0 && pen[3] <= 2);
    int nn;
    sb_sketches_points(s, 4, &nn);
    t_check_true("complete a random share", sb_complete(m, s, 4, NULL, 0, 0.5, 3, masked, NULL, NULL) == SB_OK);
    flags = 0;
    for (int j = 0; j < nn; j++) flags += masked[j];
    t_check_true("floor(share * points) masked", flags == nn / 2);
    t_check_error("a point past the sketch", sb_complete(m, s, 0, (int[]){n}, 1, 0, 0, NULL, NULL, NULL), "no point");
    t_check_error("a point cut off", sb_complete(m, s, PER_CLASS + 2, (int[]){25}, 1, 0, 0, NULL, NULL, NULL),
                  "is cut off (the model takes 19 points)");
    t_check_error("a bad share", sb_complete(m, s, 0, NULL, 0, 0, 0, NULL, NULL, NULL), "share 0 is outside");
    t_check_error("no such sketch", sb_complete(m, s, N, NULL, 0, 0.5, 0, NULL, NULL, NULL), "no sketch 15");

    /* the retrieval index */
    sb_index *x, *y;
    t_check_true("index the set", sb_index_create(m, &x) == SB_OK && sb_index_add(x, m, s) == SB_OK &&
                                      sb_index_size(x) == N && !strcmp(sb_index_label(x, N - 1), "cow"));
    char ipath[600];
    snprintf(ipath, sizeof ipath, "%s/x.sbindex", dir);
    t_check_true("save and load it", sb_index_save(x, ipath) == SB_OK && sb_index_load(m1, ipath, &y) == SB_OK &&
                                         sb_index_size(y) == N && !strcmp(sb_index_label(y, 7), sb_index_label(x, 7)));
    int items[N * (N + 2)];
    float dist[N * (N + 2)];
    const int k = N + 2;
    t_check_true("query with k above the size", sb_index_query(y, m, s, k, items, dist) == SB_OK);
    double derr = 0;
    int self = 1, tail = 1, order = 1;
    for (int i = 0; i < N; i++) {
        self = self && items[i * k] == i && dist[i * k] == 0;
        tail = tail && items[i * k + N] == -1 && isinf(dist[i * k + N + 1]);
        for (int j = 0; j < N; j++) {
            double d = 0;
            for (int c = 0; c < D; c++) d += pow((double)rel[i * D + c] - rel[items[i * k + j] * D + c], 2);
            derr = fmax(derr, fabs(sqrt(d) - dist[i * k + j]));
            if (j && dist[i * k + j] < dist[i * k + j - 1]) order = 0;
        }
    }
    t_check_true("each sketch finds itself first at distance 0", self);
    t_check("distances are the features' Euclidean distances", derr, 1e-4);
    t_check_true("nearest first; -1 and infinity past the index", order && tail);
    int kept = 1, na, nb;
    for (int i = 0; i < N; i++) {
        const int16_t *pa = sb_index_points(y, i, &na), *pb = sb_sketches_points(s, i, &nb);
        kept = kept && pa && na == nb && !memcmp(pa, pb, sizeof *pa * 3 * (size_t)na);
    }
    t_check_true("the loaded index holds the sketches", kept && sb_index_points(y, N, &na) == NULL && na == 0);
    sb_index_destroy(y);
    check_index_sketch_block(m, ipath, s);

    sb_model_handle *other;
    sb_model_open(ctx, path[1], 4, &other);
    t_check_true("another model has another fingerprint", strcmp(sb_model_fingerprint(m), sb_model_fingerprint(other)));
    t_check_error("loading the index with another model", sb_index_load(other, ipath, &y), "was built by another model");
    t_check_error("querying with another model", sb_index_query(x, other, s, 1, items, dist), "was built by another model");
    t_check_error("adding with another model", sb_index_add(x, other, s), "was built by another model");
    /* a flipped bit in the features: caught by the checksum trailer */
    FILE *fp = fopen(ipath, "r+b");
    int byte = fp && fseek(fp, 70, SEEK_SET) == 0 ? fgetc(fp) : EOF;
    if (fp) fseek(fp, 70, SEEK_SET), fputc(byte ^ 1, fp), fclose(fp);
    t_check_error("a flipped bit in an index", sb_index_load(m, ipath, &y), "do not match the index's checksum");
    fp = fopen(ipath, "r+b");
    if (fp) ftruncate(fileno(fp), 100), fclose(fp);
    t_check_error("a truncated index", sb_index_load(m, ipath, &y), "truncated");
    t_check_error("a file that is no index", sb_index_load(m, path[0], &y), "is not a sketchbert index file");
    sb_index_destroy(x);
    sb_model_close(other);

    /* class names from a list */
    char npath[600];
    snprintf(npath, sizeof npath, "%s/names.txt", dir);
    FILE *nf = fopen(npath, "w");
    fputs("x\ny\n", nf);
    fclose(nf);
    t_check_true("class names from a list; missing ones keep theirs",
                 sb_model_set_class_names(m, npath) == SB_OK && !strcmp(sb_model_class_name(m, 1), "y") &&
                     !strcmp(sb_model_class_name(m, 2), "cow"));

    free_reference(&r);
    sb_sketches_destroy(s), sb_sketches_destroy(f), sb_sketches_destroy(cut);
    sb_model_close(m), sb_model_close(m1);
}

static void check_bad_input(sb_context *ctx) {
    sb_model_handle *m = NULL;
    t_check_error("a missing checkpoint", sb_model_open(ctx, "/nonexistent/x.safetensors", 4, &m), "/nonexistent/x");
    t_check_true("leaves no handle", m == NULL);
    char p[600];
    snprintf(p, sizeof p, "%s/noconfig.safetensors", dir);
    sb_st_writer *w;
    sb_st_writer_open(&w, p);
    sb_st_writer_add(w, "x", SB_ST_F32, 1, (int64_t[]){1}, (float[]){1});
    sb_st_writer_commit(w);
    t_check_error("a safetensors file without a config", sb_model_open(ctx, p, 4, &m), "has no config in its metadata");
    t_check_error("max_batch 0", sb_model_open(ctx, path[0], 0, &m), "max_batch 0");

    t_check_true("a maskrec-only checkpoint (var_scale)", sb_model_open(ctx, path[2], 4, &m) == SB_OK);
    t_check_true("has only maskrec", sb_model_heads(m) == SB_HEAD_MASKREC && sb_model_num_classes(m) == 0 &&
                                         sb_model_retrieval_dim(m) == 0);
    sb_sketches *s;
    sb_sketches_create(&s);
    sb_sketches_load(s, dir, "test", 2);
    t_check_true("--limit per class", sb_sketches_count(s) == 2 * NCLS);
    float out[2 * NCLS * H];
    int top[2 * NCLS];
    sb_index *x;
    t_check_error("classify without the head", sb_classify(m, s, 1, top, out), "has no sketchclsinput head (it has: maskrec)");
    t_check_error("retrieval features without the head", sb_retrieval_features(m, s, out), "has no sketchretrieval head");
    t_check_error("an index without the head", sb_index_create(m, &x), "has no sketchretrieval head (it has: maskrec)");
    t_check_true("encode works without task heads", sb_encode(m, s, SB_POOL_FIRST, out) == SB_OK);
    /* var_scale undone: the transform's rows map back onto the clipped points */
    int n;
    const int16_t *pts = sb_sketches_points(s, 0, &n);
    float st5[T * 5], lmask[T];
    int32_t seg[T];
    int length;
    sb_transform_sketch(&m->transform, pts, n, st5, seg, lmask, &length);
    double scale[2], shift[2], err = 0;
    api_denorm(m, pts, length, scale, shift);
    for (int r = 1; r < length; r++)
        for (int a = 0; a < 2; a++) err = fmax(err, fabs(scale[a] * st5[5 * r + a] + shift[a] - pts[3 * (r - 1) + a]));
    t_check("var_scale normalisation undone", err, 1e-3);
    sb_model_close(m);
    t_check_true("max_scale model", sb_model_open(ctx, path[0], 4, &m) == SB_OK);
    sb_transform_sketch(&m->transform, pts, n, st5, seg, lmask, &length);
    api_denorm(m, pts, length, scale, shift);
    err = 0;
    for (int r = 1; r < length; r++)
        for (int a = 0; a < 2; a++) err = fmax(err, fabs(scale[a] * st5[5 * r + a] + shift[a] - pts[3 * (r - 1) + a]));
    t_check("max_scale normalisation undone", err, 1e-3);

    int16_t bad[6] = {1, 2, 0, 3, 4, 2};
    float big[3] = {40000, 0, 1};
    t_check_error("a sketch with no points", sb_sketches_add_i16(s, bad, 0, NULL), "has 0 points");
    t_check_error("a pen state of 2", sb_sketches_add_i16(s, bad, 2, NULL), "pen state 2 is not 0 or 1");
    t_check_error("a float outside int16", sb_sketches_add_f32(s, big, 1, NULL), "outside int16");
    t_check_true("none of them added", sb_sketches_count(s) == 2 * NCLS);
    t_check_error("an unknown file kind", sb_sketches_load(s, path[0], NULL, 0), "not an .npz, .ndjson or .svg file");
    t_check_error("a bad split", sb_sketches_load(s, dir, "training", 0), "split 'training'");
    t_check_error("a missing npz", sb_sketches_load(s, "/nonexistent/a.npz", NULL, 0), "/nonexistent/a.npz");
    snprintf(p, sizeof p, "%s/x.ndjson", dir);
    FILE *f = fopen(p, "w");
    fputs("{\"word\":\"a\",\"drawing\":[[[0,5],[0,5]]]}\n{\"word\":\"b\",\"drawing\":[]}\n{\"word\":", f);
    fclose(f);
    t_check_error("a malformed ndjson line", sb_sketches_load(s, p, NULL, 0), "x.ndjson:3");
    t_check_true("leaves the set as it was", sb_sketches_count(s) == 2 * NCLS);
    /* SVGs (TU-Berlin layout): simplified as prepare --simplify, so a
     * 100-unit corner becomes (0,0) (255,0) (255,255); labelled by folder */
    snprintf(p, sizeof p, "mkdir -p '%s/svg/house'", dir);
    if (system(p) != 0) printf("# %s failed\n", p);
    for (int k = 1; k <= 2; k++) {
        snprintf(p, sizeof p, "%s/svg/house/%d.svg", dir, k);
        f = fopen(p, "w");
        fputs("<svg viewBox='0 0 800 800'><g transform='translate(50 60)'><path d='M 0 0 L 100 0 L 100 100'/></g></svg>", f);
        fclose(f);
    }
    sb_sketches *sv;
    snprintf(p, sizeof p, "%s/svg", dir);
    int rc = sb_sketches_create(&sv);
    if (!rc) rc = sb_sketches_load(sv, p, NULL, 0);
    const int16_t *sp = rc ? NULL : sb_sketches_points(sv, 1, &n);
    const int16_t corner[9] = {0, 0, 0, 255, 0, 0, 0, 255, 1};
    t_check_true("a folder of class folders of SVGs: simplified, labelled by folder",
                 sp && sb_sketches_count(sv) == 2 && n == 3 && !memcmp(sp, corner, sizeof corner) &&
                     !strcmp(sb_sketches_label(sv, 0), "house"));
    snprintf(p, sizeof p, "%s/svg/house/3.svg", dir);
    f = fopen(p, "w");
    fputs("<svg><path d='M 0 0 C 1'/></svg>", f);
    fclose(f);
    t_check_error("a broken SVG names the file", sb_sketches_load(sv, p, NULL, 0), "house/3.svg:1: svg:");
    t_check_true("... and leaves the set as it was", sb_sketches_count(sv) == 2);
    sb_sketches_destroy(sv);
    t_check_true("no points are a NULL sketch", sb_sketches_points(s, 99, &n) == NULL && n == 0);
    sb_sketches *e;
    sb_sketches_create(&e);
    t_check_error("an empty set", sb_encode(m, e, SB_POOL_MEAN, out), "sb_encode: no sketches");
    t_check_error("a NULL model", sb_class_logits(NULL, s, out), "NULL argument");
    sb_sketches_destroy(e);
    sb_model_close(m);
    sb_sketches_destroy(s);
}

/* An index of pooled encoder features: built with a model that has no
 * retrieval head, loaded back knowing which features it holds, its
 * distances those of sb_encode's features; never taken for a retrieval
 * index (or the other way round). */
static void check_encoder_index(sb_context *ctx) {
    sb_model_handle *pre = NULL, *all = NULL;
    sb_sketches *s = NULL;
    sb_index *x = NULL, *y = NULL;
    char p[600], q[600];
    snprintf(p, sizeof p, "%s/enc.sbindex", dir);
    snprintf(q, sizeof q, "%s/rel.sbindex", dir);
    int ok = sb_model_open(ctx, path[2], 4, &pre) == SB_OK && sb_model_open(ctx, path[0], 4, &all) == SB_OK &&
             sb_sketches_create(&s) == SB_OK && sb_sketches_load(s, dir, "test", 0) == SB_OK;
    t_check_true("an encoder index without a retrieval head: build, save, load",
                 ok && sb_index_create_encoder(pre, SB_POOL_MEAN, &x) == SB_OK && sb_index_add(x, pre, s) == SB_OK &&
                     sb_index_save(x, p) == SB_OK && sb_index_load(pre, p, &y) == SB_OK);
    t_check_true("it knows its features", y && !strcmp(sb_index_features(y), "encoder mean") &&
                                              !strcmp(sb_index_features(x), "encoder mean") && sb_index_size(y) == N);
    enum { K = 2 };
    int items[N * K];
    float dist[N * K], f[N * H];
    t_check_true("query it", y && sb_encode(pre, s, SB_POOL_MEAN, f) == SB_OK &&
                                 sb_index_query(y, pre, s, K, items, dist) == SB_OK);
    double err = 0;
    int same = 1;
    for (int i = 0; i < N; i++) { /* the K nearest by mean-pooled features, lower index on ties */
        double best[K] = {INFINITY, INFINITY};
        int at[K] = {-1, -1};
        for (int t = 0; t < N; t++) {
            double d = 0;
            for (int h = 0; h < H; h++) d += pow((double)f[i * H + h] - f[t * H + h], 2);
            d = sqrt(d);
            if (d < best[0]) best[1] = best[0], at[1] = at[0], best[0] = d, at[0] = t;
            else if (d < best[1]) best[1] = d, at[1] = t;
        }
        for (int j = 0; j < K; j++) {
            err = fmax(err, fabs(best[j] - dist[i * K + j]));
            same = same && items[i * K + j] == at[j];
        }
        same = same && at[0] == i;
    }
    t_check_true("neighbours by the encoder's mean-pooled features, each sketch first", same);
    t_check("their distances", err, 1e-4);
    sb_index_destroy(x), sb_index_destroy(y), x = y = NULL;
    t_check_error("a model with the head refuses it", sb_index_load(all, p, &y), "was built by another model");
    t_check_true("first-row features of a model with the head",
                 sb_index_create_encoder(all, SB_POOL_FIRST, &x) == SB_OK && sb_index_add(x, all, s) == SB_OK &&
                     sb_index_save(x, p) == SB_OK && sb_index_load(all, p, &y) == SB_OK &&
                     !strcmp(sb_index_features(y), "encoder first"));
    sb_index_destroy(x), sb_index_destroy(y), x = y = NULL;
    t_check_true("its retrieval index", sb_index_create(all, &x) == SB_OK && sb_index_add(x, all, s) == SB_OK &&
                                            sb_index_save(x, q) == SB_OK && !strcmp(sb_index_features(x), "retrieval"));
    t_check_error("is refused by the headless model", sb_index_load(pre, q, &y), "was built by another model");
    t_check_error("an unknown pooling", sb_index_create_encoder(pre, (sb_pool)7, &y), "unknown pooling 7");
    sb_index_destroy(x), x = NULL;
    t_check_true("an empty index saves and loads",
                 sb_index_create_encoder(pre, SB_POOL_MEAN, &x) == SB_OK && sb_index_save(x, p) == SB_OK &&
                     sb_index_load(pre, p, &y) == SB_OK && sb_index_size(y) == 0);
    sb_index_destroy(y);
    sb_index_destroy(x);
    sb_sketches_destroy(s);
    sb_model_close(pre), sb_model_close(all);
}

/* Where class names come from: the checkpoint's metadata first, the
 * training sum file for older checkpoints, else generic names; labels
 * match class names with spaces for underscores. */
static void check_class_names(sb_context *ctx) {
    sb_model_handle *m = NULL;
    t_check_true("spaces and underscores match", sb_class_names_match("alarm clock", "alarm_clock") &&
                                                     sb_class_names_match("a_b c", "a b_c") &&
                                                     !sb_class_names_match("alarm clock", "alarm clocks") &&
                                                     !sb_class_names_match("alarm", "alarm_clock") &&
                                                     !sb_class_names_match("Apple", "apple"));
    t_check_true("names from the checkpoint's metadata", sb_model_open(ctx, path[1], 4, &m) == SB_OK &&
                                                             sb_model_class_source(m) == SB_CLASSES_CHECKPOINT &&
                                                             !strcmp(sb_model_class_name(m, 0), "alarm clock"));
    t_check_true("a label with underscores finds its class", sb_model_class_index(m, "alarm_clock") == 0);
    sb_model_close(m), m = NULL;
    /* an older checkpoint whose training data is not there (any more) */
    char sum[600], away[620];
    snprintf(sum, sizeof sum, "%s/memmap_sum.txt", dir);
    snprintf(away, sizeof away, "%s.away", sum);
    int moved = rename(sum, away) == 0;
    t_check_true("no metadata, no sum file: generic names", moved && sb_model_open(ctx, path[0], 4, &m) == SB_OK &&
                                                                sb_model_class_source(m) == SB_CLASSES_GENERIC &&
                                                                !strcmp(sb_model_class_name(m, 2), "class_2"));
    if (moved) rename(away, sum);
    sb_model_close(m), m = NULL;
    t_check_true("no metadata: the sum file", sb_model_open(ctx, path[0], 4, &m) == SB_OK &&
                                                  sb_model_class_source(m) == SB_CLASSES_TRAINING_DATA);
    t_check_true("set names: from the file", sb_model_set_class_names(m, sum) == SB_OK &&
                                                 sb_model_class_source(m) == SB_CLASSES_FILE);
    sb_model_close(m), m = NULL;
    t_check_true("maskrec only: no class source", sb_model_open(ctx, path[2], 4, &m) == SB_OK &&
                                                      sb_model_class_source(m) == SB_CLASSES_NONE);
    sb_model_close(m);
}

/* The points of drawing d converted as the ndjson loader does, simplified
 * first when asked; compared with sketch i of s. */
static int same_points(const sb_sketches *s, int i, const sb_drawing *d, int simplify) {
    sb_drawing simple = {0};
    int16_t *p = NULL;
    uint32_t n = 0;
    int got, ok = (!simplify || !sb_drawing_simplify(d, &simple)) && !sb_drawing_to_stroke3(simplify ? &simple : d, &p, &n);
    const int16_t *q = sb_sketches_points(s, i, &got);
    ok = ok && q && got == (int)n && !memcmp(p, q, 3 * sizeof *p * n);
    free(p);
    sb_drawing_free(&simple);
    return ok;
}

/* Raw QuickDraw drawings in ndjson (screen coordinates with fractions,
 * dense points, time stamps) are simplified as `prepare --simplify` does
 * unless told otherwise; simplified ones are left alone. */
static void check_raw_ndjson(void) {
    enum { RN = 200 };
    float *x, *y, *sx, *sy;
    int *len, *slen;
    sb_drawing raw, simp;
    if (sb_drawing_alloc(&raw, 1, RN, &len, &x, &y) || sb_drawing_alloc(&simp, 1, 4, &slen, &sx, &sy)) exit(1);
    len[0] = RN, slen[0] = 4;
    char p[600];
    snprintf(p, sizeof p, "%s/raw.ndjson", dir);
    FILE *f = fopen(p, "w");
    fputs("{\"word\":\"alarm clock\",\"drawing\":[[[", f);
    for (int i = 0; i < RN; i++) {
        double a = 2 * M_PI * i / (RN - 1);
        x[i] = (float)(int)(100 * (500.25 + 300 * cos(a))) / 100, y[i] = (float)(int)(100 * (400.5 + 200 * sin(a))) / 100;
        fprintf(f, "%s%.2f", i ? "," : "", (double)x[i]);
    }
    fputs("],[", f);
    for (int i = 0; i < RN; i++) fprintf(f, "%s%.2f", i ? "," : "", (double)y[i]);
    fputs("],[", f);
    for (int i = 0; i < RN; i++) fprintf(f, "%s%d", i ? "," : "", 10 * i);
    fputs("]]]}\n{\"word\":\"bee\",\"drawing\":[[[0,255,255,0],[0,0,120,120]]]}\n", f);
    fclose(f);
    const float square[8] = {0, 255, 255, 0, 0, 0, 120, 120};
    memcpy(sx, square, 4 * sizeof *sx), memcpy(sy, square + 4, 4 * sizeof *sy);
    sb_raw_report r;
    sb_sketches *s;
    sb_sketches_create(&s);
    t_check_true("load raw and simplified ndjson", sb_sketches_load(s, p, NULL, 0) == SB_OK && sb_sketches_count(s) == 2);
    sb_sketches_raw_report(s, &r);
    t_check_true("one drawing of two looks raw, for three reasons, and is simplified",
                 r.drawings == 2 && r.raw == 1 && r.timed == 1 && r.fractional == 1 && r.range == 1 && r.dense == 0 &&
                     r.simplified == 1);
    t_check_true("as sb_drawing_simplify does", same_points(s, 0, &raw, 1));
    t_check_true("the simplified drawing as it is", same_points(s, 1, &simp, 0));
    sb_sketches_destroy(s);
    sb_sketches_create(&s);
    sb_sketches_set_simplify(s, SB_SIMPLIFY_NONE);
    sb_sketches_load(s, p, NULL, 0);
    sb_sketches_raw_report(s, &r);
    t_check_true("SB_SIMPLIFY_NONE: counted, kept raw", r.raw == 1 && r.simplified == 0 && same_points(s, 0, &raw, 0));
    sb_sketches_destroy(s);
    sb_sketches_create(&s);
    sb_sketches_set_simplify(s, SB_SIMPLIFY_ALL);
    sb_sketches_load(s, p, NULL, 0);
    sb_sketches_load(s, p, NULL, 1);
    sb_sketches_raw_report(s, &r);
    t_check_true("SB_SIMPLIFY_ALL: every drawing, counts add up over loads",
                 r.drawings == 3 && r.raw == 2 && r.simplified == 3 && same_points(s, 1, &simp, 1));
    sb_sketches_destroy(s);
    sb_drawing_free(&raw), sb_drawing_free(&simp);
}

/* Separate contexts in separate threads at once (the header's promise):
 * each thread opens its own context and model and computes the logits. */
typedef struct {
    float logits[N * NCLS];
    int rc;
} thread_job;

static void *thread_run(void *arg) {
    thread_job *j = arg;
    sb_context *ctx = NULL;
    sb_model_handle *m = NULL;
    sb_sketches *s = NULL;
    j->rc = sb_context_create(&ctx, NULL);
    if (!j->rc) j->rc = sb_model_open(ctx, path[0], 4, &m);
    if (!j->rc) j->rc = sb_sketches_create(&s);
    if (!j->rc) j->rc = sb_sketches_load(s, dir, "test", 0);
    for (int rep = 0; rep < 3 && !j->rc; rep++) j->rc = sb_class_logits(m, s, j->logits);
    sb_sketches_destroy(s);
    sb_model_close(m);
    sb_context_destroy(ctx);
    return NULL;
}

static void check_threads(void) {
    thread_job jobs[3];
    pthread_t th[3];
    for (int t = 0; t < 3; t++) pthread_create(&th[t], NULL, thread_run, &jobs[t]);
    for (int t = 0; t < 3; t++) pthread_join(th[t], NULL);
    int ok = 1;
    for (int t = 0; t < 3; t++) ok = ok && jobs[t].rc == 0;
    t_check_true("three threads, each with its own context, at once", ok);
    if (ok) {
        t_check("they agree", fmax(max_rel(jobs[1].logits, jobs[0].logits, N * NCLS),
                                   max_rel(jobs[2].logits, jobs[0].logits, N * NCLS)), 0);
    }
}

int main(int argc, char **argv) {
    rt = t_init(argc, argv, "api");
    if (!mkdtemp(dir)) return 1;
    make_data();
    const char *names[4] = {"all", "other", "pre", "nohead"};
    for (int i = 0; i < 4; i++) snprintf(path[i], sizeof path[i], "%s/%s.safetensors", dir, names[i]);
    sb_config cfg;
    sb_model *ref = make_checkpoint(path[0], "maskrec, sketchclsinput, sketchretrieval", 1, NULL, &cfg);
    sb_model_destroy(make_checkpoint(path[1], "maskrec, sketchclsinput, sketchretrieval", 2, "alarm clock\nbee\ncow", NULL));
    sb_model_destroy(make_checkpoint(path[2], "var, maskrec", 3, NULL, NULL));
    sb_context *ctx;
    t_check_true("context", sb_context_create(&ctx, NULL) == SB_OK && strlen(sb_context_device(ctx)) > 2);
    check_model_and_features(ctx, ref, &cfg);
    check_bad_input(ctx);
    check_encoder_index(ctx);
    check_class_names(ctx);
    check_raw_ndjson();
    check_threads();
    sb_context_destroy(ctx);
    sb_model_destroy(ref);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("# could not remove %s\n", dir);
    return t_finish(rt);
}
