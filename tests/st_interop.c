/* Helper for tools/check_safetensors.py (interoperability with the Python
 * safetensors package):
 *   st_interop dump PATH   prints every tensor ("T name dtype d0,d1 v v ...",
 *                          values as float, %.9g) and metadata ("M key value",
 *                          newlines and backslashes escaped as \\n, \\\\)
 *   st_interop write PATH  writes the fixed tensors and metadata below
 * Exit 1 with the library's message on error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "sketchbert/sketchbert.h"

static int dump(const char *path) {
    sb_st_file *f;
    if (sb_st_open(&f, path)) return 1;
    for (int i = 0; i < f->n_tensors; i++) {
        const sb_st_tensor *t = &f->tensors[i];
        printf("T %s %s ", t->name, sb_st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) printf("%s%lld", d ? "," : "", (long long)t->shape[d]);
        if (!t->ndim) printf("-");
        int is_int = t->dtype == SB_ST_I64 || t->dtype == SB_ST_I32;
        void *buf = malloc(t->numel * 8 + 8);
        if (!buf || (is_int ? sb_st_read_i64(f, t, buf) : sb_st_read_f32(f, t, buf))) {
            free(buf);
            sb_st_close(f);
            return 1;
        }
        for (uint64_t k = 0; k < t->numel; k++) {
            if (is_int) printf(" %lld", (long long)((int64_t *)buf)[k]);
            else printf(" %.9g", (double)((float *)buf)[k]);
        }
        printf("\n");
        free(buf);
    }
    for (int i = 0; i < f->n_meta; i++) { /* newlines and backslashes escaped */
        printf("M %s ", f->meta_keys[i]);
        for (const char *c = f->meta_values[i]; *c; c++) printf(*c == '\n' ? "\\n" : *c == '\\' ? "\\\\" : "%c", *c);
        printf("\n");
    }
    sb_st_close(f);
    return 0;
}

static int write_fixed(const char *path) {
    float w[6] = {0.5f, -1.25f, 3.0f, 1e-7f, -65536.0f, 0.1f};
    int32_t i32[3] = {-7, 0, 123456789};
    int64_t i64[2] = {-5000000000LL, 42};
    int64_t sw[2] = {2, 3}, s3[1] = {3}, s2[1] = {2};
    sb_st_writer *wr;
    if (sb_st_writer_open(&wr, path)) return 1;
    if (sb_st_writer_add(wr, "netE_state.embedding.embedding.weight", SB_ST_F32, 2, sw, w) ||
        sb_st_writer_add(wr, "ints32", SB_ST_I32, 1, s3, i32) || sb_st_writer_add(wr, "ints64", SB_ST_I64, 1, s2, i64) ||
        sb_st_writer_add(wr, "scalar", SB_ST_F32, 0, NULL, w) ||
        sb_st_writer_meta(wr, "config", "task_types: [maskrec]\nname: \"caf\xc3\xa9\"") ||
        sb_st_writer_meta(wr, "step", "12")) {
        sb_st_writer_abort(wr);
        return 1;
    }
    return sb_st_writer_commit(wr) ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "dump") && strcmp(argv[1], "write"))) {
        fprintf(stderr, "usage: st_interop dump|write PATH\n");
        return 2;
    }
    int rc = !strcmp(argv[1], "dump") ? dump(argv[2]) : write_fixed(argv[2]);
    if (rc) fprintf(stderr, "st_interop: %s\n", sb_last_error());
    return rc;
}
