/* `sketchbert embed`: features of sketches from a trained model, to .npy
 * (float32, (count, dim)), .npz (the features with the labels as class
 * indices and the class names) or CSV (index, label, then the features). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/infer_common.h"
#include "io/atomic_file.h"
#include "io/npz_write.h"

static void usage(FILE *f) {
    fprintf(f, "usage: sketchbert embed CHECKPOINT INPUT... -o OUT.npy|OUT.npz|OUT.csv\n"
               "                        [--features encoder|retrieval] [--pool mean|first] [input options]\n"
               "\n"
               "Writes one feature row per sketch: .npy (float32, shape (sketches, dim)); .npz with\n"
               "the arrays features (that .npy), labels (int32, each sketch's index into names, -1\n"
               "for none) and names (the distinct labels in order of first appearance); or CSV\n"
               "(index,label,f0,f1,...).\n"
               "  --features encoder    the encoder's final hidden states, pooled (default)\n"
               "  --features retrieval  the retrieval head's features (needs a sketchretrieval head)\n"
               "  --pool mean           mean over the sketch's rows (default); first: the first row\n"
               "                        (the retrieval or classification token when there is one)\n");
    cli_infer_usage(f);
    fprintf(f, "exit codes: 0 written, 1 failure (model, head, input or output), 2 bad usage\n");
}

static void put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* The .npy bytes of the (rows, cols) features: float32, little-endian. */
static int encode_features(const float *x, int rows, int cols, uint8_t **out, size_t *size) {
    size_t n = (size_t)rows * (size_t)cols;
    uint8_t *le = malloc(4 * n + 1);
    if (!le) return sb_fail(SB_ERR_MEMORY, "out of host memory");
    for (size_t k = 0; k < n; k++) {
        uint32_t b;
        memcpy(&b, &x[k], 4);
        put_le32(le + 4 * k, b);
    }
    int rc = sb_npy_encode("<f4", (int64_t[]){rows, cols}, 2, le, 4 * n, out, size);
    free(le);
    return rc;
}

/* UTF-8 to code points, at most cap (an invalid byte or sequence becomes
 * U+FFFD, as NumPy's '<U' holds only valid code points); returns how many
 * the whole string has. */
static size_t utf8_decode(const char *s, uint32_t *out, size_t cap) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    while (*p) {
        int len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        uint32_t c = len == 1 ? *p : len == 2 ? *p & 0x1fu : len == 3 ? *p & 0x0fu : *p & 0x07u;
        for (int i = 1; i < len; i++) {
            if ((p[i] >> 6) != 2) { /* also stops at the NUL */
                len = 0;
                break;
            }
            c = c << 6 | (p[i] & 0x3fu);
        }
        if (!len || c > 0x10ffff || (c >= 0xd800 && c < 0xe000)) c = 0xfffd, len = len ? len : 1;
        if (n < cap) out[n] = c;
        n++, p += len;
    }
    return n;
}

/* The labels as classes: names, the distinct labels in order of first
 * appearance (pointers into s), and labels[i], sketch i's class (-1 for
 * no label). Returns the class count, -1 out of memory. */
static int label_classes(const sb_sketches *s, int n, int32_t *labels, const char ***names) {
    int count = 0, last = -1;
    *names = NULL;
    for (int i = 0; i < n; i++) {
        const char *l = sb_sketches_label(s, i);
        int c = !l[0] ? -1 : last >= 0 && sb_class_names_match((*names)[last], l) ? last : -2; /* inputs come class by class */
        for (int k = 0; k < count && c == -2; k++)
            if (sb_class_names_match((*names)[k], l)) c = k;
        if (c == -2) {
            const char **g = realloc(*names, sizeof *g * (size_t)(count + 1));
            if (!g) return free(*names), *names = NULL, -1;
            *names = g, g[count] = l, c = count++;
        }
        labels[i] = c;
        if (c >= 0) last = c;
    }
    return count;
}

/* OUT.npz: features (n, dim) float32, labels (n,) int32 (-1: none) and
 * names (classes,) unicode strings. */
static int write_npz(const char *path, const sb_sketches *s, const float *x, int rows, int cols, int *n_classes) {
    int32_t *labels = malloc(sizeof *labels * (size_t)rows);
    const char **names = NULL;
    int C = labels ? label_classes(s, rows, labels, &names) : -1;
    size_t width = 1; /* code points of the longest name */
    for (int c = 0; c < C; c++) {
        size_t w = utf8_decode(names[c], NULL, 0);
        width = w > width ? w : width;
    }
    uint8_t *lab = C >= 0 ? malloc(4 * (size_t)rows + 1) : NULL;
    uint8_t *str = lab ? calloc((size_t)(C ? C : 1) * width, 4) : NULL;
    uint32_t *cp = str ? malloc(4 * width) : NULL;
    int rc = cp ? 0 : sb_fail(SB_ERR_MEMORY, "out of host memory");
    for (int i = 0; !rc && i < rows; i++) put_le32(lab + 4 * (size_t)i, (uint32_t)labels[i]);
    for (int c = 0; !rc && c < C; c++) {
        size_t w = utf8_decode(names[c], cp, width);
        for (size_t k = 0; k < w; k++) put_le32(str + 4 * ((size_t)c * width + k), cp[k]);
    }
    char descr[32];
    snprintf(descr, sizeof descr, "<U%zu", width);
    struct { const char *name; uint8_t *bytes; size_t size; } member[3] = {{"features.npy", NULL, 0},
                                                                           {"labels.npy", NULL, 0},
                                                                           {"names.npy", NULL, 0}};
    if (!rc) rc = encode_features(x, rows, cols, &member[0].bytes, &member[0].size);
    if (!rc) rc = sb_npy_encode("<i4", (int64_t[]){rows}, 1, lab, 4 * (size_t)rows, &member[1].bytes, &member[1].size);
    if (!rc)
        rc = sb_npy_encode(descr, (int64_t[]){C}, 1, str, 4 * (size_t)C * width, &member[2].bytes, &member[2].size);
    sb_npz_writer *w = NULL;
    if (!rc) rc = sb_npz_writer_open(&w, path, 0);
    for (int k = 0; !rc && k < 3; k++) rc = sb_npz_writer_add(w, member[k].name, member[k].bytes, member[k].size);
    if (!rc) rc = sb_npz_writer_close(w);
    else sb_npz_writer_abort(w);
    for (int k = 0; k < 3; k++) free(member[k].bytes);
    free(labels), free(names), free(lab), free(str), free(cp);
    *n_classes = C;
    return rc;
}

static void write_csv(FILE *f, const sb_sketches *s, const float *x, int rows, int cols) {
    fprintf(f, "index,label");
    for (int c = 0; c < cols; c++) fprintf(f, ",f%d", c);
    fputc('\n', f);
    for (int r = 0; r < rows; r++) {
        fprintf(f, "%d,\"", r);
        for (const char *l = sb_sketches_label(s, r); *l; l++) {
            if (*l == '"') fputc('"', f);
            fputc(*l, f);
        }
        fputc('"', f);
        for (int c = 0; c < cols; c++) fprintf(f, ",%.9g", (double)x[(size_t)r * cols + c]);
        fputc('\n', f);
    }
}

/* OUT.npy or OUT.csv, atomically. */
static int write_file(const char *path, int csv, const sb_sketches *s, const float *x, int rows, int cols) {
    uint8_t *npy = NULL;
    size_t size = 0;
    sb_atomic_file af;
    int rc = csv ? 0 : encode_features(x, rows, cols, &npy, &size);
    if (!rc) rc = sb_atomic_open(&af, path);
    if (!rc) {
        if (csv) write_csv(af.f, s, x, rows, cols);
        else fwrite(npy, 1, size, af.f);
        rc = sb_atomic_commit(&af);
    }
    free(npy);
    return rc;
}

int cmd_embed(const cli_options *co, int argc, char **argv) {
    cli_infer o;
    cli_infer_init(&o, "sketchbert embed");
    const char *out = NULL, *features = "encoder", *pool_name = "mean";
    char *pos[64];
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        int r = cli_infer_option(&o, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        const char **dst = !strcmp(a, "-o") || !strcmp(a, "--out") ? &out : !strcmp(a, "--features") ? &features
                          : !strcmp(a, "--pool") ? &pool_name : NULL;
        if (dst) {
            if (i + 1 >= argc) return fprintf(stderr, "%s: %s needs a value\n", o.cmd, a), 2;
            *dst = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return fprintf(stderr, "%s: unknown option '%s' (see --help)\n", o.cmd, a), 2;
        } else if (n_pos < 64) {
            pos[n_pos++] = argv[i];
        }
    }
    int retrieval = !strcmp(features, "retrieval");
    if (n_pos < 2 || !out || (!retrieval && strcmp(features, "encoder")) || (strcmp(pool_name, "mean") && strcmp(pool_name, "first"))) {
        fprintf(stderr, "%s: needs CHECKPOINT, INPUT and -o; --features encoder|retrieval, --pool mean|first\n", o.cmd);
        usage(stderr);
        return 2;
    }
    size_t olen = strlen(out);
    const char *ext = olen >= 4 ? out + olen - 4 : "";
    int csv = !strcmp(ext, ".csv"), npz = !strcmp(ext, ".npz");
    if (!csv && !npz && strcmp(ext, ".npy")) {
        fprintf(stderr, "%s: -o %s: the output must end in .npy, .npz or .csv\n", o.cmd, out);
        return 2;
    }
    sb_context *ctx;
    sb_model_handle *m;
    if (cli_open_model(co, &o, pos[0], &ctx, &m)) return 1;
    sb_sketches *s = NULL;
    int rc = retrieval ? sb_model_require(m, SB_HEAD_RETRIEVAL) : 0;
    if (rc) fprintf(stderr, "%s: %s\n", o.cmd, sb_last_error());
    if (!rc) rc = cli_load_sketches(&o, pos + 1, n_pos - 1, m, &s) ? -1 : 0;
    float *x = NULL;
    int n = sb_sketches_count(s), dim = retrieval ? sb_model_retrieval_dim(m) : sb_model_hidden_size(m);
    if (!rc) {
        x = malloc(sizeof(float) * (size_t)(n ? n : 1) * (size_t)dim);
        rc = !x ? SB_ERR_MEMORY
                : retrieval ? sb_retrieval_features(m, s, x)
                            : sb_encode(m, s, strcmp(pool_name, "first") ? SB_POOL_MEAN : SB_POOL_FIRST, x);
        if (rc) fprintf(stderr, "%s: %s\n", o.cmd, x ? sb_last_error() : "out of host memory");
    }
    if (!rc) {
        int classes = 0;
        rc = npz ? write_npz(out, s, x, n, dim, &classes) : write_file(out, csv, s, x, n, dim);
        if (rc) fprintf(stderr, "%s: %s\n", o.cmd, sb_last_error());
        else printf("%s: %d sketches x %d %s features", out, n, dim, retrieval ? "retrieval" : "encoder");
        if (!rc && npz) printf(", labels of %d classes", classes);
        if (!rc) printf("\n");
    }
    free(x);
    sb_sketches_destroy(s);
    sb_model_close(m);
    sb_context_destroy(ctx);
    return rc ? 1 : 0;
}
