/* Metrics: top-k with ties, retrieval on hand-computed cases (ranks, ties
 * by index, top-1/top-5, AP, a class with one member), and on random
 * features against an independent reference that counts ranks without
 * sorting; the confusion matrix's per-class lines and CSV (quoting, a
 * class with no sketches, no file left behind on failure). Host only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sketchbert/sketchbert.h"
#include "test_util.h"
#include "train/metrics.h"

static void test_topk(void) {
    const float s[6] = {0.1f, 0.5f, 0.5f, 0.2f, 0.9f, -1.0f};
    t_check_true("top-1 of the maximum", sb_topk_correct(s, 6, 4, 1));
    t_check_true("tie goes to the lower index: label 1 is second", sb_topk_correct(s, 6, 1, 2) && !sb_topk_correct(s, 6, 1, 1));
    t_check_true("tie goes to the lower index: label 2 is third", sb_topk_correct(s, 6, 2, 3) && !sb_topk_correct(s, 6, 2, 2));
    t_check_true("last of six is in the top 6 only", sb_topk_correct(s, 6, 5, 6) && !sb_topk_correct(s, 6, 5, 5));
    t_check_true("label out of range never correct", !sb_topk_correct(s, 6, 6, 6) && !sb_topk_correct(s, 6, -1, 6));
}

static void test_retrieval_by_hand(void) {
    /* 1-D features; see the comment per query for its ranking:
     * q0 (0, c0):   1 c0, 2 c1, 3 c0, 4 c1   top1 hit, AP (1 + 2/3) / 2
     * q1 (1, c0):   2 c1, 0 c0, 3 c0, 4      miss,     AP (1/2 + 2/3) / 2
     * q2 (1.5, c1): 1, 0, 3 (0 and 3 tie at 2.25, index order), 4 c1
     *                                        miss,     AP 1/4
     * q3 (3, c0):   2 c1, 1 c0, 0 c0, 4      miss,     AP (1/2 + 2/3) / 2
     * q4 (10, c1):  3 c0, 2 c1, 1, 0         miss,     AP 1/2
     * every query has a same-class item among its 4 neighbours: top5 1 */
    const float f[5] = {0.0f, 1.0f, 1.5f, 3.0f, 10.0f};
    const int32_t l[5] = {0, 0, 1, 0, 1};
    sb_retrieval_result r;
    int rc = sb_retrieval_evaluate(f, l, 5, 1, &r);
    double map = ((1 + 2.0 / 3) / 2 + 2 * (0.5 + 2.0 / 3) / 2 + 0.25 + 0.5) / 5;
    t_check_true("retrieval runs", rc == 0);
    t_check("retrieval top-1 by hand (0.2)", fabs(r.top1 - 0.2), 1e-12);
    t_check("retrieval top-5 by hand (1.0)", fabs(r.top5 - 1.0), 1e-12);
    t_check("retrieval mAP by hand (0.55)", fabs(r.map - map) + fabs(map - 0.55), 1e-12);

    /* 2-D: q0's only positive (item 6) is sixth: no top-5 hit, AP 1/6;
     * item 7 is alone in class 2. */
    const float g[16] = {0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 100, 100};
    const int32_t m[8] = {0, 1, 1, 1, 1, 1, 0, 2};
    sb_retrieval_result s;
    sb_retrieval_evaluate(g, m, 8, 2, &s);
    /* q1..q5 (class 1, 4 positives each) and q6 computed the same way:
     * q1 (1,0): 0 c0 and 2 c1 tie at 1 (index order), 3, 4, 5 -> hits at 2..5: AP (1/2 + 2/3 + 3/4 + 4/5) / 4
     * q2 (2,0): 1, 3 (tie, index order), 4, 0/... -> 1 c1, 3 c1, 0 c0 (d 4) ties 4 c1 (d 4): index 0 first
     *           ranking 1, 3, 0, 4, 5 -> hits at 1, 2, 4, 5: AP (1 + 1 + 3/4 + 4/5) / 4
     * q3 (3,0): 2, 4, 1, 5, then 0 and 6 tie at 9 -> hits 1..4: AP 1
     * q4 (4,0): 3, 5, 2, 6 (d 4 > 2's d 4? 2 is at d 4, 6 at d 4: index order 2, 6), so 3, 5, 2, 6, 1
     *           -> hits at 1, 2, 3, 5: AP (1 + 1 + 1 + 4/5) / 4
     * q5 (5,0): 4, 6 (tie d 1: index 4 first), 3, 2, 1 -> hits at 1, 3, 4, 5: AP (1 + 2/3 + 3/4 + 4/5) / 4
     * q6 (6,0): 5, 4, 3, 2, 1, 0 -> positive 0 is sixth: AP 1/6, no top-5 hit
     * q0: AP 1/6, no top-5 hit; q7: no positive, misses both.
     * Top-1 hits: q2..q5. */
    double ap[7] = {1.0 / 6, (0.5 + 2.0 / 3 + 0.75 + 0.8) / 4, (2 + 0.75 + 0.8) / 4, 1, (3 + 0.8) / 4,
                    (1 + 2.0 / 3 + 0.75 + 0.8) / 4, 1.0 / 6};
    double want = 0;
    for (int i = 0; i < 7; i++) want += ap[i] / 7;
    t_check("top-1 with ties and a singleton class (4/8)", fabs(s.top1 - 4.0 / 8), 1e-12);
    t_check("top-5 misses a sixth-ranked positive (5/8)", fabs(s.top5 - 5.0 / 8), 1e-12);
    t_check("mAP leaves the singleton out", fabs(s.map - want), 1e-12);
    t_check_true("singleton counted", s.no_positive == 1);
    t_check_error("one feature is rejected", sb_retrieval_evaluate(g, m, 1, 2, &s), "at least 2 features");
}

/* Rank of j in i's list: items closer, or as close with a lower index. */
static void test_retrieval_random(void) {
    enum { N = 61, D = 7, C = 5 };
    float f[N * D];
    int32_t l[N];
    t_uniform(f, N * D, -1, 1);
    for (int i = 0; i < N; i++) l[i] = (int32_t)(t_rand_u32() % C);
    for (int c = 0; c < D; c++) f[3 * D + c] = f[8 * D + c]; /* a tie */
    double dist[N][N];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double d = 0;
            for (int c = 0; c < D; c++) d += ((double)f[i * D + c] - f[j * D + c]) * ((double)f[i * D + c] - f[j * D + c]);
            dist[i][j] = d;
        }
    int count[C] = {0};
    for (int i = 0; i < N; i++) count[l[i]]++;
    double top1 = 0, top5 = 0, top10 = 0, map = 0;
    int with_ap = 0;
    for (int i = 0; i < N; i++) {
        double apsum = 0;
        int best = N;
        for (int j = 0; j < N; j++) {
            if (j == i || l[j] != l[i]) continue;
            int rank = 1, pos_ahead = 1; /* 1-based rank; positives up to and including j */
            for (int k = 0; k < N; k++) {
                if (k == i || k == j) continue;
                int ahead = dist[i][k] < dist[i][j] || (dist[i][k] == dist[i][j] && k < j);
                rank += ahead;
                pos_ahead += ahead && l[k] == l[i];
            }
            apsum += (double)pos_ahead / rank;
            if (rank < best) best = rank;
        }
        top1 += best <= 1, top5 += best <= 5, top10 += best <= 10;
        if (count[l[i]] > 1) map += apsum / (count[l[i]] - 1), with_ap++;
    }
    sb_retrieval_result r;
    sb_retrieval_evaluate(f, l, N, D, &r);
    t_check("random: top-1 vs rank counting", fabs(r.top1 - top1 / N), 1e-12);
    t_check("random: top-5 vs rank counting", fabs(r.top5 - top5 / N), 1e-12);
    t_check("random: top-10 vs rank counting", fabs(r.top10 - top10 / N), 1e-12);
    t_check_true("random: top-10 is not top-5 here (the test can tell them apart)", r.top10 > r.top5);
    t_check("random: mAP vs rank counting", fabs(r.map - map / with_ap), 1e-12);
}

/* The whole of a small file, NUL-terminated (caller frees). */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 4096);
    if (f && buf) fread(buf, 1, 4095, f);
    if (f) fclose(f);
    return buf;
}

static void test_confusion(void) {
    /* 3 classes: 3 a's (2 right, 1 taken for c), no b, 2 c's (1 right, 1 taken for a) */
    const int64_t m[9] = {2, 0, 1, 0, 0, 0, 1, 0, 1};
    const char *names[3] = {"a", "b,\"x\"", "c"};
    char *text;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    sb_confusion_print(f, m, 3, names);
    fclose(f);
    t_check_true("per-class lines: classes with sketches only",
                 !strcmp(text, "class a: top-1 0.6667 (3 sketches)\nclass c: top-1 0.5000 (2 sketches)\n"));
    free(text);
    char dir[] = "/tmp/sketchbert_test_metrics_XXXXXX", path[256];
    if (!mkdtemp(dir)) return (void)t_check_true("temporary directory", 0);
    snprintf(path, sizeof path, "%s/c.csv", dir);
    t_check_true("confusion CSV written", sb_confusion_write_csv(path, m, 3, names) == 0);
    char *csv = slurp(path);
    t_check_true("CSV: header of names (quoted where needed), one row per true class",
                 csv && !strcmp(csv, "true\\predicted,a,\"b,\"\"x\"\"\",c\n"
                                     "a,2,0,1\n\"b,\"\"x\"\"\",0,0,0\nc,1,0,1\n"));
    free(csv);
    remove(path);
    snprintf(path, sizeof path, "%s/none/c.csv", dir);
    t_check_error("a directory that does not exist", sb_confusion_write_csv(path, m, 3, names), "none");
    rmdir(dir);
}

int main(void) {
    test_topk();
    test_retrieval_by_hand();
    test_retrieval_random();
    test_confusion();
    return t_finish(NULL);
}
