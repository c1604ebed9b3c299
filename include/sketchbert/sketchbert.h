/* sketchbert: the public C API (the only header users include; it brings
 * sketchbert/api.h, the inference API). Every call returns an sb_status; on
 * failure sb_last_error() gives the message in words. The error message is
 * kept per thread. */
#ifndef SKETCHBERT_H
#define SKETCHBERT_H

#ifdef __cplusplus
extern "C" {
#endif

#define SKETCHBERT_VERSION_MAJOR 0
#define SKETCHBERT_VERSION_MINOR 1
#define SKETCHBERT_VERSION_PATCH 0
#define SKETCHBERT_VERSION_STRING "0.1.0"

typedef enum sb_status {
    SB_OK = 0,
    SB_ERR_INVALID = -1,   /* a bad argument, shape or value */
    SB_ERR_IO = -2,        /* a file could not be read or written */
    SB_ERR_FORMAT = -3,    /* a file's contents are malformed */
    SB_ERR_OPENCL = -4,    /* an OpenCL call failed */
    SB_ERR_NO_DEVICE = -5, /* no OpenCL platform or no matching device */
    SB_ERR_MEMORY = -6,    /* host or device allocation failed */
    SB_ERR_BUILD = -7,     /* an OpenCL program did not build */
    SB_ERR_BLAS = -8       /* a CLBlast call failed */
} sb_status;

/* Runtime version as "MAJOR.MINOR.PATCH". */
const char *sb_version(void);

/* The last error message of the calling thread ("" when none). */
const char *sb_last_error(void);

#ifdef __cplusplus
}
#endif

#include "sketchbert/api.h"

#endif
