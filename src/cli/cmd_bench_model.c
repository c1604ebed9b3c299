/* `sketchbert bench model CONFIG.yml`: wall-clock speed of the model built
 * from a config, on synthetic batches made once before timing (no data
 * loading in the timed loop). A benchmark, not a test: it checks nothing
 * beyond the loss being finite.
 *
 * Training step = forward (dropout as the config says) + backward + one
 * Adam step on every parameter (sb_adam_step), as sb_train does without
 * gradient clipping. Inference = forward only, dropout off, no loss.
 * Shapes: B sketches per step (3B for triplet configs), T max_length,
 * K leading task tokens, Tin = K + T. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli/commands.h"
#include "data/rng.h"
#include "io/config.h"
#include "ops/adam.h"
#include "ops/gemm.h"
#include "runtime/profile.h"
#include "train/train.h"

static void bench_usage(FILE *f) {
    fprintf(f, "usage: sketchbert bench model CONFIG.yml [--set KEY=VALUE]... [--batch N] [--steps N] [--warmup N]\n"
               "                              [--train|--infer] [--lengths half|quickdraw|full]\n"
               "\n"
               "Times the model of a config on synthetic batches: a training step (forward,\n"
               "backward, Adam on every parameter) and inference (forward, dropout off), each\n"
               "after warm-up steps, waiting for the device (sb_finish) before reading the clock;\n"
               "prints the best and the mean wall time per step and the mean process CPU time\n"
               "per step (all threads), and the process's peak resident memory at the end.\n"
               "  --set KEY=VALUE  overrides a config key, VALUE as in the YAML (repeatable;\n"
               "               --set max_length=250 for the paper's sketch length)\n"
               "  --batch N    sketches per step (default: the config's batch_size; triplet\n"
               "               configs run 3N sketches per step)\n"
               "  --steps N    timed steps per phase (default 10)\n"
               "  --warmup N   untimed steps before each phase (default 2)\n"
               "  --train      only the training step\n"
               "  --infer      only inference, with the model planned for it (no gradients,\n"
               "               no backward buffers; see the device memory line)\n"
               "  --lengths L  sketch lengths in points: half (default) uniform from T/2 to T;\n"
               "               quickdraw drawn from the lengths of real QuickDraw sketches\n"
               "               (simplified, median 40, cut at T); full all T. Forwards without\n"
               "               the maskrec loss compute only the batch's longest sketch's\n"
               "               tokens (SKETCHBERT_TRIM=0: all T)\n"
               "With the global --profile, a kernel table per phase (timed steps only; profiling\n"
               "waits on every kernel, so its wall times are not the benchmark's).\n"
               "exit codes: 0 done, 1 failure, 2 bad usage\n");
}

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_count(const char *s, int min, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < min || v > 1000000) return -1;
    *out = (int)v;
    return 0;
}

enum { LENGTHS_HALF, LENGTHS_QUICKDRAW, LENGTHS_FULL };
static const char *const length_names[3] = {"half", "quickdraw", "full"};

/* Points per sketch (the transform's, with its leading zero point) of the
 * 8525 simplified QuickDraw sketches of 341 classes in the project's data
 * folder (2026-11-27), at percentiles 0, 5, ..., 95, 97.5, 99, 99.5, 100. */
static const double qd_pct[24] = {0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95,
                                  97.5, 99, 99.5, 100};
static const double qd_len[24] = {3, 16, 20, 23, 25, 28, 30, 32, 35, 37, 40, 43, 45, 48, 52, 56, 61, 67, 75, 90,
                                  108, 140, 175, 504};

/* One sketch length in 1..T: lengths mode as --lengths. */
static int draw_length(sb_rng *rng, int mode, int T) {
    if (mode == LENGTHS_FULL) return T;
    if (mode == LENGTHS_HALF) return T / 2 + (int)sb_rng_below(rng, (uint32_t)(T - T / 2)) + 1;
    double u = 100.0 * sb_rng_uniform(rng);
    int i = 0;
    while (i < 22 && u >= qd_pct[i + 1]) i++;
    double len = qd_len[i] + (qd_len[i + 1] - qd_len[i]) * (u - qd_pct[i]) / (qd_pct[i + 1] - qd_pct[i]);
    int n = (int)len;
    return n < 1 ? 1 : n > T ? T : n;
}

/* A synthetic batch of n sketches shaped as the data path makes them:
 * random stroke-5 points (offsets in [-1, 1], one-hot pen state, the last
 * point ending the sketch) of random lengths (draw_length), task tokens
 * first (retrieval -2s, then classification -1s), 85% of the values kept by
 * the mask, random labels. Values do not matter for speed, shapes do. */
static int make_batch(sb_batch *b, int n, int T, int cls_token, int rel_token, int classes, int lengths,
                      uint64_t seed) {
    const int K = cls_token + rel_token, Tin = K + T;
    memset(b, 0, sizeof *b);
    b->size = n, b->tokens = K, b->max_length = T;
    b->input = malloc(sizeof(float) * (size_t)n * Tin * 5);
    b->stroke = malloc(sizeof(float) * (size_t)n * T * 5);
    b->mask = malloc(sizeof(float) * (size_t)n * T * 5);
    b->length_mask = malloc(sizeof(float) * (size_t)n * Tin);
    b->segment = malloc(sizeof(int32_t) * (size_t)n * Tin);
    b->label = malloc(sizeof(int32_t) * (size_t)n);
    if (!b->input || !b->stroke || !b->mask || !b->length_mask || !b->segment || !b->label)
        return sb_fail(SB_ERR_MEMORY, "bench model: batch of %d sketches: out of host memory", n);
    sb_rng rng;
    sb_rng_seed(&rng, seed);
    for (int s = 0; s < n; s++) {
        int length = draw_length(&rng, lengths, T);
        float *stroke = b->stroke + (size_t)s * T * 5, *mask = b->mask + (size_t)s * T * 5;
        float *in = b->input + (size_t)s * Tin * 5, *lm = b->length_mask + (size_t)s * Tin;
        int32_t *seg = b->segment + (size_t)s * Tin;
        for (int i = 0; i < T; i++) {
            float *p = stroke + 5 * i;
            int pen = i >= length - 1 ? 4 : 2 + (sb_rng_below(&rng, 5) == 0);
            p[0] = i < length ? (float)(2.0 * sb_rng_uniform(&rng) - 1.0) : 0.0f;
            p[1] = i < length ? (float)(2.0 * sb_rng_uniform(&rng) - 1.0) : 0.0f;
            p[2] = pen == 2, p[3] = pen == 3, p[4] = pen == 4;
            for (int c = 0; c < 5; c++) mask[5 * i + c] = sb_rng_uniform(&rng) < 0.85 ? 1.0f : 0.0f;
        }
        for (int k = 0; k < K; k++) {
            float token = rel_token && k == 0 ? -2.0f : -1.0f;
            for (int c = 0; c < 5; c++) in[5 * k + c] = token;
        }
        for (int i = 0; i < T * 5; i++) in[5 * K + i] = stroke[i] * mask[i];
        for (int i = 0; i < Tin; i++) lm[i] = i < K + length ? 1.0f : 0.0f, seg[i] = 0;
        b->label[s] = (int32_t)sb_rng_below(&rng, (uint32_t)classes);
    }
    return 0;
}

static void free_batch(sb_batch *b) {
    free(b->input), free(b->stroke), free(b->mask), free(b->length_mask), free(b->segment), free(b->label);
    memset(b, 0, sizeof *b);
}

typedef struct bench {
    sb_runtime *rt;
    sb_model *model;
    sb_param *params;
    int n_params;
    sb_plan adam_plan;
    sb_tensor *exp_avg, *exp_avg_sq;
    sb_adam_config adam;
    long adam_step;
    const sb_batch *batch;
    uint64_t seed, step;
} bench;

/* Adam moments for every parameter, zeroed. */
static int bench_adam_alloc(bench *b) {
    b->exp_avg = calloc((size_t)b->n_params, sizeof *b->exp_avg);
    b->exp_avg_sq = calloc((size_t)b->n_params, sizeof *b->exp_avg_sq);
    if (!b->exp_avg || !b->exp_avg_sq) return sb_fail(SB_ERR_MEMORY, "bench model: out of host memory");
    for (int i = 0; i < b->n_params; i++) {
        const sb_tensor *v = &b->params[i].value;
        SB_TRY(sb_plan_add(&b->adam_plan, &b->exp_avg[i], "adam_exp_avg", SB_F32, v->ndim, v->shape));
        SB_TRY(sb_plan_add(&b->adam_plan, &b->exp_avg_sq[i], "adam_exp_avg_sq", SB_F32, v->ndim, v->shape));
    }
    SB_TRY(sb_plan_allocate(b->rt, &b->adam_plan));
    for (int i = 0; i < b->n_params; i++) {
        SB_TRY(sb_tensor_fill_f32(b->rt, &b->exp_avg[i], 0.0f));
        SB_TRY(sb_tensor_fill_f32(b->rt, &b->exp_avg_sq[i], 0.0f));
    }
    return 0;
}

static int train_step(bench *b) {
    SB_TRY(sb_model_forward(b->model, b->batch, 1, b->seed, b->step++, 1));
    SB_TRY(sb_model_backward(b->model));
    b->adam_step++;
    for (int i = 0; i < b->n_params; i++) {
        const sb_param *p = &b->params[i];
        SB_TRY(sb_adam_step(b->rt, &b->adam, b->adam_step, &p->value, &p->grad, &b->exp_avg[i], &b->exp_avg_sq[i]));
    }
    return 0;
}

static int infer_step(bench *b) { return sb_model_forward(b->model, b->batch, 0, b->seed, b->step++, 0); }

/* Warm-up, then `steps` timed steps, each waited for (sb_finish); the
 * profile (if any) covers the timed steps only. ms[0] is the mean wall time
 * per step, ms[1] the best (least disturbed by other load on the machine),
 * ms[2] the mean process CPU time per step (all threads, PoCL's included:
 * the work done, less sensitive to that load). */
static int run_phase(bench *b, int (*step)(bench *), int warmup, int steps, double ms[3]) {
    for (int i = 0; i < warmup; i++) SB_TRY(step(b));
    SB_TRY(sb_finish(b->rt));
    if (b->rt->profile) {
        sb_profile_destroy(b->rt->profile);
        b->rt->profile = sb_profile_create();
        if (!b->rt->profile) return sb_fail(SB_ERR_MEMORY, "bench model: out of host memory for the profile");
    }
    double total = 0.0, best = INFINITY, cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < steps; i++) {
        double t0 = clock_s(CLOCK_MONOTONIC);
        SB_TRY(step(b));
        SB_TRY(sb_finish(b->rt));
        double t = clock_s(CLOCK_MONOTONIC) - t0;
        total += t;
        best = t < best ? t : best;
    }
    ms[0] = 1e3 * total / steps, ms[1] = 1e3 * best;
    ms[2] = 1e3 * (clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / steps;
    return 0;
}

static void bench_close(bench *b) {
    sb_plan_release(b->rt, &b->adam_plan);
    free(b->exp_avg), free(b->exp_avg_sq);
    sb_model_destroy(b->model);
}

static double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

/* Peak resident set of this process so far (Linux: ru_maxrss in KiB). On a
 * CPU device it includes the device buffers, which live in host memory. */
static double peak_rss_mib(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : 0.0;
}

static int bench_model(const cli_options *co, const sb_config *cfg, int batch_size, int steps, int warmup, int phases,
                       int lengths) {
    sb_model_config mc;
    if (sb_model_config_from(cfg, &mc)) {
        fprintf(stderr, "sketchbert bench model: %s\n", sb_last_error());
        return 1;
    }
    int triplet = cfg->get_type == SB_GET_TRIPLET, n = batch_size * (triplet ? 3 : 1);
    cli_options o = *co;
    if (!o.device && cfg->device[0]) o.device = cfg->device;
    sb_runtime *rt = cli_runtime(&o);
    if (!rt) return 1;
    bench b = {.rt = rt, .adam = {cfg->learning_rate, 0.9, 0.999, 1e-8, cfg->weight_decay, 0}, .seed = cfg->seed};
    sb_plan_init(&b.adam_plan);
    sb_batch batch;
    int rc = make_batch(&batch, n, mc.max_length, mc.cls, mc.rel, mc.cls_dim > 0 ? mc.cls_dim : 1, lengths,
                        cfg->seed);
    b.batch = &batch;
    /* inference alone plans only what a forward needs */
    if (!rc) rc = (phases & 1 ? sb_model_create : sb_model_create_inference)(rt, &mc, n, &b.model);
    if (!rc) rc = sb_model_params(b.model, &b.params, &b.n_params);
    if (!rc) rc = sb_model_init_params(b.model, cfg->seed);
    if (!rc && (phases & 1)) rc = bench_adam_alloc(&b);
    if (!rc) {
        size_t values = 0;
        for (int i = 0; i < b.n_params; i++) values += b.params[i].value.numel;
        printf("device: %s (%s)\n", rt->info.device_name, rt->info.platform_name);
        int longest = 0;
        for (int s = 0; s < n; s++)
            for (int t = batch.tokens + mc.max_length; t > longest; t--)
                if (batch.length_mask[(size_t)s * (batch.tokens + mc.max_length) + t - 1] != 0.0f) longest = t;
        printf("model: %s, %d layers, hidden %d, %zu parameters; batch %d sketches of %d+%d tokens (lengths %s, "
               "longest %d tokens)\n", mc.albert ? "albert" : "bert", mc.n_layers, mc.hidden[0], values, n,
               batch.tokens, mc.max_length, length_names[lengths], longest);
        sb_gemm_path path;
        rc = sb_gemm_path_for(&rt->info, NULL, &path);
        if (!rc)
            printf("gemm: %s%s%s%s\n", sb_gemm_path_name(path), path == SB_GEMM_HOST ? " (" : "",
                   path == SB_GEMM_HOST ? sb_gemm_host_blas() : "", path == SB_GEMM_HOST ? ")" : "");
        sb_attention_impl att;
        int chunk;
        sb_model_attention(b.model, &att, &chunk);
        printf("attention: %s", sb_attention_impl_name(att));
        if (chunk) printf(" (chunks of %d sketches)", chunk);
        int threads;
        if (att == SB_ATTENTION_HOST && !sb_attention_threads(rt, &threads)) printf(" (%d threads)", threads);
        printf("\ndevice memory: %s plan, parameters%s %.1f MiB, activations %.1f MiB", phases & 1 ? "training" : "inference",
               phases & 1 ? "+gradients" : "", mib(sb_model_param_bytes(b.model)), mib(sb_model_activation_bytes(b.model)));
        if (phases & 1) printf(" (saved for the backward %.1f MiB)", mib(sb_model_saved_activation_bytes(b.model)));
        printf(", Adam moments %.1f MiB, total allocated %.1f MiB\n", mib(b.adam_plan.total_bytes), mib(rt->device_bytes));
    }
    if (!rc && (phases & 1)) {
        double ms[3];
        rc = run_phase(&b, train_step, warmup, steps, ms);
        sb_loss_terms lt;
        if (!rc) rc = sb_model_read_losses(b.model, &lt);
        if (!rc && !isfinite(lt.total)) rc = sb_fail(SB_ERR_INVALID, "bench model: training loss is %g", lt.total);
        if (!rc) {
            printf("train: best %.2f ms/step, %.2f sketches/s; mean %.2f ms/step, CPU %.2f ms/step (%d steps after "
                   "%d warm-up, loss %.4f)\n", ms[1], 1e3 * n / ms[1], ms[0], ms[2], steps, warmup, lt.total);
            if (rt->profile) sb_profile_print(rt->profile, stdout);
        }
    }
    if (!rc && (phases & 2)) {
        double ms[3];
        rc = run_phase(&b, infer_step, warmup, steps, ms);
        if (!rc) {
            printf("infer: best %.2f ms/step, %.2f sketches/s; mean %.2f ms/step, CPU %.2f ms/step (%d steps after "
                   "%d warm-up)\n", ms[1], 1e3 * n / ms[1], ms[0], ms[2], steps, warmup);
            if (rt->profile) sb_profile_print(rt->profile, stdout);
        }
    }
    if (!rc) printf("peak RSS %.1f MiB\n", peak_rss_mib());
    if (rc) fprintf(stderr, "sketchbert bench model: %s\n", sb_last_error());
    free_batch(&batch);
    bench_close(&b);
    sb_runtime_destroy(rt);
    return rc ? 1 : 0;
}

int cmd_bench_model(const cli_options *co, int argc, char **argv) {
    const char *config_path = NULL;
    int batch_size = 0, steps = 10, warmup = 2, phases = 3, lengths = LENGTHS_HALF;
    cli_sets sets = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return bench_usage(stdout), 0;
        if (!strcmp(a, "--batch") && i + 1 < argc) {
            if (parse_count(argv[++i], 1, &batch_size)) {
                fprintf(stderr, "sketchbert bench model: --batch needs a positive number\n");
                return 2;
            }
        } else if (!strcmp(a, "--steps") && i + 1 < argc) {
            if (parse_count(argv[++i], 1, &steps)) {
                fprintf(stderr, "sketchbert bench model: --steps needs a positive number\n");
                return 2;
            }
        } else if (!strcmp(a, "--warmup") && i + 1 < argc) {
            if (parse_count(argv[++i], 0, &warmup)) {
                fprintf(stderr, "sketchbert bench model: --warmup needs a number >= 0\n");
                return 2;
            }
        } else if (!strcmp(a, "--set") && i + 1 < argc) {
            if (cli_add_set(&sets, "bench model", argv[++i])) return 2;
        } else if (!strcmp(a, "--lengths") && i + 1 < argc) {
            const char *v = argv[++i];
            lengths = -1;
            for (int k = 0; k < 3; k++)
                if (!strcmp(v, length_names[k])) lengths = k;
            if (lengths < 0) {
                fprintf(stderr, "sketchbert bench model: --lengths %s: expected half, quickdraw or full\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--train")) {
            phases = 1;
        } else if (!strcmp(a, "--infer")) {
            phases = 2;
        } else if (a[0] != '-' && !config_path) {
            config_path = a;
        } else {
            fprintf(stderr, "sketchbert bench model: unexpected argument '%s'\n", a);
            bench_usage(stderr);
            return 2;
        }
    }
    if (!config_path) {
        bench_usage(stderr);
        return 2;
    }
    sb_config cfg;
    sb_config_default(&cfg);
    if (sb_config_load_sets(&cfg, config_path, sets.v, sets.n)) {
        fprintf(stderr, "sketchbert bench model: %s\n", sb_last_error());
        return 1;
    }
    return bench_model(co, &cfg, batch_size ? batch_size : cfg.batch_size, steps, warmup, phases, lengths);
}
