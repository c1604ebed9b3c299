/* Quick, Draw! ndjson reader with its own minimal JSON parser. Written by
 * hand rather than with a JSON library: the project takes no extra
 * dependency for it, and a parser that knows the drawing layout appends
 * coordinates straight into flat float arrays, with no tree of values per
 * line (full class files hold 100k+ lines). It accepts standard JSON;
 * unknown keys are parsed and skipped. */
#include "io/ndjson.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

enum { MAX_SKIP_DEPTH = 64 };

/* Growable arrays of one drawing, reused from line to line. */
typedef struct { float *v; size_t n, cap; } floats;
typedef struct { int *v; size_t n, cap; } ints;
typedef struct { char *v; size_t n, cap; } chars;

struct sb_ndjson {
    FILE *f;
    char *label;
    char *copy;     /* text of sb_ndjson_open_memory */
    char *line;
    size_t line_cap;
    long line_no;
    floats x, y, t;
    ints stroke_len;
    chars text;     /* NUL-terminated strings of the current drawing */
};

/* Cursor over one line. */
typedef struct {
    sb_ndjson *r;
    const char *start, *p, *end;
} cursor;

static int fail(cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(cursor *c, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sb_fail(SB_ERR_FORMAT, "%s:%ld: ndjson: %s at column %ld", c->r->label, c->r->line_no, msg,
                   (long)(c->p - c->start) + 1);
}

static int grow(cursor *c, void **v, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return SB_OK;
    size_t n = *cap ? *cap * 2 : 256;
    while (n < need) n *= 2;
    void *p = realloc(*v, n * elem);
    if (!p) return sb_fail(SB_ERR_MEMORY, "%s:%ld: out of memory", c->r->label, c->r->line_no);
    *v = p;
    *cap = n;
    return SB_OK;
}

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n')) c->p++;
}

static int peek(cursor *c) {
    skip_ws(c);
    return c->p < c->end ? (unsigned char)*c->p : -1;
}

static int expect(cursor *c, char ch) {
    if (peek(c) != (unsigned char)ch) {
        if (c->p >= c->end) return fail(c, "expected '%c' but the line ends", ch);
        return fail(c, "expected '%c', found '%c'", ch, *c->p);
    }
    c->p++;
    return SB_OK;
}

// ---- JSON values

static int put_char(cursor *c, char ch) {
    chars *s = &c->r->text;
    SB_TRY(grow(c, (void **)&s->v, &s->cap, s->n + 1, 1));
    s->v[s->n++] = ch;
    return SB_OK;
}

static int put_utf8(cursor *c, unsigned long cp) {
    if (cp < 0x80) return put_char(c, (char)cp);
    if (cp < 0x800) {
        SB_TRY(put_char(c, (char)(0xC0 | cp >> 6)));
    } else {
        if (cp < 0x10000) {
            SB_TRY(put_char(c, (char)(0xE0 | cp >> 12)));
        } else {
            SB_TRY(put_char(c, (char)(0xF0 | cp >> 18)));
            SB_TRY(put_char(c, (char)(0x80 | (cp >> 12 & 0x3F))));
        }
        SB_TRY(put_char(c, (char)(0x80 | (cp >> 6 & 0x3F))));
    }
    return put_char(c, (char)(0x80 | (cp & 0x3F)));
}

static int hex4(cursor *c, unsigned long *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        if (c->p >= c->end) return fail(c, "truncated \\u escape");
        char h = *c->p++;
        int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
        if (d < 0) return fail(c, "bad hex digit in \\u escape");
        *v = *v << 4 | (unsigned long)d;
    }
    return SB_OK;
}

/* A string, decoded NUL-terminated into r->text; *off is where it starts. */
static int parse_string(cursor *c, size_t *off) {
    SB_TRY(expect(c, '"'));
    *off = c->r->text.n;
    for (;;) {
        if (c->p >= c->end) return fail(c, "unterminated string");
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '"') break;
        if (ch < 0x20) return fail(c, "control character in string");
        if (ch != '\\') {
            SB_TRY(put_char(c, (char)ch));
            continue;
        }
        if (c->p >= c->end) return fail(c, "unterminated string");
        char e = *c->p++;
        const char *plain = strchr("\"\\/bfnrt", e);
        if (e && plain) {
            SB_TRY(put_char(c, "\"\\/\b\f\n\r\t"[plain - "\"\\/bfnrt"]));
        } else if (e == 'u') {
            unsigned long cp, lo;
            SB_TRY(hex4(c, &cp));
            if (cp >= 0xD800 && cp < 0xDC00 && c->end - c->p >= 6 && c->p[0] == '\\' && c->p[1] == 'u') {
                c->p += 2;
                SB_TRY(hex4(c, &lo));
                if (lo < 0xDC00 || lo > 0xDFFF) return fail(c, "unpaired surrogate in \\u escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xD800 && cp < 0xE000) {
                return fail(c, "unpaired surrogate in \\u escape");
            }
            SB_TRY(put_utf8(c, cp));
        } else {
            return fail(c, "bad escape '\\%c'", e);
        }
    }
    return put_char(c, '\0');
}

/* A JSON number; *tok / *len give its text. */
static int parse_number(cursor *c, double *v, const char **tok, size_t *len) {
    skip_ws(c);
    const char *s = c->p, *q = s;
    if (q < c->end && *q == '-') q++;
    if (q >= c->end || *q < '0' || *q > '9') return fail(c, "expected a number");
    while (q < c->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' || *q == '-'))
        q++;
    char buf[64];
    size_t n = (size_t)(q - s);
    if (n >= sizeof buf) return fail(c, "number too long");
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *stop;
    *v = strtod(buf, &stop);
    if ((size_t)(stop - buf) != n) return fail(c, "malformed number '%s'", buf);
    c->p = q;
    if (tok) *tok = s, *len = n;
    return SB_OK;
}

static int parse_literal(cursor *c, const char *word) {
    size_t n = strlen(word);
    skip_ws(c);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return fail(c, "expected a JSON value");
    c->p += n;
    return SB_OK;
}

static int skip_value(cursor *c, int depth) {
    if (depth > MAX_SKIP_DEPTH) return fail(c, "values nested deeper than %d", MAX_SKIP_DEPTH);
    int ch = peek(c);
    size_t off;
    double d;
    switch (ch) {
    case '"': {
        SB_TRY(parse_string(c, &off));
        c->r->text.n = off; /* drop it */
        return SB_OK;
    }
    case '[':
    case '{': {
        char close = ch == '[' ? ']' : '}';
        c->p++;
        if (peek(c) == close) return c->p++, SB_OK;
        for (;;) {
            if (close == '}') {
                SB_TRY(parse_string(c, &off));
                c->r->text.n = off;
                SB_TRY(expect(c, ':'));
            }
            SB_TRY(skip_value(c, depth + 1));
            if (peek(c) == close) return c->p++, SB_OK;
            SB_TRY(expect(c, ','));
        }
    }
    case 't': return parse_literal(c, "true");
    case 'f': return parse_literal(c, "false");
    case 'n': return parse_literal(c, "null");
    case -1: return fail(c, "expected a value but the line ends");
    default: return parse_number(c, &d, NULL, NULL);
    }
}

// ---- drawing

/* [n, n, ...] appended to a; each within +-limit (which keeps the float
 * arithmetic of later steps finite and their integer conversions defined). */
static int parse_coords(cursor *c, floats *a, double limit) {
    SB_TRY(expect(c, '['));
    if (peek(c) == ']') return c->p++, SB_OK;
    for (;;) {
        double v;
        const char *tok;
        size_t len;
        SB_TRY(parse_number(c, &v, &tok, &len));
        if (!(fabs(v) <= limit)) return fail(c, "value %.*s is out of range (+-%.9g)", (int)len, tok, limit);
        SB_TRY(grow(c, (void **)&a->v, &a->cap, a->n + 1, sizeof *a->v));
        a->v[a->n++] = (float)v;
        if (peek(c) == ']') return c->p++, SB_OK;
        SB_TRY(expect(c, ','));
    }
}

/* [[[x...],[y...]], ...] or with a third [t...] array per stroke. */
static int parse_drawing(cursor *c, int *has_time) {
    sb_ndjson *r = c->r;
    *has_time = -1;
    SB_TRY(expect(c, '['));
    if (peek(c) == ']') return c->p++, SB_OK;
    for (;;) {
        size_t first = r->x.n;
        SB_TRY(expect(c, '['));
        SB_TRY(parse_coords(c, &r->x, SB_NDJSON_MAX_COORD));
        SB_TRY(expect(c, ','));
        SB_TRY(parse_coords(c, &r->y, SB_NDJSON_MAX_COORD));
        int timed = peek(c) == ',';
        if (timed) {
            c->p++;
            SB_TRY(parse_coords(c, &r->t, FLT_MAX));
        }
        SB_TRY(expect(c, ']'));
        size_t n = r->x.n - first;
        if (*has_time >= 0 && *has_time != timed) return fail(c, "strokes mix [x, y] and [x, y, t]");
        if (r->y.n != r->x.n || (timed && r->t.n != r->x.n))
            return fail(c, "stroke %zu has x, y%s arrays of different lengths", r->stroke_len.n, timed ? ", t" : "");
        if (n > 0x7fffffff || r->x.n > 0x7fffffff || r->stroke_len.n >= 0x7fffffff)
            return fail(c, "too many points or strokes");
        *has_time = timed;
        SB_TRY(grow(c, (void **)&r->stroke_len.v, &r->stroke_len.cap, r->stroke_len.n + 1, sizeof(int)));
        r->stroke_len.v[r->stroke_len.n++] = (int)n;
        if (peek(c) == ']') return c->p++, SB_OK;
        SB_TRY(expect(c, ','));
    }
}

/* A string or a number (key_id is a string in the official files). */
static int parse_text(cursor *c, size_t *off) {
    if (peek(c) == '"') return parse_string(c, off);
    double v;
    const char *tok;
    size_t len;
    SB_TRY(parse_number(c, &v, &tok, &len));
    *off = c->r->text.n;
    for (size_t i = 0; i < len; i++) SB_TRY(put_char(c, tok[i]));
    return put_char(c, '\0');
}

static int parse_line(cursor *c, sb_qd_drawing *d) {
    sb_ndjson *r = c->r;
    r->x.n = r->y.n = r->t.n = r->stroke_len.n = r->text.n = 0;
    SB_TRY(put_char(c, '\0')); /* offset 0: the empty string */
    size_t word = 0, country = 0, key = 0, stamp = 0;
    int recognized = -1, has_time = 0, seen_drawing = 0;
    SB_TRY(expect(c, '{'));
    if (peek(c) != '}') {
        for (;;) {
            size_t k;
            SB_TRY(parse_string(c, &k));
            SB_TRY(expect(c, ':'));
            const char *name = r->text.v + k;
            if (strcmp(name, "word") == 0) {
                SB_TRY(parse_string(c, &word));
            } else if (strcmp(name, "countrycode") == 0) {
                SB_TRY(parse_string(c, &country));
            } else if (strcmp(name, "timestamp") == 0) {
                SB_TRY(parse_text(c, &stamp));
            } else if (strcmp(name, "key_id") == 0) {
                SB_TRY(parse_text(c, &key));
            } else if (strcmp(name, "recognized") == 0) {
                if (peek(c) == 't') {
                    SB_TRY(parse_literal(c, "true"));
                    recognized = 1;
                } else {
                    SB_TRY(parse_literal(c, "false"));
                    recognized = 0;
                }
            } else if (strcmp(name, "drawing") == 0) {
                SB_TRY(parse_drawing(c, &has_time));
                seen_drawing = 1;
            } else {
                SB_TRY(skip_value(c, 1));
            }
            if (peek(c) == '}') break;
            SB_TRY(expect(c, ','));
        }
    }
    c->p++;
    if (peek(c) != -1) return fail(c, "unexpected text after the JSON object");
    if (!seen_drawing) return fail(c, "the object has no \"drawing\"");
    memset(d, 0, sizeof *d);
    d->word = r->text.v + word;
    d->countrycode = r->text.v + country;
    d->key_id = r->text.v + key;
    d->timestamp = r->text.v + stamp;
    d->recognized = recognized;
    d->line = r->line_no;
    d->n_strokes = (int)r->stroke_len.n;
    d->stroke_len = r->stroke_len.v;
    d->n_points = (int)r->x.n;
    d->x = r->x.v;
    d->y = r->y.v;
    d->t = has_time == 1 ? r->t.v : NULL;
    return SB_OK;
}

// ---- files

/* Reads one line (its '\n' dropped) into r->line, at most SB_NDJSON_MAX_LINE
 * bytes: getline would grow its buffer to whatever a file holds. *len is
 * the length, or -1 at the end of the file. */
static int read_line(sb_ndjson *r, ssize_t *len) {
    size_t n = 0;
    int ch = EOF;
    while ((ch = getc_unlocked(r->f)) != EOF && ch != '\n') {
        if (n == SB_NDJSON_MAX_LINE)
            return sb_fail(SB_ERR_FORMAT, "%s:%ld: ndjson: line longer than %d MiB, refused", r->label,
                           r->line_no + 1, (int)(SB_NDJSON_MAX_LINE >> 20));
        if (n + 1 >= r->line_cap) {
            size_t cap = r->line_cap ? r->line_cap * 2 : 4096;
            char *p = realloc(r->line, cap);
            if (!p) return sb_fail(SB_ERR_MEMORY, "%s:%ld: out of memory", r->label, r->line_no + 1);
            r->line = p, r->line_cap = cap;
        }
        r->line[n++] = (char)ch;
    }
    if (ferror(r->f)) return sb_fail(SB_ERR_IO, "%s:%ld: read failed: %s", r->label, r->line_no + 1, strerror(errno));
    *len = n == 0 && ch == EOF ? -1 : (ssize_t)n;
    return SB_OK;
}

int sb_ndjson_next(sb_ndjson *r, sb_qd_drawing *d) {
    for (;;) {
        errno = 0;
        ssize_t n = 0;
        SB_TRY(read_line(r, &n));
        if (n < 0) return 0;
        r->line_no++;
        cursor c = {r, r->line, r->line, r->line + n};
        if (peek(&c) == -1) continue; /* blank line */
        if (memchr(r->line, '\0', (size_t)n)) return fail(&c, "NUL byte in line");
        SB_TRY(parse_line(&c, d));
        return 1;
    }
}

static int open_stream(sb_ndjson **out, const char *label, FILE *f, char *copy) {
    sb_ndjson *r = calloc(1, sizeof *r);
    if (!r || !(r->label = strdup(label))) {
        free(r);
        fclose(f);
        free(copy);
        return sb_fail(SB_ERR_MEMORY, "%s: out of memory", label);
    }
    r->f = f;
    r->copy = copy;
    *out = r;
    return SB_OK;
}

int sb_ndjson_open(sb_ndjson **r, const char *path) {
    *r = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return sb_fail(SB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return open_stream(r, path, f, NULL);
}

int sb_ndjson_open_memory(sb_ndjson **r, const char *label, const char *text, size_t len) {
    *r = NULL;
    char *copy = malloc(len ? len : 1);
    if (!copy) return sb_fail(SB_ERR_MEMORY, "%s: out of memory", label);
    memcpy(copy, text, len);
    if (!len) copy[0] = '\n'; /* fmemopen needs a byte: make it a blank line */
    FILE *f = fmemopen(copy, len ? len : 1, "rb");
    if (!f) {
        free(copy);
        return sb_fail(SB_ERR_IO, "%s: fmemopen failed: %s", label, strerror(errno));
    }
    return open_stream(r, label, f, copy);
}

void sb_ndjson_close(sb_ndjson *r) {
    if (!r) return;
    fclose(r->f);
    free(r->copy);
    free(r->label);
    free(r->line);
    free(r->x.v);
    free(r->y.v);
    free(r->t.v);
    free(r->stroke_len.v);
    free(r->text.v);
    free(r);
}
