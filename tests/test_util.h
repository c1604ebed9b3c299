/* Test harness for op tests: a runtime on the chosen device, seeded random
 * inputs, poisoned outputs, error measures against double-precision
 * references, finite differences, and OK / NOT OK lines with a summary.
 *
 * Error measure: t_rel_err is normwise, max|got - ref| / max|ref|, so an
 * element near zero is judged on the tensor's scale, not its own.
 * defines: t_init, t_small, t_uniform, t_upload, t_output, t_download,
 *          t_rel_err, t_check, t_check_error, t_fd_grad_err, t_finish */
#ifndef SB_TEST_UTIL_H
#define SB_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/tensor.h"

/* Creates the runtime (SKETCHBERT_DEVICE picks the device; --small or
 * SKETCHBERT_TEST_SMALL=1 asks for small sizes, as under Oclgrind). With no
 * OpenCL device the test exits 77 (skipped). With SB_TEST_KERNEL_LOG set to
 * a file, the runtime profiles, and t_finish appends the profile (every
 * kernel launched, by name) to that file (tests/oclgrind.sh). */
sb_runtime *t_init(int argc, char **argv, const char *test_name);
extern int t_small;

/* Seeded uniform floats in [lo, hi). */
void t_uniform(float *x, size_t n, float lo, float hi);
uint32_t t_rand_u32(void);

/* A device tensor holding host data (float or int32 by dtype). */
sb_tensor t_upload(sb_runtime *rt, const char *name, sb_dtype dtype, int ndim, const int *shape, const void *host);
/* A device tensor filled with NaN (or 0x7fc00000 for int32) so that any
 * element a kernel fails to write shows up. */
sb_tensor t_output(sb_runtime *rt, const char *name, sb_dtype dtype, int ndim, const int *shape);
/* Poison an existing tensor again. */
void t_poison(sb_runtime *rt, const sb_tensor *t);
/* Reads a tensor into a fresh host array (caller frees). */
float *t_download(sb_runtime *rt, const sb_tensor *t);

/* Fresh malloc'd double copies: x as double; a + b (an accumulated
 * reference: the old float contents plus the double update). */
double *t_to_double(const float *x, size_t n);
double *t_plus(const float *a, const double *b, size_t n);

double t_rel_err(const float *got, const double *ref, size_t n);
double t_rel_err_d(const double *got, const double *ref, size_t n);

/* Prints "OK"/"NOT OK" with the error and tolerance; counts the result. */
int t_check(const char *what, double err, double tol);
/* Passes when rc is non-zero and sb_last_error() contains `needle`. */
int t_check_error(const char *what, int rc, const char *needle);
/* A plain true/false check. */
int t_check_true(const char *what, int ok);

/* Gradient check of a double-precision reference: f maps x[n] to a scalar;
 * grad is its claimed gradient. Central differences at up to `probes`
 * coordinates; returns the largest error relative to max|grad|. */
typedef double (*t_scalar_fn)(const double *x, void *ctx);
double t_fd_grad_err(t_scalar_fn f, void *ctx, double *x, size_t n, const double *grad, int probes);

/* Prints "N passed, N failed"; returns the process exit code. */
int t_finish(sb_runtime *rt);

#endif
