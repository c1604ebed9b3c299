/* The weighted training objective of Sketch-BERT (the original
 * trainer.calculate_losses), forward and backward:
 *   mask_axis  = L1 of rec[..., 0:2] vs stroke[..., 0:2] where mask == 0
 *   rec_axis   = the same where mask == 1
 *   mask_type  = cross-entropy of rec[..., 2:5] vs argmax stroke[..., 2:5]
 *                over the points whose mask[..., 2] == 0
 *   rec_type   = the same where mask[..., 2] == 1
 *   prediction = cross-entropy of the class logits vs the labels
 *   triplet    = triplet margin loss of the retrieval features of the
 *                (anchor, positive, negative) rows 3j, 3j + 1, 3j + 2
 * each multiplied by its config weight. As in the original, with triplets
 * the other terms use the anchors (rows 3j) only. Triplets are interleaved
 * (src/data/dataset.h) so that a data-parallel rank's rows are one
 * contiguous run of the global batch's, keyed alike by dropout.
 *
 * The selections and targets are built on the host from the batch, whose
 * stroke and mask are host arrays anyway, and uploaded with it: 0/1
 * weights that zero the excluded entries (and every non-anchor row).
 * A term with weight 0 is not computed and reads 0 (the original computes
 * 0 * loss, which is NaN when its selection is empty). */
#include <stdlib.h>

#include "model/model_internal.h"
#include "ops/loss.h"

// ---- planning and upload

int sb_objective_plan(sb_plan *plan, sb_objective *o, const sb_model_config *cfg, int max_batch) {
    int T = cfg->max_length, bt5[3] = {max_batch, T, 5}, bt[2] = {max_batch, T}, b[1] = {max_batch};
    int one[1] = {1}, work[1] = {SB_LOSS_WORK_FLOATS};
    size_t n5 = (size_t)max_batch * T * 5, n = (size_t)max_batch * T;
    const float w[SB_N_TERMS] = {cfg->mask_axis_weight, cfg->rec_axis_weight, cfg->mask_type_weight,
                                 cfg->rec_type_weight, cfg->prediction_weight, cfg->triplet_weight};
    const int present[SB_N_TERMS] = {cfg->maskrec, cfg->maskrec, cfg->maskrec, cfg->maskrec, cfg->cls, cfg->rel};
    for (int i = 0; i < SB_N_TERMS; i++) o->weight[i] = o->upstream[i] = present[i] ? w[i] : 0.0f;
    o->margin = cfg->triplet_margin;
    static const char *names[SB_N_TERMS] = {"loss.mask_axis", "loss.rec_axis", "loss.mask_type",
                                            "loss.rec_type", "loss.prediction", "loss.triplet"};
    for (int i = 0; i < SB_N_TERMS; i++) SB_TRY(sb_plan_add(plan, &o->loss[i], names[i], SB_F32, 1, one));
    SB_TRY(sb_plan_add(plan, &o->work, "loss.work", SB_F32, 1, work));
    if (cfg->maskrec) {
        SB_TRY(sb_plan_add(plan, &o->stroke, "loss.stroke", SB_F32, 3, bt5));
        SB_TRY(sb_plan_add(plan, &o->axis_masked, "loss.axis_masked", SB_F32, 3, bt5));
        SB_TRY(sb_plan_add(plan, &o->axis_kept, "loss.axis_kept", SB_F32, 3, bt5));
        SB_TRY(sb_plan_add(plan, &o->type_target, "loss.type_target", SB_I32, 2, bt));
        SB_TRY(sb_plan_add(plan, &o->type_masked, "loss.type_masked", SB_F32, 2, bt));
        SB_TRY(sb_plan_add(plan, &o->type_kept, "loss.type_kept", SB_F32, 2, bt));
        o->h_axis_masked = malloc(n5 * sizeof(float)), o->h_axis_kept = malloc(n5 * sizeof(float));
        o->h_type_masked = malloc(n * sizeof(float)), o->h_type_kept = malloc(n * sizeof(float));
        o->h_type_target = malloc(n * sizeof(int32_t));
        if (!o->h_axis_masked || !o->h_axis_kept || !o->h_type_masked || !o->h_type_kept || !o->h_type_target)
            return sb_fail(SB_ERR_MEMORY, "model objective: no host memory for %d x %d selections", max_batch, T);
    }
    if (cfg->cls) {
        SB_TRY(sb_plan_add(plan, &o->label, "loss.label", SB_I32, 1, b));
        SB_TRY(sb_plan_add(plan, &o->label_weight, "loss.label_weight", SB_F32, 1, b));
        if (!(o->h_label_weight = malloc((size_t)max_batch * sizeof(float))))
            return sb_fail(SB_ERR_MEMORY, "model objective: no host memory for %d label weights", max_batch);
    }
    return 0;
}

void sb_objective_free(sb_objective *o) {
    free(o->h_axis_masked), free(o->h_axis_kept), free(o->h_type_masked), free(o->h_type_kept);
    free(o->h_type_target), free(o->h_label_weight);
}

/* Index of the first largest of 3 values (torch.argmax). */
static int32_t argmax3(const float *p) {
    int32_t best = 0;
    for (int32_t j = 1; j < 3; j++)
        if (p[j] > p[best]) best = j;
    return best;
}

int sb_objective_upload(sb_runtime *rt, sb_objective *o, const sb_model_config *cfg, const sb_batch *batch) {
    int B = batch->size, T = cfg->max_length;
    if (cfg->rel && B % 3 != 0)
        return sb_fail(SB_ERR_INVALID, "model objective: a triplet batch holds 3 x batch sketches, got %d", B);
    const int per = cfg->rel ? 3 : 1; /* rows per sample: anchors are the rows b % per == 0 */
    o->anchors = B / per;
    for (int i = 0; i < SB_N_TERMS; i++) o->active[i] = o->weight[i] != 0.0f, o->count[i] = 0.0;
    o->count[SB_TERM_PREDICTION] = o->count[SB_TERM_TRIPLET] = o->anchors;
    if (cfg->maskrec) {
        for (size_t r = 0; r < (size_t)B * T; r++) {
            const float *m = batch->mask + r * 5;
            int anchor = r / (size_t)T % per == 0;
            for (int c = 0; c < 5; c++) {
                o->h_axis_masked[r * 5 + c] = anchor && c < 2 && m[c] == 0.0f;
                o->h_axis_kept[r * 5 + c] = anchor && c < 2 && m[c] == 1.0f;
            }
            o->h_type_target[r] = argmax3(batch->stroke + r * 5 + 2);
            o->h_type_masked[r] = anchor && m[2] == 0.0f;
            o->h_type_kept[r] = anchor && m[2] == 1.0f;
            o->count[SB_TERM_MASK_AXIS] += o->h_axis_masked[r * 5] + o->h_axis_masked[r * 5 + 1];
            o->count[SB_TERM_REC_AXIS] += o->h_axis_kept[r * 5] + o->h_axis_kept[r * 5 + 1];
            o->count[SB_TERM_MASK_TYPE] += o->h_type_masked[r];
            o->count[SB_TERM_REC_TYPE] += o->h_type_kept[r];
        }
        sb_tensor stroke = sb_rows(&o->stroke, B), am = sb_rows(&o->axis_masked, B), ak = sb_rows(&o->axis_kept, B);
        sb_tensor tt = sb_rows(&o->type_target, B), tm = sb_rows(&o->type_masked, B), tk = sb_rows(&o->type_kept, B);
        SB_TRY(sb_tensor_write(rt, &stroke, batch->stroke));
        SB_TRY(sb_tensor_write(rt, &am, o->h_axis_masked));
        SB_TRY(sb_tensor_write(rt, &ak, o->h_axis_kept));
        SB_TRY(sb_tensor_write(rt, &tt, o->h_type_target));
        SB_TRY(sb_tensor_write(rt, &tm, o->h_type_masked));
        SB_TRY(sb_tensor_write(rt, &tk, o->h_type_kept));
    }
    if (cfg->cls) {
        for (int b = 0; b < B; b++) {
            if (b % per == 0 && (batch->label[b] < 0 || batch->label[b] >= cfg->cls_dim))
                return sb_fail(SB_ERR_INVALID, "model objective: label %d of sketch %d is outside [0, %d)",
                               batch->label[b], b, cfg->cls_dim);
            o->h_label_weight[b] = b % per == 0;
        }
        sb_tensor label = sb_rows(&o->label, B), lw = sb_rows(&o->label_weight, B);
        SB_TRY(sb_tensor_write(rt, &label, batch->label));
        SB_TRY(sb_tensor_write(rt, &lw, o->h_label_weight));
    }
    return 0;
}

// ---- forward

int sb_objective_forward(sb_runtime *rt, sb_objective *o, int B, const sb_tensor *rec, const sb_tensor *cls,
                         const sb_tensor *rel) {
    const sb_tensor *work = &o->work, *loss = o->loss;
    if (rec) {
        sb_tensor stroke = sb_rows(&o->stroke, B), tt = sb_rows(&o->type_target, B);
        sb_tensor am = sb_rows(&o->axis_masked, B), ak = sb_rows(&o->axis_kept, B);
        sb_tensor tm = sb_rows(&o->type_masked, B), tk = sb_rows(&o->type_kept, B);
        if (o->active[SB_TERM_MASK_AXIS])
            SB_TRY(sb_l1_loss_forward(rt, rec, &stroke, &am, work, &loss[SB_TERM_MASK_AXIS]));
        if (o->active[SB_TERM_REC_AXIS])
            SB_TRY(sb_l1_loss_forward(rt, rec, &stroke, &ak, work, &loss[SB_TERM_REC_AXIS]));
        if (o->active[SB_TERM_MASK_TYPE])
            SB_TRY(sb_cross_entropy_forward(rt, rec, 2, 3, &tt, &tm, work, &loss[SB_TERM_MASK_TYPE]));
        if (o->active[SB_TERM_REC_TYPE])
            SB_TRY(sb_cross_entropy_forward(rt, rec, 2, 3, &tt, &tk, work, &loss[SB_TERM_REC_TYPE]));
    }
    if (cls && o->active[SB_TERM_PREDICTION]) {
        sb_tensor label = sb_rows(&o->label, B), lw = sb_rows(&o->label_weight, B);
        SB_TRY(sb_cross_entropy_forward(rt, cls, 0, cls->shape[1], &label, &lw, work, &loss[SB_TERM_PREDICTION]));
    }
    if (rel && o->active[SB_TERM_TRIPLET])
        SB_TRY(sb_triplet_loss_forward(rt, rel, o->margin, work, &loss[SB_TERM_TRIPLET]));
    return 0;
}

// ---- backward

int sb_objective_backward(sb_runtime *rt, sb_objective *o, int B, const sb_tensor *rec, const sb_tensor *cls,
                          const sb_tensor *rel, const sb_tensor *drec, const sb_tensor *dcls, const sb_tensor *drel) {
    const sb_tensor *work = &o->work;
    const float *w = o->upstream;
    if (rec) {
        // drec (B, T, 5): the four terms add up; the CE terms touch columns 2..4 only
        sb_tensor stroke = sb_rows(&o->stroke, B), tt = sb_rows(&o->type_target, B);
        sb_tensor am = sb_rows(&o->axis_masked, B), ak = sb_rows(&o->axis_kept, B);
        sb_tensor tm = sb_rows(&o->type_masked, B), tk = sb_rows(&o->type_kept, B);
        SB_TRY(sb_tensor_fill_f32(rt, drec, 0.0f));
        if (o->active[SB_TERM_MASK_AXIS])
            SB_TRY(sb_l1_loss_backward(rt, rec, &stroke, &am, work, w[SB_TERM_MASK_AXIS], 1, drec));
        if (o->active[SB_TERM_REC_AXIS])
            SB_TRY(sb_l1_loss_backward(rt, rec, &stroke, &ak, work, w[SB_TERM_REC_AXIS], 1, drec));
        if (o->active[SB_TERM_MASK_TYPE])
            SB_TRY(sb_cross_entropy_backward(rt, rec, 2, 3, &tt, &tm, work, w[SB_TERM_MASK_TYPE], 1, drec));
        if (o->active[SB_TERM_REC_TYPE])
            SB_TRY(sb_cross_entropy_backward(rt, rec, 2, 3, &tt, &tk, work, w[SB_TERM_REC_TYPE], 1, drec));
    }
    if (cls) {
        // dcls (B, cls_dim); rows of weight 0 (non-anchors) stay 0
        sb_tensor label = sb_rows(&o->label, B), lw = sb_rows(&o->label_weight, B);
        SB_TRY(sb_tensor_fill_f32(rt, dcls, 0.0f));
        if (o->active[SB_TERM_PREDICTION])
            SB_TRY(sb_cross_entropy_backward(rt, cls, 0, cls->shape[1], &label, &lw, work, w[SB_TERM_PREDICTION],
                                             1, dcls));
    }
    if (rel) {
        // drel (B, D): every row is an anchor, positive or negative
        if (!o->active[SB_TERM_TRIPLET]) return sb_tensor_fill_f32(rt, drel, 0.0f);
        SB_TRY(sb_triplet_loss_backward(rt, rel, o->margin, w[SB_TERM_TRIPLET], 0, drel));
    }
    return 0;
}
