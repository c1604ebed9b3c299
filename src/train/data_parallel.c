/* The data-parallel parts of a training step (trainer.h, dist/dist.h).
 *
 * Every loss term is a mean over a selection of the batch, so over the
 * global batch it is sum_r num_r / sum_r count_r. Each rank therefore
 * learns the global counts after its forward (one small sum) and scales
 * its term's gradient by share_r = count_r / count (its backward divides
 * by count_r); the ranks' gradients then add up to the gradient of the
 * global batch's loss, which is what one process with the global batch
 * computes. (With equal counts this is the usual sum divided by N.) The
 * gradients are summed after the whole backward (no overlap with it):
 * in place on mapped buffers on CPU devices, else through a host staging
 * buffer (read from the device, summed in buckets, written back); the
 * loss contributions ride along. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "io/checksum.h"
#include "train/trainer.h"

int sb_dp_open(trainer *tr) {
    tr->rank = sb_dist_rank(), tr->ranks = sb_dist_size();
    tr->counters.ranks = tr->ranks;
    for (int k = 0; k < SB_LOSS_TERMS; k++) tr->share[k] = 1.0f;
    if (tr->ranks <= 1) return 0;
    size_t n = SB_LOSS_TERMS;
    for (int i = 0; i < tr->n_params; i++) n += tr->params[i].grad.numel;
    tr->staging = malloc(n * sizeof *tr->staging);
    tr->staging_n = n;
    return tr->staging ? 0 : sb_fail(SB_ERR_MEMORY, "out of host memory for %zu gradients", n);
}

void sb_dp_close(trainer *tr) {
    free(tr->staging);
    tr->staging = NULL, tr->staging_n = 0;
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
        fflush(out);
    }
    free(all);
    return 0;
}

int sb_dp_start(trainer *tr, int rc) {
    if (tr->ranks <= 1) return rc;
    double failed = rc != 0;
    int rc2 = sb_dist_sum_f64(&failed, 1, "the start");
    if (rc || rc2) return rc ? rc : rc2;
    return failed > 0 ? sb_fail(SB_ERR_INVALID, "%g of %d ranks failed to start (their messages say why)", failed,
                                tr->ranks)
                      : 0;
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
 * (PoCL maps without a copy) and summed in place, a bucket per tensor;
 * other devices go through the staging buffer. SKETCHBERT_MPI_STAGING=1
 * stages on every device (tests compare the two). */
static int mapped(const trainer *tr) {
    const char *e = getenv("SKETCHBERT_MPI_STAGING");
    const sb_device_info *d = &tr->rt->info;
    return !(e && !strcmp(e, "1")) && !(d->type & CL_DEVICE_TYPE_GPU) && ((d->type & CL_DEVICE_TYPE_CPU) || d->host_unified);
}

/* The gradients summed in place on their mapped buffers. */
static int sum_mapped(trainer *tr, int ran, float *terms) {
    int n = tr->n_params, rc = 0, k = 0;
    float **v = calloc((size_t)n + 1, sizeof *v);
    size_t *len = calloc((size_t)n + 1, sizeof *len);
    if (!v || !len) rc = sb_fail(SB_ERR_MEMORY, "out of host memory");
    for (; k < n && !rc; k++) {
        const sb_tensor *g = &tr->params[k].grad;
        cl_int err;
        v[k] = clEnqueueMapBuffer(tr->rt->queue, g->buf, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0, sb_tensor_bytes(g), 0,
                                  NULL, NULL, &err);
        len[k] = g->numel;
        if (err != CL_SUCCESS) rc = sb_fail(SB_ERR_OPENCL, "clEnqueueMapBuffer(gradient %s) failed: %s",
                                            tr->params[k].name, sb_cl_error_name(err));
        else if (!ran) memset(v[k], 0, g->numel * sizeof *v[k]); /* an empty slice adds nothing */
    }
    if (!rc) {
        v[n] = terms, len[n] = SB_LOSS_TERMS;
        rc = sb_dist_sum_f32_list(v, len, n + 1, "the gradients");
    }
    for (int i = 0; i < k && i < n; i++) {
        if (!v[i]) continue;
        cl_int err = clEnqueueUnmapMemObject(tr->rt->queue, tr->params[i].grad.buf, v[i], 0, NULL, NULL);
        if (err != CL_SUCCESS && !rc) rc = sb_fail(SB_ERR_OPENCL, "clEnqueueUnmapMemObject(gradient %s) failed: %s",
                                                   tr->params[i].name, sb_cl_error_name(err));
    }
    free(v), free(len);
    return rc;
}

/* The gradients summed through the host staging buffer. */
static int sum_staged(trainer *tr, int ran) {
    float *h = tr->staging;
    size_t at = 0;
    for (int i = 0; i < tr->n_params; i++) {
        const sb_tensor *g = &tr->params[i].grad;
        if (ran) SB_TRY(sb_tensor_read(tr->rt, g, h + at));
        else memset(h + at, 0, g->numel * sizeof *h); /* an empty slice adds nothing */
        at += g->numel;
    }
    SB_TRY(sb_dist_sum_f32(h, tr->staging_n, "the gradients"));
    at = 0;
    for (int i = 0; i < tr->n_params; i++) {
        SB_TRY(sb_tensor_write(tr->rt, &tr->params[i].grad, h + at));
        at += tr->params[i].grad.numel;
    }
    return 0;
}

int sb_dp_reduce(trainer *tr, int ran, sb_loss_terms *lt) {
    /* the loss contributions ride along at the end of the staging buffer */
    float *terms = tr->staging + tr->staging_n - SB_LOSS_TERMS;
    float *v[SB_LOSS_TERMS] = {&lt->mask_axis, &lt->rec_axis, &lt->mask_type, &lt->rec_type, &lt->prediction,
                               &lt->triplet};
    for (int k = 0; k < SB_LOSS_TERMS; k++) terms[k] = ran ? *v[k] * tr->share[k] : 0.0f;
    SB_TRY(mapped(tr) ? sum_mapped(tr, ran, terms) : sum_staged(tr, ran));
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
