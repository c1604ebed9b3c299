/* Runtime, tensors and planner: device choice errors, the row-kernel launch
 * shape and its override, kernel build failures with their log,
 * `#include "x.cl"` in sources and programs built with defines,
 * allocations over the device limit, the planner's sub-buffers, and the
 * on-disk binary cache (hit, and fallback when the cached file is
 * corrupt). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops/gelu.h"
#include "runtime/program.h"
#include "test_util.h"

static char tmpdir[] = "/tmp/sketchbert_test_runtime_XXXXXX";

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        perror(path);
        exit(1);
    }
}

/* Runs gelu on 5 values in a fresh runtime; returns rc, checks values. */
static int gelu_in_fresh_runtime(int *values_ok) {
    sb_runtime *rt;
    SB_TRY(sb_runtime_create(&rt, NULL, 0));
    float x[5] = {-2, -0.5f, 0, 0.5f, 2}, y[5];
    sb_tensor tx, ty;
    int shape[1] = {5};
    int rc = sb_tensor_alloc(rt, &tx, "x", SB_F32, 1, shape);
    if (!rc) rc = sb_tensor_alloc(rt, &ty, "y", SB_F32, 1, shape);
    if (!rc) rc = sb_tensor_write(rt, &tx, x);
    if (!rc) rc = sb_gelu_forward(rt, &tx, NULL, &ty);
    if (!rc) rc = sb_tensor_read(rt, &ty, y);
    *values_ok = !rc;
    for (int i = 0; !rc && i < 5; i++)
        *values_ok &= fabs(y[i] - 0.5 * x[i] * (1 + erf(x[i] / sqrt(2.0)))) < 1e-6;
    sb_tensor_release(rt, &tx);
    sb_tensor_release(rt, &ty);
    sb_runtime_destroy(rt);
    return rc;
}

static int count_cache_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".bin") != NULL;
    if (d) closedir(d);
    return n;
}

static void test_device_choice(void) {
    sb_device_info *list;
    int count, index;
    if (sb_devices_list(&list, &count)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    t_check_error("device index out of range", sb_device_pick(list, count, "99", &index), "no such device");
    t_check_error("device name that matches nothing", sb_device_pick(list, count, "no-such-gpu-xyz", &index),
                  "no device name matches");
    char needle[8];
    snprintf(needle, sizeof needle, "%.5s", list[count - 1].device_name);
    t_check_true("device found by name substring", !sb_device_pick(list, count, needle, &index));
    t_check_true("device found by index", !sb_device_pick(list, count, "0", &index) && index == 0);
    free(list);
}

/* The row-kernel launch shape: by device class, SKETCHBERT_ROW_VARIANT
 * overrides, anything else in it is an error. */
static void test_row_variant(const sb_runtime *rt) {
    const sb_device_info *d = &rt->info;
    int cpu = (d->type & CL_DEVICE_TYPE_CPU) || d->local_mem_type == CL_GLOBAL;
    const char *set = getenv("SKETCHBERT_ROW_VARIANT");
    char saved[16] = "";
    if (set) snprintf(saved, sizeof saved, "%s", set);
    else t_check_true("default row variant follows the device class", rt->row_variant == (cpu ? SB_ROW_ITEM : SB_ROW_WG));
    const char *names[2] = {"wg", "item"};
    for (int v = SB_ROW_WG; v <= SB_ROW_ITEM; v++) {
        setenv("SKETCHBERT_ROW_VARIANT", names[v], 1);
        sb_runtime *r = NULL;
        int rc = sb_runtime_create(&r, NULL, 0);
        char what[80];
        snprintf(what, sizeof what, "SKETCHBERT_ROW_VARIANT=%s picks it", names[v]);
        t_check_true(what, !rc && r->row_variant == (sb_row_variant)v);
        sb_runtime_destroy(r);
    }
    setenv("SKETCHBERT_ROW_VARIANT", "fast", 1);
    sb_runtime *r = NULL;
    t_check_error("unknown SKETCHBERT_ROW_VARIANT rejected", sb_runtime_create(&r, NULL, 0), "expected 'wg' or 'item'");
    t_check_true("no runtime on that error", r == NULL);
    if (set) setenv("SKETCHBERT_ROW_VARIANT", saved, 1);
    else unsetenv("SKETCHBERT_ROW_VARIANT");
}

static void test_tensor_limits(sb_runtime *rt) {
    sb_tensor t;
    t_check_error("zero dimension rejected", sb_tensor_describe(&t, "bad", SB_F32, 2, (int[]){3, 0}), "dimension 1 is 0");
    t_check_error("five dimensions rejected", sb_tensor_describe(&t, "bad", SB_F32, 5, (int[]){1, 1, 1, 1, 1}),
                  "5 dimensions");
    int big[2] = {(int)(rt->info.max_alloc / 4096) + 1, 1024}; /* just over max_alloc bytes */
    t_check_error("allocation over the device's max allocation", sb_tensor_alloc(rt, &t, "huge", SB_F32, 2, big),
                  "max allocation");
    sb_plan p;
    sb_plan_init(&p);
    sb_tensor small, huge;
    sb_plan_add(&p, &small, "small", SB_F32, 1, (int[]){3});
    sb_plan_add(&p, &huge, "huge", SB_F32, 2, big);
    t_check_error("planned tensor over the max allocation", sb_plan_allocate(rt, &p), "huge[");
    sb_plan_release(rt, &p);
}

static void test_planner(sb_runtime *rt) {
    enum { N = 7 };
    sb_tensor t[N];
    sb_plan p;
    sb_plan_init(&p);
    size_t want = 0;
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        sb_plan_add(&p, &t[i], name, i % 2 ? SB_I32 : SB_F32, 2, (int[]){i + 1, 33});
        want += (size_t)(i + 1) * 33 * 4;
    }
    if (sb_plan_allocate(rt, &p)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    t_check_true("planner covers every tensor", p.total_bytes >= want);
    /* Write a distinct pattern into each, then read all back: no overlap. */
    int ok = 1;
    for (int i = 0; i < N && ok; i++) {
        int *h = malloc(sb_tensor_bytes(&t[i]));
        for (size_t k = 0; k < t[i].numel; k++) h[k] = i * 100000 + (int)k;
        ok = !sb_tensor_write(rt, &t[i], h);
        free(h);
    }
    for (int i = 0; i < N && ok; i++) {
        int *h = malloc(sb_tensor_bytes(&t[i]));
        ok = !sb_tensor_read(rt, &t[i], h);
        for (size_t k = 0; ok && k < t[i].numel; k++) ok = h[k] == i * 100000 + (int)k;
        free(h);
    }
    t_check_true("planned tensors hold their own data", ok);
    size_t before = rt->device_bytes, planned = p.total_bytes;
    sb_plan_release(rt, &p);
    t_check_true("release returns the planned bytes", rt->device_bytes == before - planned);
}

static void test_kernel_dir_errors(void) {
    char path[256];
    setenv("SKETCHBERT_KERNEL_DIR", tmpdir, 1);
    int ok;
    t_check_error("missing kernel file in SKETCHBERT_KERNEL_DIR", gelu_in_fresh_runtime(&ok), "cannot open");
    snprintf(path, sizeof path, "%s/gelu.cl", tmpdir);
    write_file(path, "__kernel void gelu_forward(__global float *x) { x[0] = undeclared_thing; }\n");
    t_check_error("kernel that does not build", gelu_in_fresh_runtime(&ok), "building cl/gelu.cl failed");
    unsetenv("SKETCHBERT_KERNEL_DIR");
    remove(path);
}

/* x[0] from kernel prog_k of cl/prog.cl built with `defines`. */
static int run_prog(sb_runtime *rt, const char *defines, float *out) {
    cl_kernel k;
    sb_tensor t;
    int shape[1] = {1};
    SB_TRY(sb_kernel_defs(rt, "prog", defines, "prog_k", &k));
    SB_TRY(sb_tensor_alloc(rt, &t, "x", SB_F32, 1, shape));
    size_t global = 1;
    int rc = SB_ARG(k, 0, t.buf);
    if (!rc) rc = sb_launch(rt, k, 1, &global, NULL);
    if (!rc) rc = sb_tensor_read(rt, &t, out);
    sb_tensor_release(rt, &t);
    return rc;
}

static void test_includes_and_defines(sb_runtime *rt) {
    char path[256];
    setenv("SKETCHBERT_KERNEL_DIR", tmpdir, 1);
    snprintf(path, sizeof path, "%s/twice.cl", tmpdir);
    write_file(path, "#define TWICE(x) (2.0f * (x))\n");
    snprintf(path, sizeof path, "%s/prog.cl", tmpdir);
    write_file(path, "#include \"twice.cl\"\n__kernel void prog_k(__global float *x) { x[0] = TWICE(VALUE); }\n");
    char *text = NULL;
    int rc = sb_program_source("prog", &text);
    t_check_true("an included file's text replaces its #include line",
                 !rc && strstr(text, "#define TWICE") && !strstr(text, "#include"));
    free(text);
    float three = 0, five = 0;
    rc = run_prog(rt, "-DVALUE=3.0f", &three);
    if (!rc) rc = run_prog(rt, "-DVALUE=5.0f", &five);
    t_check_true("each defines string builds its own program", !rc && three == 6.0f && five == 10.0f);
    write_file(path, "#include \"absent.cl\"\n");
    t_check_error("an include of a missing file", sb_program_source("prog", &text), "absent.cl: No such file");
    write_file(path, "#include \"prog.cl\"\n");
    t_check_error("an include of itself", sb_program_source("prog", &text), "nested deeper than");
    unsetenv("SKETCHBERT_KERNEL_DIR");
}

static void test_binary_cache(void) {
    char cache_dir[300];
    snprintf(cache_dir, sizeof cache_dir, "%s/sketchbert", tmpdir);
    setenv("XDG_CACHE_HOME", tmpdir, 1);
    setenv("SKETCHBERT_NO_BINARY_CACHE", "0", 1);
    int ok = 0;
    int rc = gelu_in_fresh_runtime(&ok);
    t_check_true("build with cache enabled gives right values", !rc && ok);
    t_check_true("a cache file was written", count_cache_files(cache_dir) == 1);
    rc = gelu_in_fresh_runtime(&ok);
    t_check_true("program loaded from the cache gives right values", !rc && ok);
    /* Corrupt every cache file: the runtime must fall back to the source. */
    DIR *d = opendir(cache_dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strstr(e->d_name, ".bin")) continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", cache_dir, e->d_name);
        FILE *f = fopen(p, "r+b");
        if (f) {
            fseek(f, 40, SEEK_SET);
            fputs("garbage garbage garbage", f);
            fclose(f);
            truncate(p, 64);
        }
    }
    if (d) closedir(d);
    rc = gelu_in_fresh_runtime(&ok);
    t_check_true("corrupt cache entry falls back to building from source", !rc && ok);
    setenv("SKETCHBERT_NO_BINARY_CACHE", "1", 1);
}

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_runtime");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_device_choice();
    test_row_variant(rt);
    test_tensor_limits(rt);
    test_planner(rt);
    test_kernel_dir_errors();
    test_includes_and_defines(rt);
    if (!t_small) test_binary_cache(); /* Oclgrind offers no program binaries */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_finish(rt);
}
