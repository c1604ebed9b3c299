/* Host RNG: determinism by seed and key, unbiased bounded integers
 * (chi-square), Fisher-Yates permutations and uniform k-of-n choice,
 * uniform and normal moments. Host only. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/rng.h"
#include "test_util.h"

/* Chi-square statistic of counts[0..n) against equal expectation. */
static double chi_square(const long *counts, int n, long draws) {
    double e = (double)draws / n, x = 0;
    for (int i = 0; i < n; i++) x += (counts[i] - e) * (counts[i] - e) / e;
    return x;
}

static void check_determinism(void) {
    sb_rng a, b, c;
    sb_rng_seed(&a, 42), sb_rng_seed(&b, 42), sb_rng_seed(&c, 43);
    int same = 1, differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = sb_rng_u64(&a), y = sb_rng_u64(&b), z = sb_rng_u64(&c);
        same &= x == y, differ += x != z;
    }
    t_check_true("same seed, same stream", same);
    t_check_true("seeds 42 and 43 give different streams", differ == 100);

    uint64_t first[4];
    const uint64_t keys[4][3] = {{7, 0, 0}, {7, 0, 1}, {7, 1, 0}, {8, 0, 0}};
    for (int k = 0; k < 4; k++) {
        sb_rng_seed_key(&a, keys[k][0], keys[k][1], keys[k][2]);
        first[k] = sb_rng_u64(&a);
    }
    sb_rng_seed_key(&b, 7, 1, 0);
    t_check_true("same key, same stream", sb_rng_u64(&b) == first[2]);
    int distinct = 1;
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++) distinct &= first[i] != first[j];
    t_check_true("keys (7,0,0) (7,0,1) (7,1,0) (8,0,0) give different streams", distinct);
}

static void check_below(void) {
    /* n = 3 does not divide 2^32: a modulo bias would be tiny, but a wrong
     * range or a broken rejection shows up here. 99% point of chi-square
     * with 2 and 6 degrees of freedom: 9.21 and 16.81. */
    sb_rng r;
    sb_rng_seed(&r, 1);
    const int ns[2] = {3, 7};
    const double limits[2] = {9.21, 16.81};
    for (int k = 0; k < 2; k++) {
        long counts[7] = {0};
        int in_range = 1;
        for (long i = 0; i < 70000; i++) {
            uint32_t v = sb_rng_below(&r, (uint32_t)ns[k]);
            if (v >= (uint32_t)ns[k]) in_range = 0;
            else counts[v]++;
        }
        char what[80];
        snprintf(what, sizeof what, "below(%d) stays in range", ns[k]);
        t_check_true(what, in_range);
        snprintf(what, sizeof what, "below(%d) uniform (chi-square vs 99%% point)", ns[k]);
        t_check(what, chi_square(counts, ns[k], 70000), limits[k]);
    }
    /* n close to 2^32, where rejection is frequent */
    uint32_t big = 0xC0000000u;
    int in_range = 1;
    long upper_half = 0;
    for (int i = 0; i < 20000; i++) {
        uint32_t v = sb_rng_below(&r, big);
        in_range &= v < big;
        upper_half += v >= big / 2;
    }
    t_check_true("below(3 * 2^30) stays in range", in_range);
    t_check("below(3 * 2^30) upper half fraction - 0.5", fabs(upper_half / 20000.0 - 0.5), 0.02);
    t_check_true("below(0) is 0", sb_rng_below(&r, 0) == 0);
}

static void check_choose(void) {
    sb_rng r;
    sb_rng_seed(&r, 2);
    enum { N = 11, K = 4, TRIALS = 22000 };
    long inclusion[N] = {0};
    int valid = 1;
    for (int t = 0; t < TRIALS; t++) {
        int32_t pool[N];
        for (int i = 0; i < N; i++) pool[i] = 100 + i;
        sb_rng_choose(&r, pool, N, K);
        int seen[N] = {0};
        for (int i = 0; i < N; i++) {
            int v = pool[i] - 100;
            if (v < 0 || v >= N || seen[v]++) valid = 0;
            else if (i < K) inclusion[v]++;
        }
    }
    t_check_true("choose leaves a permutation of the pool", valid);
    /* each item is chosen with probability K/N: chi-square over items
     * (10 degrees of freedom, 99% point 23.21) */
    t_check("choose: every item equally likely (chi-square)", chi_square(inclusion, N, (long)TRIALS * K), 23.21);

    int32_t a[5] = {1, 2, 3, 4, 5};
    sb_rng_choose(&r, a, 5, 9);
    int sum = 0;
    for (int i = 0; i < 5; i++) sum += a[i];
    t_check_true("choose with k > n permutes all n", sum == 15);

    /* positions after shuffle: each of 6 values lands in position 0 evenly */
    long first[6] = {0};
    for (int t = 0; t < 12000; t++) {
        int32_t p[6] = {0, 1, 2, 3, 4, 5};
        sb_rng_shuffle(&r, p, 6);
        first[p[0]]++;
    }
    t_check("shuffle: first position uniform (chi-square, 99% point 15.09)", chi_square(first, 6, 12000), 15.09);
}

static void check_real(void) {
    sb_rng r;
    sb_rng_seed(&r, 3);
    enum { N = 100000 };
    double s = 0, s2 = 0, lo = 1, hi = 0, ns = 0, ns2 = 0;
    for (int i = 0; i < N; i++) {
        double u = sb_rng_uniform(&r), g = sb_rng_normal(&r);
        s += u, s2 += u * u, lo = u < lo ? u : lo, hi = u > hi ? u : hi;
        ns += g, ns2 += g * g;
    }
    t_check_true("uniform in [0, 1)", lo >= 0 && hi < 1);
    /* standard errors: mean 0.0009, variance ~0.0003 for uniform; normal
     * mean 0.003, variance 0.0045 */
    t_check("uniform mean - 1/2", fabs(s / N - 0.5), 0.005);
    t_check("uniform variance - 1/12", fabs(s2 / N - (s / N) * (s / N) - 1.0 / 12), 0.002);
    t_check("normal mean", fabs(ns / N), 0.015);
    t_check("normal variance - 1", fabs(ns2 / N - (ns / N) * (ns / N) - 1), 0.025);
}

int main(void) {
    printf("# test_rng\n");
    check_determinism();
    check_below();
    check_choose();
    check_real();
    return t_finish(NULL);
}
