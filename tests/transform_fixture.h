/* Reader for tests/data/transform_ref.txt, the NumPy reference of the
 * per-sketch transform and SGM mask groups (tools/reference_transform.py).
 * defines: tf_case, tf_load, tf_free */
#ifndef SB_TEST_TRANSFORM_FIXTURE_H
#define SB_TEST_TRANSFORM_FIXTURE_H

#include <stdint.h>

enum { TF_MAX_PROBS = 8 };

typedef struct tf_case {
    char name[32], norm[32];
    int max_length, n, length; /* T, input points, real points */
    double limit, factor;
    int16_t *in;     /* (n, 3) stroke-3 */
    double *xy;      /* (length, 2) reference dx, dy */
    int *pen;        /* (T) argmax of stroke5[:, 2:5] */
    int32_t *seg;    /* (T) segment ids */
    int *start;      /* (length) axis-group start flags */
    int n_probs;
    double prob[TF_MAX_PROBS];
    int counts[TF_MAX_PROBS][6]; /* k: axis others, axis starts, p1, p2, p3, single */
} tf_case;

/* Reads every case; returns 0, or prints what is wrong and returns 1. */
int tf_load(const char *path, tf_case **cases, int *n_cases);
void tf_free(tf_case *cases, int n_cases);

#endif
