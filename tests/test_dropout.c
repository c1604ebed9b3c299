/* Dropout: host Philox against the Random123 known answers, device mask
 * equal to the host mask bit for bit, keep rate, reproducibility by key,
 * forward and backward against a double reference, bad arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/dropout.h"
#include "test_util.h"

// ---- host Philox known answers (Random123 kat_vectors, philox4x32 10)

static void check_philox_kat(void) {
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {~0u, ~0u, ~0u, ~0u, ~0u, ~0u, 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb,
         0x5001e420, 0x24126ea1},
    };
    int ok = 1;
    for (int v = 0; v < 3; v++) {
        uint32_t out[4];
        sb_philox4x32_10(kat[v], kat[v] + 4, out);
        ok &= memcmp(out, kat[v] + 6, sizeof out) == 0;
    }
    t_check_true("host Philox4x32-10 matches the Random123 known answers", ok);
}

// ---- double-precision reference

typedef struct { const double *dy; const unsigned char *keep; double scale; size_t n; } loss_ctx;

/* L = sum dy * dropout(x) for a fixed mask: its gradient is the backward. */
static double loss(const double *x, void *vctx) {
    const loss_ctx *c = vctx;
    double s = 0;
    for (size_t i = 0; i < c->n; i++) s += c->dy[i] * (c->keep[i] ? x[i] * c->scale : 0.0);
    return s;
}

static void host_mask(sb_rng_key key, float p, size_t n, unsigned char *keep) {
    uint32_t threshold = sb_dropout_threshold(p);
    for (size_t i = 0; i < n; i++) keep[i] = (unsigned char)sb_dropout_keep(key, threshold, i);
}

/* Number of elements where the device output disagrees with the host
 * mask: dropped must be exactly 0, kept exactly x * (1 / (1 - p)) in float. */
static size_t mask_mismatches(const float *got, const float *x, const unsigned char *keep, float p, size_t n) {
    float scale = 1.0f / (1.0f - p);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float want = keep[i] ? x[i] * scale : 0.0f;
        bad += memcmp(&got[i], &want, sizeof want) != 0;
    }
    return bad;
}

// ---- tests

int main(int argc, char **argv) {
    sb_runtime *rt = t_init(argc, argv, "test_dropout");
    check_philox_kat();

    int n = t_small ? 77 : 100003; /* not a multiple of 4 or of any work-group size */
    const float p = 0.3f;
    sb_rng_key key = {.seed = 0x0123456789abcdefull, .stream = 0xfedcba9876543210ull, .offset = 0};
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy);
    double *xd = malloc(n * sizeof *xd), *dyd = malloc(n * sizeof *dyd);
    double *y_ref = malloc(n * sizeof *y_ref), *dx_ref = malloc(n * sizeof *dx_ref);
    unsigned char *keep = malloc(n), *keep2 = malloc(n);
    t_uniform(x, n, 0.5f, 2.0f); /* never 0, so 0 in y means dropped */
    t_uniform(dy, n, -1.0f, 1.0f);
    host_mask(key, p, n, keep);
    double scale = 1.0 / (1.0 - p);
    size_t kept = 0;
    for (int i = 0; i < n; i++) {
        xd[i] = x[i], dyd[i] = dy[i];
        y_ref[i] = keep[i] ? xd[i] * scale : 0.0;
        dx_ref[i] = keep[i] ? dyd[i] * scale : 0.0;
        kept += keep[i];
    }
    loss_ctx lc = {dyd, keep, scale, (size_t)n};
    t_check("reference backward vs finite differences", t_fd_grad_err(loss, &lc, xd, n, dx_ref, 200), 1e-6);

    /* keep rate: binomial, within 5 sigma of n (1 - p) */
    double q = 1.0 - (double)sb_dropout_threshold(p) / 4294967296.0;
    double sigma = sqrt(n * q * (1 - q));
    t_check("keep count within 5 sigma of n (1 - p), in sigmas", fabs((double)kept - n * q) / sigma, 5.0);

    int shape[1] = {n};
    sb_tensor tx = t_upload(rt, "x", SB_F32, 1, shape, x), tdy = t_upload(rt, "dy", SB_F32, 1, shape, dy);
    sb_tensor ty = t_output(rt, "y", SB_F32, 1, shape), ty2 = t_output(rt, "y2", SB_F32, 1, shape);
    sb_tensor tdx = t_output(rt, "dx", SB_F32, 1, shape);
    if (sb_dropout_forward(rt, &tx, &ty, p, key) || sb_dropout_backward(rt, &tdy, &tdx, p, key) ||
        sb_dropout_forward(rt, &tx, &ty2, p, key)) {
        t_check_true(sb_last_error(), 0);
        return t_finish(rt);
    }
    float *y = t_download(rt, &ty), *y2 = t_download(rt, &ty2), *dx = t_download(rt, &tdx);
    t_check("dropout_forward vs reference", t_rel_err(y, y_ref, n), 1e-5);
    t_check("dropout_backward vs reference", t_rel_err(dx, dx_ref, n), 1e-5);
    t_check("forward: elements differing from the host Philox mask", (double)mask_mismatches(y, x, keep, p, n), 0);
    t_check("backward: elements differing from the host Philox mask", (double)mask_mismatches(dx, dy, keep, p, n),
            0);
    t_check_true("same key gives the same output", memcmp(y, y2, n * sizeof *y) == 0);

    /* another stream (and another seed) gives another mask, also matching the host */
    sb_rng_key other_stream = {.seed = key.seed, .stream = key.stream + 1, .offset = 0};
    sb_rng_key other_seed = {.seed = key.seed ^ 1, .stream = key.stream, .offset = 0};
    sb_rng_key others[2] = {other_stream, other_seed};
    for (int o = 0; o < 2; o++) {
        free(y2);
        t_poison(rt, &ty2);
        if (sb_dropout_forward(rt, &tx, &ty2, p, others[o])) t_check_true(sb_last_error(), 0);
        y2 = t_download(rt, &ty2);
        host_mask(others[o], p, n, keep2);
        size_t differ = 0;
        for (int i = 0; i < n; i++) differ += keep[i] != keep2[i];
        /* expected 2 p (1 - p) n differences: about 32 at the small size */
        t_check_true(o ? "another seed gives another mask" : "another stream gives another mask",
                     differ > (size_t)(0.2 * n));
        t_check("  and matches its host mask (mismatches)", (double)mask_mismatches(y2, x, keep2, p, n), 0);
    }

    /* an element offset k (a data-parallel rank's slice) gives element i the
     * word of element k + i: the tail of the unshifted mask, through the
     * float4 path (k a multiple of 4) and the element path */
    const int offsets[2] = {8, 6};
    char what[96];
    for (int o = 0; o < 2; o++) {
        sb_rng_key shifted = {.seed = key.seed, .stream = key.stream, .offset = (uint64_t)offsets[o]};
        free(y2);
        t_poison(rt, &ty2);
        if (sb_dropout_forward(rt, &tx, &ty2, p, shifted)) t_check_true(sb_last_error(), 0);
        y2 = t_download(rt, &ty2);
        host_mask(shifted, p, n, keep2);
        int tail = 1;
        for (int i = 0; i + offsets[o] < n; i++) tail &= keep2[i] == keep[i + offsets[o]];
        snprintf(what, sizeof what, "offset %d: host mask is the unshifted mask from element %d", offsets[o],
                 offsets[o]);
        t_check_true(what, tail);
        t_check("  device vs host mask (mismatches)", (double)mask_mismatches(y2, x, keep2, p, n), 0);
    }

    /* p = 0 is an exact copy; in place (y = x) works */
    free(y2);
    t_poison(rt, &ty2);
    sb_rng_key zero_key = {.seed = 0, .stream = 0, .offset = 0};
    if (sb_dropout_forward(rt, &tx, &ty2, 0.0f, zero_key)) t_check_true(sb_last_error(), 0);
    y2 = t_download(rt, &ty2);
    t_check_true("p = 0 is an exact copy", memcmp(y2, x, n * sizeof *x) == 0);
    sb_tensor tinplace = t_upload(rt, "x_inplace", SB_F32, 1, shape, x);
    if (sb_dropout_forward(rt, &tinplace, &tinplace, p, key)) t_check_true(sb_last_error(), 0);
    float *yin = t_download(rt, &tinplace);
    t_check_true("in place (x = y) gives the same output", memcmp(yin, y, n * sizeof *y) == 0);

    t_check_error("p = 1 rejected", sb_dropout_forward(rt, &tx, &ty, 1.0f, key), "outside [0, 1)");
    t_check_error("p < 0 rejected", sb_dropout_backward(rt, &tdy, &tdx, -0.1f, key), "outside [0, 1)");
    t_check_error("p = NaN rejected", sb_dropout_forward(rt, &tx, &ty, NAN, key), "outside [0, 1)");
    int short_shape[1] = {n - 1};
    sb_tensor tshort = t_output(rt, "y_short", SB_F32, 1, short_shape);
    t_check_error("size mismatch rejected", sb_dropout_forward(rt, &tx, &tshort, p, key), "differ in size");
    free(x), free(dy), free(xd), free(dyd), free(y_ref), free(dx_ref), free(keep), free(keep2);
    free(y), free(y2), free(dx), free(yin);
    return t_finish(rt);
}
