/* Data-parallel training across processes (ranks), one device each: the
 * process group, its collectives and the launcher's environment. Built on
 * MPI's C API (dist_mpi.c, meson feature `mpi`); without it dist_none.c
 * is a group of one rank whose collectives are identities, so callers
 * never test for MPI. With one rank every collective returns at once and
 * leaves its buffer as it was.
 *
 * Collectives are non-blocking MPI calls polled against a deadline
 * (SKETCHBERT_MPI_TIMEOUT seconds, default 600): one that does not finish
 * in time (a rank died or hangs) fails naming this rank and `what`; the
 * caller returns the error and the CLI ends the whole job with
 * sb_dist_abort. MPI errors are returned (MPI_ERRORS_RETURN), never fatal
 * inside the library.
 * defines: sb_dist_built, sb_dist_library, sb_dist_launch_size, sb_dist_device_for,
 *          sb_dist_init, sb_dist_finalize, sb_dist_rank, sb_dist_size,
 *          sb_dist_local_rank, sb_dist_host, sb_dist_timeout,
 *          sb_dist_sum_f32, sb_dist_sum_f64, sb_dist_sums, sb_dist_sums_create,
 *          sb_dist_sums_destroy, sb_dist_sums_post, sb_dist_sums_test,
 *          sb_dist_sums_wait, sb_dist_same_u64,
 *          sb_dist_gather_lines, sb_dist_abort */
#ifndef SB_DIST_DIST_H
#define SB_DIST_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"

/* 1 when the library was built with MPI. */
int sb_dist_built(void);
/* The MPI library's version line ("Open MPI v4.1.4, ..."), or "none". */
const char *sb_dist_library(void);

/* The number of ranks the launcher started, from its environment
 * (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_SIZE, SLURM_STEP_NUM_TASKS: srun
 * sets the last one only for a job step, unlike SLURM_NTASKS, which a
 * plain command inside an allocation also sees); 1 when none says more. */
int sb_dist_launch_size(void);

/* The device of node-local rank local_rank: the (local_rank mod G)-th of
 * the list's G GPUs, in list order; -1 without a GPU (keep the default). */
int sb_dist_device_for(const sb_device_info *list, int count, int local_rank);

/* Joins the group: with MPI and a multi-rank launch MPI_Init and the
 * node-local ranks (MPI_Comm_split_type SHARED); otherwise one rank. A
 * multi-rank launch of a build without MPI is refused. Idempotent. */
int sb_dist_init(void);
void sb_dist_finalize(void);

int sb_dist_rank(void);       /* 0 .. size - 1 */
int sb_dist_size(void);       /* ranks in the group, 1 without MPI */
int sb_dist_local_rank(void); /* rank among the ranks of this node */
const char *sb_dist_host(void);
double sb_dist_timeout(void); /* seconds a collective may take */

/* In-place sums over the ranks (in buckets of at most 2^22 elements, all
 * in flight at once). `what` names the data in a failure. */
int sb_dist_sum_f32(float *v, size_t n, const char *what);
int sb_dist_sum_f64(double *v, size_t n, const char *what);

/* In-place sums started one at a time as their data become ready (the
 * gradient buckets, during the backward) and completed together. Every
 * rank must post the same sizes in the same order. */
typedef struct sb_dist_sums sb_dist_sums;
int sb_dist_sums_create(sb_dist_sums **out);
void sb_dist_sums_destroy(sb_dist_sums *s);
/* Starts the sum of v[0..n) (MPI_Iallreduce, buckets of at most 2^22);
 * v must stay untouched until sb_dist_sums_wait. */
int sb_dist_sums_post(sb_dist_sums *s, float *v, size_t n, const char *what);
/* Never blocks: moves the posted sums on (MPI progresses a non-blocking
 * collective only inside MPI calls). */
int sb_dist_sums_test(sb_dist_sums *s, const char *what);
/* Completes every posted sum against the collective deadline (failing
 * with this rank and `what`); s is then empty for the next step. */
int sb_dist_sums_wait(sb_dist_sums *s, const char *what);

/* *same = 1 when every rank passed the same v. */
int sb_dist_same_u64(uint64_t v, int *same, const char *what);

/* Rank 0 gets every rank's line (at most 255 characters each) in rank
 * order, joined by newlines, malloc'd into *all; other ranks get NULL. */
int sb_dist_gather_lines(const char *mine, char **all, const char *what);

/* Ends every rank of the job with code (MPI_Abort); returns only with one
 * rank. For the CLI after a failure that the other ranks may not see. */
void sb_dist_abort(int code);

#endif
