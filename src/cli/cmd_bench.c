/* `sketchbert bench gemm`: GFLOP/s of sb_gemm (CLBlast) on the device for
 * the GEMM shapes one Sketch-BERT encoder layer runs, forward and backward.
 * Letters: B batch, T tokens, M = B*T rows, H hidden, I intermediate,
 * d = 64 head size, heads = H / d. For a Linear layer y = x W^T with
 * x (M, in), W (out, in):
 *   forward  y  = x W^T    NT  M x out x in
 *   backward dx = dy W     NN  M x in x out
 *   backward dW = dy^T x   TN  out x in x M
 * and for attention per head (strided batched over B*heads):
 *   scores  = Q K^T        NT  T x T x d     (also dP = dC V^T)
 *   context = P V          NN  T x d x T     (also dQ = dS K)
 *   dV = P^T dC            TN  T x d x T     (also dK = dS^T Q)
 * Times are wall clock around the call and sb_finish, after one warm-up
 * call (which also builds the kernels). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "ops/gemm.h"
#include "ops/gemm_tuning.h"
#include "runtime/profile.h"
#include "tensor/tensor.h"

enum { HEAD_DIM = 64 };

static const struct model_size {
    const char *name;
    int hidden, intermediate;
} model_sizes[] = {{"tiny", 128, 512}, {"small", 256, 1024}, {"base", 768, 3072}};
#define N_MODEL_SIZES ((int)(sizeof model_sizes / sizeof model_sizes[0]))

typedef struct bench_shape {
    const char *model, *op;
    int ta, tb;
    size_t M, N, K, batch; /* batch 0: plain sb_gemm */
} bench_shape;

static double clock_s(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The three products of a Linear layer in -> out over M rows. */
static int add_linear(bench_shape *s, int n, const char *model, const char *name, size_t M, size_t in, size_t out) {
    static char ops[N_MODEL_SIZES * 3][3][48]; /* names live as long as the program */
    static int used;
    const char *dir[3] = {"forward y", "backward dx", "backward dW"};
    const int ta[3] = {0, 0, 1}, tb[3] = {1, 0, 0};
    const size_t dims[3][3] = {{M, out, in}, {M, in, out}, {out, in, M}};
    for (int i = 0; i < 3; i++) {
        snprintf(ops[used][i], sizeof ops[used][i], "%s %s", name, dir[i]);
        s[n++] = (bench_shape){model, ops[used][i], ta[i], tb[i], dims[i][0], dims[i][1], dims[i][2], 0};
    }
    used++;
    return n;
}

/* Every shape of the chosen model sizes (all when `only` is NULL). */
static int list_shapes(bench_shape *s, size_t B, size_t T, const char *only) {
    int n = 0;
    for (int m = 0; m < N_MODEL_SIZES; m++) {
        const struct model_size *z = &model_sizes[m];
        if (only && strcmp(only, z->name) != 0) continue;
        size_t M = B * T, H = (size_t)z->hidden, I = (size_t)z->intermediate, heads = H / HEAD_DIM;
        n = add_linear(s, n, z->name, "Q/K/V/out H->H", M, H, H);
        n = add_linear(s, n, z->name, "FFN H->I", M, H, I);
        n = add_linear(s, n, z->name, "FFN I->H", M, I, H);
        s[n++] = (bench_shape){z->name, "attn scores QK^T (and dP)", 0, 1, T, T, HEAD_DIM, B * heads};
        s[n++] = (bench_shape){z->name, "attn context PV (and dQ)", 0, 0, T, HEAD_DIM, T, B * heads};
        s[n++] = (bench_shape){z->name, "attn dV (and dK)", 1, 0, T, HEAD_DIM, T, B * heads};
    }
    return n;
}

/* One call of the shape on buffers a, b, c (large enough for any shape). */
static int run_shape(sb_runtime *rt, const bench_shape *s, cl_mem a, cl_mem b, cl_mem c) {
    size_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    sb_mat A = {a, 0, lda}, B = {b, 0, ldb}, C = {c, 0, s->N};
    if (!s->batch) return sb_gemm(rt, s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, B, 0.0f, C);
    return sb_gemm_batched(rt, s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, s->M * s->K, B, s->K * s->N, 0.0f, C,
                           s->M * s->N, s->batch);
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Sorts x[n] and returns its median. */
static double median_of(double *x, size_t n) {
    qsort(x, n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: sketchbert bench gemm [--batch B] [--tokens T] [--reps R] [--model NAME] [--csv]\n"
            "\n"
            "Times the GEMMs of one Sketch-BERT encoder layer on the device (through\n"
            "the GEMM path --gemm picks: CLBlast, or the host BLAS on a CPU device) and\n"
            "prints GFLOP/s per shape: for each model size (tiny H=128 I=512,\n"
            "small H=256 I=1024, base H=768 I=3072, head size 64) the Q/K/V/out and FFN\n"
            "products over M = B*T rows, forward (NT) and backward (NN for dx, TN for\n"
            "dW), and the attention products per head, batched over B*heads.\n"
            "\n"
            "options:\n"
            "  --batch B     sketches per batch (default 8)\n"
            "  --tokens T    tokens per sketch (default 251: 250 points + one task token;\n"
            "                252 with two task tokens)\n"
            "  --reps R      timed calls per shape after one warm-up call (default 5)\n"
            "  --model NAME  only tiny, small or base (default: all three)\n"
            "  --csv         comma-separated output (for tools/bench_gemm_host.py)\n"
            "\n"
            "Each time is the wall clock around one call and sb_finish; the table gives\n"
            "the median and best of the timed calls, the median process CPU time (all\n"
            "threads: on a machine shared with other work it shows the work done, which\n"
            "the wall clock does not), and per model size the sums of the medians.\n"
            "SKETCHBERT_NO_GEMM_TUNING=1 runs\n"
            "CLBlast with its own default parameters instead of the shipped tuning.\n");
}

static int parse_size(const char *opt, const char *v, size_t *out) {
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < 1 || x > 100000) {
        fprintf(stderr, "sketchbert bench gemm: %s needs a whole number from 1 to 100000\n", opt);
        return 2;
    }
    *out = (size_t)x;
    return 0;
}

static int bench_gemm(const cli_options *o, int argc, char **argv) {
    size_t B = 8, T = 251, reps = 5;
    const char *only = NULL;
    int csv = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--csv") == 0) {
            csv = 1;
            continue;
        } else if (strcmp(a, "--batch") == 0) {
            rc = parse_size(a, v, &B);
        } else if (strcmp(a, "--tokens") == 0) {
            rc = parse_size(a, v, &T);
        } else if (strcmp(a, "--reps") == 0) {
            rc = parse_size(a, v, &reps);
        } else if (strcmp(a, "--model") == 0) {
            only = v;
            int known = 0;
            for (int m = 0; v && m < N_MODEL_SIZES; m++) known |= strcmp(v, model_sizes[m].name) == 0;
            if (!known) {
                fprintf(stderr, "sketchbert bench gemm: --model needs tiny, small or base\n");
                return 2;
            }
        } else {
            fprintf(stderr, "sketchbert bench gemm: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        if (rc) return rc;
        i++; /* the option's value */
    }

    bench_shape shapes[N_MODEL_SIZES * 12];
    int n = list_shapes(shapes, B, T, only);
    size_t na = 0, nb = 0, nc = 0; /* elements each buffer needs */
    for (int i = 0; i < n; i++) {
        size_t count = shapes[i].batch ? shapes[i].batch : 1;
        if (count * shapes[i].M * shapes[i].K > na) na = count * shapes[i].M * shapes[i].K;
        if (count * shapes[i].K * shapes[i].N > nb) nb = count * shapes[i].K * shapes[i].N;
        if (count * shapes[i].M * shapes[i].N > nc) nc = count * shapes[i].M * shapes[i].N;
    }
    if (na > 0x7fffffff || nb > 0x7fffffff || nc > 0x7fffffff) {
        fprintf(stderr, "sketchbert bench gemm: --batch %zu with --tokens %zu is too large\n", B, T);
        return 2;
    }

    sb_runtime *rt = cli_runtime(o);
    if (!rt) return 1;
    sb_tensor ta = {0}, tb = {0}, tc = {0};
    int rc = sb_tensor_alloc(rt, &ta, "bench A", SB_F32, 1, (int[]){(int)na}) ||
             sb_tensor_alloc(rt, &tb, "bench B", SB_F32, 1, (int[]){(int)nb}) ||
             sb_tensor_alloc(rt, &tc, "bench C", SB_F32, 1, (int[]){(int)nc}) ||
             sb_tensor_fill_f32(rt, &ta, 0.5f) || sb_tensor_fill_f32(rt, &tb, 0.25f) ||
             sb_tensor_fill_f32(rt, &tc, 0.0f) || sb_gemm_use(rt, NULL);
    const char *off = getenv("SKETCHBERT_NO_GEMM_TUNING"), *key = sb_gemm_tuning_device(rt->info.device_name);
    char params[96];
    if (off && *off && strcmp(off, "0") != 0)
        snprintf(params, sizeof params, "CLBlast defaults (SKETCHBERT_NO_GEMM_TUNING=%s)", off);
    else if (key)
        snprintf(params, sizeof params, "shipped tuning for '%s'", key);
    else
        snprintf(params, sizeof params, "CLBlast defaults (no shipped tuning for this device)");
    if (rt->gemm_path == SB_GEMM_HOST) snprintf(params, sizeof params, "host BLAS, %s", sb_gemm_host_blas());
    if (csv)
        printf("model,op,trans,M,N,K,batch,ms_median,gflops_median,gflops_best,cpu_ms_median\n");
    else
        printf("device: %s (%s)\nbatch %zu x %zu tokens, %zu timed calls per shape, GEMM: %s\n\n"
               "%-6s %-28s %-5s %5s %5s %5s %5s %10s %9s %9s %10s\n",
               rt->info.device_name, rt->info.platform_name, B, T, reps, params,
               "model", "GEMM", "trans", "M", "N", "K", "batch", "median ms", "GFLOP/s", "best", "CPU ms");
    /* wall[r], cpu[r]: wall clock and process CPU time (all threads) of call r */
    double *wall = malloc(reps * sizeof *wall), *cpu = malloc(reps * sizeof *cpu);
    double total_s = 0, total_cpu_s = 0, total_flops = 0; /* per model size */
    for (int i = 0; !rc && i < n; i++) {
        const bench_shape *s = &shapes[i];
        rc = !wall || !cpu || run_shape(rt, s, ta.buf, tb.buf, tc.buf) || sb_finish(rt);
        for (size_t r = 0; !rc && r < reps; r++) {
            double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            rc = run_shape(rt, s, ta.buf, tb.buf, tc.buf) || sb_finish(rt);
            wall[r] = clock_s(CLOCK_MONOTONIC) - w0, cpu[r] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        }
        if (rc) break;
        double median = median_of(wall, reps), cpu_median = median_of(cpu, reps); /* sorts */
        double flops = 2.0 * s->M * s->N * s->K * (s->batch ? s->batch : 1);
        char trans[3] = {s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', 0};
        printf(csv ? "%s,%s,%s,%zu,%zu,%zu,%zu,%.4f,%.2f,%.2f,%.4f\n"
                   : "%-6s %-28s %-5s %5zu %5zu %5zu %5zu %10.3f %9.2f %9.2f %10.3f\n",
               s->model, s->op, trans, s->M, s->N, s->K, s->batch ? s->batch : 1, median * 1e3,
               flops / median * 1e-9, flops / wall[0] * 1e-9, cpu_median * 1e3);
        total_s += median, total_cpu_s += cpu_median, total_flops += flops;
        if (!csv && (i + 1 == n || strcmp(shapes[i + 1].model, s->model) != 0)) {
            printf("%-6s %-28s %-5s %23s %10.3f %9.2f %9s %10.3f\n\n", s->model, "all of the above", "", "",
                   total_s * 1e3, total_flops / total_s * 1e-9, "", total_cpu_s * 1e3);
            total_s = total_cpu_s = total_flops = 0;
        }
        fflush(stdout);
    }
    if (rc) fprintf(stderr, "sketchbert bench gemm: %s\n", wall && cpu ? sb_last_error() : "out of memory");
    if (!rc && rt->profile) sb_profile_print(rt->profile, stdout);
    free(wall), free(cpu);
    sb_tensor_release(rt, &ta), sb_tensor_release(rt, &tb), sb_tensor_release(rt, &tc);
    sb_runtime_destroy(rt);
    return rc ? 1 : 0;
}

int cmd_bench(const cli_options *o, int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "gemm") == 0) return bench_gemm(o, argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "data") == 0) return cmd_bench_data(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "model") == 0) return cmd_bench_model(o, argc - 1, argv + 1);
    int help = argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    if (!help && argc > 1) fprintf(stderr, "sketchbert bench: unknown benchmark '%s'\n\n", argv[1]);
    fprintf(help ? stdout : stderr,
            "usage: sketchbert bench gemm|data|model [OPTIONS]\n\n"
            "benchmarks:\n  gemm   GFLOP/s of the model's GEMM shapes (see `sketchbert bench gemm --help`)\n"
            "  data   sketches/s through the transform and SGM mask (`sketchbert bench data --help`)\n"
            "  model  training step and inference of a config's model (`sketchbert bench model --help`)\n");
    return help ? 0 : 2;
}
