/* Adam / AdamW: several steps of the kernel vs a double-precision
 * reference of torch.optim.Adam / AdamW (parameters and both moments), with
 * plain, L2 and decoupled weight decay, gradients small enough for eps to
 * matter, step numbers that jump (as after a resume), and bad arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/adam.h"
#include "test_util.h"

static const long steps[] = {1, 2, 3, 10, 1000};
#define N_STEPS (int)(sizeof steps / sizeof steps[0])

// ---- double-precision reference (torch.optim.Adam / AdamW, amsgrad off)

static void adam_ref(const sb_adam_config *c, long t, double *p, const float *grad, double *m, double *v, size_t n) {
    double bc1 = 1 - pow(c->beta1, (double)t), bc2 = 1 - pow(c->beta2, (double)t);
    for (size_t i = 0; i < n; i++) {
        double g = grad[i];
        if (c->decoupled) p[i] *= 1 - c->lr * c->weight_decay;
        else g += c->weight_decay * p[i];
        m[i] = c->beta1 * m[i] + (1 - c->beta1) * g;
        v[i] = c->beta2 * v[i] + (1 - c->beta2) * g * g;
        p[i] -= c->lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + c->eps);
    }
}

// ---- tests

/* grad_scale 1e-7 makes sqrt(v) comparable to eps. With lr 1e-2 the five
 * steps move each parameter (size ~1) by up to ~5e-2, and a wrong bias
 * correction or eps placement by >= 1e-3, far above the 1e-5 tolerance;
 * float rounding of the parameters themselves is ~1e-7. */
static void adam_case(sb_runtime *rt, const char *name, const sb_adam_config *cfg, int n, float grad_scale) {
    float *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g), *zeros = calloc(n, sizeof *zeros);
    double *pd = malloc(n * sizeof *pd), *md = calloc(n, sizeof *md), *vd = calloc(n, sizeof *vd);
    t_uniform(p, n, -1, 1);
    for (int i = 0; i < n; i++) pd[i] = p[i];
    int shape[1] = {n};
    sb_tensor tp = t_upload(rt, "param", SB_F32, 1, shape, p), tg = t_output(rt, "grad", SB_F32, 1, shape);
    sb_tensor tm = t_upload(rt, "m", SB_F32, 1, shape, zeros), tv = t_upload(rt, "v", SB_F32, 1, shape, zeros);
    for (int s = 0; s < N_STEPS; s++) {
        t_uniform(g, n, -grad_scale, grad_scale);
        if (sb_tensor_write(rt, &tg, g) || sb_adam_step(rt, cfg, steps[s], &tp, &tg, &tm, &tv)) {
            t_check_true(sb_last_error(), 0);
            break;
        }
        adam_ref(cfg, steps[s], pd, g, md, vd, n);
    }
    char what[160];
    const sb_tensor *got[3] = {&tp, &tm, &tv};
    const double *want[3] = {pd, md, vd};
    const char *names[3] = {"param", "m", "v"};
    for (int i = 0; i < 3; i++) {
        float *h = t_download(rt, got[i]);
        snprintf(what, sizeof what, "%s n=%d: %s after %d steps vs reference", name, n, names[i], N_STEPS);
        t_check(what, t_rel_err(h, want[i], n), 1e-5);
        free(h);
    }
    free(p), free(g), free(zeros), free(pd), free(md), free(vd);
}

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_adam");
    const sb_adam_config adam = {1e-2, 0.9, 0.999, 1e-8, 0, 0};
    const sb_adam_config adam_l2 = {1e-2, 0.9, 0.999, 1e-8, 0.1, 0};
    const sb_adam_config adamw = {1e-2, 0.9, 0.999, 1e-8, 0.1, 1};
    const sb_adam_config other_betas = {3e-3, 0.8, 0.99, 1e-6, 0, 0};
    int sizes[2] = {t_small ? 5 : 1001, t_small ? 77 : 100003}; /* not multiples of any work-group size */
    for (int i = 0; i < 2; i++) {
        adam_case(rt, "adam", &adam, sizes[i], 1.0f);
        adam_case(rt, "adam weight_decay 0.1", &adam_l2, sizes[i], 1.0f);
        adam_case(rt, "adamw weight_decay 0.1", &adamw, sizes[i], 1.0f);
        adam_case(rt, "adam betas (0.8, 0.99) eps 1e-6", &other_betas, sizes[i], 1.0f);
    }
    adam_case(rt, "adam, gradients ~1e-7 (eps matters)", &adam, sizes[1], 1e-7f);

    int s[1] = {7}, s2[1] = {8};
    sb_tensor p = t_output(rt, "param", SB_F32, 1, s), g = t_output(rt, "grad", SB_F32, 1, s);
    sb_tensor m = t_output(rt, "m", SB_F32, 1, s), v_bad = t_output(rt, "v_long", SB_F32, 1, s2);
    sb_tensor v = t_output(rt, "v", SB_F32, 1, s);
    const sb_adam_config bad_beta = {1e-2, 1.0, 0.999, 1e-8, 0, 0};
    t_check_error("state shape rejected", sb_adam_step(rt, &adam, 1, &p, &g, &m, &v_bad), "v_long[8]");
    t_check_error("step 0 rejected", sb_adam_step(rt, &adam, 0, &p, &g, &m, &v), "step 0");
    t_check_error("beta1 1 rejected", sb_adam_step(rt, &bad_beta, 1, &p, &g, &m, &v), "betas (1, 0.999)");
    return t_finish(rt);
}
