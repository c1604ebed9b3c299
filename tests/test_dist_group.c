/* src/dist in one process (either build): the launcher's rank count from
 * its environment, the collective timeout setting, the device of each
 * node-local rank, and a group of one whose collectives change nothing.
 * Several ranks: tests/test_dist.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "test_util.h"

static const char *const launch_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS",
                                          "SLURM_NTASKS"};

static void clear_launch(void) {
    for (size_t i = 0; i < sizeof launch_vars / sizeof launch_vars[0]; i++) unsetenv(launch_vars[i]);
}

static void check_launch_size(void) {
    char what[96];
    clear_launch();
    t_check_true("no launcher: 1 rank", sb_dist_launch_size() == 1);
    for (size_t i = 0; i < 4; i++) {
        setenv(launch_vars[i], "3", 1);
        snprintf(what, sizeof what, "%s=3: 3 ranks", launch_vars[i]);
        t_check_true(what, sb_dist_launch_size() == 3);
        unsetenv(launch_vars[i]);
    }
    setenv("SLURM_NTASKS", "4", 1); /* an allocation's size, not this step's */
    t_check_true("SLURM_NTASKS alone: 1 rank", sb_dist_launch_size() == 1);
    setenv("OMPI_COMM_WORLD_SIZE", "2x", 1);
    t_check_true("a malformed size: 1 rank", sb_dist_launch_size() == 1);
    clear_launch();
}

static void check_timeout(void) {
    unsetenv("SKETCHBERT_MPI_TIMEOUT");
    t_check_true("timeout default 600 s", sb_dist_timeout() == 600.0);
    setenv("SKETCHBERT_MPI_TIMEOUT", "2.5", 1);
    t_check_true("SKETCHBERT_MPI_TIMEOUT=2.5", sb_dist_timeout() == 2.5);
    setenv("SKETCHBERT_MPI_TIMEOUT", "-1", 1);
    t_check_true("a negative timeout keeps 600", sb_dist_timeout() == 600.0);
    unsetenv("SKETCHBERT_MPI_TIMEOUT");
}

static void check_device_for(void) {
    sb_device_info list[5];
    memset(list, 0, sizeof list);
    const cl_device_type types[5] = {CL_DEVICE_TYPE_CPU, CL_DEVICE_TYPE_GPU, CL_DEVICE_TYPE_GPU,
                                     CL_DEVICE_TYPE_ACCELERATOR, CL_DEVICE_TYPE_GPU};
    for (int i = 0; i < 5; i++) list[i].type = types[i];
    /* the GPUs are devices 1, 2, 4: local ranks go round them */
    const int want[7] = {1, 2, 4, 1, 2, 4, 1};
    int ok = 1;
    for (int r = 0; r < 7; r++) ok &= sb_dist_device_for(list, 5, r) == want[r];
    t_check_true("local ranks 0..6 take GPUs 1, 2, 4, 1, 2, 4, 1", ok);
    t_check_true("no GPU: -1 (the default device)", sb_dist_device_for(list, 1, 3) == -1);
    t_check_true("an empty list: -1", sb_dist_device_for(list, 0, 0) == -1);
}

static void check_one_rank(void) {
    clear_launch();
    t_check_true("init of one process", sb_dist_init() == 0);
    t_check_true("rank 0", sb_dist_rank() == 0);
    t_check_true("of 1", sb_dist_size() == 1);
    t_check_true("local rank 0", sb_dist_local_rank() == 0);
    t_check_true("a host name", sb_dist_host()[0] != 0);
    float f[3] = {1.5f, -2.0f, 3.25f};
    double d[2] = {0.1, 7.0};
    sb_dist_sums *sums = NULL;
    int rc = sb_dist_sum_f32(f, 3, "f") | sb_dist_sum_f64(d, 2, "d") | sb_dist_sums_create(&sums);
    if (!rc) rc = sb_dist_sums_post(sums, f, 2, "f") | sb_dist_sums_test(sums, "f") |
                  sb_dist_sums_post(sums, f + 2, 1, "f") | sb_dist_sums_wait(sums, "f");
    sb_dist_sums_destroy(sums);
    t_check_true("sums of one rank, at once and posted one by one", rc == 0);
    t_check_true("  leave the values as they were", f[0] == 1.5f && f[1] == -2.0f && f[2] == 3.25f && d[0] == 0.1 &&
                                                      d[1] == 7.0);
    int same = 0;
    t_check_true("checksum compare", sb_dist_same_u64(42, &same, "crc") == 0);
    t_check_true("  one rank agrees with itself", same == 1);
    char *all = NULL;
    t_check_true("gather of one line", sb_dist_gather_lines("host 0 0 device", &all, "table") == 0);
    t_check_true("  gives that line", all && !strcmp(all, "host 0 0 device"));
    free(all);
    sb_dist_abort(1); /* one rank: returns */
    sb_dist_finalize();
    printf("# MPI built in: %s (%s)\n", sb_dist_built() ? "yes" : "no", sb_dist_library());
}

int main(int argc, char **argv) {
    (void)argc, (void)argv;
    check_launch_size();
    check_timeout();
    check_device_for();
    check_one_rank();
    return t_finish(NULL);
}
