/* The data-parallel parts of a training step (trainer.h, dist/dist.h).
 *
 * Every loss term is a mean over a selection of the batch, so over the
 * global batch it is sum_r num_r / sum_r count_r. Each rank therefore
 * learns the global counts after its forward (one small sum) and scales
 * its term's gradient by share_r = count_r / count (its backward divides
 * by count_r); the ranks' gradients then add up to the gradient of the
 * global batch's loss, which is what one process with the global batch
 * computes. (With equal counts this is the usual sum divided by N.)
 *
 * The gradients are summed in buckets, one per gradient-ready point of the
 * backward (sb_model_grad_groups: each head, each BERT layer or ALBERT's
 * shared layer, the embeddings), in the backward's order on every rank.
 * At each point the bucket's gradients go to the host without blocking
 * (mapped in place on CPU devices, else read into a host staging buffer),
 * and each bucket whose gradients are there is posted as a non-blocking
 * sum while the backward goes on; after it, the rest is posted and
 * awaited, and staged gradients are written back. The loss contributions
 * ride along. SKETCHBERT_ALLREDUCE_OVERLAP=0 posts every bucket after the
 * backward. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "io/checksum.h"
#include "train/trainer.h"

/* The gradient buckets and where this step's sums stand. */
typedef struct sb_dp_buckets {
    const sb_grad_group *group; /* the buckets, in the backward's order */
    int n;
    int ready, posted;          /* buckets handed to the host / posted, this step */
    cl_event *event;            /* per bucket: set while its gradients are on their way to the host */
    float **host;               /* per parameter: its gradient on the host (mapped, or its place in staging) */
    int mapped, overlap;
    sb_dist_sums *sums;
} sb_dp_buckets;

int sb_dp_start(trainer *tr, int rc) {
    if (tr->ranks <= 1) return rc;
    double failed = rc != 0;
    int rc2 = sb_dist_sum_f64(&failed, 1, "the start");
    if (rc || rc2) return rc ? rc : rc2;
    if (failed > 0)
        return sb_fail(SB_ERR_INVALID, "%g of %d ranks failed to start (their messages say why)", failed, tr->ranks);
    /* every rank must post the same sums in the same order */
    const sb_dp_buckets *b = tr->buckets;
    uint32_t crc = sb_crc32(0, &b->n, sizeof b->n);
    for (int k = 0; k < b->n; k++) crc = sb_crc32(crc, &b->group[k], sizeof b->group[k]);
    for (int i = 0; i < tr->n_params; i++) crc = sb_crc32(crc, &tr->params[i].grad.numel, sizeof(size_t));
    int same;
    SB_TRY(sb_dist_same_u64(crc, &same, "the gradient buckets"));
    return same ? 0 : sb_fail(SB_ERR_INVALID, "the ranks' models differ (rank %d's gradient buckets have CRC-32 "
                              "%08x): do they read the same config?", tr->rank, crc);
}

int sb_dp_agree(trainer *tr, int ran, int *finite, int *stop) {
    double v[SB_LOSS_TERMS + 2] = {0}, mine[SB_LOSS_TERMS] = {0};
    if (ran) SB_TRY(sb_model_loss_counts(tr->model, mine));
    memcpy(v, mine, sizeof mine);
    v[SB_LOSS_TERMS] = !*finite, v[SB_LOSS_TERMS + 1] = *stop != 0;
    SB_TRY(sb_dist_sum_f64(v, SB_LOSS_TERMS + 2, "the loss counts"));
    for (int k = 0; k < SB_LOSS_TERMS; k++) tr->share[k] = v[k] > 0 ? (float)(mine[k] / v[k]) : 0.0f;
    sb_model_set_loss_share(tr->model, tr->share);
    *finite = v[SB_LOSS_TERMS] == 0, *stop = v[SB_LOSS_TERMS + 1] > 0;
    return 0;
}

/* CPU devices share the host's memory: their gradient buffers are mapped
 * (PoCL maps without a copy) and summed in place; other devices go through
 * the staging buffer. SKETCHBERT_MPI_STAGING=1 stages on every device
 * (tests compare the two). */
static int mapped(const trainer *tr) {
    const char *e = getenv("SKETCHBERT_MPI_STAGING");
    const sb_device_info *d = &tr->rt->info;
    return !(e && !strcmp(e, "1")) && !(d->type & CL_DEVICE_TYPE_GPU) && ((d->type & CL_DEVICE_TYPE_CPU) || d->host_unified);
}

/* Bucket `k` has its final gradients on the device (the backward reached
 * its ready point; without a backward, ran = 0, its slice adds zeros):
 * they are mapped or read to the host without blocking, and the event of
 * the last says when they are there. */
static int bucket_ready(trainer *tr, int k, int ran) {
    sb_dp_buckets *b = tr->buckets;
    const sb_grad_group *g = &b->group[k];
    b->ready = k + 1;
    for (int i = g->first; i < g->first + g->count; i++) {
        const sb_tensor *t = &tr->params[i].grad;
        cl_event *ev = ran && i + 1 == g->first + g->count ? &b->event[k] : NULL;
        cl_int err = CL_SUCCESS;
        if (b->mapped) {
            float *v = clEnqueueMapBuffer(tr->rt->queue, t->buf, !ran, CL_MAP_READ | CL_MAP_WRITE, 0,
                                          sb_tensor_bytes(t), 0, NULL, ev, &err);
            if (err == CL_SUCCESS) b->host[i] = v;
        } else if (ran) {
            err = clEnqueueReadBuffer(tr->rt->queue, t->buf, CL_FALSE, 0, sb_tensor_bytes(t), b->host[i], 0, NULL, ev);
        }
        if (err != CL_SUCCESS)
            return sb_fail(SB_ERR_OPENCL, "%s(gradient %s) failed: %s", b->mapped ? "clEnqueueMapBuffer" :
                           "clEnqueueReadBuffer", tr->params[i].name, sb_cl_error_name(err));
        if (!ran) memset(b->host[i], 0, sb_tensor_bytes(t)); /* an empty slice adds nothing */
    }
    if (ran) SB_CL_TRY(clFlush(tr->rt->queue));
    return 0;
}

/* Posts bucket k's sums: gradients that lie back to back on the host (the
 * staging buffer) go as one. */
static int post_bucket(trainer *tr, int k) {
    sb_dp_buckets *b = tr->buckets;
    const sb_grad_group *g = &b->group[k];
    for (int i = g->first, end = g->first + g->count; i < end;) {
        float *v = b->host[i];
        size_t n = tr->params[i++].grad.numel;
        for (; i < end && b->host[i] == v + n; i++) n += tr->params[i].grad.numel;
        SB_TRY(sb_dist_sums_post(b->sums, v, n, "the gradients"));
    }
    return 0;
}

/* Posts, in bucket order, the sums of the buckets whose gradients have
 * reached the host (block: waits for each), then moves the posted sums
 * on. */
static int pump(trainer *tr, int block) {
    sb_dp_buckets *b = tr->buckets;
    for (; b->posted < b->ready; b->posted++) {
        cl_event *ev = &b->event[b->posted];
        if (*ev) {
            cl_int status = CL_COMPLETE;
            cl_int err = block ? clWaitForEvents(1, ev)
                               : clGetEventInfo(*ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
            if (err == CL_SUCCESS && status > CL_COMPLETE) break; /* still on its way */
            if (err == CL_SUCCESS) err = status;
            clReleaseEvent(*ev);
            *ev = NULL;
            if (err != CL_SUCCESS)
                return sb_fail(SB_ERR_OPENCL, "%s(gradient bucket %d of %d) failed: %s", block ? "clWaitForEvents" :
                               "clGetEventInfo", b->posted + 1, b->n, sb_cl_error_name(err));
        }
        SB_TRY(post_bucket(tr, b->posted));
    }
    return sb_dist_sums_test(b->sums, "the gradients");
}

/* The backward's gradient-ready point `group`: that bucket's sum starts
 * as soon as its gradients are on the host, while the backward goes on. */
static int on_grads_ready(void *ctx, int group) {
    trainer *tr = ctx;
    SB_TRY(bucket_ready(tr, group, 1));
    return pump(tr, 0);
}

static int overlap_on(void) {
    const char *e = getenv("SKETCHBERT_ALLREDUCE_OVERLAP");
    return !(e && !strcmp(e, "0"));
}

int sb_dp_open(trainer *tr) {
    tr->rank = sb_dist_rank(), tr->ranks = sb_dist_size();
    tr->counters.ranks = tr->ranks;
    for (int k = 0; k < SB_LOSS_TERMS; k++) tr->share[k] = 1.0f;
    if (tr->ranks <= 1) return 0;
    size_t n = SB_LOSS_TERMS;
    for (int i = 0; i < tr->n_params; i++) n += tr->params[i].grad.numel;
    tr->staging = malloc(n * sizeof *tr->staging);
    tr->staging_n = n;
    sb_dp_buckets *b = tr->buckets = calloc(1, sizeof *b);
    if (!tr->staging || !b) return sb_fail(SB_ERR_MEMORY, "out of host memory for %zu gradients", n);
    sb_model_grad_groups(tr->model, &b->group, &b->n);
    b->event = calloc((size_t)b->n + 1, sizeof *b->event);
    b->host = calloc((size_t)tr->n_params + 1, sizeof *b->host);
    if (!b->event || !b->host) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    SB_TRY(sb_dist_sums_create(&b->sums));
    b->mapped = mapped(tr), b->overlap = overlap_on();
    /* staged: each gradient at its place in the staging buffer, in order */
    float *at = tr->staging;
    for (int i = 0; !b->mapped && i < tr->n_params; at += tr->params[i++].grad.numel) b->host[i] = at;
    if (b->overlap) sb_model_on_grad_ready(tr->model, on_grads_ready, tr);
    return 0;
}

void sb_dp_close(trainer *tr) {
    sb_dp_buckets *b = tr->buckets;
    if (b) {
        for (int k = 0; k < b->n; k++)
            if (b->event && b->event[k]) clReleaseEvent(b->event[k]);
        sb_dist_sums_destroy(b->sums);
        free(b->event), free(b->host), free(b);
    }
    free(tr->staging);
    tr->staging = NULL, tr->staging_n = 0, tr->buckets = NULL;
}

int sb_dp_rank_table(trainer *tr, FILE *out) {
    if (tr->ranks <= 1) return 0;
    char line[256], *all = NULL;
    snprintf(line, sizeof line, "%-20s %4d %5d  %s", sb_dist_host(), tr->rank, sb_dist_local_rank(),
             tr->rt->info.device_name);
    SB_TRY(sb_dist_gather_lines(line, &all, "the rank table"));
    if (out && all) {
        fprintf(out, "%d ranks (%s), global batch %d x %d = %d sketches per step:\n%-20s %4s %5s  %s\n%s\n",
                tr->ranks, sb_dist_library(), tr->ranks, tr->cfg->batch_size, tr->ranks * tr->cfg->batch_size,
                "host", "rank", "local", "device", all);
        const sb_dp_buckets *b = tr->buckets;
        fprintf(out, "gradients summed in %d buckets %s the backward (floats, in its order):", b->n,
                b->overlap ? "overlapped with" : "after");
        for (int k = 0; k < b->n; k++) {
            const sb_grad_group *g = &b->group[k];
            size_t n = 0;
            for (int i = g->first; i < g->first + g->count; i++) n += tr->params[i].grad.numel;
            fprintf(out, " %zu", n);
        }
        fprintf(out, "\n");
        fflush(out);
    }
    free(all);
    return 0;
}

/* Completes the step's sums: the buckets the backward did not hand over
 * (all with the overlap off or an empty slice), in order, then the loss
 * terms; every posted sum awaited; the gradients back on the device. After
 * a failed backward (rc) only what was posted is awaited. */
static int complete(trainer *tr, int ran, int rc, float *terms) {
    sb_dp_buckets *b = tr->buckets;
    while (!rc && b->ready < b->n) rc = bucket_ready(tr, b->ready, ran);
    if (!rc) rc = pump(tr, 1);
    if (!rc) rc = sb_dist_sums_post(b->sums, terms, SB_LOSS_TERMS, "the loss terms");
    int rc2 = sb_dist_sums_wait(b->sums, "the gradients");
    rc = rc ? rc : rc2;
    for (int i = 0; i < tr->n_params; i++) {
        const sb_tensor *g = &tr->params[i].grad;
        if (b->mapped && b->host[i]) {
            cl_int err = clEnqueueUnmapMemObject(tr->rt->queue, g->buf, b->host[i], 0, NULL, NULL);
            if (err != CL_SUCCESS && !rc) rc = sb_fail(SB_ERR_OPENCL, "clEnqueueUnmapMemObject(gradient %s) failed: "
                                                       "%s", tr->params[i].name, sb_cl_error_name(err));
            b->host[i] = NULL;
        } else if (!b->mapped && !rc) {
            rc = sb_tensor_write(tr->rt, g, b->host[i]);
        }
    }
    for (int k = 0; k < b->n; k++)
        if (b->event[k]) clReleaseEvent(b->event[k]), b->event[k] = NULL;
    b->ready = b->posted = 0;
    return rc;
}

int sb_dp_reduce(trainer *tr, int ran, int rc, sb_loss_terms *lt) {
    /* the loss contributions ride along at the end of the staging buffer */
    float *terms = tr->staging + tr->staging_n - SB_LOSS_TERMS;
    float *v[SB_LOSS_TERMS] = {&lt->mask_axis, &lt->rec_axis, &lt->mask_type, &lt->rec_type, &lt->prediction,
                               &lt->triplet};
    for (int k = 0; k < SB_LOSS_TERMS; k++) terms[k] = ran && !rc ? *v[k] * tr->share[k] : 0.0f;
    SB_TRY(complete(tr, ran, rc, terms));
    for (int k = 0; k < SB_LOSS_TERMS; k++) *v[k] = terms[k];
    /* summed in sb_model_read_losses's order */
    lt->total = 0.0f + lt->mask_axis + lt->rec_axis + lt->mask_type + lt->rec_type;
    lt->total = lt->total + lt->prediction;
    lt->total = lt->total + lt->triplet;
    return 0;
}

int sb_dp_check(trainer *tr, int64_t step) {
    const char *e = getenv("SKETCHBERT_MPI_CHECK_EVERY");
    long every = e && *e ? strtol(e, NULL, 10) : 100;
    if (tr->ranks <= 1 || every <= 0 || step % every) return 0;
    /* the staging buffer is free between steps and holds every parameter */
    float *h = tr->staging;
    uint32_t crc = 0;
    for (int i = 0; i < tr->n_params; i++) {
        SB_TRY(sb_tensor_read(tr->rt, &tr->params[i].value, h));
        crc = sb_crc32(crc, h, tr->params[i].value.numel * sizeof *h);
    }
    int same;
    SB_TRY(sb_dist_same_u64(crc, &same, "the parameter checksums"));
    if (!same)
        return sb_fail(SB_ERR_INVALID, "step %" PRId64 ": the ranks' parameters differ (rank %d has CRC-32 %08x): "
                       "their devices computed different updates; stopped (the last checkpoint is intact)",
                       step, tr->rank, crc);
    return 0;
}

int sb_dp_check_resume(trainer *tr, const char *path) {
    char *ranks = sb_trainer_checkpoint_meta(path, "counters.ranks"), *yaml = sb_trainer_checkpoint_meta(path, "config");
    long ck_ranks = ranks ? strtol(ranks, NULL, 10) : 1;
    sb_config ck;
    sb_config_default(&ck);
    int stored = yaml && !sb_config_load_string(&ck, yaml, path);
    free(ranks), free(yaml);
    /* no config stored: nothing to compare; one process resuming one
     * process's run: as without MPI */
    if (!stored || (ck_ranks <= 1 && tr->ranks <= 1)) return 0;
    long was = ck_ranks * ck.batch_size, now = (long)tr->ranks * tr->cfg->batch_size;
    if (was != now)
        return sb_fail(SB_ERR_INVALID, "%s was written by %ld rank%s x batch_size %d (global batch %ld); this run has "
                       "%d x %d = %ld: the data order and the steps would not continue that run (resume with a "
                       "rank count and batch_size whose product is %ld)", path, ck_ranks, ck_ranks > 1 ? "s" : "",
                       ck.batch_size, was, tr->ranks, tr->cfg->batch_size, now, was);
    return 0;
}
