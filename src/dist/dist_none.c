/* src/dist without MPI: one rank, collectives that change nothing (see
 * dist.h); a multi-rank launch is refused. */
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "dist/dist_internal.h"
#include "runtime/error.h"

static char host[256];

int sb_dist_built(void) { return 0; }
const char *sb_dist_library(void) { return "none"; }

int sb_dist_init(void) {
    int n = sb_dist_launch_size();
    if (n > 1)
        return sb_fail(SB_ERR_INVALID, "launched as %d ranks, but this build has no MPI: each rank would train alone "
                       "(install libopenmpi-dev and rebuild with meson -Dmpi=enabled; docs/distributed.md)", n);
    sb_dist_hostname(host, sizeof host);
    return 0;
}

void sb_dist_finalize(void) {}
int sb_dist_rank(void) { return 0; }
int sb_dist_size(void) { return 1; }
int sb_dist_local_rank(void) { return 0; }
const char *sb_dist_host(void) { return host[0] ? host : "localhost"; }

int sb_dist_sum_f32(float *v, size_t n, const char *what) { return (void)v, (void)n, (void)what, 0; }
int sb_dist_sum_f64(double *v, size_t n, const char *what) { return (void)v, (void)n, (void)what, 0; }

struct sb_dist_sums {
    int unused;
};
int sb_dist_sums_create(sb_dist_sums **out) {
    *out = calloc(1, sizeof **out);
    return *out ? 0 : sb_fail(SB_ERR_MEMORY, "out of host memory");
}
void sb_dist_sums_destroy(sb_dist_sums *s) { free(s); }
int sb_dist_sums_post(sb_dist_sums *s, float *v, size_t n, const char *what) {
    return (void)s, (void)v, (void)n, (void)what, 0;
}
int sb_dist_sums_test(sb_dist_sums *s, const char *what) { return (void)s, (void)what, 0; }
int sb_dist_sums_wait(sb_dist_sums *s, const char *what) { return (void)s, (void)what, 0; }

int sb_dist_same_u64(uint64_t v, int *same, const char *what) {
    (void)v, (void)what;
    *same = 1;
    return 0;
}

int sb_dist_gather_lines(const char *mine, char **all, const char *what) {
    (void)what;
    *all = strdup(mine);
    return *all ? 0 : sb_fail(SB_ERR_MEMORY, "out of host memory");
}

void sb_dist_abort(int code) { (void)code; }
