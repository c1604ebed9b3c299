/* `sketchbert embed`: features of sketches from a trained model, to .npy
 * (float32, (count, dim)) or CSV (index, label, then the features). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/infer_common.h"
#include "io/atomic_file.h"

static void usage(FILE *f) {
    fprintf(f, "usage: sketchbert embed CHECKPOINT INPUT... -o OUT.npy|OUT.csv [--features encoder|retrieval]\n"
               "                        [--pool mean|first] [input options]\n"
               "\n"
               "Writes one feature row per sketch: .npy (float32, shape (sketches, dim)) or CSV\n"
               "(index,label,f0,f1,...).\n"
               "  --features encoder    the encoder's final hidden states, pooled (default)\n"
               "  --features retrieval  the retrieval head's features (needs a sketchretrieval head)\n"
               "  --pool mean           mean over the sketch's rows (default); first: the first row\n"
               "                        (the retrieval or classification token when there is one)\n");
    cli_infer_usage(f);
    fprintf(f, "exit codes: 0 written, 1 failure (model, head, input or output), 2 bad usage\n");
}

static void write_npy(FILE *f, const float *x, int rows, int cols) {
    char header[128];
    int len = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows,
                       cols);
    int total = 10 + len + 1, pad = (64 - total % 64) % 64;
    unsigned short hl = (unsigned short)(len + pad + 1);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    fwrite(pre, 1, sizeof pre, f);
    fwrite(header, 1, (size_t)len, f);
    for (int k = 0; k < pad; k++) fputc(' ', f);
    fputc('\n', f);
    for (size_t k = 0; k < (size_t)rows * cols; k++) {
        uint32_t b;
        memcpy(&b, &x[k], 4);
        unsigned char le[4] = {(unsigned char)b, (unsigned char)(b >> 8), (unsigned char)(b >> 16),
                               (unsigned char)(b >> 24)};
        fwrite(le, 1, 4, f);
    }
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
    int csv = olen >= 4 && !strcmp(out + olen - 4, ".csv");
    if (!csv && !(olen >= 4 && !strcmp(out + olen - 4, ".npy"))) {
        fprintf(stderr, "%s: -o %s: the output must end in .npy or .csv\n", o.cmd, out);
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
        sb_atomic_file af;
        rc = sb_atomic_open(&af, out);
        if (!rc) {
            if (csv) write_csv(af.f, s, x, n, dim);
            else write_npy(af.f, x, n, dim);
            rc = sb_atomic_commit(&af);
        }
        if (rc) fprintf(stderr, "%s: %s\n", o.cmd, sb_last_error());
        else printf("%s: %d sketches x %d %s features\n", out, n, dim, retrieval ? "retrieval" : "encoder");
    }
    free(x);
    sb_sketches_destroy(s);
    sb_model_close(m);
    sb_context_destroy(ctx);
    return rc ? 1 : 0;
}
