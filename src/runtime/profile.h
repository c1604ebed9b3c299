/* Per-kernel and per-GEMM-shape timing, accumulated from OpenCL events.
 * defines: sb_profile_create, sb_profile_destroy, sb_profile_record_event,
 *          sb_profile_record_ns, sb_profile_print */
#ifndef SB_PROFILE_H
#define SB_PROFILE_H

#include <stdio.h>
#include <CL/cl.h>

struct sb_profile;

struct sb_profile *sb_profile_create(void);
void sb_profile_destroy(struct sb_profile *p);

/* Waits for ev, adds its device time under `name`, releases ev. */
int sb_profile_record_event(struct sb_profile *p, const char *name, cl_event ev);

/* Adds host time under `name` (work done by the host, e.g. a host BLAS
 * GEMM, between device commands). */
int sb_profile_record_ns(struct sb_profile *p, const char *name, double ns);

/* A table sorted by total time: name, calls, total ms, mean us, share. */
void sb_profile_print(const struct sb_profile *p, FILE *f);

#endif
