/* Dataset over the memmap layout, batch assembly, and the prefetching
 * loader. See dataset.h for the semantics. */
#include "data/dataset.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "data/rng.h"
#include "runtime/error.h"

typedef struct {
    int cls;
    uint32_t n;     /* points */
    uint64_t start; /* first point in the class's split, which may hold over 2^32 */
} sample;

struct sb_dataset {
    sb_dataset_config cfg;
    sb_mm_index idx;
    int n_classes;
    char **names;
    sb_mm_split *maps;     /* per class used */
    sample *samples;
    uint32_t n_samples, skipped;
    uint32_t *class_start, *class_count; /* samples of class c are contiguous */
    int read_ahead;
};

/* ---- opening */

static int read_lines(const char *path, char ***lines, int *n) {
    *lines = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return sb_fail(SB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    char buf[4096];
    int cap = 0, lineno = 0;
    while (fgets(buf, sizeof buf, f)) {
        lineno++;
        size_t len = strlen(buf);
        if (len == sizeof buf - 1 && buf[len - 1] != '\n') {
            fclose(f);
            return sb_fail(SB_ERR_FORMAT, "%s:%d: line too long", path, lineno);
        }
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ')) buf[--len] = '\0';
        if (!len) continue;
        if (*n == cap) {
            if (cap > INT_MAX / 2) {
                fclose(f);
                return sb_fail(SB_ERR_FORMAT, "%s: more than %d lines", path, INT_MAX / 2);
            }
            cap = cap ? 2 * cap : 64;
            char **g = realloc(*lines, (size_t)cap * sizeof *g);
            if (!g) break;
            *lines = g;
        }
        if (!((*lines)[*n] = strdup(buf))) break;
        (*n)++;
    }
    int bad = !feof(f);
    fclose(f);
    if (bad) return sb_fail(SB_ERR_MEMORY, "reading %s: out of host memory", path);
    return 0;
}

static void free_lines(char **lines, int n) {
    for (int i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

/* "dir/cat.dat<TAB>7000" -> "cat" (the original's get_class). */
static int class_of_sum_line(const char *path, int lineno, const char *line, char *name, size_t cap) {
    const char *tab = strchr(line, '\t');
    size_t len = tab ? (size_t)(tab - line) : strlen(line);
    const char *base = line;
    for (size_t i = 0; i < len; i++)
        if (line[i] == '/') base = line + i + 1;
    size_t blen = len - (size_t)(base - line);
    if (blen < 5 || strncmp(base + blen - 4, ".dat", 4) != 0 || blen - 4 >= cap)
        return sb_fail(SB_ERR_FORMAT, "%s:%d: expected '<dir>/<class>.dat<TAB><count>', got '%s'", path, lineno, line);
    memcpy(name, base, blen - 4);
    name[blen - 4] = '\0';
    return 0;
}

static int in_list(char **list, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0) return 1;
    return 0;
}

static int add_class(sb_dataset *d, const char *name) {
    int ci = sb_mm_index_find(&d->idx, name);
    if (ci < 0)
        return sb_fail(SB_ERR_FORMAT, "class %s of %s is not in the offsets index %s/%s", name, d->cfg.sum_path,
                       d->idx.dir, SB_MM_INDEX_FILE);
    const sb_mm_class *mc = &d->idx.classes[ci];
    int c = d->n_classes;
    char **names = realloc(d->names, (size_t)(c + 1) * sizeof *names);
    if (names) d->names = names;
    sb_mm_split *maps = realloc(d->maps, (size_t)(c + 1) * sizeof *maps);
    if (maps) d->maps = maps;
    uint32_t *cs = realloc(d->class_start, (size_t)(c + 1) * sizeof *cs);
    if (cs) d->class_start = cs;
    uint32_t *cc = realloc(d->class_count, (size_t)(c + 1) * sizeof *cc);
    if (cc) d->class_count = cc;
    uint32_t take = mc->count[d->cfg.split];
    if (d->cfg.each_max_samples > 0 && take > (uint32_t)d->cfg.each_max_samples) take = (uint32_t)d->cfg.each_max_samples;
    if (take > UINT32_MAX - 1 - d->n_samples)
        return sb_fail(SB_ERR_INVALID, "class %s: more than %u sketches in all", name, UINT32_MAX - 1);
    sample *s = realloc(d->samples, ((size_t)d->n_samples + take + 1) * sizeof *s);
    if (s) d->samples = s;
    if (!names || !maps || !cs || !cc || !s || !(d->names[c] = strdup(name)))
        return sb_fail(SB_ERR_MEMORY, "out of host memory");
    d->n_classes++;
    SB_TRY(sb_mm_split_open(&d->maps[c], &d->idx, (uint32_t)ci, d->cfg.split));
    d->class_start[c] = d->n_samples;
    for (uint32_t j = 0; j < take; j++) {
        sb_mm_range r = mc->ranges[d->cfg.split][j];
        uint32_t n = (uint32_t)(r.end - r.start);
        if (n == 0 || (d->cfg.input_is_complete && n >= (uint32_t)d->cfg.transform.max_length)) {
            d->skipped++;
            continue;
        }
        d->samples[d->n_samples++] = (sample){c, n, r.start};
    }
    d->class_count[c] = d->n_samples - d->class_start[c];
    return 0;
}

static int load(sb_dataset *d) {
    const sb_dataset_config *cfg = &d->cfg;
    char dir[4096];
    const char *src = cfg->offset_path && *cfg->offset_path ? cfg->offset_path : cfg->sum_path;
    snprintf(dir, sizeof dir, "%s", src);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    SB_TRY(sb_mm_index_load(&d->idx, dir));
    char **limit = NULL, **lines = NULL;
    int n_limit = 0, n_lines = 0, rc = 0;
    if (cfg->cls_limit_path && *cfg->cls_limit_path) rc = read_lines(cfg->cls_limit_path, &limit, &n_limit);
    if (!rc) rc = read_lines(cfg->sum_path, &lines, &n_lines);
    for (int i = 0; !rc && i < n_lines; i++) {
        if (cfg->max_cls_cache > 0 && d->n_classes >= cfg->max_cls_cache) break;
        char name[1024];
        rc = class_of_sum_line(cfg->sum_path, i + 1, lines[i], name, sizeof name);
        if (!rc && (n_limit == 0 || in_list(limit, n_limit, name))) rc = add_class(d, name);
    }
    free_lines(limit, n_limit);
    free_lines(lines, n_lines);
    if (rc) return rc;
    if (d->n_samples == 0)
        return sb_fail(SB_ERR_INVALID, "%s: no sketch in split %s (after the class and length limits)", cfg->sum_path,
                       sb_split_names[cfg->split]);
    if (cfg->triplet) {
        int usable = 0;
        for (int c = 0; c < d->n_classes; c++) usable += d->class_count[c] >= 2;
        if (d->n_classes < 2 || usable < 1)
            return sb_fail(SB_ERR_INVALID, "%s: triplets need two classes and two sketches of a class", cfg->sum_path);
    }
    return 0;
}

static void choose_read_ahead(sb_dataset *d);

int sb_dataset_open(sb_dataset **out, const sb_dataset_config *cfg) {
    *out = NULL;
    if (cfg->split < 0 || cfg->split >= SB_N_SPLITS) return sb_fail(SB_ERR_INVALID, "dataset: bad split %d", cfg->split);
    if (cfg->transform.max_length < 2) return sb_fail(SB_ERR_INVALID, "dataset: max_length must be at least 2");
    if (!(cfg->mask_prob >= 0 && cfg->mask_prob <= 1))
        return sb_fail(SB_ERR_INVALID, "dataset: mask_prob %g is outside [0, 1]", cfg->mask_prob);
    sb_dataset *d = calloc(1, sizeof *d);
    if (!d) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    d->cfg = *cfg;
    int rc = load(d);
    if (rc) {
        sb_dataset_close(d);
        return rc;
    }
    choose_read_ahead(d);
    *out = d;
    return 0;
}

void sb_dataset_close(sb_dataset *d) {
    if (!d) return;
    for (int c = 0; c < d->n_classes; c++) {
        sb_mm_split_close(&d->maps[c]);
        free(d->names[c]);
    }
    free(d->names);
    free(d->maps);
    free(d->samples);
    free(d->class_start);
    free(d->class_count);
    sb_mm_index_free(&d->idx);
    free(d);
}

uint32_t sb_dataset_size(const sb_dataset *d) { return d->n_samples; }
int sb_dataset_num_classes(const sb_dataset *d) { return d->n_classes; }
const char *sb_dataset_class_name(const sb_dataset *d, int cls) {
    return cls >= 0 && cls < d->n_classes ? d->names[cls] : NULL;
}
uint32_t sb_dataset_skipped(const sb_dataset *d) { return d->skipped; }

/* Larger than half the RAM, the files will not stay in the page cache, and
 * the kernel's read-around (128 KiB per fault) mostly reads sketches that
 * no batch asks for soon: random-access advice, then explicit read-ahead
 * of each batch (docs/performance.md: 20x on a 763 MB set with 640 MB of
 * memory). Smaller sets keep read-around, which warms them quickly. */
static void choose_read_ahead(sb_dataset *d) {
    size_t bytes = 0;
    for (int c = 0; c < d->n_classes; c++) bytes += d->maps[c].map_bytes;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    d->read_ahead = d->cfg.read_ahead > 0 ||
                    (d->cfg.read_ahead == 0 && pages > 0 && page > 0 && bytes > (size_t)pages / 2 * (size_t)page);
    for (int c = 0; d->read_ahead && c < d->n_classes; c++)
        if (d->maps[c].map) madvise(d->maps[c].map, d->maps[c].map_bytes, MADV_RANDOM);
}

int sb_dataset_reads_ahead(const sb_dataset *d) { return d->read_ahead; }

void sb_dataset_read_ahead(const sb_dataset *d, const uint32_t *indices, int count) {
    if (!d->read_ahead) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int k = 0; k < count; k++) {
        if (indices[k] >= d->n_samples) continue;
        uint32_t n;
        uintptr_t a = (uintptr_t)sb_dataset_points(d, indices[k], &n, NULL), start = a & ~(page - 1);
        madvise((void *)start, a + 6 * (uintptr_t)n - start, MADV_WILLNEED);
    }
}

const int16_t *sb_dataset_points(const sb_dataset *d, uint32_t i, uint32_t *n, int *label) {
    const sample *s = &d->samples[i];
    *n = s->n;
    if (label) *label = s->cls;
    return d->maps[s->cls].points + 3 * (size_t)s->start;
}

/* ---- batches */

static int tokens_of(const sb_dataset_config *cfg) { return (cfg->cls_token != 0) + (cfg->rel_token != 0); }

int sb_batch_alloc(sb_batch *b, const sb_dataset *d, int batch_size) {
    memset(b, 0, sizeof *b);
    if (batch_size <= 0) return sb_fail(SB_ERR_INVALID, "batch size %d must be positive", batch_size);
    size_t n = (size_t)batch_size * (d->cfg.triplet ? 3 : 1);
    size_t T = (size_t)d->cfg.transform.max_length, Tin = T + (size_t)tokens_of(&d->cfg);
    b->input = malloc(n * Tin * 5 * sizeof(float));
    b->stroke = malloc(n * T * 5 * sizeof(float));
    b->mask = malloc(n * T * 5 * sizeof(float));
    b->length_mask = malloc(n * Tin * sizeof(float));
    b->segment = malloc(n * Tin * sizeof(int32_t));
    b->label = malloc(n * sizeof(int32_t));
    b->index = malloc(n * sizeof(uint32_t));
    b->scratch = malloc(T * sizeof(int32_t));
    if (!b->input || !b->stroke || !b->mask || !b->length_mask || !b->segment || !b->label || !b->index ||
        !b->scratch) {
        sb_batch_free(b);
        return sb_fail(SB_ERR_MEMORY, "batch of %zu sketches: out of host memory", n);
    }
    b->tokens = tokens_of(&d->cfg);
    b->max_length = (int)T;
    return 0;
}

void sb_batch_free(sb_batch *b) {
    free(b->input), free(b->stroke), free(b->mask), free(b->length_mask);
    free(b->segment), free(b->label), free(b->index), free(b->scratch);
    memset(b, 0, sizeof *b);
}

/* Transforms and masks sample i into row r of the batch. */
static int fill_row(const sb_dataset *d, uint32_t i, uint64_t step, sb_batch *b, int r) {
    const sb_dataset_config *cfg = &d->cfg;
    const int T = cfg->transform.max_length, K = b->tokens, Tin = T + K;
    uint32_t n;
    int label, length;
    const int16_t *pts = sb_dataset_points(d, i, &n, &label);
    float *stroke = b->stroke + (size_t)r * T * 5, *mask = b->mask + (size_t)r * T * 5;
    float *input = b->input + (size_t)r * Tin * 5, *lm = b->length_mask + (size_t)r * Tin;
    int32_t *seg = b->segment + (size_t)r * Tin;
    int rc = sb_transform_sketch(&cfg->transform, pts, (int)n, stroke, seg + K, lm + K, &length);
    if (!rc && cfg->apply_mask)
        rc = sb_sgm_mask(cfg->mask_type, cfg->mask_prob, stroke, T, length, cfg->seed, step, i, mask, b->scratch);
    else
        for (int k = 0; k < T * 5; k++) mask[k] = 1.0f;
    if (rc) return sb_fail_context(rc, "class %s, sketch %u", d->names[label], i);
    /* Leading tokens: retrieval (-2s) first, then classification (-1s). */
    int t = 0;
    if (cfg->rel_token) {
        for (int c = 0; c < 5; c++) input[5 * t + c] = -2.0f;
        seg[t] = 0, lm[t++] = 1.0f;
    }
    if (cfg->cls_token) {
        for (int c = 0; c < 5; c++) input[5 * t + c] = -1.0f;
        seg[t] = 0, lm[t++] = 1.0f;
    }
    for (int k = 0; k < T * 5; k++) input[5 * K + k] = stroke[k] * mask[k];
    b->label[r] = label;
    b->index[r] = i;
    return 0;
}

/* Positive (same class, not i) and negative (another class) for anchor i,
 * keyed by (seed, step, i) like the masks. */
static void pick_triplet(const sb_dataset *d, uint32_t i, uint64_t step, uint32_t *pos, uint32_t *neg) {
    sb_rng r;
    sb_rng_seed_key(&r, d->cfg.seed ^ 0x7472697030ull /* "trip0" */, step, i);
    int c = d->samples[i].cls;
    uint32_t start = d->class_start[c], count = d->class_count[c];
    *pos = i;
    if (count >= 2) {
        uint32_t k = sb_rng_below(&r, count - 1);
        *pos = start + k + (start + k >= i); /* skip the anchor itself */
    }
    int nc;
    do nc = (int)sb_rng_below(&r, (uint32_t)d->n_classes - 1), nc += nc >= c;
    while (d->class_count[nc] == 0);
    *neg = d->class_start[nc] + sb_rng_below(&r, d->class_count[nc]);
}

int sb_dataset_fill(const sb_dataset *d, const uint32_t *indices, int count, uint64_t step, sb_batch *out) {
    const int per = d->cfg.triplet ? 3 : 1;
    for (int k = 0; k < count; k++) {
        if (indices[k] >= d->n_samples)
            return sb_fail(SB_ERR_INVALID, "sample %u out of range (dataset has %u)", indices[k], d->n_samples);
        SB_TRY(fill_row(d, indices[k], step, out, per * k));
        if (d->cfg.triplet) {
            uint32_t pos, neg;
            pick_triplet(d, indices[k], step, &pos, &neg);
            SB_TRY(fill_row(d, pos, step, out, 3 * k + 1));
            SB_TRY(fill_row(d, neg, step, out, 3 * k + 2));
        }
    }
    out->size = count * per;
    out->offset = 0, out->global = count;
    return 0;
}

/* ---- loader */

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY };

/* Workers claim steps in order; step s is built in slot s % n_slots, so
 * with n_threads + 1 slots every worker can build one batch while the
 * consumer holds another. The epoch's order is read only under the lock
 * (each worker copies its batch's indices), so a worker that starts the
 * next epoch cannot change the indices another is using. */
struct sb_loader {
    const sb_dataset *d;
    int batch_size, ranks, rank, shuffle, drop_last, n_threads, n_slots, started;
    uint64_t per_epoch;
    uint32_t *order;       /* permutation of the latest claimed step's epoch */
    uint64_t order_epoch;  /* which epoch `order` is for (UINT64_MAX: none) */
    sb_batch *slots;
    uint64_t *slot_step;
    int *slot_state, *slot_rc;
    char (*slot_error)[1024];
    uint64_t produce_step, consume_step;
    int stop, handed_out;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void epoch_order(sb_loader *l, uint64_t epoch) {
    uint32_t n = sb_dataset_size(l->d);
    for (uint32_t i = 0; i < n; i++) l->order[i] = i;
    if (l->shuffle) {
        sb_rng r;
        sb_rng_seed_key(&r, l->d->cfg.seed ^ 0x73687566ull /* "shuf" */, epoch, 0);
        sb_rng_shuffle(&r, (int32_t *)l->order, n);
    }
    l->order_epoch = epoch;
}

static void *worker(void *arg) {
    sb_loader *l = arg;
    uint32_t *idx = malloc((size_t)l->batch_size * sizeof *idx);
    uint32_t n = sb_dataset_size(l->d);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        /* The next step's slot is free once the batch n_slots steps back
         * was consumed (another worker may claim that step meanwhile). */
        int s = (int)(l->produce_step % (uint64_t)l->n_slots);
        while (!l->stop && l->slot_state[s] != SLOT_FREE) {
            pthread_cond_wait(&l->cv, &l->mu);
            s = (int)(l->produce_step % (uint64_t)l->n_slots);
        }
        if (l->stop) break;
        uint64_t step = l->produce_step++;
        /* this rank's slice [lo, lo + count) of the step's global batch */
        uint64_t global = (uint64_t)l->batch_size * (uint64_t)l->ranks;
        uint64_t epoch = step / l->per_epoch, first = (step % l->per_epoch) * global;
        uint64_t gcount = n - first < global ? n - first : global;
        uint64_t lo = (uint64_t)l->rank * (uint64_t)l->batch_size < gcount ? (uint64_t)l->rank * l->batch_size : gcount;
        int count = (int)(gcount - lo < (uint64_t)l->batch_size ? gcount - lo : (uint64_t)l->batch_size);
        if (l->order_epoch != epoch) epoch_order(l, epoch);
        if (idx) memcpy(idx, l->order + first + lo, (size_t)count * sizeof *idx);
        l->slot_state[s] = SLOT_FILLING;
        pthread_mutex_unlock(&l->mu);
        if (idx) sb_dataset_read_ahead(l->d, idx, count);
        int rc = idx ? sb_dataset_fill(l->d, idx, count, step, &l->slots[s]) : sb_fail(SB_ERR_MEMORY, "out of host memory");
        l->slots[s].offset = (int)(lo * (l->d->cfg.triplet ? 3u : 1u)), l->slots[s].global = (int)gcount;
        pthread_mutex_lock(&l->mu);
        /* Error messages are per thread: hand this one to the consumer. */
        if (rc) snprintf(l->slot_error[s], sizeof l->slot_error[s], "%s", sb_last_error());
        l->slot_step[s] = step;
        l->slot_rc[s] = rc;
        l->slot_state[s] = SLOT_READY;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    free(idx);
    return NULL;
}

static void loader_free(sb_loader *l) {
    for (int k = 0; l->slots && k < l->n_slots; k++) sb_batch_free(&l->slots[k]);
    free(l->slots), free(l->slot_step), free(l->slot_state), free(l->slot_rc), free(l->slot_error);
    free(l->threads), free(l->order);
    free(l);
}

static int default_threads(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 5 ? 4 : cores > 2 ? (int)cores - 1 : 1;
}

int sb_loader_open(sb_loader **out, const sb_dataset *d, int batch_size, int shuffle, int drop_last,
                   uint64_t start_step) {
    return sb_loader_open_shard(out, d, batch_size, 1, 0, shuffle, drop_last, start_step);
}

int sb_loader_open_shard(sb_loader **out, const sb_dataset *d, int batch_size, int ranks, int rank, int shuffle,
                         int drop_last, uint64_t start_step) {
    *out = NULL;
    uint32_t n = sb_dataset_size(d);
    if (batch_size <= 0) return sb_fail(SB_ERR_INVALID, "batch_size %d must be positive", batch_size);
    if (ranks < 1 || rank < 0 || rank >= ranks) return sb_fail(SB_ERR_INVALID, "loader: rank %d of %d", rank, ranks);
    uint64_t global = (uint64_t)batch_size * (uint64_t)ranks;
    uint64_t per_epoch = drop_last ? n / global : (n + global - 1) / global;
    if (per_epoch == 0 && ranks > 1)
        return sb_fail(SB_ERR_INVALID, "the global batch, %d ranks x batch_size %d, is larger than the %u sketches of "
                       "the split", ranks, batch_size, n);
    if (per_epoch == 0)
        return sb_fail(SB_ERR_INVALID, "batch_size %d is larger than the %u sketches of the split", batch_size, n);
    sb_loader *l = calloc(1, sizeof *l);
    if (!l) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    l->d = d, l->batch_size = batch_size, l->shuffle = shuffle, l->drop_last = drop_last;
    l->ranks = ranks, l->rank = rank;
    l->per_epoch = per_epoch;
    l->order_epoch = UINT64_MAX;
    l->produce_step = l->consume_step = start_step;
    l->n_threads = d->cfg.loader_threads > 0 ? d->cfg.loader_threads : default_threads();
    l->n_slots = l->n_threads + 1;
    size_t ns = (size_t)l->n_slots;
    l->order = malloc((size_t)n * sizeof *l->order);
    l->slots = calloc(ns, sizeof *l->slots);
    l->slot_step = calloc(ns, sizeof *l->slot_step);
    l->slot_state = calloc(ns, sizeof *l->slot_state);
    l->slot_rc = calloc(ns, sizeof *l->slot_rc);
    l->slot_error = calloc(ns, sizeof *l->slot_error);
    l->threads = calloc((size_t)l->n_threads, sizeof *l->threads);
    int rc = l->order && l->slots && l->slot_step && l->slot_state && l->slot_rc && l->slot_error && l->threads
                 ? 0
                 : sb_fail(SB_ERR_MEMORY, "out of host memory");
    for (int k = 0; !rc && k < l->n_slots; k++) rc = sb_batch_alloc(&l->slots[k], d, batch_size);
    if (rc) {
        loader_free(l);
        return rc;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    while (l->started < l->n_threads && pthread_create(&l->threads[l->started], NULL, worker, l) == 0) l->started++;
    if (!l->started) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        loader_free(l);
        return sb_fail(SB_ERR_MEMORY, "cannot start the data loader thread");
    }
    *out = l;
    return 0;
}

int sb_loader_next(sb_loader *l, const sb_batch **batch, uint64_t *step, uint64_t *epoch) {
    pthread_mutex_lock(&l->mu);
    /* The batch handed out last time is no longer in use: free its slot. */
    if (l->handed_out) {
        l->slot_state[(l->consume_step - 1) % (uint64_t)l->n_slots] = SLOT_FREE;
        pthread_cond_broadcast(&l->cv);
    }
    int s = (int)(l->consume_step % (uint64_t)l->n_slots);
    while (!(l->slot_state[s] == SLOT_READY && l->slot_step[s] == l->consume_step)) pthread_cond_wait(&l->cv, &l->mu);
    int rc = l->slot_rc[s];
    if (rc) {
        sb_fail(rc, "%s", l->slot_error[s]);
        pthread_mutex_unlock(&l->mu);
        return rc;
    }
    *batch = &l->slots[s];
    if (step) *step = l->consume_step;
    if (epoch) *epoch = l->consume_step / l->per_epoch;
    l->consume_step++;
    l->handed_out = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

uint64_t sb_loader_batches_per_epoch(const sb_loader *l) { return l->per_epoch; }
int sb_loader_threads(const sb_loader *l) { return l->started; }

void sb_loader_close(sb_loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    for (int t = 0; t < l->started; t++) pthread_join(l->threads[t], NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    loader_free(l);
}
