/* `sketchbert demo`: one feed-forward block of the model's shape on the
 * device (GEMM, GELU, GEMM), checked against a plain C computation, timed.
 * A smoke test a user can run anywhere; training arrives with `train`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "ops/gelu.h"
#include "ops/gemm.h"
#include "runtime/profile.h"
#include "tensor/tensor.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* h = gelu(x W1^T), out = h W2^T; x [T,H], W1 [I,H], W2 [H,I]. */
static void cpu_block(const float *x, const float *w1, const float *w2, int T, int H, int I, double *out) {
    double *h = malloc((size_t)T * I * sizeof *h);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < I; i++) {
            double s = 0;
            for (int k = 0; k < H; k++) s += (double)x[t * H + k] * w1[i * H + k];
            h[t * I + i] = 0.5 * s * (1.0 + erf(s / sqrt(2.0)));
        }
    for (int t = 0; t < T; t++)
        for (int j = 0; j < H; j++) {
            double s = 0;
            for (int i = 0; i < I; i++) s += h[t * I + i] * w2[j * I + i];
            out[t * H + j] = s;
        }
    free(h);
}

int cmd_demo(const cli_options *o, int argc, char **argv) {
    if (argc > 1) {
        int help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        if (!help) fprintf(stderr, "sketchbert demo: unexpected argument '%s'\n", argv[1]);
        fprintf(help ? stdout : stderr,
                "usage: sketchbert demo\n\nRuns the feed-forward block of a tiny Sketch-BERT layer (2 sketches x 251 "
                "tokens,\nhidden 128, intermediate 512) on the device, checks it against a plain C\ncomputation and "
                "prints the time.\n");
        return help ? 0 : 2;
    }
    sb_runtime *rt = cli_runtime(o);
    if (!rt) return 1;
    printf("device: %s (%s)\n", rt->info.device_name, rt->info.platform_name);
    enum { B = 2, L = 251, H = 128, I = 512 };
    const int T = B * L;
    float *x = malloc(sizeof(float) * T * H), *w1 = malloc(sizeof(float) * I * H), *w2 = malloc(sizeof(float) * H * I);
    float *out = malloc(sizeof(float) * T * H);
    double *ref = malloc(sizeof(double) * T * H);
    unsigned s = 12345;
    for (int i = 0; i < T * H; i++) x[i] = (float)((s = s * 1103515245u + 12345u) >> 8) / (1u << 24) - 0.5f;
    for (int i = 0; i < I * H; i++) w1[i] = ((float)((s = s * 1103515245u + 12345u) >> 8) / (1u << 24) - 0.5f) * 0.2f;
    for (int i = 0; i < H * I; i++) w2[i] = ((float)((s = s * 1103515245u + 12345u) >> 8) / (1u << 24) - 0.5f) * 0.1f;

    sb_tensor tx, tw1, tw2, th, tg, tout;
    sb_plan plan;
    sb_plan_init(&plan);
    int rc = sb_plan_add(&plan, &tx, "x", SB_F32, 2, (int[]){T, H}) ||
             sb_plan_add(&plan, &tw1, "w1", SB_F32, 2, (int[]){I, H}) ||
             sb_plan_add(&plan, &tw2, "w2", SB_F32, 2, (int[]){H, I}) ||
             sb_plan_add(&plan, &th, "h", SB_F32, 2, (int[]){T, I}) ||
             sb_plan_add(&plan, &tg, "gelu_h", SB_F32, 2, (int[]){T, I}) ||
             sb_plan_add(&plan, &tout, "out", SB_F32, 2, (int[]){T, H}) || sb_plan_allocate(rt, &plan) ||
             sb_tensor_write(rt, &tx, x) || sb_tensor_write(rt, &tw1, w1) || sb_tensor_write(rt, &tw2, w2);
    double t0 = 0, t1 = 0;
    for (int rep = 0; !rc && rep < 3; rep++) { /* first run builds kernels */
        t0 = now_s();
        rc = sb_gemm(rt, 0, 1, T, I, H, 1.0f, (sb_mat){tx.buf, 0, H}, (sb_mat){tw1.buf, 0, H}, 0.0f,
                     (sb_mat){th.buf, 0, I}) ||
             sb_gelu_forward(rt, &th, NULL, &tg) ||
             sb_gemm(rt, 0, 1, T, H, I, 1.0f, (sb_mat){tg.buf, 0, I}, (sb_mat){tw2.buf, 0, I}, 0.0f,
                     (sb_mat){tout.buf, 0, H}) ||
             sb_finish(rt);
        t1 = now_s();
    }
    if (!rc) rc = sb_tensor_read(rt, &tout, out);
    if (rc) {
        fprintf(stderr, "sketchbert demo: %s\n", sb_last_error());
    } else {
        cpu_block(x, w1, w2, T, H, I, ref);
        double max_diff = 0, max_ref = 0;
        for (int i = 0; i < T * H; i++) {
            double d = fabs(out[i] - ref[i]);
            if (!(d <= max_diff)) max_diff = d;
            if (fabs(ref[i]) > max_ref) max_ref = fabs(ref[i]);
        }
        double err = max_diff / max_ref, flops = 2.0 * 2.0 * T * H * I;
        printf("feed-forward block [%d x %d] -> [%d x %d] -> [%d x %d]: %.2f ms, %.1f GFLOP/s\n", T, H, T, I, T, H,
               (t1 - t0) * 1e3, flops / (t1 - t0) * 1e-9);
        printf("device memory planned: %zu bytes in %d arena(s)\n", plan.total_bytes, plan.n_arenas);
        printf("max relative error vs CPU double precision: %.2e (%s)\n", err, err < 1e-5 ? "ok" : "TOO LARGE");
        if (!(err < 1e-5)) rc = 1;
    }
    if (rt->profile) sb_profile_print(rt->profile, stdout);
    sb_plan_release(rt, &plan);
    sb_runtime_destroy(rt);
    free(x), free(w1), free(w2), free(out), free(ref);
    return rc ? 1 : 0;
}
