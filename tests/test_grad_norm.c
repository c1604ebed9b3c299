/* Gradient norm and clipping: the norm over several tensors of odd sizes vs
 * a double reference, clipping vs torch's rule (scaled when the norm is
 * above max_norm, bit-identical otherwise), run-to-run determinism,
 * NaN / Inf propagation, and bad arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/grad_norm.h"
#include "test_util.h"

#define MAX_T 5

typedef struct {
    int count, size[MAX_T];
    float *host[MAX_T];
    sb_tensor dev[MAX_T];
    const sb_tensor *ptr[MAX_T];
} grad_set;

/* Tensors of the given sizes, scaled so that each adds a similar share to
 * the sum of squares: losing any one tensor's partial sums shows. */
static void make_set(sb_runtime *rt, grad_set *s, const int *sizes, int count) {
    s->count = count;
    for (int i = 0; i < count; i++) {
        char name[16];
        snprintf(name, sizeof name, "grad%d", i);
        s->size[i] = sizes[i];
        s->host[i] = malloc((size_t)sizes[i] * sizeof(float));
        float scale = (float)(i + 1) / sqrtf((float)sizes[i]);
        t_uniform(s->host[i], (size_t)sizes[i], -scale, scale);
        s->dev[i] = t_upload(rt, name, SB_F32, 1, &sizes[i], s->host[i]);
        s->ptr[i] = &s->dev[i];
    }
}

static void reload(sb_runtime *rt, grad_set *s) {
    for (int i = 0; i < s->count; i++)
        if (sb_tensor_write(rt, &s->dev[i], s->host[i])) t_check_true(sb_last_error(), 0);
}

static double norm_ref(const grad_set *s) {
    double sum = 0;
    for (int i = 0; i < s->count; i++)
        for (int j = 0; j < s->size[i]; j++) sum += (double)s->host[i][j] * s->host[i][j];
    return sqrt(sum);
}

static void free_set(grad_set *s) {
    for (int i = 0; i < s->count; i++) free(s->host[i]);
}

/* Clips by max_norm and compares every tensor with torch's rule. */
static void check_clip(sb_runtime *rt, grad_set *s, const sb_tensor *norm, double ref, double max_norm) {
    char what[160];
    reload(rt, s);
    if (sb_grad_clip(rt, s->ptr, s->count, norm, (float)max_norm)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    double coef = max_norm / (ref + 1e-6);
    for (int i = 0; i < s->count; i++) {
        float *got = t_download(rt, &s->dev[i]);
        if (coef < 1) {
            double *want = malloc((size_t)s->size[i] * sizeof *want);
            for (int j = 0; j < s->size[i]; j++) want[j] = coef * s->host[i][j];
            snprintf(what, sizeof what, "clip to %.4g (coef %.4g): %s[%d] vs reference", max_norm, coef,
                     s->dev[i].name, s->size[i]);
            t_check(what, t_rel_err(got, want, (size_t)s->size[i]), 1e-5);
            free(want);
        } else {
            snprintf(what, sizeof what, "clip to %.4g (coef %.4g >= 1): %s[%d] unchanged", max_norm, coef,
                     s->dev[i].name, s->size[i]);
            t_check_true(what, memcmp(got, s->host[i], (size_t)s->size[i] * sizeof(float)) == 0);
        }
        free(got);
    }
}

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_grad_norm");
    /* Not multiples of any work-group size; the largest needs the strided
     * loop (more than SB_GRAD_NORM_GROUPS work-groups' worth). */
    const int big[MAX_T] = {1, 5, 37, 1001, 100003}, small[MAX_T] = {1, 5, 37, 300, 77};
    grad_set s;
    make_set(rt, &s, t_small ? small : big, MAX_T);
    int wshape[1] = {MAX_T * SB_GRAD_NORM_GROUPS}, one[1] = {1};
    sb_tensor work = t_output(rt, "work", SB_F32, 1, wshape), norm = t_output(rt, "norm", SB_F32, 1, one);
    double ref = norm_ref(&s);
    float got = NAN, again = NAN;
    if (sb_grad_norm(rt, s.ptr, s.count, &work, &norm) || sb_grad_norm_read(rt, &norm, &got)) {
        t_check_true(sb_last_error(), 0);
        return t_finish(rt);
    }
    char what[160];
    snprintf(what, sizeof what, "norm over %d tensors vs reference (%.6g)", s.count, ref);
    t_check(what, fabs(got - ref) / ref, 1e-5);
    t_poison(rt, &work);
    t_poison(rt, &norm);
    if (sb_grad_norm(rt, s.ptr, s.count, &work, &norm) || sb_grad_norm_read(rt, &norm, &again))
        t_check_true(sb_last_error(), 0);
    t_check_true("norm is bit-identical on a second run", memcmp(&got, &again, sizeof got) == 0);

    check_clip(rt, &s, &norm, ref, 0.37 * ref);
    check_clip(rt, &s, &norm, ref, 2.0 * ref);

    /* A non-finite gradient shows in the norm; a NaN norm clips nothing. */
    reload(rt, &s);
    float bad[2] = {NAN, INFINITY};
    for (int b = 0; b < 2; b++) {
        s.host[2][7] = bad[b];
        reload(rt, &s);
        float v = 0;
        if (sb_grad_norm(rt, s.ptr, s.count, &work, &norm) || sb_grad_norm_read(rt, &norm, &v))
            t_check_true(sb_last_error(), 0);
        t_check_true(b ? "an Inf gradient gives an Inf norm" : "a NaN gradient gives a NaN norm",
                     b ? isinf(v) : isnan(v));
    }
    s.host[2][7] = NAN;
    reload(rt, &s);
    if (sb_grad_norm(rt, s.ptr, s.count, &work, &norm) || sb_grad_clip(rt, s.ptr, s.count, &norm, 1.0f))
        t_check_true(sb_last_error(), 0);
    float *g4 = t_download(rt, &s.dev[4]);
    t_check_true("a NaN norm leaves the gradients unchanged",
                 memcmp(g4, s.host[4], (size_t)s.size[4] * sizeof(float)) == 0);
    free(g4);

    int short_shape[1] = {MAX_T * SB_GRAD_NORM_GROUPS - 1}, two[1] = {2}, n3[1] = {3};
    sb_tensor short_work = t_output(rt, "work_short", SB_F32, 1, short_shape);
    sb_tensor norm2 = t_output(rt, "norm2", SB_F32, 1, two), gi = t_output(rt, "grad_int", SB_I32, 1, n3);
    const sb_tensor *ints[1] = {&gi};
    t_check_error("small work rejected", sb_grad_norm(rt, s.ptr, s.count, &short_work, &norm), "work_short");
    t_check_error("2-element norm rejected", sb_grad_norm(rt, s.ptr, s.count, &work, &norm2), "norm2");
    t_check_error("int32 gradient rejected", sb_grad_norm(rt, ints, 1, &work, &norm), "grad_int must be float32");
    t_check_error("empty list rejected", sb_grad_norm(rt, s.ptr, 0, &work, &norm), "count 0");
    t_check_error("max_norm 0 rejected", sb_grad_clip(rt, s.ptr, s.count, &norm, 0.0f), "max_norm 0");
    free_set(&s);
    return t_finish(rt);
}
