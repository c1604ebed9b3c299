/* log.jsonl reader: a small JSON scanner for flat objects (the trainer
 * writes one object per line; nested values are skipped, not interpreted). */
#include "train/run_log.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

enum { V_NUM, V_STR, V_TRUE, V_FALSE, V_NULL, V_OTHER };
enum { MAX_FIELDS = 64, STR_MAX = 1024 };

typedef struct field {
    char key[48];
    int type;
    double num;
    char str[STR_MAX];
} field;

typedef struct scanner {
    const char *p;
    const char *err;
} scanner;

static void ws(scanner *s) {
    while (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n') s->p++;
}

/* A string into out (truncated to cap - 1 bytes; \u escapes become '?'). */
static int str(scanner *s, char *out, size_t cap) {
    size_t n = 0;
    if (*s->p != '"') return s->err = "expected a string", -1;
    for (s->p++; *s->p != '"'; s->p++) {
        char c = *s->p;
        if (!c) return s->err = "unterminated string", -1;
        if (c == '\\') {
            c = *++s->p;
            if (c == 'u') {
                for (int i = 0; i < 4; i++)
                    if (!isxdigit((unsigned char)*++s->p)) return s->err = "bad \\u escape", -1;
                c = '?';
            } else if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
            else if (!c) return s->err = "unterminated string", -1;
        }
        if (out && n + 1 < cap) out[n++] = c;
    }
    s->p++;
    if (out) out[n] = 0;
    return 0;
}

static int skip_value(scanner *s, int depth);

static int skip_container(scanner *s, char close, int depth) {
    s->p++;
    ws(s);
    if (*s->p == close) return s->p++, 0;
    for (;;) {
        if (close == '}') {
            if (str(s, NULL, 0)) return -1;
            ws(s);
            if (*s->p++ != ':') return s->err = "expected ':'", -1;
        }
        if (skip_value(s, depth + 1)) return -1;
        ws(s);
        if (*s->p == close) return s->p++, 0;
        if (*s->p++ != ',') return s->err = "expected ',' or the end of a container", -1;
    }
}

static int skip_value(scanner *s, int depth) {
    ws(s);
    if (depth > 32) return s->err = "nested too deeply", -1;
    if (*s->p == '[') return skip_container(s, ']', depth);
    if (*s->p == '{') return skip_container(s, '}', depth);
    if (*s->p == '"') return str(s, NULL, 0);
    return s->err = "bad value", -1;
}

static int literal(scanner *s, const char *word) {
    size_t n = strlen(word);
    if (strncmp(s->p, word, n)) return 0;
    s->p += n;
    return 1;
}

static int value(scanner *s, field *f) {
    ws(s);
    char *end;
    if (*s->p == '"') return f->type = V_STR, str(s, f->str, sizeof f->str);
    if (literal(s, "true")) return f->type = V_TRUE, 0;
    if (literal(s, "false")) return f->type = V_FALSE, 0;
    if (literal(s, "null")) return f->type = V_NULL, 0;
    if (*s->p == '-' || isdigit((unsigned char)*s->p)) {
        f->num = strtod(s->p, &end);
        if (end == s->p) return s->err = "bad number", -1;
        s->p = end;
        return f->type = V_NUM, 0;
    }
    f->type = V_OTHER;
    return skip_value(s, 0);
}

/* One line as fields; fields past MAX_FIELDS are read and dropped. */
static int object(scanner *s, field *fields, int *n) {
    *n = 0;
    ws(s);
    if (*s->p != '{') return s->err = "not a JSON object", -1;
    s->p++;
    ws(s);
    if (*s->p == '}') s->p++;
    else
        for (;;) {
            field tmp, *f = *n < MAX_FIELDS ? &fields[*n] : &tmp;
            ws(s);
            if (str(s, f->key, sizeof f->key)) return -1;
            ws(s);
            if (*s->p++ != ':') return s->err = "expected ':'", -1;
            if (value(s, f)) return -1;
            if (*n < MAX_FIELDS) ++*n;
            ws(s);
            if (*s->p == '}') {
                s->p++;
                break;
            }
            if (*s->p != ',') return s->err = *s->p ? "expected ',' or '}'" : "the line ends inside the object", -1;
            s->p++;
        }
    ws(s);
    if (*s->p) return s->err = "text after the object", -1;
    return 0;
}

static int grow(void **p, int *cap, int need, size_t size) {
    if (need <= *cap) return 0;
    int c = *cap ? *cap * 2 : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * size);
    if (!q) return sb_fail(SB_ERR_MEMORY, "out of host memory reading a run log");
    *p = q, *cap = c;
    return 0;
}

static int add_point(sb_run_log *log, const char *event, const char *key, int64_t step, double v) {
    sb_run_series *s = (sb_run_series *)sb_run_log_find(log, event, key);
    if (!s) {
        SB_TRY(grow((void **)&log->series, &log->cap_series, log->n_series + 1, sizeof *log->series));
        s = &log->series[log->n_series++];
        memset(s, 0, sizeof *s);
        snprintf(s->event, sizeof s->event, "%s", event);
        snprintf(s->key, sizeof s->key, "%s", key);
    }
    if (s->n == s->cap) {
        int c = s->cap ? s->cap * 2 : 64;
        int64_t *st = realloc(s->step, (size_t)c * sizeof *st);
        if (st) s->step = st;
        double *va = st ? realloc(s->value, (size_t)c * sizeof *va) : NULL;
        if (!va) return sb_fail(SB_ERR_MEMORY, "out of host memory reading a run log");
        s->value = va, s->cap = c;
    }
    s->step[s->n] = step, s->value[s->n] = v, s->n++;
    return 0;
}

/* Fields that are counters or flags, not curves. */
static int is_curve(const char *key) {
    static const char *const not_curves[] = {"event", "step", "epoch", "sketches", "best", "skipped", "time"};
    for (size_t i = 0; i < sizeof not_curves / sizeof not_curves[0]; i++)
        if (!strcmp(key, not_curves[i])) return 0;
    return 1;
}

static int take(sb_run_log *log, const field *f, int n) {
    const char *event = "";
    int64_t step = -1;
    int best = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(f[i].key, "event") && f[i].type == V_STR) event = f[i].str;
        if (!strcmp(f[i].key, "step") && f[i].type == V_NUM) step = (int64_t)f[i].num;
        if (!strcmp(f[i].key, "best") && f[i].type == V_TRUE) best = 1;
    }
    if (step > log->last_step) log->last_step = step;
    int curves = !strcmp(event, "train") || !strcmp(event, "valid");
    if (!strcmp(event, "train")) log->n_train++;
    if (!strcmp(event, "valid")) log->n_valid++;
    if (!strcmp(event, "start")) log->n_start++;
    if (!strcmp(event, "stopped")) log->n_stopped++;
    if (!strcmp(event, "nonfinite")) log->n_nonfinite++;
    if (!strcmp(event, "valid") && best) log->best_step = step;
    if (!strcmp(event, "start")) {
        log->n_start_info = 0;
        for (int i = 0; i < n && log->n_start_info < 16; i++) {
            if (!strcmp(f[i].key, "event") || f[i].type == V_OTHER) continue;
            char *v = log->start_info[log->n_start_info].value;
            size_t cap = sizeof log->start_info[0].value;
            snprintf(log->start_info[log->n_start_info].key, sizeof log->start_info[0].key, "%s", f[i].key);
            if (f[i].type == V_NUM) snprintf(v, cap, "%.10g", f[i].num);
            else if (f[i].type == V_STR) snprintf(v, cap, "%s", f[i].str);
            else snprintf(v, cap, "%s", f[i].type == V_TRUE ? "true" : f[i].type == V_FALSE ? "false" : "null");
            log->n_start_info++;
        }
    }
    if (!strcmp(event, "checkpoint"))
        for (int i = 0; i < n; i++)
            if (!strcmp(f[i].key, "path") && f[i].type == V_STR) {
                SB_TRY(grow((void **)&log->ckpt, &log->cap_ckpt, log->n_ckpt + 1, sizeof *log->ckpt));
                char *p = strdup(f[i].str);
                if (!p) return sb_fail(SB_ERR_MEMORY, "out of host memory reading a run log");
                log->ckpt[log->n_ckpt++] = (sb_run_checkpoint){step, p};
            }
    if (!curves || step < 0) return 0;
    for (int i = 0; i < n; i++)
        if (is_curve(f[i].key) && (f[i].type == V_NUM || f[i].type == V_NULL))
            SB_TRY(add_point(log, event, f[i].key, step, f[i].type == V_NUM ? f[i].num : NAN));
    return 0;
}

static int add_line(sb_run_log *log, const char *line, long no, int last, field *fields) {
    scanner s = {line, NULL};
    ws(&s);
    if (!*s.p) return 0;
    log->lines++;
    int n;
    if (object(&s, fields, &n)) {
        if (!log->bad_lines++)
            snprintf(log->first_bad, sizeof log->first_bad, "line %ld: %s at column %ld%s", no, s.err,
                     (long)(s.p - line) + 1, last ? " (the last line, without a line end: truncated?)" : "");
        return 0;
    }
    return take(log, fields, n);
}

void sb_run_log_init(sb_run_log *log) {
    memset(log, 0, sizeof *log);
    log->last_step = log->best_step = -1;
}

int sb_run_log_add_line(sb_run_log *log, const char *line, long line_no) {
    field *fields = malloc(MAX_FIELDS * sizeof *fields);
    if (!fields) return sb_fail(SB_ERR_MEMORY, "out of host memory reading a run log");
    int rc = add_line(log, line, line_no, 0, fields);
    free(fields);
    return rc;
}

int sb_run_log_read(const char *path, sb_run_log *log) {
    sb_run_log_init(log);
    FILE *in = fopen(path, "rb");
    if (!in) return sb_fail(SB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    field *fields = malloc(MAX_FIELDS * sizeof *fields);
    size_t cap = 4096;
    char *line = malloc(cap);
    int rc = fields && line ? 0 : sb_fail(SB_ERR_MEMORY, "out of host memory reading %s", path);
    for (long no = 1; !rc; no++) {
        size_t len = 0;
        int c;
        while ((c = fgetc(in)) != EOF && c != '\n') {
            if (len + 1 == cap) {
                char *l = realloc(line, cap * 2);
                if (!l) {
                    rc = sb_fail(SB_ERR_MEMORY, "out of host memory reading %s", path);
                    break;
                }
                line = l, cap *= 2;
            }
            line[len++] = (char)c;
        }
        if (rc || (c == EOF && len == 0)) break;
        line[len] = 0;
        rc = add_line(log, line, no, c == EOF, fields);
    }
    if (!rc && ferror(in)) rc = sb_fail(SB_ERR_IO, "reading %s failed", path);
    fclose(in);
    free(fields);
    free(line);
    if (rc) sb_run_log_free(log);
    return rc;
}

const sb_run_series *sb_run_log_find(const sb_run_log *log, const char *event, const char *key) {
    for (int i = 0; i < log->n_series; i++)
        if (!strcmp(log->series[i].event, event) && !strcmp(log->series[i].key, key)) return &log->series[i];
    return NULL;
}

void sb_run_log_free(sb_run_log *log) {
    for (int i = 0; i < log->n_series; i++) free(log->series[i].step), free(log->series[i].value);
    for (int i = 0; i < log->n_ckpt; i++) free(log->ckpt[i].path);
    free(log->series);
    free(log->ckpt);
    sb_run_log_init(log);
}
