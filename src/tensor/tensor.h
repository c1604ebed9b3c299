/* Device tensors and the memory planner.
 * A tensor is a cl_mem (its own buffer or a sub-buffer of a planned arena),
 * a dtype and a row-major shape. The planner collects every activation and
 * gradient of a graph, then allocates them at once in a few arenas (each at
 * most the device's max allocation), so a training step never allocates.
 * defines: sb_tensor, sb_tensor_alloc, sb_tensor_release, sb_tensor_write,
 *          sb_tensor_read, sb_tensor_fill, sb_plan, sb_plan_add,
 *          sb_plan_allocate, sb_plan_release */
#ifndef SB_TENSOR_H
#define SB_TENSOR_H

#include <stddef.h>

#include "runtime/runtime.h"

#define SB_MAX_DIMS 4

typedef enum { SB_F32 = 0, SB_I32 = 1 } sb_dtype;

typedef struct sb_tensor {
    cl_mem buf;
    sb_dtype dtype;
    int ndim;
    int shape[SB_MAX_DIMS];
    size_t numel;
    char name[48];
} sb_tensor;

static inline size_t sb_tensor_bytes(const sb_tensor *t) { return t->numel * 4; }

/* Sets name, dtype and shape (no device memory). Rejects bad shapes. */
int sb_tensor_describe(sb_tensor *t, const char *name, sb_dtype dtype, int ndim, const int *shape);

/* A tensor with a buffer of its own. */
int sb_tensor_alloc(sb_runtime *rt, sb_tensor *t, const char *name, sb_dtype dtype, int ndim, const int *shape);
void sb_tensor_release(sb_runtime *rt, sb_tensor *t);

/* Blocking copies of the whole tensor. */
int sb_tensor_write(sb_runtime *rt, const sb_tensor *t, const void *host);
int sb_tensor_read(sb_runtime *rt, const sb_tensor *t, void *host);
/* Every element set to the 32-bit pattern of `value` (float or int). */
int sb_tensor_fill_f32(sb_runtime *rt, const sb_tensor *t, float value);
int sb_tensor_fill_i32(sb_runtime *rt, const sb_tensor *t, int value);

/* "name[2,3,5]" into buf; returns buf. */
const char *sb_tensor_str(const sb_tensor *t, char *buf, size_t cap);

/* ---- planner */

typedef struct sb_plan {
    sb_tensor **tensors; /* registered tensors, filled in by allocate */
    size_t *offsets;     /* byte offset of each in its arena */
    int *arena_of;
    int n, cap;
    cl_mem *arenas;
    size_t *arena_bytes;
    int n_arenas;
    size_t total_bytes;
} sb_plan;

void sb_plan_init(sb_plan *p);
/* Describes t and records it for allocation. t must outlive the plan. */
int sb_plan_add(sb_plan *p, sb_tensor *t, const char *name, sb_dtype dtype, int ndim, const int *shape);
/* Allocates all recorded tensors. */
int sb_plan_allocate(sb_runtime *rt, sb_plan *p);
void sb_plan_release(sb_runtime *rt, sb_plan *p);

#endif
