/* Reader for the transform/SGM reference fixture (see transform_fixture.h). */
#include "transform_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Next whitespace-separated token, skipping '#' comment lines. */
static int token(FILE *f, char *buf, size_t cap) {
    for (;;) {
        if (fscanf(f, " ") < 0) return 0;
        int c = fgetc(f);
        if (c == EOF) return 0;
        if (c == '#') {
            while (c != '\n' && c != EOF) c = fgetc(f);
            continue;
        }
        ungetc(c, f);
        char fmt[16];
        snprintf(fmt, sizeof fmt, "%%%zus", cap - 1);
        return fscanf(f, fmt, buf) == 1;
    }
}

static int expect(FILE *f, const char *word) {
    char buf[64];
    return token(f, buf, sizeof buf) && strcmp(buf, word) == 0;
}

/* A string of exactly n digits into out[0..n). */
static int digits(FILE *f, int *out, int n) {
    char buf[1024];
    if (!token(f, buf, sizeof buf) || (int)strlen(buf) != n) return 0;
    for (int i = 0; i < n; i++) out[i] = buf[i] - '0';
    return 1;
}

static int read_case(FILE *f, tf_case *c) {
    memset(c, 0, sizeof *c);
    if (fscanf(f, "%31s %31s %d %lf %lf %d", c->name, c->norm, &c->max_length, &c->limit, &c->factor, &c->n) != 6)
        return 0;
    int T = c->max_length;
    if (T < 1 || T > 1000 || c->n < 0 || c->n > 100000) return 0;
    c->in = calloc((size_t)c->n * 3 + 1, sizeof *c->in);
    c->pen = calloc((size_t)T, sizeof *c->pen);
    c->seg = calloc((size_t)T, sizeof *c->seg);
    if (!c->in || !c->pen || !c->seg || !expect(f, "in")) return 0;
    for (int i = 0; i < c->n * 3; i++) {
        int v;
        if (fscanf(f, "%d", &v) != 1) return 0;
        c->in[i] = (int16_t)v;
    }
    if (!expect(f, "length") || fscanf(f, "%d", &c->length) != 1 || c->length < 1 || c->length > T) return 0;
    c->xy = calloc((size_t)c->length * 2, sizeof *c->xy);
    c->start = calloc((size_t)c->length, sizeof *c->start);
    if (!c->xy || !c->start || !expect(f, "xy")) return 0;
    for (int i = 0; i < c->length * 2; i++)
        if (fscanf(f, "%lf", &c->xy[i]) != 1) return 0;
    if (!expect(f, "pen") || !digits(f, c->pen, T) || !expect(f, "seg")) return 0;
    for (int i = 0; i < T; i++)
        if (fscanf(f, "%d", &c->seg[i]) != 1) return 0;
    if (!expect(f, "start") || !digits(f, c->start, c->length)) return 0;
    return 1;
}

int tf_load(const char *path, tf_case **cases, int *n_cases) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open fixture %s\n", path);
        return 1;
    }
    tf_case *cs = NULL;
    int n = 0, ok = 1;
    char word[64];
    if (!token(f, word, sizeof word)) ok = 0;
    while (ok && strcmp(word, "case") == 0) {
        tf_case *grown = realloc(cs, (size_t)(n + 1) * sizeof *cs);
        if (!grown) {
            ok = 0;
            break;
        }
        cs = grown;
        ok = read_case(f, &cs[n]);
        n++;
        while (ok && token(f, word, sizeof word) && strcmp(word, "counts") == 0) {
            tf_case *c = &cs[n - 1];
            int *k = c->counts[c->n_probs];
            ok = c->n_probs < TF_MAX_PROBS &&
                 fscanf(f, "%lf %d %d %d %d %d %d", &c->prob[c->n_probs], &k[0], &k[1], &k[2], &k[3], &k[4], &k[5]) == 7;
            c->n_probs++;
        }
    }
    if (ok && strcmp(word, "end") != 0) ok = 0;
    fclose(f);
    if (!ok) {
        fprintf(stderr, "fixture %s: malformed near case %d\n", path, n);
        tf_free(cs, n);
        return 1;
    }
    *cases = cs, *n_cases = n;
    return 0;
}

void tf_free(tf_case *cases, int n_cases) {
    for (int i = 0; i < n_cases; i++) free(cases[i].in), free(cases[i].xy), free(cases[i].pen), free(cases[i].seg), free(cases[i].start);
    free(cases);
}
