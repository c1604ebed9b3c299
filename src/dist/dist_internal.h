/* What both builds of src/dist share (dist_common.c).
 * defines: sb_dist_hostname */
#ifndef SB_DIST_DIST_INTERNAL_H
#define SB_DIST_DIST_INTERNAL_H

#include <stddef.h>

/* This node's name (gethostname), always terminated. */
void sb_dist_hostname(char *buf, size_t cap);

#endif
