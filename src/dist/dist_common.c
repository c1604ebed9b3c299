/* The launcher's environment and the settings shared by both builds of
 * src/dist (see dist.h). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dist/dist.h"
#include "dist/dist_internal.h"

int sb_dist_launch_size(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        char *end;
        long n = v ? strtol(v, &end, 10) : 0;
        if (v && *v && !*end && n > 1) return n > 1 << 20 ? 1 << 20 : (int)n;
    }
    return 1;
}

int sb_dist_device_for(const sb_device_info *list, int count, int local_rank) {
    int gpus = 0;
    for (int i = 0; i < count; i++) gpus += (list[i].type & CL_DEVICE_TYPE_GPU) != 0;
    for (int i = 0, k = 0; i < count && gpus; i++)
        if ((list[i].type & CL_DEVICE_TYPE_GPU) && k++ == local_rank % gpus) return i;
    return -1;
}

double sb_dist_timeout(void) {
    const char *v = getenv("SKETCHBERT_MPI_TIMEOUT");
    char *end;
    double s = v ? strtod(v, &end) : 0;
    return v && *v && !*end && s > 0 ? s : 600.0;
}

void sb_dist_hostname(char *buf, size_t cap) {
    if (gethostname(buf, cap) != 0) snprintf(buf, cap, "unknown");
    buf[cap - 1] = 0;
}
