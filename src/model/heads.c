/* Stacks of Linear layers without activations, forward and backward: the
 * embedding refine network (E0 -> ... -> H) and the task heads re_fcs
 * (H -> ... -> 5), cls_fcs (H -> ... -> cls_dim), rel_fcs
 * (H -> ... -> rel_feat_dim). The heads' inputs (the sequence rows or one
 * token row of the encoder output) are gathered by model.c. */
#include "model/model_internal.h"
#include "ops/linear.h"

int sb_mlp_forward(sb_runtime *rt, sb_mlp *s, const sb_tensor *x) {
    for (int i = 0; i < s->n; i++) {
        sb_tensor in = i == 0 ? *x : sb_like(&s->y[i - 1], x), out = sb_like(&s->y[i], x);
        // out (B, ..., dims[i + 1]) = in (B, ..., dims[i]) W_i^T + b_i
        SB_TRY(sb_linear_forward(rt, &in, &s->lin[i].w->value, &s->lin[i].b->value, &out));
    }
    return 0;
}

int sb_mlp_backward(sb_runtime *rt, sb_mlp *s, const sb_tensor *x, const sb_tensor *dout, const sb_tensor *dx) {
    for (int i = s->n - 1; i >= 0; i--) {
        sb_tensor in = i == 0 ? *x : sb_like(&s->y[i - 1], x);
        sb_tensor dy = i == s->n - 1 ? *dout : sb_like(&s->dy[i], x);
        sb_tensor din = i == 0 ? *dx : sb_like(&s->dy[i - 1], x);
        SB_TRY(sb_linear_backward(rt, &in, &s->lin[i].w->value, &dy, &din, &s->lin[i].w->grad,
                                  &s->lin[i].b->grad, 0, 0));
    }
    return 0;
}
