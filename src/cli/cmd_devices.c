/* `sketchbert devices`: every OpenCL platform and device, and the default. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "dist/dist.h"
#include "ops/gemm.h"

static const char *type_name(cl_device_type t) {
    if (t & CL_DEVICE_TYPE_GPU) return "GPU";
    if (t & CL_DEVICE_TYPE_CPU) return "CPU";
    if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
    return "other";
}

int cmd_devices(const cli_options *o, int argc, char **argv) {
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: sketchbert devices\n\nLists OpenCL platforms and devices with type, memory, max allocation,\n"
               "compute units, OpenCL C version and fp16 support, and the GEMM path each\n"
               "would take (--gemm or $SKETCHBERT_GEMM, else auto: the host BLAS for CPU\n"
               "devices when the build has one, else CLBlast); '*' marks the device\n"
               "that commands use (--device or $SKETCHBERT_DEVICE, else the first GPU,\n"
               "else the first CPU). The last line says whether this build has MPI for\n"
               "data-parallel training (docs/distributed.md).\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "sketchbert devices: unexpected argument '%s'\n", argv[1]);
        return 2;
    }
    sb_device_info *list;
    int count, chosen;
    if (sb_devices_list(&list, &count)) {
        fprintf(stderr, "sketchbert devices: %s\n", sb_last_error());
        return 1;
    }
    int pick_rc = sb_device_pick(list, count, o->device, &chosen);
    int last_platform = -1;
    for (int i = 0; i < count; i++) {
        const sb_device_info *d = &list[i];
        if (d->platform_index != last_platform) {
            printf("platform %d: %s (%s)\n", d->platform_index, d->platform_name, d->platform_version);
            last_platform = d->platform_index;
        }
        printf("%c [%d] %s\n", (!pick_rc && i == chosen) ? '*' : ' ', i, d->device_name);
        printf("      type %s, %u compute units, %.2f GiB memory, max allocation %.2f GiB\n", type_name(d->type),
               d->compute_units, (double)d->global_mem / (1 << 30), (double)d->max_alloc / (1 << 30));
        printf("      %s, driver %s, max work-group %zu, local memory %llu KiB, fp16 %s, fp64 %s\n",
               d->opencl_c_version, d->driver_version, d->max_wg_size, (unsigned long long)d->local_mem / 1024,
               d->has_fp16 ? "yes" : "no", d->has_fp64 ? "yes" : "no");
        sb_gemm_path path;
        if (sb_gemm_path_for(d, NULL, &path)) {
            fprintf(stderr, "sketchbert devices: %s\n", sb_last_error());
            free(list);
            return 1;
        }
        printf("      host-unified memory %s; GEMM path %s", d->host_unified ? "yes" : "no", sb_gemm_path_name(path));
        if (path == SB_GEMM_HOST) printf(" (%s)", sb_gemm_host_blas());
        printf("\n");
    }
    free(list);
    if (sb_dist_built())
        printf("MPI: built in (%s); `mpirun -np N sketchbert train` trains on N ranks\n", sb_dist_library());
    else
        printf("MPI: not built in (one rank; meson -Dmpi=enabled with libopenmpi-dev adds it)\n");
    if (pick_rc) {
        fprintf(stderr, "sketchbert devices: %s\n", sb_last_error());
        return 1;
    }
    return 0;
}
