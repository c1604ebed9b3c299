/* Profiling table: one row per kernel name or GEMM shape. */
#include "runtime/profile.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

typedef struct {
    char name[96];
    long calls;
    double ns;
} row;

struct sb_profile {
    row *rows;
    int n, cap;
};

struct sb_profile *sb_profile_create(void) { return calloc(1, sizeof(struct sb_profile)); }

void sb_profile_destroy(struct sb_profile *p) {
    if (!p) return;
    free(p->rows);
    free(p);
}

static row *find_row(struct sb_profile *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->rows[i].name, name) == 0) return &p->rows[i];
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 32;
        row *r = realloc(p->rows, (size_t)cap * sizeof *r);
        if (!r) return NULL;
        p->rows = r;
        p->cap = cap;
    }
    row *r = &p->rows[p->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    return r;
}

int sb_profile_record_event(struct sb_profile *p, const char *name, cl_event ev) {
    cl_ulong t0 = 0, t1 = 0;
    cl_int err = clWaitForEvents(1, &ev);
    if (err == CL_SUCCESS)
        err = clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
    if (err == CL_SUCCESS)
        err = clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
    clReleaseEvent(ev);
    if (err != CL_SUCCESS) return sb_fail_cl(err, "clGetEventProfilingInfo");
    return sb_profile_record_ns(p, name, (double)(t1 - t0));
}

int sb_profile_record_ns(struct sb_profile *p, const char *name, double ns) {
    row *r = find_row(p, name);
    if (!r) return sb_fail(SB_ERR_MEMORY, "profile: out of host memory");
    r->calls++;
    r->ns += ns;
    return 0;
}

static int by_time_desc(const void *a, const void *b) {
    double x = ((const row *)a)->ns, y = ((const row *)b)->ns;
    return (x < y) - (x > y);
}

void sb_profile_print(const struct sb_profile *p, FILE *f) {
    if (!p || p->n == 0) {
        fprintf(f, "profile: nothing recorded\n");
        return;
    }
    row *sorted = malloc((size_t)p->n * sizeof *sorted);
    if (!sorted) return;
    memcpy(sorted, p->rows, (size_t)p->n * sizeof *sorted);
    qsort(sorted, (size_t)p->n, sizeof *sorted, by_time_desc);
    double total = 0;
    for (int i = 0; i < p->n; i++) total += sorted[i].ns;
    fprintf(f, "%-48s %8s %12s %12s %7s\n", "kernel / gemm shape", "calls", "total ms",
            "mean us", "share");
    for (int i = 0; i < p->n; i++)
        fprintf(f, "%-48s %8ld %12.3f %12.1f %6.1f%%\n", sorted[i].name, sorted[i].calls,
                sorted[i].ns * 1e-6, sorted[i].ns * 1e-3 / (double)sorted[i].calls,
                total > 0 ? 100.0 * sorted[i].ns / total : 0.0);
    fprintf(f, "%-48s %8s %12.3f\n", "total", "", total * 1e-6);
    free(sorted);
}
