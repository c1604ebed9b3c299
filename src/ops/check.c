/* Shape checks shared by the op launchers. */
#include "ops/check.h"

#include <stdio.h>

#include <stdint.h>

int sb_check_f32(const char *op, const sb_tensor *t) {
    if (!t || !t->buf) return sb_fail(SB_ERR_INVALID, "%s: tensor %s has no device buffer", op, t ? t->name : "(null)");
    if (t->dtype != SB_F32) return sb_fail(SB_ERR_INVALID, "%s: tensor %s must be float32", op, t->name);
    return 0;
}

int sb_check_same_numel(const char *op, const sb_tensor *a, const sb_tensor *b) {
    if (a->numel != b->numel) {
        char sa[96], sb[96];
        return sb_fail(SB_ERR_INVALID, "%s: %s and %s differ in size", op, sb_tensor_str(a, sa, sizeof sa),
                       sb_tensor_str(b, sb, sizeof sb));
    }
    return 0;
}

int sb_check_shape(const char *op, const sb_tensor *t, int ndim, const int *shape) {
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char got[96], want[96] = "[";
        int n = 1;
        for (int i = 0; i < ndim; i++) n += snprintf(want + n, sizeof want - (size_t)n, i ? ",%d" : "%d", shape[i]);
        snprintf(want + n, sizeof want - (size_t)n, "]");
        return sb_fail(SB_ERR_INVALID, "%s: tensor %s, expected shape %s", op, sb_tensor_str(t, got, sizeof got),
                       want);
    }
    return 0;
}

int sb_check_dim_match(const char *op, const sb_tensor *a, int da, const sb_tensor *b, int db) {
    char sa[96], sb[96];
    sb_tensor_str(a, sa, sizeof sa), sb_tensor_str(b, sb, sizeof sb);
    int ia = da < 0 ? a->ndim + da : da, ib = db < 0 ? b->ndim + db : db;
    if (ia < 0 || ia >= a->ndim) return sb_fail(SB_ERR_INVALID, "%s: tensor %s has no dimension %d", op, sa, da);
    if (ib < 0 || ib >= b->ndim) return sb_fail(SB_ERR_INVALID, "%s: tensor %s has no dimension %d", op, sb, db);
    if (a->shape[ia] != b->shape[ib])
        return sb_fail(SB_ERR_INVALID, "%s: %s dimension %d is %d but %s dimension %d is %d", op, sa, ia,
                       a->shape[ia], sb, ib, b->shape[ib]);
    return 0;
}

int sb_check_uint(const char *op, const char *what, size_t n) {
    if (n > UINT32_MAX) return sb_fail(SB_ERR_INVALID, "%s: %s = %zu is too large for a kernel index", op, what, n);
    return 0;
}
