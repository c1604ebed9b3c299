/* TensorBoard event file writer (TFRecord framing, hand-encoded protobuf). */
#include "train/tensorboard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "runtime/error.h"
#include "train/run_log.h"

struct sb_tb_writer {
    FILE *out, *log;
    char *path;
    long offset;  /* of the first log byte not yet written as scalars */
    long line_no; /* lines of the log read so far (for messages) */
};

uint32_t sb_crc32c(const void *data, size_t n) {
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
            table[i] = c;
        }
    uint32_t c = 0xffffffffu;
    for (const unsigned char *p = data; n--; p++) c = table[(c ^ *p) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static uint32_t masked_crc(const void *data, size_t n) {
    uint32_t c = sb_crc32c(data, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static void put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Protobuf encoding into a fixed buffer: varints, fixed64/32, length-delimited. */
typedef struct pb {
    unsigned char b[512];
    size_t n;
} pb;

static void pb_varint(pb *p, uint64_t v) {
    do {
        p->b[p->n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void pb_bytes(pb *p, int field, const void *data, size_t n) {
    pb_varint(p, (uint64_t)field << 3 | 2);
    pb_varint(p, n);
    memcpy(p->b + p->n, data, n);
    p->n += n;
}

static int record(sb_tb_writer *w, const pb *event) {
    unsigned char head[12], tail[4];
    put_le(head, event->n, 8);
    put_le(head + 8, masked_crc(head, 8), 4);
    put_le(tail, masked_crc(event->b, event->n), 4);
    if (fwrite(head, 1, 12, w->out) != 12 || fwrite(event->b, 1, event->n, w->out) != event->n ||
        fwrite(tail, 1, 4, w->out) != 4)
        return sb_fail(SB_ERR_IO, "writing %s failed: %s", w->path, strerror(errno));
    return 0;
}

/* An Event: wall_time (1, double), step (2, int64), then file_version (3)
 * or a Summary (5) of one Value: tag (1), simple_value (2, float). */
static int event(sb_tb_writer *w, int64_t step, const char *tag, double value, const char *version) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    double now = (double)tv.tv_sec + tv.tv_usec * 1e-6;
    uint64_t bits;
    memcpy(&bits, &now, 8);
    pb e = {.n = 0};
    e.b[e.n++] = 1 << 3 | 1;
    put_le(e.b + e.n, bits, 8), e.n += 8;
    pb_varint(&e, 2 << 3), pb_varint(&e, (uint64_t)step);
    if (version) {
        pb_bytes(&e, 3, version, strlen(version));
        return record(w, &e);
    }
    pb v = {.n = 0}, s = {.n = 0};
    float f = (float)value;
    uint32_t fb;
    memcpy(&fb, &f, 4);
    pb_bytes(&v, 1, tag, strlen(tag));
    v.b[v.n++] = 2 << 3 | 5;
    put_le(v.b + v.n, fb, 4), v.n += 4;
    pb_bytes(&s, 1, v.b, v.n);
    pb_bytes(&e, 5, s.b, s.n);
    return record(w, &e);
}

int sb_tb_open(sb_tb_writer **out, const char *log_dir, const char *log_path) {
    *out = NULL;
    sb_tb_writer *w = calloc(1, sizeof *w);
    size_t cap = strlen(log_dir) + 96;
    if (!w || !(w->path = malloc(cap))) {
        free(w);
        return sb_fail(SB_ERR_MEMORY, "out of host memory");
    }
    snprintf(w->path, cap, "%s/events.out.tfevents.%lld.sketchbert.%ld", log_dir, (long long)time(NULL),
             (long)getpid());
    int rc = 0;
    if (!(w->log = fopen(log_path, "rb"))) rc = sb_fail(SB_ERR_IO, "cannot open %s: %s", log_path, strerror(errno));
    else if (fseek(w->log, 0, SEEK_END) || (w->offset = ftell(w->log)) < 0)
        rc = sb_fail(SB_ERR_IO, "cannot seek in %s", log_path);
    if (!rc && !(w->out = fopen(w->path, "wb")))
        rc = sb_fail(SB_ERR_IO, "cannot create %s: %s", w->path, strerror(errno));
    if (!rc) rc = event(w, 0, NULL, 0, "brain.Event:2");
    if (!rc && fflush(w->out)) rc = sb_fail(SB_ERR_IO, "writing %s failed: %s", w->path, strerror(errno));
    if (rc) sb_tb_close(w);
    else *out = w;
    return rc;
}

/* The scalars of one log line. */
static int line_scalars(sb_tb_writer *w, const char *line) {
    sb_run_log one;
    sb_run_log_init(&one);
    int rc = sb_run_log_add_line(&one, line, ++w->line_no);
    char tag[80];
    for (int i = 0; i < one.n_series && !rc; i++) {
        const sb_run_series *s = &one.series[i];
        snprintf(tag, sizeof tag, "%s/%s", s->event, s->key);
        for (int j = 0; j < s->n && !rc; j++) rc = event(w, s->step[j], tag, s->value[j], NULL);
    }
    sb_run_log_free(&one);
    return rc;
}

int sb_tb_follow(sb_tb_writer *w) {
    if (fseek(w->log, w->offset, SEEK_SET)) return sb_fail(SB_ERR_IO, "cannot seek in the log for %s", w->path);
    char buf[4096];
    int rc = 0;
    /* whole lines only: a line longer than buf is skipped (no scalar line is) */
    while (!rc && fgets(buf, sizeof buf, w->log)) {
        size_t n = strlen(buf);
        if (buf[n - 1] != '\n') {
            if (feof(w->log)) break; /* not complete yet */
            int c;
            while ((c = fgetc(w->log)) != EOF && c != '\n') {}
        } else {
            rc = line_scalars(w, buf);
        }
        w->offset = ftell(w->log);
    }
    clearerr(w->log);
    if (!rc && fflush(w->out)) rc = sb_fail(SB_ERR_IO, "writing %s failed: %s", w->path, strerror(errno));
    return rc;
}

void sb_tb_close(sb_tb_writer *w) {
    if (!w) return;
    if (w->out) fclose(w->out);
    if (w->log) fclose(w->log);
    free(w->path);
    free(w);
}
