/* sb_context: one OpenCL device for the public API (src/runtime). */
#include <stdio.h>
#include <stdlib.h>

#include "api/api_internal.h"

sb_status sb_context_create(sb_context **out, const char *device) {
    if (!out) return (sb_status)sb_fail(SB_ERR_INVALID, "sb_context_create: out is NULL");
    *out = NULL;
    sb_context *c = calloc(1, sizeof *c);
    if (!c) return (sb_status)sb_fail(SB_ERR_MEMORY, "sb_context_create: out of host memory");
    int rc = sb_runtime_create(&c->rt, device, 0);
    if (rc) {
        free(c);
        return (sb_status)rc;
    }
    snprintf(c->device, sizeof c->device, "%s: %s", c->rt->info.platform_name, c->rt->info.device_name);
    *out = c;
    return SB_OK;
}

void sb_context_destroy(sb_context *ctx) {
    if (!ctx) return;
    sb_runtime_destroy(ctx->rt);
    free(ctx);
}

const char *sb_context_device(const sb_context *ctx) { return ctx ? ctx->device : ""; }
