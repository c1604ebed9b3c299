/* src/dist on MPI (see dist.h): non-blocking collectives on
 * MPI_COMM_WORLD polled against a deadline, errors returned. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/dist.h"
#include "dist/dist_internal.h"
#include "runtime/error.h"

#define LINE 256
#define BUCKET ((size_t)1 << 22)

static struct {
    int joined;   /* we called MPI_Init */
    int rank, size, local_rank;
    double timeout;
    char host[LINE];
} g = {0, 0, 1, 0, 600.0, ""};

int sb_dist_built(void) { return 1; }

const char *sb_dist_library(void) {
    static char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (!v[0] && MPI_Get_library_version(v, &len) == MPI_SUCCESS) {
        v[strcspn(v, ",\n")] = 0; /* "Open MPI v4.1.4" */
    }
    return v[0] ? v : "MPI";
}

static int mpi_fail(int err, const char *call, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", err);
    return sb_fail(SB_ERR_IO, "rank %d of %d (%s): %s of %s failed: %s", g.rank, g.size, g.host, call, what, msg);
}

#define MPI_TRY(call, what)                                    \
    do {                                                       \
        int mpi_err_ = (call);                                 \
        if (mpi_err_ != MPI_SUCCESS) return mpi_fail(mpi_err_, #call, what); \
    } while (0)

int sb_dist_init(void) {
    if (g.joined) return 0;
    sb_dist_hostname(g.host, sizeof g.host);
    g.timeout = sb_dist_timeout();
    if (sb_dist_launch_size() <= 1) return 0; /* one process: exactly as without MPI */
    int done = 0;
    MPI_Initialized(&done);
    if (!done && MPI_Init(NULL, NULL) != MPI_SUCCESS)
        return sb_fail(SB_ERR_IO, "MPI_Init failed (launched as %d ranks)", sb_dist_launch_size());
    g.joined = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_TRY(MPI_Comm_rank(MPI_COMM_WORLD, &g.rank), "the group");
    MPI_TRY(MPI_Comm_size(MPI_COMM_WORLD, &g.size), "the group");
    MPI_Comm local;
    MPI_TRY(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g.rank, MPI_INFO_NULL, &local), "the node's ranks");
    int rc = MPI_Comm_rank(local, &g.local_rank);
    MPI_Comm_free(&local);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Comm_rank", "the node's ranks");
    return 0;
}

void sb_dist_finalize(void) {
    if (g.joined) MPI_Finalize();
    g.joined = 0, g.rank = 0, g.size = 1, g.local_rank = 0;
}

int sb_dist_rank(void) { return g.rank; }
int sb_dist_size(void) { return g.size; }
int sb_dist_local_rank(void) { return g.local_rank; }
const char *sb_dist_host(void) { return g.host[0] ? g.host : "localhost"; }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Polls the requests until all complete or the deadline passes. */
static int wait_all(MPI_Request *req, int n, const char *what) {
    double deadline = now() + g.timeout;
    struct timespec nap = {0, 20000};
    for (;;) {
        int done = 0;
        MPI_TRY(MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE), what);
        if (done) return 0;
        if (now() > deadline)
            return sb_fail(SB_ERR_IO, "rank %d of %d (%s): %s did not complete within %.0f s: another rank died or "
                           "hangs (SKETCHBERT_MPI_TIMEOUT sets the limit)", g.rank, g.size, g.host, what, g.timeout);
        nanosleep(&nap, NULL);
    }
}

struct sb_dist_sums {
    MPI_Request *req; /* posted, in order */
    int n, cap;
};

int sb_dist_sums_create(sb_dist_sums **out) {
    *out = calloc(1, sizeof **out);
    return *out ? 0 : sb_fail(SB_ERR_MEMORY, "out of host memory");
}

void sb_dist_sums_destroy(sb_dist_sums *s) {
    if (s) free(s->req);
    free(s);
}

/* Posts the in-place sum of v[0..n), an MPI_Iallreduce per bucket. */
static int post(sb_dist_sums *s, void *v, size_t n, size_t elem, MPI_Datatype type, const char *what) {
    if (g.size <= 1) return 0;
    for (size_t at = 0; at < n; at += BUCKET) {
        if (s->n == s->cap) {
            int cap = s->cap ? 2 * s->cap : 64;
            MPI_Request *r = realloc(s->req, (size_t)cap * sizeof *r);
            if (!r) return sb_fail(SB_ERR_MEMORY, "out of host memory for %d requests", cap);
            s->req = r, s->cap = cap;
        }
        size_t len = n - at < BUCKET ? n - at : BUCKET;
        MPI_TRY(MPI_Iallreduce(MPI_IN_PLACE, (char *)v + at * elem, (int)len, type, MPI_SUM, MPI_COMM_WORLD,
                               &s->req[s->n]), what);
        s->n++;
    }
    return 0;
}

int sb_dist_sums_post(sb_dist_sums *s, float *v, size_t n, const char *what) {
    return post(s, v, n, sizeof *v, MPI_FLOAT, what);
}

int sb_dist_sums_test(sb_dist_sums *s, const char *what) {
    int done;
    if (s->n) MPI_TRY(MPI_Testall(s->n, s->req, &done, MPI_STATUSES_IGNORE), what);
    return 0;
}

int sb_dist_sums_wait(sb_dist_sums *s, const char *what) {
    int rc = s->n ? wait_all(s->req, s->n, what) : 0; /* one rank: MPI may not be initialised */
    s->n = 0;
    return rc;
}

/* Sums v[0..n) in place: every bucket posted, then all awaited against one
 * deadline (requests already posted complete before a failure to post is
 * returned). */
static int sum(void *v, size_t n, size_t elem, MPI_Datatype type, const char *what) {
    sb_dist_sums s = {NULL, 0, 0};
    int rc = post(&s, v, n, elem, type, what);
    int rc2 = sb_dist_sums_wait(&s, what);
    free(s.req);
    return rc ? rc : rc2;
}

int sb_dist_sum_f32(float *v, size_t n, const char *what) { return sum(v, n, sizeof *v, MPI_FLOAT, what); }
int sb_dist_sum_f64(double *v, size_t n, const char *what) { return sum(v, n, sizeof *v, MPI_DOUBLE, what); }

int sb_dist_same_u64(uint64_t v, int *same, const char *what) {
    *same = 1;
    if (g.size <= 1) return 0;
    uint64_t lo = v, hi = v;
    MPI_Request req[2];
    MPI_TRY(MPI_Iallreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD, &req[0]), what);
    MPI_TRY(MPI_Iallreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD, &req[1]), what);
    SB_TRY(wait_all(req, 2, what));
    *same = lo == hi;
    return 0;
}

int sb_dist_gather_lines(const char *mine, char **all, const char *what) {
    *all = NULL;
    char line[LINE] = "";
    snprintf(line, sizeof line, "%s", mine);
    char *buf = g.rank == 0 ? calloc((size_t)g.size, LINE) : NULL;
    if (g.rank == 0 && !buf) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    MPI_Request req;
    int rc = 0;
    if (g.size > 1) {
        rc = MPI_Igather(line, LINE, MPI_CHAR, buf, LINE, MPI_CHAR, 0, MPI_COMM_WORLD, &req);
        rc = rc != MPI_SUCCESS ? mpi_fail(rc, "MPI_Igather", what) : wait_all(&req, 1, what);
    } else if (buf) {
        memcpy(buf, line, LINE);
    }
    if (rc || !buf) return free(buf), rc;
    /* the fixed-size lines, joined in place */
    size_t len = 0;
    for (int r = 0; r < g.size; r++) {
        const char *s = buf + (size_t)r * LINE;
        size_t n = strnlen(s, LINE - 1);
        memmove(buf + len, s, n);
        len += n;
        buf[len++] = r + 1 < g.size ? '\n' : 0;
    }
    *all = buf;
    return 0;
}

void sb_dist_abort(int code) {
    if (g.joined && g.size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}
