/* Evaluation metrics, computed on the host from outputs read back from the
 * device: classification top-k accuracy, and sketch-to-sketch retrieval as
 * the original's SketchTransformerTrainer.retrieval_evaluation (each
 * feature queries all the others by Euclidean distance; top-k same-class
 * hit rate and mAP). Differences from the original, on purpose:
 * - distances are exact squared differences in double, not float32
 *   |x|^2 + |y|^2 - 2 x.y; ties rank by index (torch.sort leaves them
 *   unspecified);
 * - the query itself is left out of its ranking; the original gives it
 *   distance 1e8 and keeps it, so with at most k other features (or
 *   distances over 1e8) its top-k counted the query as its own hit;
 * - a query whose class has no other feature has no AP: the original
 *   divides by zero there; we leave it out of the mAP and count it.
 * Cost: O(n^2 (dim + log n)) for n features.
 * Also the confusion matrix of a classification as per-class accuracy
 * lines and a CSV file (`classify --confusion`, `test`).
 * defines: sb_topk_correct, sb_neighbour, sb_retrieval_rank,
 *          sb_retrieval_result, sb_retrieval_evaluate,
 *          sb_confusion_print, sb_confusion_write_csv,
 *          sb_csv_field */
#ifndef SB_TRAIN_METRICS_H
#define SB_TRAIN_METRICS_H

#include <stdint.h>
#include <stdio.h>

/* 1 when `label` is among the k highest of scores[classes]; ties go to the
 * lower class index (as a stable descending sort). */
int sb_topk_correct(const float *scores, int classes, int label, int k);

typedef struct sb_retrieval_result {
    double top1, top5, top10; /* share of all queries with a same-class item in the k nearest */
    double map;        /* mean over queries of average precision */
    int no_positive;   /* queries left out of the mAP: alone in their class */
} sb_retrieval_result;

/* A gallery item and its Euclidean distance to the query. */
typedef struct sb_neighbour {
    double d;
    int j;
} sb_neighbour;

/* The n - 1 features other than q ranked by exact Euclidean distance to
 * feature q, nearest first (ties: lower index first), into out (n - 1
 * entries); features (n, dim) row-major. */
void sb_retrieval_rank(const float *features, int n, int dim, int q, sb_neighbour *out);

/* features: (n, dim) row-major; labels: n class indices >= 0. */
int sb_retrieval_evaluate(const float *features, const int32_t *labels, int n, int dim, sb_retrieval_result *out);

/* A confusion matrix is counts (classes, classes) row-major: row = true
 * class, column = the predicted (top-1) class; names has `classes` names.
 * Prints "class NAME: top-1 ACC (N sketches)" for each class with at
 * least one sketch: ACC = counts[c][c] / the row's sum. */
void sb_confusion_print(FILE *f, const int64_t *counts, int classes, const char *const *names);
/* Writes the matrix as CSV to path (atomically): a header
 * "true\predicted,NAME,...", then per true class its name and its row.
 * Names holding a comma, quote or line break are quoted (RFC 4180). */
int sb_confusion_write_csv(const char *path, const int64_t *counts, int classes, const char *const *names);
/* One CSV field: quoted (RFC 4180) when it holds a comma, quote or line break. */
void sb_csv_field(FILE *f, const char *s);

#endif
