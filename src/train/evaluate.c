/* Validation and test (train.h, trainer.h). Shapes: A anchors per batch,
 * C classes, F retrieval feature size. */
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "train/metrics.h"
#include "train/trainer.h"

/* The top-1 class: ties go to the lower index, as sb_topk_correct. */
static int argmax(const float *v, int n) {
    int best = 0;
    for (int j = 1; j < n; j++)
        if (v[j] > v[best]) best = j;
    return best;
}

/* With several ranks: the metrics' sums, the confusion counts and the
 * retrieval features (each rank's rows in place, zeros elsewhere) summed
 * over the ranks, so every rank has those of the whole set. */
static int reduce(trainer *tr, double *sums, long *confusion, size_t n_conf, float *feats, int32_t *labels,
                  size_t n, size_t F) {
    if (tr->ranks <= 1) return 0;
    SB_TRY(sb_dist_sum_f64(sums, 9, "the evaluation's sums"));
    size_t m = n_conf > n ? n_conf : n;
    double *tmp = m ? malloc(m * sizeof *tmp) : NULL;
    if (m && !tmp) return sb_fail(SB_ERR_MEMORY, "evaluation: out of host memory");
    int rc = 0;
    if (confusion && n_conf) {
        for (size_t i = 0; i < n_conf; i++) tmp[i] = (double)confusion[i];
        rc = sb_dist_sum_f64(tmp, n_conf, "the confusion counts");
        for (size_t i = 0; i < n_conf && !rc; i++) confusion[i] = (long)tmp[i];
    }
    if (!rc && feats) rc = sb_dist_sum_f32(feats, n * F, "the retrieval features");
    if (!rc && labels) {
        for (size_t i = 0; i < n; i++) tmp[i] = labels[i];
        rc = sb_dist_sum_f64(tmp, n, "the retrieval labels");
        for (size_t i = 0; i < n && !rc; i++) labels[i] = (int32_t)tmp[i];
    }
    free(tmp);
    return rc;
}

/* Metrics on the anchors of triplet batches (rows 3i), as the original. A batch's
 * loss terms are means over the global batch (this rank's share of it),
 * weighted by its anchors. */
int sb_trainer_evaluate(trainer *tr, sb_eval_result *r, long *confusion) {
    const sb_config *cfg = tr->cfg;
    memset(r, 0, sizeof *r);
    r->has_cls = tr->has_cls, r->has_rel = tr->has_rel;
    sb_loader *l;
    SB_TRY(sb_loader_open_shard(&l, tr->val_set, cfg->batch_size, tr->ranks, tr->rank, 0, 0, 0));
    uint64_t batches = sb_loader_batches_per_epoch(l);
    uint32_t n = sb_dataset_size(tr->val_set);
    const int per = tr->triplet ? 3 : 1; /* rows per sample; anchors are rows per x i */
    int C = cfg->cls_dim, F = cfg->rel_feat_dim, max_b = cfg->batch_size * per;
    float *scores = tr->has_cls ? malloc(sizeof(float) * (size_t)max_b * (size_t)C) : NULL;
    float *feat_b = tr->has_rel ? malloc(sizeof(float) * (size_t)max_b * (size_t)F) : NULL;
    float *feats = tr->has_rel ? calloc((size_t)n * (size_t)F, sizeof(float)) : NULL;
    int32_t *labels = tr->has_rel ? calloc(n, sizeof(int32_t)) : NULL;
    int rc = (tr->has_cls && !scores) || (tr->has_rel && (!feat_b || !feats || !labels))
                 ? sb_fail(SB_ERR_MEMORY, "evaluation: out of host memory for %u sketches", n)
                 : 0;
    double sums[9] = {0}; /* the 7 loss sums, top-1 and top-5 hits */
    static const float one[SB_LOSS_TERMS] = {1, 1, 1, 1, 1, 1};
    for (uint64_t b = 0; b < batches && !rc; b++) {
        const sb_batch *batch;
        sb_loss_terms lt = {0};
        int finite = 1, stop = 0;
        rc = sb_loader_next(l, &batch, NULL, NULL);
        int A = rc ? 0 : batch->size / per;
        if (!rc && A) rc = sb_model_forward(tr->model, batch, cfg->eval_dropout, cfg->seed, b, 1);
        if (!rc && tr->ranks > 1) rc = sb_dp_agree(tr, A > 0, &finite, &stop);
        if (!rc && A) rc = sb_model_read_losses(tr->model, &lt);
        if (rc) break;
        const float *share = tr->ranks > 1 ? tr->share : one;
        float v[7] = {lt.mask_axis * share[0], lt.rec_axis * share[1], lt.mask_type * share[2],
                      lt.rec_type * share[3], lt.prediction * share[4], lt.triplet * share[5], lt.total};
        if (tr->ranks > 1) v[6] = v[0] + v[1] + v[2] + v[3] + v[4] + v[5];
        for (int k = 0; k < 7; k++) sums[k] += (double)v[k] * batch->global;
        if (tr->has_cls && A) {
            rc = sb_tensor_read(tr->rt, sb_model_cls_output(tr->model), scores);
            for (int i = 0; i < A && !rc; i++) {
                const float *s = scores + (size_t)(per * i) * C;
                int label = batch->label[per * i];
                sums[7] += sb_topk_correct(s, C, label, 1);
                sums[8] += sb_topk_correct(s, C, label, 5);
                if (confusion) confusion[(size_t)label * C + argmax(s, C)]++;
            }
        }
        /* this rank's rows at their place among the whole set's */
        long at = r->sketches + batch->offset / per;
        if (tr->has_rel && A && !rc) {
            rc = sb_tensor_read(tr->rt, sb_model_rel_output(tr->model), feat_b);
            for (int i = 0; !rc && i < A && at + i < (long)n; i++) {
                memcpy(feats + (size_t)(at + i) * F, feat_b + (size_t)(per * i) * F, sizeof(float) * (size_t)F);
                labels[at + i] = batch->label[per * i];
            }
        }
        r->sketches += batch->global;
    }
    sb_loader_close(l);
    size_t n_conf = confusion ? (size_t)sb_dataset_num_classes(tr->val_set) * (size_t)C : 0;
    if (!rc) rc = reduce(tr, sums, confusion, n_conf, feats, labels, n, (size_t)F);
    if (!rc && r->sketches) {
        float *dst[7] = {&r->loss.mask_axis, &r->loss.rec_axis, &r->loss.mask_type, &r->loss.rec_type,
                         &r->loss.prediction, &r->loss.triplet, &r->loss.total};
        for (int k = 0; k < 7; k++) *dst[k] = (float)(sums[k] / (double)r->sketches);
        r->top1 = sums[7] / (double)r->sketches, r->top5 = sums[8] / (double)r->sketches;
    }
    if (!rc && tr->has_rel) {
        sb_retrieval_result rr;
        rc = sb_retrieval_evaluate(feats, labels, (int)r->sketches, F, &rr);
        r->rel_top1 = rr.top1, r->rel_top5 = rr.top5, r->rel_top10 = rr.top10, r->rel_map = rr.map;
    }
    free(scores), free(feat_b), free(feats), free(labels);
    return rc ? sb_fail_context(rc, "evaluation") : 0;
}

double sb_trainer_best_metric(const trainer *tr, const sb_eval_result *r) {
    if (tr->has_cls) return r->top1;
    if (tr->has_rel) return r->rel_map;
    return -(double)r->loss.total;
}

int sb_evaluate(sb_runtime *rt, const sb_config *cfg, const char *checkpoint, int split, int max_per_class,
                sb_eval_result *out) {
    trainer tr;
    memset(out, 0, sizeof *out);
    int rc = sb_trainer_open(&tr, rt, cfg, 0), has[SB_N_NETS];
    /* under mpirun each rank evaluates its slices (sb_trainer_evaluate) */
    tr.rank = sb_dist_rank(), tr.ranks = sb_dist_size();
    if (!rc) rc = sb_trainer_open_eval_set(&tr, split, max_per_class);
    if (!rc) rc = sb_trainer_restore(&tr, SB_RESTORE_ENC_NET | SB_RESTORE_TASK_NET, 0, checkpoint);
    /* a head evaluated with fresh weights would measure nothing */
    if (!rc) rc = sb_checkpoint_nets(checkpoint, has);
    for (int i = 0; i < tr.n_params && !rc; i++)
        if (!has[tr.params[i].net])
            rc = sb_fail(SB_ERR_INVALID, "%s has no weights for %s, which the config's task_types need", checkpoint,
                         sb_net_names[tr.params[i].net]);
    int nc = !rc && tr.has_cls ? sb_dataset_num_classes(tr.val_set) : 0;
    long *confusion = nc ? calloc((size_t)nc * (size_t)cfg->cls_dim, sizeof *confusion) : NULL;
    char **names = nc ? calloc((size_t)nc, sizeof *names) : NULL;
    for (int c = 0; c < nc && names; c++)
        if (!(names[c] = strdup(sb_dataset_class_name(tr.val_set, c)))) rc = SB_ERR_MEMORY;
    if (nc && (!confusion || !names || rc)) rc = sb_fail(SB_ERR_MEMORY, "out of host memory");
    if (!rc) rc = sb_trainer_evaluate(&tr, out, confusion);
    out->n_classes = nc, out->cls_dim = cfg->cls_dim, out->confusion = confusion, out->class_names = names;
    if (rc) sb_eval_result_free(out);
    sb_trainer_close(&tr);
    return rc;
}

void sb_eval_result_free(sb_eval_result *r) {
    for (int c = 0; c < r->n_classes && r->class_names; c++) free(r->class_names[c]);
    free(r->class_names), free(r->confusion);
    r->class_names = NULL, r->confusion = NULL, r->n_classes = 0;
}

