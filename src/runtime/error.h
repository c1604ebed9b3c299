/* Error values: set the calling thread's message and return a status.
 * defines: sb_fail, sb_cl_error_name, SB_CL_TRY, SB_TRY */
#ifndef SB_ERROR_H
#define SB_ERROR_H

#include <CL/cl.h>
#include "sketchbert/sketchbert.h"

/* Formats the thread's last error message and returns code. */
int sb_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the current message with context: "ctx: old message". */
int sb_fail_context(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "CL_INVALID_VALUE" and friends; "CL_UNKNOWN_ERROR(-n)" otherwise. */
const char *sb_cl_error_name(cl_int err);

/* Sets "clFoo failed: CL_ERROR" from the call's source text; returns
 * SB_ERR_OPENCL. */
int sb_fail_cl(cl_int err, const char *call_text);

/* Run an OpenCL call; on failure return SB_ERR_OPENCL naming the call. */
#define SB_CL_TRY(call)                                                     \
    do {                                                                    \
        cl_int sb_cl_err_ = (call);                                         \
        if (sb_cl_err_ != CL_SUCCESS) return sb_fail_cl(sb_cl_err_, #call); \
    } while (0)

/* Propagate a non-zero status. */
#define SB_TRY(expr)                                                        \
    do {                                                                    \
        int sb_rc_ = (expr);                                                \
        if (sb_rc_ != 0) return sb_rc_;                                     \
    } while (0)

#endif
