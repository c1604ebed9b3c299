/* Test harness for op tests (see test_util.h). */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/profile.h"

int t_small = 0;
static int passed, failed;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static cl_mem owned[4096]; /* device buffers made here, released by t_finish */
static int n_owned;

sb_runtime *t_init(int argc, char **argv, const char *test_name) {
    const char *env = getenv("SKETCHBERT_TEST_SMALL");
    t_small = env && *env && strcmp(env, "0") != 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--small") == 0) t_small = 1;
    sb_runtime *rt = NULL;
    int rc = sb_runtime_create(&rt, NULL, getenv("SB_TEST_KERNEL_LOG") ? SB_RUNTIME_PROFILE : 0);
    if (rc == SB_ERR_NO_DEVICE) {
        printf("SKIP %s: %s\n", test_name, sb_last_error());
        exit(77);
    }
    if (rc) {
        fprintf(stderr, "%s: %s\n", test_name, sb_last_error());
        exit(1);
    }
    printf("# %s on %s (%s)%s\n", test_name, rt->info.device_name, rt->info.platform_name,
           t_small ? ", small sizes" : "");
    return rt;
}

uint32_t t_rand_u32(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

void t_uniform(float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)(t_rand_u32() >> 8) * (1.0f / 16777216.0f);
}

static void die(const char *what) {
    fprintf(stderr, "test setup failed (%s): %s\n", what, sb_last_error());
    exit(1);
}

static sb_tensor alloc_owned(sb_runtime *rt, const char *name, sb_dtype dtype, int ndim, const int *shape) {
    sb_tensor t;
    if (n_owned == (int)(sizeof owned / sizeof owned[0])) die("too many test tensors");
    if (sb_tensor_alloc(rt, &t, name, dtype, ndim, shape)) die(name);
    owned[n_owned++] = t.buf;
    return t;
}

sb_tensor t_upload(sb_runtime *rt, const char *name, sb_dtype dtype, int ndim, const int *shape, const void *host) {
    sb_tensor t = alloc_owned(rt, name, dtype, ndim, shape);
    if (sb_tensor_write(rt, &t, host)) die(name);
    return t;
}

/* A host write, not clEnqueueFillBuffer: after a fill, Oclgrind 21.10
 * tracks only the pattern's first bytes as initialised, so a later kernel
 * reading what another kernel wrote there is falsely reported. */
void t_poison(sb_runtime *rt, const sb_tensor *t) {
    size_t n = t->numel;
    uint32_t *bits = malloc(n * sizeof *bits);
    if (!bits) die(t->name);
    for (size_t i = 0; i < n; i++) bits[i] = 0x7fc00000u; /* a quiet NaN as float */
    if (sb_tensor_write(rt, t, bits)) die(t->name);
    free(bits);
}

sb_tensor t_output(sb_runtime *rt, const char *name, sb_dtype dtype, int ndim, const int *shape) {
    sb_tensor t = alloc_owned(rt, name, dtype, ndim, shape);
    t_poison(rt, &t);
    return t;
}

float *t_download(sb_runtime *rt, const sb_tensor *t) {
    float *h = malloc(sb_tensor_bytes(t));
    if (!h || sb_tensor_read(rt, t, h)) die(t->name);
    return h;
}

double *t_to_double(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    if (!d) die("host memory");
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

double *t_plus(const float *a, const double *b, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    if (!d) die("host memory");
    for (size_t i = 0; i < n; i++) d[i] = a[i] + b[i];
    return d;
}

double t_rel_err(const float *got, const double *ref, size_t n) {
    double max_diff = 0, max_ref = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= max_diff)) max_diff = d; /* NaN propagates as failure */
        if (fabs(ref[i]) > max_ref) max_ref = fabs(ref[i]);
    }
    return max_diff / (max_ref > 1e-30 ? max_ref : 1e-30);
}

double t_rel_err_d(const double *got, const double *ref, size_t n) {
    double max_diff = 0, max_ref = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - ref[i]);
        if (!(d <= max_diff)) max_diff = d;
        if (fabs(ref[i]) > max_ref) max_ref = fabs(ref[i]);
    }
    return max_diff / (max_ref > 1e-30 ? max_ref : 1e-30);
}

int t_check(const char *what, double err, double tol) {
    int ok = err <= tol; /* NaN fails */
    printf("%s %s: error %.3g (tolerance %.3g)\n", ok ? "OK" : "NOT OK", what, err, tol);
    ok ? passed++ : failed++;
    return ok;
}

int t_check_true(const char *what, int ok) {
    printf("%s %s\n", ok ? "OK" : "NOT OK", what);
    ok ? passed++ : failed++;
    return ok;
}

int t_check_error(const char *what, int rc, const char *needle) {
    int ok = rc != 0 && strstr(sb_last_error(), needle) != NULL;
    printf("%s %s: rc %d, \"%s\"\n", ok ? "OK" : "NOT OK", what, rc, sb_last_error());
    ok ? passed++ : failed++;
    return ok;
}

double t_fd_grad_err(t_scalar_fn f, void *ctx, double *x, size_t n, const double *grad, int probes) {
    double max_grad = 0, max_diff = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(grad[i]) > max_grad) max_grad = fabs(grad[i]);
    size_t step = n > (size_t)probes ? n / (size_t)probes : 1;
    for (size_t i = t_rand_u32() % step; i < n; i += step) {
        double keep = x[i], h = 1e-6 * (fabs(keep) > 1 ? fabs(keep) : 1);
        x[i] = keep + h;
        double up = f(x, ctx);
        x[i] = keep - h;
        double down = f(x, ctx);
        x[i] = keep;
        double d = fabs((up - down) / (2 * h) - grad[i]);
        if (!(d <= max_diff)) max_diff = d;
    }
    return max_diff / (max_grad > 1e-30 ? max_grad : 1e-30);
}

int t_finish(sb_runtime *rt) {
    const char *log = getenv("SB_TEST_KERNEL_LOG");
    FILE *f = log && rt->profile ? fopen(log, "a") : NULL;
    if (f) {
        sb_profile_print(rt->profile, f);
        fclose(f);
    }
    for (int i = 0; i < n_owned; i++) clReleaseMemObject(owned[i]);
    sb_runtime_destroy(rt);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
