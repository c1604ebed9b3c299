/* Classification and retrieval metrics (see metrics.h). */
#include "train/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "runtime/error.h"

int sb_topk_correct(const float *scores, int classes, int label, int k) {
    if (label < 0 || label >= classes) return 0;
    int rank = 0; /* classes ahead of the label */
    for (int c = 0; c < classes; c++)
        if (scores[c] > scores[label] || (scores[c] == scores[label] && c < label)) rank++;
    return rank < k;
}

static int cmp_neighbour(const void *a, const void *b) {
    const sb_neighbour *x = a, *y = b;
    if (x->d != y->d) return x->d < y->d ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}

void sb_retrieval_rank(const float *features, int n, int dim, int q, sb_neighbour *out) {
    const float *a = features + (size_t)q * dim;
    int m = 0;
    for (int j = 0; j < n; j++) {
        if (j == q) continue;
        const float *x = features + (size_t)j * dim;
        double d = 0;
        for (int c = 0; c < dim; c++) d += ((double)a[c] - x[c]) * ((double)a[c] - x[c]);
        out[m++] = (sb_neighbour){d, j};
    }
    qsort(out, (size_t)m, sizeof *out, cmp_neighbour); /* on squared distances: sqrt could merge two */
    for (int r = 0; r < m; r++) out[r].d = sqrt(out[r].d);
}

int sb_retrieval_evaluate(const float *features, const int32_t *labels, int n, int dim, sb_retrieval_result *out) {
    *out = (sb_retrieval_result){0};
    if (n < 2 || dim < 1) return sb_fail(SB_ERR_INVALID, "retrieval: need at least 2 features of dim >= 1, got %d of %d", n, dim);
    int max_label = 0;
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0) return sb_fail(SB_ERR_INVALID, "retrieval: negative label %d at %d", labels[i], i);
        if (labels[i] > max_label) max_label = labels[i];
    }
    int *count = calloc((size_t)max_label + 1, sizeof *count); /* the original's cate_num */
    sb_neighbour *nb = malloc((size_t)(n - 1) * sizeof *nb);
    if (!count || !nb) {
        free(count), free(nb);
        return sb_fail(SB_ERR_MEMORY, "retrieval: out of host memory for %d features", n);
    }
    for (int i = 0; i < n; i++) count[labels[i]]++;
    long hit1 = 0, hit5 = 0, hit10 = 0, with_ap = 0;
    double ap_sum = 0;
    for (int i = 0; i < n; i++) {
        int m = n - 1;
        sb_retrieval_rank(features, n, dim, i, nb);
        int c = labels[i], positives = count[c] - 1, found = 0;
        for (int r = 0; r < m && r < 10; r++)
            if (labels[nb[r].j] == c) {
                hit1 += r == 0;
                hit5 += r < 5;
                hit10 += 1;
                break;
            }
        if (!positives) {
            out->no_positive++;
            continue;
        }
        double precision_sum = 0; /* precision at the rank of each positive */
        for (int r = 0; r < m && found < positives; r++)
            if (labels[nb[r].j] == c) precision_sum += (double)++found / (r + 1);
        ap_sum += precision_sum / positives;
        with_ap++;
    }
    out->top1 = (double)hit1 / n;
    out->top5 = (double)hit5 / n;
    out->top10 = (double)hit10 / n;
    out->map = with_ap ? ap_sum / (double)with_ap : 0.0;
    free(count), free(nb);
    return 0;
}

void sb_confusion_print(FILE *f, const int64_t *counts, int classes, const char *const *names) {
    for (int c = 0; c < classes; c++) {
        int64_t row = 0;
        for (int p = 0; p < classes; p++) row += counts[(size_t)c * classes + p];
        if (row)
            fprintf(f, "class %s: top-1 %.4f (%lld sketches)\n", names[c],
                    (double)counts[(size_t)c * classes + c] / (double)row, (long long)row);
    }
}

void sb_csv_field(FILE *f, const char *s) {
    if (!s[strcspn(s, ",\"\r\n")]) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int sb_confusion_write_csv(const char *path, const int64_t *counts, int classes, const char *const *names) {
    sb_atomic_file af;
    SB_TRY(sb_atomic_open(&af, path));
    fputs("true\\predicted", af.f);
    for (int c = 0; c < classes; c++) fputc(',', af.f), sb_csv_field(af.f, names[c]);
    fputc('\n', af.f);
    for (int c = 0; c < classes; c++) {
        sb_csv_field(af.f, names[c]);
        for (int p = 0; p < classes; p++) fprintf(af.f, ",%lld", (long long)counts[(size_t)c * classes + p]);
        fputc('\n', af.f);
    }
    return sb_atomic_commit(&af);
}
