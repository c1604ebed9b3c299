/* Shipped CLBlast GEMM parameters for devices CLBlast's own database does not
 * know: a table keyed by a device-name substring and a CLBlast kernel name,
 * applied by sb_gemm_apply_tuning (src/ops/gemm.c) through
 * CLBlastOverrideParameters. How the numbers were found: tools/tune-gemm.sh
 * and docs/performance.md.
 * defines: sb_gemm_tuning, sb_gemm_tunings, sb_gemm_n_tunings,
 *          sb_gemm_tuning_device */
#ifndef SB_GEMM_TUNING_H
#define SB_GEMM_TUNING_H

#include <stddef.h>

enum { SB_GEMM_TUNING_MAX_PARAMS = 16 };

typedef struct sb_gemm_tuning {
    const char *device; /* substring of CL_DEVICE_NAME */
    const char *kernel; /* CLBlast kernel: "Xgemm", "XgemmDirect", ... */
    int n_params;       /* all of that kernel's parameters, as CLBlast requires */
    const char *names[SB_GEMM_TUNING_MAX_PARAMS];
    size_t values[SB_GEMM_TUNING_MAX_PARAMS];
} sb_gemm_tuning;

extern const sb_gemm_tuning sb_gemm_tunings[];
extern const int sb_gemm_n_tunings;

/* The table's device key that matches device_name, or NULL. */
const char *sb_gemm_tuning_device(const char *device_name);

#endif
