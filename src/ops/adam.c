/* Adam / AdamW launcher: checks, host-side bias corrections. kernels: cl/adam.cl */
#include "ops/adam.h"

#include <math.h>

#include "ops/check.h"

int sb_adam_step(sb_runtime *rt, const sb_adam_config *cfg, long step, const sb_tensor *param, const sb_tensor *grad,
                 const sb_tensor *m, const sb_tensor *v) {
    const char *op = "adam_step";
    if (step < 1) return sb_fail(SB_ERR_INVALID, "%s: step %ld must be >= 1", op, step);
    if (!(cfg->lr >= 0) || !(cfg->beta1 >= 0 && cfg->beta1 < 1) || !(cfg->beta2 >= 0 && cfg->beta2 < 1) ||
        !(cfg->eps >= 0) || !(cfg->weight_decay >= 0))
        return sb_fail(SB_ERR_INVALID, "%s: bad settings lr %g, betas (%g, %g), eps %g, weight_decay %g", op, cfg->lr,
                       cfg->beta1, cfg->beta2, cfg->eps, cfg->weight_decay);
    const sb_tensor *all[4] = {param, grad, m, v};
    for (int i = 0; i < 4; i++) {
        SB_TRY(sb_check_f32(op, all[i]));
        SB_TRY(sb_check_shape(op, all[i], param->ndim, param->shape));
    }
    SB_TRY(sb_check_uint(op, "elements", param->numel));

    double bc1 = 1.0 - pow(cfg->beta1, (double)step), bc2 = 1.0 - pow(cfg->beta2, (double)step);
    cl_uint n = (cl_uint)param->numel;
    float beta2 = (float)cfg->beta2, omb1 = (float)(1.0 - cfg->beta1), omb2 = (float)(1.0 - cfg->beta2);
    float eps = (float)cfg->eps, l2 = cfg->decoupled ? 0.0f : (float)cfg->weight_decay;
    float decay = cfg->decoupled ? (float)(1.0 - cfg->lr * cfg->weight_decay) : 1.0f;
    float step_size = (float)(cfg->lr / bc1), inv_bc2_sqrt = (float)(1.0 / sqrt(bc2));
    cl_kernel k;
    SB_TRY(sb_kernel(rt, "adam", "adam_step", &k));
    SB_TRY(SB_ARG(k, 0, param->buf));
    SB_TRY(SB_ARG(k, 1, grad->buf));
    SB_TRY(SB_ARG(k, 2, m->buf));
    SB_TRY(SB_ARG(k, 3, v->buf));
    SB_TRY(SB_ARG(k, 4, n));
    SB_TRY(SB_ARG(k, 5, beta2));
    SB_TRY(SB_ARG(k, 6, omb1));
    SB_TRY(SB_ARG(k, 7, omb2));
    SB_TRY(SB_ARG(k, 8, eps));
    SB_TRY(SB_ARG(k, 9, l2));
    SB_TRY(SB_ARG(k, 10, decay));
    SB_TRY(SB_ARG(k, 11, step_size));
    SB_TRY(SB_ARG(k, 12, inv_bc2_sqrt));
    size_t global = n;
    return sb_launch(rt, k, 1, &global, NULL);
}
