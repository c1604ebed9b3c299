/* SVG stroke reader with its own small XML tokenizer. Written by hand: the
 * files need four elements and three attributes, and a reader that never
 * expands entities, never allocates per element and stops at fixed depth
 * and size limits cannot be made to blow up by hostile input. */
#include "io/svg.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/error.h"

enum { MAX_NUMBER_CHARS = 64, MAX_CURVE_SEGMENTS = 256 };

/* x' = a x + c y + e, y' = b x + d y + f */
typedef struct { double a, b, c, d, e, f; } affine;

typedef struct {
    const char *label, *text, *end;
    double tol, vb_x, vb_y;
    sb_svg_drawing *out;
    int cap_points, cap_strokes, new_stroke;
} parser;

static int fail_at(const parser *P, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(const parser *P, const char *at, const char *fmt, ...) {
    int line = 1;
    for (const char *c = P->text; c < at && c < P->end; c++) line += *c == '\n';
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sb_fail(SB_ERR_INVALID, "%s:%d: svg: %s", P->label, line, msg);
}

/* How many of the 12 bytes at s a message may quote (the text has no NUL). */
static int snip(const char *s, const char *end) { return end - s < 12 ? (int)(end - s) : 12; }

static affine mul(affine m, affine n) { /* m after n */
    return (affine){m.a * n.a + m.c * n.b, m.b * n.a + m.d * n.b, m.a * n.c + m.c * n.d,
                    m.b * n.c + m.d * n.d, m.a * n.e + m.c * n.f + m.e, m.b * n.e + m.d * n.f + m.f};
}

static void apply(const affine *m, double x, double y, double *ox, double *oy) {
    *ox = m->a * x + m->c * y + m->e;
    *oy = m->b * x + m->d * y + m->f;
}

/* ---- numbers */

static const char *skip_sep(const char *p, const char *end) {
    while (p < end && (isspace((unsigned char)*p) || *p == ',')) p++;
    return p;
}

/* One SVG number at *p (after separators): [sign] digits [. digits]
 * [e [sign] digits]; "1.5.5" is 1.5 then .5. */
static int number(const parser *P, const char **p, const char *end, double *v) {
    const char *s = skip_sep(*p, end), *q = s;
    if (q < end && (*q == '+' || *q == '-')) q++;
    int digits = 0;
    while (q < end && isdigit((unsigned char)*q)) q++, digits++;
    if (q < end && *q == '.')
        for (q++; q < end && isdigit((unsigned char)*q); q++) digits++;
    if (digits && q < end && (*q == 'e' || *q == 'E')) {
        const char *e = q + 1;
        if (e < end && (*e == '+' || *e == '-')) e++;
        if (e < end && isdigit((unsigned char)*e)) {
            while (e < end && isdigit((unsigned char)*e)) e++;
            q = e;
        }
    }
    if (!digits) return s < end ? fail_at(P, s, "expected a number at '%.*s'", snip(s, end), s)
                                : fail_at(P, s, "expected a number at the end");
    if (q - s > MAX_NUMBER_CHARS) return fail_at(P, s, "number of more than %d characters", MAX_NUMBER_CHARS);
    char buf[MAX_NUMBER_CHARS + 1];
    memcpy(buf, s, (size_t)(q - s));
    buf[q - s] = '\0';
    *v = strtod(buf, NULL);
    if (!(fabs(*v) <= SB_SVG_MAX_COORD))
        return fail_at(P, s, "number %s is outside [-%g, %g]", buf, SB_SVG_MAX_COORD, SB_SVG_MAX_COORD);
    *p = q;
    return 0;
}

/* ---- output */

static int add_point(parser *P, const char *at, double x, double y) {
    sb_svg_drawing *o = P->out;
    x -= P->vb_x, y -= P->vb_y;
    if (!(fabs(x) <= SB_SVG_MAX_COORD && fabs(y) <= SB_SVG_MAX_COORD))
        return fail_at(P, at, "point (%g, %g) after transforms is outside [-%g, %g]", x, y, SB_SVG_MAX_COORD,
                       SB_SVG_MAX_COORD);
    if (!P->new_stroke && o->x[o->n_points - 1] == (float)x && o->y[o->n_points - 1] == (float)y) return 0;
    if (o->n_points >= SB_SVG_MAX_POINTS) return fail_at(P, at, "more than %d points", SB_SVG_MAX_POINTS);
    if (P->new_stroke && o->n_strokes == P->cap_strokes) {
        int cap = P->cap_strokes ? 2 * P->cap_strokes : 64;
        int *len = realloc(o->stroke_len, (size_t)cap * sizeof *len);
        if (!len) return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", P->label);
        o->stroke_len = len, P->cap_strokes = cap;
    }
    if (o->n_points == P->cap_points) {
        int cap = P->cap_points ? 2 * P->cap_points : 1024;
        float *nx = realloc(o->x, (size_t)cap * sizeof *nx);
        if (nx) o->x = nx;
        float *ny = realloc(o->y, (size_t)cap * sizeof *ny);
        if (ny) o->y = ny;
        if (!nx || !ny) return sb_fail(SB_ERR_MEMORY, "%s: out of host memory", P->label);
        P->cap_points = cap;
    }
    if (P->new_stroke) o->stroke_len[o->n_strokes++] = 0, P->new_stroke = 0;
    o->x[o->n_points] = (float)x, o->y[o->n_points++] = (float)y;
    o->stroke_len[o->n_strokes - 1]++;
    return 0;
}

/* A cubic Bezier (control points already transformed) as n chords with
 * n >= sqrt(0.75 M / tol), M the larger second difference of the control
 * points: the chords then stay within tol of the curve (|B''| <= 6 M, and
 * a chord over a parameter step h deviates at most |B''| h^2 / 8). */
static int cubic(parser *P, const char *at, const double *cx, const double *cy) {
    double m1 = hypot(cx[0] - 2 * cx[1] + cx[2], cy[0] - 2 * cy[1] + cy[2]);
    double m2 = hypot(cx[1] - 2 * cx[2] + cx[3], cy[1] - 2 * cy[2] + cy[3]);
    double n = ceil(sqrt(0.75 * fmax(m1, m2) / P->tol));
    if (!(n <= MAX_CURVE_SEGMENTS)) n = MAX_CURVE_SEGMENTS;
    if (n < 1) n = 1;
    for (int i = 1; i <= (int)n; i++) {
        double t = i / n, u = 1 - t;
        double b0 = u * u * u, b1 = 3 * u * u * t, b2 = 3 * u * t * t, b3 = t * t * t;
        SB_TRY(add_point(P, at, b0 * cx[0] + b1 * cx[1] + b2 * cx[2] + b3 * cx[3],
                         b0 * cy[0] + b1 * cy[1] + b2 * cy[2] + b3 * cy[3]));
    }
    return 0;
}

/* ---- path data */

static int path_data(parser *P, const char *s, const char *end, const affine *m) {
    double x = 0, y = 0, sx = 0, sy = 0, c2x = 0, c2y = 0, v[6];
    char cmd = 0, prev = 0;
    const char *p = s;
    for (;;) {
        p = skip_sep(p, end);
        if (p >= end) break;
        const char *at = p;
        if (isalpha((unsigned char)*p)) {
            cmd = *p++;
            if (!strchr("MmLlHhVvCcSsZz", cmd))
                return fail_at(P, at, "path command '%c' is not supported (only M, L, H, V, C, S, Z)", cmd);
        } else if (!cmd) {
            return fail_at(P, at, "path data must start with M");
        } else if (cmd == 'Z' || cmd == 'z') {
            return fail_at(P, at, "a number after Z");
        }
        int rel = islower((unsigned char)cmd), n_args = 0;
        char up = (char)toupper((unsigned char)cmd);
        if (!prev && up != 'M') return fail_at(P, at, "path data must start with M");
        switch (up) {
        case 'M': case 'L': case 'S': n_args = up == 'S' ? 4 : 2; break;
        case 'H': case 'V': n_args = 1; break;
        case 'C': n_args = 6; break;
        default: n_args = 0;
        }
        for (int k = 0; k < n_args; k++) SB_TRY(number(P, &p, end, &v[k]));
        double ox = rel ? x : 0, oy = rel ? y : 0, px, py;
        switch (up) {
        case 'M':
            x = sx = v[0] + ox, y = sy = v[1] + oy;
            P->new_stroke = 1;
            apply(m, x, y, &px, &py);
            SB_TRY(add_point(P, at, px, py));
            cmd = rel ? 'l' : 'L'; /* pairs after a moveto are linetos */
            break;
        case 'Z':
            x = sx, y = sy;
            apply(m, x, y, &px, &py);
            SB_TRY(add_point(P, at, px, py));
            break;
        case 'L': case 'H': case 'V':
            if (up != 'V') x = v[0] + ox;
            if (up == 'L') y = v[1] + oy;
            if (up == 'V') y = v[0] + oy;
            apply(m, x, y, &px, &py);
            SB_TRY(add_point(P, at, px, py));
            break;
        default: { /* C, S */
            double cx[4], cy[4], ux[4], uy[4];
            int pc = toupper((unsigned char)prev);
            ux[0] = x, uy[0] = y;
            if (up == 'C') ux[1] = v[0] + ox, uy[1] = v[1] + oy;
            else if (pc == 'C' || pc == 'S') ux[1] = 2 * x - c2x, uy[1] = 2 * y - c2y;
            else ux[1] = x, uy[1] = y;
            const double *r = up == 'C' ? v + 2 : v;
            ux[2] = r[0] + ox, uy[2] = r[1] + oy, ux[3] = r[2] + ox, uy[3] = r[3] + oy;
            for (int k = 0; k < 4; k++) apply(m, ux[k], uy[k], &cx[k], &cy[k]);
            SB_TRY(cubic(P, at, cx, cy));
            c2x = ux[2], c2y = uy[2], x = ux[3], y = uy[3];
        }
        }
        prev = up == 'M' ? 'M' : cmd;
    }
    return 0;
}

/* ---- attributes */

/* transform="translate(..) scale(..) ..." composed onto *m. */
static int transform(parser *P, const char *s, const char *end, affine *m) {
    const char *p = s;
    for (;;) {
        p = skip_sep(p, end);
        if (p >= end) return 0;
        const char *name = p;
        while (p < end && isalpha((unsigned char)*p)) p++;
        size_t len = (size_t)(p - name);
        while (p < end && isspace((unsigned char)*p)) p++;
        if (p >= end || *p != '(') return fail_at(P, name, "transform: expected name(values) at '%.*s'", snip(name, end), name);
        p++;
        double v[6];
        int n = 0;
        for (;;) {
            p = skip_sep(p, end);
            if (p < end && *p == ')') break;
            if (n == 6) return fail_at(P, name, "transform: more than 6 values");
            SB_TRY(number(P, &p, end, &v[n++]));
        }
        p++;
        affine t;
        if (len == 6 && !strncmp(name, "matrix", 6) && n == 6) t = (affine){v[0], v[1], v[2], v[3], v[4], v[5]};
        else if (len == 9 && !strncmp(name, "translate", 9) && (n == 1 || n == 2))
            t = (affine){1, 0, 0, 1, v[0], n == 2 ? v[1] : 0};
        else if (len == 5 && !strncmp(name, "scale", 5) && (n == 1 || n == 2))
            t = (affine){v[0], 0, 0, n == 2 ? v[1] : v[0], 0, 0};
        else if (len == 6 && !strncmp(name, "rotate", 6) && (n == 1 || n == 3)) {
            double r = v[0] * 3.14159265358979323846 / 180, c = cos(r), sn = sin(r), cx = n == 3 ? v[1] : 0, cy = n == 3 ? v[2] : 0;
            t = (affine){c, sn, -sn, c, cx - c * cx + sn * cy, cy - sn * cx - c * cy};
        } else
            return fail_at(P, name, "transform '%.*s' with %d values is not supported (matrix, translate, scale, rotate)",
                           (int)(len < 20 ? len : 20), name, n);
        *m = mul(*m, t);
    }
}

static int view_box(parser *P, const char *s, const char *end) {
    double v[4];
    const char *p = s;
    for (int k = 0; k < 4; k++) SB_TRY(number(P, &p, end, &v[k]));
    if (skip_sep(p, end) != end || !(v[2] > 0 && v[3] > 0))
        return fail_at(P, s, "viewBox must be 4 numbers min-x min-y width height with width, height > 0");
    P->vb_x = v[0], P->vb_y = v[1];
    P->out->width = v[2], P->out->height = v[3];
    return 0;
}

/* ---- XML */

static int is_name_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.' || c == ':'; }

static int name_is(const char *s, size_t n, const char *want) { return n == strlen(want) && !strncmp(s, want, n); }

/* Skips from p past the first `close`; NULL when the text ends first. */
static const char *past(const char *p, const char *end, const char *close) {
    size_t n = strlen(close);
    for (; p + n <= end; p++)
        if (!memcmp(p, close, n)) return p + n;
    return NULL;
}

typedef struct {
    const char *name;
    size_t len;
    affine m;
    int drawable; /* <path> children are read */
} element;

/* `<!...>` other than a comment or CDATA: a DOCTYPE without internal
 * subset is skipped; anything that could declare entities is refused. */
static const char *declaration(parser *P, const char *p, int *rc) {
    const char *start = p;
    if (P->end - p < 9 || strncmp(p, "<!DOCTYPE", 9)) {
        *rc = fail_at(P, start, "markup declaration '%.*s' is not supported", snip(start, P->end), start);
        return NULL;
    }
    for (; p < P->end && *p != '>'; p++)
        if (*p == '[') {
            *rc = fail_at(P, start, "DOCTYPE with an internal subset (entity declarations) is refused");
            return NULL;
        }
    if (p >= P->end) *rc = fail_at(P, start, "unterminated DOCTYPE");
    return p < P->end ? p + 1 : NULL;
}

/* A start tag at p ('<' name ...): its attributes of interest, then the
 * element's meaning. */
static int start_tag(parser *P, const char **pp, element *stack, int *depth, int *seen_root) {
    const char *p = *pp + 1, *name = p, *end = P->end;
    while (p < end && is_name_char(*p)) p++;
    size_t len = (size_t)(p - name);
    if (!len) return fail_at(P, *pp, "expected an element name after '<'");
    const char *d[2] = {0}, *tr[2] = {0}, *vb[2] = {0};
    int closed = 0;
    for (;;) {
        const char *q = p;
        while (p < end && isspace((unsigned char)*p)) p++;
        if (p >= end) return fail_at(P, name, "unterminated <%.*s> tag", (int)(len < 40 ? len : 40), name);
        if (*p == '>' || (*p == '/' && p + 1 < end && p[1] == '>')) {
            closed = *p == '/';
            p += closed ? 2 : 1;
            break;
        }
        if (p == q) return fail_at(P, p, "expected a space before an attribute");
        const char *an = p;
        while (p < end && is_name_char(*p)) p++;
        size_t alen = (size_t)(p - an);
        while (p < end && isspace((unsigned char)*p)) p++;
        if (!alen || p >= end || *p != '=') return fail_at(P, an, "malformed attribute at '%.*s'", snip(an, end), an);
        for (p++; p < end && isspace((unsigned char)*p); p++) {}
        if (p >= end || (*p != '"' && *p != '\'')) return fail_at(P, an, "attribute value without quotes");
        char quote = *p++;
        const char *v = p;
        while (p < end && *p != quote && *p != '<') p++;
        if (p >= end || *p != quote) return fail_at(P, an, "unterminated attribute value");
        const char **slot = name_is(an, alen, "d") ? d : name_is(an, alen, "transform") ? tr
                            : name_is(an, alen, "viewBox") ? vb : NULL;
        if (slot) slot[0] = v, slot[1] = p;
        p++;
    }
    *pp = p;
    element *parent = *depth ? &stack[*depth - 1] : NULL;
    if (!parent) {
        if (*seen_root) return fail_at(P, name, "a second root element <%.*s>", (int)(len < 40 ? len : 40), name);
        if (!name_is(name, len, "svg"))
            return fail_at(P, name, "not an SVG file: the root element is <%.*s>", (int)(len < 40 ? len : 40), name);
        *seen_root = 1;
        if (vb[0]) SB_TRY(view_box(P, vb[0], vb[1]));
    } else if (name_is(name, len, "svg")) {
        return fail_at(P, name, "nested <svg> elements are not supported");
    }
    element e = {name, len, parent ? parent->m : (affine){1, 0, 0, 1, 0, 0}, 0};
    e.drawable = (!parent || parent->drawable) && (name_is(name, len, "svg") || name_is(name, len, "g"));
    int path = parent && parent->drawable && name_is(name, len, "path");
    if (tr[0] && (e.drawable || path)) SB_TRY(transform(P, tr[0], tr[1], &e.m));
    if (path && d[0]) SB_TRY(path_data(P, d[0], d[1], &e.m));
    if (closed) return 0;
    if (*depth == SB_SVG_MAX_DEPTH) return fail_at(P, name, "elements nested deeper than %d", SB_SVG_MAX_DEPTH);
    stack[(*depth)++] = e;
    return 0;
}

static int parse(parser *P) {
    element stack[SB_SVG_MAX_DEPTH];
    int depth = 0, seen_root = 0, rc = 0;
    const char *p = P->text, *end = P->end;
    while (p < end) {
        if (*p != '<') {
            const char *lt = memchr(p, '<', (size_t)(end - p));
            p = lt ? lt : end;
            continue;
        }
        const char *at = p;
        if (end - p >= 4 && !strncmp(p, "<!--", 4)) {
            if (!(p = past(p + 4, end, "-->"))) return fail_at(P, at, "unterminated comment");
        } else if (end - p >= 9 && !strncmp(p, "<![CDATA[", 9)) {
            if (!(p = past(p + 9, end, "]]>"))) return fail_at(P, at, "unterminated CDATA section");
        } else if (end - p >= 2 && !strncmp(p, "<?", 2)) {
            if (!(p = past(p + 2, end, "?>"))) return fail_at(P, at, "unterminated <? ?> instruction");
        } else if (end - p >= 2 && !strncmp(p, "<!", 2)) {
            if (!(p = declaration(P, p, &rc))) return rc;
        } else if (end - p >= 2 && p[1] == '/') {
            const char *name = p + 2;
            for (p = name; p < end && is_name_char(*p); p++) {}
            size_t len = (size_t)(p - name);
            while (p < end && isspace((unsigned char)*p)) p++;
            if (p >= end || *p != '>') return fail_at(P, at, "unterminated end tag");
            p++;
            if (!depth) return fail_at(P, at, "end tag </%.*s> without a start tag", (int)(len < 40 ? len : 40), name);
            element *top = &stack[depth - 1];
            if (len != top->len || strncmp(name, top->name, len))
                return fail_at(P, at, "end tag </%.*s> does not close <%.*s>", (int)(len < 40 ? len : 40), name,
                               (int)(top->len < 40 ? top->len : 40), top->name);
            depth--;
        } else {
            SB_TRY(start_tag(P, &p, stack, &depth, &seen_root));
        }
    }
    if (depth)
        return fail_at(P, end, "the file ends inside <%.*s> (not closed)",
                       (int)(stack[depth - 1].len < 40 ? stack[depth - 1].len : 40), stack[depth - 1].name);
    if (!seen_root) return fail_at(P, end, "no <svg> element");
    return 0;
}

void sb_svg_free(sb_svg_drawing *d) {
    if (!d) return;
    free(d->stroke_len), free(d->x), free(d->y);
    memset(d, 0, sizeof *d);
}

int sb_svg_parse(const char *label, const char *text, size_t len, double tolerance, sb_svg_drawing *out) {
    memset(out, 0, sizeof *out);
    if (!(tolerance > 0)) return sb_fail(SB_ERR_INVALID, "%s: svg: flattening tolerance %g is not > 0", label, tolerance);
    if (len > SB_SVG_MAX_BYTES)
        return sb_fail(SB_ERR_INVALID, "%s: svg: %zu bytes, more than the %u allowed", label, len, SB_SVG_MAX_BYTES);
    parser P = {.label = label, .text = text, .end = text + len, .tol = tolerance, .out = out};
    int rc = parse(&P);
    if (rc) sb_svg_free(out);
    return rc;
}

int sb_svg_read(const char *path, double tolerance, sb_svg_drawing *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return sb_fail(SB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    char *text = NULL;
    int rc = 0;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) rc = sb_fail(SB_ERR_IO, "%s: not a readable file", path);
    else if ((unsigned long long)st.st_size > SB_SVG_MAX_BYTES)
        rc = sb_fail(SB_ERR_INVALID, "%s: svg: %lld bytes, more than the %u allowed", path, (long long)st.st_size,
                     SB_SVG_MAX_BYTES);
    else if (!(text = malloc((size_t)st.st_size + 1))) rc = sb_fail(SB_ERR_MEMORY, "%s: out of host memory", path);
    else if (fread(text, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
        rc = sb_fail(SB_ERR_IO, "cannot read %s", path);
    fclose(f);
    if (!rc) rc = sb_svg_parse(path, text, (size_t)st.st_size, tolerance, out);
    free(text);
    return rc;
}

/* ---- folders */

/* strcmp with digit runs compared as numbers: 2.svg < 10.svg. */
static int natural_cmp(const void *pa, const void *pb) {
    const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0') a++;
            while (*b == '0') b++;
            size_t na = 0, nb = 0;
            while (isdigit((unsigned char)a[na])) na++;
            while (isdigit((unsigned char)b[nb])) nb++;
            if (na != nb) return na < nb ? -1 : 1;
            int c = strncmp(a, b, na);
            if (c) return c;
            a += na, b += nb;
        } else {
            if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++, b++;
        }
    }
    return (unsigned char)*a - (unsigned char)*b;
}

void sb_svg_list_free(char **paths, int n) {
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
}

int sb_svg_list(const char *dir, int dirs, char ***paths, int *n) {
    *paths = NULL, *n = 0;
    DIR *d = opendir(dir);
    if (!d) return sb_fail(SB_ERR_IO, "cannot open folder %s: %s", dir, strerror(errno));
    int cap = 0, rc = 0;
    for (struct dirent *e; !rc && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.') continue;
        char *path = malloc(strlen(dir) + len + 2);
        if (!path) {
            rc = sb_fail(SB_ERR_MEMORY, "out of host memory");
            break;
        }
        sprintf(path, "%s/%s", dir, e->d_name);
        struct stat st;
        int keep = stat(path, &st) == 0 &&
                   (dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode) && len > 4 && !strcmp(e->d_name + len - 4, ".svg"));
        if (keep && *n == cap) {
            cap = cap ? 2 * cap : 64;
            char **g = realloc(*paths, (size_t)cap * sizeof *g);
            if (!g) rc = sb_fail(SB_ERR_MEMORY, "out of host memory"), keep = 0;
            else *paths = g;
        }
        if (keep) (*paths)[(*n)++] = path;
        else free(path);
    }
    closedir(d);
    if (rc) {
        sb_svg_list_free(*paths, *n);
        *paths = NULL, *n = 0;
        return rc;
    }
    if (*n) qsort(*paths, (size_t)*n, sizeof **paths, natural_cmp);
    return 0;
}
